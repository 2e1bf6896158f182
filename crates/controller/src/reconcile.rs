//! One reconcile of one Application: compare, maybe sync, compare again,
//! write status. Errors in Git, rendering or the spec become conditions;
//! only a failed status write is an error (requeued with backoff).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use api::{
    Application, ApplicationSource, ComparedTo, HealthStatus, Operation, OperationInitiator,
    OperationState, ResourceResult, ResourceStatus, SyncOperation, SyncOperationResult, SyncStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use serde_json::{Map, Value, json};
use sync::ResourceKey;
use sync::apply::Status;
use tracing::{info, warn};

use crate::compare::{self, Comparison};
use crate::status::{self, Condition, REFRESH_ANNOTATION};
use crate::{Context, Error};

/// Reconciles one Application.
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = app.metadata.name.clone().ok_or(Error::Unnamed("name"))?;
    let namespace = app
        .metadata
        .namespace
        .clone()
        .ok_or(Error::Unnamed("namespace"))?;
    let key = (namespace.clone(), name.clone());
    let fingerprint = status::fingerprint(&app);
    let started = Instant::now();
    let refresh = status::refresh_requested(&app);
    if !refresh && let Some(wait) = ctx.not_due(&key, &fingerprint, started) {
        return Ok(Action::requeue(wait));
    }
    let (mut patch, settling) = evaluate(&app, &ctx).await;
    if refresh {
        patch.insert(
            "metadata".to_string(),
            json!({"annotations": {REFRESH_ANNOTATION: null}}),
        );
    }
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    apps.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(Value::Object(patch)),
    )
    .await
    .map_err(|source| Error::WriteStatus {
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    })?;
    let next = status::next_check(settling, ctx.config.reconcile_interval);
    ctx.reconciled(key, fingerprint, started + next);
    Ok(Action::requeue(next))
}

/// Requeues a failed reconcile with a growing backoff.
pub fn error_policy(app: Arc<Application>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = (
        app.metadata.namespace.clone().unwrap_or_default(),
        app.metadata.name.clone().unwrap_or_default(),
    );
    let wait = ctx.failed(key);
    warn!(error = %error, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// Compares, syncs when the policy says so, compares again, and returns
/// the merge patch for the Application (`{"status": ...}`) and whether its
/// resources are still settling (Progressing or Missing).
async fn evaluate(app: &Application, ctx: &Context) -> (Map<String, Value>, bool) {
    let now = || Time(Timestamp::now());
    let mut status = Map::new();
    let source = match status::supported_source(app) {
        Ok(source) => source,
        Err(condition) => {
            return (finish(app, status, &[condition], None, &now()), false);
        }
    };
    let compared_to = ComparedTo {
        source: Some(source.clone()),
        destination: app.spec.destination.clone(),
        ..Default::default()
    };
    let compared = match compare::resolve(ctx, &source).await {
        Ok(revision) => compare::compare(ctx, app, &source, &revision)
            .await
            .map_err(|condition| (condition, Some(revision))),
        Err(condition) => Err((condition, None)),
    };
    let comparison = match compared {
        Ok(c) => c,
        Err((condition, revision)) => {
            warn!(app = app.metadata.name.as_deref().unwrap_or(""), error = %condition.message, "comparison failed");
            status.insert(
                "sync".to_string(),
                to_json(&SyncStatus {
                    status: "Unknown".to_string(),
                    compared_to: Some(compared_to),
                    revision,
                    revisions: None,
                }),
            );
            return (finish(app, status, &[condition], None, &now()), false);
        }
    };
    let mut conditions = comparison.errors.clone();
    let mut comparison = comparison;
    match status::auto_sync(
        app,
        &comparison.revision,
        comparison.out_of_sync(),
        comparison.desired.len(),
    ) {
        Ok(false) => {}
        Err(condition) => conditions.push(condition),
        Ok(true) => {
            let (op_state, ok) = sync(ctx, app, &source, &comparison, &mut conditions).await;
            status.insert("operationState".to_string(), to_json(&op_state));
            if ok {
                let finished = op_state.finished_at.clone().unwrap_or_else(now);
                let history = status::append_history(
                    app,
                    &comparison.revision,
                    &source,
                    &op_state.started_at,
                    &finished,
                );
                status.insert("history".to_string(), to_json(&history));
            }
            publish(ctx, app, &op_state, ok).await;
            // The status reports the cluster after the sync, at the
            // revision synced.
            match compare::compare(ctx, app, &source, &comparison.revision).await {
                Ok(again) => {
                    conditions.retain(|c| c.type_ != "ComparisonError");
                    conditions.extend(again.errors.clone());
                    comparison = again;
                }
                Err(condition) => conditions.push(condition),
            }
        }
    }
    status.insert(
        "sync".to_string(),
        to_json(&SyncStatus {
            status: if comparison.out_of_sync() {
                "OutOfSync"
            } else {
                "Synced"
            }
            .to_string(),
            compared_to: Some(compared_to),
            revision: Some(comparison.revision.clone()),
            revisions: None,
        }),
    );
    status.insert(
        "health".to_string(),
        to_json(&HealthStatus {
            status: Some(comparison.health.status.to_string()),
            message: Some(comparison.health.message.clone()).filter(|m| !m.is_empty()),
            last_transition_time: None,
        }),
    );
    let settling = matches!(
        comparison.health.status,
        health::HealthStatusCode::Progressing | health::HealthStatusCode::Missing
    );
    (
        finish(app, status, &conditions, Some(&comparison), &now()),
        settling,
    )
}

/// Adds `resources`, `conditions` and `reconciledAt` and wraps the status.
fn finish(
    app: &Application,
    mut status: Map<String, Value>,
    conditions: &[Condition],
    comparison: Option<&Comparison>,
    now: &Time,
) -> Map<String, Value> {
    if let Some(c) = comparison {
        let resources: Vec<ResourceStatus> = c
            .items
            .iter()
            .zip(&c.health.resources)
            .map(|(item, health)| ResourceStatus {
                group: Some(item.key.group.clone()).filter(|g| !g.is_empty()),
                version: Some(item.version.clone()),
                kind: Some(item.key.kind.clone()),
                namespace: Some(item.key.namespace.clone()).filter(|n| !n.is_empty()),
                name: Some(item.key.name.clone()),
                status: Some(if item.synced { "Synced" } else { "OutOfSync" }.to_string()),
                health: health.as_ref().map(|h| HealthStatus {
                    status: Some(h.status.to_string()),
                    message: Some(h.message.clone()).filter(|m| !m.is_empty()),
                    last_transition_time: None,
                }),
                requires_pruning: item.desired.is_none().then_some(true),
                ..Default::default()
            })
            .collect();
        status.insert("resources".to_string(), to_json(&resources));
    }
    let conditions = status::conditions(app, conditions, now);
    status.insert(
        "conditions".to_string(),
        if conditions.is_empty() {
            Value::Null
        } else {
            to_json(&conditions)
        },
    );
    status.insert("reconciledAt".to_string(), to_json(now));
    // Each field written replaces the old one entirely; fields not written
    // (resources and health after a failed comparison, history, the last
    // operation) stay as they were.
    let old = app.status.as_ref().map(to_json);
    let status: Map<String, Value> = status
        .into_iter()
        .map(|(k, v)| {
            let before = old.as_ref().and_then(|o| o.get(&k));
            let v = status::replacing(before, &v);
            (k, v)
        })
        .collect();
    let mut patch = Map::new();
    patch.insert("status".to_string(), Value::Object(status));
    patch
}

/// Plans and runs a sync of the compared objects. Returns the
/// `operationState` and whether it succeeded; a failure adds a `SyncError`.
async fn sync(
    ctx: &Context,
    app: &Application,
    source: &ApplicationSource,
    comparison: &Comparison,
    conditions: &mut Vec<Condition>,
) -> (OperationState, bool) {
    let started = Time(Timestamp::now());
    let prune = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref())
        .and_then(|a| a.prune)
        .unwrap_or(false);
    let operation = Operation {
        sync: Some(SyncOperation {
            revision: Some(comparison.revision.clone()),
            prune: Some(prune),
            ..Default::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: None,
            automated: Some(true),
        }),
        ..Default::default()
    };
    let state =
        |phase: &str, message: String, result: Option<SyncOperationResult>| OperationState {
            operation: operation.clone(),
            phase: phase.to_string(),
            message: Some(message),
            sync_result: result,
            started_at: started.clone(),
            finished_at: Some(Time(Timestamp::now())),
            retry_count: None,
        };
    let options = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.sync_options.clone())
        .unwrap_or_default();
    let options = match sync::SyncOptions::parse(options.iter().map(String::as_str)) {
        Ok(o) => o,
        Err(e) => {
            let message = format!("spec.syncPolicy.syncOptions: {e}");
            conditions.push(Condition::invalid_spec(message.clone()));
            return (state("Failed", message, None), false);
        }
    };
    let in_sync: HashSet<&ResourceKey> = comparison
        .items
        .iter()
        .filter(|i| i.synced)
        .map(|i| &i.key)
        .collect();
    // Every desired object already carries its namespace (see `compare`);
    // only the destination namespace itself is created here.
    let namespaced: HashSet<(String, String)> = comparison
        .desired
        .iter()
        .chain(&comparison.live)
        .filter(|o| {
            o["metadata"]
                .get("namespace")
                .and_then(Value::as_str)
                .is_some()
        })
        .map(|o| {
            let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("apiVersion"), s("kind"))
        })
        .collect();
    let cluster_scoped = |api_version: &str, kind: &str| {
        !namespaced.contains(&(api_version.to_string(), kind.to_string()))
    };
    let namespace = app.spec.destination.namespace.clone().unwrap_or_default();
    let plan = match sync::plan::build(&sync::plan::Input {
        desired: &comparison.desired,
        live: &comparison.live,
        in_sync: &|k| in_sync.contains(k),
        options: &options,
        prune,
        namespace: &namespace,
        cluster_scoped: &cluster_scoped,
    }) {
        Ok(plan) => plan,
        Err(e) => {
            let message = format!("planning the sync: {e}");
            conditions.push(Condition::sync(message.clone()));
            return (state("Failed", message, None), false);
        }
    };
    info!(
        app = app.metadata.name.as_deref().unwrap_or(""),
        revision = %comparison.revision,
        changes = plan.changes().count(),
        "syncing"
    );
    let result = sync::apply::run(&ctx.client, &plan, false).await;
    let ok = result.succeeded();
    let versions = |key: &ResourceKey| {
        comparison
            .items
            .iter()
            .find(|i| &i.key == key)
            .map(|i| i.version.clone())
            .unwrap_or_default()
    };
    let not_in_git = |key: &ResourceKey| {
        comparison
            .items
            .iter()
            .any(|i| &i.key == key && i.desired.is_none())
    };
    let resources: Vec<ResourceResult> = result
        .resources
        .iter()
        .filter_map(|o| {
            let status = match o.status {
                Status::Synced => "Synced",
                Status::Pruned => "Pruned",
                Status::Failed | Status::NotRun => "SyncFailed",
                // Only a resource Git no longer has is skipped for want of
                // pruning; skipped applies (already in sync) are not listed.
                Status::Skipped if not_in_git(&o.key) => "PruneSkipped",
                Status::Skipped => return None,
            };
            Some(ResourceResult {
                group: o.key.group.clone(),
                version: versions(&o.key),
                kind: o.key.kind.clone(),
                namespace: o.key.namespace.clone(),
                name: o.key.name.clone(),
                status: Some(status.to_string()),
                message: Some(o.message.clone()).filter(|m| !m.is_empty()),
                sync_phase: Some("Sync".to_string()),
                ..Default::default()
            })
        })
        .collect();
    let sync_result = SyncOperationResult {
        resources: Some(resources),
        revision: comparison.revision.clone(),
        source: Some(source.clone()),
        ..Default::default()
    };
    if ok {
        (
            state(
                "Succeeded",
                "successfully synced (all tasks run)".to_string(),
                Some(sync_result),
            ),
            true,
        )
    } else {
        let failure = result
            .resources
            .iter()
            .find(|o| o.status == Status::Failed)
            .map(|o| format!("{}: {}", o.key, o.message))
            .unwrap_or_else(|| "a task failed".to_string());
        let message = format!("sync to {} failed: {failure}", comparison.revision);
        conditions.push(Condition::sync(message.clone()));
        (state("Failed", message, Some(sync_result)), false)
    }
}

/// A Kubernetes Event on the Application for a finished sync. Failing to
/// publish it is logged, not fatal.
async fn publish(ctx: &Context, app: &Application, state: &OperationState, ok: bool) {
    let event = Event {
        type_: if ok {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: if ok {
            "OperationCompleted"
        } else {
            "OperationFailed"
        }
        .to_string(),
        note: state.message.as_deref().map(truncate_note),
        action: "Sync".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &app.object_ref(&())).await {
        warn!(app = app.metadata.name.as_deref().unwrap_or(""), error = %e, "publishing the sync event");
    }
}

/// The API server refuses an Event whose note is longer than 1 kB; the
/// full message is in `operationState`.
fn truncate_note(message: &str) -> String {
    const MAX: usize = 1000;
    if message.len() <= MAX {
        return message.to_string();
    }
    let mut end = MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::truncate_note;

    #[test]
    fn event_notes_fit_the_api_limit() {
        assert_eq!(truncate_note("short"), "short");
        let long = "é".repeat(800);
        let note = truncate_note(&long);
        assert!(note.len() <= 1024, "{}", note.len());
        assert!(note.ends_with('…'));
    }
}
