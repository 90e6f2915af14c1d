//! The `isolate` binary: parse, dispatch, map errors to exit codes (0 pass, 1 mismatch/drift, 2 bad input).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

/// One line for a value clap rejected: `--order sideways: expected one of auto, file, canonical`, or
/// `--target-gemm: GEMM spec 'x': …` when a spec parser said why.
fn value_error_line(e: &clap::Error) -> String {
    let text = |k| match e.get(k) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(", "),
        _ => String::new(),
    };
    let flag = text(ContextKind::InvalidArg);
    let flag = flag.split_whitespace().next().unwrap_or("").to_string();
    let value = text(ContextKind::InvalidValue);
    match e.kind() {
        ErrorKind::InvalidValue => {
            let valid = text(ContextKind::ValidValue);
            if valid.is_empty() {
                format!("{flag}: a value is required")
            } else {
                format!("{flag} {value}: expected one of {valid}")
            }
        }
        _ => match std::error::Error::source(e) {
            Some(why) => format!("{flag}: {why}"),
            None => format!("{flag} {value}: invalid value"),
        },
    }
}

fn main() {
    let cli = match isolate::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ) =>
        {
            eprintln!("isolate: {}", value_error_line(&e));
            std::process::exit(2);
        }
        // Help, version, and usage errors clap explains best itself (exit 0 or 2).
        Err(e) => e.exit(),
    };
    let code = match isolate::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("isolate: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
