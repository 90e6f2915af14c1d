//! `isolate e8m0 encode [--round MODE] [--clamp-deepgemm] VALUES.. | decode CODES..`: flags → [`E8m0Request`].
//!
//! Values may be negative (`-0.5`, `-1e-5`, `-inf`), so the value list accepts tokens that start with a hyphen;
//! options written after the values (`encode 0.7 1.0 --json -`) are split off and parsed as options, since no
//! number is spelled with a leading `--`.

use clap::{Args, Parser, Subcommand};

use crate::cli::args::{one_of, OutputArgs};
use crate::error::{Error, Result};
use crate::experiment::e8m0::{self, E8m0Request, E8m0Round};
use crate::report::e8m0::E8m0Report;
use crate::report::emit;

#[derive(Args, Debug)]
pub struct E8m0Args {
    #[command(subcommand)]
    pub op: E8m0Op,
}

#[derive(Subcommand, Debug)]
pub enum E8m0Op {
    /// f32 values → codes.
    Encode {
        #[command(flatten)]
        opts: EncodeOptions,
        /// Values (f32; `inf`, `nan`, hex bit patterns like 0x3f800000 accepted).
        #[arg(required = true, allow_hyphen_values = true)]
        values: Vec<String>,
    },
    /// Codes (0..=255, decimal or 0x..) → values.
    Decode {
        #[arg(required = true)]
        codes: Vec<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// The options of `encode`, which may also follow the values.
#[derive(Args, Debug, Default)]
pub struct EncodeOptions {
    /// Rounding (default ceil).
    #[arg(long, value_parser = one_of(&E8m0Round::ALL, E8m0Round::name))]
    pub round: Option<E8m0Round>,
    /// Clamp codes to [1, 254] as DeepGEMM's ceil_to_ue8m0 does.
    #[arg(long)]
    pub clamp_deepgemm: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Options given after the values.
#[derive(Parser, Debug)]
#[command(name = "isolate e8m0 encode")]
struct Trailing {
    #[command(flatten)]
    opts: EncodeOptions,
}

/// Splits `values` at the first token that starts with `--` (an option: no number is spelled that way) and
/// folds the options after it into `opts` (a flag given twice: the later one wins).
fn split_trailing(
    mut values: Vec<String>,
    mut opts: EncodeOptions,
) -> Result<(Vec<String>, EncodeOptions)> {
    let Some(i) = values.iter().position(|v| v.starts_with("--")) else {
        return Ok((values, opts));
    };
    let tail = values.split_off(i);
    let t =
        Trailing::try_parse_from(std::iter::once("isolate e8m0 encode".to_string()).chain(tail))
            .map_err(|e| {
                Error::Usage(
                    e.to_string()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim_start_matches("error: ")
                        .to_string(),
                )
            })?
            .opts;
    opts.round = t.round.or(opts.round);
    opts.clamp_deepgemm |= t.clamp_deepgemm;
    opts.out.json = t.out.json.or(opts.out.json);
    opts.out.markdown = t.out.markdown.or(opts.out.markdown);
    opts.out.html = t.out.html.or(opts.out.html);
    if values.is_empty() {
        return Err(Error::Usage("e8m0 encode: give at least one value".into()));
    }
    Ok((values, opts))
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
    let (req, out) = match a.op {
        E8m0Op::Encode { opts, values } => {
            let (values, opts) = split_trailing(values, opts)?;
            (
                E8m0Request::Encode {
                    round: opts.round.unwrap_or(E8m0Round::Ceil),
                    clamp_deepgemm: opts.clamp_deepgemm,
                    values: values.iter().map(|v| parse_f32(v)).collect::<Result<_>>()?,
                },
                opts.out,
            )
        }
        E8m0Op::Decode { codes, out } => (
            E8m0Request::Decode {
                codes: codes.iter().map(|c| parse_code(c)).collect::<Result<_>>()?,
            },
            out,
        ),
    };
    emit(&E8m0Report(e8m0::run(&req)), &out.outputs())?;
    Ok(0)
}
