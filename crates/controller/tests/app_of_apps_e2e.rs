//! App of apps, in seed 003's layout: `apps/` holds the root Application
//! (`root-app.yaml`, whose path is `apps/` itself, so the root manages its
//! own manifest) and three child Applications, each pointing at its own
//! manifests. Against the real API server and a real Git repository: the
//! root creates the children, their health rolls up into the root, and
//! deleting the root with the resources finalizer deletes the children and,
//! through their own finalizers, everything they deployed.

use std::time::Duration;

use anyhow::Result;
use api::Application;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};
use testkit::GitRepo;

mod common;
use common::*;

const NO_POLLING: Duration = Duration::from_secs(3600);

const CHILDREN: [&str; 3] = ["api-service", "worker-service", "ml-inference"];

fn application(ns: &str, name: &str, repo: &str, path: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": ns,
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["ServerSideApply=true"],
            },
        }
    })
}

/// JSON is YAML: the manifest as a file in the repository.
fn yaml(value: &Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

/// A Deployment named after its service; `stuck` leaves its Pod Pending
/// (kwok's `custom` status, see scripts/cluster) so it turns Degraded at a
/// five-second progress deadline.
fn service_manifest(name: &str, stuck: bool) -> String {
    let deployment = DEPLOYMENT
        .replace("name: web", &format!("name: {name}"))
        .replace("app: web", &format!("app: {name}"));
    if !stuck {
        return deployment;
    }
    deployment
        .replace("  replicas: 2\n", "  replicas: 1\n  progressDeadlineSeconds: 5\n")
        .replace(
            &format!("    metadata:\n      labels:\n        app: {name}\n"),
            &format!(
                "    metadata:\n      labels:\n        app: {name}\n      annotations:\n        kwok.x-k8s.io/status: custom\n"
            ),
        )
}

fn health_of(app: &Application) -> &str {
    sync_status(app).2
}

/// The root's `status.resources` entries for child Applications, as
/// (name, health) pairs, sorted.
fn children_health(root: &Application) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = root
        .status
        .as_ref()
        .and_then(|s| s.resources.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.kind.as_deref() == Some("Application") && r.name.as_deref() != Some("root"))
        .map(|r| {
            (
                r.name.unwrap_or_default(),
                r.health.and_then(|h| h.status).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn root_creates_children_rolls_up_their_health_and_cascades_deletion() -> Result<()> {
    let (client, namespace) = test_namespace("aoa").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("gitops-config")?;
    let url = repo.url();
    let root = application(&ns, "root", &url, "apps");
    repo.write("apps/root-app.yaml", &yaml(&root)?)?;
    for child in CHILDREN {
        repo.write(
            &format!("apps/{child}.yaml"),
            &yaml(&application(&ns, child, &url, &format!("services/{child}")))?,
        )?;
        repo.write(
            &format!("services/{child}/deployment.yaml"),
            &service_manifest(child, false),
        )?;
    }
    repo.commit("app of apps")?;
    repo.push()?;

    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    // Bootstrapped as by hand: `kubectl apply -f apps/root-app.yaml`.
    apply_app(&apps, &root).await?;

    // The root creates its children; each syncs its own Deployment; the
    // root is Healthy only once every child is, and stays Synced although
    // it manages its own manifest.
    let mut all_healthy: Vec<(String, String)> = CHILDREN
        .iter()
        .map(|c| (c.to_string(), "Healthy".to_string()))
        .collect();
    all_healthy.sort();
    let healthy = wait_app(&apps, "root", "Synced/Healthy with Healthy children", |a| {
        let (sync, _, health) = sync_status(a);
        sync == "Synced" && health == "Healthy" && children_health(a) == all_healthy
    })
    .await?;
    let managed_self = healthy
        .status
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .is_some_and(|r| r.iter().any(|r| r.name.as_deref() == Some("root")));
    assert!(managed_self, "the root lists its own Application");
    for child in CHILDREN {
        let app = apps.get(child).await?;
        assert_eq!(sync_status(&app).0, "Synced", "{child}");
        assert_eq!(health_of(&app), "Healthy", "{child}");
        deployments.get(child).await?;
    }

    // A child that turns Degraded makes the root Degraded (Argo CD's
    // aggregation over child Applications), with the child named.
    repo.write(
        "services/ml-inference/deployment.yaml",
        &service_manifest("ml-inference", true),
    )?;
    repo.commit("ml-inference: stuck rollout")?;
    repo.push()?;
    refresh(&apps, "ml-inference").await?;
    let degraded = wait_app(&apps, "root", "Degraded", |a| health_of(a) == "Degraded").await?;
    assert!(
        children_health(&degraded).contains(&("ml-inference".into(), "Degraded".into())),
        "root resources: {:?}",
        children_health(&degraded)
    );
    assert_eq!(sync_status(&degraded).0, "Synced");

    // Deleting the root (resources finalizer, foreground) deletes the
    // children, whose own finalizers delete their Deployments; the root,
    // which tracks itself, does not wait for its own deletion.
    apps.delete("root", &DeleteParams::default()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually(
        "the root, its children and their Deployments gone",
        async || {
            // kwok stands in for the kubelet but leaves the held Pod alone, so
            // the test finishes its graceful deletion as a kubelet would.
            for pod in pods.list(&Default::default()).await?.items {
                if pod.metadata.deletion_timestamp.is_some() {
                    let name = pod.metadata.name.unwrap_or_default();
                    let _ = pods
                        .delete(&name, &DeleteParams::default().grace_period(0))
                        .await;
                }
            }
            let left = apps.list(&Default::default()).await?.items.len();
            let deployed = deployments.list(&Default::default()).await?.items.len();
            Ok(left == 0 && deployed == 0)
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_child_that_renders_its_parent_is_refused_as_a_loop() -> Result<()> {
    let (client, namespace) = test_namespace("aoa-loop").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("loop")?;
    let url = repo.url();
    let parent = application(&ns, "parent", &url, "parent");
    repo.write(
        "parent/child.yaml",
        &yaml(&application(&ns, "child", &url, "child"))?,
    )?;
    // The child's directory holds the parent's manifest: parent -> child
    // -> parent.
    repo.write("child/parent.yaml", &yaml(&parent)?)?;
    repo.write("child/deployment.yaml", &service_manifest("child", false))?;
    repo.commit("a loop")?;
    repo.push()?;

    let (running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &parent).await?;

    eventually("the parent creating the child", async || {
        Ok(apps.get_opt("child").await?.is_some())
    })
    .await?;
    wait_app(&apps, "child", "the loop reported", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.type_ == "InvalidSpecError"
                        && c.message.contains("spec.source.path")
                        && c.message.contains("app-of-apps loop")
                        && c.message
                            .contains(&format!("{ns}/child -> {ns}/parent -> {ns}/child"))
                })
            })
    })
    .await?;
    // Nothing of the child was applied: not its Deployment, and not the
    // parent's manifest (the parent carries no tracking mark of the child).
    assert!(
        Api::<Deployment>::namespaced(client.clone(), &ns)
            .get_opt("child")
            .await?
            .is_none()
    );
    let parent_live = apps.get("parent").await?;
    assert_ne!(
        parent_live
            .metadata
            .labels
            .unwrap_or_default()
            .get(TRACKING)
            .map(String::as_str),
        Some("child")
    );
    // The parent itself is fine: it synced its child.
    wait_app(&apps, "parent", "Synced", |a| sync_status(a).0 == "Synced").await?;
    assert!(!running.is_finished(), "the controller keeps running");
    Ok(())
}
