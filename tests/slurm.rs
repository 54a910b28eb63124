//! `nnlab study --slurm` on a real (one-node) Slurm cluster: the study's runs as a job array and
//! its table as a dependent job give the same runs and the same table as the study run here.
//! CI starts the cluster with `scripts/slurm-one-node.sh`; without one the test is ignored.

mod common;

use std::path::Path;

use common::*;

fn study(tmp: &Path, name: &str) -> std::path::PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("study.toml"),
        "title = \"tiny grid\"\nconfig = \"../tiny.toml\"\nseeds = [1, 2]\n\
         [[axis]]\nname = \"lr\"\nkey = \"train.lr\"\nvalues = [0.01, 0.02]\n",
    )
    .unwrap();
    dir
}

/// The lines of the table that do not depend on timing, memory or the folder.
fn stable_lines(results: &Path) -> Vec<String> {
    std::fs::read_to_string(results)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("- 0.0") || l.starts_with("| 0.0"))
        .map(|l| {
            // Drop the timing and memory columns of table rows.
            if l.starts_with('|') {
                l.split('|').take(4).collect::<Vec<_>>().join("|")
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
#[ignore = "needs a Slurm cluster (CI starts a one-node one with scripts/slurm-one-node.sh)"]
fn a_study_on_slurm_matches_the_same_study_run_here() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    tiny_config(tmp.path(), 2);
    let here = study(tmp.path(), "here");
    let cluster = study(tmp.path(), "cluster");
    let (ok, _, stderr) = run(nnlab(tmp.path()).arg("study").arg(&here));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .current_dir(tmp.path())
        .arg("study")
        .arg(&cluster)
        .arg("--slurm")
        .args(["--wait", "--time=10"]));
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("submitted job array"), "{stdout}");
    let script = std::fs::read_to_string(cluster.join("slurm/runs.sbatch")).unwrap();
    assert!(
        script.contains("--task \"$SLURM_ARRAY_TASK_ID\""),
        "{script}"
    );
    for cell in ["0.01", "0.02"] {
        for seed in [1, 2] {
            let run = |d: &Path| d.join("runs").join(cell).join(format!("seed-{seed}"));
            assert_eq!(
                metrics_without_seconds(&run(&here)),
                metrics_without_seconds(&run(&cluster)),
                "{cell} seed {seed}"
            );
        }
    }
    let (a, b) = (
        stable_lines(&here.join("results.md")),
        stable_lines(&cluster.join("results.md")),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b);
    // Submitting again: nothing left to train, only the table.
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .current_dir(tmp.path())
        .arg("study")
        .arg(&cluster)
        .args(["--slurm", "--wait"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("every run of the study is finished"),
        "{stdout}"
    );
}

#[test]
fn report_only_names_the_unfinished_runs_and_task_trains_one() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    tiny_config(tmp.path(), 1);
    let dir = study(tmp.path(), "s");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("study")
        .arg(&dir)
        .arg("--report-only"));
    assert!(!ok);
    assert!(
        stderr.contains("4 run(s)") && stderr.contains("0.01 seed 1"),
        "{stderr}"
    );
    // Task 3 is the last cell's second seed.
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("study")
        .arg(&dir)
        .args(["--task", "3"]));
    assert!(ok, "{stderr}");
    assert!(dir.join("runs/0.02/seed-2/summary.json").is_file());
    assert!(!dir.join("runs/0.01/seed-1").exists());
    assert!(!dir.join("results.md").exists(), "a task writes no table");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("study")
        .arg(&dir)
        .args(["--task", "4"]));
    assert!(!ok);
    assert!(stderr.contains("the study has 4 runs (0 to 3)"), "{stderr}");
    for t in 0..3 {
        let (ok, _, stderr) = run(nnlab(tmp.path())
            .arg("study")
            .arg(&dir)
            .args(["--task", &t.to_string()]));
        assert!(ok, "{stderr}");
    }
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("study")
        .arg(&dir)
        .arg("--report-only"));
    assert!(ok, "{stderr}");
    assert!(dir.join("results.md").is_file());
}
