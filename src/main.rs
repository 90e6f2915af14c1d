//! The `isolate` binary: parse, dispatch, map errors to exit codes (0 pass, 1 mismatch/drift, 2 bad input).

use clap::error::ErrorKind;
use clap::Parser;

fn main() {
    let cli = match isolate::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // A value clap rejected (an unknown preset, a value outside a closed set): one line, exit 2.
        Err(e) if matches!(e.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("");
            eprintln!("isolate: {}", first.trim_start_matches("error: "));
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
