//! Sync phases, waves and hooks, with the controller run in-process against
//! the real test API server (kube-controller-manager and kwok nodes) and a
//! real Git repository (`file://`).
//!
//! Jobs complete under kwok: its `pod-complete` stage moves a Running pod
//! owned by a Job to `Succeeded`, and the Job controller then marks the Job
//! `Complete`. A Job fails the way a real one can: its pod cannot be
//! scheduled (a node selector no kwok node has) and `activeDeadlineSeconds`
//! runs out, so the Job controller marks it `Failed` (DeadlineExceeded).

use std::time::Duration;

use anyhow::{Context as _, Result};
use api::{Application, ResourceResult};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use testkit::GitRepo;

mod common;
use common::{
    application, apply_app, eventually, refresh, start_controller, test_namespace, wait_app,
};

/// Long: every step below is driven by an operation or a refresh.
const INTERVAL: Duration = Duration::from_secs(60);

fn job(name_field: &str, name: &str, annotations: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  {name_field}: {name}
  annotations:
{annotations}
spec:
  backoffLimit: 0
{spec_extra}  template:
    spec:
      restartPolicy: Never
      containers:
      - name: run
        image: busybox:1.36
        command: [\"sh\", \"-c\", \"echo {name}\"]
"
    )
}

fn configmap(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n{annotations}\ndata:\n  k: v\n"
    )
}

const DB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
  annotations:
    argocd.argoproj.io/sync-wave: \"-1\"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres:16
";

fn app(ns: &str, name: &str, repo: &GitRepo) -> Value {
    application(ns, name, &repo.url(), "app")
}

/// Writes `operation` as `argocd app sync` does.
async fn sync(apps: &Api<Application>, name: &str) -> Result<()> {
    let patch =
        json!({"operation": {"sync": {"prune": true}, "initiatedBy": {"username": "test"}}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn operation(app: &Application) -> Option<&api::OperationState> {
    app.status.as_ref()?.operation_state.as_ref()
}

/// The finished operation (phase final, operation field cleared).
async fn finished(apps: &Api<Application>, name: &str) -> Result<api::OperationState> {
    let app = wait_app(apps, name, "the sync to finish", |a| {
        a.operation.is_none()
            && operation(a).is_some_and(|o| o.phase == "Succeeded" || o.phase == "Failed")
    })
    .await?;
    operation(&app).cloned().context("no operationState")
}

/// The revision the Application was last compared at.
fn revision(app: &Application) -> String {
    common::sync_status(app).1.to_string()
}

fn results_of(state: &api::OperationState) -> Vec<ResourceResult> {
    state
        .sync_result
        .as_ref()
        .and_then(|r| r.resources.clone())
        .unwrap_or_default()
}

fn find<'a>(results: &'a [ResourceResult], kind: &str, prefix: &str) -> &'a ResourceResult {
    results
        .iter()
        .find(|r| r.kind == kind && r.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {kind} {prefix}* in {results:#?}"))
}

fn rv(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Result<u64> {
    Ok(meta
        .resource_version
        .as_deref()
        .context("no resourceVersion")?
        .parse()?)
}

#[tokio::test]
async fn waves_run_in_order_and_pre_and_post_sync_hooks_run_and_are_cleaned_up() -> Result<()> {
    let (client, namespace) = test_namespace("hooks-waves").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("waves")?;
    let succeeded = "    argocd.argoproj.io/hook-delete-policy: HookSucceeded";
    repo.write(
        "app/migrate.yaml",
        &job(
            "generateName",
            "migrate-",
            &format!("    argocd.argoproj.io/hook: PreSync\n{succeeded}"),
            "",
        ),
    )?
    .write(
        "app/smoke.yaml",
        &job(
            "generateName",
            "smoke-",
            &format!("    helm.sh/hook: post-install\n{succeeded}"),
            "",
        ),
    )?
    .write(
        "app/db-config.yaml",
        &configmap("db-config", "    argocd.argoproj.io/sync-wave: \"-1\""),
    )?
    .write("app/db.yaml", DB)?
    .write(
        "app/api-config.yaml",
        &configmap("api-config", "    argocd.argoproj.io/sync-wave: \"1\""),
    )?;
    let commit = repo.commit("waves and hooks")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "waves", &repo)).await?;
    // Hooks are not resources of the Application: three resources, all
    // missing, none a Job.
    let app = wait_app(&apps, "waves", "OutOfSync", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.sync.as_ref())
            .is_some_and(|s| s.status == "OutOfSync")
    })
    .await?;
    let resources = app.status.and_then(|s| s.resources).unwrap_or_default();
    let kinds: Vec<&str> = resources.iter().filter_map(|r| r.kind.as_deref()).collect();
    assert_eq!(kinds.len(), 3, "{resources:?}");
    assert!(!kinds.contains(&"Job"), "{kinds:?}");

    sync(&apps, "waves").await?;
    let state = finished(&apps, "waves").await?;
    assert_eq!(state.phase, "Succeeded", "{:?}", state.message);
    let results = results_of(&state);
    let migrate = find(&results, "Job", "migrate-");
    assert_ne!(migrate.name, "migrate-", "the server named the hook");
    assert_eq!(migrate.hook_type.as_deref(), Some("PreSync"));
    assert_eq!(migrate.hook_phase.as_deref(), Some("Succeeded"));
    assert_eq!(migrate.sync_phase.as_deref(), Some("PreSync"));
    assert_eq!(migrate.status.as_deref(), Some("Synced"));
    let smoke = find(&results, "Job", "smoke-");
    assert_eq!(smoke.hook_type.as_deref(), Some("PostSync"));
    assert_eq!(smoke.hook_phase.as_deref(), Some("Succeeded"));
    let db = find(&results, "Deployment", "db");
    assert_eq!(db.sync_phase.as_deref(), Some("Sync"));
    assert_eq!(db.hook_type, None);
    // Waited for (another wave follows) and found healthy.
    assert_eq!(db.hook_phase.as_deref(), Some("Succeeded"));
    // Results are in the order the tasks ran.
    let order: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    let at = |prefix: &str| order.iter().position(|n| n.starts_with(prefix));
    assert!(at("migrate-") < at("db-config"), "{order:?}");
    let db_at = order.iter().position(|n| *n == "db");
    assert!(
        at("db-config") < db_at && db_at < at("api-config"),
        "{order:?}"
    );
    assert!(at("api-config") < at("smoke-"), "{order:?}");

    // Wave 1 was created only after wave -1 was healthy: the Deployment's
    // last write (its status turning Available) comes before the creation
    // of wave 1's ConfigMap in the API server's single revision order.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let db = deployments.get("db").await?;
    let available = db
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Available" && c.status == "True")
        });
    assert!(available, "{:?}", db.status);
    let api_config = configmaps.get("api-config").await?;
    assert!(
        rv(&api_config.metadata)? > rv(&db.metadata)?,
        "wave 1 (rv {:?}) was applied before wave -1 was healthy (rv {:?})",
        api_config.metadata.resource_version,
        db.metadata.resource_version
    );
    let db_config = configmaps.get("db-config").await?;
    assert!(rv(&db_config.metadata)? < rv(&api_config.metadata)?);

    // HookSucceeded: both Jobs are gone; hooks carry the tracking label.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    eventually("the hooks to be deleted", async || {
        Ok(jobs.list(&ListParams::default()).await?.items.is_empty())
    })
    .await?;
    // Synced and not pruned: hooks are left out of the comparison.
    let app = wait_app(&apps, "waves", "Synced", |a| {
        common::sync_status(a) == ("Synced", commit.as_str(), "Healthy")
    })
    .await?;
    let resources = app.status.and_then(|s| s.resources).unwrap_or_default();
    assert_eq!(resources.len(), 3, "{resources:?}");

    // A second sync runs the hooks again, as new objects.
    sync(&apps, "waves").await?;
    let again = wait_app(&apps, "waves", "the second sync", |a| {
        a.operation.is_none()
            && operation(a)
                .is_some_and(|o| o.phase == "Succeeded" && o.started_at != state.started_at)
    })
    .await?;
    let again = results_of(operation(&again).context("no operationState")?);
    assert_ne!(find(&again, "Job", "migrate-").name, migrate.name);
    assert!(!running.is_finished(), "the controller stopped");
    Ok(())
}

#[tokio::test]
async fn a_failing_post_sync_hook_fails_the_sync_and_runs_sync_fail_hooks() -> Result<()> {
    let (client, namespace) = test_namespace("hooks-fail").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("failing")?;
    // Never scheduled (no node has the label), so its deadline runs out.
    let unschedulable = "  activeDeadlineSeconds: 2\n";
    let never = job(
        "name",
        "smoke",
        "    argocd.argoproj.io/hook: PostSync",
        unschedulable,
    )
    .replace(
        "      restartPolicy: Never\n",
        "      restartPolicy: Never\n      nodeSelector:\n        gyro.dev/no-such-node: \"true\"\n",
    );
    repo.write("app/config.yaml", &configmap("config", "    team: shop"))?
        .write("app/smoke.yaml", &never)?
        .write(
            "app/sync-failed.yaml",
            &configmap("sync-failed", "    argocd.argoproj.io/hook: SyncFail"),
        )?;
    repo.commit("a smoke test that fails")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "failing", &repo)).await?;
    sync(&apps, "failing").await?;
    let state = finished(&apps, "failing").await?;
    assert_eq!(state.phase, "Failed");
    let message = state.message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!("PostSync hook Job.batch/{ns}/smoke failed")),
        "{message}"
    );
    let results = results_of(&state);
    let smoke = find(&results, "Job", "smoke");
    assert_eq!(smoke.hook_phase.as_deref(), Some("Failed"));
    assert_eq!(smoke.hook_type.as_deref(), Some("PostSync"));
    let note = find(&results, "ConfigMap", "sync-failed");
    assert_eq!(note.hook_type.as_deref(), Some("SyncFail"));
    assert_eq!(note.hook_phase.as_deref(), Some("Succeeded"));
    // The SyncFail hook ran; the failed Job stays (BeforeHookCreation, the
    // default policy, deletes it only before the next sync creates it).
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("sync-failed").await?.is_some());
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let failed = jobs.get("smoke").await?;
    let conditions = failed.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True"),
        "{conditions:?}"
    );
    // Hooks carry the Application's tracking label, like its resources.
    let labels = failed.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(common::TRACKING).map(String::as_str),
        Some("failing")
    );
    let first_uid = failed.metadata.uid.clone();

    // The next sync deletes the old instance before creating it again.
    sync(&apps, "failing").await?;
    wait_app(&apps, "failing", "the second sync", |a| {
        a.operation.is_none()
            && operation(a).is_some_and(|o| o.phase == "Failed" && o.started_at != state.started_at)
    })
    .await?;
    let second = jobs.get("smoke").await?;
    assert_ne!(second.metadata.uid, first_uid, "re-created, not reused");
    assert!(!running.is_finished(), "the controller stopped");
    Ok(())
}

#[tokio::test]
async fn a_hook_without_kind_or_name_is_a_clear_error_and_the_controller_goes_on() -> Result<()> {
    let (client, namespace) = test_namespace("hooks-bad").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("bad-hooks")?;
    let hook = job(
        "generateName",
        "migrate-",
        "    argocd.argoproj.io/hook: PreSync",
        "",
    );
    let kindless = hook.replace("kind: Job\n", "");
    repo.write("app/config.yaml", &configmap("config", "    team: shop"))?
        .write(
            "app/hooks.yaml",
            &format!("{}---\n{kindless}", configmap("other", "    team: shop")),
        )?;
    let kindless_commit = repo.commit("a hook without kind")?;
    repo.push()?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "bad", &repo)).await?;
    let condition = |a: &Application| {
        a.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "ComparisonError"))
            .map(|c| c.message.clone())
    };
    let app = wait_app(&apps, "bad", "a ComparisonError", |a| {
        condition(a).is_some()
    })
    .await?;
    let message = condition(&app).unwrap_or_default();
    assert!(
        message.contains("app/hooks.yaml") && message.contains("no kind"),
        "{message}"
    );

    // Neither name nor generateName: the sync fails naming the field.
    let nameless = hook.replace("  generateName: migrate-\n", "");
    repo.write("app/hooks.yaml", &nameless)?;
    let nameless_commit = repo.commit("a hook without a name")?;
    repo.push()?;
    refresh(&apps, "bad").await?;
    wait_app(&apps, "bad", "the comparison to recover", |a| {
        condition(a).is_none() && revision(a) == nameless_commit
    })
    .await?;
    assert_ne!(kindless_commit, nameless_commit);
    sync(&apps, "bad").await?;
    let state = finished(&apps, "bad").await?;
    assert_eq!(state.phase, "Failed");
    let message = state.message.unwrap_or_default();
    assert!(
        message.contains("hook Job")
            && message.contains("has no metadata.name or metadata.generateName"),
        "{message}"
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(
        configmaps.get_opt("config").await?.is_none(),
        "nothing is applied when the plan fails"
    );

    // Fixed in Git: the same controller syncs it.
    repo.write("app/hooks.yaml", &hook)?;
    let good = repo.commit("a good hook")?;
    repo.push()?;
    refresh(&apps, "bad").await?;
    wait_app(&apps, "bad", "a refresh", |a| revision(a) == good).await?;
    sync(&apps, "bad").await?;
    let done = wait_app(&apps, "bad", "the fixed sync", |a| {
        a.operation.is_none()
            && operation(a).is_some_and(|o| {
                o.phase == "Succeeded" && o.sync_result.as_ref().is_some_and(|r| r.revision == good)
            })
    })
    .await?;
    let results = results_of(operation(&done).context("no operationState")?);
    assert_eq!(
        find(&results, "Job", "migrate-").hook_phase.as_deref(),
        Some("Succeeded")
    );
    assert!(configmaps.get_opt("config").await?.is_some());
    assert!(!running.is_finished(), "the controller stopped");
    Ok(())
}
