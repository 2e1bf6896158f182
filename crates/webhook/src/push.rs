//! A push as the Git host reported it, and whether it concerns an
//! Application source.

use std::fmt;

use crate::repo_url::same_repo;

/// The Git host that sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// GitHub and GitHub Enterprise (`X-GitHub-Event`).
    GitHub,
    /// GitLab (`X-Gitlab-Event`).
    GitLab,
    /// Gitea and Forgejo (`X-Gitea-Event`).
    Gitea,
    /// Gogs (`X-Gogs-Event`).
    Gogs,
    /// Bitbucket Cloud (`X-Hook-UUID`, `X-Event-Key: repo:push`).
    BitbucketCloud,
    /// Bitbucket Server / Data Center (`X-Event-Key: repo:refs_changed`).
    BitbucketServer,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
            Provider::Gitea => "Gitea",
            Provider::Gogs => "Gogs",
            Provider::BitbucketCloud => "Bitbucket Cloud",
            Provider::BitbucketServer => "Bitbucket Server",
        })
    }
}

/// One pushed ref. Bitbucket may report several refs in one event; like
/// Argo CD, gyro takes the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Who sent it.
    pub provider: Provider,
    /// Every URL the payload gives for the repository (web page, HTTPS and
    /// SSH clone URLs, `git://`), without duplicates. Any of them may be
    /// compared with [`same_repo`].
    pub repo_urls: Vec<String>,
    /// The full ref name, e.g. `refs/heads/main` or `refs/tags/v1.2.0`.
    pub git_ref: Option<String>,
    /// The short name: the branch or tag (`main`, `v1.2.0`); the full ref
    /// for refs outside `refs/heads/` and `refs/tags/`.
    pub branch_or_tag: Option<String>,
    /// The commit the ref pointed at before the push, when given.
    pub before: Option<String>,
    /// The commit the ref points at now; `None` when the ref was deleted or
    /// the payload does not say.
    pub after: Option<String>,
    /// The repository's default branch, when the payload names it (GitHub,
    /// GitLab, Gitea, Gogs). Decides whether a push moved `HEAD`.
    pub default_branch: Option<String>,
    /// Files added, modified or removed by the pushed commits, without
    /// duplicates. Empty when the provider does not list them (Bitbucket) or
    /// the push carried more commits than the payload lists.
    pub changed_files: Vec<String>,
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

impl Push {
    /// A push of `git_ref` with its short name filled in; the other fields
    /// empty. Payload decoders start here.
    pub(crate) fn new(provider: Provider, git_ref: Option<String>) -> Push {
        let branch_or_tag = git_ref.as_deref().map(|r| short_ref(r).to_string());
        Push {
            provider,
            repo_urls: Vec::new(),
            git_ref,
            branch_or_tag,
            before: None,
            after: None,
            default_branch: None,
            changed_files: Vec::new(),
        }
    }

    /// Adds a repository URL unless it is empty or already listed.
    pub(crate) fn add_repo_url(&mut self, url: Option<&str>) {
        if let Some(url) = url.map(str::trim).filter(|u| !u.is_empty())
            && !self.repo_urls.iter().any(|u| u == url)
        {
            self.repo_urls.push(url.to_string());
        }
    }

    /// Adds changed files, skipping ones already listed.
    pub(crate) fn add_changed_files<'a>(&mut self, files: impl IntoIterator<Item = &'a String>) {
        for f in files {
            if !self.changed_files.contains(f) {
                self.changed_files.push(f.clone());
            }
        }
    }

    /// Sets `before`/`after`, reading the all-zero SHA Git hosts send for a
    /// created or deleted ref as "no commit".
    pub(crate) fn set_commits(&mut self, before: Option<&str>, after: Option<&str>) {
        let sha = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty() && *s != ZERO_SHA)
                .map(str::to_string)
        };
        self.before = sha(before);
        self.after = sha(after);
    }

    /// True when the push updated a branch (`refs/heads/...`).
    pub fn is_branch(&self) -> bool {
        self.git_ref
            .as_deref()
            .is_some_and(|r| r.starts_with("refs/heads/"))
    }

    /// True when the push updated a tag (`refs/tags/...`).
    pub fn is_tag(&self) -> bool {
        self.git_ref
            .as_deref()
            .is_some_and(|r| r.starts_with("refs/tags/"))
    }

    /// True when the push may change what an Application source with this
    /// `repoURL` and `targetRevision` renders, so the Application should be
    /// refreshed now. The rules are Argo CD's:
    /// - the repository must be the same ([`same_repo`] against any URL of
    ///   the payload);
    /// - `HEAD` or an empty revision follows the default branch: it matches
    ///   a branch push to the default branch, or any branch push when the
    ///   payload does not name the default branch (Bitbucket), as Argo CD
    ///   does ("let the controller check");
    /// - a branch or tag name matches a push of that name, with or without
    ///   `refs/heads/` or `refs/tags/` (a push to branch `x` also matches
    ///   `refs/tags/x`, as in Argo CD);
    /// - a semver constraint (`1.2.*`, `>=1.0.0 <2.0.0`) or a version
    ///   (`1.2` for `v1.2.0`) matches a push whose name, read as a version,
    ///   satisfies it (recent Argo CD; older versions compared strings);
    /// - a commit SHA never matches: a pinned commit cannot move, and Argo CD
    ///   does not refresh such sources either.
    pub fn touches(&self, repo_url: &str, target_revision: &str) -> bool {
        if !self.repo_urls.iter().any(|u| same_repo(u, repo_url)) {
            return false;
        }
        let target = target_revision.trim();
        let short = short_ref(target);
        if short.is_empty() || short == "HEAD" {
            return self.touches_head();
        }
        let Some(pushed) = self.branch_or_tag.as_deref() else {
            return false;
        };
        if short == pushed {
            return true;
        }
        // Argo CD's fallback: the target may be a semver constraint (or a
        // version spelled differently, `v1.2` for `1.2.0`) that the pushed
        // name, read as a version, satisfies.
        let Some(version) = source::revision::lenient_version(pushed) else {
            return false;
        };
        match source::revision::constraint(short) {
            Some(range) => range.satisfies(&version),
            None => source::revision::lenient_version(short) == Some(version),
        }
    }

    /// True when the push moved the repository's default branch, or may
    /// have (default branch unknown).
    fn touches_head(&self) -> bool {
        if !self.is_branch() {
            return false;
        }
        match self.default_branch.as_deref() {
            Some(default) => self.branch_or_tag.as_deref() == Some(default),
            None => true,
        }
    }
}

/// `main` for `refs/heads/main`, `v1` for `refs/tags/v1`, anything else as
/// it is.
fn short_ref(r: &str) -> &str {
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(git_ref: &str, default_branch: Option<&str>) -> Push {
        let mut p = Push::new(Provider::GitHub, Some(git_ref.to_string()));
        p.add_repo_url(Some("https://github.com/org/app"));
        p.add_repo_url(Some("git@github.com:org/app.git"));
        p.default_branch = default_branch.map(str::to_string);
        p
    }

    #[test]
    fn short_names_are_derived_from_refs() {
        assert_eq!(
            push("refs/heads/feature/x", None).branch_or_tag.as_deref(),
            Some("feature/x")
        );
        assert_eq!(
            push("refs/tags/v1.0.0", None).branch_or_tag.as_deref(),
            Some("v1.0.0")
        );
        assert_eq!(
            push("refs/pull/1/head", None).branch_or_tag.as_deref(),
            Some("refs/pull/1/head")
        );
    }

    #[test]
    fn branch_targets_match_their_own_pushes_only() {
        let p = push("refs/heads/main", Some("main"));
        assert!(p.touches("https://github.com/org/app.git", "main"));
        assert!(p.touches("ssh://git@github.com/org/app.git", "refs/heads/main"));
        assert!(!p.touches("https://github.com/org/app", "dev"));
        assert!(!p.touches("https://github.com/org/other", "main"));
    }

    #[test]
    fn head_follows_the_default_branch() {
        let main = push("refs/heads/main", Some("main"));
        let dev = push("refs/heads/dev", Some("main"));
        for target in ["HEAD", "", " "] {
            assert!(
                main.touches("https://github.com/org/app", target),
                "{target:?}"
            );
            assert!(
                !dev.touches("https://github.com/org/app", target),
                "{target:?}"
            );
        }
        // Unknown default branch: any branch push may have moved HEAD.
        assert!(push("refs/heads/dev", None).touches("https://github.com/org/app", "HEAD"));
        // A tag push never moves HEAD.
        assert!(!push("refs/tags/main", None).touches("https://github.com/org/app", "HEAD"));
    }

    #[test]
    fn branch_and_tag_of_the_same_name_are_not_told_apart() {
        let p = push("refs/heads/x", None);
        assert!(p.touches("https://github.com/org/app", "refs/tags/x"));
    }

    #[test]
    fn semver_constraints_match_satisfying_tag_pushes() {
        let tag = push("refs/tags/v1.4.2", Some("main"));
        assert!(tag.touches("https://github.com/org/app", "v1.4.2"));
        assert!(tag.touches("https://github.com/org/app", "1.4.*"));
        assert!(tag.touches("https://github.com/org/app", ">=1.0.0 <2.0.0"));
        assert!(!tag.touches("https://github.com/org/app", "2.*"));
        assert!(!tag.touches("https://github.com/org/app", "~1.3"));
        assert!(tag.touches("https://github.com/org/app", "1.4.2"));
        assert!(!tag.touches("https://github.com/org/app", "1.4.3"));
        // Not a version: no semver reading.
        let branch = push("refs/heads/release-1.4", Some("main"));
        assert!(!branch.touches("https://github.com/org/app", "1.4.*"));
    }

    #[test]
    fn commit_shas_never_match() {
        let mut p = push("refs/heads/main", Some("main"));
        p.set_commits(None, Some("0123456789abcdef0123456789abcdef01234567"));
        assert!(!p.touches(
            "https://github.com/org/app",
            "0123456789abcdef0123456789abcdef01234567"
        ));
        assert!(!p.touches("https://github.com/org/app", "0123456"));
    }

    #[test]
    fn zero_shas_mean_no_commit() {
        let mut p = push("refs/heads/gone", None);
        p.set_commits(Some("abc"), Some(ZERO_SHA));
        assert_eq!(p.before.as_deref(), Some("abc"));
        assert_eq!(p.after, None);
    }
}
