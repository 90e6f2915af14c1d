//! The `isolate` binary: parse, dispatch, map errors to exit codes (0 pass, 1 mismatch/drift, 2 bad input).

use clap::Parser;

fn main() {
    let cli = isolate::cli::Cli::parse();
    let code = match isolate::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("isolate: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
