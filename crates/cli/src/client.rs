//! The HTTP client for gyro's API server: which server and token to use
//! (flags, then `GYRO_SERVER` / `GYRO_AUTH_TOKEN`, then the config file's
//! current context), TLS (`--insecure` skips verification, `--plaintext`
//! speaks plain HTTP), and the server's errors turned into
//! [`Failure::Api`] carrying its own message.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use reqwest::Method;
use serde_json::Value;

use crate::config::{self, LocalConfig, Server};
use crate::exit::Failure;

#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// The gyro API server, HOST:PORT (default: the config file's current
    /// context).
    #[arg(long, global = true, env = "GYRO_SERVER", value_name = "HOST:PORT")]
    pub server: Option<String>,

    /// A bearer token to use instead of the one stored by `gyro login`.
    #[arg(
        long,
        global = true,
        env = "GYRO_AUTH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub auth_token: Option<String>,

    /// Skip the verification of the server's TLS certificate.
    #[arg(long, global = true)]
    pub insecure: bool,

    /// Speak plain HTTP to the server (no TLS).
    #[arg(long, global = true)]
    pub plaintext: bool,

    /// The config file (default: ~/.config/gyro/config).
    #[arg(long, global = true, env = "GYRO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The config file's context to use (default: its current context).
    #[arg(long = "gyro-context", global = true, value_name = "NAME")]
    pub gyro_context: Option<String>,

    /// Talk to the cluster through the kubeconfig, without a gyro server
    /// (Argo CD's `--core`).
    #[arg(long, global = true)]
    pub core: bool,
}

impl ServerArgs {
    pub fn config_path(&self) -> Result<PathBuf> {
        config::path(self.config.as_deref())
    }

    pub fn load_config(&self) -> Result<LocalConfig> {
        config::load(&self.config_path()?)
    }

    /// Whether a server is configured (by flag, environment or config
    /// file) and `--core` is not given.
    pub fn has_server(&self) -> bool {
        !self.core
            && (self.server.is_some()
                || self
                    .load_config()
                    .ok()
                    .and_then(|c| c.resolve(self.gyro_context.as_deref()))
                    .is_some())
    }

    /// The client for the configured server.
    pub fn client(&self) -> Result<ApiClient> {
        if self.core {
            bail!("this command needs a gyro server; it has no --core mode");
        }
        let cfg = self.load_config()?;
        let (server, token) = match &self.server {
            Some(s) => {
                let known = cfg.servers.iter().find(|k| &k.server == s).cloned();
                let server = Server {
                    server: s.clone(),
                    insecure: self.insecure || known.as_ref().is_some_and(|k| k.insecure),
                    plain_text: self.plaintext || known.as_ref().is_some_and(|k| k.plain_text),
                };
                (server, cfg.token_for_server(s))
            }
            None => {
                let resolved = cfg.resolve(self.gyro_context.as_deref()).with_context(|| {
                    match &self.gyro_context {
                        Some(name) => format!("no context {name:?} in the config file: run `gyro login`"),
                        None => "no gyro server: pass --server HOST:PORT, set GYRO_SERVER, or run `gyro login SERVER`".to_string(),
                    }
                })?;
                let mut server = resolved.server;
                server.insecure |= self.insecure;
                server.plain_text |= self.plaintext;
                (server, resolved.token)
            }
        };
        let token = self.auth_token.clone().or(token);
        ApiClient::new(server, token)
    }
}

/// A client for one server, with its token.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    pub server: Server,
    token: Option<String>,
}

impl ApiClient {
    pub fn new(server: Server, token: Option<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(server.insecure)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: base_url(&server.server, server.plain_text),
            server,
            token,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.call(Method::DELETE, path, None).await
    }

    /// One request; the body of a success as JSON (`null` when empty), a
    /// [`Failure`] otherwise.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        tracing::debug!(%method, %url, "request");
        let resp = req.send().await.map_err(|e| Failure::Connect {
            server: self.server.server.clone(),
            reason: format!("{:#}", anyhow::Error::new(e)),
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| Failure::Connect {
            server: self.server.server.clone(),
            reason: format!("{:#}", anyhow::Error::new(e)),
        })?;
        if !status.is_success() {
            return Err(Failure::Api {
                status: status.as_u16(),
                message: error_message(status.as_u16(), &text),
            }
            .into());
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: the server's answer is not JSON"))
    }
}

/// `https://HOST:PORT` (or `http://` with `plaintext`); a server given
/// with its scheme is kept as given.
pub fn base_url(server: &str, plaintext: bool) -> String {
    let server = server.trim_end_matches('/');
    if server.starts_with("http://") || server.starts_with("https://") {
        return server.to_string();
    }
    let scheme = if plaintext { "http" } else { "https" };
    format!("{scheme}://{server}")
}

/// The message of an error answer: Argo CD's `{"error","code","message"}`
/// body's message, else the text itself, else the status.
pub fn error_message(status: u16, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    field("message")
        .or_else(|| field("error"))
        .or_else(|| Some(body.trim().to_string()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("the server answered HTTP {status}"))
}

/// `s` percent-encoded for one path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...` from the pairs with a value; empty when none has one.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(base_url("localhost:8080", false), "https://localhost:8080");
        assert_eq!(base_url("localhost:8080", true), "http://localhost:8080");
        assert_eq!(base_url("http://h:1/", false), "http://h:1");
        assert_eq!(
            encode("https://k8s:6443/a b"),
            "https%3A%2F%2Fk8s%3A6443%2Fa%20b"
        );
        assert_eq!(
            query(&[("refresh", Some("hard")), ("x", None), ("s", Some("a=b,c"))]),
            "?refresh=hard&s=a%3Db%2Cc"
        );
        assert_eq!(query(&[("x", None)]), "");
    }

    #[test]
    fn error_messages_are_the_servers() {
        let body = r#"{"error":"permission denied: applications, sync, default/guestbook, sub: alice","code":7,"message":"permission denied: applications, sync, default/guestbook, sub: alice"}"#;
        assert_eq!(
            error_message(403, body),
            "permission denied: applications, sync, default/guestbook, sub: alice"
        );
        assert_eq!(error_message(502, "bad gateway\n"), "bad gateway");
        assert_eq!(error_message(500, ""), "the server answered HTTP 500");
    }
}
