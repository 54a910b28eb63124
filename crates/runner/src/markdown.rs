//! Markdown tables for every report (a study's `results.md`, the aesthetics report): one header
//! row, the separator, one row per entry; a cell's `|` is escaped so it cannot split the row.

/// A Markdown table being built.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|")
}

impl Table {
    /// A table with these column names.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; its cells after the header's last are dropped, missing ones left empty.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
        self
    }

    /// The table as Markdown lines, each ending with a line break.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.header);
        out.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_header_and_pipes_are_escaped() {
        let mut t = Table::new(["a", "b"]);
        t.row(["1", "x|y"]).row(["2"]);
        assert_eq!(
            t.render(),
            "| a | b |\n|---|---|\n| 1 | x\\|y |\n| 2 |  |\n"
        );
    }
}
