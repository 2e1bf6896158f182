//! Deciding whether a URL from a webhook payload and an Application's
//! `repoURL` name the same repository.
//!
//! Argo CD builds a regular expression from the payload URL's host name and
//! path and matches `repoURL` against it, case-insensitively: any of
//! `http://`, `https://`, `ssh://` or no scheme (scp-like `git@host:path`),
//! any user name, an optional `ssh.` or `altssh.` host prefix (GitHub's and
//! Bitbucket's SSH-over-443 hosts), any port, and an optional `.git` suffix.
//! gyro compares the same two parts, host name and path, so the scheme, user,
//! port and `.git` never matter; it also ignores trailing slashes and accepts
//! `git://` and `git+ssh://`, which payloads list as well.

/// True when both URLs name the same repository: same host name (ignoring
/// case, port, user and an `ssh.`/`altssh.` prefix) and same path (ignoring
/// case, surrounding slashes and a `.git` suffix), whatever the scheme.
/// `file://` URLs only match `file://` URLs with the same path.
pub fn same_repo(a: &str, b: &str) -> bool {
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// What two URLs of one repository share: whether it is a local path, the
/// host name, and the repository path.
#[derive(Debug, PartialEq, Eq)]
struct RepoKey {
    local: bool,
    host: String,
    path: String,
}

fn key(url: &str) -> Option<RepoKey> {
    let url = url.trim().to_lowercase();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_string()), rest.to_string()),
        None => (None, url),
    };
    let (authority, path) = match scheme.as_deref() {
        Some("file") => {
            return Some(RepoKey {
                local: true,
                host: String::new(),
                path: repo_path(&rest)?,
            });
        }
        Some("http" | "https" | "ssh" | "git" | "git+ssh" | "ssh+git") => {
            let (authority, path) = rest.split_once('/')?;
            (authority.to_string(), path.to_string())
        }
        Some(_) => return None,
        // scp-like `user@host:org/app.git`, or a bare `host/org/app`.
        None => {
            let cut = rest.find([':', '/'])?;
            (rest[..cut].to_string(), rest[cut + 1..].to_string())
        }
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    let host = strip_port(host);
    let host = host
        .strip_prefix("altssh.")
        .or_else(|| host.strip_prefix("ssh."))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some(RepoKey {
        local: false,
        host: host.to_string(),
        path: repo_path(&path)?,
    })
}

/// `host` without a `:port` suffix; bracketed IPv6 addresses keep their
/// colons.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The repository path without surrounding slashes or a `.git` suffix;
/// `None` when nothing is left.
fn repo_path(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    (!path.is_empty()).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_forms_match() {
        let table = [
            (
                "https://github.com/org/app",
                "https://github.com/org/app.git",
            ),
            ("https://github.com/org/app", "http://github.com/org/app"),
            ("https://github.com/org/app", "https://GitHub.com/Org/App/"),
            ("https://github.com/org/app", "git@github.com:org/app.git"),
            (
                "https://github.com/org/app",
                "ssh://git@github.com/org/app.git",
            ),
            (
                "https://github.com/org/app",
                "ssh://git@ssh.github.com:443/org/app.git",
            ),
            ("https://github.com/org/app", "git://github.com/org/app.git"),
            (
                "https://github.com/org/app",
                "https://user:token@github.com/org/app",
            ),
            ("https://github.com/org/app", "github.com/org/app"),
            (
                "https://bitbucket.org/team/app",
                "git@altssh.bitbucket.org:team/app.git",
            ),
            (
                "https://gitlab.example.com/group/sub/app",
                "ssh://git@gitlab.example.com:2222/group/sub/app.git",
            ),
            (
                "https://git.example.com:8443/scm/proj/app.git",
                "ssh://git@git.example.com:7999/scm/proj/app.git",
            ),
            ("https://[::1]:3000/org/app", "http://[::1]/org/app.git"),
            ("file:///tmp/repos/app.git", "file:///tmp/repos/app"),
        ];
        for (a, b) in table {
            assert!(same_repo(a, b), "{a} vs {b}");
            assert!(same_repo(b, a), "{b} vs {a}");
        }
    }

    #[test]
    fn different_repositories_do_not_match() {
        let table = [
            ("https://github.com/org/app", "https://github.com/org/app2"),
            ("https://github.com/org/app", "https://github.com/other/app"),
            ("https://github.com/org/app", "https://gitlab.com/org/app"),
            (
                "https://github.com/org/app",
                "https://github.com/org/app/sub",
            ),
            (
                "https://github.com/group/sub/app",
                "https://github.com/group/app",
            ),
            ("https://github.com/org/app", "file:///org/app"),
            ("https://github.com/org/app", "ftp://github.com/org/app"),
            ("https://github.com/org/app", ""),
            ("https://github.com/", "https://github.com"),
        ];
        for (a, b) in table {
            assert!(!same_repo(a, b), "{a} vs {b}");
            assert!(!same_repo(b, a), "{b} vs {a}");
        }
    }
}
