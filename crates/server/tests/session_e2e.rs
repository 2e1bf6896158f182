//! The session and account routes served on loopback against the real test
//! cluster: login, errors in Argo CD's shape, userinfo, logout, password
//! change, API keys, rate limiting. The server's namespace is the test's.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use auth::{Auth, FakeClock, Limits, Options};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use testkit::http::{Reply, request};

struct Server {
    addr: SocketAddr,
    clock: Arc<FakeClock>,
    client: kube::Client,
    ns: testkit::TestNamespace,
    _cache: tempfile::TempDir,
}

async fn serve(prefix: &str) -> Result<Server> {
    let client = testkit::client().await?;
    api::crd::install(&client, "gyro-session-test").await?;
    let ns = testkit::TestNamespace::create(&client, prefix).await?;
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": ns.name()},
        "data": {"accounts.ci": "apiKey"},
    });
    Api::<ConfigMap>::namespaced(client.clone(), ns.name())
        .patch(
            "argocd-cm",
            &PatchParams::apply("gyro-session-test"),
            &Patch::Apply(&cm),
        )
        .await?;
    let cache = tempfile::tempdir()?;
    let controller = controller::Context::new(
        client.clone(),
        controller::Config::new(cache.path(), ns.name()),
    )
    .await?;
    let clock = Arc::new(FakeClock::at_system_time());
    let auth = Auth::start_with(
        client.clone(),
        ns.name(),
        Options {
            clock: clock.clone(),
            limits: Limits::default(),
        },
    )
    .await?;
    let rbac = server::authz::watch(client.clone(), ns.name()).await?;
    let state = Arc::new(server::State::new(
        Arc::new(controller),
        auth,
        server::authz::enforcer(rbac),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Server {
        addr,
        clock,
        client,
        ns,
        _cache: cache,
    })
}

impl Server {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<Reply> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body)?
        };
        request(self.addr, method, path, &headers, &body).await
    }

    async fn initial_password(&self) -> Result<String> {
        let secret: Secret = Api::namespaced(self.client.clone(), self.ns.name())
            .get("argocd-initial-admin-secret")
            .await?;
        let bytes = secret
            .data
            .and_then(|d| d.get("password").cloned())
            .context("no password")?;
        Ok(String::from_utf8(bytes.0)?)
    }

    async fn login(&self, username: &str, password: &str) -> Result<Reply> {
        self.call(
            "POST",
            "/api/v1/session",
            None,
            json!({"username": username, "password": password}),
        )
        .await
    }
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

fn token_of(reply: &Reply) -> Result<String> {
    json_of(reply)["token"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no token in {reply:?}"))
}

#[tokio::test]
async fn login_userinfo_and_logout() -> Result<()> {
    let s = serve("session-login").await?;
    let password = s.initial_password().await?;

    let reply = s.login("admin", &password).await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = token_of(&reply)?;

    let info = s
        .call("GET", "/api/v1/session/userinfo", Some(&token), Value::Null)
        .await?;
    let info = json_of(&info);
    assert_eq!(info["loggedIn"], true);
    assert_eq!(info["username"], "admin");
    assert_eq!(info["iss"], "argocd");

    // The cookie works as the header does.
    let cookie = format!("argocd.token={token}");
    let by_cookie = request(
        s.addr,
        "GET",
        "/api/v1/account",
        &[("Cookie", &cookie)],
        b"",
    )
    .await?;
    assert_eq!(by_cookie.status, 200, "{by_cookie:?}");
    let accounts = json_of(&by_cookie);
    let names: Vec<&str> = accounts["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["admin", "ci"]);

    let out = s
        .call("DELETE", "/api/v1/session", Some(&token), Value::Null)
        .await?;
    assert_eq!((out.status, json_of(&out)), (200, json!({})));
    let after = s
        .call("GET", "/api/v1/account", Some(&token), Value::Null)
        .await?;
    assert_eq!(after.status, 401, "{after:?}");
    assert_eq!(json_of(&after)["code"], 16);
    assert!(after.body.contains("revoked"), "{after:?}");
    let info = s
        .call("GET", "/api/v1/session/userinfo", Some(&token), Value::Null)
        .await?;
    assert_eq!(json_of(&info)["loggedIn"], false);
    Ok(())
}

#[tokio::test]
async fn bad_logins_and_bodies_are_clear_4xx() -> Result<()> {
    let s = serve("session-bad").await?;
    let password = s.initial_password().await?;

    let none = s.call("GET", "/api/v1/account", None, Value::Null).await?;
    assert_eq!(none.status, 401);
    assert!(none.body.contains("log in"), "{none:?}");
    let garbage = s
        .call("GET", "/api/v1/account", Some("not.a.jwt"), Value::Null)
        .await?;
    assert_eq!(garbage.status, 401, "{garbage:?}");

    let malformed = request(
        s.addr,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        b"{\"username\": ",
    )
    .await?;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert!(
        json_of(&malformed)["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid request body"))
    );
    let missing = s
        .call(
            "POST",
            "/api/v1/session",
            None,
            json!({"username": "admin"}),
        )
        .await?;
    assert_eq!(missing.status, 400, "{missing:?}");
    assert!(missing.body.contains("password"), "{missing:?}");

    let wrong = s.login("admin", "wrong").await?;
    let unknown = s.login("nobody", "wrong").await?;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(json_of(&wrong)["message"], json_of(&unknown)["message"]);
    for _ in 0..4 {
        assert_eq!(s.login("admin", "wrong").await?.status, 401);
    }
    let limited = s.login("admin", &password).await?;
    assert_eq!(limited.status, 429, "{limited:?}");
    assert!(limited.body.contains("try again in"), "{limited:?}");
    Ok(())
}

#[tokio::test]
async fn password_change_and_api_keys() -> Result<()> {
    let s = serve("session-account").await?;
    let password = s.initial_password().await?;
    let old = token_of(&s.login("admin", &password).await?)?;
    s.clock.advance(2);

    let weak = s
        .call(
            "PUT",
            "/api/v1/account/password",
            Some(&old),
            json!({"currentPassword": password, "newPassword": "short"}),
        )
        .await?;
    assert_eq!(weak.status, 400, "{weak:?}");
    let changed = s
        .call(
            "PUT",
            "/api/v1/account/password",
            Some(&old),
            json!({"name": "admin", "currentPassword": password, "newPassword": "n3w-passw0rd"}),
        )
        .await?;
    assert_eq!(changed.status, 200, "{changed:?}");
    let refused = s
        .call("GET", "/api/v1/account", Some(&old), Value::Null)
        .await?;
    assert_eq!(refused.status, 401, "{refused:?}");
    let new = token_of(&s.login("admin", "n3w-passw0rd").await?)?;

    let key = s
        .call(
            "POST",
            "/api/v1/account/ci/token",
            Some(&new),
            json!({"id": "build", "expiresIn": "3600"}),
        )
        .await?;
    assert_eq!(key.status, 200, "{key:?}");
    let key = token_of(&key)?;
    let info = s
        .call("GET", "/api/v1/session/userinfo", Some(&key), Value::Null)
        .await?;
    assert_eq!(json_of(&info)["username"], "ci");
    // An API key's bearer may not create keys for admin.
    let denied = s
        .call("POST", "/api/v1/account/admin/token", Some(&key), json!({}))
        .await?;
    assert_eq!(denied.status, 403, "{denied:?}");

    let deleted = s
        .call(
            "DELETE",
            "/api/v1/account/ci/token/build",
            Some(&new),
            Value::Null,
        )
        .await?;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let gone = s
        .call("GET", "/api/v1/account", Some(&key), Value::Null)
        .await?;
    assert_eq!(gone.status, 401, "{gone:?}");

    // Each change is audited as an Event on argocd-secret naming the user.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(s.client.clone(), s.ns.name());
    let start = std::time::Instant::now();
    let wanted = [
        "admin changed the password of account admin",
        "admin created an API key for account ci",
        "admin deleted API key build of account ci",
    ];
    loop {
        let notes: Vec<String> = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("argocd-secret")
            })
            .filter_map(|e| e.note)
            .collect();
        if wanted.iter().all(|w| notes.iter().any(|n| n == w)) {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "audit Events on argocd-secret: {notes:?}, wanted {wanted:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    Ok(())
}
