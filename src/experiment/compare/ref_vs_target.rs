//! `compare ref-vs-target`: one row per stage common to a target and a reference forward dump, in natural
//! order, with the metrics of `metrics::compare` (ATOM `cmd_ref_vs_target`, docs/method.md §3.3: target = a,
//! reference = b, so rel is normalised by the reference, docs/numerics.md §9.2). Unlike ATOM, a shape mismatch
//! is reported on its stage and never truncated, and stages present on one side only are listed.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::experiment::compare::dumps::{
    check_input_ids, squeeze_pair, stage_order, Dump, InputIds, OrderChoice, INPUT_IDS,
};
use crate::experiment::compare::stages::{parse, Section};
use crate::experiment::compare::{Breach, StageThresholds};
use crate::formats::DType;
use crate::metrics::{byte_equal_fraction_per_byte, compare, Comparison, Severity};

/// What happened to one common stage.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Compared; with ATOM's per-byte equality fraction (`byte_equal_pct`).
    Compared {
        cmp: Box<Comparison>,
        byte_equal_bytes: f64,
    },
    /// Shapes differ after the squeeze: nothing is compared.
    ShapeMismatch,
    /// The tensors cannot be compared (e.g. a dtype without numbers).
    NotComparable(String),
}

/// One stage's row.
#[derive(Clone, Debug)]
pub struct StageRow {
    pub stage: String,
    pub section: Section,
    /// Shapes after the squeeze (docs/method.md §4).
    pub target_shape: Vec<usize>,
    pub ref_shape: Vec<usize>,
    pub target_dtype: DType,
    pub ref_dtype: DType,
    pub outcome: Outcome,
}

impl StageRow {
    /// The comparison, when there is one.
    pub fn comparison(&self) -> Option<&Comparison> {
        match &self.outcome {
            Outcome::Compared { cmp, .. } => Some(cmp),
            _ => None,
        }
    }
    /// The severity flag, or "shape"/"n/a" when nothing was compared.
    pub fn flag(&self) -> &'static str {
        match &self.outcome {
            Outcome::Compared { cmp, .. } => cmp.severity().symbol(),
            Outcome::ShapeMismatch => "shape",
            Outcome::NotComparable(_) => "n/a",
        }
    }
    /// The severity, when compared.
    pub fn severity(&self) -> Option<Severity> {
        self.comparison().map(|c| c.severity())
    }
    /// Whether the row crosses the thresholds (compared rows only).
    pub fn breach(&self, th: &StageThresholds) -> Option<Breach> {
        self.comparison().and_then(|c| th.breach(c.cos, c.rel))
    }
}

/// The whole comparison.
#[derive(Clone, Debug)]
pub struct RefVsTarget {
    pub target: PathBuf,
    pub reference: PathBuf,
    pub input_ids: InputIds,
    pub rows: Vec<StageRow>,
    pub only_target: Vec<String>,
    pub only_reference: Vec<String>,
    /// Notes from the readers (entries that are not tensors, …).
    pub notes: Vec<String>,
    pub thresholds: StageThresholds,
}

impl RefVsTarget {
    /// Rows that were compared.
    pub fn compared(&self) -> impl Iterator<Item = &StageRow> {
        self.rows.iter().filter(|r| r.comparison().is_some())
    }
    /// Rows whose shapes differ.
    pub fn shape_mismatches(&self) -> impl Iterator<Item = &StageRow> {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::ShapeMismatch))
    }
    /// The first compared row (natural order) that crosses the thresholds.
    pub fn first_breach(&self) -> Option<(&StageRow, Breach)> {
        self.rows
            .iter()
            .find_map(|r| r.breach(&self.thresholds).map(|b| (r, b)))
    }
    /// 1 when a stage crosses the thresholds or a shape differs, else 0.
    pub fn exit_code(&self) -> i32 {
        let bad = self.first_breach().is_some()
            || self.shape_mismatches().next().is_some()
            || self
                .rows
                .iter()
                .any(|r| matches!(r.outcome, Outcome::NotComparable(_)));
        bad as i32
    }
}

/// Compares every common stage of `target` against `reference`.
///
/// Errors (exit 2): `embed.input_ids` differ; no stage names in common (input_ids aside); nothing could be
/// compared (every common stage's shape differs).
pub fn ref_vs_target(
    target: &Dump,
    reference: &Dump,
    order: OrderChoice,
    thresholds: StageThresholds,
) -> Result<RefVsTarget> {
    let input_ids = check_input_ids(target, reference)?;
    let order = stage_order(order, &[target, reference]);
    let tnames: HashSet<&str> = target
        .file
        .tensors
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let rnames: HashSet<&str> = reference
        .file
        .tensors
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let mut common: Vec<String> = tnames
        .intersection(&rnames)
        .map(|s| s.to_string())
        .collect();
    let mut only_target: Vec<String> = tnames.difference(&rnames).map(|s| s.to_string()).collect();
    let mut only_reference: Vec<String> =
        rnames.difference(&tnames).map(|s| s.to_string()).collect();
    order.sort(&mut common);
    order.sort(&mut only_target);
    order.sort(&mut only_reference);
    if common.iter().all(|n| n == INPUT_IDS) {
        return Err(Error::BadTensor(format!(
            "no stage names in common between target {} ({}) and reference {} ({})",
            target.path().display(),
            preview(&only_target),
            reference.path().display(),
            preview(&only_reference)
        )));
    }
    let mut rows = Vec::with_capacity(common.len());
    for name in &common {
        let t = target.file.get(name).expect("common name");
        let r = reference.file.get(name).expect("common name");
        let (t, r) = squeeze_pair(t, r);
        let outcome = if t.shape != r.shape {
            Outcome::ShapeMismatch
        } else {
            match compare(&t, &r) {
                Ok(cmp) => Outcome::Compared {
                    byte_equal_bytes: byte_equal_fraction_per_byte(&t, &r),
                    cmp: Box::new(cmp),
                },
                Err(e) => Outcome::NotComparable(e.to_string()),
            }
        };
        rows.push(StageRow {
            stage: name.clone(),
            section: parse(name).0,
            target_shape: t.shape.clone(),
            ref_shape: r.shape.clone(),
            target_dtype: t.dtype,
            ref_dtype: r.dtype,
            outcome,
        });
    }
    if rows.iter().all(|r| r.comparison().is_none()) {
        let what: Vec<String> = rows
            .iter()
            .take(4)
            .map(|r| match &r.outcome {
                Outcome::NotComparable(why) => format!("{}: {why}", r.stage),
                _ => format!("{}: {:?} vs {:?}", r.stage, r.target_shape, r.ref_shape),
            })
            .collect();
        return Err(Error::BadTensor(format!(
            "nothing could be compared between target {} and reference {}: {}{}",
            target.path().display(),
            reference.path().display(),
            what.join("; "),
            if rows.len() > 4 {
                format!("; … {} more", rows.len() - 4)
            } else {
                String::new()
            }
        )));
    }
    let notes = target
        .file
        .notes
        .iter()
        .map(|n| format!("target: {n}"))
        .chain(
            reference
                .file
                .notes
                .iter()
                .map(|n| format!("reference: {n}")),
        )
        .collect();
    Ok(RefVsTarget {
        target: target.path().to_path_buf(),
        reference: reference.path().to_path_buf(),
        input_ids,
        rows,
        only_target,
        only_reference,
        notes,
        thresholds,
    })
}

/// "n names: a, b, c, …" for error messages.
pub fn preview(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = names.len().saturating_sub(5);
    format!(
        "{} stage{}: {}{}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if more > 0 {
            format!(", … {more} more")
        } else {
            String::new()
        }
    )
}
