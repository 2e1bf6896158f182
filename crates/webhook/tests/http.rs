//! The webhook router served on a loopback port, driven with real HTTP/1.1
//! requests over TCP: every provider's push with good, bad and missing
//! signatures, ignored events, malformed bodies, body limits, other methods
//! and secrets changed while the server runs.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use webhook::{Provider, Push, Secrets, WebhookState};

const LIMIT: usize = 64 * 1024;

struct Server {
    addr: SocketAddr,
    pushes: mpsc::UnboundedReceiver<Push>,
    secrets: watch::Sender<Secrets>,
}

async fn serve(secrets: Secrets) -> Server {
    let (secrets_tx, secrets_rx) = watch::channel(secrets);
    let (tx, pushes) = mpsc::unbounded_channel();
    let state = WebhookState::new(
        secrets_rx,
        Arc::new(move |push| {
            let _ = tx.send(push);
        }),
    )
    .with_max_body_bytes(LIMIT);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, webhook::router(state)).await });
    Server {
        addr,
        pushes,
        secrets: secrets_tx,
    }
}

use testkit::http::{Reply, read_reply};

async fn request(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    testkit::http::request(addr, method, "/api/webhook", headers, body)
        .await
        .unwrap()
}

async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    request(addr, "POST", headers, body).await
}

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn hmac256(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn all_secrets() -> Secrets {
    Secrets {
        github: Some(b"gh-secret".to_vec()),
        gitlab: Some(b"gl-token".to_vec()),
        gitea: Some(b"tea-secret".to_vec()),
        gogs: Some(b"gogs-secret".to_vec()),
        bitbucket_uuid: Some(b"{0f3b1c9e-8d3c-4c8e-9d55-7b7b7e0b1f10}".to_vec()),
        bitbucket_server: Some(b"bbs-secret".to_vec()),
    }
}

/// One signed push per provider, as the Git host would send it.
struct Case {
    provider: Provider,
    file: &'static str,
    headers: Vec<(&'static str, String)>,
    repo_url: &'static str,
    git_ref: &'static str,
}

fn signed_cases() -> Vec<Case> {
    let github = testdata("github-push.json");
    let gitea = testdata("gitea-push.json");
    let gogs = testdata("gogs-push.json");
    let bbs = testdata("bitbucket-server-refs-changed.json");
    vec![
        Case {
            provider: Provider::GitHub,
            file: "github-push.json",
            headers: vec![
                ("X-GitHub-Event", "push".into()),
                (
                    "X-GitHub-Delivery",
                    "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
                ),
                (
                    "X-Hub-Signature-256",
                    format!("sha256={}", hmac256("gh-secret", &github)),
                ),
                ("Content-Type", "application/json".into()),
                ("User-Agent", "GitHub-Hookshot/044aadd".into()),
            ],
            repo_url: "https://github.com/octo-org/guestbook.git",
            git_ref: "refs/heads/main",
        },
        Case {
            provider: Provider::GitLab,
            file: "gitlab-push.json",
            headers: vec![
                ("X-Gitlab-Event", "Push Hook".into()),
                ("X-Gitlab-Token", "gl-token".into()),
                ("Content-Type", "application/json".into()),
            ],
            repo_url: "git@gitlab.example.com:infra/platform/platform-config.git",
            git_ref: "refs/heads/release/2026-11",
        },
        Case {
            provider: Provider::Gitea,
            file: "gitea-push.json",
            headers: vec![
                ("X-Gitea-Event", "push".into()),
                ("X-Gogs-Event", "push".into()),
                ("X-GitHub-Event", "push".into()),
                ("X-Gitea-Signature", hmac256("tea-secret", &gitea)),
                ("Content-Type", "application/json".into()),
            ],
            repo_url: "https://gitea.example.com/ops/cluster-apps",
            git_ref: "refs/heads/main",
        },
        Case {
            provider: Provider::Gogs,
            file: "gogs-push.json",
            headers: vec![
                ("X-Gogs-Event", "push".into()),
                ("X-Gogs-Signature", hmac256("gogs-secret", &gogs)),
                ("Content-Type", "application/json".into()),
            ],
            repo_url: "http://gogs.internal:3000/team/deploy.git",
            git_ref: "refs/heads/staging",
        },
        Case {
            provider: Provider::BitbucketCloud,
            file: "bitbucket-cloud-push.json",
            headers: vec![
                ("X-Event-Key", "repo:push".into()),
                (
                    "X-Hook-UUID",
                    "{0f3b1c9e-8d3c-4c8e-9d55-7b7b7e0b1f10}".into(),
                ),
                (
                    "X-Request-UUID",
                    "b6a5a0a0-5a7c-4c1e-9d1c-0d3b5d4b9f00".into(),
                ),
                ("Content-Type", "application/json".into()),
            ],
            repo_url: "https://bitbucket.org/acme-team/infra-apps.git",
            git_ref: "refs/heads/main",
        },
        Case {
            provider: Provider::BitbucketServer,
            file: "bitbucket-server-refs-changed.json",
            headers: vec![
                ("X-Event-Key", "repo:refs_changed".into()),
                (
                    "X-Request-Id",
                    "d1a2b3c4-0000-4000-8000-000000000001".into(),
                ),
                (
                    "X-Hub-Signature",
                    format!("sha256={}", hmac256("bbs-secret", &bbs)),
                ),
                ("Content-Type", "application/json; charset=utf-8".into()),
            ],
            repo_url: "ssh://git@bitbucket.example.com:7999/plat/gitops.git",
            git_ref: "refs/heads/develop",
        },
    ]
}

fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn signed_pushes_of_every_provider_reach_the_callback() {
    let mut server = serve(all_secrets()).await;
    for case in signed_cases() {
        let reply = post(server.addr, &borrowed(&case.headers), &testdata(case.file)).await;
        assert_eq!(reply.status, 200, "{:?}: {}", case.provider, reply.body);
        assert!(reply.body.contains("accepted"), "{}", reply.body);
        let push = server.pushes.try_recv().unwrap();
        assert_eq!(push.provider, case.provider);
        assert_eq!(push.git_ref.as_deref(), Some(case.git_ref));
        let target = push.branch_or_tag.clone().unwrap();
        assert!(
            push.touches(case.repo_url, &target),
            "{push:?} vs {}",
            case.repo_url
        );
        assert!(server.pushes.try_recv().is_err(), "one push per request");
    }
}

#[tokio::test]
async fn bad_and_missing_signatures_are_refused_and_not_delivered() {
    let mut server = serve(all_secrets()).await;
    for case in signed_cases() {
        let body = testdata(case.file);
        // One wrong character in the signature or token.
        let mut wrong = case.headers.clone();
        for (k, v) in &mut wrong {
            if matches!(
                *k,
                "X-Hub-Signature-256"
                    | "X-Hub-Signature"
                    | "X-Gitea-Signature"
                    | "X-Gogs-Signature"
                    | "X-Gitlab-Token"
                    | "X-Hook-UUID"
            ) {
                let last = v.pop().unwrap();
                v.push(if last == '0' { '1' } else { '0' });
            }
        }
        let reply = post(server.addr, &borrowed(&wrong), &body).await;
        assert_eq!(reply.status, 403, "{:?}: {}", case.provider, reply.body);
        assert!(reply.body.contains("does not match"), "{}", reply.body);

        let missing: Vec<_> = case
            .headers
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    *k,
                    "X-Hub-Signature-256"
                        | "X-Hub-Signature"
                        | "X-Gitea-Signature"
                        | "X-Gogs-Signature"
                        | "X-Gitlab-Token"
                        | "X-Hook-UUID"
                )
            })
            .cloned()
            .collect();
        let reply = post(server.addr, &borrowed(&missing), &body).await;
        assert_eq!(reply.status, 401, "{:?}: {}", case.provider, reply.body);
        assert!(reply.body.contains("is missing"), "{}", reply.body);
    }
    assert!(
        server.pushes.try_recv().is_err(),
        "nothing refused may be delivered"
    );
}

#[tokio::test]
async fn unsigned_pushes_are_accepted_when_no_secret_is_configured() {
    let mut server = serve(Secrets::default()).await;
    let reply = post(
        server.addr,
        &[("X-Gitlab-Event", "Tag Push Hook")],
        &testdata("gitlab-tag-push.json"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let push = server.pushes.try_recv().unwrap();
    assert!(push.is_tag());
    assert_eq!(push.branch_or_tag.as_deref(), Some("v2.0.0"));
}

#[tokio::test]
async fn non_push_events_are_answered_200_and_ignored() {
    let mut server = serve(all_secrets()).await;
    let ping = testdata("github-ping.json");
    let sig = format!("sha256={}", hmac256("gh-secret", &ping));
    let reply = post(
        server.addr,
        &[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", &sig)],
        &ping,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("\"ping\" ignored"), "{}", reply.body);

    let ping = testdata("bitbucket-server-ping.json");
    let sig = format!("sha256={}", hmac256("bbs-secret", &ping));
    let reply = post(
        server.addr,
        &[
            ("X-Event-Key", "diagnostics:ping"),
            ("X-Hub-Signature", &sig),
        ],
        &ping,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(server.pushes.try_recv().is_err());
}

#[tokio::test]
async fn malformed_and_unknown_requests_are_bad_requests() {
    let server = serve(Secrets::default()).await;
    let reply = post(
        server.addr,
        &[("X-GitHub-Event", "push")],
        b"{\"ref\": \"refs/heads/main\", ",
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("GitHub push payload is malformed"),
        "{}",
        reply.body
    );

    let reply = post(
        server.addr,
        &[("Content-Type", "application/json")],
        &testdata("github-push.json"),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("unknown webhook event"),
        "{}",
        reply.body
    );

    let reply = post(server.addr, &[("X-Vss-ActivityId", "2e4a1b7c")], b"{}").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("Azure DevOps"), "{}", reply.body);

    let reply = request(server.addr, "GET", &[("X-GitHub-Event", "push")], b"").await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let mut server = serve(Secrets::default()).await;
    // Declared too large: answered from the headers, before any body byte.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/webhook HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-GitHub-Event: push\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        LIMIT + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let reply = read_reply(stream).await.unwrap();
    assert_eq!(reply.status, 413, "{}", reply.body);

    // Chunked with no length: refused once the bytes read pass the limit.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/webhook HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-GitHub-Event: push\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; LIMIT + 1];
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&chunk).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    let reply = read_reply(stream).await.unwrap();
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.body.contains(&LIMIT.to_string()), "{}", reply.body);

    // Just under the limit still goes through.
    let mut body = testdata("github-push.json");
    body.resize(LIMIT, b' ');
    let reply = post(server.addr, &[("X-GitHub-Event", "push")], &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(server.pushes.try_recv().is_ok());
}

#[tokio::test]
async fn secrets_changed_at_runtime_apply_to_the_next_request() {
    let mut server = serve(Secrets::default()).await;
    let body = testdata("gogs-push.json");
    let headers = [("X-Gogs-Event", "push")];
    assert_eq!(post(server.addr, &headers, &body).await.status, 200);
    assert!(server.pushes.try_recv().is_ok());

    server
        .secrets
        .send(Secrets {
            gogs: Some(b"rotated".to_vec()),
            ..Secrets::default()
        })
        .unwrap();
    assert_eq!(post(server.addr, &headers, &body).await.status, 401);
    let sig = hmac256("rotated", &body);
    let signed = [("X-Gogs-Event", "push"), ("X-Gogs-Signature", sig.as_str())];
    assert_eq!(post(server.addr, &signed, &body).await.status, 200);
    assert!(server.pushes.try_recv().is_ok());
}
