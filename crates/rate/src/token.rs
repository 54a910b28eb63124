//! The study's rating token: 128 random bits as 32 hex digits in `.rate-token`, readable by its
//! owner only. Whoever holds it can record choices, so the server refuses to start when the file
//! is readable by other users, and accepts only the token it read from the file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use subtle::ConstantTimeEq;

use crate::error::{RateError, Result};

/// The file holding the study's token, in the study folder.
pub const TOKEN: &str = ".rate-token";

/// Hex digits in a token (128 bits).
const DIGITS: usize = 32;

/// The study's token: read from `.rate-token`, or made and written there with mode 0600.
///
/// Refuses a token file that other users can read or write (the token would let them post
/// choices) and one that does not hold a token.
pub fn load_or_make(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN);
    match std::fs::metadata(&path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(RateError::TokenFile {
                    path,
                    why: format!(
                        "mode {mode:03o} lets other users read the rating token; \
                         `chmod 600` it (or delete it for a new token)"
                    ),
                });
            }
            let text = std::fs::read_to_string(&path).map_err(|e| RateError::io(&path, e))?;
            let t = text.trim();
            if t.len() != DIGITS || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(RateError::TokenFile {
                    path,
                    why: format!(
                        "not a rating token ({DIGITS} hex digits); delete it for a new one"
                    ),
                });
            }
            Ok(t.to_ascii_lowercase())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut rng = ChaCha20Rng::from_os_rng();
            let t: String = (0..DIGITS)
                .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("a hex digit"))
                .collect();
            crate::replace::replace(&path, t.as_bytes(), 0o600)?;
            Ok(t)
        }
        Err(e) => Err(RateError::io(&path, e)),
    }
}

/// Whether `given` is the token, compared in constant time (for tokens of the right length).
pub fn matches(token: &str, given: &str) -> bool {
    token.len() == given.len() && bool::from(token.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_is_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let t = load_or_make(dir.path()).unwrap();
        assert_eq!(t.len(), DIGITS);
        let meta = std::fs::metadata(dir.path().join(TOKEN)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            load_or_make(dir.path()).unwrap(),
            t,
            "read back, not remade"
        );
        assert!(matches(&t, &t));
        assert!(!matches(&t, &"0".repeat(DIGITS)));
        assert!(!matches(&t, &t[1..]));
    }

    #[test]
    fn a_readable_or_corrupt_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_make(dir.path()).unwrap();
        let path = dir.path().join(TOKEN);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_make(dir.path()).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "0123").unwrap();
        let e = load_or_make(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a rating token"), "{e}");
    }
}
