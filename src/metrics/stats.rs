//! Summary statistics of one tensor (for `inspect`): min, max, mean, NaN and inf counts, in f64.

use rayon::prelude::*;

use crate::formats::convert;
use crate::io::Tensor;
use crate::metrics::sum::Neumaier;

/// Summary of a floating tensor's values.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub abs_max: f64,
    pub nan: usize,
    pub inf: usize,
}

/// Min/max/mean over the finite elements (NaN and ±inf are counted, not folded in). An empty tensor or one
/// with no finite element gives NaN for min, max and mean.
pub fn summarize(t: &Tensor) -> Summary {
    let n = t.numel();
    let (d, b) = (t.dtype, t.bytes());
    #[derive(Clone)]
    struct P {
        min: f64,
        max: f64,
        sum: Neumaier,
        finite: usize,
        nan: usize,
        inf: usize,
    }
    let init = || P {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: Neumaier::default(),
        finite: 0,
        nan: 0,
        inf: 0,
    };
    let p = (0..n.div_ceil(1 << 16))
        .into_par_iter()
        .map(|c| {
            let mut p = init();
            for i in c << 16..((c + 1) << 16).min(n) {
                let x = convert::element_f64(d, b, i);
                if x.is_nan() {
                    p.nan += 1;
                } else if x.is_infinite() {
                    p.inf += 1;
                } else {
                    p.min = p.min.min(x);
                    p.max = p.max.max(x);
                    p.sum.add(x);
                    p.finite += 1;
                }
            }
            p
        })
        .reduce(init, |mut a, b| {
            a.min = a.min.min(b.min);
            a.max = a.max.max(b.max);
            a.sum.merge(b.sum);
            a.finite += b.finite;
            a.nan += b.nan;
            a.inf += b.inf;
            a
        });
    let (min, max, mean) = if p.finite == 0 {
        (f64::NAN, f64::NAN, f64::NAN)
    } else {
        (p.min, p.max, p.sum.value() / p.finite as f64)
    };
    Summary {
        min,
        max,
        mean,
        abs_max: min.abs().max(max.abs()),
        nan: p.nan,
        inf: p.inf,
    }
}
