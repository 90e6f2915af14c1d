//! Command-line parsing (clap) and dispatch. Each command's file turns its flags into a typed request, hands it
//! to its experiment and the result to `report::emit`; nothing here computes (docs/ARCHITECTURE.md).

use clap::{Parser, Subcommand};

use crate::error::Result;

pub mod args;
pub mod bench;
pub mod capture;
pub mod cast;
pub mod compare;
pub mod e8m0;
pub mod fingerprint;
pub mod gate;
pub mod gemm;
pub mod inspect;
pub mod kernels;
pub mod progress;
pub mod quant;
pub mod selftest;

/// Tells you where and why your model's numbers diverge from a reference.
#[derive(Parser, Debug)]
#[command(name = "isolate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the tensors of files: name, dtype, shape, and min/max/mean/NaN count of float tensors.
    Inspect(inspect::InspectArgs),
    /// Convert every floating tensor of the inputs to one dtype and write safetensors.
    Cast(cast::CastArgs),
    /// Encode values to E8M0 codes or decode codes to values.
    E8m0(e8m0::E8m0Args),
    /// Time the GPU kernels against ceilings measured on the card in the same run.
    Bench(bench::BenchArgs),
    /// Check every GPU kernel against its CPU twin, bit for bit (exit 0 all equal, 1 a mismatch).
    Selftest(selftest::SelftestArgs),
    /// The dump-bisect comparisons (docs/method.md §3): ref-vs-target, layer-bisect, schema, slot-invariance.
    Compare(compare::CompareArgs),
    /// Is a quant function byte-equal to a reference preset? (exit 0 equal, 1 not)
    Quant(quant::QuantArgs),
    /// Which quantizer rules does a dumped xq/xs implement?
    Fingerprint(fingerprint::FingerprintArgs),
    /// Replay a dumped activation through target/reference quant × GEMM and attribute the drift
    /// (`gemm fingerprint`: which GEMM model reproduces a dumped output).
    Gemm(Box<gemm::GemmArgs>),
    /// List the kernels this binary carries: module, target (sm_90, gfx942, gfx950, source), size, how built.
    Kernels(kernels::KernelsArgs),
    /// Capture directories (isolate_capture): `ls`, `check`, `import sglang`.
    Capture(capture::CaptureArgs),
    /// CI gate: check a gemm or compare run's JSON against a rules file (per stage/site pattern: bounds on
    /// cos, rel, max_abs, ulp, envelope ratio); exit 1 on a violation; --junit for CI.
    Gate(gate::GateCmdArgs),
}

/// Runs a parsed command; returns the exit code (0 pass, 1 mismatch/drift).
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Cast(a) => cast::run(a),
        Command::E8m0(a) => e8m0::run(a),
        Command::Selftest(a) => selftest::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Quant(a) => quant::run(a),
        Command::Fingerprint(a) => fingerprint::run(a),
        Command::Gemm(a) => gemm::run(*a),
        Command::Kernels(a) => kernels::run(a),
        Command::Capture(a) => capture::run(a),
        Command::Gate(a) => gate::run(a),
    }
}
