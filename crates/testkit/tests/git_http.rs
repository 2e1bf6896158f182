//! The Git smart-HTTP test server works with the real `git` client: clone
//! and push with the right credentials, 401 without them.

use std::process::Command;

use anyhow::Result;
use testkit::{GitHttpServer, GitRepo};

fn git(args: &[&str]) -> std::process::Output {
    Command::new("git")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "user.name=t", "-c", "user.email=t@gyro.invalid"])
        .args(args)
        .output()
        .expect("git runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_and_push_over_http_with_basic_auth() -> Result<()> {
    let repo = GitRepo::new("apps")?;
    repo.write("guestbook/deployment.yaml", "kind: Deployment\n")?;
    let first = repo.commit("add guestbook")?;
    repo.push()?;

    let server = GitHttpServer::start(repo.root(), Some(("alice", "s3cret"))).await?;
    let dir = tempfile::tempdir()?;
    let good = server
        .url("apps.git")
        .replace("http://", "http://alice:s3cret@");
    let bad = server
        .url("apps.git")
        .replace("http://", "http://alice:wrong@");

    let clone = dir.path().join("clone");
    let clone_s = clone.display().to_string();
    // Each git call blocks; keep them off the server's runtime threads.
    let out = tokio::task::spawn_blocking({
        let (bad, d) = (bad.clone(), dir.path().join("denied").display().to_string());
        move || git(&["clone", "--quiet", &bad, &d])
    })
    .await?;
    assert!(
        !out.status.success(),
        "clone with a wrong password succeeded"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Authentication failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = tokio::task::spawn_blocking({
        let (good, c) = (good.clone(), clone_s.clone());
        move || git(&["clone", "--quiet", &good, &c])
    })
    .await?;
    assert!(
        out.status.success(),
        "clone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(clone.join("guestbook/deployment.yaml").exists());

    // Push a commit over HTTP and see it arrive in the bare repository.
    std::fs::write(clone.join("guestbook/service.yaml"), "kind: Service\n")?;
    let out = tokio::task::spawn_blocking({
        let c = clone_s.clone();
        move || {
            let add = git(&["-C", &c, "add", "."]);
            assert!(add.status.success());
            let commit = git(&["-C", &c, "commit", "--quiet", "-m", "add service"]);
            assert!(commit.status.success());
            git(&["-C", &c, "push", "--quiet", "origin", "main"])
        }
    })
    .await?;
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let remote_head = git(&[
        "-C",
        &repo.bare_path().display().to_string(),
        "rev-parse",
        "main",
    ]);
    let remote_head = String::from_utf8_lossy(&remote_head.stdout)
        .trim()
        .to_string();
    assert_ne!(remote_head, first);

    let log = server.requests();
    assert!(
        log.iter()
            .any(|l| l.contains("service=git-upload-pack") && l.ends_with(" 401")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST /apps.git/git-receive-pack") && l.ends_with(" 200")),
        "{log:?}"
    );
    Ok(())
}
