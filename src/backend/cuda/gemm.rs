//! Launches of the GEMM kernels: `blockwise` (kernels/gemm_blockwise.cu, bit-exact to the CPU block-exact
//! definition) and the tensor-core GEMMs `tc` / `tc-fast-accum` (kernels/gemm_tc.cu).

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use crate::backend::cuda::abi::fmt_id;
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::{Error, Result};
use crate::formats::Fp8Format;
use crate::quant::Quantized;

/// What the blockwise kernel computes besides the operands (the block-exact axes it supports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockwiseArgs {
    /// K per promotion interval (a multiple of 32 inside one scale block of each operand).
    pub interval: usize,
    /// Contiguous K ranges summed at the end (1 = none).
    pub split_k: usize,
    /// `scale_order=left` instead of fused.
    pub left: bool,
    /// Round the result to bf16.
    pub out_bf16: bool,
}

/// Operands on the device.
pub struct DevOperand {
    pub rows: usize,
    pub cols: usize,
    pub fmt: Fp8Format,
    pub block_rows: usize,
    pub block_cols: usize,
    pub q: CudaSlice<u8>,
    pub scales: CudaSlice<f32>,
}

impl DevOperand {
    /// Copies a quantized operand to the device.
    pub fn upload(b: &CudaBackend, x: &Quantized) -> Result<DevOperand> {
        Ok(DevOperand {
            rows: x.rows,
            cols: x.cols,
            fmt: x.fmt,
            block_rows: x.block_rows,
            block_cols: x.block_cols,
            q: b.stream
                .clone_htod(&x.q)
                .map_err(|e| gpu_err("copy to GPU", e))?,
            scales: b
                .stream
                .clone_htod(&x.scales)
                .map_err(|e| gpu_err("copy to GPU", e))?,
        })
    }
}

/// The kernel's parameter struct (kernels/gemm_blockwise.cu `BlockwiseParams`; kernels/gemm_mfma.cu declares
/// the same fields): one launch packing for CUDA, HIP and the SIMT executor.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockwiseParams {
    a: u64,
    sa: u64,
    b: u64,
    sb: u64,
    c: u64,
    m: i32,
    n: i32,
    k: i32,
    a_br: i32,
    a_bc: i32,
    b_br: i32,
    b_bc: i32,
    a_fmt: i32,
    b_fmt: i32,
    interval: i32,
    n_intervals: i32,
    split_k: i32,
    left: i32,
    out_bf16: i32,
}

crate::kernel_params_layout!(BlockwiseParams, "../../../kernels/gemm_blockwise.cu", 96, { a: 0, sa: 8, b: 16, sb: 24, c: 32, m: 40, n: 44, k: 48, a_br: 52, a_bc: 56, b_br: 60, b_bc: 64, a_fmt: 68, b_fmt: 72, interval: 76, n_intervals: 80, split_k: 84, left: 88, out_bf16: 92 });

/// The operands' shapes, scale blocks and formats, as the GEMM kernels take them.
#[derive(Clone, Copy, Debug)]
pub struct GemmShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_block: (usize, usize),
    pub b_block: (usize, usize),
    pub a_fmt: Fp8Format,
    pub b_fmt: Fp8Format,
}

impl GemmShape {
    /// C = A·Bᵀ of these operands on the device.
    pub fn of_dev(a: &DevOperand, b: &DevOperand) -> GemmShape {
        GemmShape {
            m: a.rows,
            n: b.rows,
            k: a.cols,
            a_block: (a.block_rows, a.block_cols),
            b_block: (b.block_rows, b.block_cols),
            a_fmt: a.fmt,
            b_fmt: b.fmt,
        }
    }

    /// C = A·Bᵀ of these operands.
    pub fn of(a: &Quantized, b: &Quantized) -> GemmShape {
        GemmShape {
            m: a.rows,
            n: b.rows,
            k: a.cols,
            a_block: (a.block_rows, a.block_cols),
            b_block: (b.block_rows, b.block_cols),
            a_fmt: a.fmt,
            b_fmt: b.fmt,
        }
    }
}

impl BlockwiseParams {
    /// The parameters for device addresses `[a, sa, b, sb, c]` (checked by [`blockwise_unsupported`] first).
    pub fn new(ptrs: [u64; 5], s: &GemmShape, args: &BlockwiseArgs) -> BlockwiseParams {
        BlockwiseParams {
            a: ptrs[0],
            sa: ptrs[1],
            b: ptrs[2],
            sb: ptrs[3],
            c: ptrs[4],
            m: s.m as i32,
            n: s.n as i32,
            k: s.k as i32,
            a_br: s.a_block.0 as i32,
            a_bc: s.a_block.1 as i32,
            b_br: s.b_block.0 as i32,
            b_bc: s.b_block.1 as i32,
            a_fmt: fmt_id(s.a_fmt),
            b_fmt: fmt_id(s.b_fmt),
            interval: args.interval as i32,
            n_intervals: (s.k / args.interval) as i32,
            split_k: args.split_k as i32,
            left: args.left as i32,
            out_bf16: args.out_bf16 as i32,
        }
    }

    /// The struct's bytes, as a by-value kernel parameter (cuLaunchKernel's / hipModuleLaunchKernel's
    /// convention).
    pub fn bytes(&self) -> Vec<u8> {
        // SAFETY: a #[repr(C)] struct of integers with no padding (96 bytes, checked above).
        unsafe { crate::backend::cuda::param_layout::struct_bytes(self) }.to_vec()
    }
}

/// kernels/gemm_mfma.cu declares the blockwise kernel's parameters field for field.
#[cfg(test)]
#[test]
fn mfma_kernel_takes_the_blockwise_params() {
    let cu = |f| crate::backend::cuda::param_layout::c_layout(f, "BlockwiseParams").unwrap();
    assert_eq!(
        cu(include_str!("../../../kernels/gemm_mfma.cu")),
        cu(include_str!("../../../kernels/gemm_blockwise.cu"))
    );
}

// SAFETY: plain old data with the C layout the kernel declares.
unsafe impl DeviceRepr for BlockwiseParams {}

/// Why the blockwise kernel cannot run operands of this shape (None: it can).
pub fn blockwise_unsupported(s: &GemmShape, args: &BlockwiseArgs) -> Option<String> {
    if s.a_fmt == Fp8Format::E5m2 || s.b_fmt == Fp8Format::E5m2 {
        return Some("e5m2 products are not exact in f64 (the GPU kernel sums e4m3 only)".into());
    }
    if args.interval % 32 != 0 || s.k % args.interval != 0 {
        return Some(format!(
            "the promotion interval {} is not a multiple of 32 dividing K = {}",
            args.interval, s.k
        ));
    }
    if s.a_block.1 % args.interval != 0 || s.b_block.1 % args.interval != 0 {
        return Some("the promotion interval does not lie inside one scale block".into());
    }
    let n_int = s.k / args.interval;
    if args.split_k == 0 || args.split_k > n_int {
        return Some(format!("split_k={} with {n_int} intervals", args.split_k));
    }
    if s.m.max(s.n) > i32::MAX as usize || s.k > i32::MAX as usize {
        return Some("a dimension exceeds 2^31".into());
    }
    None
}

/// C = A·Bᵀ with the blockwise kernel, into `c` ([M, N] f32, bf16-rounded when asked).
pub fn blockwise_into(
    be: &CudaBackend,
    a: &DevOperand,
    b: &DevOperand,
    args: &BlockwiseArgs,
    c: &mut CudaSlice<f32>,
) -> Result<()> {
    let (m, n) = (a.rows, b.rows);
    if c.len() < m * n {
        return Err(Error::Gpu("output buffer too small".into()));
    }
    let entry = if args.split_k > 1 {
        "gemm_blockwise_split"
    } else {
        "gemm_blockwise"
    };
    let f = be.function("gemm_blockwise", entry)?;
    let s = &be.stream;
    let ptr = |x: &CudaSlice<u8>| {
        use cudarc::driver::DevicePtr;
        x.device_ptr(s).0
    };
    let pf = |x: &CudaSlice<f32>| {
        use cudarc::driver::DevicePtr;
        x.device_ptr(s).0
    };
    let cptr = {
        use cudarc::driver::DevicePtrMut;
        c.device_ptr_mut(s).0
    };
    let shape = GemmShape::of_dev(a, b);
    let p = BlockwiseParams::new(
        [ptr(&a.q), pf(&a.scales), ptr(&b.q), pf(&b.scales), cptr],
        &shape,
        args,
    );
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(64) as u32, m.div_ceil(64) as u32, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut l = s.launch_builder(&f);
    l.arg(&p);
    // SAFETY: the pointers are live device buffers of the sizes the parameters describe.
    unsafe { l.launch(cfg) }.map_err(|e| gpu_err("gemm_blockwise", e))?;
    Ok(())
}

/// C = A·Bᵀ with the blockwise kernel, host to host.
pub fn blockwise(
    be: &CudaBackend,
    a: &Quantized,
    b: &Quantized,
    args: &BlockwiseArgs,
) -> Result<Vec<f32>> {
    if let Some(why) = blockwise_unsupported(&GemmShape::of(a, b), args) {
        return Err(Error::Usage(format!("blockwise GEMM on the GPU: {why}")));
    }
    let (da, db) = (DevOperand::upload(be, a)?, DevOperand::upload(be, b)?);
    let mut c = be
        .stream
        .alloc_zeros::<f32>((a.rows * b.rows).max(1))
        .map_err(|e| gpu_err("alloc", e))?;
    blockwise_into(be, &da, &db, args, &mut c)?;
    let mut v = be
        .stream
        .clone_dtoh(&c)
        .map_err(|e| gpu_err("gemm_blockwise", e))?;
    v.truncate(a.rows * b.rows);
    Ok(v)
}

/// The blockwise kernel's arguments for `spec` on these operands, or why it cannot run them.
pub fn blockwise_args_for(
    spec: &crate::gemm::GemmSpec,
    a: &crate::gemm::Operand,
    b: &crate::gemm::Operand,
) -> std::result::Result<(BlockwiseArgs, &'static str), String> {
    use crate::gemm::Operand;
    let (Operand::Quantized(qa), Operand::Quantized(qb)) = (a, b) else {
        return Err("plain (unquantized) operands".into());
    };
    blockwise_args(spec, &GemmShape::of(qa, qb)).map(|args| (args, "blockwise"))
}

/// The blockwise kernel's arguments for `spec` on quantized operands of shape `s`, or why it cannot run them.
pub fn blockwise_args(
    spec: &crate::gemm::GemmSpec,
    s: &GemmShape,
) -> std::result::Result<BlockwiseArgs, String> {
    use crate::gemm::{Acc, Dequant, OutType, Promote, ScaleOrder};
    if spec.acc != Acc::BlockExact || spec.dequant != Dequant::None {
        return Err(format!(
            "{:?} accumulation has no GPU kernel (block-exact does)",
            spec.acc
        ));
    }
    let Promote::Every(p) = spec.promote else {
        return Err("promote=none has no GPU kernel".into());
    };
    let args = BlockwiseArgs {
        interval: p,
        split_k: spec.split_k,
        left: spec.scale_order == ScaleOrder::Left,
        out_bf16: spec.out == OutType::Bf16,
    };
    match blockwise_unsupported(s, &args) {
        Some(why) => Err(why),
        None => Ok(args),
    }
}

/// `Backend::gemm` on CUDA: the blockwise kernel where it implements `spec` bit for bit (block-exact,
/// promote ≥ 32, e4m3 operands), the CPU emulation otherwise (a note says so: [`Backend::take_notes`]).
pub fn gemm_spec(
    be: &CudaBackend,
    spec: &crate::gemm::GemmSpec,
    a: &crate::gemm::Operand,
    b: &crate::gemm::Operand,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<crate::gemm::GemmOutput> {
    // Shape errors exactly as the CPU reports them.
    crate::gemm::plan::plan(spec, a, b)?;
    match blockwise_args_for(spec, a, b) {
        Ok((args, _)) => {
            let (crate::gemm::Operand::Quantized(qa), crate::gemm::Operand::Quantized(qb)) = (a, b)
            else {
                unreachable!("checked by blockwise_args_for")
            };
            let values = blockwise(be, qa, qb, &args)?;
            progress(1, 1);
            Ok(crate::gemm::GemmOutput {
                rows: qa.rows,
                cols: qb.rows,
                values,
                out: spec.out,
            })
        }
        Err(why) => {
            be.notes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("GEMM {spec} runs on the CPU ({why})"));
            crate::gemm::gemm_with_progress(spec, a, b, progress)
        }
    }
}
