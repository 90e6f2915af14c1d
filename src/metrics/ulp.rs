//! Distance in units in the last place, in a tensor's own format: codes are mapped to integers that are
//! ordered like the values they encode, so the distance is the number of representable values between two
//! elements (−0 and +0 are the same point; NaN has no place and is counted apart).

use crate::formats::DType;

/// The ordered integer of element `i` of `bytes` in `dtype`, or None for NaN (and for non-float dtypes).
#[inline]
pub fn ordered(dtype: DType, b: &[u8], i: usize) -> Option<i64> {
    let sm = |mag: u64, neg: bool| if neg { -(mag as i64) } else { mag as i64 };
    match dtype {
        DType::F64 => {
            let u = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
            let mag = u & 0x7FFF_FFFF_FFFF_FFFF;
            (mag <= 0x7FF0_0000_0000_0000).then(|| sm(mag, u >> 63 != 0))
        }
        DType::F32 => {
            let u = u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
            let mag = u & 0x7FFF_FFFF;
            (mag <= 0x7F80_0000).then(|| sm(mag as u64, u >> 31 != 0))
        }
        DType::BF16 | DType::F16 => {
            let u = u16::from_le_bytes([b[i * 2], b[i * 2 + 1]]);
            let mag = u & 0x7FFF;
            let inf = if dtype == DType::BF16 { 0x7F80 } else { 0x7C00 };
            (mag <= inf).then(|| sm(mag as u64, u >> 15 != 0))
        }
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 => {
            let f = dtype.fp8_format().unwrap();
            let c = b[i];
            (!f.is_nan(c)).then(|| sm((c & 0x7F) as u64, c & 0x80 != 0))
        }
        DType::F8E8M0 => (b[i] != 0xFF).then_some(b[i] as i64),
        _ => None,
    }
}

/// Exact counts below this distance; log2 buckets above.
pub const EXACT: usize = 4096;

/// Distribution of ulp distances over the elements where both sides are not NaN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UlpHistogram {
    exact: Vec<u64>,
    log2: [u64; 64],
    /// Largest distance seen.
    pub max: u64,
    /// Elements counted.
    pub count: u64,
}

impl Default for UlpHistogram {
    fn default() -> Self {
        UlpHistogram {
            exact: vec![0; EXACT],
            log2: [0; 64],
            max: 0,
            count: 0,
        }
    }
}

impl UlpHistogram {
    /// Records one distance.
    #[inline]
    pub fn add(&mut self, d: u64) {
        if (d as usize) < EXACT {
            self.exact[d as usize] += 1;
        } else {
            self.log2[63 - d.leading_zeros() as usize] += 1;
        }
        self.max = self.max.max(d);
        self.count += 1;
    }

    /// The histogram of counts made elsewhere (the GPU comparison, src/backend/cuda/compare.rs): `exact[d]` for
    /// d < [`EXACT`], `log2[k]` for 2^k ≤ d < 2^(k+1) above; None when `exact` is not [`EXACT`] long.
    pub fn from_counts(exact: Vec<u64>, log2: [u64; 64], max: u64) -> Option<UlpHistogram> {
        if exact.len() != EXACT {
            return None;
        }
        let count = exact.iter().chain(&log2).sum();
        Some(UlpHistogram {
            exact,
            log2,
            max,
            count,
        })
    }

    /// Merges another histogram.
    pub fn merge(&mut self, o: &UlpHistogram) {
        for (a, b) in self.exact.iter_mut().zip(&o.exact) {
            *a += b;
        }
        for (a, b) in self.log2.iter_mut().zip(&o.log2) {
            *a += b;
        }
        self.max = self.max.max(o.max);
        self.count += o.count;
    }

    /// The q-quantile (0..=1) of the distances: exact below 4096 ulp, else the lower bound of its power-of-two
    /// bucket. None when nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count - 1) as f64 * q).floor() as u64;
        let mut seen = 0u64;
        for (d, &c) in self.exact.iter().enumerate() {
            seen += c;
            if seen > rank {
                return Some(d as u64);
            }
        }
        for (k, &c) in self.log2.iter().enumerate() {
            seen += c;
            if seen > rank {
                return Some(1u64 << k);
            }
        }
        Some(self.max)
    }

    /// Fraction of counted elements within `d` ulp.
    pub fn fraction_within(&self, d: u64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let n: u64 = self.exact.iter().take((d as usize + 1).min(EXACT)).sum();
        n as f64 / self.count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_signs_meet_and_nan_is_apart() {
        let b = [0x00u8, 0x80, 0x01, 0x81, 0x7F];
        let f = DType::F8E4M3FN;
        assert_eq!(ordered(f, &b, 0), Some(0));
        assert_eq!(ordered(f, &b, 1), Some(0));
        assert_eq!(ordered(f, &b, 2), Some(1));
        assert_eq!(ordered(f, &b, 3), Some(-1));
        assert_eq!(ordered(f, &b, 4), None);
        let x = 1.0f32.to_le_bytes();
        let y = f32::from_bits(1.0f32.to_bits() + 3).to_le_bytes();
        assert_eq!(
            ordered(DType::F32, &y, 0).unwrap() - ordered(DType::F32, &x, 0).unwrap(),
            3
        );
    }

    #[test]
    fn quantiles() {
        let mut h = UlpHistogram::default();
        for d in [0, 0, 1, 2, 10_000] {
            h.add(d);
        }
        assert_eq!(h.quantile(0.5), Some(1));
        assert_eq!(h.quantile(1.0), Some(8192));
        assert_eq!(h.max, 10_000);
        assert_eq!(h.fraction_within(1), 0.6);
    }
}
