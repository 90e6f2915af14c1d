//! Launches of the built-in kernels (kernels/codecs.cu, kernels/quant.cu) and of user quant kernels (ABI v1 of
//! src/backend/cuda/user.rs) on the SIMT executor, with the same parameters as the CUDA launches: the Rust twin
//! of each is the definition they are checked against.

use crate::backend::compare_abi::{self, CompareParams, Side};
use crate::backend::cuda::abi::{fmt_id, overflow_id, round_id};
use crate::backend::simt::{Arg, Module};
use crate::error::{Error, Result};
use crate::formats::{DType, E8m0Round, Fp8Format, Overflow};
use crate::io::Tensor;
use crate::quant::spec::{EpsOn, NanRule, Pow2, QRule, ScaleRule};
use crate::quant::{QuantSpec, Quantized};

const THREADS: u32 = 256;
/// Grid-stride kernels get at most this many blocks (the executor has a few CPU threads, not 132 SMs).
const MAX_BLOCKS: usize = 64;

fn grid_for(n: usize) -> [u32; 3] {
    [
        n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS) as u32,
        1,
        1,
    ]
}
const BLOCK: [u32; 3] = [THREADS, 1, 1];

/// Kernel `e8m0_encode`.
pub fn e8m0_encode(m: &Module, warp: u32, x: &[f32], round: E8m0Round) -> Result<Vec<u8>> {
    let dx = m.upload(bytemuck::cast_slice(x), "x")?;
    let out = m.alloc(x.len(), "out")?;
    m.launch(
        "e8m0_encode",
        grid_for(x.len()),
        BLOCK,
        warp,
        &[
            Arg::Ptr(&dx),
            Arg::Ptr(&out),
            Arg::U64(x.len() as u64),
            Arg::I32(round_id(round)),
        ],
    )?;
    Ok(out.to_vec())
}

/// Kernel `e8m0_decode`.
pub fn e8m0_decode(m: &Module, warp: u32, codes: &[u8]) -> Result<Vec<f32>> {
    let dc = m.upload(codes, "codes")?;
    let out = m.alloc(codes.len() * 4, "out")?;
    m.launch(
        "e8m0_decode",
        grid_for(codes.len()),
        BLOCK,
        warp,
        &[Arg::Ptr(&dc), Arg::Ptr(&out), Arg::U64(codes.len() as u64)],
    )?;
    Ok(super::f32s(out.as_slice()))
}

/// Kernel `fp8_encode`.
pub fn fp8_encode(
    m: &Module,
    warp: u32,
    x: &[f32],
    fmt: Fp8Format,
    ov: Overflow,
) -> Result<Vec<u8>> {
    let dx = m.upload(bytemuck::cast_slice(x), "x")?;
    let out = m.alloc(x.len(), "out")?;
    m.launch(
        "fp8_encode",
        grid_for(x.len()),
        BLOCK,
        warp,
        &[
            Arg::Ptr(&dx),
            Arg::Ptr(&out),
            Arg::U64(x.len() as u64),
            Arg::I32(fmt_id(fmt)),
            Arg::I32(overflow_id(ov)),
        ],
    )?;
    Ok(out.to_vec())
}

/// Kernel `fp8_decode`.
pub fn fp8_decode(m: &Module, warp: u32, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>> {
    let dc = m.upload(codes, "codes")?;
    let out = m.alloc(codes.len() * 4, "out")?;
    m.launch(
        "fp8_decode",
        grid_for(codes.len()),
        BLOCK,
        warp,
        &[
            Arg::Ptr(&dc),
            Arg::Ptr(&out),
            Arg::U64(codes.len() as u64),
            Arg::I32(fmt_id(fmt)),
        ],
    )?;
    Ok(super::f32s(out.as_slice()))
}

pub use crate::backend::cuda::codecs::Sweep;

/// The codes of every f32 bit pattern in `[base, base + n)` (kernels `*_encode_sweep`).
pub fn encode_sweep(m: &Module, warp: u32, what: Sweep, base: u32, n: usize) -> Result<Vec<u8>> {
    let out = m.alloc(n, "out")?;
    match what {
        Sweep::E8m0(r) => m.launch(
            "e8m0_encode_sweep",
            grid_for(n),
            BLOCK,
            warp,
            &[
                Arg::U32(base),
                Arg::Ptr(&out),
                Arg::U64(n as u64),
                Arg::I32(round_id(r)),
            ],
        )?,
        Sweep::Fp8(f, o) => m.launch(
            "fp8_encode_sweep",
            grid_for(n),
            BLOCK,
            warp,
            &[
                Arg::U32(base),
                Arg::Ptr(&out),
                Arg::U64(n as u64),
                Arg::I32(fmt_id(f)),
                Arg::I32(overflow_id(o)),
            ],
        )?,
    }
    Ok(out.to_vec())
}

/// kernels/quant.cu `QuantParams` (the same layout as `crate::backend::cuda::quant::QuantParams`, checked
/// below), with public fields and its tail padding named.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct QuantParams {
    pub x: u64,
    pub q: u64,
    pub s: u64,
    pub flags: u64,
    pub rows: i64,
    pub cols: i64,
    pub br: i32,
    pub bc: i32,
    pub in_dtype: i32,
    pub fmt: i32,
    pub max: f32,
    pub eps: f32,
    pub eps_on: i32,
    pub scale_mul: i32,
    pub pow2: i32,
    pub code_clamp: i32,
    pub target_max_pow2: i32,
    pub mbits: i32,
    pub q_mul: i32,
    pub clamp: i32,
    pub overflow: i32,
    pub nan_rule: i32,
    pub scale_e8m0: i32,
    pub _pad: i32,
}

const _: () = assert!(
    std::mem::size_of::<QuantParams>()
        == std::mem::size_of::<crate::backend::cuda::quant::QuantParams>()
);

impl QuantParams {
    /// The spec's axes (as `cuda::quant::QuantParams::from_spec`); pointers and shape are the launcher's.
    pub fn from_spec(spec: &QuantSpec) -> QuantParams {
        QuantParams {
            br: 1,
            bc: spec.group as i32,
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
            ..Default::default()
        }
    }

    /// The launch parameters for `spec` on a checked shape of `dtype` input, with device addresses
    /// `[x, q, s, flags]` (the SIMT and HIP launchers').
    pub fn for_shape(
        spec: &QuantSpec,
        shape: &crate::quant::cpu::DeviceQuantShape,
        dtype: DType,
        ptrs: [u64; 4],
    ) -> Result<QuantParams> {
        Ok(QuantParams {
            x: ptrs[0],
            q: ptrs[1],
            s: ptrs[2],
            flags: ptrs[3],
            rows: shape.rows as i64,
            cols: shape.cols as i64,
            br: shape.block_rows as i32,
            bc: shape.block_cols as i32,
            in_dtype: in_dtype(dtype)?,
            ..QuantParams::from_spec(spec)
        })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: repr(C) plain data without implicit padding (the tail padding is the `_pad` field).
        unsafe { crate::backend::cuda::param_layout::struct_bytes(self) }
    }
}

pub fn in_dtype(d: DType) -> Result<i32> {
    match d {
        DType::F32 => Ok(0),
        DType::BF16 => Ok(1),
        DType::F16 => Ok(2),
        d => Err(Error::BadTensor(format!(
            "{d}: expected bf16, f16 or f32 values to quantize"
        ))),
    }
}

/// The kernel `crate::backend::cuda::quant::kernel_for` picks (the fast 1×G path for bf16, G ∈ {32, 64, 128,
/// 256}, K % G = 0; else `quant_blocks`) and the number of threads it is launched with.
pub fn kernel_for(
    dtype: DType,
    rows: usize,
    cols: usize,
    br: usize,
    bc: usize,
) -> (&'static str, usize) {
    let fast =
        br == 1 && dtype == DType::BF16 && matches!(bc, 32 | 64 | 128 | 256) && cols % bc == 0;
    if fast {
        let name = match bc / 32 {
            1 => "quant_act_w64_1",
            2 => "quant_act_w64_2",
            4 => "quant_act_w64_4",
            _ => "quant_act_w64_8",
        };
        (name, rows * cols / 32)
    } else {
        let (gr, gc) = (rows.div_ceil(br), cols.div_ceil(bc));
        ("quant_blocks", gr * gc * 32)
    }
}

/// Quantizes `x` with kernels/quant.cu on the executor (`m` = that module), warps of `warp` lanes:
/// activations in 1×G groups or weights in 128×128 blocks. Same checks, errors and results as
/// `crate::quant::{quantize_activation, quantize_weight}` and the CUDA backend.
pub fn quantize(
    m: &Module,
    warp: u32,
    spec: &QuantSpec,
    x: &Tensor,
    weight: bool,
) -> Result<Quantized> {
    quantize_with(m, warp, spec, x, weight, None)
}

/// [`quantize`] with kernel `kernel` instead of the one [`kernel_for`] picks (one thread per work item).
pub fn quantize_with(
    m: &Module,
    warp: u32,
    spec: &QuantSpec,
    x: &Tensor,
    weight: bool,
    kernel: Option<&str>,
) -> Result<Quantized> {
    let shape = crate::quant::cpu::DeviceQuantShape::check(spec, x, weight)?;
    if let Some(q) = shape.empty_result(spec) {
        return Ok(q);
    }
    let (rows, cols) = (shape.rows, shape.cols);
    let (gr, gc) = shape.grid();
    let dx = m.upload(x.bytes(), "x")?;
    let dq = m.alloc(rows * cols, "q")?;
    let ds = m.alloc(gr * gc * 4, "scales")?;
    let df = m.alloc(4, "flags")?;
    let p = QuantParams::for_shape(
        spec,
        &shape,
        x.dtype,
        [dx.addr(), dq.addr(), ds.addr(), df.addr()],
    )?;
    let (name, work) = kernel_for(x.dtype, rows, cols, shape.block_rows, shape.block_cols);
    let name = kernel.unwrap_or(name);
    let grid = [work.div_ceil(THREADS as usize).max(1) as u32, 1, 1];
    m.launch(name, grid, BLOCK, warp, &[Arg::Raw(p.bytes())])?;
    let flags = u32::from_ne_bytes(df.as_slice().try_into().unwrap());
    shape.refuse_flagged(spec, x, flags)?;
    Ok(shape.quantized(spec, dq.to_vec(), super::f32s(ds.as_slice())))
}

/// Runs a user quant kernel (ABI v1, `crate::backend::cuda::user`) on the executor: codes [M, K] and f32
/// scales [M, ceil(K/group)]. Outputs start poisoned (0xA5 codes, a NaN-pattern scale) as on the GPU.
#[allow(clippy::too_many_arguments)]
pub fn run_user_quant(
    m: &Module,
    entry: &str,
    warp: u32,
    x: &[u8],
    dtype: DType,
    rows: usize,
    k: usize,
    group: usize,
) -> Result<(Vec<u8>, Vec<f32>)> {
    let xd = crate::backend::cuda::user::x_dtype_id(dtype)?;
    let dx = m.upload(x, "x")?;
    let dq = m.upload(&vec![0xA5u8; rows * k], "q")?;
    let ns = rows * k.div_ceil(group);
    let poison: Vec<u8> = std::iter::repeat_n(0x7FBA_DBADu32.to_ne_bytes(), ns)
        .flatten()
        .collect();
    let ds = m.upload(&poison, "s")?;
    let (ldx, ldq, lds) = (k as i64, k as i64, k.div_ceil(group) as i64);
    m.launch(
        entry,
        [16, 1, 1],
        BLOCK,
        warp,
        &[
            Arg::Ptr(&dx),
            Arg::I32(xd),
            Arg::Ptr(&dq),
            Arg::Ptr(&ds),
            Arg::I64(rows as i64),
            Arg::I64(k as i64),
            Arg::I32(group as i32),
            Arg::I64(ldx),
            Arg::I64(ldq),
            Arg::I64(lds),
        ],
    )?;
    Ok((dq.to_vec(), super::f32s(ds.as_slice())))
}

/// Which GEMM kernel runs a spec on the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    /// kernels/gemm_blockwise.cu: `acc=block-exact` (the `blockwise` family).
    Blockwise,
    /// kernels/gemm_mfma.cu: `acc=cdna3` with promotion (the `cdna3-blockwise` family), MFMA builtins.
    Mfma,
}

/// The GEMM kernel and its arguments for `spec` on these operands, or why none runs it (the caller then
/// hands it to the CPU definition). The MFMA kernel needs the model's formats: fnuz e4m3 on gfx942 (the
/// executor's HIP mode), the scales at each promotion, promote ≥ 32.
pub fn gemm_kernel_for(
    spec: &crate::gemm::GemmSpec,
    a: &crate::gemm::Operand,
    b: &crate::gemm::Operand,
) -> std::result::Result<(GemmKernel, crate::backend::cuda::gemm::BlockwiseArgs), String> {
    use crate::backend::cuda::gemm::{blockwise_args_for, blockwise_unsupported, BlockwiseArgs};
    use crate::gemm::mma::Model;
    use crate::gemm::{Acc, Dequant, Epilogue, Operand, OutType, Promote, ScaleOrder};
    match spec.acc {
        Acc::Mma(Model::Cdna3) => {}
        Acc::BlockExact => {
            return blockwise_args_for(spec, a, b).map(|(args, _)| (GemmKernel::Blockwise, args))
        }
        Acc::Mma(m) => return Err(format!("acc={} has no kernel here", m.name())),
        _ => return Err("only acc=block-exact and acc=cdna3 have kernels here".into()),
    }
    let (Operand::Quantized(qa), Operand::Quantized(qb)) = (a, b) else {
        return Err("plain (unquantized) operands".into());
    };
    if spec.dequant != Dequant::None || spec.epilogue != Epilogue::Promote {
        return Err("the MFMA kernel applies the scales at each promotion only".into());
    }
    let Promote::Every(p) = spec.promote else {
        return Err("promote=none has no MFMA kernel".into());
    };
    if qa.fmt != Fp8Format::E4m3fnuz || qb.fmt != Fp8Format::E4m3fnuz {
        return Err("the gfx942 MFMA reads e4m3fnuz codes".into());
    }
    let args = BlockwiseArgs {
        interval: p,
        split_k: spec.split_k,
        left: spec.scale_order == ScaleOrder::Left,
        out_bf16: spec.out == OutType::Bf16,
    };
    match blockwise_unsupported(&crate::backend::cuda::gemm::GemmShape::of(qa, qb), &args) {
        Some(why) => Err(why),
        None => Ok((GemmKernel::Mfma, args)),
    }
}

/// C = A·Bᵀ ([M, N] f32, bf16-rounded when asked) by `kernel` on the executor: the blockwise kernel (128
/// threads, 64×64 tiles) at warp width `warp`, or the MFMA kernel (one 64-lane wavefront per 16×16 tile). The
/// parameters are the CUDA launch's struct.
pub fn gemm(
    m: &Module,
    kernel: GemmKernel,
    warp: u32,
    a: &Quantized,
    b: &Quantized,
    args: &crate::backend::cuda::gemm::BlockwiseArgs,
) -> Result<Vec<f32>> {
    use crate::backend::cuda::gemm::{BlockwiseParams, GemmShape};
    let shape = GemmShape::of(a, b);
    let (mm, n) = (shape.m, shape.n);
    let da = m.upload(&a.q, "a")?;
    let dsa = m.upload(bytemuck::cast_slice(&a.scales), "sa")?;
    let db = m.upload(&b.q, "b")?;
    let dsb = m.upload(bytemuck::cast_slice(&b.scales), "sb")?;
    let dc = m.alloc(mm * n * 4, "c")?;
    let p = BlockwiseParams::new(
        [da.addr(), dsa.addr(), db.addr(), dsb.addr(), dc.addr()],
        &shape,
        args,
    );
    let bytes = p.bytes();
    match kernel {
        GemmKernel::Blockwise => m.launch(
            if args.split_k > 1 {
                "gemm_blockwise_split"
            } else {
                "gemm_blockwise"
            },
            [n.div_ceil(64) as u32, mm.div_ceil(64) as u32, 1],
            [128, 1, 1],
            warp,
            &[Arg::Raw(&bytes)],
        )?,
        GemmKernel::Mfma => m.launch(
            "gemm_mfma",
            [n.div_ceil(16) as u32, mm.div_ceil(16) as u32, 1],
            [64, 1, 1],
            64,
            &[Arg::Raw(&bytes)],
        )?,
    }
    Ok(super::f32s(dc.as_slice()))
}

/// kernels/compare.cu on the executor: the comparison of `a` (stored as `sides.0`) with `b` (`sides.1`), `n`
/// elements each, a of shape `shape` — [`crate::metrics::compare`]'s figures bit for bit (the GPU twin's test
/// on a machine without a GPU).
pub fn compare(
    m: &Module,
    warp: u32,
    a: &[u8],
    b: &[u8],
    sides: (Side, Side),
    n: usize,
    shape: &[usize],
) -> Result<crate::metrics::Comparison> {
    let (sa, sb) = sides;
    if a.len() < n * sa.storage_bytes() || b.len() < n * sb.storage_bytes() {
        return Err(Error::Gpu("compare: input buffers too small".into()));
    }
    let da = m.upload(&a[..n * sa.storage_bytes()], "a")?;
    let db = m.upload(&b[..n * sb.storage_bytes()], "b")?;
    let nchunks = compare_abi::chunks(n);
    let sums = m.alloc((nchunks * compare_abi::SUMS_PER_CHUNK * 8).max(8), "sums")?;
    let init: Vec<u8> = compare_abi::stats_init()
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    let stats = m.upload(&init, "stats")?;
    let p = CompareParams::new([da.addr(), db.addr(), sums.addr(), stats.addr()], n, sa, sb);
    if n > 0 {
        let raw = p.bytes();
        let lanes = nchunks * 4;
        m.launch(
            "compare_sums",
            [lanes.div_ceil(128) as u32, 1, 1],
            [128, 1, 1],
            warp,
            &[Arg::Raw(&raw)],
        )?;
        for k in ["compare_stats", "compare_first_max"] {
            m.launch(k, grid_for(n), BLOCK, warp, &[Arg::Raw(&raw)])?;
        }
    }
    let sums: Vec<f64> = sums
        .as_slice()
        .chunks_exact(8)
        .map(|c| f64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let stats: Vec<u64> = stats
        .as_slice()
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let at = compare_abi::max_index(&stats, n).map(|i| {
        let (wa, wb) = (sa.storage_bytes(), sb.storage_bytes());
        (
            compare_abi::stored_value(sa, &a[i * wa..(i + 1) * wa]),
            compare_abi::stored_value(sb, &b[i * wb..(i + 1) * wb]),
        )
    });
    compare_abi::comparison_of_results(&sums, &stats, n, sides, shape, at)
}
