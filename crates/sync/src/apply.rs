//! Carrying a [`Plan`] out against the API server.
//!
//! Objects are applied with server-side apply as field manager `gyro`
//! (forcing conflicts, as Argo CD's server-side apply does), applied
//! client-side as `kubectl apply` does with `ServerSideApply=false`
//! ([`crate::client_side`]), or replaced with `Replace=true` (which wins
//! over both); `Validate=false` asks the server to ignore unknown fields. Tasks run in plan order; the first failure stops the sync and
//! the tasks after it are reported as not run, so a broken object never
//! leads to pruning.

use std::collections::HashMap;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams,
    PropagationPolicy, ValidationDirective,
};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::Value;

use crate::client_side;
use crate::hook::{DeletePolicy, Hook};
use crate::options::{Propagation, SyncOptions};
use crate::plan::{Action, Plan, ResourceKey};

/// The field manager gyro applies as.
pub const FIELD_MANAGER: &str = "gyro";

/// How one task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Applied (or its namespace created).
    Synced,
    /// Deleted.
    Pruned,
    /// Left alone by the plan.
    Skipped,
    /// Tried and failed.
    Failed,
    /// Not tried: an earlier task failed.
    NotRun,
}

/// One task's result, as `operationState.syncResult.resources[]` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub key: ResourceKey,
    pub action: Action,
    pub status: Status,
    pub message: String,
    /// The object as the server answered the task (applied, created,
    /// replaced, or marked for deletion), when it answered with one: what
    /// is live now, without waiting for a watch to tell.
    pub live: Option<Value>,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncResult {
    pub resources: Vec<Outcome>,
}

impl SyncResult {
    /// No task failed.
    pub fn succeeded(&self) -> bool {
        self.resources
            .iter()
            .all(|o| o.status != Status::Failed && o.status != Status::NotRun)
    }
}

/// Runs the plan's tasks in order. With `dry_run`, the server validates
/// and defaults each change without persisting it.
pub async fn run(client: &kube::Client, plan: &Plan, dry_run: bool) -> SyncResult {
    let mut resources: HashMap<GroupVersionKind, (ApiResource, Scope)> = HashMap::new();
    let mut result = SyncResult::default();
    let mut failed = false;
    for task in &plan.tasks {
        let outcome = |status, message: String, live: Option<Value>| Outcome {
            // A hook created from `generateName` is known by the name the
            // server gave it.
            key: match (&task.action, live.as_ref().map(name_of)) {
                (Action::Hook, Some(name)) if !name.is_empty() => ResourceKey {
                    name: name.to_string(),
                    ..task.key.clone()
                },
                _ => task.key.clone(),
            },
            action: task.action.clone(),
            status,
            message,
            live,
        };
        if failed {
            result.resources.push(outcome(
                Status::NotRun,
                "not run: an earlier task failed".to_string(),
                None,
            ));
            continue;
        }
        let done = match &task.action {
            Action::Skip(reason) => Ok((Status::Skipped, reason.clone(), None)),
            Action::Apply | Action::CreateNamespace => {
                apply_one(client, &mut resources, &task.object, &task.options, dry_run).await
            }
            Action::Hook => {
                let hook = task.hook.as_ref();
                create_hook(client, &mut resources, &task.object, hook, dry_run).await
            }
            Action::Prune => {
                prune_one(client, &mut resources, &task.object, &task.options, dry_run).await
            }
        };
        match done {
            Ok((status, message, live)) => {
                // A dry run's answer is not what is live.
                let live = live.filter(|_| !dry_run);
                result.resources.push(outcome(status, message, live))
            }
            Err(message) => {
                tracing::warn!(resource = %task.key, %message, "sync task failed");
                failed = true;
                result
                    .resources
                    .push(outcome(Status::Failed, message, None));
            }
        }
    }
    result
}

/// The API for an object's kind (found by discovery, once per kind).
async fn api_for(
    client: &kube::Client,
    cache: &mut HashMap<GroupVersionKind, (ApiResource, Scope)>,
    obj: &Value,
) -> Result<Api<DynamicObject>, String> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    if !cache.contains_key(&gvk) {
        let (ar, caps) = discovery::pinned_kind(client, &gvk)
            .await
            .map_err(|e| format!("the server does not serve {api_version} {kind}: {e}"))?;
        cache.insert(gvk.clone(), (ar, caps.scope));
    }
    let Some((ar, scope)) = cache.get(&gvk) else {
        return Err(format!("no API for {api_version} {kind}"));
    };
    let ns = obj
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Ok(match scope {
        Scope::Cluster => Api::all_with(client.clone(), ar),
        Scope::Namespaced => Api::namespaced_with(client.clone(), ns, ar),
    })
}

fn name_of(obj: &Value) -> &str {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn apply_one(
    client: &kube::Client,
    cache: &mut HashMap<GroupVersionKind, (ApiResource, Scope)>,
    obj: &Value,
    options: &SyncOptions,
    dry_run: bool,
) -> Result<(Status, String, Option<Value>), String> {
    let api = api_for(client, cache, obj).await?;
    let name = name_of(obj);
    let validation = if options.validate {
        ValidationDirective::Strict
    } else {
        ValidationDirective::Ignore
    };
    if options.replace {
        let dynamic: DynamicObject = serde_json::from_value(obj.clone())
            .map_err(|e| format!("not a Kubernetes object: {e}"))?;
        let post = PostParams {
            dry_run,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        return match api.get_opt(name).await.map_err(|e| e.to_string())? {
            None => api
                .create(&post, &dynamic)
                .await
                .map(|o| {
                    (
                        Status::Synced,
                        "created (Replace=true)".to_string(),
                        answered(o),
                    )
                })
                .map_err(|e| e.to_string()),
            Some(live) => {
                let mut dynamic = dynamic;
                dynamic.metadata.resource_version = live.metadata.resource_version;
                api.replace(name, &post, &dynamic)
                    .await
                    .map(|o| {
                        let live = answered(o);
                        (Status::Synced, "replaced (Replace=true)".to_string(), live)
                    })
                    .map_err(|e| e.to_string())
            }
        };
    }
    if options.server_side_apply == Some(false) {
        let params = client_side::Params {
            dry_run,
            validate: options.validate,
        };
        return client_side::apply(&api, obj, params)
            .await
            .map(|applied| {
                let message = match applied {
                    client_side::Applied::Created => "created (client-side apply)",
                    client_side::Applied::Configured(_) => "configured (client-side apply)",
                    client_side::Applied::Unchanged => "unchanged (client-side apply)",
                };
                (Status::Synced, message.to_string(), None)
            })
            .map_err(|e| e.to_string());
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    params.field_validation = Some(validation);
    api.patch(name, &params, &Patch::Apply(obj))
        .await
        .map(|o| (Status::Synced, "applied".to_string(), answered(o)))
        .map_err(|e| e.to_string())
}

/// The server's answer as JSON (single-object answers carry their
/// apiVersion and kind).
fn answered(obj: DynamicObject) -> Option<Value> {
    serde_json::to_value(&obj).ok()
}

async fn prune_one(
    client: &kube::Client,
    cache: &mut HashMap<GroupVersionKind, (ApiResource, Scope)>,
    obj: &Value,
    options: &SyncOptions,
    dry_run: bool,
) -> Result<(Status, String, Option<Value>), String> {
    let api = api_for(client, cache, obj).await?;
    let params = DeleteParams {
        dry_run,
        propagation_policy: Some(match options.prune_propagation {
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name_of(obj), &params).await {
        // Still there while finalizers run, the answer shows its deletion;
        // gone at once, the answer is a Status.
        Ok(answer) => Ok((
            Status::Pruned,
            "pruned".to_string(),
            answer.left().and_then(answered),
        )),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            Ok((Status::Pruned, "already gone".to_string(), None))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// How long a hook's previous instance may take to go away
/// (`BeforeHookCreation`) before the sync gives up on it.
const HOOK_DELETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Creates a hook. A named hook with `BeforeHookCreation` (the default)
/// replaces its previous instance: deleted, and created again once it is
/// gone; a named hook without that policy that exists already is left as
/// it is (Argo CD creates such hooks once). A `generateName` hook is a new
/// object every time.
async fn create_hook(
    client: &kube::Client,
    cache: &mut HashMap<GroupVersionKind, (ApiResource, Scope)>,
    obj: &Value,
    hook: Option<&Hook>,
    dry_run: bool,
) -> Result<(Status, String, Option<Value>), String> {
    let api = api_for(client, cache, obj).await?;
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).map_err(|e| format!("not a Kubernetes object: {e}"))?;
    let name = name_of(obj);
    if !name.is_empty()
        && let Some(existing) = api.get_opt(name).await.map_err(|e| e.to_string())?
    {
        if !hook.is_some_and(|h| h.deletes_on(DeletePolicy::BeforeHookCreation)) {
            return Ok((
                Status::Synced,
                "exists (a named hook without BeforeHookCreation is created once)".to_string(),
                answered(existing),
            ));
        }
        if dry_run {
            return Ok((
                Status::Synced,
                "would be deleted and created again (BeforeHookCreation)".to_string(),
                None,
            ));
        }
        delete_and_wait(&api, name, existing.metadata.uid.as_deref()).await?;
    }
    let post = PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    api.create(&post, &dynamic)
        .await
        .map(|o| (Status::Synced, "created".to_string(), answered(o)))
        .map_err(|e| e.to_string())
}

/// Deletes the instance `uid` of `name` and waits until it is gone.
async fn delete_and_wait(
    api: &Api<DynamicObject>,
    name: &str,
    uid: Option<&str>,
) -> Result<(), String> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(format!("deleting the previous instance: {e}")),
    }
    let start = std::time::Instant::now();
    loop {
        match api.get_opt(name).await.map_err(|e| e.to_string())? {
            Some(o) if o.metadata.uid.as_deref() == uid => {}
            _ => return Ok(()),
        }
        if start.elapsed() > HOOK_DELETE_TIMEOUT {
            return Err(format!(
                "the previous instance was not gone {HOOK_DELETE_TIMEOUT:?} after its deletion (BeforeHookCreation)"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Single-object reads and deletes for a sync's waits and hook clean-up,
/// with discovery done once per kind.
pub struct Objects {
    client: kube::Client,
    kinds: HashMap<GroupVersionKind, (ApiResource, Scope)>,
}

impl Objects {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            kinds: HashMap::new(),
        }
    }

    /// Reads one object as it is now (`None`: it does not exist).
    pub async fn get(&mut self, obj: &Value) -> Result<Option<Value>, String> {
        let api = api_for(&self.client, &mut self.kinds, obj).await?;
        api.get_opt(name_of(obj))
            .await
            .map(|o| o.and_then(answered))
            .map_err(|e| e.to_string())
    }

    /// Deletes one object (a hook, by its delete policy), its dependents
    /// in the background; an object already gone is fine.
    pub async fn delete(&mut self, obj: &Value) -> Result<(), String> {
        let api = api_for(&self.client, &mut self.kinds, obj).await?;
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(name_of(obj), &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
