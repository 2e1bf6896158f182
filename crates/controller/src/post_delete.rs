//! PostDelete hooks (`argocd.argoproj.io/hook: PostDelete`, Helm's
//! `post-delete`), run when their Application is deleted, as Argo CD 2.10+
//! runs them, with Argo CD's two finalizers:
//!
//! - While the Application is alive and Git renders PostDelete hooks, it
//!   carries [`FINALIZER`] and [`CLEANUP_FINALIZER`]; both go again when the
//!   hooks leave Git ([`finalizers_for`]).
//! - Deleted, once its resources are gone (the resources finalizer, see
//!   [`crate::delete`]), the hooks are rendered from the last synced
//!   revision and created on the destination cluster, wave by wave, each
//!   wave waited for (a Job `Complete`, a Pod `Succeeded`, other kinds
//!   healthy). When all are done, [`FINALIZER`] goes. A failed hook keeps
//!   it and is a `DeletionError` condition naming the hook; deleting the
//!   failed hook object runs it again, removing the finalizer by hand
//!   skips it.
//! - With only [`CLEANUP_FINALIZER`] left, the hooks' delete policies are
//!   applied (`HookSucceeded`, `HookFailed`; the default
//!   `BeforeHookCreation` keeps them), and once those are gone the
//!   finalizer goes.
//!
//! Created once per deletion: every hook object created is labelled
//! [`DELETION_LABEL`] with the Application's uid and annotated
//! [`HOOK_ANNOTATION`] with the hook's key (kind, namespace and `name` or
//! `generateName`), and is created only when a fresh list from the API
//! server (not a cache) finds none with both. A `generateName` hook gets
//! a new name from the server, so its name cannot find it again; the
//! annotation does. Hooks are deleted only in the cleanup stage, which
//! starts after a reconcile saw [`FINALIZER`] removed; reconciles never
//! see an older Application than one they saw, so no later reconcile can
//! see the first finalizer again and create a deleted hook anew. The
//! hooks the cleanup handles are written to the Application
//! ([`HOOKS_ANNOTATION`]) in the patch that removes [`FINALIZER`], so the
//! cleanup needs no Git.

use std::collections::BTreeSet;
use std::time::Duration;

use api::Application;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use sync::hook::{DeletePolicy, Marking, Phase};
use sync::plan::Task;
use tracing::{debug, info, warn};

use crate::phases::{Look, verdict};
use crate::{Context, Error};

/// Argo CD's finalizer: the PostDelete hooks run before it goes.
pub const FINALIZER: &str = "post-delete-finalizer.argocd.argoproj.io";
/// Argo CD's second finalizer: the hooks' delete policies are applied
/// before it goes.
pub const CLEANUP_FINALIZER: &str = "post-delete-finalizer.argocd.argoproj.io/cleanup";
/// On a created hook: the uid of the Application whose deletion created it.
pub const DELETION_LABEL: &str = "gyro.dev/post-delete-of";
/// On a created hook: which rendered hook it is ([`hook_id`]).
pub const HOOK_ANNOTATION: &str = "gyro.dev/post-delete-hook";
/// On the Application, written with [`FINALIZER`]'s removal: the hook
/// objects the cleanup stage looks at.
pub const HOOKS_ANNOTATION: &str = "gyro.dev/post-delete-hooks";

/// How often hooks being run or deleted are looked at again.
const POLL: Duration = Duration::from_secs(2);
/// How long after a failure (a failed hook, Git, the cluster) it is tried
/// again.
const RETRY: Duration = Duration::from_secs(10);

/// Whether a rendered object is a PostDelete hook.
pub fn is_post_delete(obj: &Value) -> bool {
    matches!(sync::hook::marking(obj), Ok(Marking::Hook(h)) if h.phases.contains(&Phase::PostDelete))
}

/// The finalizers an Application that is alive should carry when Git has
/// (`has_hooks`) or has no PostDelete hooks; `None` when they are right.
/// Other finalizers keep their place.
pub fn finalizers_for(current: &[String], has_hooks: bool) -> Option<Vec<String>> {
    let ours = [FINALIZER, CLEANUP_FINALIZER];
    let mut wanted: Vec<String> = current
        .iter()
        .filter(|f| has_hooks || !ours.contains(&f.as_str()))
        .cloned()
        .collect();
    if has_hooks {
        for f in ours {
            if !wanted.iter().any(|w| w == f) {
                wanted.push(f.to_string());
            }
        }
    }
    (wanted != current).then_some(wanted)
}

/// Adds or removes the post-delete finalizers of an Application that is
/// alive, as [`finalizers_for`] says. The patch carries the
/// resourceVersion: when another writer changed the Application meanwhile
/// it fails, and the reconcile that change brings tries again.
pub async fn keep_finalizers(app: &Application, ctx: &Context, has_hooks: bool) {
    let current = app.metadata.finalizers.clone().unwrap_or_default();
    let Some(wanted) = finalizers_for(&current, has_hooks) else {
        return;
    };
    let (Some(namespace), Some(name)) = (&app.metadata.namespace, &app.metadata.name) else {
        return;
    };
    let patch = json!({"metadata": {
        "finalizers": wanted,
        "resourceVersion": app.metadata.resource_version,
    }});
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), namespace);
    match apps
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(written) => {
            info!(app = %name, has_hooks, "post-delete finalizers updated");
            ctx.wrote(&written);
        }
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
            debug!(app = %name, "the application changed; finalizers next time");
        }
        Err(e) => warn!(app = %name, error = %e, "updating the post-delete finalizers"),
    }
}

/// Which rendered hook a task is: its key with the `name` or, for a
/// `generateName` hook, the `generateName` (see [`sync::plan`]).
pub fn hook_id(task: &Task) -> String {
    task.key.to_string()
}

/// A hook object found on the cluster: which hook it is, its name, and
/// what its state says.
#[derive(Debug)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub look: Look,
}

/// What the deletion does next with the PostDelete hooks.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Create these hooks (indices into the tasks): the first wave with
    /// hooks not created yet.
    Create(Vec<usize>),
    /// Hooks are running; the message says which.
    Wait(String),
    /// A hook failed; the message names it.
    Failed(String),
    /// Every hook finished successfully.
    Done,
}

/// Decides what to do from the ordered PostDelete tasks and the hook
/// objects this deletion created: waves in order, a wave's hooks created
/// together and waited for before the next wave's.
pub fn next(tasks: &[Task], found: &[Found]) -> Next {
    let mut offset = 0;
    for step in sync::plan::steps(tasks) {
        let missing: Vec<usize> = step
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let id = hook_id(t);
                !found.iter().any(|f| f.id == id)
            })
            .map(|(i, _)| offset + i)
            .collect();
        if !missing.is_empty() {
            return Next::Create(missing);
        }
        let mut running = Vec::new();
        for task in step {
            let id = hook_id(task);
            for f in found.iter().filter(|f| f.id == id) {
                match &f.look {
                    Look::Failed(message) => {
                        return Next::Failed(failed_message(task, &f.name, message));
                    }
                    Look::Wait(_) => running.push(describe(task, &f.name)),
                    Look::Done(_) => {}
                }
            }
        }
        if !running.is_empty() {
            return Next::Wait(format!(
                "waiting for completion of PostDelete hook {}",
                running.join(", ")
            ));
        }
        offset += step.len();
    }
    Next::Done
}

fn describe(task: &Task, name: &str) -> String {
    let key = sync::ResourceKey {
        name: name.to_string(),
        ..task.key.clone()
    };
    key.to_string()
}

fn failed_message(task: &Task, name: &str, message: &str) -> String {
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    format!(
        "PostDelete hook {} failed{detail}; delete the hook object to run it again, \
         or remove the finalizer {FINALIZER} from the Application to skip the hooks",
        describe(task, name)
    )
}

/// One hook object the cleanup stage looks at (recorded on the
/// Application in [`HOOKS_ANNOTATION`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// What the cleanup does with one hook object.
#[derive(Debug, PartialEq, Eq)]
pub enum Clean {
    /// Delete it (its policy says so).
    Delete,
    /// Being deleted: wait for it to go.
    Pending,
    /// Leave it.
    Keep,
}

/// The cleanup of one live hook object: `HookSucceeded` deletes a hook
/// that succeeded, `HookFailed` one that failed; others stay (as Argo CD,
/// whose default `BeforeHookCreation` keeps a PostDelete hook).
pub fn clean(live: &Value, look: &Look) -> Clean {
    if live["metadata"].get("deletionTimestamp").is_some() {
        return Clean::Pending;
    }
    let Ok(Marking::Hook(hook)) = sync::hook::marking(live) else {
        return Clean::Keep;
    };
    let delete = match look {
        Look::Done(_) => hook.deletes_on(DeletePolicy::HookSucceeded),
        Look::Failed(_) => hook.deletes_on(DeletePolicy::HookFailed),
        Look::Wait(_) => false,
    };
    if delete { Clean::Delete } else { Clean::Keep }
}

/// The PostDelete stages of an Application being deleted whose resources
/// are gone (or were never to be deleted).
pub async fn finalize(app: &Application, ctx: &Context) -> Result<Action, Error> {
    let finalizers = app.metadata.finalizers.as_deref().unwrap_or(&[]);
    if finalizers.iter().any(|f| f == FINALIZER) {
        run_hooks(app, ctx).await
    } else if finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        cleanup(app, ctx).await
    } else {
        // Another finalizer holds the Application; it is not ours to act on.
        Ok(Action::await_change())
    }
}

async fn failed(app: &Application, ctx: &Context, message: &str) -> Result<Action, Error> {
    warn!(app = app.metadata.name.as_deref().unwrap_or(""), error = %message, "PostDelete hooks");
    crate::delete::set_deletion_error(app, ctx, message).await?;
    Ok(Action::requeue(RETRY))
}

/// The first stage: create, wait for, and judge the hooks.
async fn run_hooks(app: &Application, ctx: &Context) -> Result<Action, Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let Some(uid) = app.metadata.uid.clone() else {
        return failed(app, ctx, "the Application has no metadata.uid").await;
    };
    let (tasks, cluster) = match hooks(app, ctx).await {
        Ok(found) => found,
        Err(message) => {
            return failed(
                app,
                ctx,
                &format!("rendering the PostDelete hooks: {message}"),
            )
            .await;
        }
    };
    let health = match ctx.settings.health_checks() {
        Ok(h) => h,
        Err(message) => return failed(app, ctx, &message).await,
    };
    let live = match created(&cluster, &uid, &tasks).await {
        Ok(live) => live,
        Err(message) => return failed(app, ctx, &message).await,
    };
    let found: Vec<Found> = live
        .iter()
        .map(|obj| Found {
            id: obj["metadata"]["annotations"][HOOK_ANNOTATION]
                .as_str()
                .unwrap_or("")
                .to_string(),
            name: obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
            look: verdict(Some(obj), true, &health),
        })
        .collect();
    match next(&tasks, &found) {
        Next::Create(indices) => {
            let create: Vec<Task> = indices
                .iter()
                .filter_map(|&i| tasks.get(i))
                .map(|t| marked(t, &uid))
                .collect();
            let plan = sync::plan::Plan {
                tasks: create,
                ..Default::default()
            };
            let result = sync::apply::run(&cluster.client, &plan, false).await;
            for outcome in &result.resources {
                let ours = outcome.live.as_ref().is_some_and(|l| {
                    l["metadata"]["labels"][DELETION_LABEL].as_str() == Some(uid.as_str())
                });
                if outcome.status == sync::apply::Status::Failed {
                    let message = format!(
                        "creating PostDelete hook {}: {}",
                        outcome.key, outcome.message
                    );
                    return failed(app, ctx, &message).await;
                }
                if !ours {
                    // A named hook without BeforeHookCreation that exists
                    // already: it is not this deletion's, and would be
                    // looked for again and again.
                    let message = format!(
                        "PostDelete hook {}: an object of that name exists that this deletion did not create; \
                         delete it, or give the hook the delete policy BeforeHookCreation",
                        outcome.key
                    );
                    return failed(app, ctx, &message).await;
                }
                info!(app = %name, hook = %outcome.key, "PostDelete hook created");
            }
            Ok(Action::requeue(POLL))
        }
        Next::Wait(what) => {
            debug!(app = %name, %what, "PostDelete hooks running");
            Ok(Action::requeue(POLL))
        }
        Next::Failed(message) => failed(app, ctx, &message).await,
        Next::Done => {
            let recorded: Vec<Recorded> = live.iter().map(recorded).collect();
            let annotation = serde_json::to_string(&recorded).unwrap_or_default();
            info!(app = %name, hooks = recorded.len(), "PostDelete hooks done");
            crate::delete::remove_finalizer(
                app,
                ctx,
                FINALIZER,
                json!({HOOKS_ANNOTATION: annotation}),
            )
            .await
        }
    }
}

/// The second stage: the hooks' delete policies.
async fn cleanup(app: &Application, ctx: &Context) -> Result<Action, Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let recorded: Vec<Recorded> = app
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HOOKS_ANNOTATION))
        // Missing or unreadable (the first finalizer removed by hand):
        // nothing is known to clean up.
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    if !recorded.is_empty() {
        let cluster = match ctx.clusters.for_app(app).await {
            Ok(c) => c,
            Err(condition) => return failed(app, ctx, &condition.message).await,
        };
        let health = match ctx.settings.health_checks() {
            Ok(h) => h,
            Err(message) => return failed(app, ctx, &message).await,
        };
        let mut objects = sync::apply::Objects::new(cluster.client.clone());
        let mut pending = 0;
        for r in &recorded {
            let obj = json!({"apiVersion": r.api_version, "kind": r.kind,
                             "metadata": {"name": r.name, "namespace": r.namespace}});
            let live = match objects.get(&obj).await {
                Ok(Some(live)) if r.uid.is_empty() || live["metadata"]["uid"] == r.uid => live,
                Ok(_) => continue,
                Err(e) => {
                    let message = format!("reading PostDelete hook {}/{}: {e}", r.kind, r.name);
                    return failed(app, ctx, &message).await;
                }
            };
            match clean(&live, &verdict(Some(&live), true, &health)) {
                Clean::Keep => {}
                Clean::Pending => pending += 1,
                Clean::Delete => {
                    pending += 1;
                    if let Err(e) = objects.delete(&live).await {
                        let message =
                            format!("deleting PostDelete hook {}/{}: {e}", r.kind, r.name);
                        return failed(app, ctx, &message).await;
                    }
                    info!(app = %name, hook = %r.name, "PostDelete hook deleted by its delete policy");
                }
            }
        }
        if pending > 0 {
            return Ok(Action::requeue(POLL));
        }
    }
    crate::delete::remove_finalizer(app, ctx, CLEANUP_FINALIZER, json!({})).await
}

fn recorded(obj: &Value) -> Recorded {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    Recorded {
        api_version: s(&obj["apiVersion"]),
        kind: s(&obj["kind"]),
        namespace: s(&obj["metadata"]["namespace"]),
        name: s(&obj["metadata"]["name"]),
        uid: s(&obj["metadata"]["uid"]),
    }
}

/// A hook task with this deletion's marks on its object.
fn marked(task: &Task, uid: &str) -> Task {
    let id = hook_id(task);
    let mut task = task.clone();
    let meta = &mut task.object["metadata"];
    meta["labels"][DELETION_LABEL] = Value::String(uid.to_string());
    meta["annotations"][HOOK_ANNOTATION] = Value::String(id);
    task
}

/// The Application's PostDelete hooks, rendered from its last synced
/// revision (`status.sync.revision`; the spec's `targetRevision` resolved
/// when there is none), in order, with the destination cluster.
async fn hooks(
    app: &Application,
    ctx: &Context,
) -> Result<(Vec<Task>, std::sync::Arc<crate::clusters::Cluster>), String> {
    let source = crate::status::supported_source(app).map_err(|c| c.message)?;
    let synced = app
        .status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.clone())
        .filter(|r| !r.is_empty());
    let revision = match synced {
        Some(r) => r,
        None => crate::compare::resolve(ctx, &source)
            .await
            .map_err(|c| c.message)?,
    };
    let comparison = crate::compare::compare(ctx, app, &source, &revision)
        .await
        .map_err(|c| c.message)?;
    let tasks = tasks(&comparison.hooks).map_err(|e| e.to_string())?;
    Ok((tasks, comparison.cluster))
}

/// The ordered PostDelete tasks of rendered objects (namespaced already,
/// as `compare` leaves them): by wave, kind and name, as a sync orders.
pub fn tasks(rendered: &[Value]) -> Result<Vec<Task>, sync::plan::PlanError> {
    let hooks: Vec<Value> = rendered
        .iter()
        .filter(|o| is_post_delete(o))
        .cloned()
        .collect();
    let plan = sync::plan::build(&sync::plan::Input {
        desired: &hooks,
        live: &[],
        in_sync: &|_| true,
        options: &sync::SyncOptions::default(),
        prune: false,
        namespace: "",
        cluster_scoped: &|_, _| true,
    })?;
    Ok(plan.post_delete)
}

/// The hook objects this deletion (`uid`) created, read from the API
/// server itself (a cache could miss one just created, and it would be
/// created twice), with `apiVersion` and `kind` set.
async fn created(
    cluster: &crate::clusters::Cluster,
    uid: &str,
    tasks: &[Task],
) -> Result<Vec<Value>, String> {
    let places: BTreeSet<(String, String, String, String)> = tasks
        .iter()
        .map(|t| {
            let (group, version) = crate::compare::split_api_version(&t.object);
            let kind = t.object["kind"].as_str().unwrap_or("").to_string();
            (group, version, kind, t.key.namespace.clone())
        })
        .collect();
    let params = ListParams::default().labels(&format!("{DELETION_LABEL}={uid}"));
    let mut live = Vec::new();
    for (group, version, kind, namespace) in places {
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let (ar, scope) = cluster
            .resource_of(&gvk)
            .await
            .map_err(|e| format!("PostDelete hook kind {kind}: {e}"))?;
        let namespaced = scope == kube::discovery::Scope::Namespaced;
        let api: Api<DynamicObject> = if namespaced && !namespace.is_empty() {
            Api::namespaced_with(cluster.client.clone(), &namespace, &ar)
        } else {
            Api::all_with(cluster.client.clone(), &ar)
        };
        let list = api
            .list(&params)
            .await
            .map_err(|e| format!("listing PostDelete hooks of kind {kind}: {e}"))?;
        for obj in list.items {
            let mut value = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
            value["apiVersion"] = Value::String(ar.api_version.clone());
            value["kind"] = Value::String(ar.kind.clone());
            live.push(value);
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync::hook::{HOOK, HOOK_DELETE_POLICY};

    fn hook(name_field: &str, name: &str, wave: &str, policy: Option<&str>) -> Value {
        let mut annotations = json!({HOOK: "PostDelete", "argocd.argoproj.io/sync-wave": wave});
        if let Some(p) = policy {
            annotations[HOOK_DELETE_POLICY] = json!(p);
        }
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {name_field: name, "namespace": "ns", "annotations": annotations}})
    }

    fn found(id: &str, name: &str, look: Look) -> Found {
        Found {
            id: id.to_string(),
            name: name.to_string(),
            look,
        }
    }

    #[test]
    fn only_post_delete_hooks_count() {
        assert!(is_post_delete(&hook("name", "j", "0", None)));
        let helm = json!({"metadata": {"annotations": {"helm.sh/hook": "post-delete"}}});
        assert!(is_post_delete(&helm));
        let sync_hook = json!({"metadata": {"annotations": {HOOK: "PostSync"}}});
        assert!(!is_post_delete(&sync_hook));
        let bad = json!({"metadata": {"annotations": {HOOK: "PostDelete,Later"}}});
        assert!(!is_post_delete(&bad));
        assert!(!is_post_delete(&json!({"kind": "ConfigMap"})));
    }

    #[test]
    fn finalizers_are_added_and_removed_leaving_others_alone() {
        let other = "resources-finalizer.argocd.argoproj.io".to_string();
        assert_eq!(
            finalizers_for(std::slice::from_ref(&other), true),
            Some(vec![
                other.clone(),
                FINALIZER.to_string(),
                CLEANUP_FINALIZER.to_string()
            ])
        );
        let both = vec![
            FINALIZER.to_string(),
            other.clone(),
            CLEANUP_FINALIZER.to_string(),
        ];
        assert_eq!(finalizers_for(&both, true), None);
        assert_eq!(finalizers_for(&both, false), Some(vec![other.clone()]));
        assert_eq!(finalizers_for(&[other], false), None);
        assert_eq!(finalizers_for(&[], false), None);
    }

    #[test]
    fn hooks_are_created_wave_by_wave_once_and_waited_for() {
        let t = tasks(&[
            hook("name", "first", "-1", None),
            hook("generateName", "notify-", "0", None),
            hook("name", "cleanup", "0", None),
            // Not a PostDelete hook, not a hook at all: left out.
            json!({"apiVersion": "batch/v1", "kind": "Job",
                   "metadata": {"name": "smoke", "namespace": "ns",
                                "annotations": {HOOK: "PostSync"}}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "config", "namespace": "ns"}}),
        ])
        .unwrap();
        let ids: Vec<String> = t.iter().map(hook_id).collect();
        assert_eq!(
            ids,
            [
                "Job.batch/ns/first",
                "Job.batch/ns/cleanup",
                "Job.batch/ns/notify-"
            ]
        );
        assert_eq!(next(&t, &[]), Next::Create(vec![0]));
        let first_running = found(&ids[0], "first", Look::Wait(String::new()));
        assert_eq!(
            next(&t, &[first_running]),
            Next::Wait("waiting for completion of PostDelete hook Job.batch/ns/first".into())
        );
        let first_done = || found(&ids[0], "first", Look::Done(String::new()));
        assert_eq!(next(&t, &[first_done()]), Next::Create(vec![1, 2]));
        // The generateName hook is found by its annotation, whatever name
        // the server gave it: not created again.
        let notify = found(&ids[2], "notify-x7k2p", Look::Wait(String::new()));
        assert_eq!(next(&t, &[first_done(), notify]), Next::Create(vec![1]));
        let all_done = [
            first_done(),
            found(&ids[1], "cleanup", Look::Done(String::new())),
            found(&ids[2], "notify-x7k2p", Look::Done(String::new())),
        ];
        assert_eq!(next(&t, &all_done), Next::Done);
        assert_eq!(next(&[], &[]), Next::Done);
    }

    #[test]
    fn a_failed_hook_is_named() {
        let t = tasks(&[hook("generateName", "notify-", "0", None)]).unwrap();
        let failed = found(
            "Job.batch/ns/notify-",
            "notify-abcde",
            Look::Failed("BackoffLimitExceeded".into()),
        );
        let Next::Failed(message) = next(&t, &[failed]) else {
            panic!("not failed");
        };
        assert!(
            message.starts_with(
                "PostDelete hook Job.batch/ns/notify-abcde failed: BackoffLimitExceeded;"
            ),
            "{message}"
        );
        assert!(message.contains(FINALIZER), "{message}");
    }

    #[test]
    fn cleanup_applies_the_delete_policies() {
        let done = Look::Done(String::new());
        let failed = Look::Failed(String::new());
        let kept = hook("name", "j", "0", None);
        assert_eq!(clean(&kept, &done), Clean::Keep);
        assert_eq!(clean(&kept, &failed), Clean::Keep);
        let on_success = hook("name", "j", "0", Some("HookSucceeded"));
        assert_eq!(clean(&on_success, &done), Clean::Delete);
        assert_eq!(clean(&on_success, &failed), Clean::Keep);
        assert_eq!(clean(&on_success, &Look::Wait(String::new())), Clean::Keep);
        let on_failure = hook("name", "j", "0", Some("HookFailed"));
        assert_eq!(clean(&on_failure, &failed), Clean::Delete);
        let mut going = on_success.clone();
        going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(clean(&going, &done), Clean::Pending);
    }

    #[test]
    fn recorded_hooks_round_trip_through_the_annotation() {
        let r = Recorded {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            namespace: "ns".into(),
            name: "notify-x".into(),
            uid: "u".into(),
        };
        let text = serde_json::to_string(std::slice::from_ref(&r)).unwrap();
        let back: Vec<Recorded> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, [r]);
    }
}
