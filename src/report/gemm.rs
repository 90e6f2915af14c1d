//! The report of `isolate gemm`: the document (table, verdict, plots) and the JSON of docs/contract.md
//! §6.2 (`verdict`, `paths.{A,B,C1,C2}.{quant, gemm, vs_ref, vs_target}`, `shares`, `sanity`).

use serde_json::{json, Value};

use crate::experiment::gemm::envelope::{Envelope, Reading, Spread};
use crate::experiment::gemm::isolate::{IsolateResult, Metrics, Verdict};
use crate::experiment::gemm::maps::{DiffMap, UlpSpread};
use crate::experiment::gemm::IsolateReport;
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fcos, fopt, fsci, fshare, fyes};
use crate::report::json::num;
use crate::report::svg::{bar_chart, tile_map, BarChart, TileCell, TileMap};
use crate::report::Render;

pub fn metrics_json(m: &Metrics) -> Value {
    json!({
        "cos": num(m.cos),
        "rel": num(m.rel),
        "max_abs": num(m.max_abs),
        "bitwise": m.bitwise,
        "byte_equal": m.byte_equal.map(num),
        "value_equal": num(m.value_equal),
        "flag": m.severity.symbol(),
    })
}

fn spread_json(s: &Spread) -> Value {
    json!({
        "one_minus_cos": num(s.drift),
        "cos": num(s.cos),
        "rel": num(s.rel),
        "max_abs": num(s.max_abs),
        "ulp_median": s.ulp_median,
        "ulp_max": s.ulp_max,
    })
}

/// The `envelope` object of `isolate gemm`'s JSON.
pub fn envelope_json(e: &Envelope) -> Value {
    let floor_reason = e.floor.as_ref().err();
    json!({
        "available": e.floor.is_ok(),
        "reason": floor_reason.or(e.ratio.as_ref().err()),
        "drift": spread_json(&e.drift),
        "floor": e.floor.as_ref().ok().map(spread_json),
        "ratio": e.ratio.as_ref().ok().map(|r| json!({
            "one_minus_cos": num(r.drift),
            "rel": num(r.rel),
            "max_abs": num(r.max_abs),
            "ulp_max": r.ulp_max.map(num),
        })),
        "reading": e.reading.map(Reading::name),
        "reading_text": e.reading.map(Reading::text),
        "thresholds": {"noise": num(e.thresholds.noise), "bug": num(e.thresholds.bug)},
        "gemm_order": match &e.gemm_order {
            Ok(g) => json!({
                "available": true,
                "orders": g.orders,
                "skipped": g.skipped.iter().map(|(n, w)| json!({"order": n, "reason": w})).collect::<Vec<_>>(),
                "spread": spread_json(&g.spread),
                "drift_within": g.drift_within,
            }),
            Err(w) => json!({"available": false, "reason": w}),
        },
        "notes": e.notes,
    })
}

/// The envelope as document blocks: a table (drift, floor, GEMM-order spread, ratio) and the reading.
fn envelope_blocks(e: &Envelope, doc: &mut Doc) {
    doc.push(Block::Heading("noise envelope".into()));
    let mut t = DocTable::new(["", "1 − cos", "rel", "max_abs", "ulp (median / max)"]).left(&[0]);
    let row = |name: &str, s: &Spread| {
        vec![
            name.to_string(),
            fsci(s.drift),
            fsci(s.rel),
            fsci(s.max_abs),
            format!("{} / {}", fopt(s.ulp_median), fopt(s.ulp_max)),
        ]
    };
    t.row(Tone::Neutral, row("drift: A vs B", &e.drift));
    if let Ok(f) = &e.floor {
        t.row(Tone::Neutral, row("quantization floor: B vs exact", f));
    }
    if let Ok(g) = &e.gemm_order {
        t.row(
            Tone::Neutral,
            row(
                &format!("GEMM-order floor: {}", g.orders.join(" ↔ ")),
                &g.spread,
            ),
        );
    }
    if let Ok(r) = &e.ratio {
        t.row(
            e.reading.map(reading_tone).unwrap_or(Tone::Nan),
            vec![
                "ratio drift / floor".into(),
                fratio(r.drift),
                fratio(r.rel),
                fratio(r.max_abs),
                r.ulp_max.map(fratio).unwrap_or_else(|| "-".into()),
            ],
        );
    }
    doc.push(Block::Table(t));
    match (&e.ratio, e.reading) {
        (Ok(r), Some(reading)) => doc.push(Block::Verdict(
            reading_tone(reading),
            format!(
                "envelope: drift/floor = {} (1 − cos {} / {}): {}",
                fratio(r.drift),
                fsci(e.drift.drift),
                e.floor.as_ref().map(|f| fsci(f.drift)).unwrap_or_default(),
                reading.text()
            ),
        )),
        (Err(why), _) => doc.push(Block::Line(format!("envelope: unavailable: {why}"))),
        _ => doc.push(Block::Line("envelope: the ratio is NaN".into())),
    }
    match &e.gemm_order {
        Ok(g) if g.drift_within => doc.push(Block::Line(format!(
            "GEMM order: drift(A, B) 1 − cos {} is within the spread of legitimate accumulation orders ({}): harmless",
            fsci(e.drift.drift),
            fsci(g.spread.drift)
        ))),
        Ok(g) => doc.push(Block::Line(format!(
            "GEMM order: drift(A, B) 1 − cos {} is {}× the spread of legitimate accumulation orders ({})",
            fsci(e.drift.drift),
            fratio(e.drift.drift / g.spread.drift),
            fsci(g.spread.drift)
        ))),
        Err(why) => doc.push(Block::Line(format!("GEMM order: unavailable: {why}"))),
    }
    for n in &e.notes {
        doc.push(Block::Line(format!("note: {n}")));
    }
}

fn reading_tone(r: Reading) -> Tone {
    match r {
        Reading::Noise => Tone::Ok,
        Reading::Quantization => Tone::Drift,
        Reading::Bug => Tone::VeryBad,
    }
}

/// A ratio with three significant digits.
pub fn fratio(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        "inf".into()
    } else if x == 0.0 {
        "0".into()
    } else if x.abs() >= 0.01 && x.abs() < 1000.0 {
        format!("{:.3}", x)
    } else {
        fsci(x)
    }
}

/// The JSON of `isolate gemm`.
pub fn isolate_json(r: &IsolateResult) -> Value {
    let a = &r.attribution;
    let paths: serde_json::Map<String, Value> = r
        .paths
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                json!({
                    "quant": p.quant,
                    "gemm": p.gemm,
                    "vs_ref": metrics_json(&p.vs_ref),
                    "vs_target": p.vs_target.as_ref().map(metrics_json),
                }),
            )
        })
        .collect();
    let s = &a.sanity;
    json!({
        "verdict": a.verdict.name(),
        "rule": a.rule,
        "reference": a.reference,
        "shares_vs": a.shares_vs,
        "severity": a.severity.symbol(),
        "shares": {"quant": num(a.quant_share), "gemm": num(a.gemm_share)},
        "paths": paths,
        "a_vs_b": metrics_json(&a.a_vs_b),
        "sanity": {
            "a_reproduces_target": s.a_vs_target.as_ref().map(|m| m.bitwise),
            "b_reproduces_ref": s.b_vs_ref.as_ref().map(|m| m.bitwise),
            "a_vs_target": s.a_vs_target.as_ref().map(metrics_json),
            "b_vs_ref": s.b_vs_ref.as_ref().map(metrics_json),
            "provisional": s.provisional,
            "notes": s.notes,
        },
        "notes": r.notes,
    })
}

/// The document of `isolate gemm`: the A/B/C1/C2 table, the shares, the verdict with its rule, the notes, and
/// (HTML) the ulp-distance spreads of A, C1, C2 against B and the map of where A and B differ.
pub fn document(rep: &IsolateReport, figures: bool) -> Doc {
    let r = &rep.result;
    let a = &r.attribution;
    let mut doc = Doc::new(format!(
        "isolate gemm: verdict {} ({})",
        a.verdict.name(),
        severity_words(rep)
    ));
    let has_target = r.paths[0].vs_target.is_some();
    let mut head = vec!["path", "quant", "GEMM", "cos", "rel", "max_abs", "flag"];
    if has_target {
        head.extend(["cos(target)", "rel(target)", "bitwise(target)"]);
    }
    let mut t = DocTable::new(head).left(&[0, 1, 2]);
    for p in &r.paths {
        let m = &p.vs_ref;
        let mut row = vec![
            p.name.to_string(),
            p.quant.clone(),
            p.gemm.clone(),
            fcos(m.cos),
            fsci(m.rel),
            fsci(m.max_abs),
            m.severity.symbol().to_string(),
        ];
        if let Some(v) = &p.vs_target {
            row.extend([fcos(v.cos), fsci(v.rel), fyes(v.bitwise)]);
        } else if has_target {
            row.extend(["-".into(), "-".into(), "-".into()]);
        }
        t.row(Tone::of_flag(m.severity.symbol()), row);
    }
    doc.push(Block::Line(format!(
        "paths vs {} (A = target quant + target GEMM, B = reference quant + reference GEMM, C1 = reference quant \
         + target GEMM, C2 = target quant + reference GEMM)",
        if a.reference == "ref_out" { "ref_out" } else { "B" }
    )));
    doc.push(Block::Table(t));
    doc.push(Block::Line(format!(
        "shares of the drift of A (1 − cos vs {}): quant {} (C2), gemm {} (C1)",
        a.shares_vs,
        fshare(a.quant_share),
        fshare(a.gemm_share)
    )));
    doc.push(Block::Verdict(
        match a.verdict {
            Verdict::None => Tone::Ok,
            Verdict::Inconclusive => Tone::Drift,
            _ => Tone::of_flag(a.severity.symbol()),
        },
        format!("verdict: {}  ({})", a.verdict.name(), severity_words(rep)),
    ));
    if let Some(e) = &rep.envelope {
        envelope_blocks(e, &mut doc);
    }
    doc.push(Block::Line(format!("rule: {}", a.rule)));
    for n in a.sanity.notes.iter().chain(&r.notes) {
        doc.push(Block::Line(format!("note: {n}")));
    }
    if let Some(p) = &rep.saved {
        doc.push(Block::Line(format!(
            "saved A, B, C1, C2 and both quantized activations to {}",
            p.display()
        )));
    }
    if let (true, Some(fig)) = (figures, &rep.figures) {
        doc.push(Block::Heading("where the paths differ from B".into()));
        doc.push(Block::Figure {
            svg: ulp_bars(&fig.spreads),
            caption: format!(
                "Per-element distance to B in units in the last place of {} (log scale): a GEMM-order difference \
                 stays within a few ulp, a quantizer difference spreads wide.",
                fig.spreads.first().map(|s| s.unit.to_string()).unwrap_or_default()
            ),
        });
        let m = &fig.diff_map;
        doc.push(Block::Figure {
            svg: diff_heatmap(m),
            caption: format!(
                "Where A differs from B: the fraction of differing elements in each {}×{} tile of the [{}, {}] \
                 output. A structured error (one column block, every 32nd element) shows as a stripe or an even tint.",
                m.tile.0, m.tile.1, m.rows, m.cols
            ),
        });
    }
    doc
}

/// The severity in words: the envelope's ratio and reading when there is one, then the ATOM flag of A.
fn severity_words(rep: &IsolateReport) -> String {
    let flag = rep.result.attribution.severity.symbol();
    match rep.envelope.as_ref().map(|e| (&e.ratio, e.reading)) {
        Some((Ok(r), Some(reading))) => format!(
            "drift/floor {}: {}; ATOM flag of A: {flag}",
            fratio(r.drift),
            reading.text()
        ),
        _ => format!("severity of A: {flag}"),
    }
}

/// Grouped bars: one group per ulp bucket, one bar per path, log-scaled counts.
fn ulp_bars(spreads: &[UlpSpread]) -> String {
    let groups: Vec<String> = spreads
        .first()
        .map(|s| s.buckets.iter().map(|b| b.0.clone()).collect())
        .unwrap_or_default();
    let series: Vec<(String, Vec<u64>)> = spreads
        .iter()
        .map(|s| {
            let mut v: Vec<u64> = s.buckets.iter().map(|b| b.1).collect();
            v.push(s.nan);
            (s.path.to_string(), v)
        })
        .collect();
    let mut labels = groups;
    labels.push("NaN".into());
    bar_chart(&BarChart {
        title: "ulp distance to B".into(),
        groups: labels,
        series,
        x_label: "ulp distance".into(),
        y_label: "elements".into(),
    })
}

/// The tile map as a heatmap, shade = fraction of differing elements.
fn diff_heatmap(m: &DiffMap) -> String {
    let cells = m
        .frac
        .iter()
        .enumerate()
        .map(|(i, &f)| TileCell {
            row: i / m.grid.1,
            col: i % m.grid.1,
            fill: shade(f),
            tip: format!(
                "rows {}–{}, cols {}–{}: {:.2}% of elements differ",
                (i / m.grid.1) * m.tile.0,
                ((i / m.grid.1 + 1) * m.tile.0).min(m.rows) - 1,
                (i % m.grid.1) * m.tile.1,
                ((i % m.grid.1 + 1) * m.tile.1).min(m.cols) - 1,
                100.0 * f
            ),
        })
        .collect();
    tile_map(&TileMap {
        title: "A vs B: fraction of differing elements per tile".into(),
        row_labels: (0..m.grid.0)
            .map(|r| {
                if r % 8 == 0 {
                    format!("{}", r * m.tile.0)
                } else {
                    String::new()
                }
            })
            .collect(),
        col_labels: (0..m.grid.1)
            .map(|c| {
                if c % 8 == 0 {
                    format!("{}", c * m.tile.1)
                } else {
                    String::new()
                }
            })
            .collect(),
        cells,
        legend: vec![
            (shade(0.0), "equal".into()),
            (shade(0.01), "1 %".into()),
            (shade(0.1), "10 %".into()),
            (shade(1.0), "all".into()),
        ],
    })
}

/// White (no difference) through orange to dark red (every element differs), on a square-root scale so that a
/// few percent already shows.
fn shade(f: f64) -> String {
    if f <= 0.0 {
        return "#f6f8fa".into();
    }
    let t = f.clamp(0.0, 1.0).sqrt();
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(255.0, 165.0),
        lerp(214.0, 15.0),
        lerp(170.0, 21.0)
    )
}

impl Render for IsolateReport {
    fn document(&self, figures: bool) -> Doc {
        document(self, figures)
    }
    fn json(&self) -> Value {
        let mut v = isolate_json(&self.result);
        if let (Some(e), Some(o)) = (&self.envelope, v.as_object_mut()) {
            o.insert("envelope".into(), envelope_json(e));
        }
        v
    }
}
