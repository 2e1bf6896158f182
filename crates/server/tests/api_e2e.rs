//! The API server end to end: the controller running in-process against
//! the test cluster, the API served beside it over TLS on a loopback port
//! (the certificate trusted by the client, not ignored), real Git
//! repositories, and reqwest as the client.
//!
//! Authentication is the real `auth::Auth` of the test namespace (tokens
//! for `admin`, a local account, and `alice`, an SSO user, are issued with
//! its key), RBAC the real policy from the namespace's `argocd-rbac-cm`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use api::Application;
use base64::Engine;
use kube::api::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The API's state: the namespace's accounts and tokens, RBAC from its
/// `argocd-rbac-cm` (alice may only get).
async fn state(ctx: Arc<controller::Context>, auth: Arc<auth::Auth>) -> Arc<server::State> {
    let rbac = server::authz::watch(ctx.client.clone(), &ctx.config.controller_namespace)
        .await
        .expect("reading the RBAC policy");
    Arc::new(server::State::new(ctx, auth, server::authz::enforcer(rbac)))
}

/// Tokens signed with the namespace's key.
struct Tokens {
    admin: String,
    alice: String,
    bob: String,
}

struct Api2 {
    http: reqwest::Client,
    base: String,
}

impl Api2 {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }
    async fn get(&self, path: &str, token: Option<&str>) -> Result<(StatusCode, Value)> {
        self.call(reqwest::Method::GET, path, token, None).await
    }
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<(StatusCode, Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }
}

async fn wait_app(
    apps: &Api<Application>,
    name: &str,
    what: &str,
    done: impl Fn(&Application) -> bool,
) -> Result<Application> {
    let start = Instant::now();
    loop {
        let app = apps.get(name).await?;
        if done(&app) {
            return Ok(app);
        }
        if start.elapsed() > Duration::from_secs(180) {
            bail!(
                "timed out waiting for {name} {what}: {}",
                serde_json::to_string(&app.status)?
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn history_len(app: &Application) -> usize {
    app.status
        .as_ref()
        .and_then(|s| s.history.as_ref())
        .map_or(0, Vec::len)
}

fn op_phase(app: &Application) -> Option<String> {
    app.status
        .as_ref()?
        .operation_state
        .as_ref()
        .map(|s| s.phase.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_drives_applications_end_to_end() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, "gyro-api-test").await?;
    let ns_guard = testkit::TestNamespace::create(&client, "api-e2e").await?;
    let ns = ns_guard.name().to_string();
    let repo = testkit::GitRepo::new("api-e2e")?;
    repo.write("app/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: info\n")?;
    let first = repo.commit("first")?;
    repo.push()?;

    let rbac_cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-rbac-cm", "namespace": ns},
        "data": {"policy.csv": "p, alice, applications, get, */*, allow\n\
            p, bob, applications, create, team/*, allow\n\
            p, bob, applications, update, team/*, allow\n"}});
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns);
    maps.create(&Default::default(), &serde_json::from_value(rbac_cm)?)
        .await?;

    // The controller with the API served beside it, over TLS.
    let (api, running, _cache, _, tokens) = start_server(&client, &ns).await?;
    let (admin, alice) = (tokens.admin.as_str(), tokens.alice.as_str());
    let q = format!("?appNamespace={ns}");

    // Unauthenticated routes answer; the rest need a token.
    let version = api.get("/api/version", None).await?;
    assert_eq!(version.0, StatusCode::OK);
    assert!(version.1["Version"].as_str().unwrap().starts_with('v'));
    let (status, doc) = api.get("/api/openapi.json", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let (status, _) = api.get("/api/v1/settings", None).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.get(&format!("/api/v1/applications{q}"), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], 16);

    // Create; malformed JSON; unknown application.
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"project": "default",
                 "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "app"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}}
    });
    let (status, body) = api.post("/api/v1/applications", Some(alice), &app).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("applications, create, default/"),
        "{body}"
    );
    let (status, body) = api.post("/api/v1/applications", Some(admin), &app).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = api
        .http
        .post(format!("{}/api/v1/applications/web/sync{q}", api.base))
        .bearer_auth(admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await?;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid request body"),
        "{body}"
    );
    let (status, body) = api
        .get(&format!("/api/v1/applications/nope{q}"), Some(admin))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["message"].as_str().unwrap().contains("\"nope\""),
        "{body}"
    );
    let (status, list) = api
        .get(&format!("/api/v1/applications{q}"), Some(alice))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["metadata"]["name"], "web");

    // bob may create and update in project team only: an upsert naming
    // team must not take over default's web.
    let mut takeover = app.clone();
    takeover["spec"]["project"] = json!("team");
    let (status, body) = api
        .post(
            "/api/v1/applications?upsert=true",
            Some(tokens.bob.as_str()),
            &takeover,
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("applications, update, default/web, sub: bob"),
        "{body}"
    );
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    assert_eq!(apps.get("web").await?.spec.project, "default");

    // The stream lists the current state as ADDED.
    let mut stream = api
        .http
        .get(format!(
            "{}/api/v1/stream/applications{q}&name=web",
            api.base
        ))
        .bearer_auth(admin)
        .send()
        .await?;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut seen = String::new();
    while !seen.contains("\"ADDED\"") {
        match tokio::time::timeout(Duration::from_secs(30), stream.chunk()).await?? {
            Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            None => bail!("the stream ended: {seen}"),
        }
    }

    // Manifests and managed resources come from the controller's render.
    let (status, manifests) = api
        .get(
            &format!("/api/v1/applications/web/manifests{q}"),
            Some(admin),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{manifests}");
    assert_eq!(manifests["revision"], first);
    assert!(
        manifests["manifests"][0]
            .as_str()
            .unwrap()
            .contains("web-config")
    );

    // Sync, carried out by the controller; the stream sees it.
    let (status, body) = api
        .post(
            &format!("/api/v1/applications/web/sync{q}"),
            Some(alice),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = api
        .post(
            &format!("/api/v1/applications/web/sync{q}"),
            Some(admin),
            &json!({"prune": true}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    wait_app(&apps, "web", "synced once", |a| {
        history_len(a) == 1 && op_phase(a).as_deref() == Some("Succeeded")
    })
    .await?;
    let mut modified = false;
    while !modified {
        match tokio::time::timeout(Duration::from_secs(30), stream.chunk()).await?? {
            Some(chunk) => modified = String::from_utf8_lossy(&chunk).contains("\"MODIFIED\""),
            None => bail!("the stream ended"),
        }
    }
    let (status, managed) = api
        .get(
            &format!("/api/v1/applications/web/managed-resources{q}"),
            Some(admin),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{managed}");
    assert_eq!(managed["items"][0]["name"], "web-config");
    assert_eq!(managed["items"][0]["modified"], false);

    // A second revision, synced; then a rollback to history id of the first.
    repo.write("app/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: debug\n")?;
    let second = repo.commit("second")?;
    repo.push()?;
    let (status, body) = api
        .post(
            &format!("/api/v1/applications/web/sync{q}"),
            Some(admin),
            &json!({"revision": second}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let synced = wait_app(&apps, "web", "synced twice", |a| {
        history_len(a) == 2 && op_phase(a).as_deref() == Some("Succeeded")
    })
    .await?;
    let first_id = synced
        .status
        .as_ref()
        .and_then(|s| s.history.as_ref())
        .and_then(|h| {
            h.iter()
                .find(|e| e.revision.as_deref() == Some(first.as_str()))
        })
        .map(|e| e.id)
        .expect("history of the first sync");
    let (status, body) = api
        .post(
            &format!("/api/v1/applications/web/rollback{q}"),
            Some(admin),
            &json!({"id": 999}),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .post(
            &format!("/api/v1/applications/web/rollback{q}"),
            Some(admin),
            &json!({"id": first_id}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_app(&apps, "web", "rolled back", |a| {
        history_len(a) == 3 && op_phase(a).as_deref() == Some("Succeeded")
    })
    .await?;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = cms.get("web-config").await?;
    assert_eq!(cm.data.unwrap()["LOG_LEVEL"], "info");

    // diff-local: unsafe paths are refused by name; safe ones are compared.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (status, body) = api
        .post(
            &format!("/api/v1/applications/web/diff-local{q}"),
            Some(admin),
            &json!({"files": [{"path": "../../etc/passwd", "content": b64("x")}]}),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("../../etc/passwd"),
        "{body}"
    );
    let (status, body) = api.post(&format!("/api/v1/applications/web/diff-local{q}"), Some(admin),
        &json!({"files": [{"path": "app/configmap.yaml", "content": b64("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: trace\n")}]})).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["modified"], true, "{body}");

    // Events on the Application include the audit's OperationStarted.
    let (status, events) = api
        .get(&format!("/api/v1/applications/web/events{q}"), Some(admin))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        events.to_string().contains("admin initiated sync"),
        "{events}"
    );

    // Delete without cascade.
    let (status, body) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/applications/web{q}&cascade=false"),
            Some(admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let start = Instant::now();
    while apps.get_opt("web").await?.is_some() {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("web was not deleted");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        cms.get_opt("web-config").await?.is_some(),
        "a non-cascading delete keeps the resources"
    );

    // Metrics: no login; the requests above are counted by route.
    let (status, metrics) = api.get("/metrics", None).await?;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("route=\"/api/v1/applications/{name}/sync\"")
            && metrics.contains("code=\"403\""),
        "{metrics}"
    );

    running.abort();
    drop(ns_guard);
    Ok(())
}

/// The controller for `ns` in-process with the API served beside it over
/// TLS on a loopback port; the client trusts the generated certificate.
async fn start_server(
    client: &kube::Client,
    ns: &str,
) -> Result<(
    Api2,
    tokio::task::JoinHandle<Result<(), controller::Error>>,
    tempfile::TempDir,
    String,
    Tokens,
)> {
    let auth = auth::Auth::start(client.clone(), ns).await?;
    let tokens = Tokens {
        admin: auth.issue("admin", Vec::new(), auth::TokenKind::Local, None)?,
        alice: auth.issue("alice", Vec::new(), auth::TokenKind::Sso, None)?,
        bob: auth.issue("bob", Vec::new(), auth::TokenKind::Sso, None)?,
    };
    let cert = server::tls::self_signed(&[])?;
    let tls = server::tls::rustls_config(&cert)?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![ns.to_string()],
        reconcile_interval: Duration::from_secs(5),
        ..controller::Config::new(cache.path(), ns)
    };
    let serve: controller::Serve = Box::new(move |ctx, webhook| {
        Box::pin(async move {
            let router = server::router(state(ctx, auth).await).merge(webhook);
            let _ = server::tls::serve(router, listener, Some(tls)).await;
        })
    });
    let running = tokio::spawn(controller::run_serving(client.clone(), config, Some(serve)));
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert_pem.as_bytes())?)
        .build()?;
    let api = Api2 {
        http,
        base: format!("https://localhost:{port}"),
    };
    let start = Instant::now();
    while api.get("/api/version", None).await.is_err() {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the API server did not answer on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((api, running, cache, cert.cert_pem, tokens))
}

/// The Python tools' bin directory (scripts/python-tools prints it).
fn python_tools() -> Result<std::path::PathBuf> {
    let dir = std::env::var_os("GYRO_PYTHON_BIN")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::Path::new(&h).join(".cache/gyro/python/bin"))
        })
        .unwrap_or_default();
    for tool in ["openapi-spec-validator", "schemathesis"] {
        if !dir.join(tool).is_file() {
            bail!(
                "{tool} is missing from {}: run scripts/python-tools (or set GYRO_PYTHON_BIN to its output)",
                dir.display()
            );
        }
    }
    Ok(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_schemathesis_finds_no_server_errors() -> Result<()> {
    let tools = python_tools()?;
    let client = testkit::client().await?;
    api::crd::install(&client, "gyro-api-test").await?;
    let ns_guard = testkit::TestNamespace::create(&client, "api-schema").await?;
    let ns = ns_guard.name().to_string();
    let (api, running, _cache, cert_pem, tokens) = start_server(&client, &ns).await?;
    let admin = tokens.admin.as_str();
    let dir = tempfile::tempdir()?;
    let (status, doc) = api.get("/api/openapi.json", None).await?;
    assert_eq!(status, StatusCode::OK);
    let doc_path = dir.path().join("openapi.json");
    std::fs::write(&doc_path, doc.to_string())?;
    let out = tokio::process::Command::new(tools.join("openapi-spec-validator"))
        .arg(&doc_path)
        .output()
        .await?;
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        testkit::describe_output(&out)
    );
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert_pem)?;
    let out = tokio::process::Command::new(tools.join("schemathesis"))
        .args([
            "run",
            "--checks",
            "not_a_server_error",
            "--hypothesis-max-examples",
            "15",
        ])
        .args([
            "--hypothesis-derandomize",
            "--hypothesis-suppress-health-check=all",
            "--request-tls-verify",
        ])
        .arg(&ca)
        .args(["-H", &format!("Authorization: Bearer {admin}")])
        // Logging out would revoke the token the rest of the run uses.
        .args(["--exclude-operation-id", "delete_api_v1_session"])
        .args(["--base-url", &api.base])
        .arg(format!("{}/api/openapi.json", api.base))
        .env("REQUESTS_CA_BUNDLE", &ca)
        // Hypothesis keeps its example database in `.hypothesis/` of the
        // working directory: the test's own, not the source tree.
        .current_dir(dir.path())
        .output()
        .await?;
    assert!(
        out.status.success(),
        "schemathesis: {}",
        testkit::describe_output(&out)
    );
    running.abort();
    drop(ns_guard);
    Ok(())
}

/// With no rule for the caller and no `policy.default`, every operation of
/// the OpenAPI document that needs a token refuses it with Argo CD's
/// message, and the lists come back empty: deny by default, checked route
/// by route from the document so that a new route cannot be left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_no_rule_allows_is_refused_on_every_route() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, "gyro-api-test").await?;
    let ns_guard = testkit::TestNamespace::create(&client, "api-deny").await?;
    let ns = ns_guard.name().to_string();
    let repo = testkit::GitRepo::new("api-deny")?;
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: info\n";
    repo.write("app/configmap.yaml", manifest)?;
    repo.commit("first")?;
    repo.push()?;
    let (api, running, _cache, _, tokens) = start_server(&client, &ns).await?;
    let (admin, alice) = (tokens.admin.as_str(), tokens.alice.as_str());
    let q = format!("?appNamespace={ns}");

    // Something of each kind for the routes to find, made by the admin.
    let app = |name: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"project": "default",
                     "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "app"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}}
        })
    };
    let project = |name: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}})
    };
    let cluster_url = "https://10.0.0.1:6443";
    for (path, body) in [
        ("/api/v1/applications", app("web")),
        ("/api/v1/projects", json!({"project": project("team")})),
        ("/api/v1/repositories", json!({"repo": repo.url()})),
        (
            "/api/v1/clusters",
            json!({"server": cluster_url, "name": "far", "config": {"bearerToken": "t"}}),
        ),
    ] {
        let (status, body) = api.post(path, Some(admin), &body).await?;
        assert_eq!(status, StatusCode::OK, "admin POST {path}: {body}");
    }

    // A valid request for each operation, so that only RBAC can refuse it.
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let body_for = |method: &str, path: &str| -> Option<Value> {
        Some(match (method, path) {
            ("post", "/api/v1/applications") => app("other"),
            ("put", "/api/v1/applications/{name}") => app("web"),
            ("put", "/api/v1/applications/{name}/spec") => app("web")["spec"].clone(),
            ("post", "/api/v1/applications/{name}/diff-local") => json!({
                "files": [{"path": "app/configmap.yaml", "content": manifest}], "path": "app"
            }),
            ("post", "/api/v1/applications/{name}/sync") => json!({}),
            ("post", "/api/v1/applications/{name}/rollback") => json!({"id": 0}),
            ("post", "/api/v1/projects") => json!({"project": project("other")}),
            ("put", "/api/v1/projects/{name}") => json!({"project": project("team")}),
            ("post", "/api/v1/repositories") => json!({"repo": "https://git.example.com/x.git"}),
            ("post", "/api/v1/clusters") => json!({"server": "https://10.0.0.2:6443"}),
            ("post", p) if p.ends_with("/token") => json!({}),
            _ => return None,
        })
    };
    // What every caller may do to itself: log out, change its password.
    let own = [
        ("delete", "/api/v1/session"),
        ("put", "/api/v1/account/password"),
    ];
    let lists = [
        "/api/v1/account",
        "/api/v1/applications",
        "/api/v1/projects",
        "/api/v1/repositories",
        "/api/v1/clusters",
    ];
    let (status, doc) = api.get("/api/openapi.json", None).await?;
    assert_eq!(status, StatusCode::OK);
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            if op.get("security") == Some(&json!([]))
                || own.contains(&(method.as_str(), path.as_str()))
            {
                continue; // public (version, settings, login, userinfo) or the caller's own
            }
            let name = if path.starts_with("/api/v1/projects") {
                "team"
            } else if path.starts_with("/api/v1/account") {
                "admin"
            } else {
                "web"
            };
            let url = path
                .replace("{name}", name)
                .replace("{project}", "team")
                .replace("{role}", "ci")
                .replace("{iat}", "1")
                .replace("{id}", "key")
                .replace("{repo}", &encode(&repo.url()))
                .replace("{server}", &encode(cluster_url));
            let url = format!("{url}{q}");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let body = body_for(method, path);
            let (status, answer) = api.call(m, &url, Some(alice), body.as_ref()).await?;
            if method == "get" && lists.contains(&path.as_str()) {
                assert_eq!(status, StatusCode::OK, "GET {url}: {answer}");
                let items = answer["items"].as_array().map_or(0, Vec::len);
                assert_eq!(
                    items, 0,
                    "GET {url} shows alice what she may not get: {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {url} as a caller without rules: {answer}",
                    method.to_uppercase()
                );
                let message = answer["message"].as_str().unwrap_or_default();
                assert!(
                    message.starts_with("permission denied: ") && message.ends_with("sub: alice"),
                    "{} {url}: {answer}",
                    method.to_uppercase()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} operations in the document");

    // Nothing alice asked for happened.
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    assert!(apps.get_opt("other").await?.is_none());
    assert!(apps.get_opt("web").await?.is_some());
    running.abort();
    drop(ns_guard);
    Ok(())
}
