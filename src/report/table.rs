//! The terminal rendering of a `DocTable` (private to the report layer, which builds `DocTable`s):
//! right-aligned columns, a header and a rule.

/// A table of string cells.
#[derive(Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    left: Vec<bool>,
}

impl Table {
    /// A table with these column headers; all columns right-aligned.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        let header: Vec<String> = header.into_iter().map(Into::into).collect();
        let left = vec![false; header.len()];
        Table {
            header,
            rows: Vec::new(),
            left,
        }
    }

    /// Left-align column `i` (names, stages).
    pub fn left_align(mut self, i: usize) -> Table {
        if i < self.left.len() {
            self.left[i] = true;
        }
        self
    }

    /// Appends a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Renders with two spaces between columns.
    #[allow(clippy::needless_range_loop)] // column index into widths, alignment and cells
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w = vec![0usize; n];
        for r in std::iter::once(&self.header).chain(self.rows.iter()) {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let fmt_row = |r: &Vec<String>| {
            let mut s = String::new();
            for i in 0..n {
                let c = r.get(i).map(String::as_str).unwrap_or("");
                let pad = w[i] - c.chars().count();
                if i > 0 {
                    s.push_str("  ");
                }
                if self.left[i] {
                    s.push_str(c);
                    if i + 1 < n {
                        s.push_str(&" ".repeat(pad));
                    }
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
            }
            s
        };
        let mut out = fmt_row(&self.header);
        out.push('\n');
        out.push_str(&"-".repeat(w.iter().sum::<usize>() + 2 * n.saturating_sub(1)));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&fmt_row(r));
            out.push('\n');
        }
        out
    }
}
