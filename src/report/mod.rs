//! Output: terminal tables, JSON, Markdown, HTML.

pub mod fingerprint;
pub mod json;
pub mod quant;
pub mod table;
