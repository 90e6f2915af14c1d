//! Shape checks and the K geometry of one GEMM emulation: promotion intervals, the unit of exact summation,
//! and the split-K ranges. Every bad shape is one line naming the operand and what was expected.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::gemm::operand::Operand;
use crate::gemm::spec::{Acc, GemmSpec, Promote};

/// K steps of the truncated accumulator (one m64nNk32 FP8 WGMMA consumes 32 K; docs/numerics.md §8.2, §8.4).
pub const TRUNC_STEP: usize = 32;

/// Interval used with `promote=none` when neither operand has scales (σ = 1 everywhere, so the interval
/// only sets the granularity of split-K).
pub const PLAIN_INTERVAL: usize = 128;

/// The geometry of a GEMM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// K length of one promotion interval (P, or the common scale-block width for `promote=none`); the last
    /// one may be shorter for plain operands.
    pub interval: usize,
    /// Number of intervals (⌈K / interval⌉).
    pub n_intervals: usize,
    /// Length of one exactly summed unit of products: the interval, or 32 for `trunc`.
    pub unit: usize,
    /// The intervals of each split, in order.
    pub splits: Vec<Range<usize>>,
    /// Whether some operand has scales (else every σ is 1).
    pub scaled: bool,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Checks `a` (activation, [M, K]) and `b` (weight, [N, K]) against `spec` and returns the plan. The
/// operands are those the emulation multiplies, i.e. after `dequant` has been applied.
pub fn plan(spec: &GemmSpec, a: &Operand, b: &Operand) -> Result<Plan> {
    a.validate("activation")?;
    b.validate("weight")?;
    let (m, k, n) = (a.rows(), a.cols(), b.rows());
    if b.cols() != k {
        return Err(Error::BadTensor(format!(
            "inner dimensions disagree: activation is [M, K] = [{m}, {k}] but weight is [N, K] = [{n}, {}]; \
             C = A·Bᵀ needs the same K",
            b.cols()
        )));
    }
    if k == 0 {
        return Err(Error::BadTensor(
            "K = 0: the activation and weight have no columns to multiply".into(),
        ));
    }
    let blocks: Vec<(&str, usize)> = [("activation", a), ("weight", b)]
        .into_iter()
        .filter_map(|(r, o)| o.k_block().map(|bc| (r, bc)))
        .collect();
    for &(role, bc) in &blocks {
        if k % bc != 0 {
            return Err(Error::BadTensor(format!(
                "K = {k} is not a multiple of the {role}'s {bc}-wide scale blocks; a block-scaled GEMM needs \
                 whole blocks along K (pad K with zeros)"
            )));
        }
    }
    let interval = match spec.promote {
        Promote::Every(p) => {
            for &(role, bc) in &blocks {
                if bc % p != 0 {
                    return Err(Error::Usage(format!(
                        "promote={p} does not fit the {role}'s {bc}-wide scale blocks: a promotion interval \
                         must lie inside one block (use promote={bc} or a divisor of it)"
                    )));
                }
            }
            p
        }
        Promote::None => {
            let g = blocks
                .iter()
                .map(|&(_, bc)| bc)
                .reduce(gcd)
                .unwrap_or(PLAIN_INTERVAL);
            // An MMA chain does not restart at interval boundaries: the interval only sets split-K's grain.
            if matches!(spec.acc, Acc::Mma(_)) {
                gcd(g, PLAIN_INTERVAL)
            } else {
                g
            }
        }
    };
    let unit = match spec.acc {
        Acc::Trunc(_) => {
            if interval % TRUNC_STEP != 0 && !blocks.is_empty() {
                return Err(Error::Usage(format!(
                    "acc=trunc steps 32 K at a time, but the scale blocks are {interval} wide: \
                     use block widths that are multiples of 32"
                )));
            }
            TRUNC_STEP
        }
        _ => interval,
    };
    crate::gemm::mma_plan::check(spec, a, b, k, interval)?;
    let n_intervals = k.div_ceil(interval);
    let s = spec.split_k;
    if s > n_intervals {
        return Err(Error::Usage(format!(
            "split_k={s} exceeds the {n_intervals} K intervals of {interval} (K = {k}); use split_k ≤ {n_intervals}"
        )));
    }
    let splits = (0..s)
        .map(|i| i * n_intervals / s..(i + 1) * n_intervals / s)
        .collect();
    Ok(Plan {
        m,
        n,
        k,
        interval,
        n_intervals,
        unit,
        splits,
        scaled: !blocks.is_empty(),
    })
}

impl Plan {
    /// The K range of interval `i`.
    pub fn interval_range(&self, i: usize) -> Range<usize> {
        i * self.interval..((i + 1) * self.interval).min(self.k)
    }
    /// Number of exact-summation units along K.
    pub fn n_units(&self) -> usize {
        self.k.div_ceil(self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Fp8Format;
    use crate::quant::Quantized;

    fn q(rows: usize, cols: usize, br: usize, bc: usize) -> Operand {
        let (gr, gc) = (rows.div_ceil(br), cols.div_ceil(bc));
        Operand::Quantized(Quantized {
            rows,
            cols,
            fmt: Fp8Format::E4m3fn,
            q: vec![0x38; rows * cols],
            block_rows: br,
            block_cols: bc,
            scales: vec![1.0; gr * gc],
        })
    }

    fn err(spec: &str, a: &Operand, b: &Operand) -> String {
        match plan(&GemmSpec::parse(spec).unwrap(), a, b) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("expected an error, got {p:?}"),
        }
    }

    #[test]
    fn geometry_of_the_presets() {
        let (a, b) = (q(4, 512, 1, 128), q(256, 512, 128, 128));
        let p = plan(&GemmSpec::parse("blockwise,split_k=3").unwrap(), &a, &b).unwrap();
        assert_eq!(
            (p.m, p.n, p.k, p.interval, p.n_intervals, p.unit),
            (4, 256, 512, 128, 4, 128)
        );
        assert_eq!(p.splits, vec![0..1, 1..2, 2..4]);
        let f = plan(
            &GemmSpec::parse("blockwise,promote=none,acc=trunc:13").unwrap(),
            &a,
            &b,
        )
        .unwrap();
        assert_eq!((f.interval, f.unit), (128, 32));
        let a64 = q(4, 512, 1, 64);
        let g = plan(
            &GemmSpec::parse("blockwise,promote=none,acc=trunc:13").unwrap(),
            &a64,
            &b,
        )
        .unwrap();
        assert_eq!(g.interval, 64);
        let pl = Operand::plain(2, 300, vec![0.0; 600]).unwrap();
        let pb = Operand::plain(3, 300, vec![0.0; 900]).unwrap();
        let h = plan(&GemmSpec::parse("blockwise").unwrap(), &pl, &pb).unwrap();
        assert_eq!((h.n_intervals, h.interval_range(2)), (3, 256..300));
        assert!(!h.scaled);
    }

    #[test]
    fn bad_shapes_are_one_clear_line() {
        let (a, b) = (q(4, 512, 1, 128), q(256, 512, 128, 128));
        let b2 = q(256, 384, 128, 128);
        assert!(err("blockwise", &a, &b2).contains("inner dimensions disagree"));
        let (a3, b3) = (q(4, 200, 1, 100), q(256, 200, 128, 100));
        assert!(err("blockwise", &a3, &b3).contains("promote=128 does not fit"));
        let (a4, b4) = (q(4, 300, 1, 128), q(256, 300, 128, 128));
        assert!(err("blockwise", &a4, &b4).contains("K = 300 is not a multiple"));
        assert!(err("blockwise,split_k=5", &a, &b).contains("split_k=5 exceeds the 4 K intervals"));
        let mut bad = q(256, 512, 128, 128);
        if let Operand::Quantized(x) = &mut bad {
            x.scales.pop();
        }
        let e = err("blockwise", &a, &bad);
        assert!(
            e.contains("weight") && e.contains("[2, 4] scale grid"),
            "{e}"
        );
        let (a5, b5) = (q(4, 480, 1, 48), q(256, 480, 48, 48));
        assert!(err("blockwise,promote=none,acc=trunc:13", &a5, &b5).contains("multiples of 32"));
    }
}
