//! `auth::Auth` against the real test cluster: the initial admin Secret,
//! local users from `argocd-cm`, expiry, logout persisted across restarts,
//! password changes, rate limits, API keys and project role tokens. Each
//! test uses its own namespace as gyro's settings namespace.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use api::{AppProject, AppProjectSpec, ProjectRole};
use auth::{Auth, AuthError, FakeClock, Limits, Options, TokenKind};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

async fn setup(prefix: &str) -> Result<(Client, testkit::TestNamespace)> {
    let client = testkit::client().await?;
    api::crd::install(&client, "gyro-auth-test").await?;
    let ns = testkit::TestNamespace::create(&client, prefix).await?;
    Ok((client, ns))
}

fn options(clock: Arc<FakeClock>) -> Options {
    Options {
        clock,
        limits: Limits::default(),
    }
}

async fn initial_password(client: &Client, ns: &str) -> Result<String> {
    let secret: Secret = Api::namespaced(client.clone(), ns)
        .get(auth::INITIAL_ADMIN_SECRET)
        .await?;
    let bytes = secret
        .data
        .and_then(|d| d.get("password").cloned())
        .context("no password in argocd-initial-admin-secret")?;
    Ok(String::from_utf8(bytes.0)?)
}

/// Retries `check` until it passes (watches take a moment to deliver).
async fn eventually<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => bail!("{what}: {e:#}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn apply_config(client: &Client, ns: &str, data: serde_json::Value) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": auth::CONFIG_MAP, "namespace": ns},
        "data": data,
    });
    api.patch(
        auth::CONFIG_MAP,
        &PatchParams::apply("gyro-auth-test").force(),
        &Patch::Apply(&cm),
    )
    .await?;
    Ok(())
}

async fn set_secret_keys(client: &Client, ns: &str, keys: &[(&str, &str)]) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let data: BTreeMap<String, ByteString> = keys
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect();
    api.patch(
        auth::SECRET,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "data": data })),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_initial_admin_password_logs_in_and_a_wrong_one_does_not() -> Result<()> {
    let (client, ns) = setup("auth-admin").await?;
    let auth = Auth::start(client.clone(), ns.name()).await?;
    let password = initial_password(&client, ns.name()).await?;
    assert_eq!(password.len(), 16);

    let token = auth.login("admin", &password, PEER).await?;
    let claims = auth.verify(&token).await?;
    assert_eq!(claims.subject, "admin");
    assert_eq!(claims.kind, TokenKind::Local);
    assert_eq!(
        claims.expires_at,
        Some(claims.issued_at + 24 * 3_600),
        "the default session lasts 24h"
    );

    let wrong = auth
        .login("admin", "not-the-password", PEER)
        .await
        .unwrap_err();
    let unknown = auth.login("nobody", &password, PEER).await.unwrap_err();
    assert_eq!(wrong, AuthError::BadCredentials);
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.to_string(),
        unknown.to_string(),
        "no user enumeration"
    );

    // A second start (another replica, a restart) keeps the password.
    drop(auth);
    let again = Auth::start(client.clone(), ns.name()).await?;
    assert_eq!(initial_password(&client, ns.name()).await?, password);
    again.verify(&token).await?;
    again.login("admin", &password, PEER).await?;
    Ok(())
}

#[tokio::test]
async fn the_sixth_attempt_after_five_failures_is_rate_limited() -> Result<()> {
    let (client, ns) = setup("auth-limit").await?;
    let auth = Auth::start(client.clone(), ns.name()).await?;
    let password = initial_password(&client, ns.name()).await?;
    for _ in 0..5 {
        assert_eq!(
            auth.login("admin", "wrong", PEER).await.unwrap_err(),
            AuthError::BadCredentials
        );
    }
    let limited = auth.login("admin", &password, PEER).await.unwrap_err();
    assert_eq!(limited.status(), 429, "{limited}");
    assert!(limited.retry_after().is_some_and(|s| s > 0 && s <= 300));
    assert!(limited.to_string().contains("try again in"), "{limited}");
    Ok(())
}

#[tokio::test]
async fn expired_and_logged_out_tokens_are_refused_also_after_a_restart() -> Result<()> {
    let (client, ns) = setup("auth-revoke").await?;
    apply_config(&client, ns.name(), json!({"users.session.duration": "1h"})).await?;
    let clock = Arc::new(FakeClock::at_system_time());
    let auth = Auth::start_with(client.clone(), ns.name(), options(clock.clone())).await?;
    let password = initial_password(&client, ns.name()).await?;

    let short = auth.login("admin", &password, PEER).await?;
    let claims = auth.verify(&short).await?;
    assert_eq!(claims.expires_at, Some(claims.issued_at + 3_600));
    clock.advance(3_600);
    assert_eq!(auth.verify(&short).await.unwrap_err(), AuthError::Expired);

    let token = auth.login("admin", &password, PEER).await?;
    let claims = auth.verify(&token).await?;
    auth.revoke(&claims).await?;
    let refused = auth.verify(&token).await.unwrap_err();
    assert!(matches!(refused, AuthError::Revoked(_)), "{refused}");
    assert_eq!(refused.status(), 401);

    let other = auth.login("admin", &password, PEER).await?;
    drop(auth);
    let restarted = Auth::start_with(client.clone(), ns.name(), options(clock.clone())).await?;
    assert!(matches!(
        restarted.verify(&token).await,
        Err(AuthError::Revoked(_))
    ));
    restarted.verify(&other).await?;
    let revoked: Secret = Api::namespaced(client.clone(), ns.name())
        .get(auth::REVOKED_TOKENS_SECRET)
        .await?;
    assert!(
        revoked
            .data
            .unwrap_or_default()
            .contains_key(&claims.token_id)
    );
    Ok(())
}

#[tokio::test]
async fn local_users_from_argocd_cm_log_in_unless_disabled() -> Result<()> {
    let (client, ns) = setup("auth-users").await?;
    let auth = Auth::start(client.clone(), ns.name()).await?;
    // As `argocd account bcrypt --password alice-password` would print.
    let hash = bcrypt::hash("alice-password", 4)?;
    apply_config(
        &client,
        ns.name(),
        json!({
            "accounts.alice": "apiKey, login",
            "accounts.bob": "login",
            "accounts.bob.enabled": "false",
        }),
    )
    .await?;
    set_secret_keys(
        &client,
        ns.name(),
        &[
            ("accounts.alice.password", &hash),
            ("accounts.bob.password", &hash),
        ],
    )
    .await?;
    eventually("alice logs in", || async {
        auth.login("alice", "alice-password", PEER).await?;
        Ok(())
    })
    .await?;
    let alice_token = auth.login("alice", "alice-password", PEER).await?;
    assert_eq!(auth.verify(&alice_token).await?.subject, "alice");
    assert_eq!(
        auth.login("bob", "alice-password", PEER).await.unwrap_err(),
        AuthError::BadCredentials
    );
    let names: Vec<String> = auth.accounts().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);

    // Disabling alice ends her sessions.
    apply_config(
        &client,
        ns.name(),
        json!({"accounts.alice": "apiKey, login", "accounts.alice.enabled": "false"}),
    )
    .await?;
    eventually("alice's token refused", || async {
        match auth.verify(&alice_token).await {
            Err(AuthError::Revoked(_)) => Ok(()),
            other => bail!("still {other:?}"),
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_password_change_logs_out_older_tokens() -> Result<()> {
    let (client, ns) = setup("auth-passwd").await?;
    let clock = Arc::new(FakeClock::at_system_time());
    let auth = Auth::start_with(client.clone(), ns.name(), options(clock.clone())).await?;
    let password = initial_password(&client, ns.name()).await?;
    let old = auth.login("admin", &password, PEER).await?;
    clock.advance(5);

    let weak = auth
        .change_password(PEER, "admin", &password, "admin", "short")
        .await
        .unwrap_err();
    assert_eq!(weak.status(), 400, "{weak}");
    let mismatch = auth
        .change_password(PEER, "admin", "not-it", "admin", "a-new-password")
        .await
        .unwrap_err();
    assert_eq!(mismatch.status(), 400, "{mismatch}");

    auth.change_password(PEER, "admin", &password, "admin", "a-new-password")
        .await?;
    let refused = auth.verify(&old).await.unwrap_err();
    assert!(refused.to_string().contains("password"), "{refused}");
    assert_eq!(
        auth.login("admin", &password, PEER).await.unwrap_err(),
        AuthError::BadCredentials
    );
    let new = auth.login("admin", "a-new-password", PEER).await?;
    auth.verify(&new).await?;
    Ok(())
}

#[tokio::test]
async fn api_keys_work_until_deleted() -> Result<()> {
    let (client, ns) = setup("auth-apikey").await?;
    apply_config(
        &client,
        ns.name(),
        json!({"accounts.ci": "apiKey", "accounts.viewer": "login"}),
    )
    .await?;
    let auth = Auth::start(client.clone(), ns.name()).await?;
    let missing = auth.create_api_key("viewer", None, None).await.unwrap_err();
    assert_eq!(missing.status(), 400, "{missing}");
    assert!(missing.to_string().contains("apiKey"), "{missing}");

    let token = auth.create_api_key("ci", Some("build"), None).await?;
    let claims = auth.verify(&token).await?;
    assert_eq!(
        (claims.subject.as_str(), claims.kind),
        ("ci", TokenKind::ApiKey)
    );
    assert_eq!(claims.expires_at, None);
    let dup = auth
        .create_api_key("ci", Some("build"), None)
        .await
        .unwrap_err();
    assert_eq!(dup.status(), 409);
    assert_eq!(auth.account("ci").context("ci")?.tokens.len(), 1);

    auth.delete_api_key("ci", "build").await?;
    assert!(matches!(
        auth.verify(&token).await,
        Err(AuthError::Revoked(_))
    ));
    assert_eq!(
        auth.delete_api_key("ci", "build")
            .await
            .unwrap_err()
            .status(),
        404
    );
    Ok(())
}

#[tokio::test]
async fn a_project_token_is_refused_once_removed_from_the_project() -> Result<()> {
    let (client, ns) = setup("auth-project").await?;
    let projects: Api<AppProject> = Api::namespaced(client.clone(), ns.name());
    let mut project = AppProject::new(
        "shop",
        AppProjectSpec {
            roles: Some(vec![ProjectRole {
                name: "ci".into(),
                policies: Some(vec![
                    "p, proj:shop:ci, applications, sync, shop/*, allow".into(),
                ]),
                ..Default::default()
            }]),
            ..Default::default()
        },
    );
    project.metadata = ObjectMeta {
        name: Some("shop".into()),
        namespace: Some(ns.name().into()),
        ..Default::default()
    };
    projects.create(&PostParams::default(), &project).await?;
    let auth = Auth::start(client.clone(), ns.name()).await?;

    let unknown_role = auth
        .issue_project_token("shop", "nope", None, None)
        .await
        .unwrap_err();
    assert_eq!(unknown_role.status(), 404);

    let (token, record) = auth
        .issue_project_token(
            "shop",
            "ci",
            Some("pipeline"),
            Some(Duration::from_secs(600)),
        )
        .await?;
    let claims = auth.verify(&token).await?;
    assert_eq!(claims.subject, "proj:shop:ci");
    assert_eq!(claims.kind, TokenKind::ProjectRole);
    let stored = projects.get("shop").await?;
    let listed = stored.spec.roles.as_ref().context("roles")?[0]
        .jwt_tokens
        .clone()
        .unwrap_or_default();
    assert_eq!(listed, vec![record.clone()]);

    auth.delete_project_token("shop", "ci", record.iat).await?;
    let refused = auth.verify(&token).await.unwrap_err();
    assert!(matches!(refused, AuthError::Revoked(_)), "{refused}");
    Ok(())
}

#[tokio::test]
async fn replicas_starting_together_agree_and_share_logouts() -> Result<()> {
    let (client, ns) = setup("auth-replicas").await?;
    let (a, b) = tokio::join!(
        Auth::start(client.clone(), ns.name()),
        Auth::start(client.clone(), ns.name())
    );
    let (a, b) = (a?, b?);
    // Whichever won the race published its password, and both accept it.
    let password = initial_password(&client, ns.name()).await?;
    let token = a.login("admin", &password, PEER).await?;
    b.login("admin", &password, PEER).await?;
    let claims = b.verify(&token).await?;

    b.revoke(&claims).await?;
    eventually("the other replica sees the logout", || async {
        match a.verify(&token).await {
            Err(AuthError::Revoked(_)) => Ok(()),
            other => bail!("still {other:?}"),
        }
    })
    .await?;
    Ok(())
}
