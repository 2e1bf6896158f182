//! The source layer against real Git: repositories made with
//! `testkit::GitRepo`, served over `file://` and over HTTP by
//! `testkit::GitHttpServer` (git http-backend, with basic auth).

use std::time::{Duration, Instant};

use std::os::unix::fs::PermissionsExt;

use anyhow::Result;
use source::{Config, Credentials, Error, Source};
use testkit::{GitHttpServer, GitRepo};

fn source(dir: &tempfile::TempDir) -> Result<Source> {
    Ok(Source::new(Config::new(dir.path()))?)
}

fn basic(user: &str, password: &str) -> Credentials {
    Credentials {
        username: Some(user.into()),
        password: Some(password.into()),
        ..Default::default()
    }
}

/// main: c1 (v1.0.0) - c2 (v1.2.0, v1.2.5) - c3 (1.3.0); dev: c4 off c3.
struct History {
    repo: GitRepo,
    c1: String,
    c2: String,
    c3: String,
    c4: String,
}

fn history() -> Result<History> {
    let repo = GitRepo::new("app")?;
    repo.write("app/cm.yaml", "v: 1\n")?;
    let c1 = repo.commit("one")?;
    repo.tag("v1.0.0")?;
    repo.write("app/cm.yaml", "v: 2\n")?;
    let c2 = repo.commit("two")?;
    repo.tag("v1.2.0")?;
    repo.tag("v1.2.5")?;
    repo.write("app/cm.yaml", "v: 3\n")?;
    let c3 = repo.commit("three")?;
    repo.git(&["tag", "1.3.0"])?; // lightweight, no `v`
    repo.git(&["checkout", "--quiet", "-b", "dev"])?;
    repo.write("app/cm.yaml", "v: dev\n")?;
    let c4 = repo.commit("dev")?;
    repo.git(&["checkout", "--quiet", "main"])?;
    repo.push()?;
    Ok(History {
        repo,
        c1,
        c2,
        c3,
        c4,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_head_branches_tags_shas_and_semver_ranges() -> Result<()> {
    let h = history()?;
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let url = h.repo.url();
    let sha = |rev: &'static str| {
        let (src, url) = (src.clone(), url.clone());
        async move { src.resolve(&url, rev, None).await.map(|r| r.sha) }
    };
    assert_eq!(sha("").await?, h.c3);
    assert_eq!(sha("HEAD").await?, h.c3);
    assert_eq!(
        src.resolve(&url, "HEAD", None).await?.via.as_deref(),
        Some("refs/heads/main")
    );
    assert_eq!(sha("main").await?, h.c3);
    assert_eq!(sha("dev").await?, h.c4);
    assert_eq!(sha("refs/heads/dev").await?, h.c4);
    assert_eq!(sha("v1.0.0").await?, h.c1, "annotated tag -> its commit");
    assert_eq!(sha("1.3.0").await?, h.c3, "lightweight tag");
    assert_eq!(
        src.resolve(&url, &h.c2[..8], None).await?.sha,
        h.c2,
        "short SHA"
    );
    assert_eq!(src.resolve(&url, &h.c4, None).await?.sha, h.c4, "full SHA");
    assert_eq!(sha("1.2.*").await?, h.c2);
    assert_eq!(sha("~1.2").await?, h.c2);
    assert_eq!(sha("^1.0").await?, h.c3);
    assert_eq!(sha(">=1.0.0 <1.2.0").await?, h.c1);
    assert_eq!(sha(">=1.0.0, <1.3.0").await?, h.c2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_revisions_and_repositories_are_named_in_the_error() -> Result<()> {
    let h = history()?;
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let url = h.repo.url();
    for rev in [
        "no-such-branch",
        "^9.0",
        "abcdef1234",
        "0123456789012345678901234567890123456789",
    ] {
        let err = src.resolve(&url, rev, None).await.expect_err(rev);
        assert_eq!(
            err,
            Error::RevisionNotFound {
                url: url.clone(),
                revision: rev.into()
            }
        );
        assert_eq!(
            err.to_string(),
            format!("revision '{rev}' not found in repository {url}")
        );
    }
    let missing = format!("file://{}/nope.git", h.repo.root().display());
    let err = src
        .resolve(&missing, "HEAD", None)
        .await
        .expect_err("missing repository");
    assert!(
        matches!(&err, Error::RepositoryNotFound { url, .. } if *url == missing),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_commit_is_seen_after_the_next_update() -> Result<()> {
    let h = history()?;
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let url = h.repo.url();
    assert_eq!(src.resolve(&url, "main", None).await?.sha, h.c3);
    h.repo.write("app/cm.yaml", "v: 5\n")?;
    let c5 = h.repo.commit("five")?;
    h.repo.push()?;
    assert_eq!(src.resolve(&url, "main", None).await?.sha, c5);
    let tree = src.checkout(&url, &c5).await?;
    assert_eq!(
        std::fs::read_to_string(tree.path().join("app/cm.yaml"))?,
        "v: 5\n"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_only_reachable_from_another_ref_is_fetched_by_sha() -> Result<()> {
    let h = history()?;
    h.repo.git(&["checkout", "--quiet", "--detach"])?;
    h.repo.write("pr.txt", "pr\n")?;
    let pr = h.repo.commit("pull request")?;
    h.repo
        .git(&["push", "--quiet", "origin", "HEAD:refs/pull/1/head"])?;
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let url = h.repo.url();
    assert_eq!(src.resolve(&url, "refs/pull/1/head", None).await?.sha, pr);
    let tree = src.checkout(&url, &pr).await?;
    assert_eq!(std::fs::read_to_string(tree.path().join("pr.txt"))?, "pr\n");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_of_one_repository_share_one_fetch() -> Result<()> {
    let h = history()?;
    let server = GitHttpServer::start(h.repo.root(), None).await?;
    let url = server.url("app.git");

    // What one update costs on an empty cache.
    let alone = tempfile::tempdir()?;
    source(&alone)?.update(&url, None).await?;
    let one = server.requests().len();

    let shared = tempfile::tempdir()?;
    let src = source(&shared)?;
    // join_all polls every caller once before any can finish (the update
    // waits on git), so all eight are in flight together, deterministically.
    let callers = (0..8).map(|_| src.resolve(&url, "main", None));
    for done in futures::future::join_all(callers).await {
        assert_eq!(done?.sha, h.c3);
    }
    assert_eq!(
        server.requests().len() - one,
        one,
        "8 concurrent callers made exactly one update: {:#?}",
        server.requests()
    );

    // An update with nothing new only lists refs: fewer requests than one
    // that also fetched.
    let before = server.requests().len();
    src.update(&url, None).await?;
    let noop = server.requests().len() - before;
    assert!(
        noop > 0 && noop < one,
        "a no-op update made {noop} requests, a fetching one {one}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_basic_auth_with_right_and_wrong_credentials() -> Result<()> {
    let h = history()?;
    let server = GitHttpServer::start(h.repo.root(), Some(("gyro", "s3cret"))).await?;
    let url = server.url("app.git");
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;

    let right = basic("gyro", "s3cret");
    let resolved = src.resolve(&url, "v1.0.0", Some(&right)).await?;
    assert_eq!(resolved.sha, h.c1);
    let tree = src.checkout(&url, &resolved.sha).await?;
    assert_eq!(
        std::fs::read_to_string(tree.path().join("app/cm.yaml"))?,
        "v: 1\n"
    );

    for creds in [Some(basic("gyro", "wrong")), None] {
        let err = src
            .resolve(&url, "main", creds.as_ref())
            .await
            .expect_err("must fail");
        assert!(
            matches!(&err, Error::AuthenticationFailed { url: u, .. } if *u == url),
            "{err}"
        );
        assert!(
            !err.to_string().contains("wrong"),
            "the password must not appear: {err}"
        );
    }
    let missing = server.url("nope.git");
    let err = src
        .resolve(&missing, "main", Some(&right))
        .await
        .expect_err("missing repository");
    assert!(matches!(&err, Error::RepositoryNotFound { .. }), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_repository_fails_quickly() -> Result<()> {
    // A port that was just free and has nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}/app.git");
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let started = Instant::now();
    let err = src
        .resolve(&url, "main", None)
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(&err, Error::Unreachable { url: u, .. } if *u == url),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // A server that accepts but never answers hits the time limit.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/app.git", silent.local_addr()?);
    let mut config = Config::new(cache.path());
    config.git_timeout = Duration::from_secs(2);
    let src = Source::new(config)?;
    let started = Instant::now();
    let err = src
        .resolve(&url, "main", None)
        .await
        .expect_err("nobody answers");
    assert!(matches!(&err, Error::Unreachable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worktrees_are_shared_read_only_and_evicted_least_recently_used_first() -> Result<()> {
    let h = history()?;
    let cache = tempfile::tempdir()?;
    let mut config = Config::new(cache.path());
    config.max_worktrees = 2;
    let src = Source::new(config)?;
    let url = h.repo.url();
    src.update(&url, None).await?;

    // Concurrent callers for one commit get one directory.
    let (a1, a2) = tokio::join!(src.checkout(&url, &h.c1), src.checkout(&url, &h.c1));
    let (a1, a2) = (a1?, a2?);
    assert_eq!(a1.path(), a2.path());
    assert_eq!(a1.sha(), h.c1);
    assert_eq!(
        std::fs::read_to_string(a1.path().join("app/cm.yaml"))?,
        "v: 1\n"
    );
    // Checked through the mode bits: tests may run as root, who may write anyway.
    for path in [
        a1.path().to_path_buf(),
        a1.path().join("app"),
        a1.path().join("app/cm.yaml"),
    ] {
        let mode = std::fs::metadata(&path)?.permissions().mode();
        assert_eq!(mode & 0o222, 0, "{} is read-only", path.display());
    }
    drop(a2);

    // c1 is held; c2 is released; adding c3 goes over the cap of 2 and evicts c2.
    let b = src.checkout(&url, &h.c2).await?;
    let b_path = b.path().to_path_buf();
    drop(b);
    let c = src.checkout(&url, &h.c3).await?;
    assert!(
        !b_path.exists(),
        "the released, least recently used tree is evicted"
    );
    assert!(a1.path().exists(), "a held tree is never evicted");
    assert_eq!(src.cached_worktrees(), 2);

    // Everything held: over the cap rather than pulling a tree from under a user.
    let d = src.checkout(&url, &h.c4).await?;
    assert_eq!(src.cached_worktrees(), 3);
    assert!(a1.path().exists() && c.path().exists() && d.path().exists());

    // Released trees go, least recently used first; a reused tree is not re-checked out.
    let a_path = a1.path().to_path_buf();
    drop((a1, c));
    let c_again = src.checkout(&url, &h.c3).await?;
    assert_eq!(
        std::fs::read_to_string(c_again.path().join("app/cm.yaml"))?,
        "v: 3\n"
    );
    let b = src.checkout(&url, &h.c2).await?;
    assert!(
        !a_path.exists(),
        "c1 was the least recently used released tree"
    );
    assert!(c_again.path().exists() && d.path().exists() && b.path().exists());
    assert_eq!(
        src.cached_worktrees(),
        3,
        "still over the cap while c2, c3, c4 are held"
    );
    drop((b, c_again, d));

    // A new Source over the same cache starts with no trees but keeps the mirror.
    drop(src);
    let src = source(&cache)?;
    assert_eq!(src.cached_worktrees(), 0);
    assert_eq!(
        std::fs::read_dir(cache.path().join("worktrees"))?.count(),
        0
    );
    assert!(src.mirror_path(&url).join("HEAD").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha_not_in_the_repository_cannot_be_checked_out() -> Result<()> {
    let h = history()?;
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let url = h.repo.url();
    src.update(&url, None).await?;
    let bogus = "0123456789012345678901234567890123456789";
    let err = src.checkout(&url, bogus).await.expect_err("no such commit");
    assert_eq!(
        err,
        Error::RevisionNotFound {
            url: url.clone(),
            revision: bogus.into()
        }
    );
    assert_eq!(
        std::fs::read_dir(cache.path().join("worktrees"))?.count(),
        0,
        "no scratch left behind"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_renderer_reads_a_checked_out_tree() -> Result<()> {
    let repo = GitRepo::new("app")?;
    repo.write(
        "overlay/kustomization.yaml",
        "namePrefix: prod-\nresources:\n- cm.yaml\n",
    )?;
    repo.write(
        "overlay/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n",
    )?;
    repo.commit("overlay")?;
    repo.tag("v0.1.0")?;
    repo.push()?;
    let cache = tempfile::tempdir()?;
    let src = source(&cache)?;
    let url = repo.url();
    let rev = src.resolve(&url, ">=0.1.0 <1.0.0", None).await?;
    let tree = src.checkout(&url, &rev.sha).await?;
    let objects = render::kustomize::build(&render::fs::DiskFs::new(tree.path()), "overlay")?;
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["metadata"]["name"], "prod-settings");
    Ok(())
}
