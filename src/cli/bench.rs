//! `isolate bench quant|gemm [--kernel FILE.cu[:ENTRY]]`: GPU kernels timed against ceilings measured in the
//! same run (needs a CUDA GPU; exit 2 without one).

use clap::{Args, Subcommand};

use crate::cli::args::{parsed, OutputArgs};
use crate::error::Result;
use crate::experiment::bench::{self, GemmBenchRequest, QuantBenchRequest};
use crate::experiment::quant::QuantSpec;
use crate::kernel_ref::KernelRef;
use crate::report::emit;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// `FILE.cu[:ENTRY]`, checked to exist.
fn kernel_file(s: &str) -> std::result::Result<KernelRef, String> {
    KernelRef::from_file_arg(s)
        .checked()
        .map_err(|e| e.to_string())
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// The activation quantizer (bf16 → FP8 + scales) against the card's D2D copy bandwidth; a user kernel
    /// (`--kernel FILE.cu[:ENTRY]`, quant ABI v1) verified and timed beside it.
    Quant {
        #[arg(long, default_value_t = 16384)]
        m: usize,
        #[arg(long, default_value_t = 7168)]
        k: usize,
        /// The quant spec timed (and the reference a user kernel must equal byte for byte).
        #[arg(long, value_parser = parsed::<QuantSpec>, default_value = "deepgemm-ue8m0")]
        spec: QuantSpec,
        /// Timed repetitions per kernel (median reported).
        #[arg(long, default_value_t = 50)]
        reps: usize,
        /// A user quant kernel: FILE.cu[:ENTRY].
        #[arg(long, value_name = "FILE.cu[:ENTRY]", value_parser = kernel_file)]
        kernel: Option<KernelRef>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// The GEMMs (blockwise, tc, tc-fast-accum) against cuBLASLt FP8 with block scaling; a user kernel
    /// (`--kernel FILE.cu[:ENTRY]`, GEMM ABI v1) verified against blockwise and timed beside them.
    Gemm {
        #[arg(long, default_value_t = 4096)]
        m: usize,
        #[arg(long, default_value_t = 7168)]
        n: usize,
        #[arg(long, default_value_t = 7168)]
        k: usize,
        /// Timed repetitions per kernel (median reported).
        #[arg(long, default_value_t = 20)]
        reps: usize,
        /// A user GEMM kernel: FILE.cu[:ENTRY] (GEMM ABI v1, see examples/gemm_blockwise.cu).
        #[arg(long, value_name = "FILE.cu[:ENTRY]", value_parser = kernel_file)]
        kernel: Option<KernelRef>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// Runs a benchmark; exit 0 when every output check passed, 1 otherwise.
pub fn run(a: BenchArgs) -> Result<i32> {
    match a.what {
        BenchWhat::Quant {
            m,
            k,
            spec,
            reps,
            kernel,
            out,
        } => {
            let r = bench::run_quant(&QuantBenchRequest {
                m,
                k,
                spec,
                reps,
                kernel,
            })?;
            emit(&r, &out.outputs())?;
            Ok((!r.report.all_equal) as i32)
        }
        BenchWhat::Gemm {
            m,
            n,
            k,
            reps,
            kernel,
            out,
        } => {
            let r = bench::run_gemm(&GemmBenchRequest {
                m,
                n,
                k,
                reps,
                kernel,
            })?;
            emit(&r, &out.outputs())?;
            Ok((!r.report.user_equal) as i32)
        }
    }
}
