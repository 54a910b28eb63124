//! Records which source built the binary: the git revision and whether the files that go into
//! the build (`crates/`, `Cargo.toml`, `Cargo.lock`) differed from it. Every run writes both into
//! its `summary.json`, so a number can be traced to the code that made it.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for watched in [
        ".git/HEAD",
        ".git/index",
        ".git/refs",
        ".git/packed-refs",
        "crates",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let rev = git(&root, &["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(
        &root,
        &[
            "status",
            "--porcelain",
            "--",
            "crates",
            "Cargo.toml",
            "Cargo.lock",
        ],
    )
    .is_none_or(|s| !s.is_empty());
    println!("cargo:rustc-env=NNLAB_GIT_REV={rev}");
    println!("cargo:rustc-env=NNLAB_GIT_DIRTY={dirty}");
}
