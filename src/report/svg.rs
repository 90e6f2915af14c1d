//! Inline SVG figures for the HTML report: a line plot (log or linear y), a labelled heatmap, grouped bars and
//! a dense tile map. Plain SVG with
//! `<title>` tooltips; no scripts.

use crate::report::doc::esc;

/// Distinguishable line colours (Okabe–Ito, then a few more).
const PALETTE: [&str; 10] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B",
    "#7F7F7F", "#B8860B",
];

/// One line of a plot.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    /// (x, y); y may be 0 (drawn on the floor of a log axis, hollow) or NaN (drawn at the top, as ×).
    pub points: Vec<(f64, f64)>,
}

/// A line plot.
#[derive(Clone, Debug)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_y: bool,
    /// Horizontal reference lines (y, label).
    pub hlines: Vec<(f64, String)>,
    /// Label for an x value (e.g. "L3"); x ticks are drawn at every x of the data.
    pub x_tick: fn(f64) -> String,
}

fn fmt_y(y: f64, log: bool) -> String {
    if log {
        let e = y.log10().round() as i32;
        format!("1e{e}")
    } else if y.abs() >= 1e4 || (y != 0.0 && y.abs() < 1e-3) {
        format!("{y:.1e}")
    } else {
        format!("{y:.3}")
    }
}

/// Renders a line plot of `w` × `h` pixels.
pub fn line_plot(p: &LinePlot, w: f64, h: f64) -> String {
    let (ml, mr, mt, mb) = (70.0, 210.0, 34.0, 46.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let xs: Vec<f64> = {
        let mut v: Vec<f64> = p
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|q| q.0))
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v.dedup();
        v
    };
    let finite_pos = |y: f64| y.is_finite() && (!p.log_y || y > 0.0);
    let ys: Vec<f64> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.1))
        .chain(p.hlines.iter().map(|l| l.0))
        .filter(|&y| finite_pos(y))
        .collect();
    let (mut lo, mut hi) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    if !lo.is_finite() {
        (lo, hi) = if p.log_y { (1e-16, 1.0) } else { (0.0, 1.0) };
    }
    let any_zero = p.log_y && p.series.iter().any(|s| s.points.iter().any(|q| q.1 == 0.0));
    let (ylo, yhi) = if p.log_y {
        let mut a = lo.log10().floor();
        let b = hi.log10().ceil().max(a + 1.0);
        if any_zero {
            a -= 1.0; // a decade below the smallest non-zero value holds the exact zeros
        }
        (a, b)
    } else {
        let pad = ((hi - lo) * 0.08).max(1e-12);
        (lo - pad, hi + pad)
    };
    let (xlo, xhi) = match (xs.first(), xs.last()) {
        (Some(&a), Some(&b)) if b > a => (a, b),
        (Some(&a), _) => (a - 1.0, a + 1.0),
        _ => (0.0, 1.0),
    };
    let sx = |x: f64| ml + (x - xlo) / (xhi - xlo) * pw;
    let map_y = |y: f64| -> f64 {
        let v = if p.log_y {
            if y <= 0.0 {
                ylo
            } else {
                y.log10()
            }
        } else {
            y
        };
        mt + ph - (v.clamp(ylo, yhi) - ylo) / (yhi - ylo) * ph
    };
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"11\">\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <text x=\"{ml}\" y=\"20\" font-size=\"13\" font-weight=\"600\">{}</text>",
        esc(&p.title)
    );
    // Y grid and ticks.
    let ticks: Vec<f64> = if p.log_y {
        let step = ((yhi - ylo) / 8.0).ceil().max(1.0);
        let mut v = Vec::new();
        let mut e = ylo;
        while e <= yhi + 1e-9 {
            v.push(e);
            e += step;
        }
        v
    } else {
        (0..=5)
            .map(|i| ylo + (yhi - ylo) * i as f64 / 5.0)
            .collect()
    };
    for t in ticks {
        let y = mt + ph - (t - ylo) / (yhi - ylo) * ph;
        let label = if p.log_y {
            if any_zero && t == ylo {
                "0 (exact)".to_string()
            } else {
                fmt_y(10f64.powf(t), true)
            }
        } else {
            fmt_y(t, false)
        };
        o.push_str(&format!(
            "<line x1=\"{ml}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#59636e\">{}</text>",
            ml + pw,
            ml - 6.0,
            y + 3.5,
            esc(&label)
        ));
    }
    let step = (xs.len() as f64 / 24.0).ceil().max(1.0) as usize;
    for x in xs.iter().step_by(step) {
        let px = sx(*x);
        o.push_str(&format!(
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{mt}\" y2=\"{}\" stroke=\"#f3f4f6\"/>\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
            mt + ph,
            mt + ph + 15.0,
            esc(&(p.x_tick)(*x))
        ));
    }
    o.push_str(&format!(
        "<rect x=\"{ml}\" y=\"{mt}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#8c959f\"/>\
         <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        ml + pw / 2.0,
        h - 8.0,
        esc(&p.x_label),
        mt + ph / 2.0,
        esc(&p.y_label)
    ));
    for (y, label) in &p.hlines {
        if !finite_pos(*y) {
            continue;
        }
        let py = map_y(*y);
        o.push_str(&format!(
            "<line x1=\"{ml}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#cf222e\" stroke-dasharray=\"5 4\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#cf222e\">{}</text>",
            ml + pw,
            ml + pw - 4.0,
            py - 4.0,
            esc(label)
        ));
    }
    for (i, s) in p.series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        // One polyline per run of consecutive x values (a missing x or a NaN breaks the line).
        let mut runs: Vec<Vec<String>> = vec![Vec::new()];
        let mut prev: Option<f64> = None;
        for &(x, y) in &s.points {
            let skipped = prev.is_some_and(|p| xs.iter().any(|&g| g > p && g < x));
            if y.is_nan() || skipped {
                runs.push(Vec::new());
            }
            if !y.is_nan() {
                runs.last_mut()
                    .unwrap()
                    .push(format!("{:.1},{:.1}", sx(x), map_y(y)));
            }
            prev = Some(x);
        }
        for pts in runs.iter().filter(|r| r.len() > 1) {
            o.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.8\" points=\"{}\"/>",
                pts.join(" ")
            ));
        }
        for &(x, y) in &s.points {
            let (px, py) = (sx(x), if y.is_nan() { mt } else { map_y(y) });
            let tip = format!(
                "{} @ {}: {}",
                s.name,
                (p.x_tick)(x),
                if y.is_nan() {
                    "NaN".into()
                } else {
                    format!("{y:.6e}")
                }
            );
            if y.is_nan() {
                o.push_str(&format!(
                    "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{c}\" font-size=\"13\">×<title>{}</title></text>",
                    py + 4.0,
                    esc(&tip)
                ));
            } else {
                let fill = if p.log_y && y == 0.0 { "#fff" } else { c };
                o.push_str(&format!(
                    "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.2\" fill=\"{fill}\" stroke=\"{c}\"><title>{}</title></circle>",
                    esc(&tip)
                ));
            }
        }
        let ly = mt + 8.0 + i as f64 * 17.0;
        o.push_str(&format!(
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{c}\" stroke-width=\"2.5\"/>\
             <text x=\"{}\" y=\"{:.1}\">{}</text>",
            ml + pw + 12.0,
            ml + pw + 32.0,
            ml + pw + 38.0,
            ly + 4.0,
            esc(&s.name)
        ));
    }
    o.push_str("</svg>");
    o
}

/// One heatmap cell.
#[derive(Clone, Debug)]
pub struct Cell {
    pub fill: String,
    /// Short text drawn in the cell.
    pub text: String,
    /// Tooltip.
    pub tip: String,
}

/// A heatmap: `cells[r][c]` with row and column labels and a legend of (colour, label).
#[derive(Clone, Debug)]
pub struct Heatmap {
    pub title: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub cells: Vec<Vec<Option<Cell>>>,
    pub legend: Vec<(String, String)>,
}

/// Whether a `#rrggbb` fill needs light text (relative luminance below ½).
fn is_dark(fill: &str) -> bool {
    let h = fill.trim_start_matches('#');
    let c = |i: usize| {
        u8::from_str_radix(h.get(i..i + 2).unwrap_or("ff"), 16).unwrap_or(255) as f64 / 255.0
    };
    h.len() == 6 && 0.2126 * c(0) + 0.7152 * c(2) + 0.0722 * c(4) < 0.5
}

/// A row of (colour swatch, label) pairs with its baseline at `ly`.
fn legend(o: &mut String, items: &[(String, String)], ly: f64) {
    let mut lx = 12.0;
    for (fill, label) in items {
        o.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"14\" fill=\"{fill}\" stroke=\"#8c959f\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            ly - 11.0,
            lx + 19.0,
            ly,
            esc(label)
        ));
        lx += 36.0 + 7.0 * label.chars().count() as f64;
    }
}

/// Renders a heatmap; cells are at least 34 px wide.
pub fn heatmap(hm: &Heatmap) -> String {
    let (ml, mt) = (84.0, 112.0);
    let cw = (1100.0 / hm.cols.len().max(1) as f64).clamp(34.0, 90.0);
    let ch = 30.0;
    let w = ml + cw * hm.cols.len() as f64 + 20.0;
    let h = mt + ch * hm.rows.len() as f64 + 60.0;
    let legend_w: f64 = hm
        .legend
        .iter()
        .map(|(_, l)| 36.0 + 7.0 * l.chars().count() as f64)
        .sum::<f64>()
        + 24.0;
    let w = w.max(560.0).max(legend_w);
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"11\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <text x=\"12\" y=\"20\" font-size=\"13\" font-weight=\"600\">{}</text>",
        esc(&hm.title)
    );
    for (c, label) in hm.cols.iter().enumerate() {
        let x = ml + cw * (c as f64 + 0.5);
        o.push_str(&format!(
            "<text transform=\"translate({x:.1} {:.1}) rotate(-50)\" fill=\"#59636e\">{}</text>",
            mt - 6.0,
            esc(label)
        ));
    }
    for (r, label) in hm.rows.iter().enumerate() {
        let y = mt + ch * r as f64;
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            ml - 8.0,
            y + ch / 2.0 + 4.0,
            esc(label)
        ));
        for (c, cell) in hm.cells[r].iter().enumerate() {
            let x = ml + cw * c as f64;
            match cell {
                Some(cell) => o.push_str(&format!(
                    "<g><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" \
                     stroke=\"#fff\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"{}\">{}</text></g>",
                    esc(&cell.tip),
                    cw,
                    ch,
                    cell.fill,
                    x + cw / 2.0,
                    y + ch / 2.0 + 3.5,
                    if is_dark(&cell.fill) { "#fff" } else { "#1f2328" },
                    esc(&cell.text)
                )),
                None => o.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f6f8fa\" stroke=\"#fff\"/>",
                    cw, ch
                )),
            }
        }
    }
    legend(&mut o, &hm.legend, mt + ch * hm.rows.len() as f64 + 26.0);
    o.push_str("</svg>");
    o
}

/// Grouped bars: one group per category, one bar per series, heights on a log scale (count + 1).
#[derive(Clone, Debug)]
pub struct BarChart {
    pub title: String,
    /// Category labels (x axis).
    pub groups: Vec<String>,
    /// (series name, one count per group).
    pub series: Vec<(String, Vec<u64>)>,
    pub x_label: String,
    pub y_label: String,
}

/// Renders a grouped bar chart with a log-scaled count axis and a legend.
pub fn bar_chart(c: &BarChart) -> String {
    let (ml, mr, mt, mb) = (70.0, 150.0, 34.0, 52.0);
    let gw = 64.0;
    let pw = gw * c.groups.len().max(1) as f64;
    let ph = 220.0;
    let (w, h) = (ml + pw + mr, mt + ph + mb);
    let max = c
        .series
        .iter()
        .flat_map(|s| s.1.iter())
        .copied()
        .max()
        .unwrap_or(0);
    let top = ((max + 1) as f64).log10().ceil().max(1.0);
    let y = |n: u64| mt + ph - ph * ((n + 1) as f64).log10() / top;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"11\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <text x=\"12\" y=\"20\" font-size=\"13\" font-weight=\"600\">{}</text>",
        esc(&c.title)
    );
    for k in 0..=(top as i32) {
        let yy = mt + ph - ph * k as f64 / top;
        o.push_str(&format!(
            "<line x1=\"{ml}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#eaeef2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#59636e\">{}</text>",
            ml + pw,
            ml - 6.0,
            yy + 4.0,
            if k == 0 {
                "0".to_string()
            } else {
                format!("1e{k}")
            }
        ));
    }
    let n = c.series.len().max(1) as f64;
    let bw = (gw - 12.0) / n;
    for (g, label) in c.groups.iter().enumerate() {
        let x0 = ml + gw * g as f64;
        for (si, (name, counts)) in c.series.iter().enumerate() {
            let v = counts.get(g).copied().unwrap_or(0);
            let (x, yy) = (x0 + 6.0 + bw * si as f64, y(v));
            o.push_str(&format!(
                "<g><title>{}: {} elements at {}</title><rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" \
                 height=\"{:.1}\" fill=\"{}\"/></g>",
                esc(name),
                v,
                esc(label),
                bw - 1.0,
                mt + ph - yy,
                PALETTE[si % PALETTE.len()]
            ));
        }
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x0 + gw / 2.0,
            mt + ph + 16.0,
            esc(label)
        ));
    }
    o.push_str(&format!(
        "<line x1=\"{ml}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#59636e\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#59636e\">{}</text>",
        ml + pw,
        mt + ph,
        mt + ph,
        ml + pw / 2.0,
        h - 12.0,
        esc(&c.x_label),
        mt + ph / 2.0,
        esc(&c.y_label)
    ));
    for (si, (name, _)) in c.series.iter().enumerate() {
        let ly = mt + 12.0 + 18.0 * si as f64;
        o.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            ml + pw + 16.0,
            ly - 10.0,
            PALETTE[si % PALETTE.len()],
            ml + pw + 34.0,
            ly,
            esc(name)
        ));
    }
    o.push_str("</svg>");
    o
}

/// One cell of a dense tile map.
#[derive(Clone, Debug)]
pub struct TileCell {
    pub row: usize,
    pub col: usize,
    pub fill: String,
    pub tip: String,
}

/// A dense map of small square cells (e.g. output tiles of a GEMM) with sparse axis labels and a legend.
#[derive(Clone, Debug)]
pub struct TileMap {
    pub title: String,
    /// One label per row / column ("" for none).
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub cells: Vec<TileCell>,
    pub legend: Vec<(String, String)>,
}

/// Renders a tile map; cells are sized so the map is at most ~720 px wide.
pub fn tile_map(m: &TileMap) -> String {
    let (ml, mt) = (64.0, 40.0);
    let (nr, nc) = (m.row_labels.len().max(1), m.col_labels.len().max(1));
    let cs = (720.0 / nc as f64).min(480.0 / nr as f64).clamp(3.0, 24.0);
    let w = (ml + cs * nc as f64 + 24.0).max(480.0);
    let h = mt + cs * nr as f64 + 64.0;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"10\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
         <text x=\"12\" y=\"20\" font-size=\"13\" font-weight=\"600\">{}</text>",
        esc(&m.title)
    );
    for (c, l) in m
        .col_labels
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#59636e\">{}</text>",
            ml + cs * c as f64,
            mt - 4.0,
            esc(l)
        ));
    }
    for (r, l) in m
        .row_labels
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#59636e\">{}</text>",
            ml - 4.0,
            mt + cs * r as f64 + cs.min(10.0),
            esc(l)
        ));
    }
    for cell in &m.cells {
        o.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{cs:.1}\" height=\"{cs:.1}\" fill=\"{}\"><title>{}</title></rect>",
            ml + cs * cell.col as f64,
            mt + cs * cell.row as f64,
            cell.fill,
            esc(&cell.tip)
        ));
    }
    legend(&mut o, &m.legend, mt + cs * nr as f64 + 28.0);
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_places_points_and_zero_floor() {
        let p = LinePlot {
            title: "t".into(),
            x_label: "layer".into(),
            y_label: "1 − cos".into(),
            series: vec![Series {
                name: "hidden_out".into(),
                points: vec![(0.0, 0.0), (1.0, 1e-6), (2.0, 1e-3), (3.0, f64::NAN)],
            }],
            log_y: true,
            hlines: vec![(1e-3, "cos 0.999".into())],
            x_tick: |x| format!("L{x}"),
        };
        let s = line_plot(&p, 900.0, 320.0);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 3);
        assert!(s.contains("0 (exact)") && s.contains("×") && s.contains("L3"));
        assert!(s.contains("stroke-dasharray"));
        assert_eq!(s.matches("<polyline").count(), 1);
        // A missing x (another series has x = 1) breaks the line.
        let mut q = p.clone();
        q.series.push(Series {
            name: "b".into(),
            points: vec![(0.0, 1e-3), (2.0, 1e-3), (3.0, 1e-3)],
        });
        let s = line_plot(&q, 900.0, 320.0);
        assert_eq!(s.matches("<polyline").count(), 2);
    }

    #[test]
    fn bars_and_tiles() {
        let b = bar_chart(&BarChart {
            title: "t".into(),
            groups: vec!["0".into(), "1".into()],
            series: vec![("A".into(), vec![10, 0]), ("C1".into(), vec![3, 7])],
            x_label: "ulp".into(),
            y_label: "n".into(),
        });
        assert_eq!(b.matches("<rect x=").count(), 4 + 2);
        assert!(b.contains("A: 10 elements at 0") && b.contains("C1: 7 elements at 1"));
        let t = tile_map(&TileMap {
            title: "m".into(),
            row_labels: vec!["0".into(), "".into()],
            col_labels: vec!["0".into(), "".into(), "".into()],
            cells: (0..6)
                .map(|i| TileCell {
                    row: i / 3,
                    col: i % 3,
                    fill: "#fff".into(),
                    tip: format!("cell {i}"),
                })
                .collect(),
            legend: vec![("#fff".into(), "equal".into())],
        });
        assert_eq!(t.matches("<title>cell").count(), 6);
        assert!(t.contains(">equal<") && !t.contains("<script"));
    }

    #[test]
    fn heatmap_cells() {
        let hm = Heatmap {
            title: "h".into(),
            rows: vec!["slot 1".into()],
            cols: vec!["L0 Block".into(), "L1 Block".into()],
            cells: vec![vec![
                Some(Cell {
                    fill: "#1a7f37".into(),
                    text: "=".into(),
                    tip: "bitwise".into(),
                }),
                None,
            ]],
            legend: vec![("#1a7f37".into(), "bitwise equal".into())],
        };
        let s = heatmap(&hm);
        assert_eq!(s.matches("<title>bitwise</title>").count(), 1);
        assert!(s.contains("L1 Block") && s.contains("bitwise equal"));
    }
}
