//! Bit-exact element formats: bf16/f16 (through `half`), e4m3fn, e4m3fnuz, e5m2 and e8m0, and the
//! conversions between them.

pub mod convert;
pub mod dtype;
pub mod e8m0;
pub mod fp8;
pub mod shuffle;

pub use dtype::DType;
pub use e8m0::E8m0Round;
pub use fp8::{Fp8Format, Overflow};
