//! The compare suite (docs/method.md §3.1–§3.5 and §3.8; ATOM's compare.py, docs/numerics.md §9):
//! `ref-vs-target`, `layer-bisect`, `schema` and `slot-invariance`, each a typed request turned into a result.
//! Presentation lives in `report::compare`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub mod dumps;
pub mod layer_bisect;
pub mod layer_dumps;
pub mod ref_vs_target;
pub mod schema;
pub mod slots;
pub mod stages;

/// Drift thresholds: a stage is bad when `cos < cos` or `rel > rel` (or cos/rel is NaN). Phase 4's rule
/// (docs/method.md §3.4, docs/numerics.md §9.9); defaults 0.999 and 0.1 (ATOM's `--threshold` default, which its
/// code never read).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageThresholds {
    pub cos: f64,
    pub rel: f64,
}

impl Default for StageThresholds {
    fn default() -> Self {
        StageThresholds {
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

impl StageThresholds {
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

/// Where the two forward dumps of `ref-vs-target` / `layer-bisect` come from.
#[derive(Clone, Debug, PartialEq)]
pub enum FwdSource {
    /// An ATOM dump directory with `atom_rank{R}_fwd.pt` and `ref_rank{R}_fwd.pt`.
    Dir { dir: PathBuf, rank: u32 },
    /// Two dumps (any `.pt` / `.safetensors` dict of stage → tensor).
    Files { target: PathBuf, reference: PathBuf },
}

/// `compare ref-vs-target` and `compare layer-bisect`.
#[derive(Clone, Debug)]
pub struct FwdRequest {
    pub source: FwdSource,
    pub order: dumps::OrderChoice,
    pub thresholds: StageThresholds,
}

/// Runs `compare ref-vs-target`.
pub fn run_ref_vs_target(req: &FwdRequest) -> Result<ref_vs_target::RefVsTarget> {
    for (name, v) in [("cos", req.thresholds.cos), ("rel", req.thresholds.rel)] {
        if !v.is_finite() {
            return Err(Error::Usage(format!(
                "--{name} {v}: expected a finite number"
            )));
        }
    }
    let (t, r) = match &req.source {
        FwdSource::Dir { dir, rank } => dumps::locate_fwd_pair(dir, *rank)?,
        FwdSource::Files { target, reference } => (target.clone(), reference.clone()),
    };
    let (t, r) = (dumps::load_dump(&t)?, dumps::load_dump(&r)?);
    ref_vs_target::ref_vs_target(&t, &r, req.order, req.thresholds)
}

/// Runs `compare layer-bisect`.
pub fn run_layer_bisect(req: &FwdRequest) -> Result<layer_bisect::Bisect> {
    Ok(layer_bisect::layer_bisect(run_ref_vs_target(req)?))
}

/// `compare schema`.
#[derive(Clone, Debug)]
pub struct SchemaRequest {
    pub a: Vec<PathBuf>,
    pub b: Vec<PathBuf>,
    pub options: schema::SchemaOptions,
}

/// Runs `compare schema`.
pub fn run_schema(req: &SchemaRequest) -> Result<schema::SchemaReport> {
    let load = |paths: &[PathBuf]| -> Result<Vec<crate::io::TensorFile>> {
        paths
            .iter()
            .map(|p| crate::io::load(Path::new(p)))
            .collect()
    };
    schema::schema(&load(&req.a)?, &load(&req.b)?, req.options.clone())
}

/// `compare slot-invariance`.
#[derive(Clone, Debug)]
pub struct SlotRequest {
    pub dir: PathBuf,
    pub rank: u32,
    pub n_slots: usize,
    pub criterion: slots::Criterion,
    /// The module class that contains the others (sorted last within a layer).
    pub block_class: String,
}

/// Runs `compare slot-invariance`.
pub fn run_slots(req: &SlotRequest) -> Result<slots::SlotReport> {
    slots::slot_invariance(
        &req.dir,
        req.rank,
        req.n_slots,
        req.criterion,
        &req.block_class,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_strict_and_cos_first() {
        let t = StageThresholds {
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
