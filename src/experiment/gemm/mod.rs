//! `isolate gemm` and `isolate gemm fingerprint` as experiments: a typed request in, a result out.
//!
//! - [`isolate`]: replays a dumped activation through A = target quant + target GEMM, B = reference quant +
//!   reference GEMM, C1 = reference quant + target GEMM, C2 = target quant + reference GEMM and attributes the
//!   drift ([`isolate::run_with`], [`attribution`]): docs/method.md §3.6, docs/contract.md §5;
//! - [`fingerprint`]: ranks GEMM emulations by how well they reproduce a dumped `target_out`.

use std::path::PathBuf;

use crate::backend::{self, BackendKind, Selected};
use crate::error::Result;
use crate::experiment::inputs::{self, InputSpec, Inputs};
use crate::experiment::{Progress, Stopwatch};
use crate::formats::Fp8Format;

pub mod attribution;
pub mod envelope;
pub mod fingerprint;
pub mod isolate;
pub mod maps;
pub mod operands;
pub mod staged;

pub use crate::experiment::inputs::DumpFlags;
pub use crate::gemm::GemmChoice;
pub use crate::quant::layout::XsLayout;
pub use crate::quant::QuantSpec;
pub use attribution::{Verdict, VerdictThresholds};
pub use envelope::EnvelopeThresholds;
pub use operands::{ActivationQuant, DumpFormat};

/// The roles `isolate gemm` reads.
pub const ROLES: [&str; 7] = ["x", "xq", "xs", "w", "ws", "target_out", "ref_out"];

/// Where the operands come from.
#[derive(Clone, Debug)]
pub struct GemmInputs {
    /// Tensor files (.safetensors, .pt, .npy) or a capture directory's site.
    pub source: InputSpec,
    /// `ROLE=TENSOR` mappings.
    pub names: Vec<String>,
    /// How dumped codes and scales are read, where the flags said it (else as recorded, else row/e4m3fn).
    pub dump: DumpFlags,
    /// Quantizer of a floating weight `w` (128×128 blocks).
    pub weight_quant: QuantSpec,
    /// Where the quantizers and GEMMs run.
    pub backend: BackendKind,
}

/// Loads a GEMM command's inputs and how to read them: the dump format (flags, else the capture's record, else
/// row / e4m3fn), the weight's raw-byte format, and the notes about a capture input.
fn load_inputs(
    req: &GemmInputs,
    quants: &[(&str, &ActivationQuant)],
) -> Result<(Inputs, DumpFormat, Fp8Format, Vec<String>)> {
    let inp = inputs::load(&req.source, &req.names, &ROLES)?;
    for (flag, q) in quants {
        if **q == ActivationQuant::Dumped {
            inp.refuse_dumped(flag)?;
        }
    }
    let dump = DumpFormat {
        raw_fp8: inp.act_fp8(req.dump).unwrap_or(Fp8Format::E4m3fn),
        xs_layout: inp.xs_layout(req.dump),
        group: inp.group(),
    };
    let w_fp8 = inp.w_fp8(req.dump).unwrap_or(Fp8Format::E4m3fn);
    let notes = inp.notes(req.dump);
    Ok((inp, dump, w_fp8, notes))
}

/// `isolate gemm`.
#[derive(Clone, Debug)]
pub struct IsolateRequest {
    pub inputs: GemmInputs,
    pub target_quant: ActivationQuant,
    pub ref_quant: ActivationQuant,
    pub target_gemm: GemmChoice,
    pub ref_gemm: GemmChoice,
    pub thresholds: VerdictThresholds,
    /// The noise envelope's thresholds (None: no envelope, `--no-envelope`).
    pub envelope: Option<EnvelopeThresholds>,
    /// Write the four outputs and both quantized activations here.
    pub save: Option<PathBuf>,
    /// Also compute the data of the plots (ulp spreads, difference map): a few passes over the outputs that
    /// only the HTML report shows.
    pub figures: bool,
}

/// What `isolate gemm` found, with where it ran and how long each phase took.
pub struct IsolateReport {
    pub result: isolate::IsolateResult,
    /// Per-element ulp spreads of A, C1 and C2 against B, and the map of where A and B differ (when the
    /// request asked for figures).
    pub figures: Option<GemmFigures>,
    /// The noise envelope (None when not asked for).
    pub envelope: Option<envelope::Envelope>,
    /// The file `--save` wrote.
    pub saved: Option<PathBuf>,
    /// Why `auto` fell back to the CPU.
    pub fallback: Option<String>,
    /// What the backend decided on its own (a GEMM it handed to the CPU).
    pub backend_notes: Vec<String>,
    /// Wall-clock phases.
    pub timings: Vec<(String, f64)>,
    /// The backend the paths ran on: outputs it kept on its device are read back through it
    /// (`result.output(i, device.backend())`).
    pub device: Selected,
}

/// The device for a GEMM request: a GPU-only GEMM needs the GPU (said before any work), otherwise `kind`.
fn device_for(kind: BackendKind, gemms: &[&GemmChoice]) -> Result<Selected> {
    match gemms.iter().find_map(|g| g.gpu()) {
        Some(g) => Ok(Selected::of(backend::require_gpu(kind, g)?)),
        None => backend::select(kind),
    }
}

/// Runs `isolate gemm`; `progress` hears of the GEMMs as they go.
pub fn run_isolate(req: &IsolateRequest, progress: &dyn Progress) -> Result<IsolateReport> {
    let mut clock = Stopwatch::start();
    let (inp, dump, w_fp8, notes) = load_inputs(
        &req.inputs,
        &[
            ("--target-quant", &req.target_quant),
            ("--ref-quant", &req.ref_quant),
        ],
    )?;
    let roles = &inp.roles;
    clock.mark("load (map files, roles)");
    let selected = device_for(req.inputs.backend, &[&req.target_gemm, &req.ref_gemm])?;
    let be = selected.backend();
    clock.mark(&format!("backend start ({})", be.name()));
    let keep = be.resident();
    let w = operands::weight(be, keep, roles, &req.inputs.weight_quant, w_fp8)?;
    clock.mark("weight (load or quantize)");
    let (tname, tact) = operands::activation(be, keep, &req.target_quant, roles, dump)?;
    let (rname, ract) = operands::activation(be, keep, &req.ref_quant, roles, dump)?;
    operands::check_same_shape(&tact, &ract)?;
    clock.mark("activations (quantize both)");
    let inp = isolate::IsolateInputs {
        target_act: isolate::Activation {
            quant: tname,
            operand: &tact,
        },
        ref_act: isolate::Activation {
            quant: rname,
            operand: &ract,
        },
        weight: &w,
        target_gemm: req.target_gemm.clone(),
        ref_gemm: req.ref_gemm.clone(),
        target_out: roles.get_opt("target_out"),
        ref_out: roles.get_opt("ref_out"),
        thresholds: req.thresholds,
    };
    progress.begin(
        "4 GEMM paths",
        4.0 * (tact.rows() * w.rows()) as f64 * w.cols() as f64,
    );
    let result = isolate::run_with(
        be,
        &inp,
        &|path, done, total| progress.set((path * total + done) as f64 / (4 * total.max(1)) as f64),
        &mut clock,
    );
    progress.end();
    let result = result?;
    let figures = if req.figures {
        let b = result.output(1, be)?;
        let mut spreads = Vec::with_capacity(3);
        for i in [0, 2, 3] {
            spreads.push(maps::ulp_spread(
                result.paths[i].name,
                result.output(i, be)?,
                b,
            ));
        }
        let diff_map = maps::diff_map(result.output(0, be)?, b, tact.rows(), w.rows());
        clock.mark("ulp spreads and difference map");
        Some(GemmFigures { spreads, diff_map })
    } else {
        None
    };
    let envelope = req.envelope.map(|t| {
        let host = || -> Result<envelope::HostOperands> {
            Ok(envelope::HostOperands {
                weight: w.host(keep)?,
                ref_act: ract.host(keep)?,
                b: result.output(1, be)?,
            })
        };
        let e = envelope::envelope(
            be,
            &envelope::EnvelopeInputs {
                x: roles.get_opt("x"),
                shape: (tact.rows(), w.rows(), w.cols()),
                ref_unquantized: matches!(&req.ref_quant, ActivationQuant::Spec(s) if s.is_none()),
                ref_gemm: &req.ref_gemm,
                a_vs_b: Ok(&result.a_vs_b),
                host: &host,
            },
            &t,
        );
        clock.mark("noise envelope (exact product, GEMM orders)");
        e
    });
    if let Some(path) = &req.save {
        crate::io::safetensors_io::write(path, &isolate::saved_tensors(be, &inp, &result)?, None)?;
        clock.mark("--save");
    }
    let backend_notes = notes.into_iter().chain(be.take_notes()).collect();
    Ok(IsolateReport {
        result,
        figures,
        envelope,
        saved: req.save.clone(),
        fallback: selected.fallback.clone(),
        backend_notes,
        timings: clock.phases,
        device: selected,
    })
}

/// The data of the `isolate gemm` plots.
pub struct GemmFigures {
    /// Per-element ulp spreads of A, C1 and C2 against B.
    pub spreads: Vec<maps::UlpSpread>,
    /// Where A and B differ, per output tile.
    pub diff_map: maps::DiffMap,
}

/// `isolate gemm fingerprint`.
#[derive(Clone, Debug)]
pub struct FingerprintRequest {
    pub inputs: GemmInputs,
    /// The activation the target multiplied (default: the dump's `xq`/`xs`).
    pub target_quant: ActivationQuant,
    /// Rows of the ranking to show.
    pub top: usize,
}

/// What `isolate gemm fingerprint` found.
pub struct FingerprintReport {
    pub fingerprint: fingerprint::GemmFingerprint,
    pub top: usize,
    pub fallback: Option<String>,
    pub backend_notes: Vec<String>,
}

impl FingerprintReport {
    /// Exit 0 when some variant reproduces `target_out` bit for bit.
    pub fn exit_code(&self) -> i32 {
        let exact = self
            .fingerprint
            .ranking
            .first()
            .is_some_and(|v| v.bitwise == 1.0);
        (!exact) as i32
    }
}

/// Runs `isolate gemm fingerprint`; `progress(done, total)` over the variants.
pub fn run_fingerprint(
    req: &FingerprintRequest,
    progress: &dyn Progress,
) -> Result<FingerprintReport> {
    let (inp, dump, w_fp8, notes) =
        load_inputs(&req.inputs, &[("--target-quant", &req.target_quant)])?;
    let roles = &inp.roles;
    let selected = backend::select(req.inputs.backend)?;
    let be = selected.backend();
    let (_, act) = operands::activation(be, None, &req.target_quant, roles, dump)?;
    let w = operands::weight(be, None, roles, &req.inputs.weight_quant, w_fp8)?;
    let (act, w) = (act.host(None)?, w.host(None)?);
    let target = roles.get("target_out")?;
    let variants = fingerprint::variants_for(&selected.device);
    progress.begin(
        "GEMM variants",
        variants.len() as f64 * (act.rows() * w.rows()) as f64 * w.cols() as f64,
    );
    let f = fingerprint::fingerprint(be, act, w, target, &variants, &|d, t| {
        progress.set(d as f64 / t.max(1) as f64)
    });
    progress.end();
    let f = f?;
    Ok(FingerprintReport {
        fingerprint: f,
        top: req.top,
        fallback: selected.fallback.clone(),
        backend_notes: notes.into_iter().chain(be.take_notes()).collect(),
    })
}
