//! Running the `git` program against a mirror, with credentials, a time
//! limit, and its failures turned into [`Error`] values.
//!
//! gyro drives the `git` CLI rather than a Git library for the network and
//! checkout work, as Argo CD's repo server does: it speaks every transport
//! and protocol version servers expect, honours `ssh`'s own configuration,
//! and its failure messages are the ones operators search for.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::Error;
use crate::credentials::Credentials;

/// How to reach one repository.
pub(crate) struct Remote<'a> {
    pub url: &'a str,
    pub credentials: Option<&'a Credentials>,
    pub timeout: Duration,
    pub known_hosts: Option<&'a Path>,
    pub observer: Option<&'a crate::GitObserver>,
}

/// Files that must outlive one git invocation (the SSH key).
struct Scratch {
    _key: Option<tempfile::NamedTempFile>,
}

impl Remote<'_> {
    /// Runs `git ARGS` with `git_dir` as the repository; returns stdout.
    pub async fn git(
        &self,
        git_dir: &Path,
        operation: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<String, Error> {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir").arg(git_dir).args(args);
        self.run(cmd, operation, stdin).await
    }

    pub async fn run(
        &self,
        mut cmd: Command,
        operation: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<String, Error> {
        // The controller's behaviour must not depend on the host's git
        // configuration, and git must never wait for a password on a terminal.
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let _scratch = self.auth(&mut cmd).map_err(|e| self.fail(operation, &e))?;

        let started = std::time::Instant::now();
        let run = async {
            let mut child = cmd.spawn()?;
            if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(&input).await?;
            }
            child.wait_with_output().await
        };
        let outcome = tokio::time::timeout(self.timeout, run).await;
        if let Some(observer) = self.observer
            && matches!(operation, "ls-remote" | "fetch")
        {
            (observer.0)(self.url, operation, started.elapsed());
        }
        let out = match outcome {
            Err(_) => {
                return Err(Error::Unreachable {
                    url: self.url.to_string(),
                    detail: format!("git {operation} did not finish within {:?}", self.timeout),
                });
            }
            Ok(Err(e)) => return Err(self.fail(operation, &format!("running git: {e}"))),
            Ok(Ok(out)) => out,
        };
        tracing::debug!(url = self.url, operation, elapsed_ms = started.elapsed().as_millis() as u64, status = %out.status, "git");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(self.fail(operation, String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// Puts the credentials into the environment, never on the command line
    /// (which other users can read through `ps`).
    fn auth(&self, cmd: &mut Command) -> Result<Scratch, String> {
        let mut config: Vec<(&str, String)> = Vec::new();
        let mut scratch = Scratch { _key: None };
        let creds = self.credentials;
        let insecure = creds.is_some_and(|c| c.insecure);
        if crate::url::is_ssh_url(self.url) {
            let mut ssh = String::from("ssh -o BatchMode=yes");
            if let Some(key) = creds.and_then(|c| c.ssh_private_key.as_deref()) {
                let path = write_key(key)?;
                ssh.push_str(&format!(
                    " -o IdentitiesOnly=yes -i {}",
                    shell_quote(path.path())
                ));
                scratch._key = Some(path);
            }
            if insecure {
                ssh.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
            } else if let Some(known) = self.known_hosts {
                ssh.push_str(&format!(
                    " -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
                    shell_quote(known)
                ));
            }
            cmd.env("GIT_SSH_COMMAND", ssh);
        } else if let Some(c) = creds {
            if c.username.is_some() || c.password.is_some() {
                let pair = format!(
                    "{}:{}",
                    c.username.as_deref().unwrap_or_default(),
                    c.password.as_deref().unwrap_or_default()
                );
                let token = base64::engine::general_purpose::STANDARD.encode(pair);
                config.push(("http.extraHeader", format!("Authorization: Basic {token}")));
            }
            if insecure {
                config.push(("http.sslVerify", "false".into()));
            }
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (k, v)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), k)
                .env(format!("GIT_CONFIG_VALUE_{i}"), v);
        }
        Ok(scratch)
    }

    /// Sorts a git failure into the kinds an operator acts on differently.
    pub fn fail(&self, operation: &str, stderr: &str) -> Error {
        let url = self.url.to_string();
        // Every line counts (ssh puts the cause before git's generic
        // "Could not read from remote repository"), minus ssh's chatter.
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
            .collect();
        let mut detail = if lines.is_empty() {
            "git failed without a message".to_string()
        } else {
            lines.join("; ")
        };
        if detail.len() > 500 {
            let cut = (0..=500)
                .rev()
                .find(|i| detail.is_char_boundary(*i))
                .unwrap_or(0);
            detail.truncate(cut);
            detail.push_str(" ...");
        }
        let lower = stderr.to_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        if has(&[
            "authentication failed",
            "could not read username",
            "could not read password",
            "permission denied (publickey",
            "permission denied, please try again",
            "the requested url returned error: 401",
            "the requested url returned error: 403",
            "host key verification failed",
        ]) {
            Error::AuthenticationFailed { url, detail }
        } else if has(&[
            "repository not found",
            "does not appear to be a git repository",
            "the requested url returned error: 404",
            "not found",
        ]) && !has(&["could not resolve host"])
        {
            Error::RepositoryNotFound { url, detail }
        } else if has(&[
            "could not resolve host",
            "connection refused",
            "failed to connect",
            "connection timed out",
            "couldn't connect",
            "network is unreachable",
            "no route to host",
            "could not read from remote repository",
            "operation timed out",
            "empty reply from server",
        ]) {
            Error::Unreachable { url, detail }
        } else {
            Error::Git {
                url,
                operation: operation.to_string(),
                detail,
            }
        }
    }
}

/// The private key in a file only the owner can read, removed when dropped.
fn write_key(key: &str) -> Result<tempfile::NamedTempFile, String> {
    let mut file = tempfile::Builder::new()
        .prefix("gyro-ssh-key-")
        .tempfile()
        .map_err(|e| format!("writing the SSH key to a temporary file: {e}"))?;
    let mut text = key.trim_end().to_string();
    // ssh rejects a key file without a final newline.
    text.push('\n');
    file.write_all(text.as_bytes())
        .map_err(|e| format!("writing the SSH key to a temporary file: {e}"))?;
    Ok(file)
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// The path of a new sibling of `path` with a unique suffix.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}-{}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str) -> Remote<'_> {
        Remote {
            url,
            credentials: None,
            timeout: Duration::from_secs(1),
            known_hosts: None,
            observer: None,
        }
    }

    #[test]
    fn failures_are_classified() {
        let r = remote("https://h/app");
        let kind = |s: &str| match r.fail("fetch", s) {
            Error::AuthenticationFailed { .. } => "auth",
            Error::RepositoryNotFound { .. } => "missing",
            Error::Unreachable { .. } => "unreachable",
            _ => "other",
        };
        assert_eq!(
            kind("fatal: Authentication failed for 'https://h/app/'"),
            "auth"
        );
        assert_eq!(
            kind("fatal: could not read Username for 'https://h': terminal prompts disabled"),
            "auth"
        );
        assert_eq!(
            kind(
                "git@h: Permission denied (publickey).\nfatal: Could not read from remote repository."
            ),
            "auth"
        );
        assert_eq!(
            kind("fatal: repository 'https://h/app/' not found"),
            "missing"
        );
        assert_eq!(
            kind("fatal: '/tmp/x.git' does not appear to be a git repository"),
            "missing"
        );
        assert_eq!(
            kind(
                "fatal: unable to access 'https://h/': Failed to connect to h port 443: Connection refused"
            ),
            "unreachable"
        );
        assert_eq!(
            kind("fatal: unable to access 'https://nx/': Could not resolve host: nx"),
            "unreachable"
        );
        assert_eq!(kind("fatal: something else"), "other");
    }
}
