//! The rating server's request handling (nnlab-rate): any bytes as one HTTP/1.1 connection, over
//! the same hyper limits and routes as `nnlab rate`. It must never panic, and whatever it answers
//! must be an HTTP response. The harness's study (a pool of two images, the token
//! `0123456789abcdef0123456789abcdef`, cookie `nnlab_rate_8765`) lives in a temporary folder;
//! before each input the pair `0123456789abcdef` is opened, and the seeds in `seeds/rate/` carry
//! the token and that pair, so the fuzzer starts past the checks and reaches the ledger and the
//! ratings file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nnlab_rate::server::Harness;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        // On tmpfs where there is one: every recorded choice is fsynced, which a disk makes the
        // bottleneck of the run.
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("nnlab-fuzz-rate-{}", std::process::id()));
        let pool = dir.join("report/pool");
        std::fs::create_dir_all(&pool).unwrap();
        std::fs::write(pool.join("ids.txt"), "a-0\nb-1\n").unwrap();
        for id in ["a-0", "b-1"] {
            std::fs::write(pool.join(format!("{id}.png")), id).unwrap();
        }
        let token = dir.join(".rate-token");
        std::fs::write(&token, "0123456789abcdef0123456789abcdef").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        Harness::new(&dir).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    h.open_pair("0123456789abcdef");
    let out = h.handle(data);
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
        "not an HTTP response: {:?}",
        String::from_utf8_lossy(&out[..out.len().min(200)])
    );
});
