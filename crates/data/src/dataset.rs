//! An image-classification dataset held in memory: all images in one contiguous `u8` buffer,
//! located on disk by name, validated, and downloaded when missing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalog::{self, DatasetSpec, Role};
use crate::download::{download_file, verified_content};
use crate::error::{DataError, Result};
use crate::idx::{IdxImages, decompress, parse_labels};

/// Environment variable naming the data root (a folder holding `mnist/`, `fashion-mnist/`, ...).
pub const DATA_ENV: &str = "NNLAB_DATA";

/// Where the data root is: `explicit` (a `--data-dir` flag), else `$NNLAB_DATA`, else `data/`.
pub fn resolve_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os(DATA_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("data"),
    }
}

/// How to load a dataset.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The data root; the dataset lives in `root/<name>/`.
    pub root: PathBuf,
    /// Download missing files of a known dataset from its mirrors.
    pub download: bool,
    /// Check published checksums of known datasets.
    pub verify: bool,
}

/// Train and test images of one dataset, all in one buffer: the training images first, then the
/// test images. Index `i < n_train` is training example `i`; `n_train + j` is test example `j`.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    /// Dataset name.
    pub name: String,
    /// Rows of an image.
    pub rows: usize,
    /// Columns of an image.
    pub cols: usize,
    /// Number of classes; labels are `0..classes`.
    pub classes: usize,
    /// Number of training examples.
    pub n_train: usize,
    /// Number of test examples.
    pub n_test: usize,
    /// `(n_train + n_test) * rows * cols` pixels, 0..=255.
    pub pixels: Vec<u8>,
    /// `n_train + n_test` labels.
    pub labels: Vec<u8>,
    /// Whether every file was checked against a published checksum (known datasets).
    pub checksums_verified: bool,
}

impl ImageDataset {
    /// Loads the dataset `name` (a known one, or any folder of the four standard IDX files).
    pub fn load(name: &str, opts: &LoadOptions) -> Result<Self> {
        let dir = opts.root.join(name);
        let spec = catalog::find(name)
            .copied()
            .unwrap_or_else(DatasetSpec::custom);
        let paths = locate(&spec, name, &dir, opts.download)?;
        let [
            (train_images_path, train_images, c1),
            (train_labels_path, train_labels, c2),
            (test_images_path, test_images, c3),
            (test_labels_path, test_labels, c4),
        ] = read_four(&spec, &paths, opts)?;
        let checksums_verified = c1 && c2 && c3 && c4;

        let train_images = IdxImages::parse(&train_images_path, train_images)?;
        let test_images = IdxImages::parse(&test_images_path, test_images)?;
        let train_labels = parse_labels(&train_labels_path, train_labels)?;
        let test_labels = parse_labels(&test_labels_path, test_labels)?;
        let classes = check(
            &spec,
            (
                &train_images,
                &train_images_path,
                &train_labels,
                &train_labels_path,
            ),
            (
                &test_images,
                &test_images_path,
                &test_labels,
                &test_labels_path,
            ),
        )?;
        let mut pixels = train_images.pixels;
        pixels.extend_from_slice(&test_images.pixels);
        let mut labels = train_labels;
        labels.extend_from_slice(&test_labels);
        Ok(Self {
            name: name.to_string(),
            rows: train_images.rows,
            cols: train_images.cols,
            classes,
            n_train: train_images.n,
            n_test: test_images.n,
            pixels,
            labels,
            checksums_verified,
        })
    }

    /// Pixels per image (`rows * cols`), the input size of a dense model.
    pub fn features(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of example `i` (global index).
    pub fn image(&self, i: usize) -> &[u8] {
        let f = self.features();
        &self.pixels[i * f..(i + 1) * f]
    }

    /// Global indices of the training examples.
    pub fn train_indices(&self) -> Vec<u32> {
        (0..self.n_train as u32).collect()
    }

    /// Global indices of the test examples.
    pub fn test_indices(&self) -> Vec<u32> {
        (self.n_train as u32..(self.n_train + self.n_test) as u32).collect()
    }
}

/// Finds each file as `<name>` or `<name>.gz` in `dir`, downloading missing ones if allowed.
fn locate(spec: &DatasetSpec, name: &str, dir: &Path, download: bool) -> Result<[PathBuf; 4]> {
    let find = |name: &str| {
        [dir.join(name), dir.join(format!("{name}.gz"))]
            .into_iter()
            .find(|p| p.is_file())
    };
    let missing: Vec<_> = spec
        .files
        .iter()
        .filter(|f| find(f.name).is_none())
        .collect();
    if !missing.is_empty() {
        let names = missing.iter().map(|f| format!("{}[.gz]", f.name)).collect();
        if spec.mirrors.is_empty() {
            return Err(DataError::Missing {
                dataset: name.to_string(),
                dir: dir.to_path_buf(),
                files: names,
                hint: match nnlab_config::hint::closest(name, catalog::KNOWN.map(|d| d.name)) {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!(
                        "`{name}` is not a known dataset (known: {}), so put its four IDX files there",
                        catalog::KNOWN.map(|d| d.name).join(", ")
                    ),
                },
            });
        }
        if !download {
            return Err(DataError::Missing {
                dataset: name.to_string(),
                dir: dir.to_path_buf(),
                files: names,
                hint: format!(
                    "downloads are off; copy the files there, point --data-dir or {DATA_ENV} at a folder holding `{name}/`, or allow downloads"
                ),
            });
        }
        for f in missing {
            // Not eprintln!: a closed stderr must not abort the download.
            let _ = writeln!(
                std::io::stderr(),
                "downloading {} of {name} into {}",
                f.name,
                dir.display()
            );
            download_file(spec, f, dir)?;
        }
    }
    Ok(spec
        .files
        .map(|f| find(f.name).expect("located or downloaded above")))
}

/// The four files of a dataset (train images and labels, test images and labels), each read,
/// decompressed and, with `opts.verify`, checked against its published checksum; two at a time
/// on two threads. Each with its path and whether a checksum was checked.
fn read_four(
    spec: &DatasetSpec,
    paths: &[PathBuf],
    opts: &LoadOptions,
) -> Result<[(PathBuf, Vec<u8>, bool); 4]> {
    let read = |role: Role| -> Result<(PathBuf, Vec<u8>, bool)> {
        let at = spec.files.iter().position(|f| f.role == role);
        let path = paths[at.expect("every spec lists all four roles")].clone();
        let raw = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let (bytes, checked) = if opts.verify {
            verified_content(spec.file(role), &path, raw)?
        } else {
            (decompress(&path, raw)?, false)
        };
        Ok((path, bytes, checked))
    };
    let (train, test) = std::thread::scope(|s| {
        let t = s.spawn(|| (read(Role::TrainImages), read(Role::TrainLabels)));
        let test = (read(Role::TestImages), read(Role::TestLabels));
        (t.join().expect("the reader thread does not panic"), test)
    });
    Ok([train.0?, train.1?, test.0?, test.1?])
}

/// One split's parsed images and labels with their files.
type Part<'a> = (&'a IdxImages, &'a PathBuf, &'a Vec<u8>, &'a PathBuf);

/// Checks that each split has a label per image, that both splits' images have one shape and
/// that every label is a class; returns the number of classes (the catalogue's, or one more
/// than the largest label of a custom dataset).
fn check(spec: &DatasetSpec, train: Part, test: Part) -> Result<usize> {
    for (images, ip, labels, lp) in [train, test] {
        if images.n != labels.len() {
            return Err(DataError::CountMismatch {
                images: ip.clone(),
                n_images: images.n,
                labels: lp.clone(),
                n_labels: labels.len(),
            });
        }
    }
    let (train_images, test_images) = (train.0, test.0);
    if (train_images.rows, train_images.cols) != (test_images.rows, test_images.cols) {
        return Err(DataError::ShapeMismatch {
            train: train.1.clone(),
            train_rows: train_images.rows,
            train_cols: train_images.cols,
            test: test.1.clone(),
            test_rows: test_images.rows,
            test_cols: test_images.cols,
        });
    }
    let classes = if spec.classes > 0 {
        spec.classes
    } else {
        let max = train.2.iter().chain(test.2).max().copied();
        max.map_or(1, |m| m as usize + 1)
    };
    for (labels, path) in [(train.2, train.3), (test.2, test.3)] {
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l as usize >= classes)
        {
            return Err(DataError::LabelOutOfRange {
                path: path.clone(),
                index,
                label,
                classes,
            });
        }
    }
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{labels_to_bytes, write_file};

    /// Writes a tiny dataset `name` under `root`: `n_train`/`n_test` images of 2x3 pixels.
    fn write_tiny(root: &Path, name: &str, n_train: usize, n_test: usize, labels: &[u8]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (images, labels_name, n, gz) in [
            (
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                n_train,
                true,
            ),
            (
                "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte",
                n_test,
                false,
            ),
        ] {
            let img = IdxImages {
                n,
                rows: 2,
                cols: 3,
                pixels: (0..n * 6).map(|i| i as u8).collect(),
            };
            let suffix = if gz { ".gz" } else { "" };
            write_file(&dir.join(format!("{images}{suffix}")), &img.to_bytes(), gz).unwrap();
            let l: Vec<u8> = (0..n).map(|i| labels[i % labels.len()]).collect();
            write_file(
                &dir.join(format!("{labels_name}{suffix}")),
                &labels_to_bytes(&l),
                gz,
            )
            .unwrap();
        }
    }

    fn opts(root: &Path) -> LoadOptions {
        LoadOptions {
            root: root.to_path_buf(),
            download: false,
            verify: true,
        }
    }

    #[test]
    fn loads_a_custom_dataset_into_one_buffer() {
        let root = tempfile::tempdir().unwrap();
        write_tiny(root.path(), "tiny", 4, 2, &[0, 1, 2]);
        let d = ImageDataset::load("tiny", &opts(root.path())).unwrap();
        assert_eq!((d.n_train, d.n_test, d.rows, d.cols), (4, 2, 2, 3));
        assert_eq!(d.classes, 3, "classes come from the largest label");
        assert_eq!(d.pixels.len(), 6 * 6);
        assert_eq!(
            d.image(4),
            &[0, 1, 2, 3, 4, 5],
            "test images follow the training ones"
        );
        assert_eq!(d.test_indices(), vec![4, 5]);
    }

    #[test]
    fn missing_folder_names_the_files_and_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let e = ImageDataset::load("mnist", &opts(root.path())).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("train-images-idx3-ubyte[.gz]"), "{msg}");
        assert!(
            msg.contains(&root.path().join("mnist").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("downloads are off"), "{msg}");
    }

    #[test]
    fn a_mistyped_dataset_name_gets_the_known_one() {
        let root = tempfile::tempdir().unwrap();
        let e = ImageDataset::load("mnsit", &opts(root.path())).unwrap_err();
        assert!(e.to_string().ends_with("did you mean `mnist`?"), "{e}");
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let root = tempfile::tempdir().unwrap();
        write_tiny(root.path(), "bad", 4, 2, &[0, 1]);
        let dir = root.path().join("bad");
        write_file(
            &dir.join("t10k-labels-idx1-ubyte"),
            &labels_to_bytes(&[1, 1, 1]),
            false,
        )
        .unwrap();
        let e = ImageDataset::load("bad", &opts(root.path())).unwrap_err();
        assert!(
            e.to_string().contains("holds 2 images but") && e.to_string().contains("3 labels"),
            "{e}"
        );
    }

    #[test]
    fn label_out_of_range_for_a_known_dataset() {
        let root = tempfile::tempdir().unwrap();
        write_tiny(root.path(), "mnist", 3, 1, &[0, 12]);
        let mut o = opts(root.path());
        o.verify = false; // the tiny files are not MNIST's, so skip the MD5 check
        let e = ImageDataset::load("mnist", &o).unwrap_err();
        assert!(
            e.to_string()
                .contains("label 12 at index 1 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn known_dataset_checksums_are_verified() {
        let root = tempfile::tempdir().unwrap();
        write_tiny(root.path(), "mnist", 3, 1, &[0, 1]);
        let e = ImageDataset::load("mnist", &opts(root.path())).unwrap_err();
        assert!(matches!(e, DataError::Checksum { .. }), "{e}");
    }

    /// Fashion-MNIST's uncompressed files are checked too (against the MD5 of the content),
    /// gzip-wrapped or not.
    #[test]
    fn fashion_mnist_is_verified_uncompressed_too() {
        let root = tempfile::tempdir().unwrap();
        // write_tiny writes the test files uncompressed and the training files as gzip.
        write_tiny(root.path(), "fashion-mnist", 3, 1, &[0, 1]);
        let e = ImageDataset::load("fashion-mnist", &opts(root.path())).unwrap_err();
        assert!(matches!(e, DataError::Checksum { .. }), "{e}");
        for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
            let dir = root.path().join("fashion-mnist");
            let raw = crate::idx::read_maybe_gz(&dir.join(format!("{f}.gz"))).unwrap();
            std::fs::remove_file(dir.join(format!("{f}.gz"))).unwrap();
            std::fs::write(dir.join(f), raw).unwrap();
        }
        let e = ImageDataset::load("fashion-mnist", &opts(root.path())).unwrap_err();
        assert!(matches!(e, DataError::Checksum { .. }), "{e}");
        assert!(
            e.to_string().contains("does not match the published"),
            "{e}"
        );
    }

    #[test]
    fn only_checked_checksums_are_reported_as_verified() {
        let root = tempfile::tempdir().unwrap();
        write_tiny(root.path(), "tiny", 4, 2, &[0, 1]);
        let d = ImageDataset::load("tiny", &opts(root.path())).unwrap();
        assert!(
            !d.checksums_verified,
            "a custom dataset has no published checksums"
        );
    }
}
