//! The classifier trains to bit-identical `metrics.csv` files: each case in
//! `tests/fixtures/classifier/cases.toml` was run by nnlab and stored (without the timing
//! column); here the same runs are made with today's binary and every number must match to the
//! last bit. `cases.toml` says which revision made them and what changed the last bits since
//! (the fixtures first pinned the training loop's move onto the shared engine). After a change
//! that is meant to alter what is computed, `NNLAB_FIXTURES_REMAKE=1` writes them again.
//!
//! The fixtures were made with the flex backend on a 2-core AMD EPYC (Zen 3, AVX2) machine,
//! described in `cases.toml`'s `[machine]`. burn-flex's matrix products (the `gemm` crate) pick
//! their kernels by the CPU's vector units and size their blocks by its caches, which sets the
//! order of every sum, so another CPU can differ in the last bits and, through training, a little
//! more. On the fixtures' machine every number must match to the last bit; on another one (said
//! on stderr) each loss must agree within 1 % and each accuracy within 2 points, which still
//! catches any change to what is computed (a wrong update or loss moves them by far more).

mod common;

use std::path::{Path, PathBuf};

use common::*;

#[derive(serde::Deserialize)]
struct Cases {
    machine: Machine,
    case: Vec<Case>,
}

/// What sets the order of the sums in burn-flex's matrix products.
#[derive(serde::Deserialize, PartialEq, Debug)]
struct Machine {
    cpu: String,
    avx512: bool,
    caches: Vec<String>,
}

impl Machine {
    /// This machine, read from Linux's /proc and /sys (`None` elsewhere).
    fn this() -> Option<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let avx512 = field("flags")?.split_whitespace().any(|f| f == "avx512f");
        let mut caches = Vec::new();
        for index in 0.. {
            let dir = PathBuf::from(format!("/sys/devices/system/cpu/cpu0/cache/index{index}"));
            let Ok(level) = std::fs::read_to_string(dir.join("level")) else {
                break;
            };
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            caches.push(format!(
                "L{} {} {}",
                level.trim(),
                read("type").trim(),
                read("size").trim()
            ));
        }
        Some(Self {
            cpu: field("model name")?,
            avx512,
            caches,
        })
    }
}

/// Whether this machine is the one that made the fixtures (said on stderr when it is not),
/// found once per test process.
fn on_fixture_machine() -> bool {
    static SAME: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SAME.get_or_init(compare_machines)
}

fn compare_machines() -> bool {
    let theirs = read_cases().machine;
    let ours = Machine::this();
    let same = ours.as_ref() == Some(&theirs);
    if !same {
        eprintln!(
            "not the fixtures' machine ({ours:?}, fixtures: {theirs:?}): numbers are compared \
             within 1 % (losses) and 2 points (accuracies), not to the last bit"
        );
    }
    same
}

/// `actual` against `expected` (both metrics.csv without `seconds`): same header and epochs,
/// each loss within 1 % and each accuracy within 0.02.
fn assert_near(actual: &str, expected: &str, name: &str) {
    let (a, e): (Vec<_>, Vec<_>) = (actual.lines().collect(), expected.lines().collect());
    assert_eq!(a.len(), e.len(), "{name}: rows");
    assert_eq!(a[0], e[0], "{name}: header");
    let header: Vec<&str> = e[0].split(',').collect();
    for (ra, re) in a[1..].iter().zip(&e[1..]) {
        for ((col, x), y) in header.iter().zip(ra.split(',')).zip(re.split(',')) {
            if x.is_empty() || y.is_empty() {
                assert_eq!(x, y, "{name}: {col} (row {ra})");
                continue;
            }
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            let ok = if col.ends_with("accuracy") {
                (x - y).abs() <= 0.02
            } else {
                (x - y).abs() <= 0.01 * y.abs().max(1e-3)
            };
            assert!(ok, "{name}: {col} {x} vs fixture {y} (row {ra})");
        }
    }
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    mnist: Option<String>,
    set: Vec<String>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/classifier")
}

fn read_cases() -> Cases {
    let text = std::fs::read_to_string(fixtures().join("cases.toml")).unwrap();
    toml::from_str::<Cases>(&text).unwrap()
}

fn cases() -> Vec<Case> {
    read_cases().case
}

/// Trains `case` with `config` on the data under `root` and compares with its fixture.
fn check(case: &Case, config: &Path, root: &Path, tmp: &Path) {
    let out = tmp.join(&case.name);
    let mut cmd = nnlab(root);
    cmd.arg("train").arg(config).arg("--out").arg(&out);
    for s in &case.set {
        cmd.args(["--set", s]);
    }
    let (ok, _, stderr) = run(&mut cmd);
    assert!(ok, "{}: {stderr}", case.name);
    let file = fixtures().join(format!("{}.csv", case.name));
    let actual = metrics_without_seconds(&out);
    if std::env::var("NNLAB_FIXTURES_REMAKE").is_ok_and(|v| v == "1") {
        // Only when a change to what is computed is meant (said in cases.toml): write, don't compare.
        assert!(
            on_fixture_machine(),
            "fixtures are made on the machine in cases.toml only"
        );
        std::fs::write(&file, format!("{actual}\n")).unwrap();
        eprintln!("{}: fixture written", case.name);
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap();
    if on_fixture_machine() {
        assert_eq!(
            actual,
            expected.trim_end(),
            "{}: metrics.csv differs from its fixture (cases.toml says where they come from)",
            case.name
        );
    } else {
        assert_near(&actual, expected.trim_end(), &case.name);
    }
}

#[test]
fn tiny_runs_are_bit_identical_to_the_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    let config = tiny_config(tmp.path(), 3);
    let tiny: Vec<Case> = cases().into_iter().filter(|c| c.mnist.is_none()).collect();
    assert!(tiny.len() >= 9, "the fixture cases are there");
    for case in &tiny {
        check(case, &config, tmp.path(), tmp.path());
    }
}

#[test]
#[ignore = "needs MNIST: set NNLAB_DATA to the folder holding mnist/ (CI runs it with --ignored)"]
fn mnist_runs_are_bit_identical_to_the_fixtures() {
    let root = mnist_root().expect("NNLAB_DATA must point at a folder holding mnist/");
    let tmp = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for case in cases().into_iter().filter(|c| c.mnist.is_some()) {
        let config = workspace.join(case.mnist.as_ref().unwrap());
        check(&case, &config, &root, tmp.path());
    }
}

/// The comparison used on other machines still tells runs apart: a fixture matches itself, and
/// not another optimizer's run on the same data.
#[test]
fn the_tolerant_comparison_tells_runs_apart() {
    let read = |name: &str| {
        let text = std::fs::read_to_string(fixtures().join(format!("{name}.csv"))).unwrap();
        text.trim_end().to_string()
    };
    let (adam, momentum) = (read("manual_adam"), read("manual_momentum"));
    assert_near(&adam, &adam, "itself");
    let other = std::panic::catch_unwind(|| assert_near(&momentum, &adam, "another run"));
    assert!(
        other.is_err(),
        "another optimizer's run passed as the fixture"
    );
}
