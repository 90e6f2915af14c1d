//! The host side of kernels/compare.cu, shared by the CUDA launch (src/backend/cuda/compare.rs) and the SIMT
//! executor's (src/backend/simt/kernels.rs): the parameter struct, how a side is read, the layout of the
//! results, and their reading into a [`Comparison`] by [`crate::metrics::comparison_of_parts`] — the CPU's
//! merge, so the figures are [`crate::metrics::compare`]'s bit for bit (docs/kernels.md §12).

use crate::error::{Error, Result};
use crate::formats::DType;
use crate::metrics::compare::CHUNK;
use crate::metrics::ulp::{UlpHistogram, EXACT};
use crate::metrics::{comparison_of_parts, Comparison, ComparisonParts, LaneSums};

/// How the kernel reads one side (`ISO_SIDE_*` in kernels/compare.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// f32 storage, an f32 tensor on the host.
    F32,
    /// f32 storage of a GEMM with a bf16 output: the bf16 tensor `GemmOutput::to_tensor` makes of it.
    F32AsBf16,
    /// bf16 storage (a dumped bf16 output uploaded as it is).
    Bf16,
}

impl Side {
    /// The id kernels/compare.cu takes.
    pub fn id(self) -> i32 {
        match self {
            Side::F32 => 0,
            Side::F32AsBf16 => 1,
            Side::Bf16 => 2,
        }
    }
    /// The dtype the side is on the host.
    pub fn dtype(self) -> DType {
        match self {
            Side::F32 => DType::F32,
            Side::F32AsBf16 | Side::Bf16 => DType::BF16,
        }
    }
    /// Bytes per stored element.
    pub fn storage_bytes(self) -> usize {
        match self {
            Side::F32 | Side::F32AsBf16 => 4,
            Side::Bf16 => 2,
        }
    }
    /// The side a host tensor of `dtype` is uploaded as (None: the kernel does not read that dtype).
    pub fn of_tensor(dtype: DType) -> Option<Side> {
        match dtype {
            DType::F32 => Some(Side::F32),
            DType::BF16 => Some(Side::Bf16),
            _ => None,
        }
    }
}

/// How a host tensor is kept for the comparison: its side and its [rows, cols] (a tensor of another rank as one
/// row), or None for a dtype the kernel does not read.
pub fn kept_layout(t: &crate::io::Tensor) -> Option<(Side, usize, usize)> {
    let side = Side::of_tensor(t.dtype)?;
    Some(match t.shape.as_slice() {
        [r, c] => (side, *r, *c),
        _ => (side, 1, t.numel()),
    })
}

/// kernels/compare.cu `CompareParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CompareParams {
    pub a: u64,
    pub b: u64,
    pub sums: u64,
    pub stats: u64,
    pub n: i64,
    pub a_side: i32,
    pub b_side: i32,
    pub same_dtype: i32,
    pub ulp: i32,
}

crate::kernel_params_layout!(CompareParams, "../../kernels/compare.cu", 56, { a: 0, b: 8, sums: 16, stats: 24, n: 32, a_side: 40, b_side: 44, same_dtype: 48, ulp: 52 });

impl CompareParams {
    /// The parameters for `n` elements of sides `a` and `b` at these device addresses.
    pub fn new(ptrs: [u64; 4], n: usize, a: Side, b: Side) -> CompareParams {
        CompareParams {
            a: ptrs[0],
            b: ptrs[1],
            sums: ptrs[2],
            stats: ptrs[3],
            n: n as i64,
            a_side: a.id(),
            b_side: b.id(),
            same_dtype: (a.dtype() == b.dtype()) as i32,
            ulp: 1,
        }
    }
    /// The struct's bytes (a by-value kernel parameter).
    pub fn bytes(&self) -> Vec<u8> {
        // SAFETY: #[repr(C)] integers without padding (56 bytes, checked above).
        unsafe { crate::backend::cuda::param_layout::struct_bytes(self) }.to_vec()
    }
}

// Layout of the `stats` words (kernels/compare.cu `ISO_CMP_*`).
const NAN_A: usize = 0;
const NAN_B: usize = 1;
const VALUE_EQ: usize = 2;
const BYTES_EQ: usize = 3;
const MAX_REF: usize = 4;
const MAX_DIFF: usize = 5;
const FIRST_NAN: usize = 6;
const FIRST_MAX: usize = 7;
const ULP_MAX: usize = 8;
const HIST: usize = 16;
/// u64 words of `stats`.
pub const STATS_WORDS: usize = HIST + EXACT + 64;
/// f64 words of `sums` per chunk.
pub const SUMS_PER_CHUNK: usize = 24;

/// Chunks of `n` elements (each one thread per lane in `compare_sums`).
pub fn chunks(n: usize) -> usize {
    n.div_ceil(CHUNK)
}

/// `stats` before the kernels run: zero, but no first NaN and no first maximum yet.
pub fn stats_init() -> Vec<u64> {
    let mut v = vec![0u64; STATS_WORDS];
    v[FIRST_NAN] = u64::MAX;
    v[FIRST_MAX] = u64::MAX;
    v
}

/// The index whose a and b [`comparison_of_results`] needs (the first NaN difference, else the first largest
/// one), None for no elements.
pub fn max_index(stats: &[u64], n: usize) -> Option<usize> {
    if n == 0 {
        None
    } else if stats[FIRST_NAN] != u64::MAX {
        Some(stats[FIRST_NAN] as usize)
    } else {
        Some(stats[FIRST_MAX] as usize)
    }
}

/// The [`Comparison`] of the kernels' results: `sums` ([`chunks`] × [`SUMS_PER_CHUNK`] f64) and `stats`
/// ([`STATS_WORDS`] u64) for `n` elements of sides `a`, `b`, a's shape `shape`, and the values at
/// [`max_index`].
pub fn comparison_of_results(
    sums: &[f64],
    stats: &[u64],
    n: usize,
    sides: (Side, Side),
    shape: &[usize],
    at_max: Option<(f64, f64)>,
) -> Result<Comparison> {
    let nchunks = chunks(n);
    if sums.len() < nchunks * SUMS_PER_CHUNK || stats.len() < STATS_WORDS {
        return Err(Error::Gpu("compare: result buffers too small".into()));
    }
    let lane = |c: usize, k: usize| {
        let w = &sums[c * SUMS_PER_CHUNK + k * 8..c * SUMS_PER_CHUNK + k * 8 + 8];
        LaneSums {
            s: [w[0], w[1], w[2], w[3]],
            c: [w[4], w[5], w[6], w[7]],
        }
    };
    let chunk_sums = (0..nchunks)
        .map(|c| [lane(c, 0), lane(c, 1), lane(c, 2)])
        .collect();
    let max_diff = max_index(stats, n).map(|i| {
        let d = if stats[FIRST_NAN] != u64::MAX {
            f64::NAN
        } else {
            f64::from_bits(stats[MAX_DIFF])
        };
        (i, d)
    });
    let mut log2 = [0u64; 64];
    log2.copy_from_slice(&stats[HIST + EXACT..HIST + EXACT + 64]);
    // The CPU merges one histogram per task: with no elements there is none.
    let ulp = (n > 0)
        .then(|| {
            UlpHistogram::from_counts(stats[HIST..HIST + EXACT].to_vec(), log2, stats[ULP_MAX])
        })
        .flatten();
    let parts = ComparisonParts {
        n,
        same_dtype: sides.0.dtype() == sides.1.dtype(),
        chunk_sums,
        nan_a: stats[NAN_A] as usize,
        nan_b: stats[NAN_B] as usize,
        value_eq: stats[VALUE_EQ] as usize,
        bytes_eq: stats[BYTES_EQ] as usize,
        max_ref: f64::from_bits(stats[MAX_REF]),
        max_diff,
        ulp,
    };
    let at = at_max.unwrap_or((f64::NAN, f64::NAN));
    Ok(comparison_of_parts(parts, shape, |_| at))
}

/// The value of one stored element (its `storage_bytes` little-endian bytes) of a side, as the host tensor has
/// it.
pub fn stored_value(side: Side, b: &[u8]) -> f64 {
    match side {
        Side::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        Side::F32AsBf16 => {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            bf16_value(crate::formats::convert::f32_to_bf16_bits(x))
        }
        Side::Bf16 => bf16_value(u16::from_le_bytes([b[0], b[1]])),
    }
}

/// A bf16 code's value as `convert::element_f64` decodes it.
fn bf16_value(bits: u16) -> f64 {
    f32::from_bits((bits as u32) << 16) as f64
}

/// The fields in which a device comparison `got` differs from the CPU's `want`, bit for bit (floats by their
/// bits, NaN by NaN-ness): empty when they are the same. The selftest and the tests report these.
pub fn differences(got: &Comparison, want: &Comparison) -> Vec<String> {
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    let mut d = Vec::new();
    let opt = |x: Option<f64>| x.map(|v| vec![v]).unwrap_or_default();
    let pair = |x: Option<(f64, f64)>| x.map(|(a, b)| vec![a, b]).unwrap_or_default();
    let floats: [(&str, Vec<f64>, Vec<f64>); 8] = [
        ("cos", vec![got.cos], vec![want.cos]),
        ("rel", vec![got.rel], vec![want.rel]),
        ("max_abs", vec![got.max_abs], vec![want.max_abs]),
        ("calc_diff", vec![got.calc_diff], vec![want.calc_diff]),
        ("value_equal", vec![got.value_equal], vec![want.value_equal]),
        ("max_ref", vec![got.max_ref], vec![want.max_ref]),
        ("byte_equal", opt(got.byte_equal), opt(want.byte_equal)),
        (
            "max_abs_values",
            pair(got.max_abs_values),
            pair(want.max_abs_values),
        ),
    ];
    for (name, x, y) in floats {
        if x.len() != y.len() || x.iter().zip(&y).any(|(&p, &q)| !same(p, q)) {
            d.push(format!("{name}: {x:?} vs {y:?}"));
        }
    }
    if got.n != want.n {
        d.push(format!("n: {} vs {}", got.n, want.n));
    }
    if (got.max_abs_flat, &got.max_abs_at) != (want.max_abs_flat, &want.max_abs_at) {
        d.push(format!(
            "max_abs_at: {:?} vs {:?}",
            got.max_abs_at, want.max_abs_at
        ));
    }
    if (got.nan_a, got.nan_b) != (want.nan_a, want.nan_b) {
        d.push(format!(
            "NaN counts: {:?} vs {:?}",
            (got.nan_a, got.nan_b),
            (want.nan_a, want.nan_b)
        ));
    }
    if got.ulp != want.ulp {
        let q = |c: &Comparison| c.ulp.as_ref().map(|h| (h.count, h.quantile(0.5), h.max));
        d.push(format!(
            "ulp histogram (count, median, max): {:?} vs {:?}",
            q(got),
            q(want)
        ));
    }
    d
}

/// Test data for the comparison's twins: `a`, `b` as stored for `sides`, n elements, and the host tensors
/// [`crate::metrics::compare`] reads (the same bytes the device sides stand for). Values: seeded normals with
/// `a` ≈ `b` (a few ulp apart), exact copies, ±0 pairs, NaN and ±inf sprinkled (inf − inf differences too).
pub fn twin_case(
    n: usize,
    sides: (Side, Side),
    seed: u64,
    specials: bool,
) -> (Vec<u8>, Vec<u8>, crate::io::Tensor, crate::io::Tensor) {
    let mut r = crate::testdata::Rng::new(seed);
    let mut va = Vec::with_capacity(n);
    let mut vb = Vec::with_capacity(n);
    for i in 0..n {
        let x = r.normal() as f32 * if i % 97 == 0 { 1e3 } else { 1.0 };
        let y = match r.below(4) {
            0 => x,
            1 => f32::from_bits(x.to_bits().wrapping_add(1 + r.below(4) as u32)),
            2 => x * 1.001,
            _ => -x * 0.5,
        };
        va.push(x);
        vb.push(y);
    }
    if specials && n > 8 {
        for k in (3..n).step_by(1009) {
            va[k] = f32::NAN;
        }
        for k in (5..n).step_by(2003) {
            vb[k] = f32::INFINITY;
            va[k] = if k % 2 == 0 { f32::INFINITY } else { 1.0 };
        }
        va[1] = 0.0;
        vb[1] = -0.0;
        vb[n - 1] = f32::NEG_INFINITY;
        va[n - 2] = f32::from_bits(0x7FC0_1234); // a NaN with a payload
    }
    let stored = |v: &[f32], s: Side| -> Vec<u8> {
        match s {
            Side::F32 | Side::F32AsBf16 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Side::Bf16 => v
                .iter()
                .flat_map(|&x| crate::formats::convert::f32_to_bf16_bits(x).to_le_bytes())
                .collect(),
        }
    };
    let host = |name: &str, st: &[u8], s: Side| -> crate::io::Tensor {
        let w = s.storage_bytes();
        let bytes: Vec<u8> = match s {
            Side::F32 | Side::Bf16 => st.to_vec(),
            Side::F32AsBf16 => st
                .chunks_exact(w)
                .flat_map(|c| {
                    let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    crate::formats::convert::f32_to_bf16_bits(x).to_le_bytes()
                })
                .collect(),
        };
        crate::io::Tensor::new(name, s.dtype(), vec![n], bytes).expect("twin tensor")
    };
    let (sa, sb) = (stored(&va, sides.0), stored(&vb, sides.1));
    let (ta, tb) = (host("a", &sa, sides.0), host("b", &sb, sides.1));
    (sa, sb, ta, tb)
}
