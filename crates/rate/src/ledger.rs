//! The pairs the server has shown: each has a one-time id, and a choice is recorded for it at
//! most once. A pair is open when shown, pending while its row is being written (the ledger is
//! not held across the disk), and chosen once the row is on disk.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use rand::Rng;
use rand_chacha::ChaCha20Rng;

/// Pairs shown and not yet chosen that the server remembers; the oldest is forgotten first.
pub const OPEN_PAIRS: usize = 10_000;

/// A pair the server showed: indices into the pool, and when.
#[derive(Debug, Clone, Copy)]
pub struct Issued {
    /// The left image.
    pub left: usize,
    /// The right image.
    pub right: usize,
    /// When it was served.
    pub at: Instant,
}

/// Why a choice cannot take its pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The server never showed it (or forgot it: more than [`OPEN_PAIRS`] shown since).
    Unknown,
    /// Its choice is being written now.
    Pending,
    /// Its choice is recorded.
    Chosen,
}

/// The pairs and how many choices were recorded.
#[derive(Debug)]
pub struct Ledger {
    rng: ChaCha20Rng,
    open: HashMap<String, Issued>,
    /// Open ids, oldest first; ids no longer open are skipped and compacted away.
    order: VecDeque<String>,
    pending: HashSet<String>,
    chosen: HashSet<String>,
    /// Choices recorded by this server.
    pub recorded: usize,
}

impl Ledger {
    /// An empty ledger drawing pairs and ids from `rng`.
    pub fn new(rng: ChaCha20Rng) -> Self {
        Self {
            rng,
            open: HashMap::new(),
            order: VecDeque::new(),
            pending: HashSet::new(),
            chosen: HashSet::new(),
            recorded: 0,
        }
    }

    /// Shows a new pair of two different images of a pool of `n` (at least 2): its id and
    /// images.
    pub fn issue(&mut self, n: usize) -> (String, Issued) {
        let left = self.rng.random_range(0..n);
        let right = (left + self.rng.random_range(1..n)) % n;
        let id = format!("{:016x}", self.rng.random::<u64>());
        let issued = Issued {
            left,
            right,
            at: Instant::now(),
        };
        self.open_with(id.clone(), issued);
        (id, issued)
    }

    /// Opens `id` for the pair `issued` (the fuzz harness opens a known id this way).
    pub fn open_with(&mut self, id: String, issued: Issued) {
        while self.open.len() >= OPEN_PAIRS {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.open.remove(&old);
        }
        self.open.insert(id.clone(), issued);
        self.order.push_back(id);
        while self
            .order
            .front()
            .is_some_and(|f| !self.open.contains_key(f))
        {
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.open.len() + 1024 {
            let open = &self.open;
            self.order.retain(|i| open.contains_key(i));
        }
    }

    /// Takes the open pair `id` for a choice: it is pending until [`Ledger::done`] or
    /// [`Ledger::restore`].
    pub fn take(&mut self, id: &str) -> Result<Issued, Taken> {
        if let Some(issued) = self.open.remove(id) {
            self.pending.insert(id.to_string());
            return Ok(issued);
        }
        Err(if self.pending.contains(id) {
            Taken::Pending
        } else if self.chosen.contains(id) {
            Taken::Chosen
        } else {
            Taken::Unknown
        })
    }

    /// The pending pair's choice is on disk.
    pub fn done(&mut self, id: &str) {
        self.pending.remove(id);
        self.chosen.insert(id.to_string());
        self.recorded += 1;
    }

    /// The pending pair's choice was not recorded: the pair is open again.
    pub fn restore(&mut self, id: &str, issued: Issued) {
        self.pending.remove(id);
        self.open.insert(id.to_string(), issued);
        self.order.push_back(id.to_string());
    }

    /// Pairs open now.
    pub fn open_pairs(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_pair_is_taken_once_and_restored_on_failure() {
        let mut l = Ledger::new(ChaCha20Rng::seed_from_u64(1));
        let (id, issued) = l.issue(3);
        assert_ne!(issued.left, issued.right);
        assert_eq!(l.take("nope").unwrap_err(), Taken::Unknown);
        let got = l.take(&id).unwrap();
        assert_eq!((got.left, got.right), (issued.left, issued.right));
        assert_eq!(l.take(&id).unwrap_err(), Taken::Pending);
        l.restore(&id, got);
        l.take(&id).unwrap();
        l.done(&id);
        assert_eq!(l.take(&id).unwrap_err(), Taken::Chosen);
        assert_eq!(l.recorded, 1);
    }

    #[test]
    fn open_pairs_are_bounded_and_the_oldest_forgotten() {
        let mut l = Ledger::new(ChaCha20Rng::seed_from_u64(1));
        let (first, _) = l.issue(2);
        for _ in 0..OPEN_PAIRS + 5 {
            let (id, _) = l.issue(2);
            let issued = l.take(&id).unwrap();
            l.restore(&id, issued);
        }
        assert_eq!(l.open_pairs(), OPEN_PAIRS);
        assert_eq!(l.take(&first).unwrap_err(), Taken::Unknown);
        assert!(l.order.len() <= 2 * OPEN_PAIRS + 1024, "{}", l.order.len());
    }
}
