//! `compare layer-bisect` (docs/method.md §3.4): over a ref-vs-target comparison, the first stage whose cos drops
//! below `--cos` or whose rel exceeds `--rel` (ATOM's `--threshold` is parsed and never read; here the
//! thresholds decide), the per-layer decay curve, and a one-line classification of its shape:
//!
//! - **sudden**: the first bad layer's drift is ≥ [`SUDDEN_JUMP`]× the drift entering it (the previous
//!   layer's, or the embedding's) — an algorithmic difference in that layer;
//! - **compounding**: drift was already growing layer by layer and crosses the threshold gradually — kernel
//!   drift;
//! - **periodic**: the bad layers are every k-th layer (k ≥ 2) and the layers between them are fine — a
//!   layer-class branch bug;
//! - **intermittent**: bad layers with good layers between them and no period;
//! - **before the layers**: the first bad stage precedes every layer (embedding, tokenization);
//! - **after the layers**: every layer is fine, a later stage is not (final norm, lm_head);
//! - **clean**: nothing crosses the thresholds.
//!
//! Drift of a stage = 1 − cos (NaN counts as +∞, and exactly equal tensors count as 0 even where the f64 cos
//! of identical vectors rounds to 1 ± 1 ulp); a layer's drift is the largest over its compared stages.

use crate::experiment::compare::ref_vs_target::{RefVsTarget, StageRow};
use crate::experiment::compare::stages::Section;
use crate::experiment::compare::Breach;
use crate::metrics::Comparison;

/// A layer's drift must jump by at least this factor over the drift entering it to count as sudden.
pub const SUDDEN_JUMP: f64 = 10.0;

/// One point of the per-layer decay curve.
#[derive(Clone, Debug)]
pub struct LayerPoint {
    pub layer: u64,
    /// The layer's output: `hidden_out` if dumped, else its last stage in natural order.
    pub output_stage: String,
    pub output_cos: f64,
    pub output_rel: f64,
    /// The stage with the largest drift in the layer.
    pub worst_stage: String,
    /// Largest 1 − cos in the layer (+∞ for NaN).
    pub drift: f64,
    /// Largest rel in the layer.
    pub rel: f64,
    /// Whether any stage of the layer crosses the thresholds.
    pub breach: bool,
}

/// The shape of the decay curve.
#[derive(Clone, Debug, PartialEq)]
pub enum Classification {
    Clean,
    BeforeLayers {
        stage: String,
    },
    AfterLayers {
        stage: String,
    },
    Sudden {
        layer: u64,
        /// Drift entering the layer.
        before: f64,
        /// The layer's drift.
        at: f64,
        /// True when later layers are below the thresholds again.
        recovers: bool,
    },
    Compounding {
        layer: u64,
        /// First layer with non-zero drift.
        from_layer: u64,
        from_drift: f64,
        at: f64,
        /// Geometric mean growth of the drift per layer between them.
        growth: f64,
    },
    Periodic {
        period: u64,
        layers: Vec<u64>,
    },
    Intermittent {
        layers: Vec<u64>,
    },
}

impl Classification {
    /// Short name for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Classification::Clean => "clean",
            Classification::BeforeLayers { .. } => "before_layers",
            Classification::AfterLayers { .. } => "after_layers",
            Classification::Sudden { .. } => "sudden",
            Classification::Compounding { .. } => "compounding",
            Classification::Periodic { .. } => "periodic",
            Classification::Intermittent { .. } => "intermittent",
        }
    }

    /// The one-line verdict.
    pub fn sentence(&self) -> String {
        let list = |v: &[u64]| {
            v.iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Classification::Clean => "clean: no stage crosses the thresholds".into(),
            Classification::BeforeLayers { stage } => format!(
                "before the layers: {stage} is already bad (embedding / tokenization / weights), fix that first"
            ),
            Classification::AfterLayers { stage } => format!(
                "after the layers: every layer is within the thresholds but {stage} is not (final norm, \
                 lm_head, or a dump taken at a different point)"
            ),
            Classification::Sudden { layer, before, at, recovers } => format!(
                "sudden drop at layer {layer} (1−cos {} → {}{}): an algorithmic bug in layer {layer} \
                 (or a kernel/branch only it takes)",
                sci(*before),
                sci(*at),
                if *recovers { ", later layers recover" } else { "" }
            ),
            Classification::Compounding { layer, from_layer, from_drift, at, growth } => format!(
                "slow compounding: 1−cos grows ×{growth:.2} per layer from {} at layer {from_layer} to {} at \
                 layer {layer}: kernel drift accumulating, not one bad layer",
                sci(*from_drift),
                sci(*at)
            ),
            Classification::Periodic { period, layers } => format!(
                "periodic layer class: every {period}th layer is bad (layers {}), the others are fine: look for \
                 a branch only that layer class takes",
                list(layers)
            ),
            Classification::Intermittent { layers } => format!(
                "intermittent: layers {} are bad with good layers between them and no period",
                list(layers)
            ),
        }
    }
}

fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_infinite() {
        "NaN".into()
    } else {
        format!("{x:.2e}")
    }
}

/// The layer-bisect result.
#[derive(Clone, Debug)]
pub struct Bisect {
    pub base: RefVsTarget,
    /// The first compared stage crossing the thresholds: (index into `base.rows`, why).
    pub first_bad: Option<(usize, Breach)>,
    pub layers: Vec<LayerPoint>,
    pub classification: Classification,
}

impl Bisect {
    /// The first bad stage's row.
    pub fn first_bad_row(&self) -> Option<&StageRow> {
        self.first_bad.map(|(i, _)| &self.base.rows[i])
    }
    /// 1 when a stage crosses the thresholds, else 0 (shape mismatches alone do not count here: they are
    /// listed, and ref-vs-target exits 1 on them).
    pub fn exit_code(&self) -> i32 {
        self.first_bad.is_some() as i32
    }
}

/// A stage's drift for the bisection: [`crate::metrics::drift`], with a NaN ranking as the worst (+∞).
pub fn drift(c: &Comparison) -> f64 {
    let d = crate::metrics::drift(c);
    if d.is_nan() {
        f64::INFINITY
    } else {
        d
    }
}

/// Builds the decay curve and classification of a ref-vs-target comparison.
pub fn layer_bisect(base: RefVsTarget) -> Bisect {
    let th = base.thresholds;
    let first_bad = base
        .rows
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.breach(&th).map(|b| (i, b)));
    let mut layers: Vec<LayerPoint> = Vec::new();
    for r in &base.rows {
        let (Section::Layer(l), Some(c)) = (&r.section, r.comparison()) else {
            continue;
        };
        let d = drift(c);
        let bad = r.breach(&th).is_some();
        if layers.last().map(|p| p.layer) != Some(*l) {
            layers.push(LayerPoint {
                layer: *l,
                output_stage: r.stage.clone(),
                output_cos: c.cos,
                output_rel: c.rel,
                worst_stage: r.stage.clone(),
                drift: d,
                rel: c.rel,
                breach: bad,
            });
            continue;
        }
        let p = layers.last_mut().unwrap();
        let is_out = r.stage.ends_with("hidden_out");
        if is_out || !p.output_stage.ends_with("hidden_out") {
            p.output_stage = r.stage.clone();
            p.output_cos = c.cos;
            p.output_rel = c.rel;
        }
        if d > p.drift || p.drift.is_nan() {
            p.drift = d;
            p.worst_stage = r.stage.clone();
        }
        p.rel = p.rel.max(c.rel);
        p.breach |= bad;
    }
    let before_layers: Option<&StageRow> = first_bad
        .map(|(i, _)| &base.rows[i])
        .filter(|r| matches!(r.section, Section::Embed));
    let entering = base
        .rows
        .iter()
        .filter(|r| matches!(r.section, Section::Embed))
        .filter_map(|r| r.comparison().map(drift))
        .fold(0.0, f64::max);
    let classification = match before_layers {
        Some(r) => Classification::BeforeLayers {
            stage: r.stage.clone(),
        },
        None if first_bad.is_none() => Classification::Clean,
        None => classify(&layers, entering).unwrap_or_else(|| Classification::AfterLayers {
            stage: base.rows[first_bad.unwrap().0].stage.clone(),
        }),
    };
    Bisect {
        base,
        first_bad,
        layers,
        classification,
    }
}

/// Classifies a decay curve (layers in order) given the drift entering the first layer. None when no layer
/// crosses the thresholds.
pub fn classify(layers: &[LayerPoint], entering: f64) -> Option<Classification> {
    let bad: Vec<u64> = layers
        .iter()
        .filter(|p| p.breach)
        .map(|p| p.layer)
        .collect();
    let first = *bad.first()?;
    let i0 = layers.iter().position(|p| p.layer == first).unwrap();
    let suffix = layers[i0..].iter().all(|p| p.breach);
    if !suffix && bad.len() >= 2 {
        let k = bad[1..].iter().fold(0, |g, &l| gcd(g, l - first));
        let last = *bad.last().unwrap();
        let periodic = k >= 2
            && layers
                .iter()
                .filter(|p| p.layer >= first && p.layer <= last)
                .all(|p| p.breach == ((p.layer - first) % k == 0));
        return Some(if periodic {
            Classification::Periodic {
                period: k,
                layers: bad,
            }
        } else {
            Classification::Intermittent { layers: bad }
        });
    }
    let at = layers[i0].drift;
    let before = if i0 == 0 {
        entering
    } else {
        layers[i0 - 1].drift
    };
    if before == 0.0 || at.is_infinite() || at >= SUDDEN_JUMP * before {
        return Some(Classification::Sudden {
            layer: first,
            before,
            at,
            recovers: !suffix,
        });
    }
    let j0 = layers[..=i0]
        .iter()
        .position(|p| p.drift > 0.0)
        .unwrap_or(i0);
    let (from, to) = (&layers[j0], &layers[i0]);
    let steps = (to.layer - from.layer).max(1) as f64;
    Some(Classification::Compounding {
        layer: first,
        from_layer: from.layer,
        from_drift: from.drift,
        at,
        growth: (to.drift / from.drift).powf(1.0 / steps),
    })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(drifts: &[f64], th_drift: f64) -> Vec<LayerPoint> {
        drifts
            .iter()
            .enumerate()
            .map(|(l, &d)| LayerPoint {
                layer: l as u64,
                output_stage: format!("layer{l}.hidden_out"),
                output_cos: 1.0 - d,
                output_rel: 0.0,
                worst_stage: format!("layer{l}.hidden_out"),
                drift: d,
                rel: 0.0,
                breach: d > th_drift,
            })
            .collect()
    }

    #[test]
    fn sudden_drop() {
        let c = classify(&curve(&[0.0, 0.0, 0.0, 0.02, 0.05, 0.08], 1e-3), 0.0).unwrap();
        assert!(
            matches!(
                c,
                Classification::Sudden {
                    layer: 3,
                    recovers: false,
                    ..
                }
            ),
            "{c:?}"
        );
        // Small drift before, then a ×500 jump: still sudden.
        let c = classify(&curve(&[1e-6, 1e-6, 2e-6, 1e-3 * 2.0, 3e-3], 1e-3), 0.0).unwrap();
        assert!(
            matches!(c, Classification::Sudden { layer: 3, .. }),
            "{c:?}"
        );
        // One bad layer that later layers absorb.
        let c = classify(&curve(&[0.0, 0.5, 1e-5, 1e-5], 1e-3), 0.0).unwrap();
        assert!(
            matches!(
                c,
                Classification::Sudden {
                    layer: 1,
                    recovers: true,
                    ..
                }
            ),
            "{c:?}"
        );
    }

    #[test]
    fn slow_compounding() {
        let d: Vec<f64> = (0..30).map(|l| 1e-4 * (l as f64 + 1.0)).collect();
        let c = classify(&curve(&d, 1e-3), 0.0).unwrap();
        match c {
            Classification::Compounding {
                layer,
                from_layer,
                growth,
                ..
            } => {
                assert_eq!((layer, from_layer), (10, 0));
                assert!((growth - 11f64.powf(0.1)).abs() < 1e-12);
            }
            other => panic!("{other:?}"),
        }
        // Drift entering from the embedding counts for layer 0.
        let c = classify(&curve(&[2e-3], 1e-3), 1e-3).unwrap();
        assert!(matches!(c, Classification::Compounding { .. }), "{c:?}");
        let c = classify(&curve(&[2e-3], 1e-3), 1e-5).unwrap();
        assert!(matches!(c, Classification::Sudden { .. }), "{c:?}");
    }

    #[test]
    fn periodic_and_intermittent() {
        let d = [0.0, 0.01, 0.0, 0.01, 0.0, 0.01, 0.0, 0.01];
        let c = classify(&curve(&d, 1e-3), 0.0).unwrap();
        assert_eq!(
            c,
            Classification::Periodic {
                period: 2,
                layers: vec![1, 3, 5, 7]
            }
        );
        let d = [0.0, 0.0, 0.01, 0.0, 0.0, 0.01, 0.0, 0.0, 0.01, 0.0];
        let c = classify(&curve(&d, 1e-3), 0.0).unwrap();
        assert!(
            matches!(c, Classification::Periodic { period: 3, .. }),
            "{c:?}"
        );
        // Layer 5 breaks the period.
        let d = [0.0, 0.01, 0.0, 0.01, 0.0, 0.01, 0.01, 0.0];
        let c = classify(&curve(&d, 1e-3), 0.0).unwrap();
        assert!(matches!(c, Classification::Intermittent { .. }), "{c:?}");
        let d = [0.0, 0.01, 0.01, 0.0, 0.0, 0.0, 0.01, 0.0];
        let c = classify(&curve(&d, 1e-3), 0.0).unwrap();
        assert!(matches!(c, Classification::Intermittent { .. }), "{c:?}");
        assert_eq!(classify(&curve(&[0.0, 1e-4], 1e-3), 0.0), None);
    }
}
