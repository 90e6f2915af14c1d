//! Report of `compare slot-invariance`: the per-(layer, stage) table and (HTML) the slot × (layer, stage)
//! heatmap.

use crate::experiment::compare::slots::{Criterion, SlotReport, SlotRow};
use crate::metrics::{flag_for, Severity};
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fcos, fsci, fshape};
use crate::report::svg::{heatmap, Cell, Heatmap};

fn call_str(c: Option<u64>) -> String {
    c.map(|c| c.to_string()).unwrap_or_default()
}

fn odd_str(r: &SlotRow, n: usize) -> String {
    let others: Vec<String> = (0..n)
        .filter(|s| !r.odd_slots.contains(s))
        .map(|s| s.to_string())
        .collect();
    let odd: Vec<String> = r.odd_slots.iter().map(|s| s.to_string()).collect();
    if others.len() <= 1 {
        "no two slots agree".into()
    } else {
        format!(
            "slot{} {} differ{} from slot{} {}",
            if odd.len() > 1 { "s" } else { "" },
            odd.join(", "),
            if odd.len() > 1 { "" } else { "s" },
            if others.len() > 1 { "s" } else { "" },
            others.join(", ")
        )
    }
}

/// The slot-invariance document.
pub fn slots_doc(s: &SlotReport, with_figures: bool) -> Doc {
    let mut doc = Doc::new("isolate compare slot-invariance");
    doc.push(Block::Line(format!(
        "dir: {}  rank: {}  slots: {}  criterion: {} ({})",
        s.dir.display(),
        s.rank,
        s.n_slots,
        s.criterion.name(),
        match s.criterion {
            Criterion::Bitwise =>
                "a (layer, stage) diverges when any slot is not bitwise equal to slot 0",
            Criterion::Flag => "a (layer, stage) diverges when its flag is ✗ or ✗✗, as ATOM",
        }
    )));
    match s.first_divergence() {
        Some(r) => doc.push(Block::Verdict(
            Tone::Bad,
            format!(
                "first divergence: layer {} {} (call {}): {}",
                r.layer,
                r.stage,
                call_str(r.call),
                odd_str(r, s.n_slots)
            ),
        )),
        None => doc.push(Block::Verdict(
            Tone::Ok,
            "every slot matches slot 0 in every (layer, stage)".into(),
        )),
    }
    let mut header = vec![
        "".to_string(),
        "layer".into(),
        "stage".into(),
        "shape".into(),
        "tok/slot".into(),
        "call".into(),
    ];
    for k in 1..s.n_slots {
        header.push(format!("cos(0,{k})"));
    }
    header.extend(["max_abs".into(), "bitwise".into(), "odd slots".into()]);
    let mut t = DocTable::new(header).left(&[0, 2, 3, 5 + s.n_slots + 2]);
    for r in &s.rows {
        let flag = r.flag.symbol();
        let mut cells = vec![
            flag.to_string(),
            r.layer.to_string(),
            r.stage.clone(),
            fshape(&r.shape),
            r.tok_per_slot.to_string(),
            call_str(r.call),
        ];
        cells.extend(r.slots.iter().map(|c| fcos(c.cmp.cos)));
        let eq = r.slots.iter().filter(|c| c.bitwise).count();
        cells.extend([
            fsci(r.max_abs),
            format!("{eq}/{}", r.slots.len()),
            r.odd_slots
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ]);
        let tone = if r.diverges && Tone::of_flag(flag) == Tone::Ok {
            Tone::Drift
        } else {
            Tone::of_flag(flag)
        };
        t.row(tone, cells);
    }
    doc.push(Block::Heading("Per (layer, stage)".into()));
    doc.push(Block::Table(t));
    let d = s.rows.iter().filter(|r| r.diverges).count();
    doc.push(Block::Line(format!(
        "{} (layer, stage) compared; {d} diverge.",
        s.rows.len()
    )));
    for k in &s.skipped {
        doc.push(Block::Line(format!(
            "skipped layer {} {}: {}",
            k.layer, k.stage, k.reason
        )));
    }
    if with_figures {
        doc.push(Block::Heading("Slot × (layer, stage)".into()));
        doc.push(Block::Figure {
            svg: heatmap(&slot_heatmap(s)),
            caption: "Each cell compares a slot with slot 0 in the picked prefill call; hover for cos, rel, max_abs."
                .into(),
        });
    }
    doc
}

fn severity_fill(sev: Severity) -> &'static str {
    match sev {
        Severity::Ok => "#aceebb",
        Severity::Drift => "#fae17d",
        Severity::Bad => "#fb8f44",
        Severity::VeryBad => "#e5534b",
        Severity::Nan => "#afb8c1",
    }
}

/// The slot × (layer, stage) heatmap.
pub fn slot_heatmap(s: &SlotReport) -> Heatmap {
    let cols: Vec<String> = s
        .rows
        .iter()
        .map(|r| format!("L{} {}", r.layer, r.stage))
        .collect();
    let rows: Vec<String> = (1..s.n_slots).map(|k| format!("slot {k}")).collect();
    let cells = (1..s.n_slots)
        .map(|k| {
            s.rows
                .iter()
                .map(|r| {
                    let c = r.slots.iter().find(|c| c.slot == k)?;
                    let tip = format!(
                        "layer {} {} slot {k} vs slot 0: cos {} rel {} max_abs {}{}",
                        r.layer,
                        r.stage,
                        fcos(c.cmp.cos),
                        fsci(c.cmp.rel),
                        fsci(c.cmp.max_abs),
                        if c.bitwise { " (bitwise equal)" } else { "" }
                    );
                    Some(if c.bitwise {
                        Cell {
                            fill: "#1a7f37".into(),
                            text: "=".into(),
                            tip,
                        }
                    } else {
                        let sev = flag_for(c.cmp.cos, c.cmp.rel);
                        Cell {
                            fill: severity_fill(sev).into(),
                            text: fsci(1.0 - c.cmp.cos),
                            tip,
                        }
                    })
                })
                .collect()
        })
        .collect();
    Heatmap {
        title: format!(
            "slot k vs slot 0 ({} slots): = bitwise equal, else 1 − cos",
            s.n_slots
        ),
        rows,
        cols,
        cells,
        legend: vec![
            ("#1a7f37".into(), "bitwise equal".into()),
            (
                severity_fill(Severity::Ok).into(),
                "✓ cos>0.9999, rel<1%".into(),
            ),
            (severity_fill(Severity::Drift).into(), "? cos>0.999".into()),
            (severity_fill(Severity::Bad).into(), "✗ cos>0.99".into()),
            (
                severity_fill(Severity::VeryBad).into(),
                "✗✗ cos≤0.99".into(),
            ),
            (severity_fill(Severity::Nan).into(), "?? NaN".into()),
        ],
    }
}
