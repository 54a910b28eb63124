//! Appending choices to `ratings.csv` so that nothing acknowledged is lost: the study folder is
//! locked (a second server on the same study is refused), every row is one `write` to a file
//! opened with `O_APPEND` followed by `fsync`, and a new file's folder is `fsync`ed too, so a row
//! the server answered 200 for survives a crash of the process or the machine.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{RateError, Result};
use crate::ratings::{HEADER, RATINGS, Row};

/// The lock file beside `ratings.csv`, held while a server runs.
pub const LOCK: &str = ".rate.lock";

/// The ratings file of a study, locked for this process.
#[derive(Debug)]
pub struct RatingsFile {
    path: PathBuf,
    file: File,
    /// Held (an exclusive lock) until dropped.
    _lock: File,
}

impl RatingsFile {
    /// Locks the study in `dir` and opens its ratings file for appending, writing the header
    /// when the file is new or empty.
    pub fn open(dir: &Path) -> Result<Self> {
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| RateError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(RateError::Refused(format!(
                    "{}: another `nnlab rate` is serving this study (it holds {}); \
                     stop it first",
                    dir.display(),
                    lock_path.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(RateError::io(&lock_path, e)),
        }
        let path = dir.join(RATINGS);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| RateError::io(&path, e))?;
        let mut this = Self {
            path,
            file,
            _lock: lock,
        };
        let len = this
            .file
            .metadata()
            .map_err(|e| RateError::io(&this.path, e))?
            .len();
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
        // One write: with O_APPEND the kernel places it at the end whole.
        let n = self
            .file
            .write(bytes)
            .map_err(|e| RateError::io(&self.path, e))?;
        if n != bytes.len() {
            return Err(RateError::Refused(format!(
                "{}: a short write ({n} of {} bytes; the disk may be full)",
                self.path.display(),
                bytes.len()
            )));
        }
        self.file
            .sync_data()
            .map_err(|e| RateError::io(&self.path, e))
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
}
