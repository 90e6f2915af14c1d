//! Flag groups and value parsers shared by the commands: every closed set of values is parsed by clap (its
//! help lists the values, a wrong one is rejected before any work starts), every spec string by its type's
//! parser, and the report destinations are one group for every command.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;

use crate::backend::BackendKind;
use crate::experiment::inputs::{InputSpec, SiteSelector};
use crate::report::{Dest, Outputs};

/// A parser for a closed set: the values of `all`, spelled by `name`.
pub fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|&t| PossibleValue::new(name(t)))).map(
        move |s: String| {
            *all.iter()
                .find(|&&t| name(t) == s)
                .expect("clap accepted only a listed value")
        },
    )
}

/// A parser for a type whose `FromStr` error is a message (spec strings, `kernel:` references).
pub fn parsed<T>(s: &str) -> Result<T, String>
where
    T: FromStr<Err = String>,
{
    T::from_str(s)
}

/// `--json PATH|-`, `--markdown PATH|-`, `--html PATH`: where the report goes besides the terminal.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Write the report as JSON to PATH (`-` = stdout, which then replaces the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
    /// Write the report as Markdown to PATH (`-` = stdout, which then replaces the table).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<String>,
    /// Write one self-contained HTML page (tables and SVG plots) to PATH.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

impl OutputArgs {
    /// The destinations as the report layer takes them.
    pub fn outputs(&self) -> Outputs {
        Outputs {
            json: self.json.as_deref().map(Dest::parse),
            markdown: self.markdown.as_deref().map(Dest::parse),
            html: self.html.clone(),
        }
    }
}

/// `--input FILE|DIR.. [--site NAME [--call N] [--rank R]]`: the inputs of every data command (gemm, gemm
/// fingerprint, quant, fingerprint).
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// Input tensor files (.safetensors, .pt, .npy), or a capture directory (isolate_capture's
    /// manifest.json + sites/) with --site.
    #[arg(long = "input", required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// The capture directory's site (`isolate capture ls DIR` lists them); its recorded scale meaning
    /// (xs layout, fp8 format, group) replaces --xs-layout / --fp8 unless they are given.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// The site's call index (default: the lowest recorded).
    #[arg(long, value_name = "N", requires = "site")]
    pub call: Option<u64>,
    /// The global rank that recorded it (default 0).
    #[arg(long, value_name = "R", requires = "site")]
    pub rank: Option<u64>,
}

impl SourceArgs {
    /// The inputs as the experiments take them.
    pub fn spec(&self) -> InputSpec {
        InputSpec {
            paths: self.inputs.clone(),
            site: self.site.as_ref().map(|s| SiteSelector {
                site: s.clone(),
                call: self.call,
                rank: self.rank,
            }),
        }
    }
}

/// `--backend auto|cpu|cuda|hip|simt-cpu`.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct BackendArg {
    /// Where to compute: auto (CUDA when an NVIDIA GPU is there, else HIP when an AMD one is, else the CPU,
    /// saying so), cpu, cuda (exit 2 without a GPU), hip (an MI300/MI350 through ROCm's runtime, never yet run
    /// on one; exit 2 without it), or simt-cpu (the kernel sources run on the CPU).
    #[arg(long, value_parser = one_of(&BackendKind::ALL, BackendKind::name), default_value = "auto")]
    pub backend: BackendKind,
}

/// Says on stderr where a data command ran when `auto` fell back to the CPU, and what the backend decided on
/// its own (after the report, so a bad input still gets exactly one line: its error).
pub fn say_where_it_ran(fallback: &Option<String>, backend_notes: &[String]) {
    for n in backend_notes {
        eprintln!("isolate: {n}");
    }
    if let Some(why) = fallback {
        eprintln!("isolate: no usable GPU ({why}); ran on the CPU backend");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        b: BackendArg,
    }

    #[test]
    fn closed_sets_list_their_values() {
        assert_eq!(
            T::try_parse_from(["t", "--backend", "cpu"])
                .unwrap()
                .b
                .backend,
            BackendKind::Cpu
        );
        let e = T::try_parse_from(["t", "--backend", "gpu"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("possible values: auto, cpu, cuda, hip, simt-cpu"),
            "{e}"
        );
    }
}
