//! Dex, a real OpenID Connect provider (the one Argo CD bundles), for the
//! single sign-on tests: one Dex per test process, on a free loopback port,
//! started on first use.
//!
//! The binary comes from `scripts/build-dex` (built on demand, cached under
//! `~/.cache/gyro/dex/`), or from `$GYRO_DEX_BIN`. Dex runs under a small
//! shell that holds the read end of a pipe from the test process: when the
//! test process exits, the pipe closes and the shell stops Dex, so no Dex
//! outlives its tests.
//!
//! Its configuration (generated into a temporary directory):
//! - issuer `http://127.0.0.1:<port>/dex`, memory storage, the approval
//!   screen skipped;
//! - the password database with one static user, [`Dex::username`] /
//!   [`Dex::password`] (a bcrypt hash in the config, as Dex wants), whose ID
//!   token has an `email` but no `groups`;
//! - Dex's `mockCallback` connector (id [`Dex::MOCK_CONNECTOR`]), which logs
//!   in without a form as `kilgore@kilgore.trout` with groups `["authors"]`,
//!   for the tests of the `groups` claim;
//! - one static client, [`Dex::client_id`] / [`Dex::client_secret`]. It is a
//!   *public* client with no listed redirect URIs, which makes Dex accept any
//!   `http://localhost:<port>/...` redirect URI: the gyro servers under test
//!   listen on ports chosen at run time, so their URL must be
//!   `http://localhost:<port>`. Dex still checks the client secret.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::cluster::repo_root;

/// A running Dex and what a test needs to log in through it.
#[derive(Debug)]
pub struct Dex {
    /// The issuer URL (`http://127.0.0.1:<port>/dex`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The password database user's login (its email, as Dex asks for).
    pub username: String,
    pub password: String,
    /// The `email` claim of that user's ID token.
    pub email: String,
    // Kept for the life of the process: closing the pipe stops Dex.
    _process: Mutex<(Child, ChildStdin)>,
    _dir: tempfile::TempDir,
}

impl Dex {
    /// The id of the password database connector.
    pub const PASSWORD_CONNECTOR: &'static str = "local";
    /// The id of the `mockCallback` connector.
    pub const MOCK_CONNECTOR: &'static str = "mock";
    /// The email and groups the `mockCallback` connector logs in with.
    pub const MOCK_EMAIL: &'static str = "kilgore@kilgore.trout";
    pub const MOCK_GROUPS: &'static [&'static str] = &["authors"];
}

/// The Dex of this test process, started on first use.
pub fn dex() -> Result<&'static Dex> {
    static DEX: OnceLock<std::result::Result<Dex, String>> = OnceLock::new();
    DEX.get_or_init(|| start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("Dex is not available: {e}"))
}

/// The Dex binary: `$GYRO_DEX_BIN/dex`, else the one `scripts/build-dex`
/// builds (on first use; later runs find it in the cache).
pub fn dex_binary() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GYRO_DEX_BIN") {
        let path = PathBuf::from(dir).join("dex");
        if !path.is_file() {
            bail!("GYRO_DEX_BIN names {}, which holds no dex", path.display());
        }
        return Ok(path);
    }
    let script = repo_root().join("scripts/build-dex");
    let out = Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}); its messages above say why",
            script.display(),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or("").trim()).join("dex");
    if !path.is_file() {
        bail!("{} printed no directory holding dex", script.display());
    }
    Ok(path)
}

fn start() -> Result<Dex> {
    let binary = dex_binary()?;
    let port = free_port()?;
    let issuer = format!("http://127.0.0.1:{port}/dex");
    let username = "sso-user@example.com".to_string();
    let password = "gyro-sso-password".to_string();
    let client_id = "gyro-test".to_string();
    let client_secret = "gyro-test-secret".to_string();
    let hash = bcrypt::hash(&password, 10).context("hashing the Dex user's password")?;
    let config = format!(
        r#"issuer: {issuer}
storage:
  type: memory
web:
  http: 127.0.0.1:{port}
logger:
  level: info
oauth2:
  skipApprovalScreen: true
enablePasswordDB: true
staticPasswords:
  - email: "{username}"
    hash: "{hash}"
    username: sso-user
    userID: 5d1f0c2e-0a55-4c43-9c0f-6f0d43a5a001
connectors:
  - type: mockCallback
    id: {mock}
    name: Mock
staticClients:
  - id: {client_id}
    name: gyro tests
    secret: {client_secret}
    public: true
"#,
        mock = Dex::MOCK_CONNECTOR,
    );
    let dir = tempfile::tempdir().context("a directory for Dex's config")?;
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).context("writing Dex's config")?;
    let log_path = dir.path().join("dex.log");
    let (child, stdin) = spawn_guarded(&binary, &config_path, &log_path)?;
    let dex = Dex {
        issuer,
        client_id,
        client_secret,
        email: username.clone(),
        username,
        password,
        _process: Mutex::new((child, stdin)),
        _dir: dir,
    };
    wait_ready(port, &log_path)?;
    Ok(dex)
}

/// Starts `dex serve config` under `sh`, which stops Dex when its standard
/// input (a pipe this process holds) reaches end of file.
fn spawn_guarded(binary: &Path, config: &Path, log: &Path) -> Result<(Child, ChildStdin)> {
    let script = r#"dex=$1 config=$2 log=$3
"$dex" serve "$config" </dev/null >"$log" 2>&1 &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(binary)
        .arg(config)
        .arg(log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no pipe to Dex's guard shell"))?;
    Ok((child, stdin))
}

/// Waits until Dex answers its discovery document.
fn wait_ready(port: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if discovery_answers(port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!(
                "Dex did not answer /dex/.well-known/openid-configuration on port {port} within 30s; its log:\n{log}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn discovery_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "GET /dex/.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}
