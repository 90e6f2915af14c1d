//! Output: terminal tables, JSON, Markdown, HTML.

pub mod gemm;
pub mod json;
pub mod table;
