//! Any bytes given to the IDX reader (gzip-wrapped or raw) are either read or refused with an
//! error; the reader never panics, never allocates from an unchecked header.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nnlab_data::idx::{IdxImages, decompress, parse_labels};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-input");
    if let Ok(bytes) = decompress(path, data.to_vec()) {
        if let Ok(images) = IdxImages::parse(path, &bytes) {
            assert_eq!(images.pixels.len(), images.n * images.rows * images.cols);
            assert_eq!(IdxImages::parse(path, &images.to_bytes()).unwrap(), images);
        }
        if let Ok(labels) = parse_labels(path, &bytes) {
            assert_eq!(nnlab_data::idx::labels_to_bytes(&labels)[8..], labels[..]);
        }
    }
});
