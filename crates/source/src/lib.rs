//! gyro's Git source layer: what Argo CD's repo server does before rendering.
//!
//! - keeps a bare mirror of each repository in a cache directory (one per
//!   [normalized](url::normalize) URL) and brings it up to date, one update
//!   at a time per repository: concurrent callers share the update in flight
//!   ([`Source::update`]);
//! - resolves an Application's `targetRevision` (`HEAD`, a branch, a tag, a
//!   full or short SHA, a semver constraint over tags) to a full commit SHA
//!   ([`Source::resolve`], rules in [`revision`]);
//! - checks a commit out into a read-only directory shared by every caller
//!   asking for that commit, with a bounded number of trees kept
//!   ([`Source::checkout`], [`Worktree`]);
//! - picks credentials from Argo CD's repository Secrets ([`credentials::pick`])
//!   and fetches over HTTPS (basic auth), SSH (private key) and `file://`.
//!
//! Failures are [`Error`] values naming the repository and revision, meant
//! to become an Application condition. Not here: rendering (the `render`
//! crate reads a [`Worktree::path`]), watching Secrets (the caller passes
//! [`credentials::Credentials`]), Helm and OCI repositories, submodules, LFS.
//!
//! All Git work is done by the `git` program, as Argo CD's repo server does
//! it: it speaks every transport and protocol version servers expect, uses
//! `ssh` with its own configuration, and its failure messages are the ones
//! operators search for. The crate needs git 2.29 or newer on `PATH`.

pub mod credentials;
mod error;
mod git;
pub mod revision;
mod single_flight;
pub mod url;
mod worktree;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use credentials::Credentials;
pub use error::Error;
pub use revision::{RemoteRefs, Resolution};
pub use worktree::Worktree;

use git::Remote;
use single_flight::SingleFlight;

/// Where and how the source layer works.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `repos/` (bare mirrors) and `worktrees/` (checkouts).
    pub cache_dir: PathBuf,
    /// The most checked-out trees kept once nobody holds them.
    pub max_worktrees: usize,
    /// Time limit for each git command (Argo CD's default is 90 s).
    pub git_timeout: Duration,
    /// `known_hosts` for SSH host key checking (Argo CD's
    /// `argocd-ssh-known-hosts-cm`); `None` uses ssh's own defaults.
    pub ssh_known_hosts: Option<PathBuf>,
    /// Told of every `ls-remote` and `fetch` (for metrics).
    pub on_git: Option<GitObserver>,
}

/// Called after each `git ls-remote` and `git fetch`, whatever its outcome,
/// with the repository URL, the command and how long it took.
#[derive(Clone)]
pub struct GitObserver(pub Arc<ObserveGit>);

/// (repository URL, `ls-remote` or `fetch`, duration).
pub type ObserveGit = dyn Fn(&str, &str, Duration) + Send + Sync;

impl std::fmt::Debug for GitObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitObserver")
    }
}

impl Config {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            max_worktrees: 64,
            git_timeout: Duration::from_secs(90),
            ssh_known_hosts: None,
            on_git: None,
        }
    }
}

/// A resolved revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The full commit SHA.
    pub sha: String,
    /// The ref it came from (`refs/heads/main`, `refs/tags/v1.2.0`), if any.
    pub via: Option<String>,
}

/// The Git source layer; cheap to clone, shared by every reconcile.
#[derive(Clone)]
pub struct Source {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    repos: PathBuf,
    updates: SingleFlight<Result<Arc<RemoteRefs>, Error>>,
    checkouts: SingleFlight<Result<Worktree, Error>>,
    worktrees: worktree::Cache,
}

impl Source {
    /// Opens the cache directory (creating it). Checked-out trees from an
    /// earlier run are removed; mirrors are kept.
    pub fn new(config: Config) -> Result<Self, Error> {
        let repos = config.cache_dir.join("repos");
        std::fs::create_dir_all(&repos).map_err(|e| Error::cache(&repos, e))?;
        let worktrees =
            worktree::Cache::open(config.cache_dir.join("worktrees"), config.max_worktrees)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                repos,
                updates: SingleFlight::new(),
                checkouts: SingleFlight::new(),
                worktrees,
            }),
        })
    }

    /// The bare mirror of `url`.
    pub fn mirror_path(&self, url: &str) -> PathBuf {
        self.inner.repos.join(url::cache_key(url))
    }

    /// The number of checked-out trees currently cached.
    pub fn cached_worktrees(&self) -> usize {
        self.inner.worktrees.len()
    }

    fn remote<'a>(&'a self, url: &'a str, credentials: Option<&'a Credentials>) -> Remote<'a> {
        Remote {
            url,
            credentials,
            timeout: self.inner.config.git_timeout,
            known_hosts: self.inner.config.ssh_known_hosts.as_deref(),
            observer: self.inner.config.on_git.as_ref(),
        }
    }

    /// Lists the remote's refs and fetches any branch or tag commits the
    /// mirror lacks. Callers asking for the same repository while an update
    /// runs wait for it and share its result (including its credentials: one
    /// repository has one set of credentials).
    pub async fn update(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
    ) -> Result<Arc<RemoteRefs>, Error> {
        let this = self.clone();
        let owned_url = url.to_string();
        let owned_creds = credentials.cloned();
        self.inner
            .updates
            .run(&url::normalize(url), move || async move {
                this.update_now(&owned_url, owned_creds.as_ref())
                    .await
                    .map(Arc::new)
            })
            .await
    }

    async fn update_now(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
    ) -> Result<RemoteRefs, Error> {
        let remote = self.remote(url, credentials);
        let mirror = self.mirror_path(url);
        if !mirror.join("HEAD").exists() {
            let mut init = tokio::process::Command::new("git");
            init.args(["init", "--quiet", "--bare"]).arg(&mirror);
            remote.run(init, "init", None).await?;
        }
        let listing = remote
            .git(&mirror, "ls-remote", &["ls-remote", "--symref", url], None)
            .await?;
        let refs = RemoteRefs::parse(&listing);

        let wanted: Vec<&str> = refs
            .refs
            .iter()
            .filter(|r| r.name.starts_with("refs/heads/") || r.name.starts_with("refs/tags/"))
            .map(|r| r.oid.as_str())
            .collect();
        let query: String = wanted.iter().map(|oid| format!("{oid}\n")).collect();
        let present = remote
            .git(
                &mirror,
                "cat-file",
                &["cat-file", "--batch-check"],
                Some(query.into_bytes()),
            )
            .await?;
        let missing = present.lines().filter(|l| l.ends_with(" missing")).count();
        if missing > 0 {
            tracing::info!(url, missing, "fetching");
            remote
                .git(
                    &mirror,
                    "fetch",
                    &[
                        "fetch",
                        "--quiet",
                        "--prune",
                        "--force",
                        "--no-write-fetch-head",
                        url,
                        "+refs/heads/*:refs/heads/*",
                        "+refs/tags/*:refs/tags/*",
                    ],
                    None,
                )
                .await?;
        } else {
            tracing::debug!(url, "mirror up to date");
        }
        Ok(refs)
    }

    /// Updates the mirror and resolves `revision` to a full commit SHA that
    /// the mirror holds (a commit no branch or tag reaches is fetched by its
    /// SHA).
    pub async fn resolve(
        &self,
        url: &str,
        revision: &str,
        credentials: Option<&Credentials>,
    ) -> Result<Resolved, Error> {
        let refs = self.update(url, credentials).await?;
        let not_found = || Error::RevisionNotFound {
            url: url.to_string(),
            revision: revision.to_string(),
        };
        let remote = self.remote(url, credentials);
        let mirror = self.mirror_path(url);
        let has_commit = |rev: String| {
            let remote = &remote;
            let mirror = &mirror;
            async move {
                remote
                    .git(
                        mirror,
                        "rev-parse",
                        &[
                            "rev-parse",
                            "--verify",
                            "--quiet",
                            &format!("{rev}^{{commit}}"),
                        ],
                        None,
                    )
                    .await
                    .ok()
                    .map(|s| s.trim().to_string())
            }
        };
        match revision::resolve(&refs, revision) {
            None => Err(not_found()),
            Some(Resolution::ShortSha(prefix)) => {
                let sha = has_commit(prefix).await.ok_or_else(not_found)?;
                Ok(Resolved { sha, via: None })
            }
            Some(Resolution::Commit { sha, via }) => {
                if has_commit(sha.clone()).await.is_none() {
                    tracing::info!(url, sha, "fetching a commit by SHA");
                    let fetched = remote
                        .git(
                            &mirror,
                            "fetch",
                            &["fetch", "--quiet", "--no-write-fetch-head", url, &sha],
                            None,
                        )
                        .await;
                    match fetched {
                        Err(
                            e @ (Error::AuthenticationFailed { .. } | Error::Unreachable { .. }),
                        ) => return Err(e),
                        _ if has_commit(sha.clone()).await.is_none() => return Err(not_found()),
                        _ => {}
                    }
                }
                Ok(Resolved { sha, via })
            }
        }
    }

    /// The read-only tree of commit `sha` (as returned by [`Source::resolve`])
    /// from the mirror of `url`. Callers asking for the same commit share one
    /// directory.
    pub async fn checkout(&self, url: &str, sha: &str) -> Result<Worktree, Error> {
        let sha = sha.trim().to_ascii_lowercase();
        if !revision::is_full_sha(&sha) {
            return Err(Error::RevisionNotFound {
                url: url.to_string(),
                revision: sha,
            });
        }
        if let Some(tree) = self.inner.worktrees.get(&sha) {
            return Ok(tree);
        }
        let this = self.clone();
        let owned_url = url.to_string();
        let key = sha.clone();
        self.inner
            .checkouts
            .run(&key, move || async move {
                if let Some(tree) = this.inner.worktrees.get(&sha) {
                    return Ok(tree);
                }
                this.checkout_now(&owned_url, &sha).await?;
                Ok(this.inner.worktrees.insert(&sha).await)
            })
            .await
    }

    /// Writes the tree into a scratch directory, then renames it into place,
    /// so a tree path only ever names a complete checkout.
    async fn checkout_now(&self, url: &str, sha: &str) -> Result<(), Error> {
        let remote = self.remote(url, None);
        let mirror = self.mirror_path(url);
        let target = self.inner.worktrees.path_for(sha);
        let scratch = git::sibling(&target, "tmp");
        let index = git::sibling(&target, "index");
        let result = async {
            std::fs::create_dir_all(&scratch).map_err(|e| Error::cache(&scratch, e))?;
            let git = |args: &'static [&'static str], extra: Option<&str>| {
                let mut cmd = tokio::process::Command::new("git");
                cmd.arg("--git-dir")
                    .arg(&mirror)
                    .arg("--work-tree")
                    .arg(&scratch)
                    .args(args);
                if let Some(x) = extra {
                    cmd.arg(x);
                }
                cmd.env("GIT_INDEX_FILE", &index);
                cmd
            };
            let exists = remote
                .run(git(&["cat-file", "-t"], Some(sha)), "cat-file", None)
                .await;
            if exists.map(|t| t.trim() != "commit").unwrap_or(true) {
                return Err(Error::RevisionNotFound {
                    url: url.to_string(),
                    revision: sha.to_string(),
                });
            }
            remote
                .run(git(&["read-tree"], Some(sha)), "read-tree", None)
                .await?;
            remote
                .run(
                    git(&["checkout-index", "--all", "--force"], None),
                    "checkout-index",
                    None,
                )
                .await?;
            worktree::make_read_only(&scratch).map_err(|e| Error::cache(&scratch, e))?;
            std::fs::rename(&scratch, &target).map_err(|e| Error::cache(&target, e))
        }
        .await;
        let _ = std::fs::remove_file(&index);
        if result.is_err() {
            let _ = worktree::remove_tree(&scratch);
        }
        tracing::debug!(url, sha, ok = result.is_ok(), "checked out");
        result
    }
}
