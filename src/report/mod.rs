//! Output: terminal tables, JSON, Markdown, HTML.

pub mod compare_fwd;
pub mod compare_json;
pub mod compare_schema;
pub mod compare_slots;
pub mod doc;
pub mod fingerprint;
pub mod fmt;
pub mod gemm;
pub mod json;
pub mod phases;
pub mod quant;
pub mod svg;
pub mod table;
