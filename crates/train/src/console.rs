//! Output that never kills a run: `println!` panics when stdout is a closed pipe
//! (`nnlab train ... | head -1`), which would stop training in the middle of an epoch. Lines go
//! through [`say`] instead: once a write fails, nnlab stops printing and goes on working, so the
//! run still finishes (or stays resumable).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout, unless stdout has gone away.
pub fn say(line: std::fmt::Arguments<'_>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        STDOUT_GONE.store(true, Ordering::Relaxed);
    }
}

/// Writes one line to stderr, unless stderr has gone away.
pub fn complain(line: std::fmt::Arguments<'_>) {
    if STDERR_GONE.load(Ordering::Relaxed) {
        return;
    }
    if writeln!(std::io::stderr().lock(), "{line}").is_err() {
        STDERR_GONE.store(true, Ordering::Relaxed);
    }
}

/// `println!` that never panics (see the module docs).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => { $crate::console::say(format_args!($($t)*)) };
}

/// `eprintln!` that never panics (see the module docs).
#[macro_export]
macro_rules! complain {
    ($($t:tt)*) => { $crate::console::complain(format_args!($($t)*)) };
}
