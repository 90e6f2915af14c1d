//! Deterministic test data, the one source of randomness for the selftest, the benchmarks and the tests: a
//! SplitMix64 generator, the edge values every codec kernel must agree on (±0, subnormals, ties, the 448/464/480
//! boundaries, NaN, inf, powers of two and the values just above them that split `float-ceil` from `ceil`), and
//! random FP8 operands with block scales.

use crate::formats::{Fp8Format, Overflow};
use crate::quant::Quantized;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator, the same stream on every platform
/// (no dependency, so library code can use it).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, n) (multiply-shift: no modulo bias worth speaking of for n < 2^32).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Edge values of f32 for codec kernels, both signs.
pub fn edge_values() -> Vec<f32> {
    let mut v: Vec<f32> = vec![
        0.0,
        f32::from_bits(1),
        f32::from_bits(3),
        f32::from_bits(0x0040_0000),
        f32::from_bits(0x0040_0001),
        f32::from_bits(0x0060_0000),
        f32::from_bits(0x007F_FFFF),
        f32::MIN_POSITIVE,
        1.0,
        1.5,
        f32::from_bits(1.5f32.to_bits() - 1),
        448.0,
        464.0,
        f32::from_bits(464f32.to_bits() + 1),
        f32::from_bits(464f32.to_bits() - 1),
        479.99,
        480.0,
        f32::from_bits(480f32.to_bits() - 1),
        240.0,
        247.9,
        248.0,
        255.0,
        256.0,
        57344.0,
        61439.0,
        61440.0,
        65536.0,
        f32::MAX,
        f32::INFINITY,
        f32::NAN,
        f32::from_bits(0x7F80_0001),
        f32::from_bits(0x7FFF_FFFF),
        2f32.powi(-6),
        2f32.powi(-7),
        2f32.powi(-9),
        2f32.powi(-10),
        1.5 * 2f32.powi(-10),
        2f32.powi(-14),
        2f32.powi(-16),
        2f32.powi(-17),
        1e-4,
        1e-4 / 448.0,
        1e-10,
    ];
    // Powers of two and the values just above and below them (float-ceil vs ceil), every binade.
    for e in 1..255u32 {
        let p = e << 23;
        v.extend(
            [
                p,
                p + 1,
                p + 2,
                p + 3,
                p + 5,
                p + 11,
                p + 22,
                p + 23,
                p + 40,
                p - 1,
            ]
            .map(f32::from_bits),
        );
        // Ties of e4m3 / e5m2 rounding inside the binade (mantissa halfway patterns).
        v.extend(
            [
                p | 0x0008_0000,
                p | 0x0018_0000,
                p | 0x0010_0000,
                p | 0x0040_0000,
            ]
            .map(f32::from_bits),
        );
    }
    // e4m3fn subnormal ties: k · 2^-10 for odd k.
    v.extend((1..32).map(|k| k as f32 * 2f32.powi(-10)));
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    v
}

/// `n` f32 inputs for a codec kernel: the edge values, then random bit patterns, then values around the FP8
/// ranges (normal × random power of two).
pub fn codec_inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut v = edge_values();
    while v.len() < n {
        let x = match v.len() % 3 {
            0 => f32::from_bits(rng.next_u32()),
            1 => (rng.normal() * 2f64.powi(rng.below(40) as i32 - 20)) as f32,
            _ => {
                // Exact e4m3 ties and near-ties at every magnitude the format holds.
                let c = rng.below(126) as u8;
                let a = Fp8Format::E4m3fn.decode(c);
                let b = Fp8Format::E4m3fn.decode(c + 1);
                let mid = (a + b) * 0.5;
                f32::from_bits(
                    mid.to_bits()
                        .wrapping_add(rng.below(3) as u32)
                        .wrapping_sub(1),
                )
            }
        };
        v.push(x);
    }
    v
}

/// How the FP8 codes of a random operand are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codes {
    /// Every finite code equally likely (exercises every exponent, subnormals included).
    Uniform,
    /// Normal values of spread max/4 encoded with saturation (what real activations look like).
    Normal,
    /// Runs of 32 codes along each row (one tensor-core instruction's k) drawn to stress accumulator models:
    /// all zero, all subnormal, ±max magnitude, mixed exponents (a few large codes among tiny ones), sparse,
    /// or uniform.
    Groups,
}

/// How the block scales of a random operand are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scales {
    /// Powers of two 2^e, e ∈ [−14, −3] (E8M0-style scales).
    Pow2,
    /// Arbitrary positive f32 values 2^e·(1 + u), u ∈ [0, 1) (f32 scales).
    Any,
}

/// A random quantized operand `[rows, cols]` of `fmt` in `br × bc` scale blocks (no NaN codes).
pub fn random_quantized(
    rng: &mut Rng,
    rows: usize,
    cols: usize,
    (br, bc): (usize, usize),
    fmt: Fp8Format,
    codes: Codes,
    scales: Scales,
) -> Quantized {
    let spread = fmt.max_finite() as f64 / 4.0;
    let q: Vec<u8> = (0..rows * cols)
        .map(|_| match codes {
            Codes::Normal => fmt.encode((rng.normal() * spread) as f32, Overflow::Saturate),
            Codes::Uniform | Codes::Groups => finite_code(rng, fmt),
        })
        .collect();
    let mut q = q;
    if codes == Codes::Groups {
        for row in q.chunks_mut(cols.max(1)) {
            for run in row.chunks_mut(32) {
                stress_run(rng, fmt, run);
            }
        }
    }
    let (gr, gc) = (rows.div_ceil(br), cols.div_ceil(bc));
    let scales = (0..gr * gc)
        .map(|_| {
            let e = rng.below(12) as i32 - 14;
            match scales {
                Scales::Pow2 => 2f32.powi(e),
                Scales::Any => (2f64.powi(e) * (1.0 + rng.unit())) as f32,
            }
        })
        .collect();
    Quantized {
        rows,
        cols,
        fmt,
        q,
        block_rows: br,
        block_cols: bc,
        scales,
    }
}

/// A uniformly drawn finite code of `fmt`.
fn finite_code(rng: &mut Rng, fmt: Fp8Format) -> u8 {
    loop {
        let c = rng.below(256) as u8;
        if !fmt.is_nan(c) && fmt.decode(c).is_finite() {
            return c;
        }
    }
}

/// Fills one run of [`Codes::Groups`].
fn stress_run(rng: &mut Rng, fmt: Fp8Format, run: &mut [u8]) {
    let sign = |rng: &mut Rng, c: u8| {
        // fnuz has no −0: 0x80 is its NaN.
        if c & 0x7F != 0 && rng.below(2) == 1 {
            c | 0x80
        } else {
            c
        }
    };
    let mant = (1u8 << fmt.mantissa_bits()) - 1;
    match rng.below(7) {
        0 => run.iter_mut().for_each(|c| *c = 0),
        1 => run.iter_mut().for_each(|c| {
            let v = (rng.below(mant as usize) + 1) as u8;
            *c = sign(rng, v)
        }),
        2 => {
            let max = fmt.max_code() & 0x7F;
            run.iter_mut().for_each(|c| {
                let v = max - rng.below(2) as u8;
                *c = sign(rng, v)
            })
        }
        3 => {
            // Mixed exponents: tiny codes (subnormal or smallest normals) with a few large ones.
            let max = fmt.max_code() & 0x7F;
            for c in run.iter_mut() {
                let v = if rng.below(8) == 0 {
                    max - rng.below(24) as u8
                } else {
                    rng.below(2 * mant as usize + 2) as u8
                };
                *c = sign(rng, v);
            }
        }
        4 => run.iter_mut().for_each(|c| {
            *c = if rng.below(6) == 0 {
                finite_code(rng, fmt)
            } else {
                0
            }
        }),
        _ => run.iter_mut().for_each(|c| *c = finite_code(rng, fmt)),
    }
}

/// [`random_quantized`] with uniform codes from a fresh generator seeded with `seed` (the tests' shorthand).
pub fn quantized(
    rows: usize,
    cols: usize,
    block: (usize, usize),
    fmt: Fp8Format,
    scales: Scales,
    seed: u64,
) -> Quantized {
    random_quantized(
        &mut Rng::new(seed),
        rows,
        cols,
        block,
        fmt,
        Codes::Uniform,
        scales,
    )
}
