//! `isolate gemm …` (the four-path isolation) and `isolate gemm fingerprint …` (which GEMM model reproduces a
//! dumped `target_out`): flags → [`IsolateRequest`] / [`FingerprintRequest`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::args::{one_of, parsed, say_where_it_ran, BackendArg, OutputArgs, SourceArgs};
use crate::cli::gate::{emit_run, GateArgs};
use crate::cli::progress::Bar;
use crate::error::{Error, Result};
use crate::experiment::gemm::{
    run_fingerprint, run_isolate, ActivationQuant, DumpFlags, EnvelopeThresholds,
    FingerprintRequest, GemmChoice, GemmInputs, IsolateRequest, QuantSpec, VerdictThresholds,
    XsLayout,
};
use crate::formats::Fp8Format;
use crate::report::{emit, timings};

/// `isolate gemm`: the isolation, or the `fingerprint` subcommand.
#[derive(Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Paths: A = target quant + target GEMM, B = reference quant + reference GEMM, \
C1 = reference quant + target GEMM, C2 = target quant + reference GEMM.\n\
Exit: 0 verdict none, 1 otherwise, 2 bad input."
)]
pub struct GemmArgs {
    #[command(subcommand)]
    pub sub: Option<GemmSub>,
    #[command(flatten)]
    pub isolate: IsolateArgs,
}

#[derive(Subcommand, Debug)]
pub enum GemmSub {
    /// Rank GEMM emulations (and, on a GPU, the real tensor-core GEMMs) by how well they reproduce a dumped
    /// target_out from the dumped operands. Exit 0 when one is bit-exact, 1 otherwise, 2 bad input.
    Fingerprint(FingerprintArgs),
}

/// Flags every GEMM command shares: the inputs and how to read them.
#[derive(Args, Debug)]
pub struct InputArgs {
    #[command(flatten)]
    pub input: SourceArgs,
    /// Map a role to a tensor name: ROLE=TENSOR (roles: x, xq, xs, w, ws, target_out, ref_out).
    #[arg(long = "name", value_name = "ROLE=TENSOR")]
    pub names: Vec<String>,
    /// Quantizer for a bf16/f32 weight `w` (128×128 blocks): a quant spec, or none.
    #[arg(long, value_name = "Q", value_parser = parsed::<QuantSpec>, default_value = "deepgemm-ue8m0")]
    pub weight_quant: QuantSpec,
    /// Layout of a dumped xs (default: as a capture recorded it, else row).
    #[arg(long, value_name = "L", value_parser = one_of(&XsLayout::ALL, XsLayout::name))]
    pub xs_layout: Option<XsLayout>,
    /// FP8 format of code tensors stored as raw u8/i8 bytes (default: as a capture recorded it, else e4m3fn).
    #[arg(long, value_name = "FMT", value_parser = one_of(&Fp8Format::ALL, Fp8Format::name))]
    pub fp8: Option<Fp8Format>,
    /// Where the quantizers and GEMMs run. On CUDA the quantizers and the block-exact GEMMs run on the GPU
    /// (bit-identical), other emulations on the CPU; tc, tc-fast-accum, cublaslt and kernel: need the GPU.
    #[command(flatten)]
    pub backend: BackendArg,
}

impl InputArgs {
    fn request(&self) -> GemmInputs {
        GemmInputs {
            source: self.input.spec(),
            names: self.names.clone(),
            dump: DumpFlags {
                fp8: self.fp8,
                xs_layout: self.xs_layout,
            },
            weight_quant: self.weight_quant,
            backend: self.backend.backend,
        }
    }
}

#[derive(Args, Debug)]
pub struct IsolateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Target quantizer: a quant spec (preset[,axis=value]…, see `isolate quant --help`), or `dumped` (the
    /// dump's xq/xs).
    #[arg(long, value_name = "Q", value_parser = parsed::<ActivationQuant>, required_unless_present = "fingerprint")]
    pub target_quant: Option<ActivationQuant>,
    /// Reference quantizer: a quant spec, e.g. deepgemm-ue8m0, or `none` (x as it is).
    #[arg(long, value_name = "Q", value_parser = parsed::<ActivationQuant>, required_unless_present = "fingerprint")]
    pub ref_quant: Option<ActivationQuant>,
    /// Target GEMM: an emulation, blockwise | blockwise-v3 | dequant-bf16 | exact | sm90-blockwise | sm90-promote |
    /// sm90-fast-accum (alias fast-accum) | sm89-… | sm100-… | cdna3-… with `,axis=value` overrides; or GPU-only: tc | tc-fast-accum | cublaslt | kernel:FILE.cu[:ENTRY] (GEMM ABI v1, see
    /// examples/gemm_blockwise.cu), with `,out=bf16|f32`.
    #[arg(long, value_name = "G", value_parser = parsed::<GemmChoice>, required_unless_present = "fingerprint")]
    pub target_gemm: Option<GemmChoice>,
    /// Reference GEMM (same spellings as --target-gemm).
    #[arg(long, value_name = "G", value_parser = parsed::<GemmChoice>, required_unless_present = "fingerprint")]
    pub ref_gemm: Option<GemmChoice>,
    /// Verdict: a share at least this large makes its cause the verdict (with the other below --minor-share).
    #[arg(long, default_value_t = 0.8)]
    pub major_share: f64,
    /// Verdict: a share below this is negligible; both shares at least this large make `both`.
    #[arg(long, default_value_t = 0.2)]
    pub minor_share: f64,
    /// Verdict: 1 − cos(A, B) at most this, with max_abs 0, counts as `none`.
    #[arg(long, default_value_t = 1e-12)]
    pub equal_drift: f64,
    /// Measure the shares' drift against ref_out instead of B (by default B, so that a drift all four paths
    /// share, such as the weight's quantization error against an f32 ref_out, cancels).
    #[arg(long)]
    pub shares_vs_ref_out: bool,
    /// Envelope: drift(A, B) / quantization floor (in 1 − cos) below this reads "≪ 1: GEMM-order noise".
    /// 1 − cos grows with the square of the error's norm, so 0.1 is an error about 0.3× the one FP8
    /// quantization of this site makes; accumulation-order differences are orders of magnitude below it.
    #[arg(long, value_name = "R", default_value_t = 0.1)]
    pub envelope_noise: f64,
    /// Envelope: a ratio above this reads "> 1: larger than quantization — a bug". A legitimate quantizer
    /// whose scales are a binade coarser everywhere errs 2× as much as the reference (4× in 1 − cos), and the
    /// two errors add in quadrature: up to 5× the floor without a bug; 10 (an error norm ≈ 3.2× the floor's)
    /// leaves a factor 2 over that. One group of 1,368 dequantized with twice its scale already adds about
    /// 2× the floor on MiniLM data, so a handful of such groups crosses it.
    #[arg(long, value_name = "R", default_value_t = 10.0)]
    pub envelope_bug: f64,
    /// The noise envelope's extra GEMMs (the exact product, the Hopper model) run on the CPU: above this many
    /// multiply-adds per GEMM (M·N·K) the envelope is skipped, with the reason in the report.
    #[arg(long, default_value_t = 4e9)]
    pub envelope_max_macs: f64,
    /// Skip the noise envelope (the exact product and the GEMM-order emulations: three or four more GEMMs).
    #[arg(long)]
    pub no_envelope: bool,
    /// Write the four outputs and both quantized activations to this safetensors file.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Replaced by the subcommand `isolate gemm fingerprint`.
    #[arg(long, hide = true)]
    pub fingerprint: bool,
}

#[derive(Args, Debug)]
pub struct FingerprintArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The activation the target multiplied: `dumped` (its xq/xs) or a quant spec applied to x.
    #[arg(long, value_name = "Q", value_parser = parsed::<ActivationQuant>, default_value = "dumped")]
    pub target_quant: ActivationQuant,
    /// Rows of the ranking to print.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(a: GemmArgs) -> Result<i32> {
    match a.sub {
        Some(GemmSub::Fingerprint(f)) => fingerprint(f),
        None => isolate(a.isolate),
    }
}

fn isolate(a: IsolateArgs) -> Result<i32> {
    if a.fingerprint {
        return Err(Error::Usage(
            "`isolate gemm --fingerprint` is now a subcommand: isolate gemm fingerprint --input FILE.. \
             [--target-quant dumped]"
                .into(),
        ));
    }
    if !(0.0..=1.0).contains(&a.minor_share) || !(0.0..=1.0).contains(&a.major_share) {
        return Err(Error::Usage(
            "--major-share and --minor-share are fractions in [0, 1]".into(),
        ));
    }
    if !(a.envelope_noise >= 0.0 && a.envelope_noise <= a.envelope_bug) {
        return Err(Error::Usage(
            "--envelope-noise and --envelope-bug are ratios with 0 ≤ noise ≤ bug".into(),
        ));
    }
    let missing = |flag: &str| Error::Usage(format!("{flag} is required"));
    let rules = a.gate.load()?;
    let site = a.input.input.site.clone();
    let req = IsolateRequest {
        inputs: a.input.request(),
        target_quant: a.target_quant.ok_or_else(|| missing("--target-quant"))?,
        ref_quant: a.ref_quant.ok_or_else(|| missing("--ref-quant"))?,
        target_gemm: a.target_gemm.ok_or_else(|| missing("--target-gemm"))?,
        ref_gemm: a.ref_gemm.ok_or_else(|| missing("--ref-gemm"))?,
        thresholds: VerdictThresholds {
            major: a.major_share,
            minor: a.minor_share,
            equal_drift: a.equal_drift,
            shares_vs_ref_out: a.shares_vs_ref_out,
        },
        envelope: (!a.no_envelope).then_some(EnvelopeThresholds {
            noise: a.envelope_noise,
            bug: a.envelope_bug,
            max_macs: a.envelope_max_macs,
        }),
        save: a.save,
        figures: a.out.html.is_some(),
    };
    let start = std::time::Instant::now();
    let rep = run_isolate(&req, &Bar::new())?;
    let t = std::time::Instant::now();
    let code = emit_run(
        &rep,
        rep.result.attribution.verdict.exit_code(),
        &a.gate,
        rules.as_ref(),
        &a.out,
        site.as_deref(),
    )?;
    if std::env::var("ISOLATE_TIMINGS").is_ok_and(|v| v == "1") {
        let mut phases = rep.timings.clone();
        phases.push(("report".into(), t.elapsed().as_secs_f64()));
        eprint!("{}", timings::render(&phases));
        eprintln!("timing: wall {:.3} s", start.elapsed().as_secs_f64());
    }
    say_where_it_ran(&rep.fallback, &rep.backend_notes);
    // The process exits next: letting the OS reclaim the GPU context and the buffers at exit is faster than
    // destroying them one by one (docs/kernels.md §12).
    std::mem::forget(rep);
    Ok(code)
}

fn fingerprint(a: FingerprintArgs) -> Result<i32> {
    let req = FingerprintRequest {
        inputs: a.input.request(),
        target_quant: a.target_quant,
        top: a.top,
    };
    let rep = run_fingerprint(&req, &Bar::new())?;
    emit(&rep, &a.out.outputs())?;
    say_where_it_ran(&rep.fallback, &rep.backend_notes);
    Ok(rep.exit_code())
}
