//! The integer ids kernels take for formats and modes (the `ISO_*` defines of kernels/common.cuh).

use crate::formats::{E8m0Round, Fp8Format, Overflow};

/// `ISO_E4M3FN` / `ISO_E4M3FNUZ` / `ISO_E5M2`.
pub fn fmt_id(f: Fp8Format) -> i32 {
    match f {
        Fp8Format::E4m3fn => 0,
        Fp8Format::E4m3fnuz => 1,
        Fp8Format::E5m2 => 2,
    }
}

/// `ISO_OV_SATURATE` / `ISO_OV_NAN`.
pub fn overflow_id(o: Overflow) -> i32 {
    match o {
        Overflow::Saturate => 0,
        Overflow::Nan => 1,
    }
}

/// `ISO_R_*`.
pub fn round_id(r: E8m0Round) -> i32 {
    match r {
        E8m0Round::Ceil => 0,
        E8m0Round::FloatCeil => 1,
        E8m0Round::Nearest => 2,
        E8m0Round::Floor => 3,
        E8m0Round::Even => 4,
    }
}
