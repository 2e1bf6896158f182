//! Sync operations and cascading deletion, with the controller run
//! in-process against the real test API server and a real Git repository
//! (`file://`): manual syncs written to `Application.operation` (to the
//! head and to an older revision, a dry run, a partial sync), a rollback to
//! a history id, retries of a failed sync (fixed out of band, or failing for
//! good), and the resources finalizer.

use std::time::Duration;

use anyhow::{Context as _, Result};
use api::Application;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testkit::{GitRepo, TestNamespace};

mod common;
use common::{DEPLOYMENT, MANAGER, eventually, start_controller, wait_app};

/// Long: every step below is driven by an operation, a refresh or a retry,
/// not by the interval.
const INTERVAL: Duration = Duration::from_secs(60);

fn configmap(level: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  LOG_LEVEL: {level}\n"
    )
}

async fn create_app(apps: &Api<Application>, app: Value) -> Result<()> {
    let app: Application = serde_json::from_value(app)?;
    let name = app.metadata.name.clone().context("no name")?;
    apps.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&app),
    )
    .await?;
    Ok(())
}

/// Writes `operation` as `argocd app sync` / `rollback` do.
async fn request(apps: &Api<Application>, name: &str, operation: Value) -> Result<()> {
    let patch = json!({"operation": operation});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn refresh(apps: &Api<Application>, name: &str) -> Result<()> {
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn phase(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .map_or("", |o| o.phase.as_str())
}

fn history_len(app: &Application) -> usize {
    app.status
        .as_ref()
        .and_then(|s| s.history.as_ref())
        .map_or(0, Vec::len)
}

/// A finished operation: the operation field is cleared, the phase final
/// and the history has `entries` entries.
fn finished(app: &Application, phase_is: &str, entries: usize) -> bool {
    app.operation.is_none() && phase(app) == phase_is && history_len(app) == entries
}

/// The sync of the operation the last operation state ran.
fn requested(app: &Application) -> Option<api::SyncOperation> {
    app.status
        .as_ref()?
        .operation_state
        .as_ref()?
        .operation
        .sync
        .clone()
}

async fn level(configmaps: &Api<ConfigMap>) -> Result<Option<String>> {
    Ok(configmaps
        .get_opt("web-config")
        .await?
        .and_then(|c| c.data)
        .and_then(|d| d.get("LOG_LEVEL").cloned()))
}

fn sync_of(app: &Application) -> (String, String) {
    let sync = app.status.as_ref().and_then(|s| s.sync.as_ref());
    (
        sync.map(|s| s.status.clone()).unwrap_or_default(),
        sync.and_then(|s| s.revision.clone()).unwrap_or_default(),
    )
}

#[tokio::test]
async fn manual_sync_sync_to_an_older_revision_and_rollback() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, MANAGER).await?;
    let ns = TestNamespace::create(&client, "operations").await?;
    let ns = ns.name().to_string();
    let repo = GitRepo::new("manual")?;
    repo.write("app/configmap.yaml", &configmap("info"))?
        .write("app/deployment.yaml", DEPLOYMENT)?;
    let c1 = repo.commit("info")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    create_app(
        &apps,
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "manual", "namespace": ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "app"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}
            }
        }),
    )
    .await?;

    // Without automated sync nothing is applied: OutOfSync, no operation.
    let app = wait_app(&apps, "manual", "OutOfSync at c1", |a| {
        sync_of(a) == ("OutOfSync".into(), c1.clone())
    })
    .await?;
    assert_eq!(phase(&app), "");
    assert_eq!(level(&configmaps).await?, None);

    // (a) A manual sync, as `argocd app sync manual` writes it.
    request(
        &apps,
        "manual",
        json!({"sync": {"prune": true, "syncStrategy": {"hook": {}}},
               "initiatedBy": {"username": "alice"}}),
    )
    .await?;
    let app = wait_app(&apps, "manual", "the manual sync", |a| {
        finished(a, "Succeeded", 1)
    })
    .await?;
    let status = app.status.clone().context("no status")?;
    let history = status.history.clone().context("no history")?;
    assert_eq!(history[0].id, 0);
    assert_eq!(history[0].revision.as_deref(), Some(c1.as_str()));
    let by = history[0].initiated_by.clone().context("no initiatedBy")?;
    assert_eq!(by.username.as_deref(), Some("alice"));
    assert_ne!(by.automated, Some(true));
    let op = status.operation_state.context("no operationState")?;
    assert_eq!(
        op.operation
            .initiated_by
            .and_then(|i| i.username)
            .as_deref(),
        Some("alice")
    );
    let result = op.sync_result.context("no syncResult")?;
    assert_eq!(result.revision, c1);
    let synced: Vec<_> = result
        .resources
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.kind, r.status.unwrap_or_default()))
        .collect();
    assert!(
        synced.contains(&("ConfigMap".to_string(), "Synced".to_string())),
        "{synced:?}"
    );
    assert!(op.finished_at.is_some());
    assert_eq!(level(&configmaps).await?.as_deref(), Some("info"));
    wait_app(&apps, "manual", "Synced", |a| {
        sync_of(a) == ("Synced".into(), c1.clone())
    })
    .await?;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let reasons: Vec<(String, String, String)> = events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("manual"))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(t, r, n)| t == "Normal" && r == "OperationStarted" && n.contains("alice")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(t, r, n)| t == "Normal"
            && r == "OperationCompleted"
            && n == &format!("Sync operation to {c1} succeeded")),
        "{reasons:?}"
    );

    // A new commit is only reported, not synced (no automated policy) ...
    repo.write("app/configmap.yaml", &configmap("debug"))?;
    let c2 = repo.commit("debug")?;
    repo.push()?;
    refresh(&apps, "manual").await?;
    wait_app(&apps, "manual", "OutOfSync at c2", |a| {
        sync_of(a) == ("OutOfSync".into(), c2.clone())
    })
    .await?;
    assert_eq!(level(&configmaps).await?.as_deref(), Some("info"));
    // ... until a sync is requested.
    request(
        &apps,
        "manual",
        json!({"sync": {}, "initiatedBy": {"username": "alice"}}),
    )
    .await?;
    wait_app(&apps, "manual", "the sync to c2", |a| {
        finished(a, "Succeeded", 2)
    })
    .await?;
    assert_eq!(level(&configmaps).await?.as_deref(), Some("debug"));

    // (b) A sync to an older revision (`argocd app sync --revision`): the
    // cluster is at c1, the status OutOfSync against the head c2.
    request(
        &apps,
        "manual",
        json!({"sync": {"revision": c1}, "initiatedBy": {"username": "alice"}}),
    )
    .await?;
    let app = wait_app(&apps, "manual", "the sync to c1", |a| {
        finished(a, "Succeeded", 3)
    })
    .await?;
    assert_eq!(level(&configmaps).await?.as_deref(), Some("info"));
    let history = app
        .status
        .clone()
        .and_then(|s| s.history)
        .unwrap_or_default();
    assert_eq!(history[2].revision.as_deref(), Some(c1.as_str()));
    assert_eq!(sync_of(&app), ("OutOfSync".into(), c2.clone()));

    // (c) A rollback to history id 1 (c2), as `argocd app rollback manual 1`
    // writes it.
    let op = controller::operation::rollback(&app, 1, false, false, Some("bob"))?;
    request(&apps, "manual", serde_json::to_value(&op)?).await?;
    let app = wait_app(&apps, "manual", "the rollback", |a| {
        finished(a, "Succeeded", 4)
    })
    .await?;
    assert_eq!(level(&configmaps).await?.as_deref(), Some("debug"));
    let status = app.status.clone().context("no status")?;
    let history = status.history.context("no history")?;
    assert_eq!(history[3].revision.as_deref(), Some(c2.as_str()));
    assert_eq!(history[3].source, history[1].source);
    assert_eq!(
        history[3]
            .initiated_by
            .as_ref()
            .and_then(|i| i.username.as_deref()),
        Some("bob")
    );
    let op = status.operation_state.context("no operationState")?;
    assert!(op.operation.sync.and_then(|s| s.source).is_some());

    // (d) With automated sync switched on in the same write, a rollback is
    // refused: the operation fails and the cluster is left alone (it is at
    // the head, so the automated sync has nothing to do either).
    let mut rollback = serde_json::to_value(controller::operation::rollback(
        &app,
        2,
        false,
        false,
        Some("bob"),
    )?)?;
    rollback["initiatedBy"] = json!({"username": "mallory"});
    let patch = json!({
        "spec": {"syncPolicy": {"automated": {"prune": false}}},
        "operation": rollback
    });
    apps.patch("manual", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let refused = wait_app(&apps, "manual", "the refused rollback", |a| {
        finished(a, "Failed", 4)
    })
    .await?;
    let message = refused
        .status
        .and_then(|s| s.operation_state)
        .and_then(|o| o.message)
        .unwrap_or_default();
    assert_eq!(
        message,
        "rollback cannot be initiated when auto-sync is enabled"
    );
    assert_eq!(level(&configmaps).await?.as_deref(), Some("debug"));
    let patch = json!({"spec": {"syncPolicy": null}});
    apps.patch("manual", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;

    // A dry run to c1 succeeds without changing anything or adding history.
    request(
        &apps,
        "manual",
        json!({"sync": {"revision": c1, "dryRun": true}, "initiatedBy": {"username": "alice"}}),
    )
    .await?;
    wait_app(&apps, "manual", "the dry run", |a| {
        finished(a, "Succeeded", 4) && requested(a).is_some_and(|s| s.dry_run == Some(true))
    })
    .await?;
    assert_eq!(level(&configmaps).await?.as_deref(), Some("debug"));

    // A partial sync of the ConfigMap alone to c1: applied, no history.
    request(
        &apps,
        "manual",
        json!({"sync": {"revision": c1, "resources": [{"kind": "ConfigMap", "name": "web-config"}]},
               "initiatedBy": {"username": "alice"}}),
    )
    .await?;
    let partial = wait_app(&apps, "manual", "the partial sync", |a| {
        finished(a, "Succeeded", 4) && requested(a).is_some_and(|s| s.resources.is_some())
    })
    .await?;
    assert_eq!(level(&configmaps).await?.as_deref(), Some("info"));
    let results = partial
        .status
        .and_then(|s| s.operation_state)
        .and_then(|o| o.sync_result)
        .and_then(|r| r.resources)
        .unwrap_or_default();
    assert!(
        results.iter().all(|r| r.kind == "ConfigMap"),
        "only the ConfigMap was synced: {results:?}"
    );

    running.abort();
    Ok(())
}

/// Deletes a namespace made by hand when the test ends: from a thread
/// with a runtime and client of its own (the test's runtime is blocked
/// in this drop).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let client = testkit::client().await.ok()?;
                Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

#[tokio::test]
async fn failed_syncs_are_retried_with_backoff_until_fixed_or_the_limit() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, MANAGER).await?;
    let ns = TestNamespace::create(&client, "retry").await?;
    let ns = ns.name().to_string();
    // A namespace the manifests name but nobody creates (no
    // CreateNamespace): applying fails until it is made by hand.
    let late = format!("{ns}-late");
    let _cleanup = Cleanup(late.clone());
    let repo = GitRepo::new("retry")?;
    repo.write(
        "late/configmap.yaml",
        &configmap("info").replace(
            "name: web-config\n",
            &format!("name: web-config\n  namespace: {late}\n"),
        ),
    )?
    .write(
        "bad/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n  - port: 70000\n",
    )?;
    repo.commit("retry")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let spec = |path: &str| {
        json!({
            "project": "default",
            "source": {"repoURL": repo.url(), "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns}
        })
    };

    // (a) A manual sync with a retry strategy: Running while it waits,
    // saying when the next attempt is.
    create_app(
        &apps,
        json!({"metadata": {"name": "late", "namespace": ns}, "spec": spec("late")}),
    )
    .await?;
    request(
        &apps,
        "late",
        json!({"sync": {}, "initiatedBy": {"username": "alice"},
               "retry": {"limit": 20, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "4s"}}}),
    )
    .await?;
    let waiting = wait_app(&apps, "late", "a retry to be scheduled", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| o.phase == "Running" && o.retry_count.unwrap_or(0) >= 1)
    })
    .await?;
    assert!(
        waiting.operation.is_some(),
        "the operation stays while it is retried"
    );
    let op = waiting
        .status
        .and_then(|s| s.operation_state)
        .context("no operationState")?;
    let message = op.message.unwrap_or_default();
    assert!(message.contains("Retrying attempt #"), "{message}");
    assert!(message.contains(&late), "{message}");
    assert!(op.finished_at.is_some());

    // The namespace is made out of band; a later retry succeeds.
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": late, "labels": {"gyro.dev/test": "true"}}
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let done = wait_app(&apps, "late", "the retry to succeed", |a| {
        finished(a, "Succeeded", 1)
    })
    .await?;
    let op = done
        .status
        .and_then(|s| s.operation_state)
        .context("no operationState")?;
    assert!(op.retry_count.unwrap_or(0) > 0, "{op:?}");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &late);
    assert_eq!(level(&configmaps).await?.as_deref(), Some("info"));

    // (b) An automated sync with `syncPolicy.retry.limit: 1` and an error
    // that stays: one retry, then Failed, saying so, and a SyncError.
    let mut auto = spec("bad");
    auto["syncPolicy"] =
        json!({"automated": {}, "retry": {"limit": 1, "backoff": {"duration": "1s"}}});
    create_app(
        &apps,
        json!({"metadata": {"name": "bad", "namespace": ns}, "spec": auto}),
    )
    .await?;
    let failed = wait_app(&apps, "bad", "the retries to run out", |a| {
        a.operation.is_none() && phase(a) == "Failed"
    })
    .await?;
    let status = failed.status.context("no status")?;
    let op = status.operation_state.context("no operationState")?;
    assert_eq!(op.retry_count, Some(1));
    let message = op.message.unwrap_or_default();
    assert!(message.ends_with("(retried 1 times)."), "{message}");
    assert!(message.contains("Service"), "{message}");
    assert_eq!(
        op.operation.initiated_by.and_then(|i| i.automated),
        Some(true)
    );
    assert!(status.history.unwrap_or_default().is_empty());
    eventually("a SyncError condition", async || {
        let app = apps.get("bad").await?;
        Ok(app
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "SyncError" && c.message.contains("Failed last sync attempt")))
    })
    .await?;

    running.abort();
    Ok(())
}

#[tokio::test]
async fn resources_finalizer_deletes_managed_resources_before_the_application() -> Result<()> {
    let client = testkit::client().await?;
    api::crd::install(&client, MANAGER).await?;
    let ns = TestNamespace::create(&client, "cascade").await?;
    let ns = ns.name().to_string();
    let repo = GitRepo::new("cascade")?;
    repo.write("fg/configmap.yaml", &configmap("info"))?
        .write("fg/deployment.yaml", DEPLOYMENT)?
        .write(
            "bg/configmap.yaml",
            &configmap("bg").replace("web-config", "bg-config"),
        )?
        .write(
            "keep/configmap.yaml",
            &configmap("keep").replace("web-config", "kept-config"),
        )?;
    repo.commit("cascade")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    // An object of the namespace the Applications do not manage.
    let bystander: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "bystander"}, "data": {"a": "b"}
    }))?;
    configmaps
        .create(&PostParams::default(), &bystander)
        .await?;

    for (name, path, finalizer) in [
        ("fg", "fg", Some("resources-finalizer.argocd.argoproj.io")),
        (
            "bg",
            "bg",
            Some("resources-finalizer.argocd.argoproj.io/background"),
        ),
        ("keep", "keep", None),
    ] {
        let mut app = json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo.url(), "targetRevision": "main", "path": path},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                "syncPolicy": {"automated": {"prune": true}}
            }
        });
        if let Some(f) = finalizer {
            app["metadata"]["finalizers"] = json!([f]);
        }
        create_app(&apps, app).await?;
        wait_app(&apps, name, "Synced", |a| {
            sync_of(a).0 == "Synced" && history_len(a) == 1
        })
        .await?;
    }
    assert!(deployments.get_opt("web").await?.is_some());

    // Foreground: the Deployment and ConfigMap go first, then the
    // Application.
    apps.delete("fg", &DeleteParams::default()).await?;
    eventually("the fg Application to be gone", async || {
        Ok(apps.get_opt("fg").await?.is_none())
    })
    .await?;
    assert!(configmaps.get_opt("web-config").await?.is_none());
    assert!(deployments.get_opt("web").await?.is_none());

    // Background propagation: the same, the finalizer named so.
    apps.delete("bg", &DeleteParams::default()).await?;
    eventually("the bg Application to be gone", async || {
        Ok(apps.get_opt("bg").await?.is_none())
    })
    .await?;
    assert!(configmaps.get_opt("bg-config").await?.is_none());

    // Without the finalizer the resources stay.
    apps.delete("keep", &DeleteParams::default()).await?;
    eventually("the keep Application to be gone", async || {
        Ok(apps.get_opt("keep").await?.is_none())
    })
    .await?;
    assert!(configmaps.get_opt("kept-config").await?.is_some());
    assert!(configmaps.get_opt("bystander").await?.is_some());

    running.abort();
    Ok(())
}
