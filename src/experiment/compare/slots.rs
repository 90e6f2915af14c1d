//! `compare slot-invariance` (docs/method.md §3.8, §5.1; ATOM `cmd_slot_invariance`): the same
//! prompt in every batch slot must give bitwise-identical outputs. Reads ATOM's per-layer dump files
//! `layer{LL}_{Cls}_rank{R}[_call{NNN}].pt`, picks the real prefill call, splits its `hidden` into slots and
//! compares every slot with slot 0.
//!
//! Deviations from ATOM, all visible in the report: a `hidden` of rank ≥ 3 with a leading 1 is squeezed
//! before its token count is read; skipped (layer, stage) keys are listed with the reason; a (layer, stage)
//! counts as diverging when any slot is not bitwise equal to slot 0 (`Criterion::Bitwise`, the V4 paper's
//! property) or, as ATOM's exit code does, when its flag is ✗/✗✗ (`Criterion::Flag`); the odd slot is named
//! by grouping equal slots (so a bad slot 0 is named as such).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::compare::layer_dumps::{hidden, pick_prefill_call, walk_dumps, Call};
use crate::experiment::compare::stages::natural_cmp;
use crate::io::Tensor;
use crate::metrics::{compare, flag_for, Comparison, Severity};

/// ATOM `slot_split(t, n)`: n equal slices along dim 0.
pub fn slot_split(t: &Tensor, n: usize) -> Result<Vec<Tensor>> {
    let rows = *t.shape.first().unwrap_or(&1);
    if n == 0 || rows % n != 0 {
        return Err(Error::BadTensor(format!(
            "tensor '{}' {:?}: {rows} rows do not split into {n} slots",
            t.name, t.shape
        )));
    }
    let per = rows / n;
    let mut shape = t.shape.clone();
    if shape.is_empty() {
        shape.push(1);
    }
    shape[0] = per;
    let bytes_per = t.bytes().len() / n;
    (0..n)
        .map(|i| {
            Tensor::new(
                format!("{}[slot {i}]", t.name),
                t.dtype,
                shape.clone(),
                t.bytes()[i * bytes_per..(i + 1) * bytes_per].to_vec(),
            )
        })
        .collect()
}

/// When a (layer, stage) counts as diverging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    /// Any slot not bitwise equal to slot 0.
    Bitwise,
    /// ATOM: the flag of (min cos, max rel) is ✗ or ✗✗.
    Flag,
}

impl Criterion {
    /// Parses `bitwise | flag`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "bitwise" => Ok(Criterion::Bitwise),
            "flag" => Ok(Criterion::Flag),
            _ => Err(Error::Usage(format!(
                "--criterion {s}: expected bitwise or flag"
            ))),
        }
    }
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Bitwise => "bitwise",
            Criterion::Flag => "flag",
        }
    }
}

/// One slot against slot 0.
#[derive(Clone, Debug)]
pub struct SlotCmp {
    pub slot: usize,
    /// `cos_max(slot 0, slot k)`: a = slot 0, b = slot k (rel normalised by slot k, as ATOM).
    pub cmp: Comparison,
    pub bitwise: bool,
}

/// One compared (layer, stage).
#[derive(Clone, Debug)]
pub struct SlotRow {
    pub layer: u64,
    pub stage: String,
    pub call: Option<u64>,
    pub path: PathBuf,
    /// Shape of the whole `hidden`.
    pub shape: Vec<usize>,
    pub tok_per_slot: usize,
    /// Slots 1..n against slot 0.
    pub slots: Vec<SlotCmp>,
    pub min_cos: f64,
    pub max_rel: f64,
    pub max_abs: f64,
    /// ATOM's flag: `flag_for(min cos, max rel)`.
    pub flag: Severity,
    pub bitwise_all: bool,
    pub diverges: bool,
    /// The slots outside the largest group of mutually equal slots (under the criterion); empty when none
    /// diverges.
    pub odd_slots: Vec<usize>,
}

/// A (layer, stage) that could not be compared, with the reason.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub layer: u64,
    pub stage: String,
    pub reason: String,
}

/// The whole slot-invariance check.
#[derive(Clone, Debug)]
pub struct SlotReport {
    pub dir: PathBuf,
    pub rank: u32,
    pub n_slots: usize,
    pub criterion: Criterion,
    pub rows: Vec<SlotRow>,
    pub skipped: Vec<Skipped>,
}

impl SlotReport {
    /// The first (layer, stage) in natural order that diverges.
    pub fn first_divergence(&self) -> Option<&SlotRow> {
        self.rows.iter().find(|r| r.diverges)
    }
    /// 1 when any (layer, stage) diverges, else 0.
    pub fn exit_code(&self) -> i32 {
        self.first_divergence().is_some() as i32
    }
}

fn bad_flag(s: Severity) -> bool {
    matches!(s, Severity::Bad | Severity::VeryBad)
}

/// Groups slots with `same` (greedy, against each group's first member) and returns those outside the
/// largest group (ties: the group holding the lowest slot). When no two slots agree, all but slot 0.
fn odd_slots(n: usize, same: impl Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for s in 0..n {
        match groups.iter_mut().find(|g| same(g[0], s)) {
            Some(g) => g.push(s),
            None => groups.push(vec![s]),
        }
    }
    let best = groups
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.len().cmp(&b.len()).then(j.cmp(i)))
        .map(|(i, _)| i)
        .unwrap();
    if groups[best].len() == 1 {
        return (1..n).collect();
    }
    (0..n).filter(|s| !groups[best].contains(s)).collect()
}

/// Splits one `hidden` into slots and compares them.
pub fn compare_call(
    layer: u64,
    stage: &str,
    call: &Call,
    h: &Tensor,
    n_slots: usize,
    criterion: Criterion,
) -> Result<SlotRow> {
    let parts = slot_split(h, n_slots)?;
    let mut slots = Vec::with_capacity(n_slots - 1);
    for (k, p) in parts.iter().enumerate().skip(1) {
        let cmp = compare(&parts[0], p)?;
        let bitwise = parts[0].bytes() == p.bytes();
        slots.push(SlotCmp {
            slot: k,
            cmp,
            bitwise,
        });
    }
    let nan_min = |it: &mut dyn Iterator<Item = f64>| {
        it.fold(f64::INFINITY, |m, x| {
            if x.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.min(x)
            }
        })
    };
    let min_cos = nan_min(&mut slots.iter().map(|s| s.cmp.cos));
    let max_rel = -nan_min(&mut slots.iter().map(|s| -s.cmp.rel));
    let max_abs = -nan_min(&mut slots.iter().map(|s| -s.cmp.max_abs));
    let flag = flag_for(min_cos, max_rel);
    let bitwise_all = slots.iter().all(|s| s.bitwise);
    let diverges = match criterion {
        Criterion::Bitwise => !bitwise_all,
        Criterion::Flag => bad_flag(flag),
    };
    let odd = if !diverges {
        Vec::new()
    } else {
        match criterion {
            Criterion::Bitwise => odd_slots(n_slots, |i, j| parts[i].bytes() == parts[j].bytes()),
            Criterion::Flag => odd_slots(n_slots, |i, j| {
                compare(&parts[i], &parts[j])
                    .map(|c| !bad_flag(c.severity()))
                    .unwrap_or(false)
            }),
        }
    };
    Ok(SlotRow {
        layer,
        stage: stage.to_string(),
        call: call.call,
        path: call.path.clone(),
        shape: h.shape.clone(),
        tok_per_slot: h.shape.first().copied().unwrap_or(1) / n_slots,
        slots,
        min_cos,
        max_rel,
        max_abs,
        flag,
        bitwise_all,
        diverges,
        odd_slots: odd,
    })
}

/// Runs the check over a directory of per-layer dumps. `block_class` names the stage that sorts last within
/// a layer (the block contains the other hooked modules, so its output comes last).
pub fn slot_invariance(
    dir: &Path,
    rank: u32,
    n_slots: usize,
    criterion: Criterion,
    block_class: &str,
) -> Result<SlotReport> {
    if n_slots < 2 {
        return Err(Error::Usage(format!(
            "--n-slots {n_slots}: need at least 2 slots to compare"
        )));
    }
    let mut keys: Vec<((u64, String), Vec<Call>)> = walk_dumps(dir, rank)?.into_iter().collect();
    keys.sort_by(|((la, sa), _), ((lb, sb), _)| {
        la.cmp(lb)
            .then((sa == block_class).cmp(&(sb == block_class)))
            .then_with(|| natural_cmp(sa, sb))
    });
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for ((layer, stage), calls) in &keys {
        let picked = if calls.len() > 1 {
            pick_prefill_call(calls, n_slots)
        } else {
            calls
                .first()
                .filter(|c| c.n_tok.rem_euclid(n_slots as i64) == 0)
        };
        let Some(call) = picked else {
            let toks: Vec<String> = calls
                .iter()
                .map(|c| match c.call {
                    Some(i) => format!("call{i:03}: {}", c.n_tok),
                    None => c.n_tok.to_string(),
                })
                .collect();
            skipped.push(Skipped {
                layer: *layer,
                stage: stage.clone(),
                reason: format!(
                    "no call with n_tok divisible by and (for several calls) greater than {n_slots} (n_tok {})",
                    toks.join(", ")
                ),
            });
            continue;
        };
        let h = hidden(&call.path)?.expect("n_tok ≥ 0 means hidden exists");
        rows.push(compare_call(*layer, stage, call, &h, n_slots, criterion)?);
    }
    if rows.is_empty() {
        let first: Vec<String> = skipped
            .iter()
            .take(3)
            .map(|s| format!("layer {} {}: {}", s.layer, s.stage, s.reason))
            .collect();
        return Err(Error::BadTensor(format!(
            "{}: nothing to compare: n_tok is not divisible by --n-slots {n_slots} in any usable call ({})",
            dir.display(),
            first.join("; ")
        )));
    }
    Ok(SlotReport {
        dir: dir.to_path_buf(),
        rank,
        n_slots,
        criterion,
        rows,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_odd_slot() {
        let v: Vec<f32> = (0..4 * 3 * 2).map(|i| (i % 6) as f32 + 1.0).collect();
        let t = Tensor::from_f32("h", vec![12, 2], &v).unwrap();
        let s = slot_split(&t, 4).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[3].shape, vec![3, 2]);
        assert_eq!(s[1].to_f32(), s[0].to_f32());
        assert!(slot_split(&t, 5).is_err());
        assert_eq!(odd_slots(4, |i, j| (i == 2) == (j == 2)), vec![2]);
        assert_eq!(odd_slots(4, |i, j| (i == 0) == (j == 0)), vec![0]);
        assert_eq!(odd_slots(4, |i, j| i == j), vec![1, 2, 3]);
        // 2 vs 2: the group holding slot 0 is taken as the majority.
        assert_eq!(odd_slots(4, |i, j| (i < 2) == (j < 2)), vec![2, 3]);
    }
}
