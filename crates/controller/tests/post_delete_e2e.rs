//! PostDelete hooks, with the controller run in-process against the real
//! test API server (kube-controller-manager and kwok nodes) and a real Git
//! repository (`file://`).
//!
//! Jobs complete under kwok: its `pod-complete` stage moves a Running pod
//! owned by a Job to `Succeeded`, and the Job controller marks the Job
//! `Complete`. A Job fails as a real one can: its pod is never scheduled
//! (a node selector no kwok node has) and `activeDeadlineSeconds` runs out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use api::Application;
use controller::post_delete::{CLEANUP_FINALIZER, DELETION_LABEL, FINALIZER};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use testkit::GitRepo;

mod common;
use common::{
    application, apply_app, edit_by_hand, eventually, start_controller, test_namespace, wait_app,
};

const INTERVAL: Duration = Duration::from_secs(60);
const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

fn post_delete_job(name_field: &str, name: &str, extra_spec: &str, pod_extra: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  {name_field}: {name}
  annotations:
    argocd.argoproj.io/hook: PostDelete
spec:
  backoffLimit: 0
{extra_spec}  template:
    spec:
      restartPolicy: Never
{pod_extra}      containers:
      - name: run
        image: busybox:1.36
        command: [\"sh\", \"-c\", \"echo cleaning up\"]
"
    )
}

const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  k: v\n";

fn app(ns: &str, name: &str, repo: &GitRepo, finalizers: &[&str]) -> Value {
    let mut app = application(ns, name, &repo.url(), "app");
    app["metadata"]["finalizers"] = json!(finalizers);
    app["spec"]["syncPolicy"] = json!({"automated": {}});
    app
}

fn finalizers(app: &Application) -> Vec<String> {
    app.metadata.finalizers.clone().unwrap_or_default()
}

/// Synced, with the post-delete finalizers added.
async fn ready(apps: &Api<Application>, name: &str) -> Result<Application> {
    wait_app(
        apps,
        name,
        "to be synced with the post-delete finalizers",
        |a| {
            let f = finalizers(a);
            common::sync_status(a).0 == "Synced"
                && f.iter().any(|f| f == FINALIZER)
                && f.iter().any(|f| f == CLEANUP_FINALIZER)
        },
    )
    .await
}

async fn gone(apps: &Api<Application>, name: &str) -> Result<()> {
    eventually(&format!("Application {name} to be gone"), async || {
        Ok(apps.get_opt(name).await?.is_none())
    })
    .await
}

fn complete(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        })
}

/// Counts the Jobs of `ns` created from now on, by name, from a watch.
async fn count_created(jobs: &Api<Job>) -> Result<Arc<Mutex<HashMap<String, usize>>>> {
    let version = jobs
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut events = jobs
        .watch(&WatchParams::default().timeout(240), &version)
        .await?
        .boxed();
    let created = Arc::new(Mutex::new(HashMap::new()));
    let counts = created.clone();
    tokio::spawn(async move {
        while let Ok(Some(event)) = events.try_next().await {
            if let WatchEvent::Added(job) = event {
                let name = job.metadata.name.unwrap_or_default();
                *counts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name)
                    .or_insert(0) += 1;
            }
        }
    });
    Ok(created)
}

#[tokio::test]
async fn post_delete_hooks_run_once_after_the_resources_are_deleted() -> Result<()> {
    let (client, namespace) = test_namespace("postdel").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("postdel")?;
    let tidy = post_delete_job("name", "tidy", "", "").replace(
        "    argocd.argoproj.io/hook: PostDelete\n",
        "    argocd.argoproj.io/hook: PostDelete\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n",
    );
    repo.write("app/config.yaml", CONFIG)?
        .write(
            "app/cleanup.yaml",
            &post_delete_job("name", "cleanup", "", ""),
        )?
        .write(
            "app/notify.yaml",
            &post_delete_job("generateName", "notify-", "", ""),
        )?
        .write("app/tidy.yaml", &tidy)?;
    repo.commit("a config and three PostDelete hooks")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "web", &repo, &[RESOURCES_FINALIZER])).await?;
    let synced = ready(&apps, "web").await?;
    // The resources finalizer stays, ahead of Argo CD's two.
    assert_eq!(
        finalizers(&synced),
        [RESOURCES_FINALIZER, FINALIZER, CLEANUP_FINALIZER]
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("config").await?.is_some());
    // A sync does not run PostDelete hooks.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    assert!(jobs.list(&ListParams::default()).await?.items.is_empty());

    let created = count_created(&jobs).await?;
    apps.delete("web", &DeleteParams::default()).await?;
    gone(&apps, "web").await?;
    assert!(
        configmaps.get_opt("config").await?.is_none(),
        "the resources are deleted first"
    );
    // Each hook was created once, the generateName one included, though
    // many reconciles looked at the deletion while they ran.
    let created = created.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut kinds: Vec<String> = created
        .keys()
        .map(|n| {
            if n.starts_with("notify-") {
                "notify-".to_string()
            } else {
                n.clone()
            }
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["cleanup", "notify-", "tidy"], "{created:?}");
    assert!(created.values().all(|&n| n == 1), "{created:?}");
    // HookSucceeded deleted tidy; the default policy keeps the others,
    // complete and marked as this deletion's.
    let uid = synced.metadata.uid.clone().unwrap_or_default();
    let all = jobs.list(&ListParams::default()).await?.items;
    let names: Vec<String> = all.iter().filter_map(|j| j.metadata.name.clone()).collect();
    assert_eq!(all.len(), 2, "{names:?}");
    assert!(!names.iter().any(|n| n == "tidy"), "{names:?}");
    for job in &all {
        assert!(complete(job), "{:?} did not complete", job.metadata.name);
        let label = job
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(DELETION_LABEL));
        assert_eq!(label, Some(&uid));
    }
    assert!(!running.is_finished(), "the controller stopped");
    Ok(())
}

#[tokio::test]
async fn a_failing_post_delete_hook_keeps_the_application_with_a_deletion_error() -> Result<()> {
    let (client, namespace) = test_namespace("postdel-fail").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("postdel-fail")?;
    let never = post_delete_job(
        "name",
        "broken",
        "  activeDeadlineSeconds: 2\n",
        "      nodeSelector:\n        gyro.dev/no-such-node: \"true\"\n",
    );
    repo.write("app/config.yaml", CONFIG)?
        .write("app/broken.yaml", &never)?;
    repo.commit("a PostDelete hook that fails")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    // No resources finalizer: the hooks run all the same.
    apply_app(&apps, &app(&ns, "broken", &repo, &[])).await?;
    ready(&apps, "broken").await?;
    apps.delete("broken", &DeleteParams::default()).await?;
    let expected = format!("PostDelete hook Job.batch/{ns}/broken failed");
    let stuck = wait_app(&apps, "broken", "to report the failed hook", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "DeletionError" && c.message.contains(&expected))
            })
    })
    .await?;
    assert!(finalizers(&stuck).iter().any(|f| f == FINALIZER));
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(
        configmaps.get_opt("config").await?.is_some(),
        "without the resources finalizer the resources stay"
    );
    // Removing the finalizer by hand skips the hooks; the cleanup stage
    // keeps the failed Job (no delete policy) and lets the Application go.
    edit_by_hand(
        &apps,
        "broken",
        &json!({"metadata": {"finalizers": [CLEANUP_FINALIZER]}}),
    )
    .await?;
    gone(&apps, "broken").await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    assert!(jobs.get_opt("broken").await?.is_some());
    assert!(!running.is_finished(), "the controller stopped");
    Ok(())
}

#[tokio::test]
async fn the_finalizers_go_when_the_hooks_leave_git() -> Result<()> {
    let (client, namespace) = test_namespace("postdel-leave").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("postdel-leave")?;
    repo.write("app/config.yaml", CONFIG)?.write(
        "app/cleanup.yaml",
        &post_delete_job("name", "cleanup", "", ""),
    )?;
    repo.commit("a PostDelete hook")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "leaving", &repo, &[RESOURCES_FINALIZER])).await?;
    ready(&apps, "leaving").await?;
    repo.remove("app/cleanup.yaml")?;
    repo.commit("no PostDelete hook any more")?;
    repo.push()?;
    common::refresh(&apps, "leaving").await?;
    let after = wait_app(
        &apps,
        "leaving",
        "to lose the post-delete finalizers",
        |a| {
            !finalizers(a)
                .iter()
                .any(|f| f == FINALIZER || f == CLEANUP_FINALIZER)
        },
    )
    .await?;
    assert_eq!(finalizers(&after), [RESOURCES_FINALIZER]);
    apps.delete("leaving", &DeleteParams::default()).await?;
    gone(&apps, "leaving").await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    assert!(jobs.list(&ListParams::default()).await?.items.is_empty());
    assert!(!running.is_finished(), "the controller stopped");
    Ok(())
}
