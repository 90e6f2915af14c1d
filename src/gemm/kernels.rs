//! The inner loops of the CPU emulation, register-blocked over a tile of A rows × B columns.
//!
//! Layout: A rows are row-major with stride `lda` (= K); the B tile is stored transposed, `bt[k · NT + j]`
//! for its NT columns, so one k step reads NT contiguous values. Each kernel has a portable body and, on
//! x86-64, the same body compiled with AVX2+FMA, chosen at run time. Both give identical bits: the f64 sums
//! are only used where they are exact (any order, any contraction), and the f32 kernels use explicit
//! `mul_add` (a correctly rounded FMA in both builds: a `vfmadd` or libm's `fmaf`).

/// Columns of a B tile.
pub const NT: usize = 64;
/// Columns per register block.
const NB: usize = 8;
/// Rows per register block.
const MR: usize = 4;

/// A tile of A rows: `a[(i) · lda + k]` for i in 0..rows.
#[derive(Clone, Copy)]
pub struct ATile<'a> {
    pub a: &'a [f32],
    pub lda: usize,
    pub rows: usize,
}

/// part[i · NT + j] = Σ_{k ∈ [k0, k1)} a[i][k] · bt[k][j], accumulated in f64 from +0, k ascending.
pub fn sums_f64(at: ATile, bt: &[f32], k0: usize, k1: usize, part: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { sums_f64_avx2(at, bt, k0, k1, part) };
        return;
    }
    sums_f64_body(at, bt, k0, k1, part)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sums_f64_avx2(at: ATile, bt: &[f32], k0: usize, k1: usize, part: &mut [f64]) {
    sums_f64_body(at, bt, k0, k1, part)
}

#[inline(always)]
fn sums_f64_body(at: ATile, bt: &[f32], k0: usize, k1: usize, part: &mut [f64]) {
    let mut i = 0;
    while i + MR <= at.rows {
        sums_block::<MR>(at, i, bt, k0, k1, part);
        i += MR;
    }
    while i < at.rows {
        sums_block::<1>(at, i, bt, k0, k1, part);
        i += 1;
    }
}

#[inline(always)]
fn sums_block<const R: usize>(
    at: ATile,
    i0: usize,
    bt: &[f32],
    k0: usize,
    k1: usize,
    part: &mut [f64],
) {
    for jb in (0..NT).step_by(NB) {
        let mut acc = [[0f64; NB]; R];
        for k in k0..k1 {
            let b: &[f32; NB] = bt[k * NT + jb..k * NT + jb + NB].try_into().unwrap();
            for (r, row) in acc.iter_mut().enumerate() {
                let av = at.a[(i0 + r) * at.lda + k] as f64;
                for c in 0..NB {
                    row[c] += av * b[c] as f64;
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            part[(i0 + r) * NT + jb..(i0 + r) * NT + jb + NB].copy_from_slice(row);
        }
    }
}

/// acc[i · NT + j] = fma(a[i][k], bt[k][j], acc) for k = k0, k0+1, … , k1−1 in order (f32).
pub fn seq_f32(at: ATile, bt: &[f32], k0: usize, k1: usize, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { seq_f32_avx2(at, bt, k0, k1, acc) };
        return;
    }
    seq_body(at, bt, k0, k1, acc, None)
}

/// acc[i · NT + j] = fma(fl32(a[i][k] · bt[k][j]), sigma[i · NT + j], acc) for k ascending (f32): the
/// in-accumulator scaling of `promote=none`.
pub fn seq_f32_scaled(at: ATile, bt: &[f32], k0: usize, k1: usize, sigma: &[f32], acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { seq_f32_scaled_avx2(at, bt, k0, k1, sigma, acc) };
        return;
    }
    seq_body(at, bt, k0, k1, acc, Some(sigma))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn seq_f32_avx2(at: ATile, bt: &[f32], k0: usize, k1: usize, acc: &mut [f32]) {
    seq_body(at, bt, k0, k1, acc, None)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn seq_f32_scaled_avx2(
    at: ATile,
    bt: &[f32],
    k0: usize,
    k1: usize,
    sigma: &[f32],
    acc: &mut [f32],
) {
    seq_body(at, bt, k0, k1, acc, Some(sigma))
}

#[inline(always)]
fn seq_body(at: ATile, bt: &[f32], k0: usize, k1: usize, acc: &mut [f32], sigma: Option<&[f32]>) {
    let mut i = 0;
    while i + MR <= at.rows {
        match sigma {
            None => seq_block::<MR, false>(at, i, bt, k0, k1, acc, &[]),
            Some(s) => seq_block::<MR, true>(at, i, bt, k0, k1, acc, s),
        }
        i += MR;
    }
    while i < at.rows {
        match sigma {
            None => seq_block::<1, false>(at, i, bt, k0, k1, acc, &[]),
            Some(s) => seq_block::<1, true>(at, i, bt, k0, k1, acc, s),
        }
        i += 1;
    }
}

/// Columns per register block of the f32 kernels.
const NB32: usize = 16;

#[inline(always)]
fn seq_block<const R: usize, const SCALED: bool>(
    at: ATile,
    i0: usize,
    bt: &[f32],
    k0: usize,
    k1: usize,
    out: &mut [f32],
    sigma: &[f32],
) {
    for jb in (0..NT).step_by(NB32) {
        let mut acc = [[0f32; NB32]; R];
        let mut sg = [[0f32; NB32]; R];
        for r in 0..R {
            let o = (i0 + r) * NT + jb;
            acc[r].copy_from_slice(&out[o..o + NB32]);
            if SCALED {
                sg[r].copy_from_slice(&sigma[o..o + NB32]);
            }
        }
        for k in k0..k1 {
            let b: &[f32; NB32] = bt[k * NT + jb..k * NT + jb + NB32].try_into().unwrap();
            for r in 0..R {
                let av = at.a[(i0 + r) * at.lda + k];
                for c in 0..NB32 {
                    acc[r][c] = if SCALED {
                        (av * b[c]).mul_add(sg[r][c], acc[r][c])
                    } else {
                        av.mul_add(b[c], acc[r][c])
                    };
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let o = (i0 + r) * NT + jb;
            out[o..o + NB32].copy_from_slice(row);
        }
    }
}

/// Promotion of a tile of f32 partials: fused, acc = fma(p, σ, acc) with σ = fl32(sa · sb); or left,
/// acc = fl32(fl32(fl32(p · sa) · sb) + acc).
pub fn promote_f32(part: &[f32], sa: &[f32], sb: &[f32], fused: bool, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { promote_fma(part, sa, sb, fused, acc) };
        return;
    }
    promote_body(part, sa, sb, fused, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn promote_fma(part: &[f32], sa: &[f32], sb: &[f32], fused: bool, acc: &mut [f32]) {
    promote_body(part, sa, sb, fused, acc)
}

#[inline(always)]
fn promote_body(part: &[f32], sa: &[f32], sb: &[f32], fused: bool, acc: &mut [f32]) {
    for (i, &a) in sa.iter().enumerate() {
        let row = i * NT..(i + 1) * NT;
        let (p, c) = (&part[row.clone()], &mut acc[row]);
        for j in 0..NT {
            c[j] = if fused {
                p[j].mul_add(a * sb[j], c[j])
            } else {
                p[j] * a * sb[j] + c[j]
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: usize, k: usize, seed: u32) -> Vec<f32> {
        (0..rows * k)
            .map(|i| {
                let h = (i as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed)
                    .rotate_left(7);
                ((h % 2001) as f32 - 1000.0) / 64.0
            })
            .collect()
    }

    #[test]
    fn kernels_match_naive_loops() {
        let (rows, k) = (7, 40);
        let a = data(rows, k, 1);
        let bt = data(k, NT, 2);
        let at = ATile {
            a: &a,
            lda: k,
            rows,
        };
        let mut part = vec![0f64; rows * NT];
        sums_f64(at, &bt, 3, 37, &mut part);
        let mut acc = vec![0.5f32; rows * NT];
        seq_f32(at, &bt, 3, 37, &mut acc);
        let sigma = data(rows, NT, 3);
        let mut sacc = vec![0.25f32; rows * NT];
        seq_f32_scaled(at, &bt, 3, 37, &sigma, &mut sacc);
        for i in 0..rows {
            for j in 0..NT {
                let mut s = 0f64;
                let (mut f, mut g) = (0.5f32, 0.25f32);
                for kk in 3..37 {
                    s += a[i * k + kk] as f64 * bt[kk * NT + j] as f64;
                    f = a[i * k + kk].mul_add(bt[kk * NT + j], f);
                    g = (a[i * k + kk] * bt[kk * NT + j]).mul_add(sigma[i * NT + j], g);
                }
                assert_eq!(part[i * NT + j], s);
                assert_eq!(acc[i * NT + j].to_bits(), f.to_bits());
                assert_eq!(sacc[i * NT + j].to_bits(), g.to_bits());
            }
        }
    }
}
