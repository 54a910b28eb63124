//! Studies on a Slurm cluster: `nnlab study DIR --slurm [sbatch options]` writes two batch
//! scripts beside the study's table and submits them with `sbatch`:
//!
//! - `slurm/runs.sbatch`, one job array with a task per unfinished run (cell x seed); task `i`
//!   runs `nnlab study DIR --task i`, which trains the study's `i`-th run (in the order of
//!   `study.toml`: cells, then seeds) exactly as `nnlab study` would here;
//! - `slurm/report.sbatch`, which starts when every task has ended
//!   (`--dependency=afterany:<array>`) and runs `nnlab study DIR --report-only`: it writes
//!   `results.md` and its charts, or fails naming the runs that did not finish.
//!
//! Both run the same `nnlab` binary in the same working directory, so the cluster needs a shared
//! filesystem, as it does for any study. Submitting again submits only the runs still
//! unfinished (an interrupted one resumes from its checkpoint). Extra options go to both
//! `sbatch` calls (`--partition=cpu --time=2:00:00`); `--wait` goes to the report job only, so
//! the command returns once the table is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::grid::RunSpec;
use super::{Outcome, StudyOptions};
use crate::error::{Error, Result};
use crate::say;

/// A word quoted for a POSIX shell.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

/// The `nnlab study` command line a batch script runs, every path absolute; `mode` is shell text
/// put after the study folder as it is.
fn study_command(dir: &Path, opts: &StudyOptions, mode: &str) -> Result<String> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Study(format!("cannot find nnlab itself: {e}")))?;
    let mut words = vec![
        exe.display().to_string(),
        "study".into(),
        absolute(dir)?.display().to_string(),
    ];
    for s in &opts.set {
        words.extend(["--set".into(), s.clone()]);
    }
    if let Some(r) = &opts.runs {
        words.extend(["--runs".into(), absolute(r)?.display().to_string()]);
    }
    if let Some(r) = &opts.results {
        words.extend(["--results".into(), absolute(r)?.display().to_string()]);
    }
    if let Some(d) = &opts.train.data_dir {
        words.extend(["--data-dir".into(), absolute(d)?.display().to_string()]);
    }
    if !opts.train.download {
        words.push("--offline".into());
    }
    let mut line: Vec<String> = words.iter().map(|w| quote(w)).collect();
    line.insert(3, mode.to_string());
    Ok(line.join(" "))
}

/// The text of a batch script running `command`.
fn script(name: &str, log: &Path, what: &str, command: &str) -> Result<String> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Study(format!("no working directory: {e}")))?;
    Ok(format!(
        "#!/bin/bash\n\
         # Written by `nnlab study --slurm`: {what}\n\
         #SBATCH --job-name={name}\n\
         #SBATCH --output={log}\n\
         #SBATCH --cpus-per-task=1\n\
         set -euo pipefail\n\
         cd {cwd}\n\
         # One run per task: as many compute threads as the task has CPUs.\n\
         export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\n\
         exec {command}\n",
        log = quote(&log.display().to_string()),
        cwd = quote(&cwd.display().to_string()),
    ))
}

/// `sbatch --parsable ...`; returns the job id.
fn sbatch(args: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| {
            Error::Study(format!(
                "cannot run sbatch ({e}): --slurm needs Slurm's client tools on this machine"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Study(format!(
            "sbatch {} {} failed: {}",
            args.join(" "),
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `id` or `id;cluster`; with `--wait` a line about the job follows.
    text.lines()
        .map(|l| l.split(';').next().unwrap_or_default().trim())
        .find(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .ok_or_else(|| Error::Study(format!("sbatch printed no job id: {text:?}")))
}

/// Array indices as Slurm writes them: `0-3,7,9-10`.
pub fn array_ranges(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Writes `folder/runs.sbatch` and submits it as a job array of the `unfinished` runs'
/// indices; returns the array's job id.
fn submit_array(
    dir: &Path,
    opts: &StudyOptions,
    name: &str,
    folder: &Path,
    logs: &Path,
    unfinished: &[usize],
    others: &[String],
) -> Result<String> {
    let path = folder.join("runs.sbatch");
    let text = script(
        name,
        &logs.join("run-%A_%a.out"),
        "one task per run of the study (its index in the study's order)",
        &study_command(dir, opts, "--task \"$SLURM_ARRAY_TASK_ID\"")?,
    )?;
    crate::run_dir::write_atomic(&path, text.as_bytes())?;
    let mut args = vec![format!("--array={}", array_ranges(unfinished))];
    args.extend(others.iter().cloned());
    sbatch(&args, &path)
}

/// Writes the two scripts and submits them; see the module's text.
pub fn submit(
    dir: &Path,
    opts: &StudyOptions,
    specs: &[RunSpec],
    extra: &[String],
    results: &Path,
) -> Result<Outcome> {
    if let Some(bad) = extra
        .iter()
        .find(|o| o.starts_with("--array") || o.starts_with("-a") || o.starts_with("--dependency"))
    {
        return Err(Error::Study(format!(
            "--slurm {bad}: nnlab sets the job array and the report's dependency itself"
        )));
    }
    let wait = extra.iter().any(|o| o == "--wait" || o == "-W");
    let others: Vec<String> = extra
        .iter()
        .filter(|o| *o != "--wait" && *o != "-W")
        .cloned()
        .collect();
    let unfinished: Vec<usize> = specs
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.out.join("summary.json").exists())
        .map(|(i, _)| i)
        .collect();
    let folder = results.parent().unwrap_or(Path::new(".")).join("slurm");
    let logs = absolute(&folder.join("logs"))?;
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let name = format!(
        "nnlab-{}",
        absolute(dir)?
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "study".into())
    );
    let array = if unfinished.is_empty() {
        say!("every run of the study is finished; submitting only the table");
        None
    } else {
        let id = submit_array(dir, opts, &name, &folder, &logs, &unfinished, &others)?;
        say!(
            "submitted job array {id}: {} of {} runs ({}), logs in {}",
            unfinished.len(),
            specs.len(),
            folder.join("runs.sbatch").display(),
            logs.display()
        );
        Some(id)
    };
    let path = folder.join("report.sbatch");
    let text = script(
        &format!("{name}-report"),
        &logs.join("report-%j.out"),
        "the study's table, once every run has ended",
        &study_command(dir, opts, "--report-only")?,
    )?;
    crate::run_dir::write_atomic(&path, text.as_bytes())?;
    let mut args = Vec::new();
    if let Some(id) = &array {
        args.push(format!("--dependency=afterany:{id}"));
    }
    args.extend(others);
    if wait {
        args.push("--wait".into());
        say!("waiting for the table ({})", results.display());
    }
    let report = sbatch(&args, &path)?;
    Ok(Outcome::Submitted {
        array,
        report,
        results: results.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indices_are_compressed_into_ranges() {
        assert_eq!(array_ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_ranges(&[0, 2, 3, 4, 7, 9, 10]), "0,2-4,7,9-10");
        assert_eq!(array_ranges(&[5]), "5");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(quote("/a/b-c.toml"), "/a/b-c.toml");
        assert_eq!(quote("train.lr=0.01"), "train.lr=0.01");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
