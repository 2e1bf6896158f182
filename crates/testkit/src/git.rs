//! Real Git repositories for tests: a bare "remote" and a working clone, all
//! driven through the `git` program.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

/// A bare repository (the remote gyro fetches from) and a working clone
/// (where a test writes, commits and pushes), both in one temporary
/// directory that is removed on drop.
pub struct GitRepo {
    dir: TempDir,
    bare: PathBuf,
    work: PathBuf,
}

impl GitRepo {
    /// A new repository whose remote is `<tmp>/<name>.git`, with branch `main`.
    pub fn new(name: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("gyro-git-")
            .tempdir()
            .context("creating a temporary directory")?;
        let bare = dir.path().join(format!("{name}.git"));
        let work = dir.path().join("work");
        git(
            dir.path(),
            &["init", "--quiet", "--bare", "-b", "main"],
            Some(&bare),
        )?;
        git(dir.path(), &["init", "--quiet", "-b", "main"], Some(&work))?;
        let repo = Self { dir, bare, work };
        let remote = repo.bare.display().to_string();
        repo.git(&["remote", "add", "origin", &remote])?;
        Ok(repo)
    }

    /// The directory holding the bare repository; serve it with
    /// [`crate::GitHttpServer`].
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    pub fn work_path(&self) -> &Path {
        &self.work
    }

    /// The remote as a `file://` URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes `contents` to `path` (relative to the working tree), creating
    /// directories as needed.
    pub fn write(&self, path: &str, contents: &str) -> Result<&Self> {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, contents).with_context(|| format!("writing {}", file.display()))?;
        Ok(self)
    }

    /// Removes a file or directory from the working tree.
    pub fn remove(&self, path: &str) -> Result<&Self> {
        let target = self.work.join(path);
        let removed = if target.is_dir() {
            std::fs::remove_dir_all(&target)
        } else {
            std::fs::remove_file(&target)
        };
        removed.with_context(|| format!("removing {}", target.display()))?;
        Ok(self)
    }

    /// Stages everything and commits; returns the new commit's SHA.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.git(&["add", "--all"])?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message])?;
        self.head()
    }

    /// An annotated tag on HEAD.
    pub fn tag(&self, name: &str) -> Result<()> {
        self.git(&["tag", "-a", name, "-m", name]).map(drop)
    }

    /// Pushes every branch and tag to the remote.
    pub fn push(&self) -> Result<()> {
        self.git(&["push", "--quiet", "--all", "origin"])?;
        self.git(&["push", "--quiet", "--tags", "origin"]).map(drop)
    }

    /// `git revert` of `commit`; returns the SHA of the revert commit.
    pub fn revert(&self, commit: &str) -> Result<String> {
        self.git(&["revert", "--no-edit", commit])?;
        self.head()
    }

    pub fn head(&self) -> Result<String> {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs `git ARGS` in the working tree and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        git(&self.work, args, None)
    }
}

/// Runs git with a fixed identity and without the user's global or system
/// configuration, so tests behave the same on every machine.
fn git(cwd: &Path, args: &[&str], target: Option<&Path>) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.current_dir(cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "user.name=gyro test",
            "-c",
            "user.email=test@gyro.invalid",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args);
    if let Some(t) = target {
        cmd.arg(t);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            cwd.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_tags_pushes_and_reverts_through_real_git() -> Result<()> {
        let repo = GitRepo::new("app")?;
        repo.write("base/cm.yaml", "a: 1\n")?;
        let first = repo.commit("first")?;
        repo.tag("v1.0.0")?;
        repo.write("base/cm.yaml", "a: 2\n")?;
        let second = repo.commit("second")?;
        repo.push()?;
        let remote_head = git(repo.bare_path(), &["rev-parse", "main"], None)?;
        assert_eq!(remote_head, second);
        let tag = git(repo.bare_path(), &["rev-parse", "v1.0.0^{commit}"], None)?;
        assert_eq!(tag, first);

        let reverted = repo.revert(&second)?;
        assert_ne!(reverted, second);
        assert_eq!(
            std::fs::read_to_string(repo.work_path().join("base/cm.yaml"))?,
            "a: 1\n"
        );
        Ok(())
    }
}
