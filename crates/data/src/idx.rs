//! The IDX file format of LeCun, Cortes & Burges' MNIST distribution
//! (<http://yann.lecun.com/exdb/mnist/>), gzip-compressed or raw.
//!
//! Layout: a 4-byte magic `0x00 0x00 <type> <ndims>`, then `ndims` big-endian `u32` sizes,
//! then the data in row-major order. Only type `0x08` (unsigned byte) is used by image datasets.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::checksum::md5_hex;
use crate::error::{DataError, Result};

const UNSIGNED_BYTE: u8 = 0x08;

/// Unsigned-byte images, `[n, rows, cols]`, row-major in one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// `n * rows * cols` pixels, 0..=255.
    pub pixels: Vec<u8>,
}

/// Reads the whole file, decompressing it if it starts with the gzip magic `1f 8b`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decompress(path, raw)
}

/// The most bytes nnlab decompresses from one IDX file (4 GiB): a header announcing more is
/// refused before anything is read.
pub const MAX_IDX_BYTES: u64 = 4 << 30;

/// Decompresses `raw` if it starts with the gzip magic `1f 8b`, else returns it as is.
/// `path` is only used in errors.
///
/// Decompression is bounded by the file's own IDX header: once the header is read, at most the
/// bytes it announces (plus one, to notice a longer file) are decompressed, so a file that
/// inflates to more than it says (a "gzip bomb") is refused without filling memory.
pub fn decompress(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    inflate(path, raw, false).map(|(bytes, _)| bytes)
}

/// [`decompress`], with the lower-case hex MD5 of what it returns. The digest is computed on a
/// second thread while the file inflates, chunk by chunk, so that checking a file costs little
/// more than reading it: MNIST's training images are 47 MB, whose digest took about as long as
/// inflating them, one after the other on the thread that loads them.
pub fn decompress_md5(path: &Path, raw: Vec<u8>) -> Result<(Vec<u8>, String)> {
    let (bytes, digest) = inflate(path, raw, true)?;
    Ok((bytes, digest.expect("asked for")))
}

/// Bytes inflated at a time when the digest is taken beside.
const CHUNK: usize = 1 << 20;

/// [`decompress`], and the MD5 of its result when `md5`.
fn inflate(path: &Path, raw: Vec<u8>, md5: bool) -> Result<(Vec<u8>, Option<String>)> {
    let whole = |bytes: Vec<u8>| -> Result<(Vec<u8>, Option<String>)> {
        let digest = md5.then(|| md5_hex(&bytes));
        Ok((bytes, digest))
    };
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return whole(raw);
    }
    let gz = |source| DataError::Gzip {
        path: path.to_path_buf(),
        source,
    };
    let mut dec = MultiGzDecoder::new(raw.as_slice());
    let mut out = Vec::new();
    (&mut dec).take(4).read_to_end(&mut out).map_err(gz)?;
    // Only a plausible IDX magic announces a size; anything else is left to the header check.
    if out.len() < 4 || out[0] != 0 || out[1] != 0 || out[3] == 0 || out[3] > 8 {
        return whole(out);
    }
    let ndims = out[3] as u64;
    (&mut dec)
        .take(4 * ndims)
        .read_to_end(&mut out)
        .map_err(gz)?;
    if (out.len() as u64) < 4 + 4 * ndims {
        return whole(out);
    }
    let data = out[4..]
        .chunks(4)
        .try_fold(1u64, |acc, d| {
            acc.checked_mul(u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as u64)
        })
        .filter(|&n| n <= MAX_IDX_BYTES)
        .ok_or_else(|| DataError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_IDX_BYTES,
        })?;
    let header = out.len() as u64;
    out.reserve(data as usize + 1);
    crate::huge_pages::advise(out.spare_capacity_mut());
    let body = (&mut dec).take(data + 1);
    let (out, digest) = if md5 {
        let (out, digest) = read_hashing(body, out).map_err(gz)?;
        (out, Some(digest))
    } else {
        let mut body = body;
        body.read_to_end(&mut out).map_err(gz)?;
        (out, None)
    };
    if out.len() as u64 > header + data {
        return Err(DataError::LongerThanHeader {
            path: path.to_path_buf(),
            expected: data,
        });
    }
    Ok((out, digest))
}

/// Appends all of `body` to `out`, and the MD5 of `out` as it then is: `body` is read here in
/// chunks, which a second thread hashes and appends (handing each buffer back for the next).
fn read_hashing(mut body: impl Read, out: Vec<u8>) -> std::io::Result<(Vec<u8>, String)> {
    use md5::{Digest, Md5};
    let (full, filled) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    let (empty, emptied) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let (mut out, mut md5) = (out, Md5::new());
            md5.update(&out);
            for chunk in filled {
                md5.update(&chunk);
                out.extend_from_slice(&chunk);
                // The reader may have stopped on an error: then no one takes the buffer back.
                let _ = empty.send(chunk);
            }
            (out, crate::checksum::hex(&md5.finalize()))
        });
        let read = (|| {
            loop {
                let mut chunk = emptied
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                chunk.clear();
                if (&mut body).take(CHUNK as u64).read_to_end(&mut chunk)? == 0 {
                    return Ok(());
                }
                if full.send(chunk).is_err() {
                    return Ok(()); // the hasher is gone: its join reports why
                }
            }
        })();
        drop(full);
        let done = hasher.join().expect("the MD5 thread does not panic");
        read.map(|()| done)
    })
}

/// Parses an IDX header of unsigned bytes with `ndims` dimensions; returns the sizes and the
/// data, in the file's own buffer (the header dropped in place: no second copy).
fn parse(
    path: &Path,
    mut bytes: Vec<u8>,
    ndims: usize,
    expected: &'static str,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let bad = |reason: String| DataError::BadHeader {
        path: path.to_path_buf(),
        expected,
        reason,
    };
    if bytes.len() < 4 {
        return Err(bad(format!(
            "file is {} bytes, too short for a header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "wrong magic number 0x{:02x}{:02x}{:02x}{:02x} (IDX files start with 0x0000)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != UNSIGNED_BYTE {
        return Err(bad(format!(
            "element type 0x{:02x}, expected 0x08 (unsigned byte)",
            bytes[2]
        )));
    }
    if bytes[3] as usize != ndims {
        return Err(bad(format!("{} dimensions, expected {ndims}", bytes[3])));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(bad(format!(
            "file is {} bytes, shorter than its {header}-byte header",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected_len = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let data = bytes.len() - header;
    if data as u64 != expected_len {
        return Err(DataError::Length {
            path: path.to_path_buf(),
            expected: expected_len,
            actual: data as u64,
        });
    }
    bytes.drain(..header);
    Ok((dims, bytes))
}

impl IdxImages {
    /// Parses an IDX image file already in memory (decompressed), keeping its buffer as the
    /// pixels (no second copy of the images). `path` is only used in errors.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let (dims, pixels) = parse(path, bytes, 3, "unsigned-byte images [n, rows, cols]")?;
        if dims[0] == 0 {
            return Err(DataError::BadHeader {
                path: path.to_path_buf(),
                expected: "unsigned-byte images [n, rows, cols]",
                reason: "it holds no images (n = 0)".into(),
            });
        }
        if dims[1] == 0 || dims[2] == 0 {
            return Err(DataError::BadHeader {
                path: path.to_path_buf(),
                expected: "unsigned-byte images [n, rows, cols]",
                reason: format!("empty image size {}x{}", dims[1], dims[2]),
            });
        }
        Ok(Self {
            n: dims[0],
            rows: dims[1],
            cols: dims[2],
            pixels,
        })
    }

    /// Reads an IDX image file, gzip-compressed or raw.
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(path, read_maybe_gz(path)?)
    }

    /// Serialises to IDX bytes (raw, uncompressed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.pixels.len());
        out.extend_from_slice(&[0, 0, UNSIGNED_BYTE, 3]);
        for d in [self.n, self.rows, self.cols] {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.pixels);
        out
    }
}

/// Parses an IDX label file already in memory (decompressed): `[n]` unsigned bytes, in the
/// same buffer.
pub fn parse_labels(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    Ok(parse(path, bytes, 1, "unsigned-byte labels [n]")?.1)
}

/// Reads an IDX label file, gzip-compressed or raw.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(path, read_maybe_gz(path)?)
}

/// Serialises labels to IDX bytes (raw, uncompressed).
pub fn labels_to_bytes(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&[0, 0, UNSIGNED_BYTE, 1]);
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Writes `bytes` to `path`, gzip-compressed when `gzip` is true. Used to build test datasets.
pub fn write_file(path: &Path, bytes: &[u8], gzip: bool) -> Result<()> {
    let io = |e| DataError::io(path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        enc.write_all(bytes).map_err(io)?;
        enc.finish().map_err(io)?;
    } else {
        let mut file = file;
        file.write_all(bytes).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> IdxImages {
        IdxImages {
            n: 2,
            rows: 2,
            cols: 3,
            pixels: (0..12).collect(),
        }
    }

    #[test]
    fn images_round_trip_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        for gz in [false, true] {
            let p = dir.path().join(format!("img{gz}"));
            write_file(&p, &images().to_bytes(), gz).unwrap();
            assert_eq!(IdxImages::read(&p).unwrap(), images());
        }
    }

    #[test]
    fn labels_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.gz");
        write_file(&p, &labels_to_bytes(&[3, 1, 4]), true).unwrap();
        assert_eq!(read_labels(&p).unwrap(), vec![3, 1, 4]);
    }

    #[test]
    fn header_is_big_endian_as_in_the_spec() {
        // MNIST's training images start 00 00 08 03 | 00 00 ea 60 (60000) | 00 00 00 1c (28) twice.
        let b = IdxImages {
            n: 60000,
            rows: 28,
            cols: 28,
            pixels: vec![],
        }
        .to_bytes();
        assert_eq!(
            &b[..16],
            &[0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28]
        );
    }

    #[test]
    fn wrong_magic_is_named() {
        let mut b = images().to_bytes();
        b[0] = 0x50;
        let e = IdxImages::parse(Path::new("x-images"), b.clone()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("x-images") && msg.contains("wrong magic"),
            "{msg}"
        );
    }

    #[test]
    fn labels_file_is_not_images() {
        let e = IdxImages::parse(Path::new("l"), labels_to_bytes(&[1])).unwrap_err();
        assert!(e.to_string().contains("1 dimensions, expected 3"), "{e}");
    }

    #[test]
    fn truncated_file_is_reported_with_sizes() {
        let b = images().to_bytes();
        let e = IdxImages::parse(Path::new("t"), b[..b.len() - 5].to_vec()).unwrap_err();
        assert!(
            e.to_string()
                .contains("header says 12 bytes of data but the file holds 7"),
            "{e}"
        );
        let e = IdxImages::parse(Path::new("t"), b[..6].to_vec()).unwrap_err();
        assert!(
            e.to_string().contains("shorter than its 16-byte header"),
            "{e}"
        );
    }

    #[test]
    fn a_file_with_no_images_is_refused() {
        let empty = IdxImages {
            n: 0,
            rows: 28,
            cols: 28,
            pixels: vec![],
        };
        let e = IdxImages::parse(Path::new("e"), empty.to_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("e: not an IDX unsigned-byte images"),
            "{e}"
        );
        assert!(e.to_string().contains("it holds no images (n = 0)"), "{e}");
    }

    /// 8 bytes of images announced, 64 MB of zeros inside the gzip: decompression stops at the
    /// header's size instead of inflating everything.
    #[test]
    fn decompression_stops_at_the_size_the_header_gives() {
        let mut bytes = images().to_bytes();
        bytes.truncate(16);
        bytes[4..16].copy_from_slice(&[0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]);
        bytes.extend(std::iter::repeat_n(0u8, 64 << 20));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bomb.gz");
        write_file(&p, &bytes, true).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() < 1 << 20);
        let e = IdxImages::read(&p).unwrap_err();
        assert!(
            e.to_string()
                .contains("holds more data than the 8 bytes its header announces"),
            "{e}"
        );
        // A header announcing more than nnlab reads is refused before decompressing.
        bytes.truncate(16);
        bytes[4..16].copy_from_slice(&[0xff; 12]);
        write_file(&p, &bytes, true).unwrap();
        let e = IdxImages::read(&p).unwrap_err();
        assert!(
            e.to_string().contains("more than the 4294967296 bytes"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_gzip_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.gz");
        write_file(&p, &images().to_bytes(), true).unwrap();
        let mut raw = std::fs::read(&p).unwrap();
        let n = raw.len();
        raw.truncate(n / 2);
        std::fs::write(&p, raw).unwrap();
        let e = IdxImages::read(&p).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. }), "{e}");
        assert!(e.to_string().contains("corrupt gzip"), "{e}");
    }

    /// The digest taken beside inflating is the MD5 of what inflating returns, for files of
    /// several chunks and none, a header nnlab does not read further, a file that is not gzip;
    /// and the errors are those of plain decompression (a longer file, a corrupt one).
    #[test]
    fn digest_beside_inflating_is_the_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.gz");
        let gz = |bytes: &[u8]| {
            write_file(&p, bytes, true).unwrap();
            std::fs::read(&p).unwrap()
        };
        let big = IdxImages {
            n: 3000,
            rows: 28,
            cols: 28,
            pixels: (0..3000 * 784).map(|i| (i * 7 % 251) as u8).collect(),
        };
        let cases = [
            gz(&big.to_bytes()),      // 2.2 MB: three chunks
            gz(&images().to_bytes()), // a few bytes
            gz(b"not an IDX file"),   // stops after the magic
            images().to_bytes(),      // not gzip
        ];
        for raw in cases {
            let plain = decompress(&p, raw.clone()).unwrap();
            let (bytes, digest) = decompress_md5(&p, raw).unwrap();
            assert_eq!(bytes, plain);
            assert_eq!(digest, md5_hex(&plain));
        }
        let mut longer = images().to_bytes();
        longer.push(0);
        let e = decompress_md5(&p, gz(&longer)).unwrap_err();
        assert!(matches!(e, DataError::LongerThanHeader { .. }), "{e}");
        let mut cut = gz(&big.to_bytes());
        cut.truncate(cut.len() / 2);
        let e = decompress_md5(&p, cut).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. }), "{e}");
    }
}
