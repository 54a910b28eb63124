//! Downloading a known dataset from its mirrors: progress bar, retries with backoff, checksum
//! verification, and an atomic rename so that a partial download never becomes a dataset file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::{DatasetSpec, FileSpec};
use crate::checksum::md5_hex;
use crate::error::{DataError, Result};
use crate::idx::{decompress, decompress_md5};

/// Attempts per mirror before moving on to the next one.
const ATTEMPTS: u32 = 3;

/// Downloads `file` of `spec` into `dir` as `<name>.gz`, trying each mirror in turn.
///
/// The bytes go to a hidden `.part` file first; only a file whose checksum matches is
/// renamed into place, so an interrupted or corrupt download never looks like data.
pub fn download_file(spec: &DatasetSpec, file: &FileSpec, dir: &Path) -> Result<PathBuf> {
    download_file_with_backoff(spec, file, dir, Duration::from_secs(1))
}

/// [`download_file`] with the first retry's wait; each further retry waits twice as long.
pub fn download_file_with_backoff(
    spec: &DatasetSpec,
    file: &FileSpec,
    dir: &Path,
    backoff: Duration,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let gz_name = format!("{}.gz", file.name);
    let target = dir.join(&gz_name);
    let part = dir.join(format!(".{gz_name}.part"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut failures = Vec::new();
    for mirror in spec.mirrors {
        let url = format!("{mirror}{gz_name}");
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff * (1 << (attempt - 1)));
            }
            let got = fetch(&agent, &url, &part)
                .and_then(|()| ensure_gzip(&url, &part))
                .and_then(|()| verify(file, &part));
            match got {
                Ok(()) => {
                    std::fs::rename(&part, &target).map_err(|e| DataError::io(&target, e))?;
                    return Ok(target);
                }
                Err(e @ (DataError::Checksum { .. } | DataError::NotGzip { .. })) => {
                    // A wrong file will not become right by asking again: next mirror.
                    let _ = std::fs::remove_file(&part);
                    failures.push(format!("{url}: {e}"));
                    break;
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&part);
                    failures.push(format!("{url} (attempt {}): {e}", attempt + 1));
                }
            }
        }
    }
    Err(DataError::Download {
        file: gz_name,
        reason: match failures.last() {
            None => format!("dataset `{}` has no download mirrors", spec.name),
            Some(last) => format!(
                "{} attempts on {} mirror(s) failed, the last: {last}. Without internet, copy the dataset's files into {} (or point --data-dir / NNLAB_DATA at a folder holding `{}/`)",
                failures.len(),
                spec.mirrors.len(),
                dir.display(),
                spec.name
            ),
        },
    })
}

/// Streams `url` into `part`, fsyncs it, with a progress bar on the terminal.
fn fetch(agent: &ureq::Agent, url: &str, part: &Path) -> Result<()> {
    let net = |e: ureq::Error| DataError::Download {
        file: url.to_string(),
        reason: e.to_string(),
    };
    let response = agent.get(url).call().map_err(net)?;
    let len = response.body().content_length();
    let bar = ProgressBar::new(len.unwrap_or(0)).with_message(url.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg}\n{wide_bar} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("the progress template is valid"),
    );
    let mut reader = response.into_body().into_reader();
    let io = |e| DataError::io(part, e);
    let mut out = std::fs::File::create(part).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io)?;
        bar.inc(n as u64);
    }
    out.sync_all().map_err(io)?;
    bar.finish_and_clear();
    Ok(())
}

/// Refuses a downloaded file that is not gzip data (an HTML error page served with status 200,
/// say): the canonical files are `.gz`, so anything else is the wrong file.
fn ensure_gzip(url: &str, part: &Path) -> Result<()> {
    let mut start = [0u8; 32];
    let n = std::fs::File::open(part)
        .and_then(|mut f| f.read(&mut start))
        .map_err(|e| DataError::io(part, e))?;
    if start[..n].starts_with(&[0x1f, 0x8b]) {
        Ok(())
    } else {
        Err(DataError::NotGzip {
            url: url.to_string(),
            start: String::from_utf8_lossy(&start[..n]).into_owned(),
        })
    }
}

/// Checks a file against the published checksum of `file`: the MD5 of the decompressed
/// content when known, else the MD5 of the `.gz` file itself. Returns `Ok` when nothing is
/// published to check against.
pub fn verify(file: &FileSpec, path: &Path) -> Result<()> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    verified_content(file, path, raw).map(|_| ())
}

/// The decompressed content of `raw` (the bytes of the file at `path`), checked as [`verify`]
/// says: against the MD5 of the decompressed content when published, else against the MD5 of
/// the `.gz` file itself. Also returns whether a checksum was checked at all.
pub(crate) fn verified_content(
    file: &FileSpec,
    path: &Path,
    raw: Vec<u8>,
) -> Result<(Vec<u8>, bool)> {
    let mut checked = false;
    if let (None, Some(expected)) = (file.md5, file.gz_md5)
        && raw.starts_with(&[0x1f, 0x8b])
    {
        check(path, expected, &md5_hex(&raw))?;
        checked = true;
    }
    let Some(expected) = file.md5 else {
        return Ok((decompress(path, raw)?, checked));
    };
    let (bytes, digest) = decompress_md5(path, raw)?;
    check(path, expected, &digest)?;
    Ok((bytes, true))
}

/// Compares two hex digests, naming both on mismatch.
pub(crate) fn check(path: &Path, expected: &str, actual: &str) -> Result<()> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Role;

    #[test]
    fn checksum_mismatch_names_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let spec = FileSpec {
            role: Role::TestLabels,
            name: "f",
            md5: Some("d41d8cd98f00b204e9800998ecf8427e"),
            gz_md5: None,
        };
        let e = verify(&spec, &p).unwrap_err().to_string();
        assert!(e.contains("d41d8cd98f00b204e9800998ecf8427e"), "{e}");
        assert!(e.contains("900150983cd24fb0d6963f7d28e17f72"), "{e}");
    }

    #[test]
    fn unreachable_mirror_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        // A closed local port: the connection is refused at once, no network needed.
        let spec = DatasetSpec {
            name: "nowhere",
            classes: 10,
            mirrors: &["http://127.0.0.1:9/"],
            files: crate::catalog::MNIST.files,
        };
        let e =
            download_file_with_backoff(&spec, &spec.files[3], dir.path(), Duration::from_millis(1))
                .unwrap_err();
        assert!(matches!(e, DataError::Download { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("3 attempts on 1 mirror(s) failed, the last: http://127.0.0.1:9/t10k-labels-idx1-ubyte.gz (attempt 3)"), "{msg}");
        assert!(
            msg.contains("Without internet, copy the dataset's files into"),
            "{msg}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// A loopback HTTP server answering every request with `body`, for `requests` requests.
    fn serve(body: Vec<u8>, requests: usize) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        format!("http://{addr}/")
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn spec_for(mirror: String, content: &[u8]) -> DatasetSpec {
        let md5: &'static str = Box::leak(md5_hex(content).into_boxed_str());
        let mirrors: &'static [&'static str] =
            Box::leak(vec![&*Box::leak(mirror.into_boxed_str())].into_boxed_slice());
        let mut files = crate::catalog::MNIST.files;
        files[3].md5 = Some(md5);
        files[3].gz_md5 = None;
        DatasetSpec {
            name: "served",
            classes: 10,
            mirrors,
            files,
        }
    }

    #[test]
    fn a_verified_download_is_renamed_into_place() {
        let labels = crate::idx::labels_to_bytes(&[1, 2, 3]);
        let spec = spec_for(serve(gz(&labels), 1), &labels);
        let dir = tempfile::tempdir().unwrap();
        let path = download_file(&spec, &spec.files[3], dir.path()).unwrap();
        assert_eq!(path, dir.path().join("t10k-labels-idx1-ubyte.gz"));
        assert_eq!(crate::idx::read_labels(&path).unwrap(), vec![1, 2, 3]);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no .part left"
        );
    }

    #[test]
    fn a_download_that_is_not_gzip_is_refused() {
        let labels = crate::idx::labels_to_bytes(&[1, 2, 3]);
        // The right content, but not as a .gz: e.g. a proxy that unpacked it, or an error page.
        let spec = spec_for(serve(b"<html>not found</html>".to_vec(), 1), &labels);
        let dir = tempfile::tempdir().unwrap();
        let e = download_file(&spec, &spec.files[3], dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not gzip data (it starts \"<html>not found</html>\")"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_corrupt_download_is_refused_and_leaves_nothing() {
        let labels = crate::idx::labels_to_bytes(&[1, 2, 3]);
        let other = crate::idx::labels_to_bytes(&[4, 5, 6]);
        let spec = spec_for(serve(gz(&other), 1), &labels);
        let dir = tempfile::tempdir().unwrap();
        let e = download_file(&spec, &spec.files[3], dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match the published"), "{e}");
        assert!(
            e.contains(&md5_hex(&labels)) && e.contains(&md5_hex(&other)),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
