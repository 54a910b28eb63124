//! Run folders: created fresh (never overwritten), locked while a process writes to them, and
//! written file by file atomically (temporary file, fsync, rename).
//!
//! The lock is an OS file lock (`flock` on Linux) on `<run>/.lock`, held for as long as the
//! process owns the folder: the operating system releases it when the process ends, however it
//! ends, so a killed run's folder can be resumed at once, and two processes can never both hold
//! it. The file stays (it holds the owner's PID, for the error message); only the lock matters.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the lock file inside a run folder.
pub const LOCK: &str = ".lock";

/// A run folder owned by this process until dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// Holds the lock while open.
    _lock: File,
}

impl RunDir {
    /// Creates `path` for a new run. Refuses a folder that already holds anything.
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() {
            let empty = path.is_dir()
                && std::fs::read_dir(path)
                    .map_err(|e| Error::io(path, e))?
                    .next()
                    .is_none();
            if !empty {
                return Err(Error::RunDir(format!(
                    "run folder {} already exists and is not empty; choose another --out, or continue it with --resume {}",
                    path.display(),
                    path.display()
                )));
            }
        }
        std::fs::create_dir_all(path).map_err(|e| {
            Error::RunDir(format!("cannot create run folder {}: {e}", path.display()))
        })?;
        Self::lock(path)
    }

    /// Takes over an existing run folder (to resume it); refused while another process holds it.
    pub fn open(path: &Path) -> Result<Self> {
        config_of(path)?;
        Self::lock(path)
    }

    fn lock(path: &Path) -> Result<Self> {
        let lock = path.join(LOCK);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(|e| {
                Error::RunDir(format!(
                    "run folder {} is not writable: {e}",
                    path.display()
                ))
            })?;
        match f.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = f.read_to_string(&mut owner);
                let owner = match owner.trim() {
                    "" => String::new(),
                    pid => format!(" {pid}"),
                };
                return Err(Error::RunDir(format!(
                    "run folder {} is in use by process{owner} (it holds the lock on {}); wait for it or stop it",
                    path.display(),
                    lock.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&lock, e)),
        }
        f.set_len(0).map_err(|e| Error::io(&lock, e))?;
        f.rewind().map_err(|e| Error::io(&lock, e))?;
        writeln!(f, "{}", std::process::id()).map_err(|e| Error::io(&lock, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            _lock: f,
        })
    }

    /// Whether another process holds the folder's lock now.
    pub fn in_use(path: &Path) -> bool {
        std::fs::OpenOptions::new()
            .read(true)
            .open(path.join(LOCK))
            .is_ok_and(|f| matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` (relative to the folder) atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.path.join(name), bytes)
    }
}

/// The resolved config of the run folder `path`, or the error saying it is no run folder.
pub fn config_of(path: &Path) -> Result<PathBuf> {
    let config = path.join("config.toml");
    if config.is_file() {
        Ok(config)
    } else {
        Err(Error::RunDir(format!(
            "{} is not a run folder (no config.toml in it)",
            path.display()
        )))
    }
}

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// a temporary file in the same folder, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let io = |e| Error::io(&tmp, e);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Refuses to start when the disk holding `dir` has less than `needed` bytes free (checkpoints,
/// metrics and a margin). Where free space cannot be read, nothing is refused.
pub fn check_space(dir: &Path, needed: u64) -> Result<()> {
    let Ok(free) = fs4::available_space(dir) else {
        return Ok(());
    };
    if free < needed {
        return Err(Error::RunDir(format!(
            "not enough disk space for {}: the run needs about {:.1} MB for checkpoints, {:.1} MB are free",
            dir.display(),
            needed as f64 / 1e6,
            free as f64 / 1e6
        )));
    }
    Ok(())
}

/// The run folders (folders holding a `config.toml`) under `root`, up to three levels down, in
/// name order.
pub fn runs_under(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            if d.join("config.toml").is_file() {
                out.push(d);
            } else if depth > 1 {
                walk(&d, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, 3, &mut out);
    out
}

/// `runs/<name>/<YYYYmmdd-HHMMSS>` under `root`, with a `-2`, `-3`, ... suffix if taken.
pub fn default_path(root: &Path, name: &str) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let base = root.join(name).join(&stamp);
    let mut path = base.clone();
    let mut k = 2;
    while path.exists() {
        path = root.join(name).join(format!("{stamp}-{k}"));
        k += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_non_empty_folder_and_a_second_owner() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("r");
        let owner = RunDir::create(&run).unwrap();
        owner.write("config.toml", b"name = \"x\"").unwrap();
        let e = RunDir::create(&run).unwrap_err().to_string();
        assert!(e.contains("already exists and is not empty"), "{e}");
        assert!(RunDir::in_use(&run));
        let e = RunDir::open(&run).unwrap_err().to_string();
        assert!(
            e.contains(&format!("is in use by process {}", std::process::id())),
            "{e}"
        );
        drop(owner);
        assert!(!RunDir::in_use(&run), "the lock is released on drop");
        assert!(RunDir::open(&run).is_ok());
    }

    /// A PID in the lock file means nothing by itself: only the OS lock counts. A file naming
    /// a live process that does not hold the lock (PID 1 here; a PID file would refuse it) does
    /// not block, and once one process holds the lock a second cannot take it.
    #[test]
    fn only_the_os_lock_counts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "").unwrap();
        std::fs::write(dir.path().join(LOCK), "1\n").unwrap();
        let first = RunDir::open(dir.path()).unwrap();
        let e = RunDir::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is in use"), "{e}");
        drop(first);
        assert!(RunDir::open(dir.path()).is_ok());
    }

    #[test]
    fn unwritable_location_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let e = RunDir::create(&file.join("run")).unwrap_err().to_string();
        assert!(e.contains("cannot create run folder"), "{e}");
    }

    #[test]
    fn too_little_disk_is_refused_before_training() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_space(dir.path(), 1).is_ok());
        let e = check_space(dir.path(), u64::MAX).unwrap_err().to_string();
        assert!(
            e.contains("not enough disk space") && e.contains("MB are free"),
            "{e}"
        );
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
