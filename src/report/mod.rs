//! Output: every command's result rendered one way. A result implements [`Render`] (a document model plus a
//! JSON value); [`emit`] writes it to the terminal and to whatever `--json PATH|-`, `--markdown PATH|-` and
//! `--html PATH` asked for. The document renders as a terminal table, GitHub Markdown, or one self-contained
//! HTML page with SVG plots ([`doc`]); numbers are written with one vocabulary ([`fmt`]).

use std::path::PathBuf;

use crate::error::{Error, Result};

pub mod bench;
pub mod capture;
pub mod cast;
pub mod compare;
pub mod consistency;
pub mod doc;
pub mod e8m0;
pub mod fingerprint;
pub mod fmt;
pub mod gate;
pub mod gemm;
pub mod gemm_fingerprint;
pub mod inspect;
pub mod json;
pub mod kernels;
pub mod quant;
pub mod selftest;
pub mod svg;
mod table;
pub mod timings;

pub use doc::Doc;

/// A result that can be reported.
pub trait Render {
    /// The report as a document. `figures`: whether to build the SVG plots (only the HTML page shows them, so
    /// the terminal and Markdown renderings skip the work).
    fn document(&self, figures: bool) -> Doc;
    /// The report as JSON (the fields other tools rely on).
    fn json(&self) -> serde_json::Value;
}

/// Where a report goes besides the terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    File(PathBuf),
}

impl Dest {
    /// `-` is standard output, anything else a file path.
    pub fn parse(s: &str) -> Dest {
        if s == "-" {
            Dest::Stdout
        } else {
            Dest::File(PathBuf::from(s))
        }
    }
}

/// The report destinations a command was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    pub json: Option<Dest>,
    pub markdown: Option<Dest>,
    pub html: Option<PathBuf>,
}

impl Outputs {
    /// Whether JSON or Markdown replaces the terminal table on standard output.
    pub fn takes_stdout(&self) -> bool {
        self.json == Some(Dest::Stdout) || self.markdown == Some(Dest::Stdout)
    }
}

fn write(dest: &Dest, text: &str) -> Result<()> {
    match dest {
        Dest::Stdout => {
            print!("{text}");
            Ok(())
        }
        Dest::File(p) => std::fs::write(p, text).map_err(|e| Error::io(p, e)),
    }
}

/// Writes `r`: the terminal rendering on standard output unless JSON or Markdown goes there, then each
/// requested file. JSON and Markdown cannot both go to standard output.
pub fn emit(r: &dyn Render, out: &Outputs) -> Result<()> {
    if out.json == Some(Dest::Stdout) && out.markdown == Some(Dest::Stdout) {
        return Err(Error::Usage(
            "--json - and --markdown - cannot both go to stdout".into(),
        ));
    }
    if !out.takes_stdout() {
        print!("{}", r.document(false).to_terminal());
    }
    if let Some(p) = &out.html {
        std::fs::write(p, r.document(true).to_html()).map_err(|e| Error::io(p, e))?;
    }
    if let Some(dest) = &out.json {
        write(dest, &(json::pretty(&r.json()) + "\n"))?;
    }
    if let Some(dest) = &out.markdown {
        write(dest, &r.document(false).to_markdown())?;
    }
    Ok(())
}
