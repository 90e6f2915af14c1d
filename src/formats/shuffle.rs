//! aiter's weight byte layout: `aiter/ops/shuffle.py::shuffle_weight(x, layout=(16, 16))` (docs/numerics.md §7.4)
//! and its inverse, as pure permutations of element bytes.
//!
//! With IN = 16, BK = 32 and Kp = 16 / element size, aiter does
//! `x.view(-1, N/16, 16, K/32, 32/Kp, Kp).permute(0, 1, 3, 4, 2, 5).contiguous().view(shape)` over the last two
//! dimensions `[N, K]` (leading dimensions are a batch of matrices). It needs `N % 16 == 0` and `K % 32 == 0`
//! (K counted in elements). For 1-byte elements the source element (n, k) lands at
//! `((((n/16 · K/32 + k/32) · 2 + (k%32)/16) · 16 + n%16) · 16 + k%16)`.

use crate::error::{Error, Result};

/// The `layout=(16, 16)` geometry for one matrix `[n, k]` of `elem`-byte elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aiter16x16 {
    n: usize,
    k: usize,
    /// Kp = 16 / element size (elements per 16-byte vector).
    kp: usize,
}

impl Aiter16x16 {
    /// Checks aiter's preconditions for a matrix `[n, k]` of `elem`-byte elements (1 or 2 bytes: fp8/int8 or
    /// bf16/f16; aiter's int4 variant is not covered).
    pub fn new(n: usize, k: usize, elem: usize) -> Result<Self> {
        if elem != 1 && elem != 2 {
            return Err(Error::Usage(format!(
                "aiter16x16 shuffle covers 1- and 2-byte elements, not {elem}-byte ones"
            )));
        }
        if n % 16 != 0 || k % 32 != 0 {
            return Err(Error::Usage(format!(
                "aiter16x16 shuffle needs N % 16 == 0 and K % 32 == 0, got [N, K] = [{n}, {k}]"
            )));
        }
        Ok(Aiter16x16 {
            n,
            k,
            kp: 16 / elem,
        })
    }

    /// Destination element index (within one matrix) of source element (row, col).
    #[inline]
    pub fn dst(&self, row: usize, col: usize) -> usize {
        let (n0, n1) = (row / 16, row % 16);
        let kb = 32 / self.kp; // vectors per 32-element K block
        let (k0, rest) = (col / 32, col % 32);
        let (k1, k2) = (rest / self.kp, rest % self.kp);
        (((n0 * (self.k / 32) + k0) * kb + k1) * 16 + n1) * self.kp + k2
    }
}

/// Splits a shape into (batch, N, K) for the last two dimensions.
fn matrix_dims(shape: &[usize]) -> Result<(usize, usize, usize)> {
    if shape.len() < 2 {
        return Err(Error::Usage(format!(
            "aiter16x16 shuffle needs a matrix, got shape {shape:?}"
        )));
    }
    let (n, k) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let batch = shape[..shape.len() - 2].iter().product();
    Ok((batch, n, k))
}

fn permute(bytes: &[u8], shape: &[usize], elem: usize, forward: bool) -> Result<Vec<u8>> {
    let (batch, n, k) = matrix_dims(shape)?;
    let g = Aiter16x16::new(n, k, elem)?;
    let mat = n * k * elem;
    if bytes.len() != batch * mat {
        return Err(Error::Usage(format!(
            "aiter16x16 shuffle: {} bytes do not hold shape {shape:?} of {elem}-byte elements",
            bytes.len()
        )));
    }
    let mut out = vec![0u8; bytes.len()];
    for b in 0..batch {
        let base = b * mat;
        for row in 0..n {
            for col in 0..k {
                let s = base + (row * k + col) * elem;
                let d = base + g.dst(row, col) * elem;
                let (from, to) = if forward { (s, d) } else { (d, s) };
                out[to..to + elem].copy_from_slice(&bytes[from..from + elem]);
            }
        }
    }
    Ok(out)
}

/// aiter `shuffle_weight(x, layout=(16, 16))` on raw little-endian bytes of `shape` (last two dims = [N, K]).
pub fn shuffle_aiter16x16(bytes: &[u8], shape: &[usize], elem: usize) -> Result<Vec<u8>> {
    permute(bytes, shape, elem, true)
}

/// The inverse of [`shuffle_aiter16x16`]: turns aiter's shuffled bytes back into row-major `[N, K]`.
pub fn unshuffle_aiter16x16(bytes: &[u8], shape: &[usize], elem: usize) -> Result<Vec<u8>> {
    permute(bytes, shape, elem, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    /// aiter's own recipe, written with ndarray's reshape + permute (an independent implementation).
    fn view_permute(bytes: &[u8], batch: usize, n: usize, k: usize, elem: usize) -> Vec<u8> {
        let kp = 16 / elem;
        // Work on element indices, then expand to bytes.
        let idx: Vec<usize> = (0..batch * n * k).collect();
        let a =
            ArrayD::from_shape_vec(IxDyn(&[batch, n / 16, 16, k / 32, 32 / kp, kp]), idx).unwrap();
        let p = a.permuted_axes(IxDyn(&[0, 1, 3, 4, 2, 5]));
        let order: Vec<usize> = p.as_standard_layout().iter().copied().collect();
        order
            .iter()
            .flat_map(|&src| bytes[src * elem..(src + 1) * elem].iter().copied())
            .collect()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + i / 256) as u8).collect()
    }

    #[test]
    fn matches_view_permute_and_round_trips() {
        for &(batch, n, k, elem) in &[
            (1, 16, 32, 1),
            (1, 48, 96, 1),
            (3, 32, 64, 1),
            (1, 16, 32, 2),
            (2, 32, 96, 2),
        ] {
            let bytes = pattern(batch * n * k * elem);
            let shape = if batch == 1 {
                vec![n, k]
            } else {
                vec![batch, n, k]
            };
            let s = shuffle_aiter16x16(&bytes, &shape, elem).unwrap();
            assert_eq!(
                s,
                view_permute(&bytes, batch, n, k, elem),
                "{shape:?} elem {elem}"
            );
            assert_ne!(s, bytes);
            assert_eq!(unshuffle_aiter16x16(&s, &shape, elem).unwrap(), bytes);
        }
    }

    #[test]
    fn one_byte_formula_of_the_spec() {
        let (n, k) = (64, 128);
        let g = Aiter16x16::new(n, k, 1).unwrap();
        let mut seen = vec![false; n * k];
        for row in 0..n {
            for col in 0..k {
                let (n0, n1, k0, k1, k2) =
                    (row / 16, row % 16, col / 32, (col % 32) / 16, col % 16);
                let want = (((n0 * (k / 32) + k0) * 2 + k1) * 16 + n1) * 16 + k2;
                assert_eq!(g.dst(row, col), want);
                assert!(!seen[want]);
                seen[want] = true;
            }
        }
    }

    #[test]
    fn refuses_bad_geometry() {
        assert!(shuffle_aiter16x16(&[0; 8 * 32], &[8, 32], 1).is_err());
        assert!(shuffle_aiter16x16(&[0; 16 * 16], &[16, 16], 1).is_err());
        assert!(shuffle_aiter16x16(&[0; 16 * 32 * 4], &[16, 32], 4).is_err());
        assert!(shuffle_aiter16x16(&[0; 16], &[16], 1).is_err());
    }
}
