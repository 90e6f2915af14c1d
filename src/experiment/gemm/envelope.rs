//! The noise envelope of `isolate gemm`: is the drift between A and B as large as FP8 itself makes it?
//!
//! - The **quantization floor** of the site is the drift of the reference path B from the exact product X of
//!   the unquantized operands: `x` as dumped, the weight as the GEMM multiplies it (FP8 codes times their
//!   scales, or a floating `w` as dumped), multiplied by the `exact` emulation (exact partial sums, f64
//!   promotion and accumulation, rounded once to f32). It is measured in the metrics of the paths: 1 − cos,
//!   rel, max_abs and the ulp distance in B's format.
//! - The **ratio** is drift(A, B) / floor in each metric; the 1 − cos ratio gives the reading: below
//!   `noise` "≪ 1: GEMM-order noise", up to `bug` "≈ 1: as large as FP8 quantization itself", above it
//!   "> 1: larger than quantization — a bug" ([`EnvelopeThresholds`]).
//! - The **GEMM-order floor** is the spread between bit-exact emulations of legitimate accumulation orders on
//!   the reference activation and the weight (block-exact `blockwise`, `blockwise-v3`'s scale order, the
//!   Hopper wgmma model `sm90-blockwise`): the largest pairwise drift. A drift(A, B) no larger is harmless.
//!
//! Operands that cannot give an exact product (no `x`, a shape that is not B's, NaN/inf in `x` or the
//! weight) make the floor *unavailable* with the reason; never an error.

use crate::backend::Backend;
use crate::gemm::{GemmChoice, Operand};
use crate::io::Tensor;
use crate::metrics::{compare, Comparison};

/// Where the reading of a ratio changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnvelopeThresholds {
    /// Ratio (of 1 − cos) below which the drift is GEMM-order noise (0.1).
    pub noise: f64,
    /// Ratio above which the drift is larger than quantization: a bug (10; the reasons are in
    /// `isolate gemm --help`).
    pub bug: f64,
    /// The envelope's extra GEMMs run on the CPU (the exact product, the Hopper model): above this many
    /// multiply-adds per GEMM (M·N·K) it is skipped with the reason, so a large GPU run keeps its speed.
    pub max_macs: f64,
}

impl Default for EnvelopeThresholds {
    fn default() -> Self {
        EnvelopeThresholds {
            noise: 0.1,
            bug: 10.0,
            max_macs: 4e9,
        }
    }
}

/// The reading of a ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    Noise,
    Quantization,
    Bug,
}

impl Reading {
    /// Its JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            Reading::Noise => "noise",
            Reading::Quantization => "quantization",
            Reading::Bug => "bug",
        }
    }
    /// The plain reading.
    pub fn text(self) -> &'static str {
        match self {
            Reading::Noise => "≪ 1: GEMM-order noise",
            Reading::Quantization => "≈ 1: as large as FP8 quantization itself",
            Reading::Bug => "> 1: larger than quantization — a bug",
        }
    }
    /// The reading of a 1 − cos ratio.
    pub fn of(ratio: f64, t: &EnvelopeThresholds) -> Reading {
        if ratio < t.noise {
            Reading::Noise
        } else if ratio <= t.bug {
            Reading::Quantization
        } else {
            Reading::Bug
        }
    }
}

/// One comparison in the envelope's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// 1 − cos ([`crate::metrics::drift`]).
    pub drift: f64,
    pub cos: f64,
    pub rel: f64,
    pub max_abs: f64,
    /// Median and largest ulp distance in the first operand's format (None without a float format).
    pub ulp_median: Option<u64>,
    pub ulp_max: Option<u64>,
}

impl Spread {
    /// From a comparison.
    pub fn of(c: &Comparison) -> Spread {
        Spread {
            drift: c.drift(),
            cos: c.cos,
            rel: c.rel,
            max_abs: c.max_abs,
            ulp_median: c.ulp.as_ref().and_then(|h| h.quantile(0.5)),
            ulp_max: c.ulp.as_ref().map(|h| h.max),
        }
    }
    /// The elementwise largest of two spreads (NaN wins).
    fn max(&self, o: &Spread) -> Spread {
        let m = |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        };
        Spread {
            drift: m(self.drift, o.drift),
            cos: if self.cos.is_nan() || o.cos.is_nan() {
                f64::NAN
            } else {
                self.cos.min(o.cos)
            },
            rel: m(self.rel, o.rel),
            max_abs: m(self.max_abs, o.max_abs),
            ulp_median: self.ulp_median.max(o.ulp_median),
            ulp_max: self.ulp_max.max(o.ulp_max),
        }
    }
}

/// drift(A, B) / floor in each metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratios {
    pub drift: f64,
    pub rel: f64,
    pub max_abs: f64,
    /// Of the largest ulp distances (None without them).
    pub ulp_max: Option<f64>,
}

/// A figure or the reason it could not be computed.
pub type Avail<T> = std::result::Result<T, String>;

/// The GEMM-order floor: the spread between legitimate accumulation orders.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmOrder {
    /// The orders that ran on this data.
    pub orders: Vec<String>,
    /// Orders that refused the operands, with why.
    pub skipped: Vec<(String, String)>,
    /// The largest pairwise spread.
    pub spread: Spread,
    /// drift(A, B) ≤ the spread's 1 − cos: harmless.
    pub drift_within: bool,
}

/// The envelope of one `isolate gemm` run.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// A against B.
    pub drift: Spread,
    /// B against the exact product X.
    pub floor: Avail<Spread>,
    /// drift / floor (when the floor is available and not 0).
    pub ratio: Avail<Ratios>,
    /// The reading of `ratio.drift`.
    pub reading: Option<Reading>,
    pub gemm_order: Avail<GemmOrder>,
    pub thresholds: EnvelopeThresholds,
    /// What X is made of, and caveats.
    pub notes: Vec<String>,
}

/// The orders whose spread is the GEMM-order floor.
pub const ORDERS: [&str; 3] = ["blockwise", "blockwise-v3", "sm90-blockwise"];

/// What the envelope is computed from.
pub struct EnvelopeInputs<'a> {
    /// The dump's `x` (None: not given).
    pub x: Option<&'a Tensor>,
    /// M, N, K of the paths.
    pub shape: (usize, usize, usize),
    /// Whether the reference quantizer is `none` (then the floor is only B's output rounding).
    pub ref_unquantized: bool,
    /// The reference GEMM (its output type is the one the orders round to).
    pub ref_gemm: &'a GemmChoice,
    /// A against B, as `isolate gemm` compared them (or why they could not be).
    pub a_vs_b: std::result::Result<&'a Comparison, String>,
    /// The operands and B on the host, asked for only when the floor is computed (a large run skips it).
    pub host: &'a dyn Fn() -> crate::error::Result<HostOperands<'a>>,
}

/// The host data of the floor and the GEMM-order spread.
pub struct HostOperands<'a> {
    /// The weight as the paths multiply it.
    pub weight: &'a Operand,
    /// The reference activation.
    pub ref_act: &'a Operand,
    /// Path B's output.
    pub b: &'a Tensor,
}

/// Why `x` and the weight cannot give an exact product, if they cannot.
fn exact_operands(x: Option<&Tensor>, inp: &HostOperands) -> Avail<Operand> {
    let x = x.ok_or_else(|| {
        "no `x` in the dump: the floor needs the unquantized activation (give --input with `x`, or map it with \
         --name x=TENSOR)"
            .to_string()
    })?;
    let xo = Operand::from_tensor(x).map_err(|e| format!("`x` cannot be multiplied: {e}"))?;
    let (m, k) = (inp.ref_act.rows(), inp.ref_act.cols());
    if (xo.rows(), xo.cols()) != (m, k) {
        return Err(format!(
            "`x` is [{}, {}] but the activation is [{m}, {k}]",
            xo.rows(),
            xo.cols()
        ));
    }
    let bad_x = match &xo {
        Operand::Plain { values, .. } => values.iter().filter(|v| !v.is_finite()).count(),
        Operand::Quantized(_) => 0,
    };
    if bad_x > 0 {
        return Err(format!(
            "`x` holds {bad_x} NaN/inf values: there is no exact product to measure B against"
        ));
    }
    let bad_w = match inp.weight {
        Operand::Plain { values, .. } => values.iter().filter(|v| !v.is_finite()).count(),
        Operand::Quantized(q) => {
            q.q.iter()
                .filter(|&&c| !q.fmt.decode(c).is_finite())
                .count()
                + q.scales.iter().filter(|s| !s.is_finite()).count()
        }
    };
    if bad_w > 0 {
        return Err(format!(
            "the weight holds {bad_w} NaN/inf codes, values or scales: there is no exact product to measure B \
             against"
        ));
    }
    Ok(xo)
}

/// Computes the envelope; GEMMs run on `be`.
pub fn envelope(be: &dyn Backend, inp: &EnvelopeInputs, t: &EnvelopeThresholds) -> Envelope {
    let mut notes = Vec::new();
    let (m, n, k) = inp.shape;
    let macs = m as f64 * n as f64 * k as f64;
    let unavailable = |drift: Spread, why: String| Envelope {
        drift,
        floor: Err(why.clone()),
        ratio: Err(why.clone()),
        reading: None,
        gemm_order: Err(why),
        thresholds: *t,
        notes: Vec::new(),
    };
    let drift = match &inp.a_vs_b {
        Ok(c) => Spread::of(c),
        Err(e) => {
            let mut e = unavailable(Spread::of_nan(), format!("A and B cannot be compared: {e}"));
            e.ratio = Err("no drift".into());
            e.gemm_order = Err("no drift".into());
            return e;
        }
    };
    if macs > t.max_macs {
        return unavailable(
            drift,
            format!(
                "skipped: M·N·K = {macs:.2e} multiply-adds per GEMM is over --envelope-max-macs {:.1e} (the \
                 exact product and the Hopper model run on the CPU)",
                t.max_macs
            ),
        );
    }
    let host = match (inp.host)() {
        Ok(h) => h,
        Err(e) => return unavailable(drift, format!("the operands could not be read back: {e}")),
    };
    let floor = exact_operands(inp.x, &host).and_then(|xo| {
        let exact = GemmChoice::parse("exact").map_err(|e| e.to_string())?;
        let out = crate::backend::run_gemm(be, &exact, &xo, host.weight, &|_, _| {})
            .and_then(|o| o.to_tensor("X"))
            .map_err(|e| format!("the exact product failed: {e}"))?;
        let c = compare(host.b, &out).map_err(|e| format!("B and X cannot be compared: {e}"))?;
        if c.nan_a > 0 {
            return Err(format!(
                "B holds {} NaN values: the floor is undefined",
                c.nan_a
            ));
        }
        Ok(Spread::of(&c))
    });
    if floor.is_ok() {
        notes.push(format!(
            "floor: B against X = exact(x, w) (x as dumped; the weight {}; exact partial sums, f64 accumulation, \
             one rounding to f32)",
            match host.weight {
                Operand::Quantized(_) => "as its FP8 codes times their scales",
                Operand::Plain { .. } => "as given",
            }
        ));
        if matches!(host.weight, Operand::Quantized(_)) {
            notes.push(
                "the weight's own quantization is in X too: the floor is the activation's quantization and B's \
                 GEMM"
                    .into(),
            );
        }
        if inp.ref_unquantized {
            notes.push(
                "the reference quantizer is `none`: the floor is only B's GEMM and output rounding, not FP8 \
                 quantization"
                    .into(),
            );
        }
    }
    let ratio = match &floor {
        Err(e) => Err(e.clone()),
        Ok(f) if f.drift.is_nan() || f.drift <= 0.0 => Err(format!(
            "the floor is {} (B is the exact product as far as 1 − cos sees): no ratio",
            f.drift
        )),
        Ok(f) => Ok(Ratios {
            drift: drift.drift / f.drift,
            rel: drift.rel / f.rel,
            max_abs: drift.max_abs / f.max_abs,
            ulp_max: match (drift.ulp_max, f.ulp_max) {
                (Some(d), Some(f)) if f > 0 => Some(d as f64 / f as f64),
                _ => None,
            },
        }),
    };
    let reading = ratio
        .as_ref()
        .ok()
        .filter(|r| !r.drift.is_nan())
        .map(|r| Reading::of(r.drift, t));
    let gemm_order = gemm_order(be, &host, inp.ref_gemm, &drift);
    Envelope {
        drift,
        floor,
        ratio,
        reading,
        gemm_order,
        thresholds: *t,
        notes,
    }
}

impl Spread {
    fn of_nan() -> Spread {
        Spread {
            drift: f64::NAN,
            cos: f64::NAN,
            rel: f64::NAN,
            max_abs: f64::NAN,
            ulp_median: None,
            ulp_max: None,
        }
    }
}

/// Runs the [`ORDERS`] on the reference activation and the weight and takes the largest pairwise spread.
fn gemm_order(
    be: &dyn Backend,
    inp: &HostOperands,
    ref_gemm: &GemmChoice,
    drift: &Spread,
) -> Avail<GemmOrder> {
    let out_type = ref_gemm.out();
    let mut outs: Vec<(String, Tensor)> = Vec::new();
    let mut skipped = Vec::new();
    for name in ORDERS {
        let choice = GemmChoice::parse(name)
            .map(|c| c.with_out(out_type))
            .map_err(|e| e.to_string());
        let out = choice.and_then(|c| {
            crate::backend::run_gemm(be, &c, inp.ref_act, inp.weight, &|_, _| {})
                .and_then(|o| o.to_tensor(name))
                .map_err(|e| e.to_string())
        });
        match out {
            Ok(o) => outs.push((name.to_string(), o)),
            Err(e) => skipped.push((name.to_string(), e)),
        }
    }
    if outs.len() < 2 {
        return Err(format!(
            "fewer than two accumulation orders accept these operands ({})",
            skipped
                .iter()
                .map(|(n, e)| format!("{n}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let mut spread: Option<Spread> = None;
    for i in 0..outs.len() {
        for j in i + 1..outs.len() {
            let c = compare(&outs[i].1, &outs[j].1).map_err(|e| e.to_string())?;
            let s = Spread::of(&c);
            spread = Some(match spread {
                None => s,
                Some(p) => p.max(&s),
            });
        }
    }
    let spread = spread.unwrap_or_else(Spread::of_nan);
    Ok(GemmOrder {
        orders: outs.into_iter().map(|(n, _)| n).collect(),
        skipped,
        drift_within: drift.drift <= spread.drift,
        spread,
    })
}
