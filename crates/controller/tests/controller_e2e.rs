//! The controller, run in-process against the real test API server and a
//! real Git repository (`file://`): an automated Application is synced and
//! healthy, hand-made drift is reverted, a new commit is synced and pruned,
//! and a broken commit is reported without touching the cluster.

use std::time::Duration;

use anyhow::{Context as _, Result};
use api::Application;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use testkit::{GitRepo, TestNamespace};

mod common;
use common::*;

#[tokio::test]
async fn automated_application_syncs_heals_prunes_and_reports_errors() -> Result<()> {
    let (client, namespace) = test_namespace("controller").await?;
    let ns = namespace.name().to_string();

    let repo = GitRepo::new("shop")?;
    repo.write("base/kustomization.yaml", BASE_KUSTOMIZATION)?
        .write("base/configmap.yaml", CONFIGMAP)?
        .write("base/deployment.yaml", DEPLOYMENT)?
        .write("base/service.yaml", SERVICE)?
        .write("overlays/test/kustomization.yaml", OVERLAY)?;
    let first = repo.commit("shop")?;
    repo.push()?;

    // Long enough that the steps below are driven by refreshes.
    let (running, _cache) = start_controller(&client, &ns, Duration::from_secs(60))?;

    // Written like the seeds: project default, automated prune + selfHeal.
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": ns},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "overlays/test"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        }
    }))?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apps.patch(
        "shop",
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&app),
    )
    .await?;

    // (a) Synced and Healthy, objects tracked, history recorded.
    let synced = wait_app(&apps, "shop", "Synced/Healthy", |a| {
        sync_status(a) == ("Synced", first.as_str(), "Healthy")
    })
    .await?;
    let status = synced.status.clone().context("no status")?;
    let history = status.history.context("no history")?;
    assert_eq!(history[0].id, 0);
    assert_eq!(history[0].revision.as_deref(), Some(first.as_str()));
    let op = status.operation_state.context("no operationState")?;
    assert_eq!(op.phase, "Succeeded");
    assert_eq!(
        op.sync_result.as_ref().map(|r| r.revision.as_str()),
        Some(first.as_str())
    );
    let resources = status.resources.context("no resources")?;
    assert_eq!(resources.len(), 3, "{resources:?}");
    assert!(
        resources
            .iter()
            .all(|r| r.status.as_deref() == Some("Synced"))
    );
    assert!(status.conditions.is_none(), "{:?}", status.conditions);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let label =
        |m: &kube::api::ObjectMeta| m.labels.as_ref().and_then(|l| l.get(TRACKING)).cloned();
    assert_eq!(
        label(&deployments.get("web").await?.metadata).as_deref(),
        Some("shop")
    );
    assert_eq!(
        label(&services.get("web").await?.metadata).as_deref(),
        Some("shop")
    );
    assert_eq!(
        label(&configmaps.get("web-config").await?.metadata).as_deref(),
        Some("shop")
    );

    // (b) Scaling by hand is drift; selfHeal reverts it on the next reconcile.
    let scale = json!({"spec": {"replicas": 5}});
    edit_by_hand(&deployments, "web", &scale).await?;
    refresh(&apps, "shop").await?;
    eventually(
        "replicas back to 2 after a refresh with selfHeal",
        async || Ok(deployments.get("web").await?.spec.and_then(|s| s.replicas) == Some(2)),
    )
    .await?;
    let healed = wait_app(&apps, "shop", "Synced after self-heal", |a| {
        sync_status(a).0 == "Synced"
            && a.metadata
                .annotations
                .as_ref()
                .is_none_or(|an| !an.contains_key("argocd.argoproj.io/refresh"))
    })
    .await?;
    assert_eq!(
        healed.status.and_then(|s| s.history).map(|h| h.len()),
        Some(2),
        "the self-heal sync is recorded in the history"
    );

    // (c) A commit that removes the Service and changes the ConfigMap.
    repo.write(
        "base/kustomization.yaml",
        "resources:\n- configmap.yaml\n- deployment.yaml\n",
    )?
    .write("base/configmap.yaml", &CONFIGMAP.replace("info", "debug"))?
    .remove("base/service.yaml")?;
    let second = repo.commit("drop the service")?;
    repo.push()?;
    refresh(&apps, "shop").await?;
    let after = wait_app(&apps, "shop", "second revision synced", |a| {
        sync_status(a) == ("Synced", second.as_str(), "Healthy")
    })
    .await?;
    let cm = configmaps.get("web-config").await?;
    assert_eq!(
        cm.data.and_then(|d| d.get("LOG_LEVEL").cloned()).as_deref(),
        Some("debug")
    );
    eventually("the Service removed from Git pruned", async || {
        Ok(services.get_opt("web").await?.is_none())
    })
    .await?;
    let status = after.status.context("no status")?;
    assert_eq!(status.resources.map(|r| r.len()), Some(2));
    let pruned = status
        .operation_state
        .and_then(|o| o.sync_result)
        .and_then(|r| r.resources)
        .unwrap_or_default();
    assert!(
        pruned
            .iter()
            .any(|r| r.kind == "Service" && r.status.as_deref() == Some("Pruned")),
        "{pruned:?}"
    );

    // (d) Broken YAML: a ComparisonError naming the file and line; nothing
    // in the cluster changes.
    repo.write(
        "base/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: [unclosed\n",
    )?;
    let broken = repo.commit("broken yaml")?;
    repo.push()?;
    refresh(&apps, "shop").await?;
    let failed = wait_app(&apps, "shop", "ComparisonError", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "ComparisonError"))
    })
    .await?;
    let status = failed.status.context("no status")?;
    let condition = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "ComparisonError")
        .context("no condition")?;
    assert!(
        condition.message.contains("configmap.yaml"),
        "{}",
        condition.message
    );
    assert!(condition.message.contains("line"), "{}", condition.message);
    // Unknown, at the commit that failed to render.
    let sync = status.sync.context("no sync status")?;
    assert_eq!(sync.status, "Unknown");
    assert_eq!(sync.revision.as_deref(), Some(broken.as_str()));
    let history = status.history.unwrap_or_default();
    assert!(
        history
            .iter()
            .all(|h| h.revision.as_deref() != Some(broken.as_str()))
    );
    let cm = configmaps.get("web-config").await?;
    assert_eq!(
        cm.data.and_then(|d| d.get("LOG_LEVEL").cloned()).as_deref(),
        Some("debug")
    );
    assert!(deployments.get_opt("web").await?.is_some());

    // (e) A commit the API server rejects (a port out of range): the sync
    // fails, reported as a SyncError, a Failed operation and a Warning Event;
    // nothing is added to the history.
    repo.write("base/configmap.yaml", &CONFIGMAP.replace("info", "debug"))?
        .write(
            "base/kustomization.yaml",
            "resources:\n- configmap.yaml\n- deployment.yaml\n- service.yaml\n",
        )?
        .write(
            "base/service.yaml",
            &SERVICE.replace("port: 80", "port: 70000"),
        )?;
    let rejected = repo.commit("bad port")?;
    repo.push()?;
    refresh(&apps, "shop").await?;
    let failed = wait_app(&apps, "shop", "a failed sync", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| {
                o.phase == "Failed"
                    && o.sync_result.as_ref().map(|r| r.revision.as_str())
                        == Some(rejected.as_str())
            })
    })
    .await?;
    let status = failed.status.context("no status")?;
    let conditions = status.conditions.unwrap_or_default();
    let sync_error = conditions
        .iter()
        .find(|c| c.type_ == "SyncError")
        .with_context(|| format!("no SyncError in {conditions:?}"))?;
    assert!(
        sync_error.message.contains("Service"),
        "{}",
        sync_error.message
    );
    assert_eq!(status.sync.map(|s| s.status).as_deref(), Some("OutOfSync"));
    assert!(
        status
            .history
            .unwrap_or_default()
            .iter()
            .all(|h| h.revision.as_deref() != Some(rejected.as_str()))
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let reasons: Vec<(String, String)> = events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("shop"))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
        .collect();
    assert!(
        reasons.contains(&("Normal".to_string(), "OperationCompleted".to_string())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("Warning".to_string(), "OperationCompleted".to_string())),
        "{reasons:?}"
    );

    running.abort();
    Ok(())
}

#[tokio::test]
async fn periodic_reconcile_heals_without_refresh_and_undeclared_clusters_are_refused() -> Result<()>
{
    let (client, namespace) = test_namespace("controller-tick").await?;
    let ns = namespace.name().to_string();

    // An object elsewhere that happens to carry the same instance label
    // (Helm charts set it to their release name) is not the Application's.
    let other = TestNamespace::create(&client, "controller-other").await?;
    let bystander: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "bystander", "labels": {TRACKING: "tick"}},
        "data": {"a": "b"}
    }))?;
    let other_configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), other.name());
    other_configmaps
        .create(&Default::default(), &bystander)
        .await?;

    let repo = GitRepo::new("tick")?;
    repo.write("app/configmap.yaml", CONFIGMAP)?;
    repo.commit("config")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, Duration::from_secs(2))?;

    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    for (name, server) in [
        ("tick", "https://kubernetes.default.svc"),
        ("remote", "https://prod.example.com"),
    ] {
        let app: Application = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo.url(), "path": "app"},
                "destination": {"server": server, "namespace": ns},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
            }
        }))?;
        apps.patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&app),
        )
        .await?;
    }
    let tick = wait_app(&apps, "tick", "Synced", |a| sync_status(a).0 == "Synced").await?;
    let resources = tick.status.and_then(|s| s.resources).unwrap_or_default();
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(resources[0].name.as_deref(), Some("web-config"));
    assert!(other_configmaps.get_opt("bystander").await?.is_some());

    // A directory source: the ConfigMap is tracked; an edit by hand is
    // reverted by the periodic reconcile alone (no refresh annotation).
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let edit = json!({"data": {"LOG_LEVEL": "trace"}});
    edit_by_hand(&configmaps, "web-config", &edit).await?;
    eventually("LOG_LEVEL reverted by the periodic reconcile", async || {
        let data = configmaps.get("web-config").await?.data;
        Ok(data.and_then(|d| d.get("LOG_LEVEL").cloned()).as_deref() == Some("info"))
    })
    .await?;

    // Still not the Application's after several prune-enabled syncs.
    assert!(other_configmaps.get_opt("bystander").await?.is_some());

    // A cluster no Secret declares: a condition, nothing synced.
    let remote = wait_app(&apps, "remote", "InvalidSpecError", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "InvalidSpecError"))
    })
    .await?;
    let status = remote.status.context("no status")?;
    let message = &status.conditions.unwrap_or_default()[0].message;
    assert!(
        message.starts_with(
            "spec.destination.server: there are no clusters with this URL: https://prod.example.com"
        ),
        "{message}"
    );
    assert!(status.operation_state.is_none());
    assert!(status.history.is_none());

    running.abort();
    Ok(())
}
