//! A Git smart-HTTP server on loopback: Git's own `git http-backend` (CGI)
//! behind a small axum server, with optional HTTP basic auth. Real clients
//! (the `git` program, gyro's fetcher) clone, fetch and push through it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::oneshot;

/// Largest request body accepted (a push of test repositories is small).
const MAX_BODY: usize = 256 << 20;

#[derive(Clone)]
struct State {
    root: Arc<PathBuf>,
    credentials: Option<Arc<(String, String)>>,
    log: Arc<Mutex<Vec<String>>>,
}

/// A running server; stops when dropped.
pub struct GitHttpServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _shutdown: oneshot::Sender<()>,
}

impl GitHttpServer {
    /// Serves every repository under `root` (e.g. `root/app.git` at
    /// `http://127.0.0.1:PORT/app.git`). With `credentials`, every request
    /// needs that user and password; pushes are allowed either way.
    pub async fn start(
        root: impl Into<PathBuf>,
        credentials: Option<(&str, &str)>,
    ) -> Result<Self> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = State {
            root: Arc::new(root.into()),
            credentials: credentials.map(|(u, p)| Arc::new((u.to_string(), p.to_string()))),
            log: log.clone(),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Git HTTP server to 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "git http server stopped");
            }
        });
        Ok(Self {
            addr,
            log,
            _shutdown: tx,
        })
    }

    /// The URL of `repo` (a path under the root, such as `app.git`).
    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{}", self.addr, repo.trim_start_matches('/'))
    }

    /// `METHOD /path?query STATUS` for every request served so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request<Body>,
) -> Response<Body> {
    let line = format!("{} {}", req.method(), req.uri());
    let response = match serve(&state, req).await {
        Ok(r) => r,
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")),
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(format!("{line} {}", response.status().as_u16()));
    }
    response
}

async fn serve(state: &State, req: Request<Body>) -> Result<Response<Body>> {
    let user = match &state.credentials {
        None => None,
        Some(creds) => match basic_auth(req.headers()) {
            Some((u, p)) if u == creds.0 && p == creds.1 => Some(u),
            _ => {
                let mut r = plain(StatusCode::UNAUTHORIZED, "authentication required\n".into());
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"gyro test git\""),
                );
                return Ok(r);
            }
        },
    };

    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .context("reading the request body")?;
    let header_str = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };

    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", state.root.as_os_str())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        // Pushes are allowed for anonymous users too: tests push over HTTP.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_str(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header_str(header::CONTENT_ENCODING),
        )
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", user.unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(proto) = parts
        .headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
    {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let mut child = cmd.spawn().context("starting git http-backend")?;
    let mut stdin = child
        .stdin
        .take()
        .context("git http-backend has no stdin")?;
    // Write the body while reading the output, so large pushes cannot deadlock.
    let writer = tokio::spawn(async move {
        let written = stdin.write_all(&body).await;
        drop(stdin);
        written
    });
    let out = child
        .wait_with_output()
        .await
        .context("running git http-backend")?;
    writer
        .await
        .context("writing to git http-backend")?
        .context("writing to git http-backend")?;
    if !out.status.success() && out.stdout.is_empty() {
        anyhow::bail!(
            "git http-backend failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(cgi_response(&out.stdout))
}

/// Turns CGI output (headers, a blank line, the body) into an HTTP response.
fn cgi_response(out: &[u8]) -> Response<Body> {
    let (head, body) = match find_blank_line(out) {
        Some((end, skip)) => (&out[..end], &out[end + skip..]),
        None => (out, &[][..]),
    };
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            if let Some(code) = value.split_whitespace().next().and_then(|c| c.parse().ok()) {
                status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            }
        } else if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    let mut response = Response::new(Body::from(body.to_vec()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The end of the CGI header block and the length of the separator.
fn find_blank_line(out: &[u8]) -> Option<(usize, usize)> {
    let crlf = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let lf = out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_output_becomes_status_headers_and_body() {
        let r = cgi_response(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain");

        let r = cgi_response(b"Content-Type: application/x-git-upload-pack-advertisement\n\n0000");
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn basic_auth_is_decoded() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpwOnc="),
        );
        assert_eq!(basic_auth(&h), Some(("u".into(), "p:w".into())));
    }
}
