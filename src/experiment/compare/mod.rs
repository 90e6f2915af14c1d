//! The seed's compare suite (`seed/dump-bisect-debug.md` Phases 1–5 and 8; ATOM compare.py, numerics-spec
//! §1): `ref-vs-target`, `layer-bisect`, `schema` and `slot-invariance`. Presentation lives in
//! `report::compare_*`.

pub mod dumps;
pub mod layer_bisect;
pub mod layer_dumps;
pub mod ref_vs_target;
pub mod schema;
pub mod slots;
pub mod stages;

/// Drift thresholds: a stage is bad when `cos < cos` or `rel > rel` (or cos/rel is NaN). The seed's Phase 4
/// rule; defaults 0.999 and 0.1 (ATOM's `--threshold` default, which its code never read).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub cos: f64,
    pub rel: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            cos: 0.999,
            rel: 0.1,
        }
    }
}

/// Why a stage counts as bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// cos or rel is NaN.
    Nan,
    /// cos below the threshold.
    Cos,
    /// rel above the threshold.
    Rel,
}

impl Thresholds {
    /// Whether (cos, rel) crosses the thresholds, and how (cos is checked first).
    pub fn breach(&self, cos: f64, rel: f64) -> Option<Breach> {
        if cos.is_nan() || rel.is_nan() {
            Some(Breach::Nan)
        } else if cos < self.cos {
            Some(Breach::Cos)
        } else if rel > self.rel {
            Some(Breach::Rel)
        } else {
            None
        }
    }

    /// "cos 0.99731 < 0.999" style explanation.
    pub fn explain(&self, b: Breach, cos: f64, rel: f64) -> String {
        match b {
            Breach::Nan => format!("cos {cos} / rel {rel} is NaN"),
            Breach::Cos => format!("cos {cos:.9} < {}", self.cos),
            Breach::Rel => format!("rel {rel:.6} > {}", self.rel),
        }
    }
}

impl Breach {
    /// Short name for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Breach::Nan => "nan",
            Breach::Cos => "cos",
            Breach::Rel => "rel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_strict_and_cos_first() {
        let t = Thresholds {
            cos: 0.99,
            rel: 0.2,
        };
        assert_eq!(t.breach(0.99, 0.2), None);
        assert_eq!(t.breach(0.9899, 0.0), Some(Breach::Cos));
        assert_eq!(t.breach(0.995, 0.21), Some(Breach::Rel));
        assert_eq!(t.breach(0.5, 0.5), Some(Breach::Cos));
        assert_eq!(t.breach(f64::NAN, 0.0), Some(Breach::Nan));
        assert_eq!(t.breach(1.0, f64::NAN), Some(Breach::Nan));
    }
}
