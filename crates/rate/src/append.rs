//! Appending choices to `ratings.csv` so that nothing acknowledged is lost: the study folder is
//! locked (a second server on the same study is refused), every row is one `write` to a file
//! opened with `O_APPEND` followed by `fsync`, and a new file's folder is `fsync`ed too, so a row
//! the server answered 200 for survives a crash of the process or the machine.
//!
//! Before the first append the file is checked: its header must be this version's (a file of
//! the earlier six-column format is rewritten, atomically, in this one) and its last line whole
//! (a line cut short by a crash is reported and cut off, so the next row starts on a line of its
//! own). A failed append is undone by truncating the file back to its length before it; if even
//! that fails, every later append is refused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{RateError, Result};
use crate::ratings::{HEADER, HEADER_V1, RATINGS, Row};

/// The lock file beside `ratings.csv`, held while a server runs.
pub const LOCK: &str = ".rate.lock";

/// The ratings file of a study, locked for this process.
#[derive(Debug)]
pub struct RatingsFile {
    path: PathBuf,
    file: File,
    /// The file's length after the last whole row.
    len: u64,
    /// A failed append could not be undone: nothing more is written.
    broken: bool,
    /// Held (an exclusive lock) until dropped.
    _lock: File,
}

/// Takes the study's lock, or says who holds it.
fn lock(dir: &Path) -> Result<File> {
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| RateError::io(&lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(TryLockError::WouldBlock) => Err(RateError::Locked {
            dir: dir.to_path_buf(),
            lock: lock_path,
        }),
        Err(TryLockError::Error(e)) => Err(RateError::io(&lock_path, e)),
    }
}

/// Makes the ratings file ready for appending: a header of this version, a whole last line.
fn prepare(path: &Path) -> Result<()> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RateError::io(path, e)),
    };
    if text.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8(text).map_err(|_| RateError::BadRow {
        path: path.to_path_buf(),
        line: 0,
        why: "not UTF-8 text".into(),
    })?;
    let header = text.lines().next().unwrap_or_default();
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    if whole.len() < text.len() {
        eprintln!(
            "{}: the last line has no line end (a write cut short): it is cut off before appending",
            path.display()
        );
    }
    let rewritten = if header == HEADER {
        (whole.len() < text.len()).then(|| whole.to_string())
    } else if header == HEADER_V1 {
        // The earlier format: the same first six columns, nothing known of the other three.
        let body: String = whole.lines().skip(1).map(|l| format!("{l},,,\n")).collect();
        Some(format!("{HEADER}\n{body}"))
    } else if whole.is_empty() {
        // Only a torn header: start again.
        Some(String::new())
    } else {
        return Err(RateError::BadRow {
            path: path.to_path_buf(),
            line: 1,
            why: format!("the header is {header:?}, not a ratings file's ({HEADER:?})"),
        });
    };
    match rewritten {
        Some(new) => crate::replace::replace(path, new.as_bytes(), 0o666),
        None => Ok(()),
    }
}

impl RatingsFile {
    /// Locks the study in `dir` and opens its ratings file for appending, writing the header
    /// when the file is new or empty.
    pub fn open(dir: &Path) -> Result<Self> {
        let lock = lock(dir)?;
        let path = dir.join(RATINGS);
        prepare(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| RateError::io(&path, e))?;
        let len = file.metadata().map_err(|e| RateError::io(&path, e))?.len();
        let mut this = Self {
            path,
            file,
            len,
            broken: false,
            _lock: lock,
        };
        if len == 0 {
            this.append_bytes(format!("{HEADER}\n").as_bytes())?;
            // The new file's name is durable only once its folder is.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| RateError::io(dir, e))?;
        }
        Ok(this)
    }

    /// Appends one row as one line; returns once it is on disk.
    pub fn append(&mut self, row: &Row) -> Result<()> {
        let mut line = Vec::with_capacity(128);
        {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(&mut line);
            w.serialize(row)
                .and_then(|()| w.flush().map_err(csv::Error::from))
                .map_err(|e| RateError::Refused(format!("cannot write a ratings row: {e}")))?;
        }
        self.append_bytes(&line)
    }

    fn append_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.broken {
            return Err(RateError::Refused(format!(
                "{}: an earlier write failed and could not be undone; nothing more is written",
                self.path.display()
            )));
        }
        // One write: with O_APPEND the kernel places it at the end whole.
        let written = match self.file.write(bytes) {
            Ok(n) if n == bytes.len() => self.file.sync_data(),
            Ok(n) => Err(std::io::Error::other(format!(
                "a short write ({n} of {} bytes; the disk may be full)",
                bytes.len()
            ))),
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Undo whatever part of the row reached the file.
                if self.file.set_len(self.len).is_err() {
                    self.broken = true;
                }
                Err(RateError::io(&self.path, e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rater: &str) -> Row {
        Row {
            rater: rater.into(),
            unix_ms: 1,
            left: "a-0".into(),
            right: "b-1".into(),
            chosen: "b-1".into(),
            response_ms: 800,
            server_ms: Some(812),
            pair: Some("p1".into()),
            synthetic: Some(false),
        }
    }

    #[test]
    fn rows_are_whole_escaped_lines_and_the_study_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RatingsFile::open(dir.path()).unwrap();
        let e = RatingsFile::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("another `nnlab rate`"), "{e}");
        f.append(&row("Ann Lee")).unwrap();
        f.append(&row("Lee, \"Bo\"")).unwrap();
        drop(f);
        let text = std::fs::read_to_string(dir.path().join(RATINGS)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[1], "Ann Lee,1,a-0,b-1,b-1,800,812,p1,false");
        assert_eq!(
            lines[2],
            "\"Lee, \"\"Bo\"\"\",1,a-0,b-1,b-1,800,812,p1,false"
        );
        // Reopened after the first server stopped: appends, no second header.
        RatingsFile::open(dir.path())
            .unwrap()
            .append(&row("c"))
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(RATINGS)).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert_eq!(text.matches("rater,").count(), 1);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_an_old_file_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RATINGS);
        std::fs::write(
            &path,
            format!("{HEADER}\nann,1,a-0,b-1,b-1,800,812,p1,false\nbo,2,a"),
        )
        .unwrap();
        RatingsFile::open(dir.path())
            .unwrap()
            .append(&row("cy"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let (rows, notes) = crate::ratings::read_rows(&path, &text).unwrap();
        assert!(!notes.torn_last_line);
        let raters: Vec<&str> = rows.iter().map(|r| r.rater.as_str()).collect();
        assert_eq!(raters, ["ann", "cy"]);
        std::fs::write(&path, format!("{HEADER_V1}\nann,1,a-0,b-1,b-1,800\n")).unwrap();
        RatingsFile::open(dir.path())
            .unwrap()
            .append(&row("cy"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let (rows, _) = crate::ratings::read_rows(&path, &text).unwrap();
        assert_eq!((rows[0].rater.as_str(), rows[0].synthetic), ("ann", None));
        assert_eq!(
            (rows[1].rater.as_str(), rows[1].synthetic),
            ("cy", Some(false))
        );
        std::fs::write(&path, "who,what\n1,2\n").unwrap();
        let e = RatingsFile::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a ratings file"), "{e}");
    }
}
