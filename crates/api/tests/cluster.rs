//! Against the real API server: the generated CRDs install and become
//! Established, every seed manifest is accepted unchanged and reads back
//! through the typed API with nothing pruned, `kubectl get applications`
//! shows Argo CD's columns, status is written with the object (no status
//! subresource), and the schema rejects a wrongly typed field by name.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{Context, Result};
use api::{AppProject, Application, ApplicationStatus, HealthStatus, SyncStatus};
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::json;
use testkit::TestNamespace;

const MANAGER: &str = "gyro-api-test";

/// Argo CD's CRDs, installed idempotently and never removed: they are
/// cluster-wide and shared by every test.
async fn install_crds(client: &Client) -> Result<()> {
    Ok(api::crd::install(client, MANAGER).await?)
}

/// The raw API for a seed's kind, so the manifest is sent exactly as
/// written rather than through the types under test.
fn raw_api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(api::GROUP, api::VERSION, kind);
    let plural = if kind == "Application" {
        "applications"
    } else {
        "appprojects"
    };
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// Removes the finalizer a seed carries, so the test namespace can go: no
/// controller runs here to remove it.
async fn drop_finalizers(apps: &Api<Application>, name: &str) -> Result<()> {
    let patch = json!({"metadata": {"finalizers": null}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[tokio::test]
async fn every_seed_manifest_is_accepted_and_reads_back_through_the_types() -> Result<()> {
    let client = testkit::client().await?;
    install_crds(&client).await?;
    let ns = TestNamespace::create(&client, "api-seeds").await?;
    let apps: Api<Application> = Api::namespaced(client.clone(), ns.name());
    let projects: Api<AppProject> = Api::namespaced(client.clone(), ns.name());

    for seed in common::seeds() {
        let mut doc = seed.doc.clone();
        // The one change: the seeds' `argocd` namespace becomes the test's.
        doc["metadata"]["namespace"] = json!(ns.name());
        let raw = raw_api(&client, ns.name(), seed.kind());
        raw.patch(
            seed.name(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&doc),
        )
        .await
        .with_context(|| format!("applying {}", seed.file))?;

        // The server kept every field the seed wrote (the CRD schema pruned
        // nothing)...
        let stored = serde_json::to_value(raw.get(seed.name()).await?)?;
        common::contains(&stored, &doc, "")
            .map_err(|e| anyhow::anyhow!("{}: the server dropped or changed {e}", seed.file))?;

        // ...and the typed API reads it and loses nothing either.
        let typed = match seed.kind() {
            "Application" => serde_json::to_value(apps.get(seed.name()).await?)?,
            _ => serde_json::to_value(projects.get(seed.name()).await?)?,
        };
        for part in ["spec", "status", "operation"] {
            assert_eq!(
                typed.get(part),
                stored.get(part),
                "{}: {part} differs",
                seed.file
            );
        }
        if seed.kind() == "Application" {
            drop_finalizers(&apps, seed.name()).await?;
        }
    }

    // Key fields, read through the typed API.
    let dev = apps.get("istio-demo-dev").await?;
    let policy = dev.spec.sync_policy.context("syncPolicy")?;
    assert_eq!(policy.automated.and_then(|a| a.self_heal), Some(true));
    assert_eq!(
        policy
            .retry
            .and_then(|r| r.backoff)
            .and_then(|b| b.max_duration)
            .as_deref(),
        Some("3m0s")
    );
    assert_eq!(
        dev.spec.sources,
        Some(vec![]),
        "an empty `sources` list is kept"
    );

    let project = projects.get("istio-demo").await?;
    let whitelist = project
        .spec
        .cluster_resource_whitelist
        .context("clusterResourceWhitelist")?;
    assert_eq!(
        (whitelist[0].group.as_str(), whitelist[0].kind.as_str()),
        ("*", "*")
    );
    Ok(())
}

#[tokio::test]
async fn every_field_of_the_typed_shape_is_accepted_and_kept_by_the_server() -> Result<()> {
    // What the types can write, the CRD schema must accept and keep:
    // status and operation included (the controller writes both).
    let client = testkit::client().await?;
    install_crds(&client).await?;
    let ns = TestNamespace::create(&client, "api-full").await?;
    for file in ["application.json", "appproject.json"] {
        let mut doc = common::full(file);
        doc["metadata"]["namespace"] = json!(ns.name());
        let kind = doc["kind"].as_str().context("kind")?.to_string();
        let name = doc["metadata"]["name"]
            .as_str()
            .context("name")?
            .to_string();
        let raw = raw_api(&client, ns.name(), &kind);
        raw.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&doc),
        )
        .await
        .with_context(|| format!("applying testdata/full/{file}"))?;
        let stored = serde_json::to_value(raw.get(&name).await?)?;
        common::contains(&stored, &doc, "")
            .map_err(|e| anyhow::anyhow!("{file}: the server dropped or changed {e}"))?;
    }
    let app = Api::<Application>::namespaced(client.clone(), ns.name())
        .get("full")
        .await?;
    let state = app
        .status
        .and_then(|s| s.operation_state)
        .context("operationState")?;
    assert_eq!(state.phase, "Succeeded");
    assert_eq!(state.retry_count, Some(1));
    Ok(())
}

#[tokio::test]
async fn multi_source_ignore_differences_and_sync_windows_survive_the_server() -> Result<()> {
    let client = testkit::client().await?;
    install_crds(&client).await?;
    let ns = TestNamespace::create(&client, "api-fields").await?;
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "multi"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "sources": [
                {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.*",
                 "helm": {"valueFiles": ["$values/web.yaml"],
                          "valuesObject": {"any": {"shape": [1, "two", {"three": true}]}}}},
                {"repoURL": "https://git.example.com/values.git", "ref": "values"}
            ],
            "ignoreDifferences": [{"group": "apps", "kind": "Deployment",
                                   "jsonPointers": ["/spec/replicas"],
                                   "jqPathExpressions": [".spec.template.metadata.annotations"],
                                   "managedFieldsManagers": ["kube-controller-manager"]}],
            "syncPolicy": {"automated": {"enabled": false}}
        }
    });
    let project = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "windows"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "syncWindows": [{"kind": "deny", "schedule": "0 22 * * *", "duration": "8h",
                             "applications": ["*-prod"], "manualSync": true, "timeZone": "Europe/Berlin"}],
            "roles": [{"name": "ci", "policies": ["p, proj:windows:ci, applications, sync, windows/*, allow"],
                       "jwtTokens": [{"iat": 1700000000, "id": "t1"}]}],
            "orphanedResources": {"warn": true}
        }
    });
    let ssa = PatchParams::apply(MANAGER).force();
    raw_api(&client, ns.name(), "Application")
        .patch("multi", &ssa, &Patch::Apply(&app))
        .await?;
    raw_api(&client, ns.name(), "AppProject")
        .patch("windows", &ssa, &Patch::Apply(&project))
        .await?;

    let read = Api::<Application>::namespaced(client.clone(), ns.name())
        .get("multi")
        .await?;
    let sources = read.spec.sources.clone().context("sources")?;
    assert_eq!(read.sources().len(), 2);
    assert_eq!(sources[1].ref_.as_deref(), Some("values"));
    let values = sources[0]
        .helm
        .as_ref()
        .and_then(|h| h.values_object.clone());
    assert_eq!(
        values,
        Some(json!({"any": {"shape": [1, "two", {"three": true}]}})),
        "valuesObject kept as written"
    );
    let ignore = &read.spec.ignore_differences.context("ignoreDifferences")?[0];
    assert_eq!(
        ignore.jq_path_expressions.as_deref(),
        Some(&[".spec.template.metadata.annotations".to_string()][..])
    );
    assert_eq!(
        ignore.managed_fields_managers.as_deref(),
        Some(&["kube-controller-manager".to_string()][..])
    );
    let automated = read.spec.sync_policy.and_then(|p| p.automated);
    assert_eq!(automated.and_then(|a| a.enabled), Some(false));
    // A field the schema does not declare is pruned (server-side apply
    // refuses it outright; a merge patch gets it dropped with a warning),
    // while valuesObject above kept its free-form content.
    let raw = raw_api(&client, ns.name(), "Application");
    let unknown = json!({"spec": {"unknownSpecField": "x"}});
    raw.patch("multi", &PatchParams::default(), &Patch::Merge(&unknown))
        .await?;
    let stored = raw.get("multi").await?;
    assert!(
        stored.data["spec"].get("unknownSpecField").is_none(),
        "unknown spec fields are pruned"
    );

    let read = Api::<AppProject>::namespaced(client.clone(), ns.name())
        .get("windows")
        .await?;
    let window = &read.spec.sync_windows.context("syncWindows")?[0];
    assert_eq!(window.kind.as_deref(), Some("deny"));
    assert_eq!(window.manual_sync, Some(true));
    assert_eq!(window.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        read.spec.roles.context("roles")?[0]
            .jwt_tokens
            .as_ref()
            .map(|t| t[0].iat),
        Some(1700000000)
    );
    Ok(())
}

#[tokio::test]
async fn status_is_written_with_the_object_and_kubectl_shows_argo_cd_columns() -> Result<()> {
    let client = testkit::client().await?;
    install_crds(&client).await?;
    let ns = TestNamespace::create(&client, "api-columns").await?;
    let apps: Api<Application> = Api::namespaced(client.clone(), ns.name());

    let mut app: Application = serde_json::from_value(json!({
        "metadata": {"name": "guestbook"},
        "spec": {"project": "default",
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
                 "source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook"}}
    }))?;
    app.status = Some(ApplicationStatus {
        sync: Some(SyncStatus {
            status: "Synced".into(),
            revision: Some("0123456789abcdef".into()),
            ..Default::default()
        }),
        health: Some(HealthStatus {
            status: Some("Healthy".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    // A plain apply of the whole object stores status too: with a status
    // subresource the server would drop it here.
    apps.patch(
        "guestbook",
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&app),
    )
    .await?;
    let read = apps.get("guestbook").await?;
    let status = read
        .status
        .context("status was not stored with the object")?;
    assert_eq!(status.sync.map(|s| s.status).as_deref(), Some("Synced"));

    let kubectl = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new(testkit::tools::tool("kubectl"))
            .env("KUBECONFIG", testkit::kubeconfig_path()?)
            .args(args)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "kubectl {args:?}: {}",
            testkit::describe_output(&out)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    let table = kubectl(&["get", "applications", "-n", ns.name()])?;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "SYNC STATUS", "HEALTH STATUS"],
        "{table}"
    );
    assert_eq!(lines[1], ["guestbook", "Synced", "Healthy"], "{table}");

    let wide = kubectl(&["get", "app", "-n", ns.name(), "-o", "wide"])?;
    let header: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "SYNC STATUS",
            "HEALTH STATUS",
            "REVISION",
            "PROJECT"
        ],
        "{wide}"
    );
    assert!(
        wide.contains("0123456789abcdef") && wide.contains("default"),
        "{wide}"
    );

    // The short names resolve.
    kubectl(&["get", "apps.argoproj.io", "-n", ns.name()])?;
    kubectl(&["get", "appproj", "-n", ns.name()])?;
    Ok(())
}

#[tokio::test]
async fn the_server_rejects_a_wrongly_typed_field_by_name() -> Result<()> {
    let client = testkit::client().await?;
    install_crds(&client).await?;
    let ns = TestNamespace::create(&client, "api-invalid").await?;
    let raw = raw_api(&client, ns.name(), "Application");
    let ssa = PatchParams::apply(MANAGER).force();

    let wrong_type = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "bad"},
        "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc"},
                 "source": {"repoURL": "https://git.example.com/apps.git", "path": 42}}
    });
    let err = raw
        .patch("bad", &ssa, &Patch::Apply(&wrong_type))
        .await
        .expect_err("accepted a numeric path");
    let message = err.to_string();
    assert!(
        message.contains("spec.source.path") && message.contains("string"),
        "{message}"
    );

    let missing = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "bad"},
        "spec": {"project": "default", "source": {"path": "x"}}
    });
    let err = raw
        .patch("bad", &ssa, &Patch::Apply(&missing))
        .await
        .expect_err("accepted a spec without destination");
    let message = err.to_string();
    assert!(
        message.contains("spec.destination") && message.contains("spec.source.repoURL"),
        "{message}"
    );

    let window = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "bad"},
        "spec": {"syncWindows": [{"kind": "deny", "manualSync": "yes"}]}
    });
    let err = raw_api(&client, ns.name(), "AppProject")
        .patch("bad", &ssa, &Patch::Apply(&window))
        .await
        .expect_err("accepted a string manualSync");
    let message = err.to_string();
    assert!(
        message.contains("spec.syncWindows[0].manualSync"),
        "{message}"
    );
    Ok(())
}
