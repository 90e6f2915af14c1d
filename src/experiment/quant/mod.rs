//! `isolate quant` (is a quantizer byte-equal to a reference preset?) and `isolate fingerprint` (which
//! quantizer rules reproduce a dumped `xq`/`xs`?) as experiments: a typed request in, a result out.

use crate::backend::{self, BackendKind, Device, Selected, SimtBackend};
use crate::error::{Error, Result};
use crate::experiment::inputs::{self, InputSpec};
use crate::io::Tensor;
use crate::kernel_ref::KernelRef;
use crate::quant::cpu::{matrix_dims, to_matrix};
use crate::quant::layout::{
    infer_group, infer_group_for, payload_bytes, payload_format, read_scales, DumpedScales,
};

pub mod cause;
pub mod consistency;
pub mod fingerprint;
pub mod fingerprint_gpu;
pub mod kernel;
pub mod layout_search;
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
    /// Exit 0 when byte-equal (and `xs` is in the declared layout), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let layout_wrong = self.report.consistency.as_ref().is_some_and(layout_wrong);
        (!self.report.byte_equal || layout_wrong) as i32
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
    // A dumped xs in the declared layout, or (when that does not fit) in the layout fingerprint's best reading.
    let dumped_read = match req.candidate {
        CandidateChoice::Dumped => {
            let (xq, xs) = (roles.get("xq")?, roles.get("xs")?);
            let who = format!("--reference {}", req.reference);
            let fmt = payload_format(xq, inp.act_fp8(req.dump), Some((req.reference.fp8, &who)))?;
            let (m, k, xv) = to_matrix(x, "x")?;
            let q = payload_bytes(xq, m, k)?;
            let payload = consistency::Dump {
                x: &xv,
                rows: m,
                cols: k,
                q,
                fmt,
                scales: &[],
                group: req.reference.group,
                element: req.reference,
            };
            Some(read_xs(
                &payload,
                xs,
                inp.xs_layout(req.dump),
                experts_of(x),
            )?)
        }
        _ => None,
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
        CandidateChoice::Dumped => {
            let read = dumped_read.as_ref().expect("read for a dumped candidate");
            verify::Candidate::Dumped {
                xq: roles.get("xq")?,
                xs: &read.tensor,
                layout: read.layout,
                fp8: inp.act_fp8(req.dump),
            }
        }
        CandidateChoice::Spec(s) => verify::Candidate::Spec(*s),
    };
    let mut report =
        verify::verify_with(selected.backend(), x, &req.reference, candidate, req.show)?;
    if let Some(read) = dumped_read {
        report.consistency = Some(dump_consistency(
            roles,
            read,
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
    /// Exit 0 when some variant reproduces every group (and `xs` is in the declared layout), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        (!self.fingerprint.reproduced() || layout_wrong(&self.consistency)) as i32
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
    let (_, _, xv) = to_matrix(x, "x")?;
    let given = match req.group.or(inp.group()) {
        Some(0) => return Err(Error::Usage("--group must be at least 1".into())),
        g => g,
    };
    let g = match given {
        Some(g) => g,
        None => match infer_group_for(xs, xs_layout, m, k) {
            Ok((g, _)) => g,
            // The declared layout does not fit: the group size of any other reading (the layout fingerprint
            // then says which one).
            Err(e) => fallback_group(xs, m, k).ok_or(e)?,
        },
    };
    let element = crate::quant::presets::preset("deepgemm").expect("a preset");
    let payload = consistency::Dump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &[],
        group: g,
        element,
    };
    let read = read_xs(&payload, xs, xs_layout, experts_of(x))?;
    let scales = read.scales.clone();
    let selected = backend::select(req.backend)?;
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
    let dump = consistency::Dump {
        scales: &scales.values,
        element: f.ranking.first().map(|s| s.spec).unwrap_or(element),
        ..payload
    };
    let mut consistency = consistency::check(&dump);
    attach_layout(&mut consistency, &dump, xs, read, experts_of(x));
    let subject = format!(
        "fingerprint of xq ({} {:?}) with xs ({} {:?}, {} scales, --xs-layout {}{}) from x ({} [{m}, {k}])",
        xq.dtype,
        xq.shape,
        xs.dtype,
        xs.shape,
        scales.kind,
        xs_layout.name(),
        if consistency.layout.as_ref().is_some_and(|l| l.declared_score.is_none()) {
            " does not fit: read as the layout fingerprint's best"
        } else {
            ""
        },
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

/// The scale ↔ payload consistency of the dump's `x`, `xq` and `xs` as `read` (groups of `group`, payload
/// format `fmt`), the element rule taken from `element`, with the layout fingerprint where it ran.
fn dump_consistency(
    roles: &crate::io::Roles,
    read: ReadXs,
    group: usize,
    fmt: Fp8Format,
    element: QuantSpec,
) -> Result<consistency::Consistency> {
    let (x, xq, xs) = (roles.get("x")?, roles.get("xq")?, roles.get("xs")?);
    let (m, k, xv) = to_matrix(x, "x")?;
    let q = payload_bytes(xq, m, k)?;
    let scales = read.scales.values.clone();
    let d = consistency::Dump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales,
        group,
        element,
    };
    let mut c = consistency::check(&d);
    attach_layout(&mut c, &d, xs, read, experts_of(x));
    Ok(c)
}

/// A dumped `xs` as it was read: the view and layout used, its scales, and the layout fingerprint when the
/// declared layout did not fit (docs/numerics.md §7.5).
struct ReadXs {
    tensor: Tensor,
    layout: XsLayout,
    scales: DumpedScales,
    search: Option<layout_search::LayoutSearch>,
}

/// Reads `xs` in the declared layout; when it does not fit, runs the layout fingerprint against the payload
/// (`payload.scales` unused) and reads the best interpretation that makes at least half the groups
/// consistent. Otherwise the declared layout's error stands (exit 2).
fn read_xs(
    payload: &consistency::Dump,
    xs: &Tensor,
    declared: XsLayout,
    experts: Option<usize>,
) -> Result<ReadXs> {
    let ng = payload.cols.div_ceil(payload.group);
    let err = match read_scales(xs, declared, payload.rows, ng) {
        Ok(scales) => {
            return Ok(ReadXs {
                tensor: xs.clone(),
                layout: declared,
                scales,
                search: None,
            })
        }
        Err(e) => e,
    };
    let search = layout_search::search(payload, xs, declared, Err(err.to_string()), experts);
    let best = search
        .candidates
        .iter()
        .find(|c| !c.interp.expert_stride0 && c.fraction() >= layout_search::SEARCH_BELOW);
    let Some(best) = best else {
        return Err(err);
    };
    let tensor = xs.reshaped(best.interp.view.clone())?;
    let layout = best.interp.layout;
    let scales = read_scales(&tensor, layout, payload.rows, ng)?;
    Ok(ReadXs {
        tensor,
        layout,
        scales,
        search: Some(search),
    })
}

/// Adds the layout fingerprint (when the declared layout did not fit, or most groups are inconsistent) and
/// the packed-word check (a packed `xs`) to `c`.
fn attach_layout(
    c: &mut consistency::Consistency,
    d: &consistency::Dump,
    xs: &Tensor,
    read: ReadXs,
    experts: Option<usize>,
) {
    c.layout = match read.search {
        Some(s) => Some(s),
        None if c.fraction() < layout_search::SEARCH_BELOW => {
            Some(layout_search::search(d, xs, read.layout, Ok(()), experts))
        }
        None => None,
    };
    if read.layout == XsLayout::PackedUe8m0 {
        if let Some(codes) = &read.scales.codes {
            c.packed_leak = Some(layout_search::packed_leak(d, codes));
        }
    }
}

/// Whether the layout fingerprint found `xs` in another layout than the declared one.
fn layout_wrong(c: &consistency::Consistency) -> bool {
    c.layout
        .as_ref()
        .is_some_and(layout_search::LayoutSearch::declared_wrong)
}

/// Experts E of a 3-D activation `[E, T, K]` (the per-expert stride candidate).
fn experts_of(x: &Tensor) -> Option<usize> {
    (x.shape.len() == 3 && x.shape[0] > 1).then(|| x.shape[0])
}

/// The group size of an `xs` that does not fit the declared layout: the one another layout infers, else the
/// one its element count implies for `m` rows.
fn fallback_group(xs: &Tensor, m: usize, k: usize) -> Option<usize> {
    XsLayout::ALL
        .into_iter()
        .find_map(|l| infer_group_for(xs, l, m, k).ok().map(|(g, _)| g))
        .or_else(|| {
            let n = xs.numel();
            (m > 0 && n % m == 0)
                .then(|| infer_group(k, n / m))
                .flatten()
        })
}
