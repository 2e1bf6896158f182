//! `parse` against sample payloads of every provider (testdata/), with good,
//! bad and missing signatures.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::*;

const GITHUB_PUSH: &[u8] = include_bytes!("../testdata/github-push.json");
const GITHUB_TAG: &[u8] = include_bytes!("../testdata/github-tag-push.json");
const GITHUB_PING: &[u8] = include_bytes!("../testdata/github-ping.json");
const GITLAB_PUSH: &[u8] = include_bytes!("../testdata/gitlab-push.json");
const GITLAB_TAG: &[u8] = include_bytes!("../testdata/gitlab-tag-push.json");
const GITLAB_SYSTEM_OTHER: &[u8] =
    include_bytes!("../testdata/gitlab-system-hook-project-create.json");
const GITEA_PUSH: &[u8] = include_bytes!("../testdata/gitea-push.json");
const GOGS_PUSH: &[u8] = include_bytes!("../testdata/gogs-push.json");
const BITBUCKET_PUSH: &[u8] = include_bytes!("../testdata/bitbucket-cloud-push.json");
const BITBUCKET_TAGS: &[u8] = include_bytes!("../testdata/bitbucket-cloud-tag-delete.json");
const BBS_PUSH: &[u8] = include_bytes!("../testdata/bitbucket-server-refs-changed.json");
const BBS_PING: &[u8] = include_bytes!("../testdata/bitbucket-server-ping.json");

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn sha256_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn sha1_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn secret(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn status(r: Result<Option<Push>, Rejection>) -> StatusCode {
    r.unwrap_err().status()
}

#[test]
fn github_push_gives_every_url_ref_commit_and_changed_file() {
    let push = parse(
        &headers(&[("x-github-event", "push")]),
        GITHUB_PUSH,
        &Secrets::default(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(push.provider, Provider::GitHub);
    assert_eq!(
        push.repo_urls,
        [
            "https://github.com/octo-org/guestbook",
            "https://github.com/octo-org/guestbook.git",
            "git@github.com:octo-org/guestbook.git",
            "git://github.com/octo-org/guestbook.git",
        ]
    );
    assert_eq!(push.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(push.branch_or_tag.as_deref(), Some("main"));
    assert_eq!(
        push.before.as_deref(),
        Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
    );
    assert_eq!(
        push.after.as_deref(),
        Some("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")
    );
    assert_eq!(push.default_branch.as_deref(), Some("main"));
    assert_eq!(
        push.changed_files,
        [
            "apps/guestbook/overlays/prod/replicas.yaml",
            "apps/guestbook/base/deployment.yaml",
            "apps/guestbook/overlays/prod/kustomization.yaml",
            "apps/guestbook/base/old-config.yaml",
        ]
    );
    assert!(push.touches("https://github.com/octo-org/guestbook.git", "HEAD"));
    assert!(push.touches("git@github.com:octo-org/guestbook.git", "main"));
    assert!(!push.touches("https://github.com/octo-org/guestbook", "staging"));
}

#[test]
fn github_signatures_sha256_and_legacy_sha1() {
    let secrets = Secrets {
        github: secret("It's a Secret to Everybody"),
        ..Secrets::default()
    };
    let good256 = format!(
        "sha256={}",
        sha256_hex("It's a Secret to Everybody", GITHUB_PUSH)
    );
    let good1 = format!(
        "sha1={}",
        sha1_hex("It's a Secret to Everybody", GITHUB_PUSH)
    );
    let wrong = format!("sha256={}", sha256_hex("another secret", GITHUB_PUSH));

    let ok = |sig_header: &str, sig: &str| {
        parse(
            &headers(&[("x-github-event", "push"), (sig_header, sig)]),
            GITHUB_PUSH,
            &secrets,
        )
    };
    assert!(ok("x-hub-signature-256", &good256).unwrap().is_some());
    assert!(ok("x-hub-signature", &good1).unwrap().is_some());
    assert_eq!(
        status(ok("x-hub-signature-256", &wrong)),
        StatusCode::FORBIDDEN
    );
    // Right digest, wrong prefix or not hex: a mismatch, not a crash.
    assert_eq!(
        status(ok(
            "x-hub-signature-256",
            &good256.replace("sha256=", "sha1=")
        )),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(ok("x-hub-signature-256", "sha256=zz")),
        StatusCode::FORBIDDEN
    );
    // The body is what is signed: one changed byte fails.
    let mut tampered = GITHUB_PUSH.to_vec();
    tampered[10] ^= 1;
    let r = parse(
        &headers(&[
            ("x-github-event", "push"),
            ("x-hub-signature-256", &good256),
        ]),
        &tampered,
        &secrets,
    );
    assert_eq!(status(r), StatusCode::FORBIDDEN);

    let missing = parse(
        &headers(&[("x-github-event", "push")]),
        GITHUB_PUSH,
        &secrets,
    )
    .unwrap_err();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let message = missing.to_string();
    assert!(
        message.contains("header X-Hub-Signature-256 is missing"),
        "{message}"
    );
    assert!(message.contains("webhook.github.secret"), "{message}");
}

#[test]
fn github_ping_and_other_events_are_ignored_but_still_verified() {
    let none = parse(
        &headers(&[("x-github-event", "ping")]),
        GITHUB_PING,
        &Secrets::default(),
    );
    assert_eq!(none, Ok(None));
    let event = parse_event(
        &headers(&[("x-github-event", "pull_request")]),
        b"{}",
        &Secrets::default(),
    );
    assert_eq!(
        event,
        Ok(Event::Ignored {
            provider: Provider::GitHub,
            event: "pull_request".into()
        })
    );
    let secrets = Secrets {
        github: secret("s"),
        ..Secrets::default()
    };
    let r = parse(
        &headers(&[("x-github-event", "ping")]),
        GITHUB_PING,
        &secrets,
    );
    assert_eq!(status(r), StatusCode::UNAUTHORIZED);
}

#[test]
fn github_tag_push_from_a_created_ref() {
    let push = parse(
        &headers(&[("x-github-event", "push")]),
        GITHUB_TAG,
        &Secrets::default(),
    )
    .unwrap()
    .unwrap();
    assert!(push.is_tag());
    assert_eq!(push.branch_or_tag.as_deref(), Some("v1.4.2"));
    assert_eq!(push.before, None, "the zero SHA means the tag is new");
    assert!(push.changed_files.is_empty());
    assert!(push.touches("https://github.com/octo-org/guestbook", "1.4.*"));
    assert!(push.touches("https://github.com/octo-org/guestbook", "refs/tags/v1.4.2"));
    assert!(!push.touches("https://github.com/octo-org/guestbook", "HEAD"));
}

#[test]
fn github_form_encoded_payloads_are_read_from_the_payload_field() {
    let encoded: String = GITHUB_PUSH
        .iter()
        .map(|&b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = format!("payload={encoded}");
    let secrets = Secrets {
        github: secret("form"),
        ..Secrets::default()
    };
    let sig = format!("sha256={}", sha256_hex("form", body.as_bytes()));
    let h = headers(&[
        ("x-github-event", "push"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-hub-signature-256", &sig),
    ]);
    let push = parse(&h, body.as_bytes(), &secrets).unwrap().unwrap();
    assert_eq!(
        push.after.as_deref(),
        Some("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")
    );

    let h = headers(&[
        ("x-github-event", "push"),
        ("content-type", "application/x-www-form-urlencoded"),
    ]);
    let err = parse(&h, b"other=1", &Secrets::default()).unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert!(err.to_string().contains("`payload`"), "{err}");
}

#[test]
fn gitlab_push_and_tag_push_with_token() {
    let secrets = Secrets {
        gitlab: secret("gl-token"),
        ..Secrets::default()
    };
    let push = parse(
        &headers(&[
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", "gl-token"),
        ]),
        GITLAB_PUSH,
        &secrets,
    )
    .unwrap()
    .unwrap();
    assert_eq!(push.provider, Provider::GitLab);
    assert_eq!(
        push.repo_urls,
        [
            "https://gitlab.example.com/infra/platform/platform-config",
            "https://gitlab.example.com/infra/platform/platform-config.git",
            "git@gitlab.example.com:infra/platform/platform-config.git",
        ]
    );
    assert_eq!(push.branch_or_tag.as_deref(), Some("release/2026-11"));
    assert_eq!(
        push.after.as_deref(),
        Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    );
    assert_eq!(
        push.changed_files,
        [
            "addons/ingress-nginx/values-prod.yaml",
            "addons/ingress-nginx/Chart.yaml",
            "addons/cert-manager/dashboards.yaml",
        ]
    );
    assert!(push.touches(
        "https://gitlab.example.com/infra/platform/platform-config",
        "release/2026-11"
    ));
    assert!(!push.touches(
        "https://gitlab.example.com/infra/platform/platform-config",
        "HEAD"
    ));

    let tag = parse(
        &headers(&[
            ("x-gitlab-event", "Tag Push Hook"),
            ("x-gitlab-token", "gl-token"),
        ]),
        GITLAB_TAG,
        &secrets,
    )
    .unwrap()
    .unwrap();
    assert_eq!(tag.git_ref.as_deref(), Some("refs/tags/v2.0.0"));

    let wrong = parse(
        &headers(&[
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-token", "gl-token2"),
        ]),
        GITLAB_PUSH,
        &secrets,
    );
    assert_eq!(status(wrong), StatusCode::FORBIDDEN);
    let missing = parse(
        &headers(&[("x-gitlab-event", "Push Hook")]),
        GITLAB_PUSH,
        &secrets,
    );
    assert_eq!(status(missing), StatusCode::UNAUTHORIZED);
}

#[test]
fn gitlab_system_hooks_count_only_when_they_carry_a_push() {
    let h = headers(&[("x-gitlab-event", "System Hook")]);
    let push = parse(&h, GITLAB_PUSH, &Secrets::default()).unwrap();
    assert!(push.is_some());
    assert_eq!(
        parse(&h, GITLAB_SYSTEM_OTHER, &Secrets::default()),
        Ok(None)
    );
    let merge = parse(
        &headers(&[("x-gitlab-event", "Merge Request Hook")]),
        b"{}",
        &Secrets::default(),
    );
    assert_eq!(merge, Ok(None));
}

#[test]
fn gitea_is_checked_with_the_gitea_or_the_gogs_key() {
    // Gitea sends Gogs' and GitHub's headers too; it must be read as Gitea.
    let with = |sig: &str| {
        headers(&[
            ("x-gitea-event", "push"),
            ("x-gogs-event", "push"),
            ("x-github-event", "push"),
            ("x-gitea-signature", sig),
        ])
    };
    let gitea_only = Secrets {
        gitea: secret("tea"),
        ..Secrets::default()
    };
    let gogs_only = Secrets {
        gogs: secret("gogs"),
        ..Secrets::default()
    };
    let push = parse(
        &with(&sha256_hex("tea", GITEA_PUSH)),
        GITEA_PUSH,
        &gitea_only,
    )
    .unwrap()
    .unwrap();
    assert_eq!(push.provider, Provider::Gitea);
    assert_eq!(
        push.repo_urls,
        [
            "https://gitea.example.com/ops/cluster-apps",
            "https://gitea.example.com/ops/cluster-apps.git",
            "ssh://git@gitea.example.com:2222/ops/cluster-apps.git",
        ]
    );
    assert_eq!(push.changed_files, ["podinfo/deployment.yaml"]);
    assert!(
        parse(
            &with(&sha256_hex("gogs", GITEA_PUSH)),
            GITEA_PUSH,
            &gogs_only
        )
        .is_ok()
    );
    let wrong = parse(
        &with(&sha256_hex("gogs", GITEA_PUSH)),
        GITEA_PUSH,
        &gitea_only,
    )
    .unwrap_err();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(
        wrong.to_string().contains("webhook.gitea.secret"),
        "{wrong}"
    );
    // Gitea's GitHub-style header is accepted when X-Gitea-Signature is absent.
    let hub = headers(&[
        ("x-gitea-event", "push"),
        (
            "x-hub-signature-256",
            &format!("sha256={}", sha256_hex("tea", GITEA_PUSH)),
        ),
    ]);
    assert!(parse(&hub, GITEA_PUSH, &gitea_only).is_ok());
    let missing = parse(
        &headers(&[("x-gitea-event", "push")]),
        GITEA_PUSH,
        &gogs_only,
    );
    assert_eq!(status(missing), StatusCode::UNAUTHORIZED);
    assert_eq!(
        parse(
            &headers(&[("x-gitea-event", "create")]),
            b"{}",
            &Secrets::default()
        ),
        Ok(None)
    );
}

#[test]
fn gogs_push_with_signature() {
    let secrets = Secrets {
        gogs: secret("gogs"),
        ..Secrets::default()
    };
    let h = headers(&[
        ("x-gogs-event", "push"),
        ("x-gogs-signature", &sha256_hex("gogs", GOGS_PUSH)),
    ]);
    let push = parse(&h, GOGS_PUSH, &secrets).unwrap().unwrap();
    assert_eq!(push.provider, Provider::Gogs);
    assert_eq!(push.default_branch.as_deref(), Some("master"));
    assert!(push.touches("ssh://gogs@gogs.internal/team/deploy.git", "staging"));
    let bad = headers(&[
        ("x-gogs-event", "push"),
        ("x-gogs-signature", &sha256_hex("nope", GOGS_PUSH)),
    ]);
    assert_eq!(
        status(parse(&bad, GOGS_PUSH, &secrets)),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn bitbucket_cloud_push_with_uuid() {
    let secrets = Secrets {
        bitbucket_uuid: secret("{82b8bb12-cd0d-4c9b-8f0b-5d5b0b5c2d11}"),
        ..Secrets::default()
    };
    let h = headers(&[
        ("x-event-key", "repo:push"),
        ("x-hook-uuid", "{82b8bb12-cd0d-4c9b-8f0b-5d5b0b5c2d11}"),
    ]);
    let push = parse(&h, BITBUCKET_PUSH, &secrets).unwrap().unwrap();
    assert_eq!(push.provider, Provider::BitbucketCloud);
    assert_eq!(
        push.repo_urls,
        ["https://bitbucket.org/acme-team/infra-apps"]
    );
    assert_eq!(push.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        push.before.as_deref(),
        Some("1e65c05c1d5171631d92438a13901ca7dae9618c")
    );
    assert_eq!(
        push.after.as_deref(),
        Some("709d658dc5b6d6afcd46049c2f332ee3f515a67d")
    );
    assert_eq!(push.default_branch, None);
    assert!(push.changed_files.is_empty());
    // Without the default branch any branch push may have moved HEAD.
    assert!(push.touches("git@bitbucket.org:acme-team/infra-apps.git", "HEAD"));

    let wrong = headers(&[
        ("x-event-key", "repo:push"),
        ("x-hook-uuid", "{00000000-0000-0000-0000-000000000000}"),
    ]);
    assert_eq!(
        status(parse(&wrong, BITBUCKET_PUSH, &secrets)),
        StatusCode::FORBIDDEN
    );
    let missing = headers(&[("x-event-key", "repo:push")]);
    assert_eq!(
        status(parse(&missing, BITBUCKET_PUSH, &secrets)),
        StatusCode::UNAUTHORIZED
    );
    let other = headers(&[
        ("x-event-key", "pullrequest:created"),
        ("x-hook-uuid", "{82b8bb12-cd0d-4c9b-8f0b-5d5b0b5c2d11}"),
    ]);
    assert_eq!(parse(&other, b"{}", &secrets), Ok(None));
}

#[test]
fn bitbucket_cloud_takes_the_first_change_even_a_deletion() {
    let h = headers(&[("x-event-key", "repo:push"), ("x-hook-uuid", "{u}")]);
    let push = parse(&h, BITBUCKET_TAGS, &Secrets::default())
        .unwrap()
        .unwrap();
    assert_eq!(push.git_ref.as_deref(), Some("refs/tags/v0.9.0"));
    assert_eq!(
        push.before.as_deref(),
        Some("3c1f7c6d8e0a4b5c6d7e8f9a0b1c2d3e4f5a6b7c")
    );
    assert_eq!(push.after, None);
}

#[test]
fn bitbucket_server_refs_changed_with_signature() {
    let secrets = Secrets {
        bitbucket_server: secret("bbs"),
        ..Secrets::default()
    };
    let sig = format!("sha256={}", sha256_hex("bbs", BBS_PUSH));
    let h = headers(&[
        ("x-event-key", "repo:refs_changed"),
        ("x-hub-signature", &sig),
    ]);
    let push = parse(&h, BBS_PUSH, &secrets).unwrap().unwrap();
    assert_eq!(push.provider, Provider::BitbucketServer);
    assert_eq!(
        push.repo_urls,
        [
            "ssh://git@bitbucket.example.com:7999/plat/gitops.git",
            "https://bitbucket.example.com/scm/plat/gitops.git",
        ]
    );
    assert_eq!(push.git_ref.as_deref(), Some("refs/heads/develop"));
    assert_eq!(
        push.after.as_deref(),
        Some("178864a7d521b6f5e720b386b2c2b0ef8563e0dc")
    );
    assert!(push.touches("https://bitbucket.example.com/scm/plat/gitops", "develop"));
    assert!(!push.touches(
        "https://bitbucket.example.com/projects/PLAT/repos/gitops/browse",
        "develop"
    ));

    let bad = headers(&[
        ("x-event-key", "repo:refs_changed"),
        ("x-hub-signature", "sha256=00"),
    ]);
    assert_eq!(
        status(parse(&bad, BBS_PUSH, &secrets)),
        StatusCode::FORBIDDEN
    );
    let missing = headers(&[("x-event-key", "repo:refs_changed")]);
    assert_eq!(
        status(parse(&missing, BBS_PUSH, &secrets)),
        StatusCode::UNAUTHORIZED
    );
    let ping = headers(&[
        ("x-event-key", "diagnostics:ping"),
        (
            "x-hub-signature",
            &format!("sha256={}", sha256_hex("bbs", BBS_PING)),
        ),
    ]);
    assert_eq!(parse(&ping, BBS_PING, &secrets), Ok(None));
}

#[test]
fn unconfigured_secrets_accept_unsigned_payloads() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8]);
    let cases: [Case; 6] = [
        (&[("x-github-event", "push")], GITHUB_PUSH),
        (&[("x-gitlab-event", "Push Hook")], GITLAB_PUSH),
        (&[("x-gitea-event", "push")], GITEA_PUSH),
        (&[("x-gogs-event", "push")], GOGS_PUSH),
        (
            &[("x-event-key", "repo:push"), ("x-hook-uuid", "{u}")],
            BITBUCKET_PUSH,
        ),
        (&[("x-event-key", "repo:refs_changed")], BBS_PUSH),
    ];
    for (h, body) in cases {
        assert!(
            parse(&headers(h), body, &Secrets::default())
                .unwrap()
                .is_some(),
            "{h:?}"
        );
    }
}

#[test]
fn unknown_and_unsupported_requests_are_bad_requests() {
    let unknown = parse(
        &headers(&[("content-type", "application/json")]),
        GITHUB_PUSH,
        &Secrets::default(),
    );
    assert_eq!(unknown, Err(Rejection::UnknownEvent));
    let azure = parse(
        &headers(&[("x-vss-activityid", "1")]),
        b"{}",
        &Secrets::default(),
    )
    .unwrap_err();
    assert_eq!(azure.status(), StatusCode::BAD_REQUEST);
    assert!(azure.to_string().contains("Azure DevOps"), "{azure}");
}

#[test]
fn malformed_payloads_name_the_problem() {
    let h = headers(&[("x-github-event", "push")]);
    let not_json = parse(&h, b"{\"ref\": ", &Secrets::default()).unwrap_err();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert!(
        not_json
            .to_string()
            .starts_with("GitHub push payload is malformed"),
        "{not_json}"
    );

    let no_repo = parse(&h, br#"{"ref": "refs/heads/main"}"#, &Secrets::default()).unwrap_err();
    assert!(no_repo.to_string().contains("repository"), "{no_repo}");

    let wrong_type = parse(
        &h,
        br#"{"ref": "refs/heads/main", "repository": {"html_url": 5}}"#,
        &Secrets::default(),
    )
    .unwrap_err();
    assert!(
        wrong_type.to_string().contains("repository.html_url"),
        "{wrong_type}"
    );

    let no_url = parse(
        &h,
        br#"{"ref": "refs/heads/main", "repository": {"name": "x"}}"#,
        &Secrets::default(),
    )
    .unwrap_err();
    assert!(matches!(no_url, Rejection::NoRepository { .. }), "{no_url}");
    assert_eq!(no_url.status(), StatusCode::BAD_REQUEST);

    let bbs = headers(&[("x-event-key", "repo:refs_changed")]);
    let r = parse(
        &bbs,
        br#"{"repository": {}, "changes": "x"}"#,
        &Secrets::default(),
    )
    .unwrap_err();
    assert!(r.to_string().contains("changes"), "{r}");
}
