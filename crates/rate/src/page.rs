//! The rating page: two images of the pool, click the more beautiful one. Its script and style
//! are inline and allowed by hash in the Content-Security-Policy, which allows nothing else: no
//! other script, no frame around the page, requests to this server only.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The page's style.
const STYLE: &str = "
body { font-family: sans-serif; text-align: center; margin: 2em; }
img { width: 280px; height: 280px; image-rendering: pixelated; border: 3px solid #ccc; margin: 1em; cursor: pointer; }
img:hover { border-color: #1f77b4; }
#done { color: #2ca02c; }
#error { color: #d62728; font-weight: bold; }
";

/// The page's script. It asks for a pair, shows it, posts the choice with the pair's one-time id
/// and the time since the pair was shown, and shows every refusal. `AUTO_HOOK` is replaced by
/// `true` only under `nnlab rate --synthetic`: then `auto=N` in the URL makes N choices by
/// itself, which the server records as synthetic.
const SCRIPT: &str = r#"
const AUTO_HOOK = __AUTO_HOOK__;
const params = new URLSearchParams(location.search);
const rater = document.getElementById("rater");
const error = document.getElementById("error");
rater.value = params.get("rater") || "";
let pair = null, shown = 0, count = 0;
function refuse(text) { error.textContent = text; }
async function next() {
  let r;
  try { r = await fetch("/pair"); } catch (e) {
    pair = null; refuse("The rating server is not answering (it may have been stopped)."); return;
  }
  if (!r.ok) { pair = null; refuse(`The server refused a new pair: ${await r.text()}`); return; }
  pair = await r.json();
  document.getElementById("left").src = `/pool/${pair.left}.png`;
  document.getElementById("right").src = `/pool/${pair.right}.png`;
  shown = performance.now();
}
let posting = false;
async function choose(side) {
  if (posting) return;  // a double click posts one choice
  posting = true;
  try { await post(side); } finally { posting = false; }
}
async function post(side) {
  const name = rater.value.trim();
  if (!pair) { refuse("No pair to choose from yet."); return; }
  if (name.length < 1 || [...name].length > 40) {
    refuse("Please enter your name (1 to 40 characters) first."); return;
  }
  const chosen = side === "left" ? pair.left : pair.right;
  const body = new URLSearchParams({ pair: pair.id, rater: name, chosen,
                                     ms: String(Math.round(performance.now() - shown)) });
  let r;
  try { r = await fetch("/choice", { method: "POST", body }); } catch (e) {
    refuse("Not recorded: the rating server is not answering."); return;
  }
  if (r.ok) {
    count += 1;
    error.textContent = "";
    document.getElementById("count").textContent = `${count} choices`;
  } else {
    refuse(`Not recorded: ${await r.text()}`);
  }
  await next();
}
document.getElementById("left").addEventListener("click", () => choose("left"));
document.getElementById("right").addEventListener("click", () => choose("right"));
(async () => {
  await next();
  const auto = AUTO_HOOK ? Number(params.get("auto") || 0) : 0;
  for (let i = 0; i < auto; i++) {
    await choose(Math.random() < 0.5 ? "left" : "right");
    await new Promise(r => setTimeout(r, 50));
  }
  if (auto) document.getElementById("done").textContent = `auto: ${count} choices made`;
})();
"#;

/// The page and the Content-Security-Policy that allows exactly its script and style.
#[derive(Debug, Clone)]
pub struct Page {
    /// The HTML.
    pub html: String,
    /// The `Content-Security-Policy` header's value.
    pub csp: String,
}

fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

impl Page {
    /// The page, with the test hook when `auto_hook`.
    pub fn new(auto_hook: bool) -> Self {
        let script = SCRIPT.replace("__AUTO_HOOK__", if auto_hook { "true" } else { "false" });
        let html = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nnlab: which is more beautiful?</title>
<style>{STYLE}</style></head>
<body>
<h1>Which image is more beautiful?</h1>
<p>Click the one you prefer. There is no right answer; go with your first impression.</p>
<p><label>Your name: <input id="rater"></label></p>
<div><img id="left" alt="left image"><img id="right" alt="right image"></div>
<p id="count">0 choices</p><p id="error" role="alert"></p><p id="done"></p>
<script>{script}</script></body></html>
"#
        );
        let csp = format!(
            "default-src 'none'; script-src {}; style-src {}; img-src 'self'; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            sha256_source(&script),
            sha256_source(STYLE)
        );
        Self { html, csp }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_script_and_style() {
        for hook in [false, true] {
            let page = Page::new(hook);
            let script = page
                .html
                .split("<script>")
                .nth(1)
                .and_then(|s| s.split("</script>").next())
                .unwrap();
            assert!(page.csp.contains(&sha256_source(script)), "{}", page.csp);
            assert!(page.csp.contains(&sha256_source(STYLE)));
            assert!(page.csp.contains("frame-ancestors 'none'"));
            assert_eq!(page.html.contains("AUTO_HOOK = true"), hook);
        }
    }
}
