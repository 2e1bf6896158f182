//! Repository URLs: the normal form Argo CD compares them in, and the cache
//! directory name derived from it.

use sha2::{Digest, Sha256};

/// True for `ssh://...` URLs and scp-like `user@host:path` ones.
pub fn is_ssh_url(url: &str) -> bool {
    let url = url.trim();
    if url.starts_with("ssh://") {
        return true;
    }
    if url.contains("://") {
        return false;
    }
    match (url.find('@'), url.find(':')) {
        (Some(at), Some(colon)) => at < colon,
        _ => false,
    }
}

/// The form Argo CD compares repository URLs in: trimmed, lower-cased, the
/// scp-like SSH form rewritten with a slash, without a trailing `/` or
/// `.git`, and without the `ssh://` scheme. Two URLs naming the same
/// repository (`git@host:org/app.git`, `ssh://git@host/org/app`) normalize to
/// the same string.
pub fn normalize(url: &str) -> String {
    let mut s = url.trim().to_lowercase();
    if is_ssh_url(&s) && !s.starts_with("ssh://") {
        s = format!("ssh://{}", s.replacen(':', "/", 1));
    }
    while s.ends_with('/') {
        s.pop();
    }
    if let Some(stripped) = s.strip_suffix(".git") {
        s = stripped.to_string();
    }
    match s.strip_prefix("ssh://") {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// The directory name of a repository's mirror: a readable tail of the URL
/// and a hash of its normal form, so distinct URLs never share a mirror and
/// the name stays a single safe path component.
pub fn cache_key(url: &str) -> String {
    let normal = normalize(url);
    let tail: String = normal
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let digest = Sha256::digest(normal.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{tail}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_urls_normalize_alike() {
        assert_eq!(
            normalize("https://GitHub.com/Org/App.git/"),
            "https://github.com/org/app"
        );
        assert_eq!(
            normalize("git@github.com:org/app.git"),
            "git@github.com/org/app"
        );
        assert_eq!(
            normalize("ssh://git@github.com/org/app"),
            "git@github.com/org/app"
        );
        assert_eq!(normalize(" file:///tmp/x/app.git "), "file:///tmp/x/app");
    }

    #[test]
    fn ssh_urls_are_recognised() {
        assert!(is_ssh_url("git@github.com:org/app.git"));
        assert!(is_ssh_url("ssh://git@host:2222/app"));
        assert!(!is_ssh_url("https://user@host/app"));
        assert!(!is_ssh_url("file:///tmp/app"));
    }

    #[test]
    fn cache_keys_are_safe_and_distinct() {
        let a = cache_key("https://github.com/org/app.git");
        let b = cache_key("https://github.com/other/app.git");
        assert!(a.starts_with("app-"));
        assert_ne!(a, b);
        assert_eq!(a, cache_key("HTTPS://github.com/org/app"));
        assert!(!cache_key("file:///x/../..").contains('/'));
    }
}
