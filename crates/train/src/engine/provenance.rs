//! Where a result came from: the source revision the binary was built from (recorded by
//! `build.rs` at build time, not read from whatever folder the run happens in), the peak
//! memory of the process that trained, and how long that process took to reach its first batch.

use std::sync::OnceLock;
use std::time::Instant;

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Marks the start of the process (the `nnlab` binary calls it first thing in `main`).
pub fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

/// Seconds since [`mark_process_start`], if it was called.
pub fn since_process_start() -> Option<f64> {
    PROCESS_START.get().map(|t| t.elapsed().as_secs_f64())
}

/// `git rev-parse --short=7 HEAD` of the tree the binary was built from, or `unknown`.
pub const GIT_REV: &str = env!("NNLAB_GIT_REV");

/// Whether `crates/`, `Cargo.toml` or `Cargo.lock` differed from [`GIT_REV`] at build time.
pub fn git_dirty() -> bool {
    env!("NNLAB_GIT_DIRTY") == "true"
}

/// The revision with `-dirty` appended when the build's sources were not those of the commit.
pub fn revision() -> String {
    if git_dirty() {
        format!("{GIT_REV}-dirty")
    } else {
        GIT_REV.to_string()
    }
}

/// Peak resident set size of this process in MB, from `/proc/self/status` (Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
