//! `nnlab rate` as a server under attack and load, driven over loopback against the real
//! process: requests without the token, from another Host or Origin, with huge declared bodies,
//! with bodies or headers that never finish, forged and replayed pairs; 20 raters at once; a
//! kill -9 in the middle of a burst. Through all of it a real rater keeps getting pages, and
//! every choice acknowledged with 200 is in `ratings.csv` exactly once.
//!
//! The study here is only a pool (`report/pool/ids.txt` and its PNGs): the server needs nothing
//! else. `tests/aesthetics.rs` runs the page in a real browser on a pool `nnlab aesthetics` made.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const IDS: [&str; 4] = ["real-0", "real-1", "art-0", "art-1"];

/// A study folder holding only a rating pool.
fn pool(tmp: &Path) -> PathBuf {
    let dir = tmp.join("study");
    let pool = dir.join("report/pool");
    std::fs::create_dir_all(&pool).unwrap();
    std::fs::write(pool.join("ids.txt"), IDS.join("\n") + "\n").unwrap();
    for id in IDS {
        // The server serves the bytes as they are; they need not decode.
        std::fs::write(pool.join(format!("{id}.png")), format!("png of {id}")).unwrap();
    }
    dir
}

/// A running `nnlab rate`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(tmp: &Path, dir: &Path, args: &[&str]) -> Server {
    let (child, url) = start_rate(tmp, dir, args);
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();
    Server { child, addr, token }
}

/// A response: status, head (lower-cased), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Sends `raw` as it is and reads the reply until the server closes.
fn send(addr: &str, raw: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(raw)?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {text:?}")))?;
    Ok(Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    })
}

impl Server {
    fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<Reply> {
        Client {
            addr: self.addr.clone(),
            token: self.token.clone(),
        }
        .request(method, path, body)
    }

    /// A pair: `(id, left, right)`.
    fn pair(&self) -> (String, String, String) {
        let r = self.request("GET", "/pair", "").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        (s("id"), s("left"), s("right"))
    }

    fn choose(&self, pair: &str, rater: &str, chosen: &str) -> u16 {
        let body = format!("pair={pair}&rater={rater}&chosen={chosen}&ms=700");
        self.request("POST", "/choice", &body).unwrap().status
    }

    /// What a real rater does: the page, a pair, a choice; each must succeed.
    fn rate_once(&self, rater: &str) {
        let page = self.request("GET", "/", "").unwrap();
        assert_eq!(page.status, 200, "{page:?}");
        assert!(page.body.contains("Which image is more beautiful?"));
        let (id, left, _) = self.pair();
        assert_eq!(self.choose(&id, rater, &left), 200);
    }

    /// Whether the process is still running.
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// The rows of `ratings.csv` (header left out), as fields.
fn rows(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("ratings.csv")).unwrap_or_default();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The port of `127.0.0.1:PORT`.
fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

/// Column of the pair id in `ratings.csv`.
const PAIR: usize = 7;

#[test]
fn only_this_user_and_this_page_may_post() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let mut s = serve(tmp.path(), &dir, &[]);
    let mode = std::fs::metadata(dir.join(".rate-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "-rw-------");
    let addr = s.addr.clone();
    let (id, left, _) = s.pair();
    let choice = format!("pair={id}&rater=ann&chosen={left}&ms=5");
    let post = |extra: &str| {
        send(
            &addr,
            format!(
                "POST /choice HTTP/1.1\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{choice}",
                choice.len()
            )
            .as_bytes(),
        )
        .unwrap()
        .status
    };
    let host = format!("Host: {addr}\r\n");
    let origin = format!("Origin: http://{addr}\r\n");
    let cookie = format!("Cookie: nnlab_rate_{}={}\r\n", port(&addr), s.token);
    let forged = format!(
        "Cookie: nnlab_rate_{}=00112233445566778899aabbccddeeff\r\n",
        port(&addr)
    );
    for (what, extra) in [
        ("no token", format!("{host}{origin}")),
        ("any 32 hex digits", format!("{host}{origin}{forged}")),
        (
            "another Host (DNS rebinding)",
            format!("Host: evil.example:80\r\n{origin}{cookie}"),
        ),
        ("no Origin", format!("{host}{cookie}")),
        (
            "another Origin (a cross-site form)",
            format!("{host}Origin: http://evil.example\r\n{cookie}"),
        ),
    ] {
        assert_eq!(post(&extra), 403, "{what}");
    }
    assert!(rows(&dir).is_empty(), "nothing refused reached the file");
    assert_eq!(post(&format!("{host}{origin}{cookie}")), 200);
    // The token moves from the URL into a cookie, and the browser is sent where it is not.
    let r = send(
        &addr,
        format!(
            "GET /?token={}&rater=ann HTTP/1.1\r\n{host}Connection: close\r\n\r\n",
            s.token
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    assert!(r.head.contains("location: /?rater=ann"), "{}", r.head);
    assert!(
        r.head.contains(&format!(
            "set-cookie: nnlab_rate_{}={}; httponly; samesite=strict; path=/",
            port(&addr),
            s.token
        )),
        "{}",
        r.head
    );
    let page = s.request("GET", "/", "").unwrap();
    for header in [
        "x-content-type-options: nosniff",
        "content-security-policy: default-src 'none'; script-src 'sha256-",
        "frame-ancestors 'none'",
        "referrer-policy: no-referrer",
        "cache-control: no-store",
    ] {
        assert!(page.head.contains(header), "{header}: {}", page.head);
    }
    assert!(
        !page.body.contains(&s.token),
        "the page does not hold the token"
    );
    assert!(
        page.body.contains("AUTO_HOOK = false"),
        "no test hook unless asked"
    );
    // Refusals carry the headers too.
    let refused = send(
        &addr,
        b"GET /pair HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        refused
            .unwrap()
            .head
            .contains("x-content-type-options: nosniff")
    );
    assert_eq!(
        s.request("GET", "/pool/..%2F..%2F.rate-token", "")
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        s.request("GET", "/pool/real-0.png", "").unwrap().body,
        "png of real-0"
    );
    assert!(s.alive());
}

#[test]
fn every_recorded_choice_was_a_real_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let s = serve(tmp.path(), &dir, &["--stop-after", "2"]);
    let (id, left, right) = s.pair();
    let outside = IDS.iter().find(|x| **x != left && **x != right).unwrap();
    assert_eq!(
        s.choose("0123456789abcdef", "ann", &left),
        400,
        "a forged pair"
    );
    assert_eq!(
        s.choose(&id, "ann", outside),
        400,
        "a choice outside the pair"
    );
    let long = "x".repeat(41);
    for bad in ["", "%20%20", &long, "a%0Ab"] {
        assert_eq!(s.choose(&id, bad, &left), 400, "rater {bad:?}");
    }
    let refused = s
        .request(
            "POST",
            "/choice",
            &format!("pair={id}&rater=&chosen={left}&ms=5"),
        )
        .unwrap();
    assert!(
        refused.body.contains("`rater`"),
        "the reason is said: {refused:?}"
    );
    // Names are any text of 1 to 40 characters, form-decoded and CSV-escaped.
    assert_eq!(s.choose(&id, "Ann+Lee", &right), 200);
    assert_eq!(s.choose(&id, "Ann+Lee", &right), 409, "a replayed pair");
    let (id2, left2, _) = s.pair();
    assert_eq!(s.choose(&id2, "L%C3%A9a%2C+%22B%22", &left2), 200);
    let mut child = s;
    let start = Instant::now();
    while child.alive() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!child.alive(), "stops after 2 choices");
    let text = std::fs::read_to_string(dir.join("ratings.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "rater,unix_ms,left,right,chosen,response_ms,server_ms,pair,synthetic"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("Ann Lee,"), "{text}");
    assert!(lines[2].starts_with("\"Léa, \"\"B\"\"\","), "{text}");
    let r = rows(&dir);
    assert_eq!(
        (r[0][PAIR].as_str(), r[0][8].as_str()),
        (id.as_str(), "false")
    );
    assert!(
        r[0][6].parse::<u64>().is_ok(),
        "the server's own time: {:?}",
        r[0]
    );
}

/// `--synthetic` serves the page with its test hook and marks every row it records; without it
/// the hook is not in the page.
#[test]
fn synthetic_rows_are_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let s = serve(tmp.path(), &dir, &["--synthetic"]);
    let page = s.request("GET", "/", "").unwrap();
    assert!(page.body.contains("AUTO_HOOK = true"));
    let (id, left, _) = s.pair();
    assert_eq!(s.choose(&id, "hook", &left), 200);
    let r = rows(&dir);
    assert_eq!(r[0][8], "true", "{r:?}");
}

#[test]
fn no_request_crashes_or_stalls_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let mut s = serve(tmp.path(), &dir, &[]);
    let addr = s.addr.clone();
    let token_cookie = format!("Cookie: nnlab_rate_{}={}\r\n", port(&addr), s.token);
    // A declared length of 2^64 - 1 without the token, then with it, then 100 GB.
    let huge = |cookie: &str, length: &str| {
        send(
            &addr,
            format!(
                "POST /choice HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n{cookie}\
                 Content-Length: {length}\r\nConnection: close\r\n\r\nx"
            )
            .as_bytes(),
        )
        .map(|r| r.status)
    };
    for (cookie, length) in [
        ("", "18446744073709551615"),
        (token_cookie.as_str(), "18446744073709551615"),
        (token_cookie.as_str(), "100000000000"),
    ] {
        let status = huge(cookie, length).unwrap();
        assert!(
            [400, 403, 413, 431].contains(&status),
            "length {length}: {status}"
        );
        assert!(s.alive(), "length {length}");
    }
    // Connections that send part of a body, or part of their headers, and then wait.
    let mut stalled = Vec::new();
    for k in 0..10 {
        let mut c = TcpStream::connect(&addr).unwrap();
        let partial = if k % 2 == 0 {
            format!(
                "POST /choice HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n{token_cookie}\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\npair="
            )
        } else {
            format!("GET /pair HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ")
        };
        c.write_all(partial.as_bytes()).unwrap();
        stalled.push((k, c, Instant::now()));
    }
    // A header line of 20 KB (past the 16 KiB limit; small enough that the whole request is
    // written before the server answers).
    let long = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nX-Long: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20 << 10)
    );
    let r = send(&addr, long.as_bytes()).unwrap();
    assert_eq!(r.status, 431, "{}", r.head);
    // 64 clients without the token that pipeline requests and never read the answers.
    let mut deaf = Vec::new();
    for _ in 0..64 {
        let mut c = TcpStream::connect(&addr).unwrap();
        let one = format!("GET /pair HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        let _ = c.write_all(one.repeat(200).as_bytes());
        deaf.push(c);
    }
    // Meanwhile the real rater is served, at once, long before any time-out frees a slot.
    let started = Instant::now();
    for _ in 0..3 {
        let one = Instant::now();
        s.rate_once("rater");
        assert!(
            one.elapsed() < Duration::from_secs(2),
            "{:?}",
            one.elapsed()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(deaf);
    // The stalled connections are answered or closed: headers within 5 s, a whole request
    // within 10 s.
    for (k, mut c, at) in stalled {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reply = String::new();
        let _ = c.read_to_string(&mut reply);
        let waited = at.elapsed();
        assert!(
            waited < Duration::from_secs(15),
            "connection {k}: {waited:?}"
        );
        if k % 2 == 0 {
            assert!(
                reply.starts_with("HTTP/1.1 408"),
                "connection {k}: {reply:?}"
            );
        }
    }
    s.rate_once("rater");
    assert_eq!(rows(&dir).len(), 4);
    assert!(s.alive());
}

#[test]
fn the_token_file_and_the_study_lock_are_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let first = serve(tmp.path(), &dir, &[]);
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("rate")
        .arg(&dir)
        .args(["--port", "0"]));
    assert!(!ok);
    assert!(
        stderr.contains("another `nnlab rate` is serving this study"),
        "{stderr}"
    );
    drop(first);
    let token = dir.join(".rate-token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("rate")
        .arg(&dir)
        .args(["--port", "0"]));
    assert!(!ok);
    assert!(
        stderr.contains("mode 644") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// 20 raters at once, 100 choices each, through the requests the page makes: every
/// acknowledged choice is recorded once.
#[test]
fn twenty_raters_at_once_lose_and_double_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let s = Arc::new(serve(tmp.path(), &dir, &[]));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let raters: Vec<_> = (0..20)
        .map(|r| {
            let (s, acked) = (s.clone(), acked.clone());
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let (id, left, _) = s.pair();
                    assert_eq!(s.choose(&id, &format!("rater{r}"), &left), 200);
                    acked.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    for r in raters {
        r.join().unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert_eq!(acked.len(), 2000);
    let recorded: Vec<String> = rows(&dir).into_iter().map(|r| r[PAIR].clone()).collect();
    assert_eq!(recorded.len(), 2000, "none lost or doubled");
    assert_eq!(recorded.into_iter().collect::<HashSet<_>>(), acked);
}

/// kill -9 in the middle of a burst of choices: every choice answered 200 is in the file, read
/// back by nnlab's own loader (a torn last line reported and skipped). A process kill leaves the
/// page cache to the kernel, so this checks that a row is written before its 200, not the fsync
/// (which only a power cut would test).
#[test]
fn a_kill_during_a_burst_loses_no_acknowledged_choice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = pool(tmp.path());
    let s = Arc::new(Mutex::new(serve(tmp.path(), &dir, &[])));
    let (addr, token) = {
        let s = s.lock().unwrap();
        (s.addr.clone(), s.token.clone())
    };
    let acked = Arc::new(Mutex::new(Vec::new()));
    let posters: Vec<_> = (0..4)
        .map(|r| {
            let acked = acked.clone();
            let (addr, token) = (addr.clone(), token.clone());
            std::thread::spawn(move || {
                let client = Client { addr, token };
                let rater = format!("r{r}");
                for _ in 0..10_000 {
                    let Ok(got) = client.request("GET", "/pair", "") else {
                        return;
                    };
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&got.body) else {
                        return;
                    };
                    let id = v["id"].as_str().unwrap().to_string();
                    let body = format!(
                        "pair={id}&rater={rater}&chosen={}&ms=5",
                        v["left"].as_str().unwrap()
                    );
                    match client.request("POST", "/choice", &body) {
                        Ok(answer) if answer.status == 200 => acked.lock().unwrap().push(id),
                        _ => return,
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    while acked.lock().unwrap().len() < 200 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.lock().unwrap().child.kill().unwrap(); // SIGKILL
    for p in posters {
        p.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200, "{} acknowledged", acked.len());
    let path = dir.join("ratings.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let (read, _) = nnlab_rate::ratings::read_rows(&path, &text).unwrap();
    let recorded: HashSet<String> = read.into_iter().filter_map(|r| r.pair).collect();
    for id in &acked {
        assert!(recorded.contains(id), "acknowledged {id} is missing");
    }
}

/// The requests the page makes: this Host, the token's cookie, and on POST the page's Origin
/// and a form body.
struct Client {
    addr: String,
    token: String,
}

impl Client {
    fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<Reply> {
        let addr = &self.addr;
        let post = if method == "POST" {
            format!("Origin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n")
        } else {
            String::new()
        };
        send(
            addr,
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: nnlab_rate_{}={}\r\n{post}\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                port(addr),
                self.token,
                body.len()
            )
            .as_bytes(),
        )
    }
}
