//! `isolate gemm --input F.. [--name R=T].. --target-quant Q|dumped --ref-quant Q --target-gemm G --ref-gemm G
//! [--weight-quant Q] [--json PATH|-] [--save PATH]` and `isolate gemm --fingerprint --input F.. [--top N]`.
//!
//! Roles: `x` (activation before quantization), `xq`/`xs` (the target's quantized activation, for
//! `--target-quant dumped`), `w`/`ws` (weight: FP8 codes + scales, or bf16/f32 quantized by `--weight-quant`),
//! `target_out`, `ref_out`. Exit: 0 verdict `none` (fingerprint: some variant is bit-exact), 1 otherwise,
//! 2 bad input.

use std::path::PathBuf;

use clap::Args;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::experiment::gemm_fingerprint::{fingerprint, variants_for};
use crate::experiment::gemm_isolate::{
    run_with as isolate, saved_tensors, Activation, IsolateInputs, Thresholds,
};
use crate::formats::{DType, Fp8Format};
use crate::gemm::{load, GemmChoice, GpuGemm, Operand};
use crate::io::Roles;
use crate::quant::layout::XsLayout;
use crate::quant::QuantSpec;
use crate::report::gemm::{fingerprint_json, fingerprint_text, isolate_json, isolate_text};
use crate::report::json::write_json;

const ROLES: [&str; 7] = ["x", "xq", "xs", "w", "ws", "target_out", "ref_out"];

#[derive(Args, Debug)]
#[command(
    after_help = "Paths: A = target quant + target GEMM, B = reference quant + reference GEMM, \
C1 = reference quant + target GEMM, C2 = target quant + reference GEMM.\n\
Exit: 0 verdict none (--fingerprint: some variant reproduces target_out bit for bit), 1 otherwise, 2 bad input."
)]
pub struct GemmArgs {
    /// Input tensor files (.safetensors, .pt, .npy).
    #[arg(long = "input", required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Map a role to a tensor name: ROLE=TENSOR (roles: x, xq, xs, w, ws, target_out, ref_out).
    #[arg(long = "name", value_name = "ROLE=TENSOR")]
    pub names: Vec<String>,
    /// Target quantizer: a quant spec (preset[,axis=value]…, see `isolate quant --help`), or `dumped` (the
    /// dump's xq/xs).
    #[arg(long, value_name = "Q", required_unless_present = "fingerprint")]
    pub target_quant: Option<String>,
    /// Reference quantizer: a quant spec, e.g. deepgemm-ue8m0, or `none` (x as it is).
    #[arg(long, value_name = "Q", required_unless_present = "fingerprint")]
    pub ref_quant: Option<String>,
    /// Target GEMM: an emulation, blockwise | blockwise-v3 | fast-accum | dequant-bf16 | exact with `,axis=value`
    /// overrides; or GPU-only: tc | tc-fast-accum | cublaslt | kernel:FILE.cu[:ENTRY] (GEMM ABI v1, see
    /// examples/gemm_blockwise.cu), with `,out=bf16|f32`.
    #[arg(long, value_name = "G", required_unless_present = "fingerprint")]
    pub target_gemm: Option<String>,
    /// Reference GEMM (same spellings as --target-gemm).
    #[arg(long, value_name = "G", required_unless_present = "fingerprint")]
    pub ref_gemm: Option<String>,
    /// Quantizer for a bf16/f32 weight `w` (128×128 blocks).
    #[arg(long, value_name = "Q", default_value = "deepgemm-ue8m0")]
    pub weight_quant: String,
    /// Layout of a dumped xs: row | col | tma | packed-ue8m0.
    #[arg(long, value_name = "L", default_value = "row")]
    pub xs_layout: String,
    /// FP8 format of code tensors stored as raw u8/i8 bytes: e4m3fn | e4m3fnuz | e5m2.
    #[arg(long, value_name = "FMT", default_value = "e4m3fn")]
    pub fp8: String,
    /// Where the quantizers and GEMMs run: auto (CUDA when a GPU is there) | cpu | cuda. On CUDA the quantizers
    /// and the block-exact GEMMs run on the GPU (bit-identical), other emulations on the CPU; tc, tc-fast-accum, cublaslt and kernel: need the
    /// GPU. With --fingerprint on a GPU, tc, tc-fast-accum and cublaslt are ranked too.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Rank GEMM emulations by how well they reproduce target_out from the dumped operands instead.
    #[arg(long)]
    pub fingerprint: bool,
    /// Fingerprint: rows of the ranking to print.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Verdict: a share at least this large makes its cause the verdict (with the other below --minor-share).
    #[arg(long, default_value_t = 0.8)]
    pub major_share: f64,
    /// Verdict: a share below this is negligible; both shares at least this large make `both`.
    #[arg(long, default_value_t = 0.2)]
    pub minor_share: f64,
    /// Verdict: 1 − cos(A, B) at most this, with max_abs 0, counts as `none`.
    #[arg(long, default_value_t = 1e-12)]
    pub equal_drift: f64,
    /// Measure the shares' drift against ref_out instead of B (design.md's wording; by default B, so that a
    /// drift all four paths share, such as the weight's quantization error against an f32 ref_out, cancels).
    #[arg(long)]
    pub shares_vs_ref_out: bool,
    /// Write the result as JSON to PATH (`-` for stdout, which then replaces the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
    /// Write the four outputs and both quantized activations to this safetensors file.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
}

fn fp8_format(s: &str) -> Result<Fp8Format> {
    Fp8Format::parse(s)
        .ok_or_else(|| Error::Usage(format!("--fp8 {s}: expected e4m3fn, e4m3fnuz or e5m2")))
}

fn gemm_choice(flag: &str, s: &str) -> Result<GemmChoice> {
    let c = GemmChoice::parse(s).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
    if let Some(GpuGemm::Kernel { path, .. }) = c.gpu() {
        crate::backend::cuda::user::check_exists(path)?;
    }
    Ok(c)
}

/// The activation a quantizer choice gives: `dumped` (xq/xs), or a quant spec applied to x on `be` (`none`
/// keeps x as it is).
fn activation(
    be: &dyn Backend,
    flag: &str,
    q: &str,
    roles: &Roles,
    a: &GemmArgs,
    raw: Fp8Format,
) -> Result<(String, Operand)> {
    let (name, op) = quantized_activation(be, flag, q, roles, a, raw)?;
    if op.rows() == 0 {
        return Err(Error::BadTensor(
            "the activation has no rows (M = 0): there is nothing to multiply or compare".into(),
        ));
    }
    Ok((name, op))
}

/// [`activation`] before its row check.
fn quantized_activation(
    be: &dyn Backend,
    flag: &str,
    q: &str,
    roles: &Roles,
    a: &GemmArgs,
    raw: Fp8Format,
) -> Result<(String, Operand)> {
    if q == "dumped" {
        let layout = XsLayout::parse(&a.xs_layout)?;
        let act = load::activation(roles.get("xq")?, roles.get("xs")?, raw, layout)?;
        return Ok(("dumped".into(), act.into()));
    }
    let spec = QuantSpec::parse(q).map_err(|e| prefixed(flag, e))?;
    let x = roles.get("x")?;
    if spec.is_none() {
        return Ok((spec.to_string(), Operand::from_tensor(x)?));
    }
    Ok((spec.to_string(), be.quantize_activation(&spec, x)?.into()))
}

/// A usage error of a spec, prefixed with the flag that gave it.
fn prefixed(flag: &str, e: Error) -> Error {
    match e {
        Error::Usage(m) => Error::Usage(format!("{flag}: {m}")),
        other => other,
    }
}

/// The weight: FP8 codes with their scales, or a floating weight quantized by `--weight-quant` on `be`.
fn weight(be: &dyn Backend, roles: &Roles, a: &GemmArgs, raw: Fp8Format) -> Result<Operand> {
    let w = roles.get("w")?;
    if w.shape.len() != 2 {
        return Err(Error::BadTensor(format!(
            "role 'w': '{}' has shape {:?}; a weight is a matrix [N, K]",
            w.name, w.shape
        )));
    }
    let is_codes = w.dtype.fp8_format().is_some() || matches!(w.dtype, DType::U8 | DType::I8);
    if is_codes {
        let ws = roles.get_opt("ws").ok_or_else(|| {
            Error::MissingTensor(format!(
                "role 'ws': the weight '{}' is {} codes but no scale tensor '{}' was found; map it with \
                 --name ws=TENSOR",
                w.name,
                w.dtype,
                roles.tensor_name("ws")
            ))
        })?;
        return Ok(load::weight(w, ws, raw)?.into());
    }
    let spec = QuantSpec::parse(&a.weight_quant).map_err(|e| prefixed("--weight-quant", e))?;
    if spec.is_none() {
        return Operand::from_tensor(w);
    }
    Ok(be.quantize_weight(&spec, w)?.into())
}

/// A progress bar when the work will take more than ~2 s (estimate: 1 GMAC/s).
fn progress_bar(macs: f64, what: &str) -> Option<indicatif::ProgressBar> {
    (macs > 2e9).then(|| {
        let pb = indicatif::ProgressBar::new(100);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_message(what.to_string());
        pb
    })
}

pub fn run(a: GemmArgs) -> Result<i32> {
    let choice = crate::backend::parse_choice(&a.backend)?;
    if !(0.0..=1.0).contains(&a.minor_share) || !(0.0..=1.0).contains(&a.major_share) {
        return Err(Error::Usage(
            "--major-share and --minor-share are fractions in [0, 1]".into(),
        ));
    }
    let mut phases = crate::report::phases::Phases::start();
    let raw = fp8_format(&a.fp8)?;
    let files = crate::io::load_all(&a.inputs)?;
    let roles = Roles::new(files, &a.names, &ROLES)?;
    phases.mark("load (map files, roles)");
    if a.fingerprint {
        return run_fingerprint(&a, &roles, raw, choice);
    }
    let (tq, rq) = (
        a.target_quant.as_deref().unwrap_or(""),
        a.ref_quant.as_deref().unwrap_or(""),
    );
    let target_gemm = gemm_choice("--target-gemm", a.target_gemm.as_deref().unwrap_or(""))?;
    let ref_gemm = gemm_choice("--ref-gemm", a.ref_gemm.as_deref().unwrap_or(""))?;
    // A GPU-only GEMM needs the GPU: say so before quantizing or multiplying anything.
    // The quantizers and the GEMMs run on the same backend (the GPU's quantizers are bit-identical to the CPU's).
    let chosen = match target_gemm.gpu().or(ref_gemm.gpu()) {
        Some(g) => crate::backend::Chosen::of(crate::backend::require_gpu(choice, g)?),
        None => crate::backend::select_deferred(choice)?,
    };
    let be = &chosen.backend;
    phases.mark(&format!("backend start ({})", be.name()));
    let w = weight(be.as_ref(), &roles, &a, raw)?;
    phases.mark("weight (load or quantize)");
    let (tname, tact) = activation(be.as_ref(), "--target-quant", tq, &roles, &a, raw)?;
    let (rname, ract) = activation(be.as_ref(), "--ref-quant", rq, &roles, &a, raw)?;
    phases.mark("activations (quantize both)");
    if tact.rows() != ract.rows() || tact.cols() != ract.cols() {
        return Err(Error::BadTensor(format!(
            "the target activation is [{}, {}] but the reference one is [{}, {}]",
            tact.rows(),
            tact.cols(),
            ract.rows(),
            ract.cols()
        )));
    }
    let inp = IsolateInputs {
        target_act: Activation {
            quant: tname,
            operand: &tact,
        },
        ref_act: Activation {
            quant: rname,
            operand: &ract,
        },
        weight: &w,
        target_gemm,
        ref_gemm,
        target_out: roles.get_opt("target_out"),
        ref_out: roles.get_opt("ref_out"),
        thresholds: Thresholds {
            major: a.major_share,
            minor: a.minor_share,
            equal_drift: a.equal_drift,
            shares_vs_ref_out: a.shares_vs_ref_out,
        },
    };
    let macs = 4.0 * (tact.rows() * w.rows()) as f64 * w.cols() as f64;
    let pb = progress_bar(macs, "4 GEMM paths");
    let res = isolate(be.as_ref(), &inp, &|path, done, total| {
        if let Some(pb) = &pb {
            pb.set_position(((path * total + done) * 100 / (4 * total.max(1))) as u64);
        }
    })?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    phases.mark("4 paths (GEMMs + comparison)");
    if let Some(path) = &a.save {
        crate::io::safetensors_io::write(path, &saved_tensors(&inp, &res)?, None)?;
        phases.mark("--save");
    }
    if a.json.as_deref() != Some("-") {
        print!("{}", isolate_text(&res));
        if let Some(p) = &a.save {
            println!(
                "saved A, B, C1, C2 and both quantized activations to {}",
                p.display()
            );
        }
    }
    if let Some(dest) = &a.json {
        write_json(dest, &isolate_json(&res))?;
    }
    phases.mark("report");
    chosen.say_fallback();
    Ok(res.attribution.verdict.exit_code())
}

fn run_fingerprint(
    a: &GemmArgs,
    roles: &Roles,
    raw: Fp8Format,
    choice: crate::backend::BackendChoice,
) -> Result<i32> {
    let tq = a.target_quant.as_deref().unwrap_or("dumped");
    let chosen = crate::backend::select_deferred(choice)?;
    let be = &chosen.backend;
    let (_, act) = activation(be.as_ref(), "--target-quant", tq, roles, a, raw)?;
    let w = weight(be.as_ref(), roles, a, raw)?;
    let target = roles.get("target_out")?;
    let variants = variants_for(be.as_ref());
    let macs = variants.len() as f64 * (act.rows() * w.rows()) as f64 * w.cols() as f64;
    let pb = progress_bar(macs, "GEMM variants");
    let f = fingerprint(be.as_ref(), &act, &w, target, &variants, &|d, t| {
        if let Some(pb) = &pb {
            pb.set_position((d * 100 / t.max(1)) as u64);
        }
    })?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if a.json.as_deref() != Some("-") {
        print!("{}", fingerprint_text(&f, a.top));
    }
    if let Some(dest) = &a.json {
        write_json(dest, &fingerprint_json(&f))?;
    }
    chosen.say_fallback();
    let exact = f.ranking.first().is_some_and(|v| v.bitwise == 1.0);
    Ok(if exact { 0 } else { 1 })
}
