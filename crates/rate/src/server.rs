//! `nnlab rate`: a local page that shows two images of the study's pool at a time and records
//! which one the rater finds more beautiful, and how long the choice took, as one more row of
//! `ratings.csv` in the study folder. Several raters (each names themself), any number of
//! sessions.
//!
//! The server is axum's routing on hyper and tokio, with its limits set here: request headers
//! must arrive within [`HEADER_TIMEOUT`] and fit in [`MAX_HEADER_BYTES`], a whole request within
//! [`REQUEST_TIMEOUT`], a body in [`MAX_BODY`] bytes, and at most [`MAX_CONNECTIONS`] connections
//! are served at once; each connection is a task of its own and a panic in a handler is answered
//! 500, so no single request can stop or stall the server.
//!
//! Who may rate: the server listens on 127.0.0.1 only; every request must carry the study's token
//! (see [`crate::token`]), at first in the URL `nnlab rate` prints and then in a cookie (HttpOnly,
//! SameSite=Strict) set while the browser is redirected to a URL without it; the `Host` header
//! must name this server, and a POST's `Origin` this page, so that another web page in the
//! rater's browser cannot post choices (cross-site forms, DNS rebinding).
//!
//! What is recorded: every pair the server shows has a one-time id; a choice names that id and
//! one of its two images, and is recorded once (see [`crate::append`] for how rows reach the disk).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::{Semaphore, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::append::RatingsFile;
use crate::error::{RateError, Result};
use crate::ratings::Row;
use crate::{page, token};

/// The folder of the pool's images inside the report folder.
pub const POOL: &str = "report/pool";
/// The list of pool ids written by `nnlab aesthetics`.
pub const POOL_LIST: &str = "report/pool/ids.txt";
/// The cookie that carries the token after the first visit.
pub const COOKIE: &str = "nnlab_rate";

/// Time allowed for a request's headers to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, body included, to be read and answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body accepted (a choice takes about 100 bytes).
pub const MAX_BODY: usize = 4096;
/// The largest request head (request line and headers) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 64;
/// Pairs shown and not yet chosen that the server remembers; the oldest is forgotten first.
const OPEN_PAIRS: usize = 10_000;
/// The longest response time accepted (an hour).
const MAX_RESPONSE_MS: u64 = 3_600_000;

/// How `nnlab rate` serves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The port on 127.0.0.1 (0: any free one).
    pub port: u16,
    /// Stop after this many recorded choices.
    pub stop_after: Option<usize>,
    /// Serve the page with its test hook (`auto=N` in the URL makes N choices by itself); every
    /// row this server records is marked synthetic.
    pub synthetic: bool,
}

/// A pair the server showed.
#[derive(Debug)]
struct Issued {
    left: usize,
    right: usize,
    at: Instant,
}

/// What changes while the server runs.
#[derive(Debug)]
struct Ledger {
    rng: ChaCha20Rng,
    open: HashMap<String, Issued>,
    /// Open pair ids, oldest first (ids already chosen are skipped when met).
    order: VecDeque<String>,
    chosen: HashSet<String>,
    file: RatingsFile,
    recorded: usize,
}

/// What every request sees.
#[derive(Debug)]
struct Shared {
    ids: Vec<String>,
    dir: PathBuf,
    token: String,
    hosts: [String; 2],
    origins: [String; 2],
    page: page::Page,
    synthetic: bool,
    stop_after: Option<usize>,
    ledger: Mutex<Ledger>,
    stop: watch::Sender<bool>,
}

/// A refusal: a status and the reason the page shows.
type Refusal = (StatusCode, String);

fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    (status, format!("{}\n", why.into()))
}

impl Shared {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The checks every request passes before its handler runs.
    fn admit(&self, req: &Request) -> std::result::Result<(), Refusal> {
        let headers = req.headers();
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        if !text(header::HOST).is_some_and(|h| self.hosts.iter().any(|x| x == h)) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "forbidden: the Host header must be this server (127.0.0.1 or localhost with its port)",
            ));
        }
        if req.method() == Method::POST
            && !text(header::ORIGIN).is_some_and(|o| self.origins.iter().any(|x| x == o))
        {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "forbidden: a choice must come from the rating page itself (its Origin)",
            ));
        }
        let from_query = req.uri().query().and_then(|q| {
            form_pairs(q)
                .into_iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v)
        });
        let from_cookie = cookie(headers, COOKIE);
        let ok = [from_query, from_cookie]
            .into_iter()
            .flatten()
            .any(|t| token::matches(&self.token, &t));
        if !ok {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "forbidden: open the URL that `nnlab rate` printed (it carries the study's token)",
            ));
        }
        let declared = text(header::CONTENT_LENGTH).map(str::parse::<u64>);
        match declared {
            Some(Ok(n)) if n > MAX_BODY as u64 => Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request too large: {n} bytes declared, at most {MAX_BODY}"),
            )),
            Some(Err(_)) => Err(refuse(StatusCode::BAD_REQUEST, "unreadable Content-Length")),
            _ => Ok(()),
        }
    }

    /// Shows a new pair: two different images of the pool, with a one-time id.
    fn issue(&self) -> serde_json::Value {
        let mut l = self.ledger();
        let n = self.ids.len();
        let left = l.rng.random_range(0..n);
        let right = (left + l.rng.random_range(1..n)) % n;
        let id = format!("{:016x}", l.rng.random::<u64>());
        while l.open.len() >= OPEN_PAIRS {
            let Some(old) = l.order.pop_front() else {
                break;
            };
            l.open.remove(&old);
        }
        l.open.insert(
            id.clone(),
            Issued {
                left,
                right,
                at: Instant::now(),
            },
        );
        l.order.push_back(id.clone());
        while l.order.front().is_some_and(|f| !l.open.contains_key(f)) {
            l.order.pop_front();
        }
        serde_json::json!({ "id": id, "left": self.ids[left], "right": self.ids[right] })
    }

    /// Checks a choice against the pair it names and appends it; runs off the async workers
    /// since it waits for the disk.
    fn record(&self, c: &ChoiceForm) -> std::result::Result<(), Refusal> {
        let rater = c.rater.trim();
        let chars = rater.chars().count();
        if !(1..=40).contains(&chars) || rater.chars().any(char::is_control) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`rater`: a name of 1 to 40 characters, without control characters",
            ));
        }
        if c.ms > MAX_RESPONSE_MS {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`ms`: a response time in milliseconds, at most an hour",
            ));
        }
        let mut l = self.ledger();
        let Some(issued) = l.open.get(&c.pair) else {
            return Err(if l.chosen.contains(&c.pair) {
                refuse(
                    StatusCode::CONFLICT,
                    "this pair's choice is already recorded; take the next pair",
                )
            } else {
                refuse(
                    StatusCode::BAD_REQUEST,
                    "`pair`: not a pair this server showed (or one shown too long ago)",
                )
            });
        };
        let (left, right) = (&self.ids[issued.left], &self.ids[issued.right]);
        if c.chosen != *left && c.chosen != *right {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("`chosen`: must be one of the pair's images, {left} or {right}"),
            ));
        }
        let row = Row {
            rater: rater.to_string(),
            unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            left: left.clone(),
            right: right.clone(),
            chosen: c.chosen.clone(),
            response_ms: c.ms,
            server_ms: Some(u64::try_from(issued.at.elapsed().as_millis()).unwrap_or(u64::MAX)),
            pair: Some(c.pair.clone()),
            synthetic: Some(self.synthetic),
        };
        l.file.append(&row).map_err(|e| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("not recorded: {e}"),
            )
        })?;
        l.open.remove(&c.pair);
        l.chosen.insert(c.pair.clone());
        l.recorded += 1;
        if self.stop_after.is_some_and(|n| l.recorded >= n) {
            self.stop.send_replace(true);
        }
        Ok(())
    }
}

/// `key=value&...`, percent-decoded.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

/// The value of cookie `name`, if the request carries it.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A posted choice.
#[derive(Debug, serde::Deserialize)]
struct ChoiceForm {
    pair: String,
    rater: String,
    chosen: String,
    ms: u64,
}

/// Runs the checks of [`Shared::admit`] before every handler.
async fn admit(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    match s.admit(&req) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Headers on every response, refusals and errors included.
async fn protect(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let csp = HeaderValue::from_str(&s.page.csp).expect("the policy is ASCII");
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// `GET /`: the page; with the token in the URL, a redirect that moves it into a cookie.
async fn index(
    State(s): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if query.iter().any(|(k, _)| k == "token") {
        let rest: Vec<&(String, String)> = query.iter().filter(|(k, _)| k != "token").collect();
        let mut to = String::from("/");
        if !rest.is_empty() {
            to.push('?');
            to.push_str(&serde_urlencoded::to_string(rest).unwrap_or_default());
        }
        let set = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", s.token);
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, to), (header::SET_COOKIE, set)],
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        s.page.html.clone(),
    )
        .into_response()
}

/// `GET /pair`: a new pair as JSON, `{"id", "left", "right"}`.
async fn pair(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.issue()).into_response()
}

/// `GET /pool/<id>.png`: an image of the pool.
async fn pool_image(State(s): State<Arc<Shared>>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(id) = file
        .strip_suffix(".png")
        .filter(|id| s.ids.iter().any(|i| i == id))
    else {
        return refuse(StatusCode::NOT_FOUND, "no such image").into_response();
    };
    let path = s.dir.join(POOL).join(format!("{id}.png"));
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        Err(_) => refuse(StatusCode::NOT_FOUND, "image missing").into_response(),
    }
}

/// `POST /choice`: `pair`, `rater`, `chosen`, `ms`, form-encoded.
async fn choice(State(s): State<Arc<Shared>>, Form(c): Form<ChoiceForm>) -> Response {
    let done = tokio::task::spawn_blocking(move || s.record(&c)).await;
    match done {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(refusal)) => refusal.into_response(),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the choice was not recorded",
        )
        .into_response(),
    }
}

async fn not_found() -> Refusal {
    refuse(StatusCode::NOT_FOUND, "not found")
}

/// The routes with their limits; the last layer added is the outermost.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/pair", get(pair))
        .route("/pool/{file}", get(pool_image))
        .route("/choice", post(choice))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(shared.clone(), admit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn_with_state(shared.clone(), protect))
        .with_state(shared)
}

/// Reads the pool's ids from `report/pool/ids.txt`.
fn pool_ids(dir: &Path) -> Result<Vec<String>> {
    let list = dir.join(POOL_LIST);
    let ids: Vec<String> = std::fs::read_to_string(&list)
        .map_err(|_| {
            RateError::Refused(format!(
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
        return Err(RateError::Refused(format!(
            "{}: the pool needs two images",
            list.display()
        )));
    }
    Ok(ids)
}

/// Serves the rating page of the study in `dir` on 127.0.0.1 until Ctrl-C, or until
/// `stop_after` choices were recorded; returns how many were. `on_ready` gets the page's URL.
///
/// `interrupted` is asked every 100 ms whether to stop (the caller's Ctrl-C flag).
pub fn serve(
    dir: &Path,
    opts: &Options,
    on_ready: impl FnOnce(&str),
    interrupted: impl Fn() -> bool + Send + 'static,
) -> Result<usize> {
    let ids = pool_ids(dir)?;
    let token = token::load_or_make(dir)?;
    let file = RatingsFile::open(dir)?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            RateError::Refused(format!("cannot listen on 127.0.0.1:{}: {e}", opts.port))
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| RateError::Refused(format!("the server has no address: {e}")))?
        .port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RateError::Refused(format!("cannot start the server's threads: {e}")))?;
    let hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    let shared = Arc::new(Shared {
        origins: hosts.clone().map(|h| format!("http://{h}")),
        hosts,
        ids,
        dir: dir.to_path_buf(),
        page: page::Page::new(opts.synthetic),
        synthetic: opts.synthetic,
        stop_after: opts.stop_after,
        ledger: Mutex::new(Ledger {
            rng: ChaCha20Rng::from_os_rng(),
            open: HashMap::new(),
            order: VecDeque::new(),
            chosen: HashSet::new(),
            file,
            recorded: 0,
        }),
        stop: watch::channel(false).0,
        token,
    });
    on_ready(&format!("http://127.0.0.1:{port}/?token={}", shared.token));
    runtime.block_on(accept(listener, shared.clone(), interrupted))?;
    let recorded = shared.ledger().recorded;
    Ok(recorded)
}

/// Accepts connections until asked to stop, each served as a task of its own, then lets the
/// open ones finish their request (for at most a second).
async fn accept(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    interrupted: impl Fn() -> bool + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| RateError::Refused(format!("cannot listen: {e}")))?;
    let app = router(shared.clone());
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    let mut stop = shared.stop.subscribe();
    let ctrl_c = shared.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if interrupted() {
                ctrl_c.stop.send_replace(true);
                break;
            }
        }
    });
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let tcp = tokio::select! {
            a = listener.accept() => match a {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    eprintln!("a connection was not accepted: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(dir: &Path) -> Shared {
        let hosts = ["127.0.0.1:1".to_string(), "localhost:1".to_string()];
        Shared {
            origins: hosts.clone().map(|h| format!("http://{h}")),
            hosts,
            ids: vec!["a-0".into(), "b-1".into(), "c-2".into()],
            dir: dir.to_path_buf(),
            token: "0".repeat(32),
            page: page::Page::new(false),
            synthetic: false,
            stop_after: None,
            ledger: Mutex::new(Ledger {
                rng: ChaCha20Rng::seed_from_u64(1),
                open: HashMap::new(),
                order: VecDeque::new(),
                chosen: HashSet::new(),
                file: RatingsFile::open(dir).unwrap(),
                recorded: 0,
            }),
            stop: watch::channel(false).0,
        }
    }

    fn form(pair: &str, rater: &str, chosen: &str) -> ChoiceForm {
        ChoiceForm {
            pair: pair.into(),
            rater: rater.into(),
            chosen: chosen.into(),
            ms: 900,
        }
    }

    #[test]
    fn only_issued_pairs_are_recorded_and_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let p = s.issue();
        let (id, left, right) = (
            p["id"].as_str().unwrap(),
            p["left"].as_str().unwrap(),
            p["right"].as_str().unwrap(),
        );
        assert_ne!(left, right);
        let other = ["a-0", "b-1", "c-2"]
            .into_iter()
            .find(|x| *x != left && *x != right)
            .unwrap();
        let code = |r: std::result::Result<(), Refusal>| r.map_err(|e| e.0).err();
        assert_eq!(
            code(s.record(&form("forged", "Ann", left))),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            code(s.record(&form(id, "Ann", other))),
            Some(StatusCode::BAD_REQUEST),
            "a choice outside the pair"
        );
        for bad in ["", &"x".repeat(41), "a\nb"] {
            assert_eq!(
                code(s.record(&form(id, bad, left))),
                Some(StatusCode::BAD_REQUEST)
            );
        }
        assert_eq!(code(s.record(&form(id, "Ann Lee", right))), None);
        assert_eq!(
            code(s.record(&form(id, "Ann Lee", right))),
            Some(StatusCode::CONFLICT),
            "a replayed pair"
        );
        assert_eq!(s.ledger().recorded, 1);
        let text = std::fs::read_to_string(dir.path().join(crate::ratings::RATINGS)).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("Ann Lee,") && text.contains(id));
    }

    #[test]
    fn the_harness_answers_raw_requests_like_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let pool = dir.path().join(POOL);
        std::fs::create_dir_all(&pool).unwrap();
        std::fs::write(dir.path().join(POOL_LIST), "a-0\nb-1\n").unwrap();
        let h = Harness::new(dir.path()).unwrap();
        let token = token::load_or_make(dir.path()).unwrap();
        let get = |head: &str| String::from_utf8(h.handle(head.as_bytes())).unwrap();
        let host = "Host: 127.0.0.1:8765\r\n";
        let no = get(&format!("GET /pair HTTP/1.1\r\n{host}\r\n"));
        assert!(no.starts_with("HTTP/1.1 403"), "{no:?}");
        let ok = get(&format!(
            "GET /pair HTTP/1.1\r\n{host}Cookie: {COOKIE}={token}\r\n\r\n"
        ));
        assert!(
            ok.starts_with("HTTP/1.1 200") && ok.contains("\"left\""),
            "{ok}"
        );
        assert!(get("\0\0garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    }

    #[test]
    fn open_pairs_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let first = s.issue()["id"].as_str().unwrap().to_string();
        for _ in 0..OPEN_PAIRS {
            s.issue();
        }
        let l = s.ledger();
        assert_eq!(l.open.len(), OPEN_PAIRS);
        assert!(!l.open.contains_key(&first), "the oldest is forgotten");
    }
}

/// The server's request handling without a socket (the fuzz target's way in): raw bytes go in
/// over an in-memory connection to the same hyper settings and routes `serve` uses; the raw
/// response comes out.
#[derive(Debug)]
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    http: hyper::server::conn::http1::Builder,
}

impl Harness {
    /// The port the harness pretends to listen on (its `Host` and `Origin` must name it).
    pub const PORT: u16 = 8765;

    /// Serves the study in `dir` (its pool made, its `.rate-token` written 0600).
    pub fn new(dir: &Path) -> Result<Self> {
        let hosts = [
            format!("127.0.0.1:{}", Self::PORT),
            format!("localhost:{}", Self::PORT),
        ];
        let shared = Arc::new(Shared {
            origins: hosts.clone().map(|h| format!("http://{h}")),
            hosts,
            ids: pool_ids(dir)?,
            dir: dir.to_path_buf(),
            token: token::load_or_make(dir)?,
            page: page::Page::new(false),
            synthetic: false,
            stop_after: None,
            ledger: Mutex::new(Ledger {
                rng: ChaCha20Rng::seed_from_u64(1),
                open: HashMap::new(),
                order: VecDeque::new(),
                chosen: HashSet::new(),
                file: RatingsFile::open(dir)?,
                recorded: 0,
            }),
            stop: watch::channel(false).0,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RateError::Refused(format!("no runtime: {e}")))?;
        let mut http = hyper::server::conn::http1::Builder::new();
        // As `serve`'s, except that the harness closes its sending side first and waits for
        // the answers (a half-closed connection).
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES)
            .half_close(true);
        Ok(Self {
            app: router(shared),
            runtime,
            http,
        })
    }

    /// Sends `raw` as one connection's bytes, then closes the sending side; returns what the
    /// server wrote back.
    pub fn handle(&self, raw: &[u8]) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            let conn = self.http.serve_connection(
                TokioIo::new(server),
                TowerToHyperService::new(self.app.clone()),
            );
            let served = tokio::spawn(conn);
            let _ = client.write_all(raw).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), client.read_to_end(&mut out)).await;
            served.abort();
            out
        })
    }
}
