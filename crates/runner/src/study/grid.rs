//! Grid expansion: the cells of a study (every combination of one value per axis) and the runs
//! they make (cell x seed), each with its resolved config and run folder.

use std::path::{Path, PathBuf};

use super::file::{AxisValue, StudyFile};
use crate::config::RunConfig;
use crate::error::{Error, Result};

/// One cell: a label, its overrides, and the config it uses when not the study's.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `value/value/...`, empty for a study without axes.
    pub label: String,
    /// Overrides of this cell.
    pub set: Vec<String>,
    /// The cell's own config (relative to the study folder), if an axis value gives one.
    pub config: Option<PathBuf>,
    /// The cell's own seeds, if an axis value gives them (the study's otherwise).
    pub seeds: Option<Vec<u64>>,
}

/// One run of a study.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Index of its cell.
    pub cell: usize,
    /// Its seed.
    pub seed: u64,
    /// Its run folder.
    pub out: PathBuf,
    /// Every override, in order: the study's, the cell's, the command line's, the seed.
    pub overrides: Vec<String>,
    /// The resolved config.
    pub config: RunConfig,
    /// The config file it was resolved from.
    pub config_path: PathBuf,
}

fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every combination of one value per axis, in axis order (one empty cell without axes).
pub fn cells(study: &StudyFile) -> Vec<Cell> {
    let mut cells = vec![Cell {
        label: String::new(),
        set: Vec::new(),
        config: None,
        seeds: None,
    }];
    for axis in &study.axis {
        let mut next = Vec::new();
        for cell in &cells {
            for v in &axis.values {
                let (label, set, config, seeds) = match v {
                    AxisValue::Labeled {
                        label,
                        set,
                        config,
                        seeds,
                    } => (label.clone(), set.clone(), config.clone(), seeds.clone()),
                    AxisValue::Plain(value) => (
                        value_label(value),
                        vec![format!(
                            "{}={}",
                            axis.key.as_deref().unwrap_or_default(),
                            match value {
                                toml::Value::String(s) => format!("{s:?}"),
                                other => other.to_string(),
                            }
                        )],
                        None,
                        None,
                    ),
                };
                let mut s = cell.set.clone();
                s.extend(set);
                next.push(Cell {
                    label: if cell.label.is_empty() {
                        label
                    } else {
                        format!("{}/{label}", cell.label)
                    },
                    set: s,
                    config: config.or_else(|| cell.config.clone()),
                    seeds: seeds.or_else(|| cell.seeds.clone()),
                });
            }
        }
        cells = next;
    }
    cells
}

/// Every cell x seed with its resolved config (so every config error shows before any run), its
/// run folder under `runs_root`, and `extra` command-line overrides applied last. `dir` is the
/// study folder, against which config paths are resolved.
pub fn specs(
    study: &StudyFile,
    cells: &[Cell],
    dir: &Path,
    runs_root: &Path,
    extra: &[String],
) -> Result<Vec<RunSpec>> {
    let mut specs = Vec::new();
    for (c, cell) in cells.iter().enumerate() {
        let config_path = dir.join(cell.config.as_ref().unwrap_or(&study.config));
        for &seed in cell.seeds.as_ref().unwrap_or(&study.seeds) {
            let mut o = study.set.clone();
            o.extend(cell.set.iter().cloned());
            o.extend(extra.iter().cloned());
            o.push(format!("seed={seed}"));
            let config = RunConfig::load(&config_path, &o).map_err(|e| {
                let label = if cell.label.is_empty() {
                    ""
                } else {
                    " in cell "
                };
                Error::Study(format!("{e}{label}{}", cell.label))
            })?;
            let mut out = runs_root.to_path_buf();
            if !cell.label.is_empty() {
                out = out.join(cell.label.replace('/', "_"));
            }
            specs.push(RunSpec {
                cell: c,
                seed,
                out: out.join(format!("seed-{seed}")),
                overrides: o,
                config,
                config_path: config_path.clone(),
            });
        }
    }
    Ok(specs)
}

/// The cells grouped by their value of the first axis, in grid order: `(value, cell indices)`.
/// With fewer than two axes, one unnamed group of every cell.
pub fn first_axis_groups(study: &StudyFile, cells: &[Cell]) -> Vec<(String, Vec<usize>)> {
    if study.axis.len() < 2 {
        return vec![(String::new(), (0..cells.len()).collect())];
    }
    let per = cells.len() / study.axis[0].values.len();
    (0..cells.len())
        .collect::<Vec<_>>()
        .chunks(per)
        .map(|chunk| {
            let first = &cells[chunk[0]].label;
            let value = first.split('/').next().unwrap_or_default();
            (value.to_string(), chunk.to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_cells_are_the_cartesian_product() {
        let study: StudyFile = toml::from_str(
            r#"
            title = "t"
            config = "c.toml"
            seeds = [1]
            [[axis]]
            name = "act"
            key = "model.activation"
            values = ["relu", "tanh"]
            [[axis]]
            name = "opt"
            values = [{ label = "adam", set = ["train.optimizer=adam"], seeds = [1, 2, 3] },
                      { label = "sgd", set = ["train.optimizer=sgd", "train.lr=0.01"] }]
            "#,
        )
        .unwrap();
        let cells = cells(&study);
        let labels: Vec<&str> = cells.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["relu/adam", "relu/sgd", "tanh/adam", "tanh/sgd"]);
        assert_eq!(
            cells[3].set,
            [
                "model.activation=\"tanh\"",
                "train.optimizer=sgd",
                "train.lr=0.01"
            ]
        );
        // An axis value's own seeds replace the study's for its cells.
        assert_eq!(cells[0].seeds, Some(vec![1, 2, 3]));
        assert_eq!(cells[3].seeds, None);
        let groups = first_axis_groups(&study, &cells);
        assert_eq!(groups[1], ("tanh".to_string(), vec![2, 3]));
    }
}
