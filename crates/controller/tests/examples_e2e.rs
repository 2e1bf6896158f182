//! The examples scripts/demo runs (examples/: seed 001's istio-demo dev and
//! prod environments, seed 004's order-service production overlay, and the
//! seeds' Applications and AppProject), synced by the controller in-process
//! against the real test API server from a real Git repository, and then
//! checked for false drift: once synced, further reconciles must find every
//! resource Synced and change nothing, for Services, Deployments (whose
//! specs the API server fills with defaults), namespaces, service accounts,
//! config maps and the Istio custom resources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use api::{AppProject, Application};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use testkit::{GitRepo, TestNamespace};

mod common;
use common::{eventually, wait_app};

const MANAGER: &str = "gyro-examples-test";
const REFRESH: &str = "argocd.argoproj.io/refresh";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every file under `dir`, as paths relative to `root`, sorted.
fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    out.sort();
    Ok(())
}

/// Parses every YAML document of `file` into JSON values.
fn read_yaml(file: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(render::yaml::parse_documents(
        &text,
        &file.display().to_string(),
    )?)
}

/// The stand-in Istio CRDs of examples/prerequisites, installed by
/// server-side apply (idempotent; never removed, like every CRD the tests
/// share), and waited for until Established.
async fn install_istio_crds(client: &Client) -> Result<Vec<String>> {
    let dir = examples_dir().join("prerequisites/istio-crds");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    let mut files = Vec::new();
    files_under(&dir, &dir, &mut files)?;
    for file in files.iter().filter(|f| !f.ends_with("kustomization.yaml")) {
        for doc in read_yaml(&dir.join(file))? {
            let crd: CustomResourceDefinition = serde_json::from_value(doc)?;
            let name = crd.metadata.name.clone().context("CRD without a name")?;
            crds.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await?;
            names.push(name);
        }
    }
    for name in &names {
        eventually(&format!("CRD {name} Established"), async || {
            let crd = crds.get(name).await?;
            Ok(testkit::condition_status(&crd, "Established").as_deref() == Some("True"))
        })
        .await?;
    }
    Ok(names)
}

fn synced_healthy(app: &Application) -> bool {
    let status = app.status.as_ref();
    status
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status.as_str())
        == Some("Synced")
        && status
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status.as_deref())
            == Some("Healthy")
}

fn refresh_pending(app: &Application) -> bool {
    app.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REFRESH))
}

/// The resource version (generation for Deployments, whose status the
/// controller manager keeps writing) of every object the Application lists.
async fn live_versions(
    client: &Client,
    app: &Application,
) -> Result<BTreeMap<String, (Option<String>, Option<i64>)>> {
    let mut out = BTreeMap::new();
    let resources = app
        .status
        .as_ref()
        .and_then(|s| s.resources.clone())
        .unwrap_or_default();
    for r in resources {
        let group = r.group.clone().unwrap_or_default();
        let version = r.version.clone().context("resource without a version")?;
        let kind = r.kind.clone().context("resource without a kind")?;
        let name = r.name.clone().context("resource without a name")?;
        let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &kind);
        let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await?;
        let api: Api<DynamicObject> = match r.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => Api::namespaced_with(client.clone(), ns, &ar),
            _ => Api::all_with(client.clone(), &ar),
        };
        let obj = api.get(&name).await?;
        let key = format!("{kind} {}/{name}", r.namespace.unwrap_or_default());
        let version = if kind == "Deployment" {
            (None, obj.metadata.generation)
        } else {
            (obj.metadata.resource_version, None)
        };
        out.insert(key, version);
    }
    Ok(out)
}

#[tokio::test]
async fn examples_sync_to_healthy_without_false_drift() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, MANAGER).await?;
    let istio_crds = install_istio_crds(&client).await?;
    assert_eq!(istio_crds.len(), 5, "{istio_crds:?}");

    // The Applications live in a test namespace (Argo CD's `argocd`). Their
    // destination namespaces are unique per run too: the cluster is shared
    // with concurrent tests and with scripts/demo, which deploys the same
    // examples to demo-dev, demo-prod and order-service; fixed names would
    // make two runs manage (and prune) each other's objects. TestNamespace
    // also deletes them afterwards, which gyro cannot do yet (no cascading
    // delete). Pre-created namespaces are adopted: the istio-demo
    // environments declare their Namespace object themselves.
    let apps_ns = TestNamespace::create(&client, "examples").await?;
    let dev = TestNamespace::create(&client, "demo-dev").await?;
    let prod = TestNamespace::create(&client, "demo-prod").await?;
    let orders = TestNamespace::create(&client, "order-service").await?;
    let destinations: BTreeMap<&str, &str> = [
        ("demo-dev", dev.name()),
        ("demo-prod", prod.name()),
        ("order-service", orders.name()),
    ]
    .into();

    // The repository scripts/demo makes: examples/ as it is, except that the
    // istio-demo environments name their namespace themselves (kustomize
    // `namespace:` and a Namespace object), so they are renamed in the copy.
    let root = examples_dir();
    let repo = GitRepo::new("gitops")?;
    let mut files = Vec::new();
    files_under(&root, &root, &mut files)?;
    for file in &files {
        let mut text = std::fs::read_to_string(root.join(file))?;
        let rel = file.to_string_lossy().to_string();
        for env in ["demo-dev", "demo-prod"] {
            if rel.starts_with(&format!("istio-demo/ab-testing/environments/{env}/")) {
                text = text.replace(env, destinations[env]);
            }
        }
        repo.write(&rel, &text)?;
    }
    let revision = repo.commit("gitops-demo: istio-demo and order-service")?;
    repo.push()?;

    // Driven by the refresh annotation below, not by the interval.
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![apps_ns.name().to_string()],
        reconcile_interval: Duration::from_secs(120),
        ..controller::Config::new(cache.path(), apps_ns.name())
    };
    let running = tokio::spawn(controller::run(client.clone(), config));

    // The seeds' AppProject and Applications, with the repository URL, the
    // Applications' namespace and their destination namespace replaced, and
    // the Applications' names made unique per run: gyro marks what an
    // Application manages with the label `app.kubernetes.io/instance: <its
    // name>` (Argo CD's label tracking), which is not unique across
    // namespaces. The istio-demo environments contain a cluster-scoped
    // Namespace, and another Application of the same name (scripts/demo's in
    // `argocd`, or an earlier run's whose namespace is still terminating)
    // would find its Namespace among this one's objects and prune it.
    let suffix = apps_ns
        .name()
        .rsplit('-')
        .next()
        .context("test namespace without a suffix")?
        .to_string();
    let projects: Api<AppProject> = Api::namespaced(client.clone(), apps_ns.name());
    let apps: Api<Application> = Api::namespaced(client.clone(), apps_ns.name());
    let (mut seed_names, mut names) = (Vec::new(), Vec::new());
    for file in files.iter().filter(|f| f.starts_with("argocd")) {
        for mut doc in read_yaml(&root.join(file))? {
            doc["metadata"]["namespace"] = json!(apps_ns.name());
            let name = doc["metadata"]["name"]
                .as_str()
                .context("no name")?
                .to_string();
            match doc["kind"].as_str() {
                Some("AppProject") => {
                    doc["spec"]["sourceRepos"] = json!([repo.url()]);
                    let project: AppProject = serde_json::from_value(doc)?;
                    projects
                        .patch(
                            &name,
                            &PatchParams::apply(MANAGER).force(),
                            &Patch::Apply(&project),
                        )
                        .await?;
                }
                Some("Application") => {
                    let unique = format!("{name}-{suffix}");
                    doc["metadata"]["name"] = json!(unique);
                    doc["spec"]["source"]["repoURL"] = json!(repo.url());
                    let dest = doc["spec"]["destination"]["namespace"]
                        .as_str()
                        .context("no destination namespace")?;
                    doc["spec"]["destination"]["namespace"] =
                        json!(destinations.get(dest).context("unexpected destination")?);
                    let app: Application = serde_json::from_value(doc)?;
                    apps.patch(
                        &unique,
                        &PatchParams::apply(MANAGER).force(),
                        &Patch::Apply(&app),
                    )
                    .await?;
                    seed_names.push(name);
                    names.push(unique);
                }
                other => bail!("unexpected kind {other:?} in {}", file.display()),
            }
        }
    }
    assert_eq!(
        seed_names,
        ["istio-demo-dev", "istio-demo-prod", "order-service"]
    );

    // All Synced and Healthy at the pushed commit, after exactly one sync.
    let mut synced = BTreeMap::new();
    for name in &names {
        let app = wait_app(&apps, name, "Synced/Healthy", |a| {
            synced_healthy(a)
                && a.status
                    .as_ref()
                    .and_then(|s| s.sync.as_ref())
                    .and_then(|s| s.revision.as_deref())
                    == Some(revision.as_str())
        })
        .await?;
        synced.insert(name.clone(), app);
    }

    // What the examples cover: the kinds the zero-drift check is about.
    let kinds = |app: &Application| -> Vec<String> {
        let mut k: Vec<String> = app
            .status
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|r| r.kind.clone())
            .collect();
        k.sort();
        k.dedup();
        k
    };
    assert_eq!(
        kinds(&synced[&names[0]]),
        [
            "AuthorizationPolicy",
            "Deployment",
            "DestinationRule",
            "Gateway",
            "Namespace",
            "PeerAuthentication",
            "Service",
            "ServiceAccount",
            "VirtualService"
        ]
    );
    assert_eq!(
        kinds(&synced[&names[2]]),
        ["ConfigMap", "Deployment", "Service"]
    );
    // The Deployments were written without the fields the API server
    // defaults; live, they have them (so a naive diff would see drift).
    let live: Deployment = Api::namespaced(client.clone(), orders.name())
        .get("order-service")
        .await?;
    let spec = live.spec.context("no spec")?;
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.replicas, Some(3));

    let before: BTreeMap<_, _> = {
        let mut m = BTreeMap::new();
        for (name, app) in &synced {
            m.insert(name.clone(), live_versions(&client, app).await?);
        }
        m
    };

    // A few more reconciles, each forced by the refresh annotation and
    // observed by its removal (the controller removes it in the status
    // patch of that reconcile).
    for round in 0..3 {
        for name in &names {
            let patch = json!({"metadata": {"annotations": {REFRESH: "normal"}}});
            apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        for name in &names {
            wait_app(&apps, name, &format!("refresh {round} done"), |a| {
                !refresh_pending(a)
            })
            .await?;
        }
    }

    for name in &names {
        let app = apps.get(name).await?;
        let first = &synced[name];
        let status = app.status.as_ref().context("no status")?;
        assert!(synced_healthy(&app), "{name}: {:?}", status.sync);
        let out_of_sync: Vec<_> = status
            .resources
            .iter()
            .flatten()
            .filter(|r| r.status.as_deref() != Some("Synced"))
            .collect();
        assert!(
            out_of_sync.is_empty(),
            "{name}: false drift: {out_of_sync:?}"
        );
        assert!(
            status.conditions.is_none(),
            "{name}: {:?}",
            status.conditions
        );
        let history = status.history.clone().unwrap_or_default();
        // With ApplyOutOfSyncOnly, a sync applies only what was OutOfSync:
        // the last one's resources are what drifted.
        let last_applied: Vec<String> = status
            .operation_state
            .iter()
            .filter_map(|o| o.sync_result.as_ref())
            .flat_map(|r| r.resources.iter().flatten())
            .map(|r| format!("{} {}/{}: {:?}", r.kind, r.namespace, r.name, r.message))
            .collect();
        assert_eq!(
            history.len(),
            1,
            "{name}: synced {} times at {revision}; the last sync applied {last_applied:#?}",
            history.len()
        );
        assert_eq!(history[0].revision.as_deref(), Some(revision.as_str()));
        let first_op = first
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref());
        assert_eq!(
            status
                .operation_state
                .as_ref()
                .map(|o| (&o.phase, &o.started_at)),
            first_op.map(|o| (&o.phase, &o.started_at)),
            "{name}: no operation after the first sync"
        );
        // Nothing was written to the objects either.
        assert_eq!(
            live_versions(&client, &app).await?,
            before[name],
            "{name}: live objects changed without a change in Git"
        );
    }

    assert!(
        !running.is_finished(),
        "the controller stopped: {running:?}"
    );
    running.abort();
    Ok(())
}
