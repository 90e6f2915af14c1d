//! `isolate e8m0`: f32 values to E8M0 codes under one rounding rule (docs/numerics.md §3), or codes to values.

use crate::formats::e8m0;

pub use crate::formats::E8m0Round;

/// What to convert.
#[derive(Clone, Debug, PartialEq)]
pub enum E8m0Request {
    /// Values → codes with `round`; `clamp_deepgemm` clamps codes to [1, 254] as DeepGEMM does.
    Encode {
        round: E8m0Round,
        clamp_deepgemm: bool,
        values: Vec<f32>,
    },
    /// Codes → values.
    Decode { codes: Vec<u8> },
}

/// One row: the value encoded (None for a decode), its code, and the code's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct E8m0Row {
    pub value: Option<f32>,
    pub code: u8,
    pub decoded: f32,
}

/// The rows of a request.
pub fn run(req: &E8m0Request) -> Vec<E8m0Row> {
    let row = |value: Option<f32>, code: u8| E8m0Row {
        value,
        code,
        decoded: e8m0::decode(code),
    };
    match req {
        E8m0Request::Encode {
            round,
            clamp_deepgemm,
            values,
        } => values
            .iter()
            .map(|&x| {
                let c = e8m0::encode(x, *round);
                row(
                    Some(x),
                    if *clamp_deepgemm {
                        e8m0::clamp_deepgemm(c)
                    } else {
                        c
                    },
                )
            })
            .collect(),
        E8m0Request::Decode { codes } => codes.iter().map(|&c| row(None, c)).collect(),
    }
}
