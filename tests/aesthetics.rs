//! `nnlab aesthetics` and `nnlab rate` end to end on tiny data the test writes itself: a small
//! classifier as the eye, a small VAE as a generator, CPPN art and noise; the report without
//! people's choices ("no human data"), then with simulated choices (Bradley-Terry scores,
//! Spearman correlations, the hypotheses' verdicts); and, in a real headless browser, the rating
//! page's test hook making choices that land in the ratings file marked synthetic, and in the fit
//! only when asked. The server under attack and load: `tests/rating_server.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;

/// Trains the eye (an MLP) and a VAE on tiny data and writes a study folder reading them.
fn study(tmp: &Path) -> PathBuf {
    write_tiny(tmp, "tiny", 320, 200);
    let eye = tiny_config(tmp, 3);
    let vae = tmp.join("vae.toml");
    std::fs::write(
        &vae,
        "name = \"vae\"\nseed = 2\n[data]\ndataset = \"tiny\"\n[model]\nkind = \"vae\"\n\
         hidden = [32]\nlatent = 4\n[train]\nepochs = 2\nbatch_size = 16\nlr = 0.01\n",
    )
    .unwrap();
    for (config, out) in [(&eye, "runs/eye"), (&vae, "runs/vae")] {
        let (ok, _, stderr) = run(nnlab(tmp)
            .arg("train")
            .arg(config)
            .arg("--out")
            .arg(tmp.join(out)));
        assert!(ok, "{stderr}");
    }
    let dir = tmp.join("study");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("aesthetics.toml"),
        r#"title = "tiny aesthetics"
eye = "../runs/eye"
images = 60
rated_per_set = 3
[[set]]
name = "real"
source = "test"
[[set]]
name = "prototypes"
source = "prototypes"
[[set]]
name = "vae"
source = "run"
run = "../runs/vae"
[[set]]
name = "art"
source = "cppn"
size = 128
[[set]]
name = "noise"
source = "noise"
[[hypothesis]]
measure = "symmetry_lr"
expect = "positive"
text = "Symmetry raises preference"
[[hypothesis]]
measure = "confidence"
expect = "positive"
sets = ["vae", "real"]
text = "Confident digits are preferred"
"#,
    )
    .unwrap();
    dir
}

fn aesthetics(tmp: &Path, dir: &Path) -> String {
    let (ok, stdout, stderr) = run(nnlab(tmp).arg("aesthetics").arg(dir));
    assert!(ok, "{stdout}\n{stderr}");
    std::fs::read_to_string(dir.join("results.md")).unwrap()
}

const SETS: [&str; 5] = ["real", "prototypes", "vae", "art", "noise"];

#[test]
fn report_without_and_with_human_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = study(tmp.path());
    let md = aesthetics(tmp.path(), &dir);
    assert!(md.contains("**No human data.**"), "{md}");
    assert!(
        !md.contains("Spearman rho"),
        "no correlations without ratings"
    );
    for measure in [
        "complexity",
        "symmetry_lr",
        "birkhoff",
        "fractal_d",
        "confidence",
        "prototype_distance",
        "inception_score",
        "fid",
        "kid",
        "precision",
        "nearest_train",
    ] {
        assert!(
            md.contains(&format!("| {measure} |")),
            "{measure} missing:\n{md}"
        );
    }
    assert!(md.contains("refused (n = 10 < 50)"), "{md}");
    assert!(md.contains("(n = 60)"), "{md}");
    assert!(md.contains("unitless, x 1000"), "KID's unit: {md}");
    assert!(
        md.contains("## Hypotheses")
            && md.contains("- Symmetry raises preference: `symmetry_lr` correlates positively"),
        "{md}"
    );
    let page = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    // The page renders the Markdown it shares with results.md, and says n beside every set.
    assert!(page.contains("<strong>No human data.</strong>"), "{page}");
    assert!(!page.contains("**"), "no raw Markdown on the page");
    assert!(page.contains("<b>real</b> (n = 60)") && page.contains("<h2>Hypotheses</h2>"));
    assert!(
        page.contains("<code>fid</code>: Frechet distance"),
        "definitions on the page"
    );
    for set in SETS {
        assert!(page.contains(&format!("src=\"sets/{set}.png\"")), "{set}");
        assert!(dir.join(format!("report/sets/{set}.png")).is_file());
    }
    assert!(page.contains("preferred.png") && dir.join("report/preferred.png").is_file());
    // What the eye looks at: a map per set, on the page and in results.md.
    assert!(md.contains("## What the eye looks at") && page.contains("What the eye looks at"));
    for set in SETS {
        assert!(
            dir.join(format!("report/gaze/{set}.png")).is_file(),
            "{set}"
        );
        assert!(page.contains(&format!("src=\"gaze/{set}.png\"")), "{set}");
    }
    assert!(page.contains("No human data"));
    // Fractal dimension applies only to the 128 px CPPN images.
    let csv = std::fs::read_to_string(dir.join("report/measures.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let fd = header.iter().position(|h| *h == "fractal_d").unwrap();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[fd].is_empty(), f[0] != "art", "{line}");
    }
    assert_eq!(
        csv.lines().count(),
        1 + 60 * 4 + 10,
        "60 per set, 10 prototypes"
    );
    // The record: every set's figures, with the build that made them.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["git_rev"].is_string());
    for set in SETS {
        let figures = &summary["sets"][set];
        let gaze = &figures["gaze"];
        let share = |k: &str| gaze[k].as_f64().unwrap_or(f64::NAN);
        assert!(
            gaze["images"].as_u64().unwrap() > 0
                && (0.0..=1.0).contains(&share("attribution_on_strokes"))
                && (0.0..=1.0).contains(&share("pixels_that_are_strokes")),
            "{set}: {gaze}"
        );
        assert!(
            (0.0..=1.0).contains(&share("brightness_on_strokes")),
            "{gaze}"
        );
        let measures = &figures["set_measures"];
        // Every set measure says its n; a set too small for a measure is refused, saying so:
        // 60 images are too few for the Inception Score (100), 10 prototypes for all but the
        // distance to the training images.
        let n = if set == "prototypes" { 10 } else { 60 };
        assert_eq!(measures["kid"]["n"], n, "{set}: {measures}");
        assert_eq!(
            measures["inception_score"]["refused"],
            format!("n = {n} < 100"),
            "{set}: {measures}"
        );
        if set == "prototypes" {
            assert!(measures["kid"]["value"].is_null(), "{measures}");
            assert_eq!(measures["kid"]["refused"], "n = 10 < 50");
        } else {
            for m in ["kid", "precision", "recall"] {
                assert!(measures[m]["value"].is_number(), "{set} {m}: {measures}");
                assert!(measures[m]["sd"].is_number(), "{set} {m}: {measures}");
            }
        }
        assert!(
            figures["image_measures_mean_std"]["complexity"][0].is_number(),
            "{set}: {figures}"
        );
    }
    // The pool: 3 per set.
    let ids = std::fs::read_to_string(dir.join("report/pool/ids.txt")).unwrap();
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 15);
    // Simulated raters who prefer art, then real digits, then the rest, by set.
    let rank = |id: &str| match id.rsplit_once('-').unwrap().0 {
        "art" => 4,
        "real" => 3,
        "prototypes" => 2,
        "vae" => 1,
        _ => 0,
    };
    let mut ratings = String::from("rater,unix_ms,left,right,chosen,response_ms\n");
    for (k, a) in ids.iter().enumerate() {
        for b in &ids[k + 1..] {
            if rank(a) != rank(b) {
                let chosen = if rank(a) > rank(b) { a } else { b };
                ratings.push_str(&format!("sim{},0,{a},{b},{chosen},700\n", k % 2));
            }
        }
    }
    std::fs::write(dir.join("ratings.csv"), &ratings).unwrap();
    let md = aesthetics(tmp.path(), &dir);
    assert!(!md.contains("No human data"), "{md}");
    let choices = ratings.lines().count() - 1;
    assert!(
        md.contains(&format!("{choices} choices by 2 rater(s) over 15 images")),
        "{md}"
    );
    assert!(md.contains("| measure | Spearman rho | 95 % interval | images |"));
    assert!(md.contains("Most preferred: art-"), "{md}");
    assert!(md.contains("Symmetry raises preference — rho"), "{md}");
    assert!(md.contains("Confident digits are preferred — rho"), "{md}");
    // A ratings file that names images outside the pool is an error naming the line.
    std::fs::write(
        dir.join("ratings.csv"),
        format!("{ratings}x,0,art-0,zzz-1,art-0,5\n"),
    )
    .unwrap();
    let (ok, _, stderr) = run(nnlab(tmp.path()).arg("aesthetics").arg(&dir));
    assert!(!ok);
    assert!(
        stderr.contains(&format!("line {}", choices + 2)),
        "{stderr}"
    );
}

#[test]
fn a_bad_study_file_says_which_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("aesthetics.toml"),
        "title = \"t\"\neye = \"e\"\n[[set]]\nname = \"a\"\nsource = \"tests\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = run(nnlab(tmp.path()).arg("aesthetics").arg(&dir));
    assert!(!ok);
    assert!(
        stderr.contains("aesthetics.toml") && stderr.contains("tests"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("rate")
        .arg(&dir)
        .args(["--port", "0"]));
    assert!(!ok);
    assert!(
        stderr.contains("nnlab aesthetics"),
        "the pool is made first: {stderr}"
    );
}

/// Starts `nnlab rate --synthetic` (the page's test hook on) on a free port; returns the process
/// and the page's URL.
fn serve(tmp: &Path, dir: &Path, stop_after: usize) -> (Child, String) {
    start_rate(
        tmp,
        dir,
        &["--synthetic", "--stop-after", &stop_after.to_string()],
    )
}

fn ratings_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ratings.csv"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    false
}

#[test]
#[ignore = "needs Debian's chromium (CI installs it and runs the ignored tests)"]
fn the_rating_page_works_in_a_headless_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = study(tmp.path());
    aesthetics(tmp.path(), &dir);
    let choices = 6;
    let (mut child, url) = serve(tmp.path(), &dir, choices);
    let profile = tmp.path().join("chromium-profile");
    let browser = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--virtual-time-budget=30000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("{url}&auto={choices}&rater=browser"))
        .output()
        .expect("chromium is installed (apt-get install chromium)");
    let dom = String::from_utf8_lossy(&browser.stdout);
    assert!(
        wait(&mut child, Duration::from_secs(60)),
        "the server stops after {choices} choices; page:\n{dom}"
    );
    assert!(
        dom.contains(&format!("auto: {choices} choices made")),
        "{dom}"
    );
    let lines = ratings_lines(&dir);
    assert_eq!(lines.len(), 1 + choices, "{lines:?}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("browser,") && l.ends_with(",true")),
        "every row the test hook made is marked synthetic: {lines:?}"
    );
    // The analysis leaves synthetic rows out unless asked.
    let md = aesthetics(tmp.path(), &dir);
    assert!(md.contains("**No human data.**"), "{md}");
    assert!(md.contains(&format!("{choices} synthetic choices")), "{md}");
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .arg("aesthetics")
        .arg(&dir)
        .arg("--with-synthetic"));
    assert!(ok, "{stdout}\n{stderr}");
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    assert!(
        md.contains(&format!("{choices} choices by 1 rater(s)")),
        "{md}"
    );
    assert!(md.contains("Bradley-Terry scores"), "{md}");
}
