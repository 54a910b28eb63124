//! Ctrl-C (SIGINT): the first one asks the loop to stop at the next batch and save; training is
//! never killed mid-write.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// Makes Ctrl-C set the stop flag instead of killing the process, and clears the flag.
pub fn arm() {
    HANDLER.call_once(|| {
        // If the embedding program already owns SIGINT, it keeps it.
        let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    });
    STOP.store(false, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed since [`arm`].
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
