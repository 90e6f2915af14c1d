//! `isolate e8m0 encode [--round MODE] VALUES.. | decode CODES.. [--json PATH|-]`

use clap::{Args, Subcommand};

use crate::error::{Error, Result};
use crate::formats::e8m0::{self, E8m0Round};
use crate::report::json::{num, write_json};
use crate::report::table::Table;

#[derive(Args, Debug)]
pub struct E8m0Args {
    #[command(subcommand)]
    pub op: E8m0Op,
    /// Write the results as JSON (a list of {value, code, decoded}) to PATH (`-` = stdout).
    #[arg(long, global = true, value_name = "PATH")]
    pub json: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum E8m0Op {
    /// f32 values → codes.
    Encode {
        /// Rounding: ceil | float-ceil | nearest | floor | even.
        #[arg(long, default_value = "ceil")]
        round: String,
        /// Clamp codes to [1, 254] as DeepGEMM's ceil_to_ue8m0 does.
        #[arg(long)]
        clamp_deepgemm: bool,
        /// Values (f32; `inf`, `nan`, hex bit patterns like 0x3f800000 accepted).
        #[arg(required = true, allow_hyphen_values = true)]
        values: Vec<String>,
    },
    /// Codes (0..=255, decimal or 0x..) → values.
    Decode {
        #[arg(required = true)]
        codes: Vec<String>,
    },
}

/// Parses an f32: decimal, `inf`/`nan`, or `0x`-prefixed bits.
pub fn parse_f32(s: &str) -> Result<f32> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16)
            .map(f32::from_bits)
            .map_err(|_| Error::Usage(format!("'{s}' is not a 32-bit hex pattern")));
    }
    t.parse::<f32>()
        .map_err(|_| Error::Usage(format!("'{s}' is not a number")))
}

fn parse_code(s: &str) -> Result<u8> {
    let t = s.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u8::from_str_radix(h, 16)
    } else {
        t.parse::<u8>()
    };
    r.map_err(|_| Error::Usage(format!("'{s}' is not an E8M0 code (0..=255)")))
}

pub fn run(a: E8m0Args) -> Result<i32> {
    let mut rows: Vec<(Option<f32>, u8)> = Vec::new();
    match &a.op {
        E8m0Op::Encode {
            round,
            clamp_deepgemm,
            values,
        } => {
            let mode = E8m0Round::parse(round).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown --round '{round}': expected one of {}",
                    E8m0Round::ALL.map(|m| m.name()).join(", ")
                ))
            })?;
            for v in values {
                let x = parse_f32(v)?;
                let mut c = e8m0::encode(x, mode);
                if *clamp_deepgemm {
                    c = e8m0::clamp_deepgemm(c);
                }
                rows.push((Some(x), c));
            }
        }
        E8m0Op::Decode { codes } => {
            for c in codes {
                rows.push((None, parse_code(c)?));
            }
        }
    }
    if a.json.as_deref() != Some("-") {
        let mut t = Table::new(["value", "code", "hex", "decoded"]);
        for (v, c) in &rows {
            t.row([
                v.map(|v| format!("{v:e}")).unwrap_or_default(),
                c.to_string(),
                format!("0x{c:02X}"),
                format!("{:e}", e8m0::decode(*c)),
            ]);
        }
        print!("{}", t.render());
    }
    if let Some(dest) = &a.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(v, c)| {
                serde_json::json!({
                    "value": v.map(|v| num(v as f64)).unwrap_or(serde_json::Value::Null),
                    "code": c,
                    "decoded": num(e8m0::decode(*c) as f64),
                })
            })
            .collect();
        write_json(dest, &serde_json::Value::Array(list))?;
    }
    Ok(0)
}
