//! Test inputs for the selftest and the GPU tests: a small deterministic PRNG and the edge values every kernel
//! must agree on (±0, subnormals, ties, the 448/464/480 boundaries, NaN, inf, powers of two and the values
//! just above them that split `float-ceil` from `ceil`).

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator for test data (no dependency).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

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

    /// Uniform in [0, n).
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
                let a = crate::formats::Fp8Format::E4m3fn.decode(c);
                let b = crate::formats::Fp8Format::E4m3fn.decode(c + 1);
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

/// A random quantized operand `[rows, cols]` in `br × bc` blocks: codes from normal values (no NaN codes)
/// and f32 scales, powers of two when `pow2` (E8M0-style) else arbitrary positive values.
pub fn random_quantized(
    rng: &mut Rng,
    rows: usize,
    cols: usize,
    (br, bc): (usize, usize),
    fmt: crate::formats::Fp8Format,
    pow2: bool,
) -> crate::quant::Quantized {
    use crate::formats::Overflow;
    let spread = fmt.max_finite() as f64 / 4.0;
    let q: Vec<u8> = (0..rows * cols)
        .map(|_| fmt.encode((rng.normal() * spread) as f32, Overflow::Saturate))
        .collect();
    let (gr, gc) = (rows.div_ceil(br), cols.div_ceil(bc));
    let scales = (0..gr * gc)
        .map(|_| {
            let e = rng.below(12) as i32 - 14;
            if pow2 {
                2f32.powi(e)
            } else {
                (2f64.powi(e) * (1.0 + rng.unit())) as f32
            }
        })
        .collect();
    crate::quant::Quantized {
        rows,
        cols,
        fmt,
        q,
        block_rows: br,
        block_cols: bc,
        scales,
    }
}
