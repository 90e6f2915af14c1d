//! Launches of kernels/quant.cu: a [`QuantSpec`] applied on the GPU, bit for bit as `crate::quant::cpu`.
//!
//! Activations (1×G groups) take `quant_act_w64_{1,2,4,8}` (one thread per 64 bytes of input, a flat grid) when
//! the input is bf16, G ∈ {32, 64, 128, 256}
//! and K % G = 0; everything else (f16/f32 input, other G, partial groups with pad=yes, 128×128 weight
//! blocks) takes `quant_blocks`.

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg};

use crate::backend::cuda::abi::{fmt_id, overflow_id};
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::{Error, Result};
use crate::formats::DType;
use crate::io::Tensor;
use crate::quant::spec::{EpsOn, NanRule, Pow2, QRule, ScaleRule};
use crate::quant::{QuantSpec, Quantized};

/// kernels/quant.cu `QuantParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct QuantParams {
    x: u64,
    q: u64,
    s: u64,
    flags: u64,
    rows: i64,
    cols: i64,
    br: i32,
    bc: i32,
    in_dtype: i32,
    fmt: i32,
    max: f32,
    eps: f32,
    eps_on: i32,
    scale_mul: i32,
    pow2: i32,
    code_clamp: i32,
    target_max_pow2: i32,
    mbits: i32,
    q_mul: i32,
    clamp: i32,
    overflow: i32,
    nan_rule: i32,
    scale_e8m0: i32,
}

crate::kernel_params_layout!(QuantParams, "../../../kernels/quant.cu", 120, { x: 0, q: 8, s: 16, flags: 24, rows: 32, cols: 40, br: 48, bc: 52, in_dtype: 56, fmt: 60, max: 64, eps: 68, eps_on: 72, scale_mul: 76, pow2: 80, code_clamp: 84, target_max_pow2: 88, mbits: 92, q_mul: 96, clamp: 100, overflow: 104, nan_rule: 108, scale_e8m0: 112 });

// SAFETY: plain old data with the C layout the kernel declares.
unsafe impl DeviceRepr for QuantParams {}

impl QuantParams {
    /// The spec's axes; pointers and shape are filled in by the launcher.
    pub fn from_spec(spec: &QuantSpec) -> QuantParams {
        QuantParams {
            x: 0,
            q: 0,
            s: 0,
            flags: 0,
            rows: 0,
            cols: 0,
            br: 1,
            bc: spec.group as i32,
            in_dtype: 0,
            fmt: fmt_id(spec.fp8),
            max: spec.max_value(),
            eps: spec.eps,
            eps_on: match spec.eps_on {
                EpsOn::Amax => 0,
                EpsOn::Scale => 1,
                EpsOn::Both => 2,
            },
            scale_mul: (spec.scale == ScaleRule::Mul) as i32,
            pow2: match spec.pow2 {
                Pow2::None => 0,
                Pow2::Ceil => 1,
                Pow2::FloatCeil => 2,
                Pow2::Nearest => 3,
                Pow2::Floor => 4,
                Pow2::Even => 5,
            },
            code_clamp: spec.code_clamp as i32,
            target_max_pow2: spec.target_max_pow2(),
            mbits: spec.fp8.mantissa_bits() as i32,
            q_mul: (spec.q == QRule::Mul) as i32,
            clamp: spec.clamp as i32,
            overflow: overflow_id(spec.overflow),
            nan_rule: match spec.nan {
                NanRule::Propagate => 0,
                NanRule::Ignore => 1,
                NanRule::Reject => 2,
            },
            scale_e8m0: 0,
        }
    }
}

/// Input element dtype id (`ISO_IN_*`).
fn in_dtype(d: DType) -> Result<i32> {
    match d {
        DType::F32 => Ok(0),
        DType::BF16 => Ok(1),
        DType::F16 => Ok(2),
        d => Err(Error::BadTensor(format!(
            "{d}: expected bf16, f16 or f32 values to quantize"
        ))),
    }
}

/// Device buffers of one quantization.
pub struct QuantBuffers {
    pub x: CudaSlice<u8>,
    pub q: CudaSlice<u8>,
    /// f32 scales, or E8M0 codes (one byte each) when `e8m0`.
    pub s: CudaSlice<u8>,
    pub flags: CudaSlice<u32>,
    pub rows: usize,
    pub cols: usize,
    pub br: usize,
    pub bc: usize,
    pub dtype: DType,
    pub e8m0: bool,
}

impl QuantBuffers {
    /// Scale-grid size.
    pub fn grid(&self) -> (usize, usize) {
        (self.rows.div_ceil(self.br), self.cols.div_ceil(self.bc))
    }

    /// Allocates buffers for `rows × cols` input of `dtype` in br×bc blocks; `x` holds the input bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        be: &CudaBackend,
        x: CudaSlice<u8>,
        dtype: DType,
        rows: usize,
        cols: usize,
        br: usize,
        bc: usize,
        e8m0: bool,
    ) -> Result<QuantBuffers> {
        let s = &be.stream;
        let al = |e| gpu_err("alloc", e);
        let (gr, gc) = (rows.div_ceil(br), cols.div_ceil(bc));
        let sbytes = gr * gc * if e8m0 { 1 } else { 4 };
        Ok(QuantBuffers {
            x,
            q: s.alloc_zeros::<u8>((rows * cols).max(1)).map_err(al)?,
            s: s.alloc_zeros::<u8>(sbytes.max(4)).map_err(al)?,
            flags: s.alloc_zeros::<u32>(1).map_err(al)?,
            rows,
            cols,
            br,
            bc,
            dtype,
            e8m0,
        })
    }
}

/// Which kernel runs `spec` on these buffers: `quant_act_w64_L+flat` (L = G/32 lanes per group, one thread per
/// 64-byte chunk: v6, docs/kernels.md §3.8) or `quant_blocks`; and L (0 for quant_blocks).
pub fn kernel_for(b: &QuantBuffers) -> (&'static str, usize) {
    let fast = b.br == 1
        && b.dtype == DType::BF16
        && matches!(b.bc, 32 | 64 | 128 | 256)
        && b.cols % b.bc == 0;
    if fast {
        let l = b.bc / 32;
        let name = match l {
            1 => "quant_act_w64_1+flat",
            2 => "quant_act_w64_2+flat",
            4 => "quant_act_w64_4+flat",
            _ => "quant_act_w64_8+flat",
        };
        (name, l)
    } else {
        ("quant_blocks", 0)
    }
}

/// Launches the quantization of `b` with `spec`'s axes (asynchronous).
pub fn launch(be: &CudaBackend, spec: &QuantSpec, b: &mut QuantBuffers) -> Result<()> {
    let (name, _) = kernel_for(b);
    launch_named(be, spec, b, name)
}

/// The production entry points of kernels/quant.cu; every other name is a bench-only variant in the module
/// `quant_variants` (kernels/quant_variants.cu).
pub const PRODUCTION: [&str; 5] = [
    "quant_blocks",
    "quant_act_w64_1",
    "quant_act_w64_2",
    "quant_act_w64_4",
    "quant_act_w64_8",
];

/// [`launch`] with kernel `name` of kernels/quant.cu, or of the bench-only kernels/quant_variants.cu.
pub fn launch_named(
    be: &CudaBackend,
    spec: &QuantSpec,
    b: &mut QuantBuffers,
    name: &str,
) -> Result<()> {
    let s = &be.stream;
    let mut p = QuantParams::from_spec(spec);
    p.x = b.x.device_ptr(s).0;
    p.q = b.q.device_ptr_mut(s).0;
    p.s = b.s.device_ptr_mut(s).0;
    p.flags = b.flags.device_ptr_mut(s).0;
    p.rows = b.rows as i64;
    p.cols = b.cols as i64;
    p.br = b.br as i32;
    p.bc = b.bc as i32;
    p.in_dtype = in_dtype(b.dtype)?;
    p.scale_e8m0 = b.e8m0 as i32;
    // `NAME+flat`: one thread per work item (the grid-stride loop runs once), else one resident wave.
    let (name, flat) = match name.strip_suffix("+flat") {
        Some(n) => (n, true),
        None => (name, false),
    };
    let module = if PRODUCTION.contains(&name) {
        "quant"
    } else {
        "quant_variants"
    };
    let f = be.function(module, name)?;
    let work = if name == "quant_blocks" {
        let (gr, gc) = b.grid();
        gr * gc * 32
    } else if name.starts_with("quant_act_w32") {
        b.rows * b.cols / 16
    } else if name.starts_with("quant_act_w64") {
        b.rows * b.cols / 32
    } else if name.starts_with("quant_act_w128") {
        b.rows * b.cols / 64
    } else {
        b.rows * b.cols / 8
    };
    let cfg = stream_grid(be, &f, work, flat)?;
    let mut l = s.launch_builder(&f);
    l.arg(&p);
    // SAFETY: the pointers are live device buffers of the sizes the parameters describe.
    unsafe { l.launch(cfg) }.map_err(|e| gpu_err(name, e))?;
    Ok(())
}

/// The launch of a 256-thread grid-stride kernel over `work` items: exactly one resident wave (as many blocks
/// as fit on every SM, by the driver's occupancy query), or with `flat` one thread per item (the loop runs
/// once). The quantizers and the traffic ceilings of `bench quant` use the same shapes.
pub fn stream_grid(
    be: &CudaBackend,
    f: &cudarc::driver::CudaFunction,
    work: usize,
    flat: bool,
) -> Result<LaunchConfig> {
    let per_sm = f
        .occupancy_max_active_blocks_per_multiprocessor(256, 0, None)
        .map_err(|e| gpu_err("occupancy", e))?
        .max(1);
    let cap = if flat {
        i32::MAX as usize // the largest grid.x
    } else {
        (be.info.sms * per_sm) as usize
    };
    Ok(LaunchConfig {
        grid_dim: (work.div_ceil(256).clamp(1, cap) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// A quantization done on the GPU: its buffers, or the empty result of an input with no elements.
pub enum DeviceQuant {
    Empty(Quantized),
    Buffers(QuantBuffers),
}

/// Quantizes `x` on the GPU and leaves the codes and scales there (the NaN rule already checked):
/// activations in 1×G groups (`weight = false`) or weights in 128×128 blocks. Same checks and errors as
/// `crate::quant::{quantize_activation, quantize_weight}`.
pub fn quantize_on_device(
    be: &CudaBackend,
    spec: &QuantSpec,
    x: &Tensor,
    weight: bool,
) -> Result<DeviceQuant> {
    let shape = crate::quant::cpu::DeviceQuantShape::check(spec, x, weight)?;
    if let Some(q) = shape.empty_result(spec) {
        return Ok(DeviceQuant::Empty(q));
    }
    let s = &be.stream;
    let dx = s
        .clone_htod(x.bytes())
        .map_err(|e| gpu_err("copy to GPU", e))?;
    let mut b = QuantBuffers::new(
        be,
        dx,
        x.dtype,
        shape.rows,
        shape.cols,
        shape.block_rows,
        shape.block_cols,
        false,
    )?;
    launch(be, spec, &mut b)?;
    let flags = s.clone_dtoh(&b.flags).map_err(|e| gpu_err("quant", e))?;
    shape.refuse_flagged(spec, x, flags[0])?;
    Ok(DeviceQuant::Buffers(b))
}

/// The host copy of a GPU quantization's codes and f32 scales.
pub fn download(
    be: &CudaBackend,
    fmt: crate::formats::Fp8Format,
    b: &QuantBuffers,
) -> Result<Quantized> {
    let s = &be.stream;
    let (gr, gc) = b.grid();
    let mut q = s.clone_dtoh(&b.q).map_err(|e| gpu_err("quant", e))?;
    q.truncate(b.rows * b.cols);
    let sb = s.clone_dtoh(&b.s).map_err(|e| gpu_err("quant", e))?;
    let scales: Vec<f32> = sb[..gr * gc * 4]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Quantized {
        rows: b.rows,
        cols: b.cols,
        fmt,
        q,
        block_rows: b.br,
        block_cols: b.bc,
        scales,
    })
}

/// Quantizes `x` on the GPU: activations in 1×G groups (`weight = false`) or weights in 128×128 blocks.
/// Same checks, errors and results as `crate::quant::{quantize_activation, quantize_weight}`.
pub fn quantize(be: &CudaBackend, spec: &QuantSpec, x: &Tensor, weight: bool) -> Result<Quantized> {
    match quantize_on_device(be, spec, x, weight)? {
        DeviceQuant::Empty(q) => Ok(q),
        DeviceQuant::Buffers(b) => download(be, spec.fp8, &b),
    }
}
