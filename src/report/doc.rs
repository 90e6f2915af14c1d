//! A small report document (headings, lines, tables, lists, SVG figures) with three renderers: the terminal,
//! Markdown and one self-contained HTML page (inline CSS and SVG; no scripts, no network).

use crate::report::table::Table;

/// Colour class of a table row (the severity flags, docs/numerics.md §9.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Ok,
    Drift,
    Bad,
    VeryBad,
    Nan,
    Neutral,
}

impl Tone {
    /// The tone of a flag symbol (✓ ? ✗ ✗✗ ??); anything else (shape, n/a) is `Bad`, `=` is `Ok`.
    pub fn of_flag(flag: &str) -> Tone {
        match flag {
            "✓" | "bytes=" | "values=" | "=" => Tone::Ok,
            "?" => Tone::Drift,
            "✗" => Tone::Bad,
            "✗✗" => Tone::VeryBad,
            "??" => Tone::Nan,
            "" => Tone::Neutral,
            _ => Tone::Bad,
        }
    }
    fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Drift => "drift",
            Tone::Bad => "bad",
            Tone::VeryBad => "verybad",
            Tone::Nan => "nan",
            Tone::Neutral => "",
        }
    }
}

/// A table block.
#[derive(Clone, Debug, Default)]
pub struct DocTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Left-aligned columns.
    pub left: Vec<usize>,
    /// One tone per row (or none).
    pub tones: Vec<Tone>,
}

impl DocTable {
    /// A table with these headers.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        DocTable {
            header: header.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
    /// Left-aligns columns.
    pub fn left(mut self, cols: &[usize]) -> Self {
        self.left = cols.to_vec();
        self
    }
    /// Appends a row with its tone.
    pub fn row(&mut self, tone: Tone, cells: Vec<String>) {
        self.rows.push(cells);
        self.tones.push(tone);
    }
}

/// One block of a document.
#[derive(Clone, Debug)]
pub enum Block {
    Heading(String),
    /// A line of text (a verdict, a note).
    Line(String),
    /// A line that matters most (rendered bold in Markdown/HTML), with its tone.
    Verdict(Tone, String),
    Table(DocTable),
    /// Labelled values, one per line (`label     value` on the terminal, a two-column table elsewhere).
    Fields(Vec<(String, String)>),
    List(Vec<String>),
    /// An SVG figure (HTML only) with its caption.
    Figure {
        svg: String,
        caption: String,
    },
}

/// A report document.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1320px;\
color:#1f2328;padding:0 16px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;\
border-bottom:1px solid #d0d7de;padding-bottom:4px}p{margin:4px 0}.verdict{font-weight:600;padding:6px 10px;\
border-radius:6px;margin:8px 0;display:inline-block}table{border-collapse:collapse;font:12.5px/1.35 \
ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:6px 0}th,td{padding:3px 8px;border-bottom:1px solid \
#eaeef2;text-align:right;white-space:nowrap}th{background:#f6f8fa;position:sticky;top:0}td.l,th.l{text-align:left}\
tr.ok td:first-child,.verdict.ok{background:#dafbe1}tr.drift td:first-child,.verdict.drift{background:#fff8c5}\
tr.bad td:first-child,.verdict.bad{background:#ffdfb6}tr.verybad td:first-child,.verdict.verybad{background:#ffcecb}\
tr.nan td:first-child,.verdict.nan{background:#e6e6e6}tr.bad,tr.verybad{background:#fff5f3}\
figure{margin:10px 0}figcaption{color:#59636e;font-size:12.5px}ul{margin:4px 0;padding-left:22px}\
.meta{color:#59636e;font-size:12.5px}";

impl Doc {
    /// A document with a title.
    pub fn new(title: impl Into<String>) -> Self {
        Doc {
            title: title.into(),
            blocks: Vec::new(),
        }
    }
    /// Appends a block.
    pub fn push(&mut self, b: Block) {
        self.blocks.push(b);
    }

    /// Plain text for the terminal (figures are left out).
    pub fn to_terminal(&self) -> String {
        let mut o = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading(h) => o.push_str(&format!("\n{h}\n")),
                Block::Line(l) | Block::Verdict(_, l) => o.push_str(&format!("{l}\n")),
                Block::Table(t) => {
                    let mut tab = Table::new(t.header.clone());
                    for &c in &t.left {
                        tab = tab.left_align(c);
                    }
                    for r in &t.rows {
                        tab.row(r.clone());
                    }
                    o.push_str(&tab.render());
                }
                Block::Fields(f) => {
                    for (k, v) in f {
                        o.push_str(&format!("{k:<10} {v}\n"));
                    }
                }
                Block::List(items) => {
                    for i in items {
                        o.push_str(&format!("  - {i}\n"));
                    }
                }
                Block::Figure { .. } => {}
            }
        }
        o
    }

    /// GitHub-flavoured Markdown (figures are left out).
    pub fn to_markdown(&self) -> String {
        let mut o = format!("# {}\n\n", self.title);
        for b in &self.blocks {
            match b {
                Block::Heading(h) => o.push_str(&format!("## {h}\n\n")),
                Block::Line(l) => o.push_str(&format!("{}\n\n", md_cell(l))),
                Block::Verdict(_, l) => o.push_str(&format!("**{}**\n\n", md_cell(l))),
                Block::Table(t) => {
                    o.push_str(&format!(
                        "| {} |\n",
                        t.header
                            .iter()
                            .map(|h| md_cell(h))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ));
                    let align: Vec<&str> = (0..t.header.len())
                        .map(|i| if t.left.contains(&i) { ":--" } else { "--:" })
                        .collect();
                    o.push_str(&format!("| {} |\n", align.join(" | ")));
                    for r in &t.rows {
                        o.push_str(&format!(
                            "| {} |\n",
                            r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                        ));
                    }
                    o.push('\n');
                }
                Block::Fields(f) => {
                    o.push_str("| | |\n| :-- | :-- |\n");
                    for (k, v) in f {
                        o.push_str(&format!("| {} | {} |\n", md_cell(k), md_cell(v)));
                    }
                    o.push('\n');
                }
                Block::List(items) => {
                    for i in items {
                        o.push_str(&format!("- {}\n", md_cell(i)));
                    }
                    o.push('\n');
                }
                Block::Figure { .. } => {}
            }
        }
        o
    }

    /// One self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut o = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
            esc(&self.title),
            esc(&self.title)
        );
        for b in &self.blocks {
            match b {
                Block::Heading(h) => o.push_str(&format!("<h2>{}</h2>\n", esc(h))),
                Block::Line(l) => o.push_str(&format!("<p class=\"meta\">{}</p>\n", esc(l))),
                Block::Verdict(t, l) => o.push_str(&format!(
                    "<div><span class=\"verdict {}\">{}</span></div>\n",
                    t.class(),
                    esc(l)
                )),
                Block::Table(t) => {
                    o.push_str("<table><thead><tr>");
                    for (i, h) in t.header.iter().enumerate() {
                        let c = if t.left.contains(&i) {
                            " class=\"l\""
                        } else {
                            ""
                        };
                        o.push_str(&format!("<th{c}>{}</th>", esc(h)));
                    }
                    o.push_str("</tr></thead><tbody>\n");
                    for (r, tone) in t.rows.iter().zip(&t.tones) {
                        o.push_str(&format!("<tr class=\"{}\">", tone.class()));
                        for (i, c) in r.iter().enumerate() {
                            let cl = if t.left.contains(&i) {
                                " class=\"l\""
                            } else {
                                ""
                            };
                            o.push_str(&format!("<td{cl}>{}</td>", esc(c)));
                        }
                        o.push_str("</tr>\n");
                    }
                    o.push_str("</tbody></table>\n");
                }
                Block::Fields(f) => {
                    o.push_str("<table><tbody>\n");
                    for (k, v) in f {
                        o.push_str(&format!(
                            "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>\n",
                            esc(k),
                            esc(v)
                        ));
                    }
                    o.push_str("</tbody></table>\n");
                }
                Block::List(items) => {
                    o.push_str("<ul>");
                    for i in items {
                        o.push_str(&format!("<li>{}</li>", esc(i)));
                    }
                    o.push_str("</ul>\n");
                }
                Block::Figure { svg, caption } => o.push_str(&format!(
                    "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
                    esc(caption)
                )),
            }
        }
        o.push_str("</body></html>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_three_ways() {
        let mut d = Doc::new("T <1>");
        d.push(Block::Verdict(Tone::Bad, "first bad: a|b".into()));
        let mut t = DocTable::new(["", "stage", "cos"]).left(&[1]);
        t.row(Tone::Ok, vec!["✓".into(), "layer0.x".into(), "1.0".into()]);
        d.push(Block::Table(t));
        d.push(Block::Figure {
            svg: "<svg></svg>".into(),
            caption: "c".into(),
        });
        let term = d.to_terminal();
        assert!(
            term.contains("first bad: a|b") && term.contains("layer0.x") && !term.contains("svg")
        );
        let md = d.to_markdown();
        assert!(
            md.contains("**first bad: a\\|b**") && md.contains("| :-- |") || md.contains(":--")
        );
        assert!(md.contains("| ✓ | layer0.x | 1.0 |"));
        let html = d.to_html();
        assert!(html.contains("<title>T &lt;1&gt;</title>") && html.contains("<tr class=\"ok\">"));
        assert!(
            html.contains("<svg></svg>") && !html.contains("<script") && !html.contains("http")
        );
    }
}
