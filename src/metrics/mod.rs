//! Metrics between a candidate `a` and a reference `b` (docs/numerics.md §9): computed in
//! f64 with compensated sums, in parallel over chunks, one pass over the bytes, never clamped.

pub mod bytes;
pub mod compare;
pub mod decode;
pub mod drift;
pub mod flag;
pub mod stats;
pub mod sum;
pub mod ulp;

pub use bytes::byte_equal_fraction_per_byte;
pub use compare::{
    compare, compare_values, comparison_of_parts, Comparison, ComparisonParts, LaneSums,
};
pub use drift::{drift, drift_of_cos};
pub use flag::{flag_for, Severity};
pub use stats::{summarize, Summary};
