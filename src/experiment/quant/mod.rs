//! `isolate quant` (is a quantizer byte-equal to a reference preset?) and `isolate fingerprint` (which
//! quantizer rules reproduce a dumped `xq`/`xs`?) as experiments: a typed request in, a result out.

use crate::backend::{self, BackendKind, Device, Selected, SimtBackend};
use crate::error::{Error, Result};
use crate::experiment::inputs::{self, InputSpec};
use crate::kernel_ref::KernelRef;
use crate::quant::cpu::{matrix_dims, to_matrix};
use crate::quant::layout::{infer_group_for, payload_bytes, payload_format, read_scales};

pub mod cause;
pub mod consistency;
pub mod fingerprint;
pub mod fingerprint_gpu;
pub mod kernel;
pub mod verify;

pub use crate::experiment::inputs::DumpFlags;
pub use crate::formats::Fp8Format;
pub use crate::quant::layout::XsLayout;
pub use crate::quant::QuantSpec;

/// The roles both commands read.
pub const ROLES: [&str; 3] = ["x", "xq", "xs"];

/// What `isolate quant` compares with the reference.
#[derive(Clone, Debug, PartialEq)]
pub enum CandidateChoice {
    /// Another quant spec applied to the same `x`.
    Spec(QuantSpec),
    /// The dump's `xq` and `xs`.
    Dumped,
    /// A user's CUDA or HIP kernel (quant ABI v1), run on the GPU or, with `--backend simt-cpu`, on the CPU by
    /// the SIMT executor.
    Kernel(KernelRef),
}

impl std::str::FromStr for CandidateChoice {
    type Err = String;
    /// `dumped`, `kernel:FILE.cu|FILE.hip[:ENTRY]` (the file must exist) or a quant spec.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.trim() == "dumped" {
            return Ok(CandidateChoice::Dumped);
        }
        if let Some(k) = KernelRef::parse(s.trim()) {
            return k
                .checked()
                .map(CandidateChoice::Kernel)
                .map_err(|e| e.to_string());
        }
        QuantSpec::parse(s)
            .map(CandidateChoice::Spec)
            .map_err(|e| e.to_string())
    }
}

/// `isolate quant`.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    /// Tensor files or a capture directory's site.
    pub source: InputSpec,
    pub names: Vec<String>,
    pub reference: QuantSpec,
    pub candidate: CandidateChoice,
    /// `--xs-layout` and `--fp8` (FP8 format of a raw u8 `xq`) where given; else as a capture recorded them,
    /// else row and the reference's format.
    pub dump: DumpFlags,
    /// How many differing codes and groups to list.
    pub show: usize,
    pub backend: BackendKind,
}

/// What `isolate quant` found, and where it ran.
pub struct VerifyOutcome {
    pub report: verify::VerifyReport,
    /// What the backend decided on its own.
    pub backend_notes: Vec<String>,
    pub fallback: Option<String>,
    /// What was read from a capture directory (site, meaning used, suggested preset).
    pub notes: Vec<String>,
}

impl VerifyOutcome {
    /// Exit 0 when byte-equal, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        (!self.report.byte_equal) as i32
    }
}

/// A HIP kernel asked to run anywhere but simt-cpu: one line (exit 2).
fn hip_kernel_off_simt(k: &KernelRef) -> Error {
    Error::NoGpu(format!(
        "--candidate kernel:{} is a HIP kernel: run it with --backend hip on an AMD GPU, or on the CPU with \
         --backend simt-cpu",
        k.path.display()
    ))
}

/// The CUDA device a kernel candidate runs on: one line naming the kernel when there is none, or when it is
/// a HIP source (exit 2).
fn cuda_for_kernel(k: &KernelRef) -> Result<Device> {
    let file = k.path.display();
    if k.is_hip() {
        return Err(hip_kernel_off_simt(k));
    }
    Device::open_cuda().map_err(|e| match e {
        Error::NoGpu(w) => Error::NoGpu(format!(
            "--candidate kernel:{file} needs a CUDA GPU ({w}); or run it on the CPU with --backend simt-cpu"
        )),
        e => e,
    })
}

/// `kernel FILE[:ENTRY]`, and where it ran when that was the CPU executor.
fn kernel_label(k: &KernelRef, simt_warp: Option<u32>) -> String {
    let mut s = format!("kernel {}", k.path.display());
    if let Some(e) = &k.entry {
        s += &format!(":{e}");
    }
    if let Some(w) = simt_warp {
        s += &format!(" (simt-cpu, {w} lanes)");
    }
    s
}

/// Runs `isolate quant`.
pub fn run_verify(req: &VerifyRequest) -> Result<VerifyOutcome> {
    let inp = inputs::load(&req.source, &req.names, &ROLES)?;
    if req.candidate == CandidateChoice::Dumped {
        inp.refuse_dumped("--candidate")?;
    }
    let roles = &inp.roles;
    let x = roles.get("x")?;
    let selected = match (&req.candidate, req.backend) {
        // A HIP kernel runs only on simt-cpu for now (and on `hip`, once there is a HIP backend).
        (CandidateChoice::Kernel(k), BackendKind::Auto | BackendKind::Cuda | BackendKind::Cpu)
            if k.is_hip() =>
        {
            return Err(hip_kernel_off_simt(k));
        }
        // A kernel candidate runs on the GPU; the reference then runs there too unless --backend cpu.
        (CandidateChoice::Kernel(k), BackendKind::Auto) => Selected::of(cuda_for_kernel(k)?),
        (_, kind) => backend::select(kind)?,
    };
    let candidate = match &req.candidate {
        CandidateChoice::Kernel(k) => {
            let (q, warp) = match &selected.device {
                // simt-cpu: the user's kernel and the reference's kernel sources both on the CPU executor.
                Device::Simt(s) => (
                    kernel::run_user_kernel_simt(s, k, x, &req.reference)?,
                    Some(SimtBackend::user_warp(k)),
                ),
                Device::Cuda(c) => (kernel::run_user_kernel(c, k, x, &req.reference)?, None),
                // --backend hip: a .hip kernel through hiprtc on the AMD GPU (a .cu one is CUDA's).
                Device::Hip(h) => (kernel::run_user_kernel_hip(h, k, x, &req.reference)?, None),
                // --backend cpu: the reference on the CPU, the kernel on the GPU.
                Device::Cpu(_) => {
                    let own = cuda_for_kernel(k)?;
                    let cuda = own.cuda().expect("cuda_for_kernel opens a CUDA device");
                    (kernel::run_user_kernel(cuda, k, x, &req.reference)?, None)
                }
            };
            verify::Candidate::Computed {
                label: kernel_label(k, warp),
                q,
            }
        }
        CandidateChoice::Dumped => verify::Candidate::Dumped {
            xq: roles.get("xq")?,
            xs: roles.get("xs")?,
            layout: inp.xs_layout(req.dump),
            fp8: inp.act_fp8(req.dump),
        },
        CandidateChoice::Spec(s) => verify::Candidate::Spec(*s),
    };
    let mut report =
        verify::verify_with(selected.backend(), x, &req.reference, candidate, req.show)?;
    if req.candidate == CandidateChoice::Dumped {
        report.consistency = Some(dump_consistency(
            roles,
            inp.xs_layout(req.dump),
            inp.act_fp8(req.dump),
            report.group,
            report.fmt,
            req.reference,
        )?);
    }
    Ok(VerifyOutcome {
        report,
        backend_notes: selected.backend().take_notes(),
        fallback: selected.fallback,
        notes: inp.notes(req.dump),
    })
}

/// `isolate fingerprint`.
#[derive(Clone, Debug)]
pub struct FingerprintRequest {
    /// Tensor files or a capture directory's site.
    pub source: InputSpec,
    pub names: Vec<String>,
    /// Rows of the ranking to show.
    pub top: usize,
    /// `--xs-layout`, `--fp8` where given (else as a capture recorded them).
    pub dump: DumpFlags,
    /// Group size G when the scale shape leaves it ambiguous (default: a capture's record, else inferred
    /// from xs).
    pub group: Option<usize>,
    pub backend: BackendKind,
}

/// What `isolate fingerprint` found.
pub struct FingerprintReport {
    pub fingerprint: fingerprint::Fingerprint,
    /// What was fingerprinted, in words (tensors, dtypes, shapes, scale kind, layout).
    pub subject: String,
    pub top: usize,
    /// Scale ↔ payload consistency of the dump.
    pub consistency: consistency::Consistency,
    /// The best variants re-run by the GPU quantizer (on a GPU backend).
    pub gpu: Option<fingerprint_gpu::GpuCheck>,
    pub fallback: Option<String>,
    /// What was read from a capture directory.
    pub notes: Vec<String>,
}

impl FingerprintReport {
    /// Exit 0 when some variant reproduces every group, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        (!self.fingerprint.reproduced()) as i32
    }
}

/// Best variants re-run on a GPU backend.
const GPU_CHECK_MAX: usize = 16;

/// Runs `isolate fingerprint`. The variant search always runs on the CPU (it shares per-group work across
/// ~900 variants); on a GPU the best variants are then re-run by the GPU quantizer and checked against the
/// dump.
pub fn run_fingerprint(req: &FingerprintRequest) -> Result<FingerprintReport> {
    let inp = inputs::load(&req.source, &req.names, &ROLES)?;
    inp.refuse_dumped("fingerprint of")?;
    let roles = &inp.roles;
    let xs_layout = inp.xs_layout(req.dump);
    let (x, xq, xs) = (roles.get("x")?, roles.get("xq")?, roles.get("xs")?);
    let (m, k) = matrix_dims(x, "x")?;
    let fmt = payload_format(xq, inp.act_fp8(req.dump), None)?;
    let q = payload_bytes(xq, m, k)?;
    let (g, ng) = match req.group.or(inp.group()) {
        Some(0) => return Err(Error::Usage("--group must be at least 1".into())),
        Some(g) => (g, k.div_ceil(g)),
        None => infer_group_for(xs, xs_layout, m, k)?,
    };
    let scales = read_scales(xs, xs_layout, m, ng)?;
    let selected = backend::select(req.backend)?;
    let (_, _, xv) = to_matrix(x, "x")?;
    let f = fingerprint::fingerprint(&fingerprint::QuantDump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales.values,
        codes: scales.codes.as_deref(),
        group: g,
    });
    let gpu = match selected.device {
        Device::Cpu(_) | Device::Hip(_) | Device::Simt(_) => None,
        Device::Cuda(_) => Some(fingerprint_gpu::gpu_check(
            selected.backend(),
            &f,
            x,
            q,
            &scales.values,
            GPU_CHECK_MAX,
        )?),
    };
    let consistency = consistency::check(&consistency::Dump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales.values,
        group: g,
        element: f
            .ranking
            .first()
            .map(|s| s.spec)
            .or_else(|| crate::quant::presets::preset("deepgemm"))
            .expect("a preset"),
    });
    let subject = format!(
        "fingerprint of xq ({} {:?}) with xs ({} {:?}, {} scales, --xs-layout {}) from x ({} [{m}, {k}])",
        xq.dtype,
        xq.shape,
        xs.dtype,
        xs.shape,
        scales.kind,
        xs_layout.name(),
        x.dtype
    );
    Ok(FingerprintReport {
        fingerprint: f,
        subject,
        top: req.top,
        consistency,
        gpu,
        fallback: selected.fallback,
        notes: inp.notes(req.dump),
    })
}

/// The scale ↔ payload consistency of the dump's `x`, `xq`, `xs` (groups of `group`, payload format `fmt`),
/// the element rule taken from `element`.
fn dump_consistency(
    roles: &crate::io::Roles,
    layout: XsLayout,
    fp8: Option<Fp8Format>,
    group: usize,
    fmt: Fp8Format,
    element: QuantSpec,
) -> Result<consistency::Consistency> {
    let (x, xq, xs) = (roles.get("x")?, roles.get("xq")?, roles.get("xs")?);
    let (m, k, xv) = to_matrix(x, "x")?;
    let _ = fp8;
    let q = payload_bytes(xq, m, k)?;
    let scales = read_scales(xs, layout, m, k.div_ceil(group))?;
    Ok(consistency::check(&consistency::Dump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales.values,
        group,
        element,
    }))
}
