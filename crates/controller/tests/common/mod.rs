//! What the controller's end-to-end tests share: the Argo CD CRDs, a
//! small Kustomize app (ConfigMap, Deployment, Service), the controller run
//! in-process, and waits on Applications.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use api::Application;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

pub const MANAGER: &str = "gyro-api-test";
pub const TRACKING: &str = "app.kubernetes.io/instance";

/// Argo CD's CRDs, installed idempotently and never removed: they are
/// cluster-wide and shared by every test.
pub async fn install_crds(client: &Client) -> Result<()> {
    Ok(api::crd::install(client, MANAGER).await?)
}

/// The test cluster with Argo CD's CRDs, and a fresh namespace (deleted
/// when the returned guard is dropped).
pub async fn test_namespace(prefix: &str) -> Result<(Client, testkit::TestNamespace)> {
    let client = testkit::client().await?;
    install_crds(&client).await?;
    let namespace = testkit::TestNamespace::create(&client, prefix).await?;
    Ok((client, namespace))
}

pub const BASE_KUSTOMIZATION: &str =
    "resources:\n- configmap.yaml\n- deployment.yaml\n- service.yaml\n";
pub const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: info\n";
pub const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
";
pub const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
";
pub const OVERLAY: &str = "resources:\n- ../../base\ncommonAnnotations:\n  team: shop\n";

/// An Application as the seeds write them, with no sync policy: project
/// `default`, `path` at the repository's `main`, the in-cluster
/// destination namespace `ns`. Tests set what else they need
/// (`app["spec"]["syncPolicy"] = ...`).
pub fn application(ns: &str, name: &str, repo_url: &str, path: &str) -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}
        }
    })
}

/// Runs the controller in-process for the Applications (and repository
/// Secrets) of `ns`; keep the cache directory alive while it runs.
pub fn start_controller(
    client: &Client,
    ns: &str,
    interval: Duration,
) -> Result<(
    tokio::task::JoinHandle<Result<(), controller::Error>>,
    tempfile::TempDir,
)> {
    logs();
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![ns.to_string()],
        reconcile_interval: interval,
        ..controller::Config::new(cache.path(), ns)
    };
    Ok((tokio::spawn(controller::run(client.clone(), config)), cache))
}

/// Polls `check` until it holds, for up to two minutes.
pub async fn eventually(what: &str, check: impl AsyncFn() -> Result<bool>) -> Result<()> {
    let start = Instant::now();
    while !check().await? {
        if start.elapsed() > Duration::from_secs(120) {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// A merge patch as `kubectl edit` makes it (its own field manager).
pub async fn edit_by_hand<K>(api: &Api<K>, name: &str, patch: &serde_json::Value) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = PatchParams {
        field_manager: Some("kubectl-edit".to_string()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Merge(patch)).await?;
    Ok(())
}

/// Polls the Application until `done` holds, or fails with its last status.
pub async fn wait_app(
    apps: &Api<Application>,
    name: &str,
    what: &str,
    mut done: impl FnMut(&Application) -> bool,
) -> Result<Application> {
    let start = Instant::now();
    loop {
        let app = apps.get(name).await?;
        if done(&app) {
            return Ok(app);
        }
        if start.elapsed() > Duration::from_secs(180) {
            bail!(
                "timed out waiting for {name} {what}; operation: {}; status: {}",
                serde_json::to_string_pretty(&app.operation)?,
                serde_json::to_string_pretty(&app.status)?
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn sync_status(app: &Application) -> (&str, &str, &str) {
    let s = app.status.as_ref();
    (
        s.and_then(|s| s.sync.as_ref())
            .map_or("", |s| s.status.as_str()),
        s.and_then(|s| s.sync.as_ref())
            .and_then(|s| s.revision.as_deref())
            .unwrap_or(""),
        s.and_then(|s| s.health.as_ref())
            .and_then(|h| h.status.as_deref())
            .unwrap_or(""),
    )
}

pub async fn refresh(apps: &Api<Application>, name: &str) -> Result<()> {
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Applies an Application (server-side, as [`MANAGER`]).
pub async fn apply_app(apps: &Api<Application>, app: &serde_json::Value) -> Result<()> {
    let app: Application = serde_json::from_value(app.clone())?;
    let name = app.metadata.name.clone().unwrap_or_default();
    apps.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&app),
    )
    .await?;
    Ok(())
}

/// The controller's logs on the test's output, filtered by `GYRO_LOG`
/// (e.g. `GYRO_LOG=controller=debug cargo test ... -- --nocapture`).
pub fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GYRO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
