//! The controller's metrics, with the controller run in-process against
//! the real test API server and a real Git repository (`file://`): after
//! an automated Application syncs, the scrape text has its
//! `argocd_app_info` with sync and health, a sync counted with phase
//! Succeeded, reconcile histogram samples, Git ls-remote and fetch counts,
//! render durations by source type and the cluster cache size; an
//! Application naming a missing project shows as an `argocd_app_condition`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use api::Application;
use kube::api::Api;
use serde_json::json;
use testkit::GitRepo;

mod common;
use common::{
    BASE_KUSTOMIZATION, CONFIGMAP, DEPLOYMENT, OVERLAY, SERVICE, apply_app, eventually,
    sync_status, test_namespace, wait_app,
};

const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// The value of the sample of `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_synced_application_shows_in_the_metrics() -> Result<()> {
    let (client, namespace) = test_namespace("metrics").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("metrics")?;
    repo.write("base/kustomization.yaml", BASE_KUSTOMIZATION)?
        .write("base/configmap.yaml", CONFIGMAP)?
        .write("base/deployment.yaml", DEPLOYMENT)?
        .write("base/service.yaml", SERVICE)?
        .write("overlays/test/kustomization.yaml", OVERLAY)?;
    let commit = repo.commit("shop")?;
    repo.push()?;

    // The controller in-process, handing its shared context to the test
    // the way `gyro controller` hands it to the API server.
    common::logs();
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![ns.clone()],
        reconcile_interval: Duration::from_secs(60),
        ..controller::Config::new(cache.path(), &ns)
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<Arc<controller::Context>>();
    let serve: controller::Serve = Box::new(move |ctx, _webhook| {
        let _ = tx.send(ctx);
        Box::pin(futures::future::pending())
    });
    let running = tokio::spawn(controller::run_serving(client.clone(), config, Some(serve)));
    let ctx = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .context("the controller did not start")??;

    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(
        &apps,
        &json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "overlays/test"},
                "destination": {"server": IN_CLUSTER, "namespace": ns},
                "syncPolicy": {"automated": {"prune": true}}
            }
        }),
    )
    .await?;
    apply_app(
        &apps,
        &json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "lost", "namespace": ns},
            "spec": {
                "project": "no-such-project",
                "source": {"repoURL": repo.url(), "targetRevision": "main", "path": "overlays/test"},
                "destination": {"server": IN_CLUSTER, "namespace": ns}
            }
        }),
    )
    .await?;
    wait_app(&apps, "shop", "Synced/Healthy", |a| {
        sync_status(a) == ("Synced", commit.as_str(), "Healthy")
            && a.status
                .as_ref()
                .and_then(|s| s.operation_state.as_ref())
                .is_some_and(|o| o.phase == "Succeeded")
    })
    .await?;

    // The scrape reads the controller's store, which follows the watch.
    let repo_url = repo.url();
    let info = [
        ("namespace", ns.as_str()),
        ("name", "shop"),
        ("project", "default"),
        ("autosync_enabled", "true"),
        ("repo", repo_url.as_str()),
        ("dest_server", IN_CLUSTER),
        ("dest_namespace", ns.as_str()),
        ("sync_status", "Synced"),
        ("health_status", "Healthy"),
    ];
    let condition = [
        ("namespace", ns.as_str()),
        ("name", "lost"),
        ("project", "no-such-project"),
        ("condition", "InvalidSpecError"),
    ];
    eventually(
        "argocd_app_info of shop Synced/Healthy and lost's condition",
        async || {
            let text = ctx.metrics.encode();
            Ok(sample(&text, "argocd_app_info", &info) == Some(1.0)
                && sample(&text, "argocd_app_condition", &condition) == Some(1.0))
        },
    )
    .await?;

    let text = ctx.metrics.encode();
    let syncs = sample(
        &text,
        "argocd_app_sync_total",
        &[
            ("name", "shop"),
            ("namespace", &ns),
            ("project", "default"),
            ("dest_server", IN_CLUSTER),
            ("phase", "Succeeded"),
        ],
    );
    assert_eq!(syncs, Some(1.0), "one sync succeeded:\n{text}");
    let reconciles = sample(
        &text,
        "argocd_app_reconcile_count",
        &[("namespace", &ns), ("dest_server", IN_CLUSTER)],
    )
    .context(format!("no reconcile histogram:\n{text}"))?;
    assert!(reconciles >= 1.0, "{text}");
    let buckets = sample(
        &text,
        "argocd_app_reconcile_bucket",
        &[("namespace", &ns), ("le", "+Inf")],
    );
    assert_eq!(buckets, Some(reconciles), "{text}");
    for request_type in ["ls-remote", "fetch"] {
        let labels = [("repo", repo_url.as_str()), ("request_type", request_type)];
        let count = sample(&text, "argocd_git_request_total", &labels)
            .context(format!("no {request_type} count:\n{text}"))?;
        assert!(count >= 1.0, "{text}");
        assert_eq!(
            sample(&text, "argocd_git_request_duration_seconds_count", &labels),
            Some(count),
            "{text}"
        );
    }
    let renders = sample(
        &text,
        "gyro_render_duration_seconds_count",
        &[("source_type", "Kustomize")],
    );
    assert!(renders.is_some_and(|n| n >= 1.0), "{text}");
    // The ConfigMap, Deployment and Service are cached (and the
    // Deployment's kind is watched).
    let objects = sample(
        &text,
        "argocd_cluster_api_resource_objects",
        &[("server", IN_CLUSTER)],
    );
    assert!(objects.is_some_and(|n| n >= 3.0), "{text}");
    let kinds = sample(
        &text,
        "argocd_cluster_api_resources",
        &[("server", IN_CLUSTER)],
    );
    assert!(kinds.is_some_and(|n| n >= 3.0), "{text}");

    running.abort();
    Ok(())
}
