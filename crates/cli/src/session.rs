//! `gyro login`, `gyro logout` and `gyro version`: getting a token from
//! the server into the config file, revoking it, and the versions of both
//! ends.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::client::{ApiClient, ServerArgs};
use crate::config::{self, Server};
use crate::output::{self, Format, s};

#[derive(Args)]
pub struct LoginArgs {
    /// The server, HOST:PORT.
    pub server: String,
    /// The user name (prompted for on a terminal when missing).
    #[arg(long)]
    pub username: Option<String>,
    /// The password (prompted for on a terminal when missing).
    #[arg(long)]
    pub password: Option<String>,
    /// Log in through the server's single sign-on (OIDC) in a browser.
    #[arg(long, conflicts_with_all = ["username", "password"])]
    pub sso: bool,
    /// The port on 127.0.0.1 that receives the SSO redirect (0: any).
    #[arg(long, default_value_t = crate::sso::DEFAULT_PORT, requires = "sso")]
    pub sso_port: u16,
    /// The name of the context to store (default: the server).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The context to log out of (default: the current one).
    pub context: Option<String>,
}

#[derive(Args)]
pub struct VersionArgs {
    /// Only the client's version.
    #[arg(long)]
    pub client: bool,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

/// Reads one line from the terminal after printing `question`.
pub fn prompt(question: &str) -> Result<String> {
    let mut err = std::io::stderr().lock();
    err.write_all(question.as_bytes())
        .and_then(|()| err.flush())
        .context("writing the prompt")?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn value_or_prompt(value: Option<String>, flag: &str, secret: bool) -> Result<String> {
    if let Some(v) = value {
        return Ok(v);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{flag} is required when the input is not a terminal");
    }
    if secret {
        rpassword::prompt_password("Password: ").context("reading the password")
    } else {
        prompt("Username: ")
    }
}

pub async fn login(srv: &ServerArgs, a: LoginArgs) -> Result<ExitCode> {
    let path = srv.config_path()?;
    let mut cfg = config::load(&path)?;
    let known = cfg.servers.iter().find(|k| k.server == a.server).cloned();
    let server = Server {
        server: a.server.clone(),
        insecure: srv.insecure || known.as_ref().is_some_and(|k| k.insecure),
        plain_text: srv.plaintext || known.as_ref().is_some_and(|k| k.plain_text),
    };
    let client = ApiClient::new(server.clone(), None)?;
    let (token, who) = if a.sso {
        let base = crate::client::base_url(&server.server, server.plain_text);
        let token = crate::sso::login_sso(&base, server.insecure, a.sso_port, true).await?;
        (token, "SSO".to_string())
    } else {
        let username = value_or_prompt(a.username, "--username", false)?;
        let password = value_or_prompt(a.password, "--password", true)?;
        let r = client
            .post(
                "/api/v1/session",
                &json!({ "username": username, "password": password }),
            )
            .await?;
        let token = r
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .context("the server answered the login without a token")?
            .to_string();
        (token, username)
    };
    let name = a.name.unwrap_or_else(|| a.server.clone());
    cfg.upsert_login(&name, server, &token);
    config::save(&path, &cfg)?;
    println!("'{who}:login' logged in successfully");
    println!("Context '{name}' updated");
    Ok(ExitCode::SUCCESS)
}

pub async fn logout(srv: &ServerArgs, a: LogoutArgs) -> Result<ExitCode> {
    let path = srv.config_path()?;
    let mut cfg = config::load(&path)?;
    let name = a
        .context
        .or_else(|| srv.gyro_context.clone())
        .unwrap_or_else(|| cfg.current_context.clone());
    let resolved = cfg
        .resolve(Some(&name))
        .with_context(|| format!("no context {name:?} in {}", path.display()))?;
    if let Some(token) = resolved.token {
        // Revoke on the server too; the local token goes either way.
        let client = ApiClient::new(resolved.server, Some(token))?;
        if let Err(e) = client.delete("/api/v1/session").await {
            eprintln!("warning: the server did not revoke the token: {e:#}");
        }
    }
    cfg.remove_token(&name);
    config::save(&path, &cfg)?;
    println!("Logged out from '{name}'");
    Ok(ExitCode::SUCCESS)
}

pub async fn version(srv: &ServerArgs, a: VersionArgs) -> Result<ExitCode> {
    let client_version = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    });
    let server = if a.client {
        None
    } else {
        Some(srv.client()?.get("/api/version").await?)
    };
    let mut all = json!({ "client": client_version });
    if let Some(sv) = &server {
        all["server"] = sv.clone();
    }
    if output::print_structured(&all, a.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    println!("gyro: v{}", s(&client_version, "/Version"));
    println!("  Platform: {}", s(&client_version, "/Platform"));
    if let Some(sv) = server {
        println!("gyro-server: {}", s(&sv, "/Version"));
        for (k, p) in [
            ("BuildDate", "/BuildDate"),
            ("GitCommit", "/GitCommit"),
            ("Platform", "/Platform"),
        ] {
            let v = s(&sv, p);
            if !v.is_empty() {
                println!("  {k}: {v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
