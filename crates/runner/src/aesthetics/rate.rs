//! `nnlab rate`: a local page that shows two images of the study's pool at a time and records
//! which one the rater finds more beautiful, and how long the choice took, by appending a line
//! to `ratings.csv` in the study folder. Several raters (each names themself), any number of
//! sessions: every choice is one more line.
//!
//! The server listens on the loopback interface only, and every request must carry the study's
//! token (kept in `.rate-token` in the study folder) in its URL, so other users and other web
//! pages cannot post choices. Requests are checked field by field — the token, the rater's name,
//! that both images are in the pool and differ, that the chosen one is one of them, the response
//! time — and anything else is refused with a status and a reason; a line is appended only whole
//! (one write, then fsync), so bad or forged requests never reach the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tiny_http::{Header, Method, Request, Response, Server};

use super::people::{HEADER, RATINGS};
use crate::error::{Error, Result};
use crate::say;

/// The folder of the pool's images inside the report folder.
pub const POOL: &str = "report/pool";
/// The list of pool ids written by `nnlab aesthetics`.
pub const POOL_LIST: &str = "report/pool/ids.txt";
/// The file holding the study's token.
pub const TOKEN: &str = ".rate-token";

/// The study's token: read from `.rate-token`, or made (128 random bits) and written there.
pub fn token(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN);
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if t.len() >= 16 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(t);
        }
    }
    let mut rng = ChaCha8Rng::from_os_rng();
    let t: String = (0..32)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("a hex digit"))
        .collect();
    crate::run_dir::write_atomic(&path, t.as_bytes())?;
    Ok(t)
}

/// What the server knows.
struct State {
    dir: PathBuf,
    token: String,
    ids: Vec<String>,
    rng: ChaCha8Rng,
    recorded: usize,
}

fn query(url: &str) -> Vec<(String, String)> {
    url.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// A rater's name: 1 to 40 letters, digits, `-` or `_`.
fn valid_rater(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

impl State {
    /// Checks a posted choice and appends it; the error is the reason to refuse it.
    fn record(&mut self, body: &str) -> std::result::Result<(), String> {
        let fields: Vec<(String, String)> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| field(&fields, k).ok_or_else(|| format!("missing `{k}`"));
        let rater = get("rater")?;
        if !valid_rater(rater) {
            return Err("`rater`: 1 to 40 letters, digits, '-' or '_'".into());
        }
        let (left, right, chosen) = (get("left")?, get("right")?, get("chosen")?);
        for id in [left, right] {
            if !self.ids.iter().any(|i| i == id) {
                return Err(format!("`{id}` is not an image of this study's pool"));
            }
        }
        if left == right {
            return Err("`left` and `right` are the same image".into());
        }
        if chosen != left && chosen != right {
            return Err("`chosen` must be `left` or `right`".into());
        }
        let ms: u64 = get("ms")?
            .parse()
            .ok()
            .filter(|&ms| ms <= 3_600_000)
            .ok_or("`ms`: a response time in milliseconds, at most an hour")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let path = self.dir.join(RATINGS);
        let new = !path.exists();
        let mut line = String::new();
        if new {
            line.push_str(HEADER);
            line.push('\n');
        }
        line.push_str(&format!("{rater},{now},{left},{right},{chosen},{ms}\n"));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open the ratings file: {e}"))?;
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| format!("cannot write the ratings file: {e}"))?;
        self.recorded += 1;
        Ok(())
    }

    fn respond(&mut self, mut req: Request) -> std::io::Result<()> {
        let url = req.url().to_string();
        let path = url.split('?').next().unwrap_or_default().to_string();
        let q = query(&url);
        if field(&q, "token") != Some(self.token.as_str()) {
            return req.respond(
                Response::from_string("forbidden: a valid token is required\n")
                    .with_status_code(403),
            );
        }
        match (req.method(), path.as_str()) {
            (Method::Get, "/") => req.respond(
                Response::from_string(page(&self.token))
                    .with_header(header("Content-Type", "text/html; charset=utf-8")),
            ),
            (Method::Get, "/pair") => {
                let n = self.ids.len();
                let a = self.rng.random_range(0..n);
                let b = (a + self.rng.random_range(1..n)) % n;
                let json = format!(
                    "{{\"left\":\"{}\",\"right\":\"{}\"}}",
                    self.ids[a], self.ids[b]
                );
                req.respond(
                    Response::from_string(json)
                        .with_header(header("Content-Type", "application/json")),
                )
            }
            (Method::Get, p) if p.starts_with("/pool/") && p.ends_with(".png") => {
                let id = &p["/pool/".len()..p.len() - 4];
                if !self.ids.iter().any(|i| i == id) {
                    return req
                        .respond(Response::from_string("no such image\n").with_status_code(404));
                }
                match std::fs::read(self.dir.join(POOL).join(format!("{id}.png"))) {
                    Ok(bytes) => req.respond(
                        Response::from_data(bytes).with_header(header("Content-Type", "image/png")),
                    ),
                    Err(_) => {
                        req.respond(Response::from_string("image missing\n").with_status_code(404))
                    }
                }
            }
            (Method::Post, "/choice") => {
                let mut body = String::new();
                if req.body_length().unwrap_or(0) > 4096 {
                    return req.respond(
                        Response::from_string("request too large\n").with_status_code(413),
                    );
                }
                if req
                    .as_reader()
                    .take(4097)
                    .read_to_string(&mut body)
                    .is_err()
                {
                    return req
                        .respond(Response::from_string("unreadable body\n").with_status_code(400));
                }
                match self.record(body.trim()) {
                    Ok(()) => req.respond(Response::from_string("ok\n")),
                    Err(why) => req.respond(
                        Response::from_string(format!("refused: {why}\n")).with_status_code(400),
                    ),
                }
            }
            _ => req.respond(Response::from_string("not found\n").with_status_code(404)),
        }
    }
}

use std::io::Read;

/// The rating page: two images, click the more beautiful one. With `auto=N` in its URL it makes
/// N choices itself (left or right at random), which is how the end-to-end test drives it in a
/// real browser.
fn page(token: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nnlab: which is more beautiful?</title>
<style>
body {{ font-family: sans-serif; text-align: center; margin: 2em; }}
img {{ width: 280px; height: 280px; image-rendering: pixelated; border: 3px solid #ccc; margin: 1em; cursor: pointer; }}
img:hover {{ border-color: #1f77b4; }}
#done {{ color: #2ca02c; }}
</style></head>
<body>
<h1>Which image is more beautiful?</h1>
<p>Click the one you prefer. There is no right answer; go with your first impression.</p>
<p><label>Your name: <input id="rater" maxlength="40"></label></p>
<div><img id="left" alt="left image"><img id="right" alt="right image"></div>
<p id="count">0 choices</p><p id="done"></p>
<script>
const token = "{token}";
const params = new URLSearchParams(location.search);
const rater = document.getElementById("rater");
rater.value = params.get("rater") || "";
let pair = null, shown = 0, count = 0;
async function next() {{
  const r = await fetch(`/pair?token=${{token}}`);
  pair = await r.json();
  document.getElementById("left").src = `/pool/${{pair.left}}.png?token=${{token}}`;
  document.getElementById("right").src = `/pool/${{pair.right}}.png?token=${{token}}`;
  shown = performance.now();
}}
async function choose(side) {{
  if (!pair || !rater.value) {{ alert("Please enter your name first."); return; }}
  const chosen = side === "left" ? pair.left : pair.right;
  const body = new URLSearchParams({{ rater: rater.value, left: pair.left, right: pair.right, chosen,
                                      ms: String(Math.round(performance.now() - shown)) }});
  const r = await fetch(`/choice?token=${{token}}`, {{ method: "POST", body: body.toString() }});
  if (r.ok) {{ count += 1; document.getElementById("count").textContent = `${{count}} choices`; }}
  await next();
}}
document.getElementById("left").onclick = () => choose("left");
document.getElementById("right").onclick = () => choose("right");
(async () => {{
  await next();
  const auto = Number(params.get("auto") || 0);
  for (let i = 0; i < auto; i++) {{
    document.getElementById(Math.random() < 0.5 ? "left" : "right").click();
    await new Promise(r => setTimeout(r, 50));
  }}
  if (auto) document.getElementById("done").textContent = `auto: ${{count}} choices made`;
}})();
</script></body></html>
"#
    )
}

/// Serves the rating page of the study in `dir` on `127.0.0.1:port` (0: any free port) until
/// Ctrl-C, or until `stop_after` choices were recorded. `on_ready` gets the page's URL.
pub fn serve(
    dir: &Path,
    port: u16,
    stop_after: Option<usize>,
    on_ready: impl FnOnce(&str),
) -> Result<usize> {
    let list = dir.join(POOL_LIST);
    let ids: Vec<String> = std::fs::read_to_string(&list)
        .map_err(|_| {
            Error::Study(format!(
                "{} is missing: make the pool first with `nnlab aesthetics {}`",
                list.display(),
                dir.display()
            ))
        })?
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    if ids.len() < 2 {
        return Err(Error::Study(format!(
            "{}: the pool needs two images",
            list.display()
        )));
    }
    let token = token(dir)?;
    let server = Server::http(("127.0.0.1", port))
        .map_err(|e| Error::Study(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::Study("the server has no IP address".into()))?;
    let url = format!("http://{addr}/?token={token}");
    on_ready(&url);
    crate::engine::interrupt::arm();
    let mut state = State {
        dir: dir.to_path_buf(),
        token,
        ids,
        rng: ChaCha8Rng::from_os_rng(),
        recorded: 0,
    };
    while !crate::engine::interrupt::requested() && stop_after.is_none_or(|n| state.recorded < n) {
        if let Ok(Some(req)) = server.recv_timeout(std::time::Duration::from_millis(200))
            && let Err(e) = state.respond(req)
        {
            say!("a response failed: {e}");
        }
    }
    Ok(state.recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(dir: &Path) -> State {
        State {
            dir: dir.to_path_buf(),
            token: "t".into(),
            ids: vec!["a-0".into(), "b-1".into()],
            rng: ChaCha8Rng::seed_from_u64(1),
            recorded: 0,
        }
    }

    #[test]
    fn bad_choices_are_refused_and_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path());
        for (body, why) in [
            (
                "rater=x&left=a-0&right=b-1&chosen=c-2&ms=5",
                "`chosen` must be",
            ),
            (
                "rater=x&left=a-0&right=a-0&chosen=a-0&ms=5",
                "the same image",
            ),
            (
                "rater=x&left=a-0&right=z-9&chosen=a-0&ms=5",
                "not an image of this study's pool",
            ),
            ("rater=x,y&left=a-0&right=b-1&chosen=a-0&ms=5", "`rater`"),
            ("rater=x&left=a-0&right=b-1&chosen=a-0&ms=-3", "`ms`"),
            ("rater=x&left=a-0&right=b-1&chosen=a-0", "missing `ms`"),
        ] {
            let e = s.record(body).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        assert!(!dir.path().join(RATINGS).exists(), "nothing written");
        s.record("rater=x&left=a-0&right=b-1&chosen=b-1&ms=800")
            .unwrap();
        s.record("rater=y&left=b-1&right=a-0&chosen=b-1&ms=400")
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(RATINGS)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("x,") && lines[1].ends_with(",a-0,b-1,b-1,800"),
            "{}",
            lines[1]
        );
    }
}
