//! `isolate bench quant|gemm [--kernel FILE.cu[:ENTRY]]`: GPU kernels timed against ceilings measured in the
//! same run (needs a CUDA GPU; exit 2 without one).

use clap::{Args, Subcommand};

use crate::backend::cuda::CudaBackend;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::experiment::bench::{self, gemm::GemmBench};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
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
        #[arg(long, default_value = "deepgemm-ue8m0")]
        spec: String,
        /// Timed repetitions per kernel (median reported).
        #[arg(long, default_value_t = 50)]
        reps: usize,
        /// A user quant kernel: FILE.cu[:ENTRY].
        #[arg(long, value_name = "FILE.cu[:ENTRY]")]
        kernel: Option<String>,
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
        #[arg(long, value_name = "FILE.cu[:ENTRY]")]
        kernel: Option<String>,
    },
}

fn cuda() -> Result<CudaBackend> {
    CudaBackend::new().map_err(|e| match e {
        Error::NoGpu(w) => Error::NoGpu(format!("bench needs a CUDA GPU: {w}")),
        e => e,
    })
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
        } => {
            let spec = crate::quant::QuantSpec::parse(&spec)?;
            if spec.is_none() || m == 0 || k == 0 || k % spec.group != 0 {
                return Err(Error::Usage(format!(
                    "bench quant: needs a quantizing spec and M, K > 0 with K a multiple of the group (got {spec}, {m}×{k})"
                )));
            }
            let kernel = kernel.map(|f| crate::backend::cuda::user::KernelRef::from_file_arg(&f));
            if let Some(kr) = &kernel {
                crate::backend::cuda::user::check_exists(&kr.path)?;
            }
            let be = cuda()?;
            println!("device: {}", be.describe());
            let r = bench::quant::run(
                &be,
                &bench::quant::QuantBench {
                    m,
                    k,
                    spec,
                    reps: reps.max(1),
                    kernel,
                },
            )?;
            println!(
                "M×K = {m}×{k} bf16; measured D2D copy {:.0} GB/s (read + write; {:.0} GB/s synchronized per rep); \
                 bytes = input + codes + scales; every row's repetitions queued, events around each",
                r.copy_gbs, r.copy_synced_gbs
            );
            print!("{}", bench::table(&r.rows, "GB/s"));
            Ok((!r.all_equal) as i32)
        }
        BenchWhat::Gemm {
            m,
            n,
            k,
            reps,
            kernel,
        } => {
            if m == 0 || n == 0 || k == 0 || k % 128 != 0 || n % 16 != 0 {
                return Err(Error::Usage(format!(
                    "bench gemm: M, N, K must be positive with K % 128 = 0 and N % 16 = 0 (got {m}×{n}×{k})"
                )));
            }
            let kernel = kernel.map(|f| crate::backend::cuda::user::KernelRef::from_file_arg(&f));
            if let Some(kr) = &kernel {
                crate::backend::cuda::user::check_exists(&kr.path)?;
            }
            let be = cuda()?;
            println!("device: {}", be.describe());
            let r = bench::gemm::run(
                &be,
                &GemmBench {
                    m,
                    n,
                    k,
                    reps: reps.max(1),
                    kernel,
                },
            )?;
            println!(
                "M×N×K = {m}×{n}×{k}; measured peaks: FP32 FMA {:.1} TFLOP/s, FP64 MMA {:.1} TFLOP/s; cuBLASLt FP8 {:.1} TFLOP/s",
                r.fp32_tflops, r.fp64_mma_tflops, r.cublaslt_tflops
            );
            print!("{}", bench::table(&r.rows, "TFLOP/s"));
            Ok((!r.user_equal) as i32)
        }
    }
}
