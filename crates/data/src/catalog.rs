//! Datasets known by name: their file names, canonical mirrors and published checksums.

/// The role of a file within an image-classification dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Training images `[n, rows, cols]`.
    TrainImages,
    /// Training labels `[n]`.
    TrainLabels,
    /// Test images.
    TestImages,
    /// Test labels.
    TestLabels,
}

/// One file of a dataset.
#[derive(Debug, Clone, Copy)]
pub struct FileSpec {
    /// What the file holds.
    pub role: Role,
    /// File name without the `.gz` suffix, e.g. `train-images-idx3-ubyte`.
    pub name: &'static str,
    /// MD5 of the decompressed file, when published (verified whatever the gzip wrapper).
    pub md5: Option<&'static str>,
    /// MD5 of the canonical `.gz` file, when only that is published.
    pub gz_md5: Option<&'static str>,
}

/// A dataset of IDX files: four files, a number of classes and where to download them.
#[derive(Debug, Clone, Copy)]
pub struct DatasetSpec {
    /// Name used in configs and as the folder name under the data root.
    pub name: &'static str,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
    /// Base URLs tried in order; a file's URL is `mirror + name + ".gz"`.
    pub mirrors: &'static [&'static str],
    /// The four files.
    pub files: [FileSpec; 4],
}

/// The standard IDX file names, shared by MNIST, Fashion-MNIST and KMNIST.
pub const STANDARD_NAMES: [(Role, &str); 4] = [
    (Role::TrainImages, "train-images-idx3-ubyte"),
    (Role::TrainLabels, "train-labels-idx1-ubyte"),
    (Role::TestImages, "t10k-images-idx3-ubyte"),
    (Role::TestLabels, "t10k-labels-idx1-ubyte"),
];

/// MNIST (LeCun, Cortes & Burges, 1998). MD5s are of the decompressed files.
pub const MNIST: DatasetSpec = DatasetSpec {
    name: "mnist",
    classes: 10,
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    files: [
        FileSpec {
            role: Role::TrainImages,
            name: "train-images-idx3-ubyte",
            md5: Some("6bbc9ace898e44ae57da46a324031adb"),
            gz_md5: Some("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        },
        FileSpec {
            role: Role::TrainLabels,
            name: "train-labels-idx1-ubyte",
            md5: Some("a25bea736e30d166cdddb491f175f624"),
            gz_md5: Some("d53e105ee54ea40749a09fcbcd1e9432"),
        },
        FileSpec {
            role: Role::TestImages,
            name: "t10k-images-idx3-ubyte",
            md5: Some("2646ac647ad5339dbf082846283269ea"),
            gz_md5: Some("9fb629c4189551a2d022fa330f9573f3"),
        },
        FileSpec {
            role: Role::TestLabels,
            name: "t10k-labels-idx1-ubyte",
            md5: Some("27ae3e4e09519cfbb04c329615203637"),
            gz_md5: Some("ec29112dd5afa0611ce80d1b7f02629c"),
        },
    ],
};

/// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017). Zalando publishes MD5s of the `.gz` files;
/// the MD5s of their decompressed content (checked whatever the wrapper, and for uncompressed
/// copies) were computed from Zalando's files: the label files here, the image files by the
/// Mila datasets mirror (`datasets-mila/datasets--fashionmnist`, git-annex MD5 keys of the
/// files unpacked from the same `.gz`), with the same four values in other projects' loaders.
pub const FASHION_MNIST: DatasetSpec = DatasetSpec {
    name: "fashion-mnist",
    classes: 10,
    mirrors: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    files: [
        FileSpec {
            role: Role::TrainImages,
            name: "train-images-idx3-ubyte",
            md5: Some("f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            gz_md5: Some("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        },
        FileSpec {
            role: Role::TrainLabels,
            name: "train-labels-idx1-ubyte",
            md5: Some("9018921c3c673c538a1fc5bad174d6f9"),
            gz_md5: Some("25c81989df183df01b3e8a0aad5dffbe"),
        },
        FileSpec {
            role: Role::TestImages,
            name: "t10k-images-idx3-ubyte",
            md5: Some("8181f5470baa50b63fa0f6fddb340f0a"),
            gz_md5: Some("bef4ecab320f06d8554ea6380940ec79"),
        },
        FileSpec {
            role: Role::TestLabels,
            name: "t10k-labels-idx1-ubyte",
            md5: Some("15d484375f8d13e6eb1aabb0c3f46965"),
            gz_md5: Some("bb300cfdad3c16e7a12a480ee83cd310"),
        },
    ],
};

/// All datasets known by name.
pub const KNOWN: [DatasetSpec; 2] = [MNIST, FASHION_MNIST];

/// Looks a dataset up by name.
pub fn find(name: &str) -> Option<&'static DatasetSpec> {
    KNOWN.iter().find(|d| d.name == name)
}

impl DatasetSpec {
    /// A dataset not in the catalogue: standard file names, no checksums, no mirrors.
    /// `classes` is taken from the labels when the files are read.
    pub fn custom() -> Self {
        let file = |(role, name): (Role, &'static str)| FileSpec {
            role,
            name,
            md5: None,
            gz_md5: None,
        };
        Self {
            name: "custom",
            classes: 0,
            mirrors: &[],
            files: STANDARD_NAMES.map(file),
        }
    }

    /// The file with the given role.
    pub fn file(&self, role: Role) -> &FileSpec {
        self.files
            .iter()
            .find(|f| f.role == role)
            .expect("every dataset spec lists all four roles")
    }
}
