//! Replacing a file's content so that a crash leaves either the old content or the new, never
//! a part: a temporary file beside it, fsynced, renamed over it, and the folder fsynced so the
//! rename itself is on disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{RateError, Result};

/// Replaces `path`'s content with `bytes`; the file has `mode` (before the umask) from the moment
/// it exists, so a private file is never readable by others, not even for an instant.
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let tmp = path.with_file_name(format!("{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| RateError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| RateError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RateError::io(path, e))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))
        .and_then(|d| d.sync_all())
        .map_err(|e| RateError::io(path, e))
}
