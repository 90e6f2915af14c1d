//! Reports of `compare ref-vs-target` and `compare layer-bisect`: the stage table, the per-layer decay
//! table, and (HTML) the decay curves 1 − cos and rel per stage across layers.

use crate::experiment::compare::dumps::{InputIds, INPUT_IDS};
use crate::experiment::compare::layer_bisect::{drift, Bisect, Classification};
use crate::experiment::compare::ref_vs_target::{Outcome, RefVsTarget};
use crate::experiment::compare::stages::parse;
use crate::metrics::Comparison;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fcos, fpct, fsci, fshape};
use crate::report::svg::{line_plot, LinePlot, Series};

fn input_ids_line(r: &RefVsTarget) -> Block {
    match r.input_ids {
        InputIds::Match(n) => Block::Verdict(Tone::Ok, format!("✓ {INPUT_IDS} match ({n} tokens)")),
        InputIds::Absent => Block::Verdict(
            Tone::Drift,
            format!("? no {INPUT_IDS} in either dump: token alignment is not checked"),
        ),
        InputIds::OnlyTarget => Block::Verdict(
            Tone::Drift,
            format!("? {INPUT_IDS} only in the target: token alignment is not checked"),
        ),
        InputIds::OnlyReference => Block::Verdict(
            Tone::Drift,
            format!("? {INPUT_IDS} only in the reference: token alignment is not checked"),
        ),
    }
}

/// The stage table (one row per common stage).
pub fn stage_table(r: &RefVsTarget) -> DocTable {
    let mut t = DocTable::new([
        "", "stage", "shape", "dtype", "cos", "rel", "max_abs", "at", "ulp p50", "ulp max",
        "bytes=",
    ])
    .left(&[0, 1, 2, 3, 7]);
    for row in &r.rows {
        let dtype = if row.target_dtype == row.ref_dtype {
            row.target_dtype.to_string()
        } else {
            format!("{}|{}", row.target_dtype, row.ref_dtype)
        };
        let flag = row.flag();
        let cells = match &row.outcome {
            Outcome::Compared { cmp: c, .. } => vec![
                flag.to_string(),
                row.stage.clone(),
                fshape(&row.target_shape),
                dtype,
                fcos(c.cos),
                fsci(c.rel),
                fsci(c.max_abs),
                c.max_abs_at.as_ref().map(|a| fshape(a)).unwrap_or_default(),
                c.ulp
                    .as_ref()
                    .and_then(|u| u.quantile(0.5))
                    .map(|q| q.to_string())
                    .unwrap_or_default(),
                c.ulp
                    .as_ref()
                    .filter(|u| u.count > 0)
                    .map(|u| u.max.to_string())
                    .unwrap_or_default(),
                c.byte_equal.map(fpct).unwrap_or_default(),
            ],
            Outcome::ShapeMismatch => vec![
                flag.to_string(),
                row.stage.clone(),
                format!(
                    "{} vs {}",
                    fshape(&row.target_shape),
                    fshape(&row.ref_shape)
                ),
                dtype,
                "shape differs: not compared".into(),
            ],
            Outcome::NotComparable(why) => vec![
                flag.to_string(),
                row.stage.clone(),
                fshape(&row.target_shape),
                dtype,
                why.clone(),
            ],
        };
        let tone = match row.breach(&r.thresholds) {
            Some(_) if flag == "✓" || flag == "?" => Tone::Bad, // past --cos/--rel although the severity flag is milder
            _ => Tone::of_flag(flag),
        };
        t.row(tone, cells);
    }
    t
}

fn common_blocks(doc: &mut Doc, r: &RefVsTarget) {
    doc.push(Block::Line(format!("target:    {}", r.target.display())));
    doc.push(Block::Line(format!("reference: {}", r.reference.display())));
    doc.push(input_ids_line(r));
}

fn tail_blocks(doc: &mut Doc, r: &RefVsTarget) {
    let compared = r.compared().count();
    let mism = r.shape_mismatches().count();
    doc.push(Block::Line(format!(
        "{compared} stages compared, {mism} with different shapes; thresholds: cos < {} or rel > {}",
        r.thresholds.cos, r.thresholds.rel
    )));
    if !r.only_target.is_empty() {
        doc.push(Block::Line(format!(
            "only in target ({}): {}",
            r.only_target.len(),
            r.only_target.join(", ")
        )));
    }
    if !r.only_reference.is_empty() {
        doc.push(Block::Line(format!(
            "only in reference ({}): {}",
            r.only_reference.len(),
            r.only_reference.join(", ")
        )));
    }
    for n in &r.notes {
        doc.push(Block::Line(format!("note: {n}")));
    }
}

/// Per stage suffix (in natural order of first appearance): points (layer, value of `f`) of compared layer
/// stages.
fn series(r: &RefVsTarget, f: impl Fn(&Comparison) -> f64) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for row in &r.rows {
        let (sec, suffix) = parse(&row.stage);
        let (Some(l), Some(c)) = (sec.layer(), row.comparison()) else {
            continue;
        };
        let name = if suffix.is_empty() {
            "(layer)".to_string()
        } else {
            suffix.to_string()
        };
        let y = f(c);
        match out.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((l as f64, y)),
            None => out.push(Series {
                name,
                points: vec![(l as f64, y)],
            }),
        }
    }
    out
}

fn figures(doc: &mut Doc, r: &RefVsTarget) {
    let drift = series(r, |c| if c.cos.is_nan() { f64::NAN } else { drift(c) });
    if drift.is_empty() {
        return;
    }
    let layer = |x: f64| format!("L{x}");
    doc.push(Block::Heading("Decay curve".into()));
    doc.push(Block::Figure {
        svg: line_plot(
            &LinePlot {
                title: "1 − cos per stage across layers (log scale; higher is worse)".into(),
                x_label: "layer".into(),
                y_label: "1 − cos".into(),
                series: drift,
                log_y: true,
                hlines: vec![(1.0 - r.thresholds.cos, format!("cos {}", r.thresholds.cos))],
                x_tick: layer,
            },
            1280.0,
            380.0,
        ),
        caption: "Hollow points at the bottom are exactly equal (cos = 1); × marks NaN. The dashed line is the --cos threshold."
            .into(),
    });
    doc.push(Block::Figure {
        svg: line_plot(
            &LinePlot {
                title: "rel = max|target − ref| / max|ref| per stage across layers (log scale)"
                    .into(),
                x_label: "layer".into(),
                y_label: "rel".into(),
                series: series(r, |c| c.rel),
                log_y: true,
                hlines: vec![(r.thresholds.rel, format!("rel {}", r.thresholds.rel))],
                x_tick: layer,
            },
            1280.0,
            380.0,
        ),
        caption:
            "Hollow points at the bottom are exactly 0. The dashed line is the --rel threshold."
                .into(),
    });
}

/// The ref-vs-target document.
pub fn ref_vs_target_doc(r: &RefVsTarget, with_figures: bool) -> Doc {
    let mut doc = Doc::new("isolate compare ref-vs-target");
    common_blocks(&mut doc, r);
    match r.first_breach() {
        Some((row, b)) => {
            let c = row.comparison().unwrap();
            doc.push(Block::Verdict(
                Tone::Bad,
                format!(
                    "first stage past the thresholds: {} ({})",
                    row.stage,
                    r.thresholds.explain(b, c.cos, c.rel)
                ),
            ))
        }
        None => doc.push(Block::Verdict(
            Tone::Ok,
            format!(
                "no compared stage past the thresholds (cos < {} or rel > {})",
                r.thresholds.cos, r.thresholds.rel
            ),
        )),
    }
    doc.push(Block::Heading("Stages".into()));
    doc.push(Block::Table(stage_table(r)));
    tail_blocks(&mut doc, r);
    if with_figures {
        figures(&mut doc, r);
    }
    doc
}

/// The layer-bisect document.
pub fn layer_bisect_doc(b: &Bisect, with_figures: bool) -> Doc {
    let r = &b.base;
    let mut doc = Doc::new("isolate compare layer-bisect");
    common_blocks(&mut doc, r);
    match b.first_bad_row() {
        Some(row) => {
            let c = row.comparison().unwrap();
            let why = r.thresholds.explain(b.first_bad.unwrap().1, c.cos, c.rel);
            doc.push(Block::Verdict(
                Tone::Bad,
                format!("first bad stage: {} ({why})", row.stage),
            ));
        }
        None => doc.push(Block::Verdict(
            Tone::Ok,
            format!(
                "no stage past the thresholds (cos < {} or rel > {})",
                r.thresholds.cos, r.thresholds.rel
            ),
        )),
    }
    let tone = match b.classification {
        Classification::Clean => Tone::Ok,
        _ => Tone::Bad,
    };
    doc.push(Block::Verdict(tone, b.classification.sentence()));
    doc.push(Block::Heading("Per layer".into()));
    let mut t = DocTable::new([
        "",
        "layer",
        "output stage",
        "cos",
        "rel",
        "worst stage",
        "1−cos worst",
        "rel worst",
    ])
    .left(&[0, 2, 5]);
    for p in &b.layers {
        let flag = if p.breach { "✗" } else { "✓" };
        t.row(
            if p.breach { Tone::Bad } else { Tone::Ok },
            vec![
                flag.into(),
                p.layer.to_string(),
                p.output_stage.clone(),
                fcos(p.output_cos),
                fsci(p.output_rel),
                p.worst_stage.clone(),
                fsci(p.drift),
                fsci(p.rel),
            ],
        );
    }
    doc.push(Block::Table(t));
    if with_figures {
        figures(&mut doc, r);
    }
    doc.push(Block::Heading("Stages".into()));
    doc.push(Block::Table(stage_table(r)));
    tail_blocks(&mut doc, r);
    doc
}
