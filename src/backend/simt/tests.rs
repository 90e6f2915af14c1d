//! The real kernel sources run by the SIMT executor, bitwise against their Rust twins (crate::formats,
//! crate::quant), at warp 32 and wavefront 64; and the executor's own checks (a broken shuffle, reads and
//! writes out of bounds, a shuffle from an inactive lane) caught with an error, not a crash.

use super::kernels::{self, Sweep};
use super::{builtin, compile, Mode, Module};
use crate::formats::{e8m0, DType, E8m0Round, Fp8Format, Overflow};
use crate::io::Tensor;
use crate::quant::presets::PRESETS;
use crate::quant::{QuantSpec, Quantized};

/// (mode, warp width) combinations every kernel runs at: the CUDA source at 32, the HIP source at 64 (CDNA)
/// and at 32 (RDNA), and the CUDA source at 64 (32-bit masks name the caller's half).
const COMBOS: [(Mode, u32); 4] = [
    (Mode::Cuda, 32),
    (Mode::Hip, 64),
    (Mode::Hip, 32),
    (Mode::Cuda, 64),
];

fn module(name: &str, mode: Mode) -> &'static Module {
    builtin(name, mode).unwrap_or_else(|e| panic!("{e}"))
}

/// Every bf16 value as f32 and its ±1, ±2-ulp f32 neighbours, the first and last 256 mantissas of every
/// binade of both signs (FP8 and E8M0 rounding ties and boundaries are among them), and the specials.
fn codec_values() -> Vec<f32> {
    let mut v = Vec::new();
    for h in 0..=u16::MAX {
        let b = (h as u32) << 16;
        for d in [0u32, 1, 2] {
            v.push(f32::from_bits(b.wrapping_add(d)));
            v.push(f32::from_bits(b.wrapping_sub(d)));
        }
    }
    for s in [0u32, 1] {
        for e in 0..256u32 {
            let base = (s << 31) | (e << 23);
            for m in (0..256u32).chain(0x7F_FF00..0x80_0000) {
                v.push(f32::from_bits(base | m));
            }
        }
    }
    v.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        448.0,
        464.0,
        464.00003,
        240.0,
        57344.0,
        61440.0,
    ]);
    v
}

fn count_diff<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

fn f32_bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn check_codecs(mode: Mode, warp: u32) {
    let m = module("codecs", mode);
    let xs = codec_values();
    let codes: Vec<u8> = (0..=255).collect();
    let mut checked = 0usize;
    for r in E8m0Round::ALL {
        let got = kernels::e8m0_encode(m, warp, &xs, r).unwrap();
        let want: Vec<u8> = xs.iter().map(|&x| e8m0::encode(x, r)).collect();
        assert_eq!(
            count_diff(&got, &want),
            0,
            "e8m0_encode {r:?} {mode:?}/{warp}"
        );
        checked += xs.len();
    }
    let got = kernels::e8m0_decode(m, warp, &codes).unwrap();
    let want: Vec<f32> = codes.iter().map(|&c| e8m0::decode(c)).collect();
    assert_eq!(f32_bits(&got), f32_bits(&want), "e8m0_decode");
    for f in Fp8Format::ALL {
        for ov in [Overflow::Saturate, Overflow::Nan] {
            let got = kernels::fp8_encode(m, warp, &xs, f, ov).unwrap();
            let want: Vec<u8> = xs.iter().map(|&x| f.encode(x, ov)).collect();
            assert_eq!(
                count_diff(&got, &want),
                0,
                "fp8_encode {f:?} {ov:?} {mode:?}/{warp}"
            );
            checked += xs.len();
        }
        let got = kernels::fp8_decode(m, warp, &codes, f).unwrap();
        let want: Vec<f32> = codes.iter().map(|&c| f.decode(c)).collect();
        assert_eq!(f32_bits(&got), f32_bits(&want), "fp8_decode {f:?}");
    }
    // The sweep kernels over a few windows of bit patterns (the FP8 maxima and the subnormal edge).
    for base in [
        0x43DF_F000u32,
        0x4367_F000,
        0x4760_0000,
        0x3C7F_F000,
        0xC3E7_F000,
        0x7F7F_F000,
    ] {
        let n = 8192;
        for r in E8m0Round::ALL {
            let got = kernels::encode_sweep(m, warp, Sweep::E8m0(r), base, n).unwrap();
            let want: Vec<u8> = (0..n as u32)
                .map(|i| e8m0::encode(f32::from_bits(base.wrapping_add(i)), r))
                .collect();
            assert_eq!(
                count_diff(&got, &want),
                0,
                "e8m0_encode_sweep {r:?} {base:#x}"
            );
        }
        for f in Fp8Format::ALL {
            for ov in [Overflow::Saturate, Overflow::Nan] {
                let got = kernels::encode_sweep(m, warp, Sweep::Fp8(f, ov), base, n).unwrap();
                let want: Vec<u8> = (0..n as u32)
                    .map(|i| f.encode(f32::from_bits(base.wrapping_add(i)), ov))
                    .collect();
                assert_eq!(
                    count_diff(&got, &want),
                    0,
                    "fp8_encode_sweep {f:?} {ov:?} {base:#x}"
                );
            }
        }
    }
    assert!(checked > 0, "simt codecs {mode:?}/{warp}: nothing encoded");
}

#[test]
fn codecs_cuda_warp32() {
    check_codecs(Mode::Cuda, 32);
}

#[test]
fn codecs_hip_wave64() {
    check_codecs(Mode::Hip, 64);
}

const OPTS: crate::formats::convert::EncodeOptions = crate::formats::convert::EncodeOptions {
    overflow: Overflow::Saturate,
    e8m0: E8m0Round::Ceil,
};

/// A deterministic xorshift.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// `rows × cols` values: rows of magnitudes 2^-30 … 2^30, with edge groups (zeros, one outlier, subnormal
/// scale, values just above a power of two, FP8-max multiples).
fn quant_values(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed | 1);
    let mut v = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        let mag = 2f32.powi((r.next() % 61) as i32 - 30);
        for j in 0..cols {
            let x = match (i % 7, j / 32 % 5) {
                (0, 0) => 0.0,
                (1, 1) if j % 32 == 3 => 3.0e38,
                (2, _) => r.unit() * 1e-41,
                (3, 2) => f32::from_bits(
                    (448f32 * 2f32.powi(i as i32 % 9 - 4)).to_bits() + (j as u32 % 3),
                ),
                (4, _) => 448.0 * ((j % 9) as f32 - 4.0),
                _ => r.unit() * mag,
            };
            v.push(x);
        }
    }
    v
}

fn tensor(dtype: DType, rows: usize, cols: usize, seed: u64) -> Tensor {
    let v = quant_values(rows, cols, seed);
    let t = Tensor::from_f32("x", vec![rows, cols], &v).unwrap();
    if dtype == DType::F32 {
        return t;
    }
    let bytes = crate::formats::convert::encode_f32(&v, dtype, OPTS).unwrap();
    Tensor::new("x", dtype, vec![rows, cols], bytes).unwrap()
}

/// Codes and scale bits that differ between two quantizations (scales compared as bits: NaN = NaN).
fn quant_diff(a: &Quantized, b: &Quantized) -> (usize, usize) {
    assert_eq!(
        (a.rows, a.cols, a.block_rows, a.block_cols),
        (b.rows, b.cols, b.block_rows, b.block_cols)
    );
    (
        count_diff(&a.q, &b.q),
        count_diff(&f32_bits(&a.scales), &f32_bits(&b.scales)),
    )
}

/// The cases each preset runs: (what, dtype, rows, cols, group, weight).
const QUANT_CASES: [(&str, DType, usize, usize, usize, bool); 7] = [
    (
        "act bf16 G128 (fast path)",
        DType::BF16,
        24,
        1024,
        128,
        false,
    ),
    ("act bf16 G32", DType::BF16, 8, 512, 32, false),
    ("act bf16 G64", DType::BF16, 8, 512, 64, false),
    ("act bf16 G256", DType::BF16, 8, 1024, 256, false),
    (
        "act f32 G128 (quant_blocks)",
        DType::F32,
        9,
        640,
        128,
        false,
    ),
    ("act f16 G128", DType::F16, 5, 384, 128, false),
    (
        "weight bf16 128x128, partial blocks",
        DType::BF16,
        200,
        320,
        128,
        true,
    ),
];

/// Every preset over every case on `module` (kernels/quant.cu or a variant): the total numbers of differing
/// codes and scales, the runs, and a line for each of the first differing (preset, case) pairs.
fn run_quant_presets(m: &Module, mode: Mode, warp: u32) -> (usize, usize, usize, Vec<String>) {
    let (mut codes, mut scales, mut runs) = (0, 0, 0);
    let mut first = Vec::new();
    for (name, preset) in PRESETS.iter() {
        if preset.is_none() {
            continue;
        }
        for (ci, (what, dt, rows, cols, g, weight)) in QUANT_CASES.iter().enumerate() {
            let mut spec: QuantSpec = *preset;
            spec.group = *g;
            let x = tensor(*dt, *rows, *cols, 0x9E37_79B9 + ci as u64);
            let cpu = if *weight {
                crate::quant::quantize_weight(&spec, &x)
            } else {
                crate::quant::quantize_activation(&spec, &x)
            };
            let sim = kernels::quantize(m, warp, &spec, &x, *weight);
            match (cpu, sim) {
                (Ok(c), Ok(s)) => {
                    let (dq, ds) = quant_diff(&c, &s);
                    if (dq, ds) != (0, 0) && first.len() < 8 {
                        first.push(format!(
                            "{name} {what} {mode:?}/{warp}: {dq} codes, {ds} scales differ"
                        ));
                    }
                    codes += dq;
                    scales += ds;
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{name} {what}: cpu {:?} vs simt {:?}", a.err(), b.err()),
            }
            runs += 1;
        }
    }
    (codes, scales, runs, first)
}

fn check_quant(mode: Mode, warp: u32) {
    let m = module("quant", mode);
    let (c, s, runs, first) = run_quant_presets(m, mode, warp);
    assert!(runs > 0);
    assert_eq!(
        (c, s),
        (0, 0),
        "simt quant {mode:?}/{warp}, {runs} preset×case runs:\n{}",
        first.join("\n")
    );
}

#[test]
fn quant_presets_cuda_warp32() {
    check_quant(COMBOS[0].0, COMBOS[0].1);
}

#[test]
fn quant_presets_hip_wave64() {
    check_quant(COMBOS[1].0, COMBOS[1].1);
}

#[test]
fn quant_presets_hip_warp32() {
    check_quant(COMBOS[2].0, COMBOS[2].1);
}

#[test]
fn quant_presets_cuda_source_at_wave64() {
    check_quant(COMBOS[3].0, COMBOS[3].1);
}

/// Non-finite input: NaN and inf groups give the same codes, scales or rejection as the CPU.
#[test]
fn quant_nonfinite_matches_cpu() {
    let m = module("quant", Mode::Hip);
    let mut v = quant_values(4, 512, 7);
    v[5] = f32::NAN;
    v[512 + 130] = f32::INFINITY;
    v[1024 + 300] = f32::NEG_INFINITY;
    let bytes = crate::formats::convert::encode_f32(&v, DType::BF16, OPTS).unwrap();
    let x = Tensor::new("x", DType::BF16, vec![4, 512], bytes).unwrap();
    for (name, preset) in PRESETS.iter().filter(|p| !p.1.is_none()) {
        for nan in ["propagate", "ignore", "reject"] {
            let spec = QuantSpec::parse(&format!("{name},nan={nan}")).unwrap();
            let cpu = crate::quant::quantize_activation(&spec, &x);
            let sim = kernels::quantize(m, 64, &spec, &x, false);
            match (cpu, sim) {
                (Ok(c), Ok(s)) => assert_eq!(quant_diff(&c, &s), (0, 0), "{name} nan={nan}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{name} nan={nan}: cpu {:?} vs simt {:?}", a.err(), b.err()),
            }
            let _ = preset;
        }
    }
}

/// A deliberately broken reduction (the last xor step of every amax shuffle dropped) must be caught.
#[test]
fn broken_shuffle_is_caught() {
    let src = crate::backend::cuda::registry::module_source("quant")
        .unwrap()
        .source;
    let broken = src.replace(
        "o > 0; o >>= 1) m = max(m, ISO_SHFL",
        "o > 1; o >>= 1) m = max(m, ISO_SHFL",
    );
    assert_eq!(
        broken.matches("o > 1; o >>= 1)").count(),
        4,
        "the four amax reductions (three production kernels, and v6 of the bench module)"
    );
    for (mode, warp) in [(Mode::Cuda, 32), (Mode::Hip, 64)] {
        let m = compile(&broken, "quant-broken-shuffle.cu", mode, None).unwrap();
        let (c, s, runs, _) = run_quant_presets(m, mode, warp);
        assert!(
            c > 1000 && s > 100,
            "the broken kernel went unnoticed ({mode:?}/{warp}, {runs} runs): {c} codes, {s} scales"
        );
    }
}

const OOB_SRC: &str = r#"
extern "C" __global__ void read_past(const float* x, float* y, unsigned long long n) {
    unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i <= n) y[i < n ? i : 0] = x[i];  // reads x[n]
}
extern "C" __global__ void write_past(const float* x, float* y, unsigned long long n) {
    unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i <= n) y[i] = x[i < n ? i : 0];  // writes y[n]
}
extern "C" __global__ void read_before(const float* x, float* y, unsigned long long n) {
    long long i = (long long)(blockIdx.x * blockDim.x + threadIdx.x) - 500;
    if (i < (long long)n) y[i < 0 ? 0 : i] = x[i];  // reads x[-500]
}
extern "C" __global__ void shfl_inactive(int* out) {
    int v = threadIdx.x;
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xFFFFFFFFu, v, 16);
    out[threadIdx.x] = v;
}
extern "C" __global__ void trap(int* out) {
    if (threadIdx.x == 7) __trap();
    out[threadIdx.x] = 1;
}
extern "C" __global__ void fine(const float* x, float* y, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        __shared__ float t[256];
        t[threadIdx.x] = x[i];
        __syncthreads();
        y[i] = t[(threadIdx.x + 1) % blockDim.x] + __shfl_down_sync(0xFFFFFFFFu, x[i], 1);
        __syncthreads();
    }
}
"#;

/// Kernels reaching outside their buffers, a shuffle reading an exited lane and `__trap()`: each an error
/// naming the kernel and the buffer, and the harness carries on.
#[test]
fn out_of_bounds_and_bad_warp_calls_are_errors() {
    let m = compile(OOB_SRC, "oob-test.cu", Mode::Cuda, None).unwrap();
    use super::Arg;
    for (n, kernel, want) in [
        (
            1000usize,
            "read_past",
            "read 0 bytes past the end of buffer `x` (4000 bytes)",
        ),
        (1001, "read_past", ""),
        (
            1001,
            "write_past",
            "wrote 0 bytes past the end of buffer `y` (4004 bytes)",
        ),
        (
            1000,
            "write_past",
            "wrote 0 bytes past the end of buffer `y` (4000 bytes)",
        ),
        (1000, "read_before", "before the start of buffer `x`"),
    ] {
        let x = m.upload(&vec![0u8; n * 4], "x").unwrap();
        let y = m.alloc(n * 4, "y").unwrap();
        let r = m.launch(
            kernel,
            [8, 1, 1],
            [256, 1, 1],
            32,
            &[Arg::Ptr(&x), Arg::Ptr(&y), Arg::U64(n as u64)],
        );
        // A read inside the < 16 bytes of rounding slack is not a fault (only writes there are found).
        if n == 1001 && kernel == "read_past" {
            assert!(r.is_ok());
            continue;
        }
        let e = r.unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(kernel), "{kernel}: {e}");
    }
    let out = m.alloc(64 * 4, "out").unwrap();
    let e = m
        .launch(
            "shfl_inactive",
            [1, 1, 1],
            [32, 1, 1],
            32,
            &[Arg::Ptr(&out)],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("reads lane 16, which is not active"), "{e}");
    let e = m
        .launch("trap", [2, 1, 1], [64, 1, 1], 32, &[Arg::Ptr(&out)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("__trap() called") && e.contains("thread (7,0,0)"),
        "{e}"
    );
    let e = m
        .launch(
            "trap",
            [1, 1, 1],
            [64, 1, 1],
            32,
            &[Arg::Ptr(&out), Arg::U32(1)],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("takes 1 parameters"), "{e}");
    // After all that, a correct kernel with shared memory, barriers and a shuffle still runs.
    let n = 4096;
    let xv: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let x = m.upload(bytemuck::cast_slice(&xv), "x").unwrap();
    let y = m.alloc(n * 4, "y").unwrap();
    for warp in [32, 64] {
        m.launch(
            "fine",
            [4, 1, 1],
            [256, 1, 1],
            warp,
            &[Arg::Ptr(&x), Arg::Ptr(&y), Arg::U64(n as u64)],
        )
        .unwrap();
        let yv: Vec<f32> = super::f32s(y.as_slice());
        for i in 0..n {
            let b = i / 256 * 256;
            let lane = i % 256 % 32;
            let down = if lane + 1 < 32 { xv[i + 1] } else { xv[i] };
            // A 32-bit mask at wave64 names the caller's half: __shfl_down stays within 64 lanes.
            let down = if warp == 64 {
                if i % 64 + 1 < 64 {
                    xv[i + 1]
                } else {
                    xv[i]
                }
            } else {
                down
            };
            assert_eq!(yv[i], xv[b + (i - b + 1) % 256] + down, "i={i} warp={warp}");
        }
    }
}

/// The bundled user PoC kernel (cuda_bf16.h / cuda_fp8.h conversions, warp shuffles) runs unchanged and is
/// byte-equal to deepgemm-ue8m0 on finite bf16 input; a copy with floor instead of ceil is caught.
#[test]
fn example_user_kernel_equals_deepgemm_ue8m0() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quant_ue8m0.cu");
    let m = super::user_file(&path).unwrap();
    let (rows, k) = (48, 1024);
    let x = tensor(DType::BF16, rows, k, 99);
    let spec = crate::quant::presets::DEEPGEMM_UE8M0;
    let cpu = crate::quant::quantize_activation(&spec, &x).unwrap();
    let (q, s) =
        kernels::run_user_quant(m, "quant_ue8m0", 32, x.bytes(), DType::BF16, rows, k, 128)
            .unwrap();
    assert_eq!(count_diff(&q, &cpu.q), 0);
    assert_eq!(count_diff(&f32_bits(&s), &f32_bits(&cpu.scales)), 0);
    let src = std::fs::read_to_string(&path).unwrap();
    let wrong = src.replace("((bits & 0x7fffff) != 0)", "0");
    assert_ne!(wrong, src);
    let m = compile(&wrong, "quant_ue8m0_floor.cu", Mode::Cuda, path.parent()).unwrap();
    let (q, s) =
        kernels::run_user_quant(m, "quant_ue8m0", 32, x.bytes(), DType::BF16, rows, k, 128)
            .unwrap();
    let (dq, ds) = (
        count_diff(&q, &cpu.q),
        count_diff(&f32_bits(&s), &f32_bits(&cpu.scales)),
    );
    assert!(
        dq > 0 && ds > 0,
        "floor-instead-of-ceil PoC went unnoticed: {dq} codes, {ds} scales differ"
    );
}

// ---- AMD matrix cores: the MFMA builtins and the GEMM kernels --------------------------------------------

/// One v_mfma_f32_16x16x32 per wavefront (block t = instruction t): A [T][16][32], B by column [T][16][32]
/// (B[k][j] at [t][j][k]), C and D [T][16][16]; lane l loads its operands as the AMD layout says
/// (docs/numerics.md §8.7) and stores its 4 results.
const MFMA_PROBE: &str = r#"
typedef float f32x4 __attribute__((vector_size(16)));
__global__ void mfma_probe(const unsigned char* A, const unsigned char* B, const float* C, float* D, int variant) {
    const int t = blockIdx.x, l = threadIdx.x;
    long long a, b;
    memcpy(&a, A + (size_t)t * 512 + (l % 16) * 32 + 8 * (l / 16), 8);
    memcpy(&b, B + (size_t)t * 512 + (l % 16) * 32 + 8 * (l / 16), 8);
    f32x4 c;
    for (int r = 0; r < 4; r++) c[r] = C[(size_t)t * 256 + (4 * (l / 16) + r) * 16 + l % 16];
    f32x4 d;
    if (variant == 0) d = __builtin_amdgcn_mfma_f32_16x16x32_fp8_fp8(a, b, c, 0, 0, 0);
    else if (variant == 1) d = __builtin_amdgcn_mfma_f32_16x16x32_bf8_fp8(a, b, c, 0, 0, 0);
    else if (variant == 2) d = __builtin_amdgcn_mfma_f32_16x16x32_fp8_bf8(a, b, c, 0, 0, 0);
    else d = __builtin_amdgcn_mfma_f32_16x16x32_bf8_bf8(a, b, c, 0, 0, 0);
    for (int r = 0; r < 4; r++) D[(size_t)t * 256 + (4 * (l / 16) + r) * 16 + l % 16] = d[r];
}
"#;

/// Accumulator values that probe the model's C handling: zeros, subnormals, values around the products'
/// range, huge ones, infinities and NaN.
fn probe_c(rng: &mut crate::testdata::Rng) -> f32 {
    match rng.below(10) {
        0 => 0.0,
        1 => -0.0,
        2 => f32::from_bits(rng.next_u32() & 0x807F_FFFF), // subnormal
        3 => [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            -f32::MAX,
        ][rng.below(5)],
        4 => {
            // Exactly on or just off the 2^(M−24) grid of a product sum near 1..2^16.
            let e = rng.below(20) as i32 - 2;
            let v = 2f32.powi(e) * (1.0 + rng.unit() as f32);
            if rng.below(2) == 0 {
                v
            } else {
                -v
            }
        }
        _ => {
            // Any exponent in [−60, 60].
            let e = (rng.below(121) as u32 + 127 - 60) << 23;
            f32::from_bits((rng.next_u32() & 0x807F_FFFF) | e)
        }
    }
}

/// FP8 codes for the probe: uniform (NaN codes included), or runs that stress one group's alignment
/// (one large product among tiny ones, cancellation, all zero).
fn probe_codes(rng: &mut crate::testdata::Rng, fmt: Fp8Format, n: usize) -> Vec<u8> {
    let finite = |rng: &mut crate::testdata::Rng| loop {
        let c = rng.below(256) as u8;
        if fmt.decode(c).is_finite() {
            return c;
        }
    };
    match rng.below(5) {
        0 => (0..n).map(|_| rng.below(256) as u8).collect(),
        1 => (0..n)
            .map(|_| {
                if rng.below(10) == 0 {
                    0x70 | rng.below(8) as u8
                } else {
                    (rng.below(16) as u8) | if rng.below(2) == 0 { 0x80 } else { 0 }
                }
            })
            .map(|c| {
                if fmt == Fp8Format::E4m3fnuz && c == 0x80 {
                    0
                } else {
                    c
                }
            })
            .collect(),
        2 => {
            let v: Vec<u8> = (0..n / 2).map(|_| finite(rng)).collect();
            // x and −x (cancellation), in shuffled pairs.
            v.iter()
                .flat_map(|&c| [c, if c & 0x7F == 0 { c } else { c ^ 0x80 }])
                .collect()
        }
        3 => vec![0; n],
        _ => (0..n).map(|_| finite(rng)).collect(),
    }
}

/// Runs `count` random instructions of `variant` through the executor's builtin in `mode` and the Rust
/// `cdna3` model (two chained 16-product steps per output); returns (outputs compared, mismatches, the first
/// mismatches described).
fn mfma_vs_model(
    mode: Mode,
    variant: i32,
    fa: Fp8Format,
    fb: Fp8Format,
    count: usize,
    seed: u64,
) -> (usize, usize, Vec<String>) {
    use crate::gemm::mma::Model;
    let m = compile(MFMA_PROBE, "mfma_probe", mode, None).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = crate::testdata::Rng::new(seed);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..count {
        for _ in 0..16 {
            a.extend(probe_codes(&mut rng, fa, 32));
            b.extend(probe_codes(&mut rng, fb, 32));
        }
        c.extend((0..256).map(|_| probe_c(&mut rng)));
    }
    let (da, db) = (m.upload(&a, "A").unwrap(), m.upload(&b, "B").unwrap());
    let dc = m.upload(bytemuck::cast_slice(&c), "C").unwrap();
    let dd = m.alloc(c.len() * 4, "D").unwrap();
    m.launch(
        "mfma_probe",
        [count as u32, 1, 1],
        [64, 1, 1],
        64,
        &[
            super::Arg::Ptr(&da),
            super::Arg::Ptr(&db),
            super::Arg::Ptr(&dc),
            super::Arg::Ptr(&dd),
            super::Arg::I32(variant),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = super::f32s(dd.as_slice());
    let (mut bad, mut first) = (0, Vec::new());
    for t in 0..count {
        for i in 0..16 {
            let av: Vec<f32> = a[t * 512 + i * 32..][..32]
                .iter()
                .map(|&x| fa.decode(x))
                .collect();
            for j in 0..16 {
                let bv: Vec<f32> = b[t * 512 + j * 32..][..32]
                    .iter()
                    .map(|&x| fb.decode(x))
                    .collect();
                let want = Model::Cdna3.instruction(c[t * 256 + i * 16 + j], &av, fa, &bv, fb);
                let g = got[t * 256 + i * 16 + j];
                if !(g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan())) {
                    if bad < 5 {
                        first.push(format!(
                            "instruction {t} D[{i}][{j}] = {g:e} ({:#x}), model {want:e} ({:#x})",
                            g.to_bits(),
                            want.to_bits()
                        ));
                    }
                    bad += 1;
                }
            }
        }
    }
    (count * 256, bad, first)
}

/// The executor's MFMA builtins give the Rust `cdna3` model's bits: gfx942 (fnuz e4m3 operands) and gfx950
/// (OCP e4m3fn / e5m2 operands, the fp8/bf8 variants), on random and crafted operands and accumulators.
#[test]
fn mfma_builtins_equal_the_cdna3_model() {
    let cases = [
        (Mode::Hip, 0, Fp8Format::E4m3fnuz, Fp8Format::E4m3fnuz),
        (Mode::HipGfx950, 0, Fp8Format::E4m3fn, Fp8Format::E4m3fn),
        (Mode::HipGfx950, 1, Fp8Format::E5m2, Fp8Format::E4m3fn),
        (Mode::HipGfx950, 2, Fp8Format::E4m3fn, Fp8Format::E5m2),
        (Mode::HipGfx950, 3, Fp8Format::E5m2, Fp8Format::E5m2),
    ];
    for (i, (mode, variant, fa, fb)) in cases.into_iter().enumerate() {
        let (n, bad, first) = mfma_vs_model(mode, variant, fa, fb, 48, 0x3FA + i as u64);
        assert_eq!(
            bad,
            0,
            "MFMA {mode:?} variant {variant} ({fa:?} × {fb:?}): {bad} of {n} outputs differ from the cdna3 model:\n{}",
            first.join("\n")
        );
    }
}

/// An MFMA needs the whole 64-lane wavefront: at warp 32 or with lanes gone it is an error, not a crash.
#[test]
fn mfma_outside_a_full_wavefront_is_an_error() {
    let m = compile(MFMA_PROBE, "mfma_probe", Mode::Hip, None).unwrap();
    let z = m.alloc(512, "A").unwrap();
    let z2 = m.alloc(512, "B").unwrap();
    let c = m.alloc(1024, "C").unwrap();
    let d = m.alloc(1024, "D").unwrap();
    let args = [
        super::Arg::Ptr(&z),
        super::Arg::Ptr(&z2),
        super::Arg::Ptr(&c),
        super::Arg::Ptr(&d),
        super::Arg::I32(0),
    ];
    let e = m
        .launch("mfma_probe", [1, 1, 1], [64, 1, 1], 32, &args)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs all 64 lanes"), "{e}");
    let e = m
        .launch("mfma_probe", [1, 1, 1], [48, 1, 1], 64, &args)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs all 64 lanes"), "{e}");
}

/// The GEMM kernels on the executor through `--backend simt-cpu`'s `Backend::gemm`: kernels/gemm_mfma.cu
/// bitwise against the CPU's `cdna3-blockwise` (and its axes), kernels/gemm_blockwise.cu (HIP source,
/// wavefront 64) bitwise against `blockwise`; and how far the MFMA GEMM is from `blockwise`.
#[test]
fn gemm_kernels_on_the_executor_equal_the_cpu() {
    use crate::backend::Backend;
    use crate::gemm::{gemm, GemmSpec, Operand};
    use crate::testdata::{quantized, Scales};
    let be = super::SimtBackend::new().unwrap();
    let fnuz = Fp8Format::E4m3fnuz;
    // M and N not multiples of the tiles; 1×128 activation and 128×128 weight scales.
    let a = quantized(40, 384, (1, 128), fnuz, Scales::Any, 11);
    let w = quantized(24, 384, (128, 128), fnuz, Scales::Any, 12);
    let (oa, ow) = (Operand::Quantized(a.clone()), Operand::Quantized(w.clone()));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut checked = 0;
    for s in [
        "cdna3-blockwise",
        "cdna3-blockwise,out=f32",
        "cdna3-blockwise,promote=64,out=f32",
        "cdna3-blockwise,split_k=3,scale_order=left",
        "blockwise",
        "blockwise,out=f32,split_k=2",
        "blockwise-v3",
    ] {
        let spec = GemmSpec::parse(s).unwrap();
        let got = be.gemm(&spec, &oa, &ow, &|_, _| {}).unwrap();
        let want = gemm(&spec, &oa, &ow).unwrap();
        let bad = bits(&got.values)
            .iter()
            .zip(bits(&want.values))
            .filter(|(x, y)| **x != *y)
            .count();
        assert_eq!(
            bad,
            0,
            "simt-cpu `{s}`: {bad} of {} outputs differ from the CPU",
            got.values.len()
        );
        checked += 1;
    }
    assert!(be.take_notes().is_empty(), "every spec ran on a kernel");
    // The MFMA GEMM against the block-exact reference: not bitwise (the matrix core truncates), but close.
    let f32out = |s: &str| {
        be.gemm(&GemmSpec::parse(s).unwrap(), &oa, &ow, &|_, _| {})
            .unwrap()
            .values
    };
    let (m, r) = (
        f32out("cdna3-blockwise,out=f32"),
        f32out("blockwise,out=f32"),
    );
    let differ = m.iter().zip(&r).filter(|(x, y)| x != y).count();
    // Normwise: the largest difference over the largest output (single outputs may cancel to near zero).
    let big = r.iter().fold(0f32, |x, y| x.max(y.abs())) as f64;
    let worst = m
        .iter()
        .zip(&r)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
        / big;
    assert!(
        worst < 1e-5,
        "cdna3-blockwise vs blockwise (f32 out): {differ} of {} differ, largest difference {worst:.3e} of the largest output",
        m.len()
    );
    // e4m3fn operands: the blockwise kernel runs them; the gfx942 MFMA does not (a note, the CPU definition).
    let a = quantized(20, 256, (1, 128), Fp8Format::E4m3fn, Scales::Pow2, 13);
    let w = quantized(36, 256, (128, 128), Fp8Format::E4m3fn, Scales::Pow2, 14);
    let (oa, ow) = (Operand::Quantized(a), Operand::Quantized(w));
    let spec = GemmSpec::parse("blockwise").unwrap();
    assert_eq!(
        bits(&be.gemm(&spec, &oa, &ow, &|_, _| {}).unwrap().values),
        bits(&gemm(&spec, &oa, &ow).unwrap().values)
    );
    let spec = GemmSpec::parse("sm90-blockwise").unwrap();
    be.gemm(&spec, &oa, &ow, &|_, _| {}).unwrap();
    let notes = be.take_notes();
    assert!(
        notes.len() == 1 && notes[0].contains("sm90-blockwise"),
        "{notes:?}"
    );
    assert_eq!(checked, 7, "GEMM specs bitwise on the executor");
}

// ---- hip_fp8.h -------------------------------------------------------------------------------------------

/// The executor's hip_fp8.h: a user kernel written with `__hip_fp8_e4m3_fnuz` (examples/quant_aiter_fnuz.hip)
/// is byte-equal to the `aiter-fnuz` preset, and the conversions follow ROCm's software path: on finite
/// input with `__HIP_SATFINITE` they equal isolate's codecs with saturation, for every interpretation isolate
/// has; its overflow and non-finite quirks are as documented.
#[test]
fn hip_fp8_header_matches_the_codecs_and_the_aiter_example() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quant_aiter_fnuz.hip");
    let m = super::user_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let (rows, k) = (40, 1024);
    let x = tensor(DType::BF16, rows, k, 7);
    let spec = QuantSpec::parse("aiter-fnuz").unwrap();
    let cpu = crate::quant::quantize_activation(&spec, &x).unwrap();
    let (q, s) = kernels::run_user_quant(
        m,
        "quant_aiter_fnuz",
        64,
        x.bytes(),
        DType::BF16,
        rows,
        k,
        128,
    )
    .unwrap();
    let (dq, ds) = (
        count_diff(&q, &cpu.q),
        count_diff(&f32_bits(&s), &f32_bits(&cpu.scales)),
    );
    assert_eq!(
        (dq, ds),
        (0, 0),
        "examples/quant_aiter_fnuz.hip vs aiter-fnuz: codes of {}, scales of {}",
        q.len(),
        s.len()
    );

    const CVT: &str = r#"
#include <hip/hip_fp8.h>
__global__ void cvt(const float* x, unsigned char* out, long long n, int interp, int sat) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = __hip_cvt_float_to_fp8(x[i], (__hip_saturation_t)sat, (__hip_fp8_interpretation_t)interp);
}
__global__ void dec(const unsigned char* c, float* out, int interp) {
    const int i = threadIdx.x;
    __hip_fp8_e4m3_fnuz a;
    __hip_fp8_e4m3 b;
    __hip_fp8_e5m2 e;
    a.__x = b.__x = e.__x = c[i];
    out[i] = interp == __HIP_E4M3_FNUZ ? (float)a : interp == __HIP_E4M3 ? (float)b : (float)e;
}
"#;
    let m = compile(CVT, "cvt.hip", Mode::Hip, None).unwrap_or_else(|e| panic!("{e}"));
    let xs: Vec<f32> = codec_values()
        .into_iter()
        .filter(|v| v.is_finite())
        .collect();
    let dx = m.upload(bytemuck::cast_slice(&xs), "x").unwrap();
    let run = |interp: i32, sat: i32, xs: &super::Buffer, n: usize| {
        let out = m.alloc(n, "out").unwrap();
        m.launch(
            "cvt",
            [64, 1, 1],
            [256, 1, 1],
            64,
            &[
                super::Arg::Ptr(xs),
                super::Arg::Ptr(&out),
                super::Arg::I64(n as i64),
                super::Arg::I32(interp),
                super::Arg::I32(sat),
            ],
        )
        .unwrap();
        out.to_vec()
    };
    // (__hip_fp8_interpretation_t, isolate's format)
    for (interp, fmt) in [
        (2, Fp8Format::E4m3fnuz),
        (0, Fp8Format::E4m3fn),
        (1, Fp8Format::E5m2),
    ] {
        let got = run(interp, 1, &dx, xs.len());
        let want: Vec<u8> = xs
            .iter()
            .map(|&v| fmt.encode(v, Overflow::Saturate))
            .collect();
        let bad = count_diff(&got, &want);
        assert_eq!(
            bad,
            0,
            "__hip_cvt_float_to_fp8 {fmt:?} SATFINITE: {bad} of {} finite inputs differ from the codec",
            xs.len()
        );
        // Decoding: every code as isolate decodes it (NaN codes: a NaN).
        let codes: Vec<u8> = (0..=255).collect();
        let dc = m.upload(&codes, "c").unwrap();
        let out = m.alloc(1024, "out").unwrap();
        m.launch(
            "dec",
            [1, 1, 1],
            [256, 1, 1],
            64,
            &[
                super::Arg::Ptr(&dc),
                super::Arg::Ptr(&out),
                super::Arg::I32(interp),
            ],
        )
        .unwrap();
        for (c, g) in super::f32s(out.as_slice()).into_iter().enumerate() {
            let w = fmt.decode(c as u8);
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{fmt:?} code {c:#x}: {g} vs {w}"
            );
        }
    }
    // The software path's quirks (docs/kernels.md §11): above the largest value before rounding → NaN
    // without saturation; ±inf and NaN → NaN in fnuz and e4m3 even when saturating; inf stays inf in e5m2.
    let special = [
        241.0f32,
        449.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -0.0,
        1e-30,
    ];
    let ds = m.upload(bytemuck::cast_slice(&special), "x").unwrap();
    assert_eq!(
        run(2, 0, &ds, 7),
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00]
    );
    assert_eq!(
        run(2, 1, &ds, 7),
        [0x7F, 0x7F, 0x80, 0x80, 0x80, 0x00, 0x00]
    );
    assert_eq!(
        run(0, 0, &ds, 7),
        [0x77, 0x7F, 0x7F, 0xFF, 0x7F, 0x80, 0x00]
    );
    assert_eq!(
        run(0, 1, &ds, 7),
        [0x77, 0x7E, 0x7F, 0xFF, 0x7F, 0x80, 0x00]
    );
    assert_eq!(
        run(1, 1, &ds, 7),
        [0x5C, 0x5F, 0x7C, 0xFC, 0x7F, 0x80, 0x00]
    );
}

/// kernels/gemm_mfma.cu as gfx950 builds it (OCP e4m3fn / e5m2 operands, the same instruction) on the executor,
/// bitwise against the `cdna3` steps chained by hand with OCP decoding (the CPU GEMM specs refuse OCP codes
/// for cdna3: on gfx950 the model's arithmetic is an assumption, docs/numerics.md §8.7).
#[test]
fn mfma_gemm_as_gfx950_builds_it_equals_the_chained_model() {
    use crate::backend::cuda::gemm::BlockwiseArgs;
    use crate::gemm::mma::Model;
    use crate::testdata::{quantized, Scales};
    let m = builtin("gemm_mfma", Mode::HipGfx950).unwrap_or_else(|e| panic!("{e}"));
    for (fa, fb) in [
        (Fp8Format::E4m3fn, Fp8Format::E4m3fn),
        (Fp8Format::E5m2, Fp8Format::E4m3fn),
    ] {
        let a = quantized(20, 256, (1, 128), fa, Scales::Any, 21);
        let b = quantized(18, 256, (128, 128), fb, Scales::Any, 22);
        let args = BlockwiseArgs {
            interval: 128,
            split_k: 1,
            left: false,
            out_bf16: false,
        };
        let got = kernels::gemm(m, kernels::GemmKernel::Mfma, 64, &a, &b, &args).unwrap();
        let mut bad = 0;
        for i in 0..20 {
            for j in 0..18 {
                let mut c = 0f32;
                for iv in 0..2 {
                    let k0 = iv * 128;
                    let mut acc = 0f32;
                    for kk in (k0..k0 + 128).step_by(32) {
                        let av: Vec<f32> = a.q[i * 256 + kk..][..32]
                            .iter()
                            .map(|&x| fa.decode(x))
                            .collect();
                        let bv: Vec<f32> = b.q[j * 256 + kk..][..32]
                            .iter()
                            .map(|&x| fb.decode(x))
                            .collect();
                        acc = Model::Cdna3.instruction(acc, &av, fa, &bv, fb);
                    }
                    let (sa, sb) = (a.scales[i * 2 + iv], b.scales[iv]);
                    c = acc.mul_add(sa * sb, c);
                }
                bad += (got[i * 18 + j].to_bits() != c.to_bits()) as usize;
            }
        }
        assert_eq!(
            bad,
            0,
            "gemm_mfma (gfx950, {fa:?} × {fb:?}): {bad} of 360 outputs differ from the chained cdna3 steps"
        );
    }
}

/// kernels/compare.cu (the GPU comparison of `isolate gemm`) gives `metrics::compare`'s figures bit for bit:
/// every side combination, lengths around the chunk (4096), lane (4) and task (32 chunks) boundaries, with and
/// without NaN / ±inf / ±0, at warp 32 and 64.
#[test]
fn compare_kernel_is_the_cpu_comparison_bit_for_bit() {
    use crate::backend::compare_abi::{differences, twin_case, Side};
    let m = module("compare", Mode::Cuda);
    let sides = [
        (Side::F32, Side::F32),
        (Side::F32, Side::Bf16),
        (Side::F32AsBf16, Side::Bf16),
        (Side::F32AsBf16, Side::F32AsBf16),
        (Side::Bf16, Side::F32),
        (Side::F32AsBf16, Side::F32),
    ];
    let lens = [0usize, 1, 3, 4, 4097, 131_072 + 4096 * 3 + 5, 300_001];
    let mut checked = 0;
    for (k, &s) in sides.iter().enumerate() {
        for (j, &n) in lens.iter().enumerate() {
            for specials in [false, true] {
                let warp = if (j + k) % 2 == 0 { 32 } else { 64 };
                let (a, b, ta, tb) = twin_case(n, s, (k * 100 + j) as u64, specials);
                let got = kernels::compare(m, warp, &a, &b, s, n, &[n]).unwrap();
                let want = crate::metrics::compare(&ta, &tb).unwrap();
                let d = differences(&got, &want);
                assert!(d.is_empty(), "{s:?}, n = {n}, specials {specials}: {d:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, sides.len() * lens.len() * 2);
    // The check can fail: a one-ulp change in one element of b moves cos, or the ulp histogram.
    let (a, mut b, ta, _) = twin_case(4097, (Side::F32, Side::F32), 7, false);
    b[400] ^= 1;
    let tb = Tensor::new("b", DType::F32, vec![4097], b.clone()).unwrap();
    let got = kernels::compare(m, 32, &a, &b, (Side::F32, Side::F32), 4097, &[4097]).unwrap();
    let want = crate::metrics::compare(&ta, &tb).unwrap();
    assert!(differences(&got, &want).is_empty());
    let before =
        crate::metrics::compare(&ta, &twin_case(4097, (Side::F32, Side::F32), 7, false).3).unwrap();
    assert!(!differences(&got, &before).is_empty());
}
