//! `nnlab rate`: a local page that shows two images of the study's pool at a time and records
//! which one the rater finds more beautiful, and how long the choice took, as one more row of
//! `ratings.csv` in the study folder. Several raters (each names themself), any number of
//! sessions.
//!
//! The server is axum's routing on hyper and tokio, with its limits set here: request headers
//! must arrive within [`HEADER_TIMEOUT`] and fit in [`MAX_HEADER_BYTES`], a body within
//! [`REQUEST_TIMEOUT`] and in [`MAX_BODY`] bytes; a connection lives at most
//! [`CONNECTION_LIFETIME`], a refused request closes its connection, and at most
//! [`MAX_CONNECTIONS`] are served at once; each connection is a task of its own and a panic in a
//! handler is answered 500, so no single client can stop or stall the server.
//!
//! Who may rate: the server listens on 127.0.0.1 only; every request must carry the study's token
//! (see [`crate::token`]), at first in the URL `nnlab rate` prints and then in a cookie (HttpOnly,
//! SameSite=Strict) set while the browser is redirected to a URL without it; the `Host` header
//! must name this server, and a POST's `Origin` this page, so that another web page in the
//! rater's browser cannot post choices (cross-site forms, DNS rebinding).
//!
//! What is recorded: every pair the server shows has a one-time id; a choice names that id and
//! one of its two images, and is recorded once ([`crate::ledger`]; [`crate::append`] for how
//! rows reach the disk).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::sync::{Semaphore, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::append::RatingsFile;
use crate::error::{RateError, Result};
use crate::ledger::{Issued, Ledger, Taken};
use crate::ratings::Row;
use crate::{page, token};

/// The folder of the pool's images inside the report folder.
pub const POOL: &str = "report/pool";
/// The list of pool ids written by `nnlab aesthetics`.
pub const POOL_LIST: &str = "report/pool/ids.txt";
/// The cookie that carries the token after the first visit is this, then `_` and the port.
pub const COOKIE: &str = "nnlab_rate";

/// Time allowed for a request's headers to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a request's body to arrive, and for a page, pair or image to be answered.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection is kept, however busy (a browser opens a new one).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// The largest request body accepted (a choice takes about 100 bytes).
pub const MAX_BODY: usize = 4096;
/// The largest request head (request line and headers) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 256;
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

/// What every request sees.
#[derive(Debug)]
struct Shared {
    ids: Vec<String>,
    dir: PathBuf,
    token: String,
    /// The cookie's name: one per port, since browsers share a host's cookies across ports.
    cookie: String,
    hosts: [String; 2],
    origins: [String; 2],
    page: page::Page,
    synthetic: bool,
    stop_after: Option<usize>,
    ledger: Mutex<Ledger>,
    /// Held only while a row is written, never with the ledger.
    file: Mutex<RatingsFile>,
    stop: watch::Sender<bool>,
}

/// A refusal: a status and the reason the page shows.
type Refusal = (StatusCode, String);

fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    (status, format!("{}\n", why.into()))
}

impl Shared {
    /// The state of a server for the study in `dir` on `port`.
    fn new(
        dir: &Path,
        port: u16,
        opts: &Options,
        file: RatingsFile,
        rng: ChaCha20Rng,
    ) -> Result<Self> {
        let hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        Ok(Self {
            origins: hosts.clone().map(|h| format!("http://{h}")),
            hosts,
            ids: pool_ids(dir)?,
            dir: dir.to_path_buf(),
            token: token::load_or_make(dir)?,
            cookie: format!("{COOKIE}_{port}"),
            page: page::Page::new(opts.synthetic),
            synthetic: opts.synthetic,
            stop_after: opts.stop_after,
            ledger: Mutex::new(Ledger::new(rng)),
            file: Mutex::new(file),
            stop: watch::channel(false).0,
        })
    }

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
        let from_query = req
            .uri()
            .query()
            .map(form_pairs)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == "token")
            .map(|(_, v)| v);
        let mut given = from_query.chain(cookies(headers, &self.cookie));
        if !given.any(|t| token::matches(&self.token, &t)) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "forbidden: open the URL that `nnlab rate` printed (it carries the study's token)",
            ));
        }
        match text(header::CONTENT_LENGTH).map(str::parse::<u64>) {
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
        let (id, p) = self.ledger().issue(self.ids.len());
        serde_json::json!({ "id": id, "left": self.ids[p.left], "right": self.ids[p.right] })
    }

    /// Checks a choice against the pair it names and appends it. The ledger is held only to take
    /// the pair and to settle it, never while the row goes to the disk; runs off the async
    /// workers, since it waits for the disk.
    fn record(&self, c: &ChoiceForm) -> std::result::Result<(), Refusal> {
        let rater = checked_rater(&c.rater)?;
        if c.ms > MAX_RESPONSE_MS {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`ms`: a response time in milliseconds, at most an hour",
            ));
        }
        let issued = self.take(&c.pair)?;
        let (left, right) = (&self.ids[issued.left], &self.ids[issued.right]);
        if c.chosen != *left && c.chosen != *right {
            self.ledger().restore(&c.pair, issued);
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("`chosen`: must be one of the pair's images, {left} or {right}"),
            ));
        }
        let row = self.row(rater, c, issued);
        let written = self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&row);
        let mut l = self.ledger();
        match written {
            Ok(()) => {
                l.done(&c.pair);
                if self.stop_after.is_some_and(|n| l.recorded >= n) {
                    self.stop.send_replace(true);
                }
                Ok(())
            }
            Err(e) => {
                l.restore(&c.pair, issued);
                Err(refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("not recorded: {e}"),
                ))
            }
        }
    }

    /// Takes the pair a choice names, or says why it cannot.
    fn take(&self, pair: &str) -> std::result::Result<Issued, Refusal> {
        self.ledger().take(pair).map_err(|why| match why {
            Taken::Chosen | Taken::Pending => refuse(
                StatusCode::CONFLICT,
                "this pair's choice is already recorded; take the next pair",
            ),
            Taken::Unknown => refuse(
                StatusCode::BAD_REQUEST,
                "`pair`: not a pair this server showed (or one shown too long ago)",
            ),
        })
    }

    fn row(&self, rater: &str, c: &ChoiceForm, issued: Issued) -> Row {
        Row {
            rater: rater.to_string(),
            unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            left: self.ids[issued.left].clone(),
            right: self.ids[issued.right].clone(),
            chosen: c.chosen.clone(),
            response_ms: c.ms,
            server_ms: Some(u64::try_from(issued.at.elapsed().as_millis()).unwrap_or(u64::MAX)),
            pair: Some(c.pair.clone()),
            synthetic: Some(self.synthetic),
        }
    }
}

/// A rater's name: any text of 1 to 40 characters (after trimming), without control characters.
fn checked_rater(name: &str) -> std::result::Result<&str, Refusal> {
    let rater = name.trim();
    if (1..=40).contains(&rater.chars().count()) && !rater.chars().any(char::is_control) {
        Ok(rater)
    } else {
        Err(refuse(
            StatusCode::BAD_REQUEST,
            "`rater`: a name of 1 to 40 characters, without control characters",
        ))
    }
}

/// `key=value&...`, percent-decoded.
fn form_pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

/// The values of every cookie `name` the request carries.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
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

/// Runs the checks of [`Shared::admit`] before every handler; a refused request's connection is
/// closed, so a client without the token cannot keep one open or pipeline requests on it.
async fn admit(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    match s.admit(&req) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            let mut resp = refusal.into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
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
        let set = format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            s.cookie, s.token
        );
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

/// `POST /choice`: `pair`, `rater`, `chosen`, `ms`, form-encoded. The body must arrive within
/// [`REQUEST_TIMEOUT`]; once it has, the choice is recorded however long the disk takes, so the
/// answer always says what happened to it.
async fn choice(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let body = tokio::time::timeout(
        REQUEST_TIMEOUT,
        axum::body::to_bytes(req.into_body(), MAX_BODY),
    )
    .await;
    let bytes = match body {
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the choice arrived too slowly; it was not recorded",
            )
            .into_response();
        }
        Ok(Err(_)) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a choice is at most {MAX_BODY} bytes"),
            )
            .into_response();
        }
        Ok(Ok(b)) => b,
    };
    let c: ChoiceForm = match serde_urlencoded::from_bytes(&bytes) {
        Ok(c) => c,
        Err(e) => {
            return refuse(StatusCode::BAD_REQUEST, format!("not a choice: {e}")).into_response();
        }
    };
    match tokio::task::spawn_blocking(move || s.record(&c)).await {
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

/// The routes with their limits; the last layer added is the outermost. `/choice` is added after
/// the time-out layer: it bounds only its body's arrival itself.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/pair", get(pair))
        .route("/pool/{file}", get(pool_image))
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .route("/choice", post(choice))
        .layer(middleware::from_fn_with_state(shared.clone(), admit))
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

/// The HTTP/1.1 settings of every connection.
fn http() -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    http
}

/// Serves the rating page of the study in `dir` on 127.0.0.1 until `interrupted` says so (it is
/// asked every 100 ms: the caller's Ctrl-C flag), or until `stop_after` choices were recorded;
/// returns how many were. `on_ready` gets the page's URL.
pub fn serve(
    dir: &Path,
    opts: &Options,
    on_ready: impl FnOnce(&str),
    interrupted: impl Fn() -> bool + Send + 'static,
) -> Result<usize> {
    // The study's lock first: a second server stops here, before it touches anything.
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
    let shared = Arc::new(Shared::new(
        dir,
        port,
        opts,
        file,
        ChaCha20Rng::from_os_rng(),
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RateError::Refused(format!("cannot start the server's threads: {e}")))?;
    on_ready(&format!("http://127.0.0.1:{port}/?token={}", shared.token));
    runtime.block_on(accept(listener, shared.clone(), interrupted))?;
    let recorded = shared.ledger().recorded;
    Ok(recorded)
}

/// Accepts connections until asked to stop, each served as a task of its own for at most
/// [`CONNECTION_LIFETIME`], then lets the open ones finish their request (for at most a second).
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
    let http = http();
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
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
    Ok(())
}

/// The server's request handling without a socket (the fuzz target's way in): raw bytes go in
/// over an in-memory connection to the same hyper settings and routes `serve` uses; the raw
/// response comes out.
#[derive(Debug)]
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    app: Router,
    http: hyper::server::conn::http1::Builder,
}

impl Harness {
    /// The port the harness pretends to listen on (its `Host` and `Origin` must name it; its
    /// cookie is `nnlab_rate_8765`).
    pub const PORT: u16 = 8765;

    /// Serves the study in `dir` (its pool made; its `.rate-token` made if missing).
    pub fn new(dir: &Path) -> Result<Self> {
        let file = RatingsFile::open(dir)?;
        let opts = Options::default();
        let shared = Arc::new(Shared::new(
            dir,
            Self::PORT,
            &opts,
            file,
            ChaCha20Rng::seed_from_u64(1),
        )?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RateError::Refused(format!("no runtime: {e}")))?;
        // As `serve`'s, except that the harness closes its sending side first and waits for
        // the answers (a half-closed connection).
        let mut http = http();
        http.half_close(true);
        Ok(Self {
            app: router(shared.clone()),
            shared,
            runtime,
            http,
        })
    }

    /// Opens pair `id` of the pool's first two images, as if the page had been shown it.
    pub fn open_pair(&self, id: &str) {
        let issued = Issued {
            left: 0,
            right: 1,
            at: std::time::Instant::now(),
        };
        self.shared.ledger().open_with(id.to_string(), issued);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(dir: &Path) {
        std::fs::create_dir_all(dir.join(POOL)).unwrap();
        std::fs::write(dir.join(POOL_LIST), "a-0\nb-1\nc-2\n").unwrap();
    }

    fn shared(dir: &Path) -> Shared {
        pool(dir);
        let file = RatingsFile::open(dir).unwrap();
        Shared::new(
            dir,
            1,
            &Options::default(),
            file,
            ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap()
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
        pool(dir.path());
        let h = Harness::new(dir.path()).unwrap();
        let token = token::load_or_make(dir.path()).unwrap();
        let get = |head: &str| String::from_utf8(h.handle(head.as_bytes())).unwrap();
        let host = "Host: 127.0.0.1:8765\r\n";
        let no = get(&format!("GET /pair HTTP/1.1\r\n{host}\r\n"));
        assert!(no.starts_with("HTTP/1.1 403"), "{no:?}");
        assert!(no.contains("connection: close"), "{no:?}");
        let cookie = format!("Cookie: other=1; {COOKIE}_8765=x; {COOKIE}_8765={token}\r\n");
        let ok = get(&format!("GET /pair HTTP/1.1\r\n{host}{cookie}\r\n"));
        assert!(
            ok.starts_with("HTTP/1.1 200") && ok.contains("\"left\""),
            "{ok}"
        );
        assert!(get("\0\0garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        h.open_pair("0123456789abcdef");
        let body = "pair=0123456789abcdef&rater=Ann&chosen=a-0&ms=5";
        let post = format!(
            "POST /choice HTTP/1.1\r\n{host}{cookie}Origin: http://127.0.0.1:8765\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let recorded = get(&post);
        assert!(recorded.starts_with("HTTP/1.1 200"), "{recorded}");
        assert!(get(&post).starts_with("HTTP/1.1 409"), "replayed");
    }
}
