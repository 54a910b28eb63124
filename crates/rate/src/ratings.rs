//! The ratings file, `ratings.csv` in the study folder: one row per choice, CSV with a header.
//! Written by the server one whole line at a time (see [`crate::append`]); read back here, with
//! the header checked and a torn last line (a write cut short by a crash) skipped.

use std::path::Path;

use crate::error::{RateError, Result};

/// The ratings file in the study folder.
pub const RATINGS: &str = "ratings.csv";
/// Its header: who chose, when (the server's clock), the pair shown, the image chosen, the
/// response time the page measured and the one the server measured (from serving the pair to
/// receiving the choice), the pair's one-time id, and whether the choice was made by the page's
/// test hook rather than a person.
pub const HEADER: &str = "rater,unix_ms,left,right,chosen,response_ms,server_ms,pair,synthetic";
/// The header of files written before the server issued pairs; whether their rows were made by
/// people or by the page's test hook is not known (the report counts them as people's).
pub const HEADER_V1: &str = "rater,unix_ms,left,right,chosen,response_ms";

/// One row of the ratings file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The rater's name (any text of 1 to 40 characters; CSV-escaped in the file).
    pub rater: String,
    /// When the choice was recorded, in milliseconds since 1970.
    pub unix_ms: u128,
    /// Pool id of the left image.
    pub left: String,
    /// Pool id of the right image.
    pub right: String,
    /// Pool id of the chosen image (`left` or `right`).
    pub chosen: String,
    /// Milliseconds from showing the pair to the click, measured by the page.
    pub response_ms: u64,
    /// Milliseconds from serving the pair to receiving the choice, measured by the server.
    #[serde(default)]
    pub server_ms: Option<u64>,
    /// The pair's one-time id.
    #[serde(default)]
    pub pair: Option<String>,
    /// Made by the page's test hook (`nnlab rate --synthetic`), not by a person.
    #[serde(default)]
    pub synthetic: Option<bool>,
}

/// What reading a ratings file found besides its rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadNotes {
    /// The last line had no line end (a write cut short): it was skipped.
    pub torn_last_line: bool,
}

/// Reads the rows of a ratings file's text. The header must be [`HEADER`] or [`HEADER_V1`]; a
/// last line without its line end is reported and skipped, every earlier row kept; any other
/// unreadable row is an error naming its line.
pub fn read_rows(path: &Path, text: &str) -> Result<(Vec<Row>, ReadNotes)> {
    let bad = |line: usize, why: String| RateError::BadRow {
        path: path.to_path_buf(),
        line,
        why,
    };
    let header = text.lines().next().unwrap_or_default();
    if header != HEADER && header != HEADER_V1 {
        return Err(bad(
            1,
            format!("the header is {header:?}, expected {HEADER:?}"),
        ));
    }
    let mut notes = ReadNotes::default();
    let mut body = &text[text.find('\n').map_or(text.len(), |i| i + 1)..];
    if !body.is_empty() && !body.ends_with('\n') {
        notes.torn_last_line = true;
        body = &body[..body.rfind('\n').map_or(0, |i| i + 1)];
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(body.as_bytes());
    let columns = header.split(',').count();
    let mut rows = Vec::new();
    for (k, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(k + 2, format!("not a CSV row: {e}")))?;
        if record.len() != columns {
            return Err(bad(
                k + 2,
                format!("{} fields, the header has {columns}", record.len()),
            ));
        }
        let row: Row = if columns == HEADER.split(',').count() {
            record.deserialize(None)
        } else {
            record
                .deserialize::<(String, u128, String, String, String, u64)>(None)
                .map(|(rater, unix_ms, left, right, chosen, response_ms)| Row {
                    rater,
                    unix_ms,
                    left,
                    right,
                    chosen,
                    response_ms,
                    server_ms: None,
                    pair: None,
                    synthetic: None,
                })
        }
        .map_err(|e| bad(k + 2, format!("not a rating: {e}")))?;
        rows.push(row);
    }
    Ok((rows, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_skipped_and_every_earlier_row_kept() {
        let path = Path::new("ratings.csv");
        let whole = format!("{HEADER}\nann,1,a-0,b-1,b-1,800,812,p1,false\n");
        let (rows, notes) = read_rows(path, &whole).unwrap();
        assert_eq!((rows.len(), notes.torn_last_line), (1, false));
        assert_eq!(rows[0].rater, "ann");
        let torn = format!("{whole}bo,2,a-0,b-1,a");
        let (rows, notes) = read_rows(path, &torn).unwrap();
        assert_eq!((rows.len(), notes.torn_last_line), (1, true));
    }

    #[test]
    fn the_header_is_checked_and_old_files_still_read() {
        let path = Path::new("ratings.csv");
        let e = read_rows(path, "who,what\nx,y\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("the header"), "{e}");
        let old = format!("{HEADER_V1}\nann,1,a-0,b-1,b-1,800\n");
        let (rows, _) = read_rows(path, &old).unwrap();
        assert_eq!(rows[0].synthetic, None);
        let e = read_rows(path, &format!("{HEADER}\nann,1,a-0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
