//! Output: terminal tables, JSON, Markdown, HTML.

pub mod json;
pub mod table;
