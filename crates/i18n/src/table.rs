//! Columns aligned by display width.
//!
//! A Japanese character takes two columns of a terminal; counting `char`s would push every
//! column after a Japanese cell out of line. [`width`] is the Unicode East Asian width of a
//! string (the `unicode-width` crate, as used by ripgrep's and clap's own output).

use unicode_width::UnicodeWidthStr;

/// The number of terminal columns `s` takes.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: to the left.
    Left,
    /// Numbers: to the right.
    Right,
}

/// A table: a header row and rows of cells, printed with two spaces between columns.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, all aligned left.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let align = vec![Align::Left; headers.len()];
        Table {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    /// Aligns column `index` (counted from 0) as `align`.
    #[must_use]
    pub fn align(mut self, index: usize, align: Align) -> Table {
        if let Some(a) = self.align.get_mut(index) {
            *a = align;
        }
        self
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.headers.len(), String::new());
        // A cell is one line: a newline or tab inside one (an operator's name from a file)
        // would break every column after it.
        for c in &mut cells {
            if c.contains(['\n', '\r', '\t']) {
                *c = c.replace(['\n', '\r', '\t'], " ");
            }
        }
        self.rows.push(cells);
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each line ending in `\n`.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(width(cell));
                let last = i + 1 == row.len();
                match self.align[i] {
                    Align::Left => {
                        line.push_str(cell);
                        if !last {
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_cells_line_up_by_display_width() {
        let mut t = Table::new(["氏名", "回数"]).align(1, Align::Right);
        t.row(["山田太郎", "3"]);
        t.row(["bob", "12"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "氏名      回数");
        assert_eq!(lines[1], "山田太郎     3");
        assert_eq!(lines[2], "bob         12");
        // Every line ends at the same column.
        let ends: Vec<usize> = lines.iter().map(|l| width(l)).collect();
        assert!(ends.iter().all(|&e| e == ends[0]), "{ends:?}");
    }

    #[test]
    fn a_newline_in_a_cell_cannot_break_the_table() {
        let mut t = Table::new(["a", "b"]);
        t.row(["x\ny", "z"]);
        t.row(["only one"]);
        assert_eq!(t.render().lines().count(), 3);
        assert_eq!(width("日本"), 4);
    }
}
