//! `gyro login --sso`: single sign-on through the server's OIDC issuer.
//!
//! The CLI listens on a loopback port (8085 by default, as Argo CD's CLI),
//! and sends the user's browser to the server's `/auth/login` with a
//! `return_url` on that port. The server runs the whole authorization code
//! flow with the issuer (the CLI never sees the issuer's tokens) and, once
//! the user has logged in, hands a gyro token to the loopback URL with a
//! form POST. A random `state` in the return URL ties the hand-over to this
//! login: a POST without it is refused.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::post;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Argo CD's default port for the CLI's SSO callback.
pub const DEFAULT_PORT: u16 = 8085;
/// How long the CLI waits for the browser login.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Logs in through the server's single sign-on and returns the gyro token.
///
/// `server` is the server's address (`host:port` or a URL; `https://` is
/// assumed without a scheme), `insecure` skips TLS verification of the
/// server (its self-signed certificate), `port` is the loopback port to
/// wait on (0: any free one), `open_browser` tries `xdg-open` on the login
/// URL (which is printed either way).
pub async fn login_sso(
    server: &str,
    insecure: bool,
    port: u16,
    open_browser: bool,
) -> Result<String> {
    let login = start_login(server, insecure, port).await?;
    eprintln!(
        "Opening a browser for single sign-on. If none opens, visit:\n\n  {}\n",
        login.login_url
    );
    if open_browser {
        // A missing xdg-open is no error: the URL is printed above.
        let _ = std::process::Command::new("xdg-open")
            .arg(&login.login_url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    login.token(LOGIN_TIMEOUT).await
}

/// A login under way: the URL the user's browser must open, and the
/// loopback listener waiting for the token.
pub struct PendingLogin {
    pub login_url: String,
    rx: mpsc::Receiver<String>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl PendingLogin {
    /// Waits up to `timeout` for the server to hand the token over.
    pub async fn token(mut self, timeout: Duration) -> Result<String> {
        let token = tokio::time::timeout(timeout, self.rx.recv()).await;
        self.server.abort();
        match token {
            Ok(Some(token)) => Ok(token),
            Ok(None) => bail!("the SSO callback listener stopped before a token arrived"),
            Err(_) => bail!(
                "no SSO login completed within {} seconds",
                timeout.as_secs()
            ),
        }
    }
}

/// Checks the server has SSO, starts the loopback listener and builds the
/// login URL.
pub async fn start_login(server: &str, insecure: bool, port: u16) -> Result<PendingLogin> {
    let base = server_url(server);
    check_sso_configured(&base, insecure).await?;

    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!(
                "listening on 127.0.0.1:{port} for the SSO callback (is another login running?)"
            )
        })?;
    let port = listener.local_addr()?.port();
    let state = random_state()?;
    let return_url = format!("http://127.0.0.1:{port}/auth/callback?state={state}");
    let login_url = format!(
        "{base}/auth/login?return_url={}",
        url::form_urlencoded::byte_serialize(return_url.as_bytes()).collect::<String>()
    );
    let (tx, rx) = mpsc::channel::<String>(1);
    let app = Router::new()
        .route("/auth/callback", post(handover))
        .with_state(Handover { state, tx });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(PendingLogin {
        login_url,
        rx,
        server,
    })
}

/// `host:port` or a URL, without a trailing slash.
fn server_url(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.contains("://") {
        server.to_string()
    } else {
        format!("https://{server}")
    }
}

async fn check_sso_configured(base: &str, insecure: bool) -> Result<()> {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(insecure)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let url = format!("{base}/api/v1/settings");
    let response = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("reaching {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let settings: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("reading {url}"))?;
    if settings.get("oidcConfig").is_none_or(|c| c.is_null()) {
        bail!(
            "{base} has no single sign-on configured (oidc.config in argocd-cm); log in with a username and password instead"
        );
    }
    Ok(())
}

fn random_state() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness for the login state: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[derive(Clone)]
struct Handover {
    state: String,
    tx: mpsc::Sender<String>,
}

#[derive(Deserialize)]
struct HandoverQuery {
    state: Option<String>,
}

#[derive(Deserialize)]
struct HandoverForm {
    token: Option<String>,
}

/// `POST /auth/callback?state=` with the form field `token`.
async fn handover(
    State(h): State<Handover>,
    Query(query): Query<HandoverQuery>,
    axum::Form(form): axum::Form<HandoverForm>,
) -> (StatusCode, Html<&'static str>) {
    if query.state.as_deref() != Some(h.state.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>This is not the login the gyro CLI is waiting for.</p>"),
        );
    }
    match form.token.filter(|t| !t.is_empty()) {
        Some(token) => {
            let _ = h.tx.send(token).await;
            (
                StatusCode::OK,
                Html("<p>Logged in. You can close this window and return to the gyro CLI.</p>"),
            )
        }
        None => (
            StatusCode::BAD_REQUEST,
            Html("<p>The server handed over no token.</p>"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            server_url("gyro.example.com:8080/"),
            "https://gyro.example.com:8080"
        );
        assert_eq!(server_url("http://localhost:1"), "http://localhost:1");
    }

    #[test]
    fn states_are_random_hex() {
        let a = random_state().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_state().unwrap());
    }
}
