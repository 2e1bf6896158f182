//! `gyro repo add|list`: repository credentials through the API server
//! (stored as Argo CD repository Secrets; the server never returns them).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{ServerArgs, query};
use crate::output::{self, Format, s};

#[derive(Subcommand)]
pub enum RepoCommand {
    /// Add (register) a repository.
    Add(AddArgs),
    /// List the repositories.
    List(ListArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// The repository URL.
    pub url: String,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    /// A file with the SSH private key.
    #[arg(long, value_name = "FILE")]
    pub ssh_private_key_path: Option<PathBuf>,
    /// git or helm.
    #[arg(long = "type", default_value = "git", value_parser = ["git", "helm"])]
    pub repo_type: String,
    /// The repository's name (needed for Helm repositories).
    #[arg(long)]
    pub name: Option<String>,
    /// Do not verify the server's TLS certificate or SSH host key.
    #[arg(long)]
    pub insecure_skip_server_verification: bool,
    /// The project the repository is scoped to.
    #[arg(long)]
    pub project: Option<String>,
    /// Replace the repository's settings if it exists.
    #[arg(long)]
    pub upsert: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Format,
}

pub async fn run(srv: &ServerArgs, cmd: RepoCommand) -> Result<ExitCode> {
    let c = srv.client()?;
    match cmd {
        RepoCommand::Add(a) => {
            let body = add_body(&a)?;
            let upsert = a.upsert.to_string();
            c.post(
                &format!(
                    "/api/v1/repositories{}",
                    query(&[("upsert", Some(upsert.as_str()))])
                ),
                &body,
            )
            .await?;
            println!("Repository '{}' added", a.url);
        }
        RepoCommand::List(a) => {
            let list = c.get("/api/v1/repositories").await?;
            output::print_list(&list, a.output, "/repo", list_rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn add_body(a: &AddArgs) -> Result<Value> {
    let mut body = json!({
        "repo": a.url,
        "type": a.repo_type,
        "insecure": a.insecure_skip_server_verification,
    });
    for (k, v) in [
        ("name", &a.name),
        ("username", &a.username),
        ("password", &a.password),
        ("project", &a.project),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    if let Some(path) = &a.ssh_private_key_path {
        let key = std::fs::read_to_string(path)
            .with_context(|| format!("reading the SSH private key {}", path.display()))?;
        body["sshPrivateKey"] = json!(key);
    }
    Ok(body)
}

pub fn list_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "TYPE", "NAME", "REPO", "INSECURE", "CREDS", "STATUS", "MESSAGE", "PROJECT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in items {
        let t = s(r, "/type");
        rows.push(vec![
            if t.is_empty() { "git".to_string() } else { t },
            s(r, "/name"),
            s(r, "/repo"),
            (r.get("insecure") == Some(&Value::Bool(true))).to_string(),
            (r.get("hasCredentials") == Some(&Value::Bool(true)) || !s(r, "/username").is_empty())
                .to_string(),
            s(r, "/connectionState/status"),
            s(r, "/connectionState/message"),
            s(r, "/project"),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_body_carries_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "KEY").unwrap();
        let a = AddArgs {
            url: "git@h:r.git".into(),
            username: None,
            password: None,
            ssh_private_key_path: Some(key),
            repo_type: "git".into(),
            name: Some("r".into()),
            insecure_skip_server_verification: true,
            project: None,
            upsert: false,
        };
        let b = add_body(&a).unwrap();
        assert_eq!(
            b,
            json!({"repo": "git@h:r.git", "type": "git", "insecure": true, "name": "r", "sshPrivateKey": "KEY"})
        );
        let rows = list_rows(&[
            json!({"repo": "https://h/r", "connectionState": {"status": "Successful"}}),
        ]);
        assert_eq!(
            rows[1],
            vec![
                "git",
                "",
                "https://h/r",
                "false",
                "false",
                "Successful",
                "",
                ""
            ]
        );
    }
}
