//! One reconcile of one Application: compare, run the requested or
//! automated sync operation (see [`operation`]), compare again,
//! write status; or, for an Application being deleted, its cascading
//! deletion ([`delete`]). Errors in Git, rendering or the spec
//! become conditions; only a failed status write is an error (requeued
//! with backoff).

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{Application, ComparedTo, HealthStatus, OperationState, ResourceStatus, SyncStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use serde_json::{Map, Value, json};
use tracing::warn;

use crate::compare::{self, Comparison};
use crate::governance::{self, Governance};
use crate::operation::{self, Step};
use crate::status::{self, Condition, REFRESH_ANNOTATION};
use crate::{Context, Error, Trigger, clusters, summary};
use crate::{delete, execute, post_delete};

/// Reconciles one Application.
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = app.metadata.name.clone().ok_or(Error::Unnamed("name"))?;
    let namespace = app
        .metadata
        .namespace
        .clone()
        .ok_or(Error::Unnamed("namespace"))?;
    if app.metadata.deletion_timestamp.is_some() {
        return delete::finalize(&app, &ctx).await;
    }
    let key = (namespace.clone(), name.clone());
    if ctx.stale(&key, &app) {
        // The watch has not brought this controller's last write yet: an
        // operation that write finished would look unfinished.
        return Ok(Action::requeue(Duration::from_millis(300)));
    }
    let fingerprint = status::fingerprint(&app);
    let started = Instant::now();
    let refresh = status::refresh_requested(&app);
    let trigger = ctx.take_trigger(&key);
    if trigger.is_none()
        && !refresh
        && let Some(wait) = ctx.not_due(&key, &fingerprint, started)
    {
        return Ok(Action::requeue(wait));
    }
    let evaluation = evaluate(&app, &ctx, trigger).await;
    if let Some(has_hooks) = evaluation.post_delete_hooks {
        post_delete::keep_finalizers(&app, &ctx, has_hooks).await;
    }
    let mut patch = evaluation.patch;
    // The Application as this reconcile leaves it: its own write of
    // `operation` (cleared, or an automated one waiting for a retry) must
    // not look like a new request; a user's write made meanwhile must.
    let mut written = (*app).clone();
    if let Some(operation) = evaluation.operation {
        written.operation = operation;
    }
    if refresh {
        patch.insert(
            "metadata".to_string(),
            json!({"annotations": {REFRESH_ANNOTATION: null}}),
        );
    }
    // A reconcile woken by a live object or a project that changed nothing
    // but `reconciledAt` writes nothing: a thousand Deployments rolling out
    // would otherwise mean thousands of Application writes (and Argo CD
    // moves `reconciledAt` only on full comparisons too).
    let quiet = matches!(
        trigger,
        Some(Trigger::Resources | Trigger::Project | Trigger::Cluster)
    ) && !refresh
        && only_reconciled_at(&app, &patch);
    if !quiet {
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
        let answer = apps
            .patch(
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
        ctx.wrote(&answer);
    }
    // Live objects and projects are watched: nothing to poll for sooner.
    let mut next = ctx.config.reconcile_interval;
    if let Some(retry) = evaluation.retry_in {
        // A little after the retry is due, so it is due when looked at.
        next = next.min(retry + Duration::from_millis(200));
    }
    ctx.metrics
        .reconciled(&app, started.elapsed().as_secs_f64());
    ctx.reconciled(key, status::fingerprint(&written), started + next);
    Ok(Action::requeue(next))
}

/// Whether a patch changes nothing but `status.reconciledAt`.
fn only_reconciled_at(app: &Application, patch: &Map<String, Value>) -> bool {
    let old = app.status.as_ref().map(to_json).unwrap_or(Value::Null);
    patch
        .iter()
        .all(|(key, value)| match (key.as_str(), value) {
            ("status", Value::Object(status)) => status.iter().all(|(field, new)| {
                field == "reconciledAt" || old.get(field).unwrap_or(&Value::Null) == new
            }),
            _ => false,
        })
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

/// What one reconcile writes and when to look again.
struct Evaluation {
    /// The merge patch for the Application (`status`, maybe `operation`).
    patch: Map<String, Value>,
    /// An operation waits for a retry due in this long.
    retry_in: Option<Duration>,
    /// What this reconcile writes to `operation`, if anything.
    operation: Option<Option<api::Operation>>,
    /// Whether Git has PostDelete hooks (`None`: the comparison failed).
    post_delete_hooks: Option<bool>,
}

/// Compares, runs the operation (requested, being retried, or automated),
/// compares again, and returns the patch for the Application.
async fn evaluate(app: &Application, ctx: &Context, trigger: Option<Trigger>) -> Evaluation {
    let now = || Time(Timestamp::now());
    let mut status = Map::new();
    let mut top = Map::new();
    let mut conditions = Vec::new();
    let mut retry_in = None;
    let mut written_op = None;
    let source = status::supported_source(app);
    let compared_to = ComparedTo {
        source: source.as_ref().ok().cloned(),
        destination: app.spec.destination.clone(),
        ..Default::default()
    };
    // The project: is the Application permitted at all, and do its sync
    // windows let a sync run now.
    let governance = Governance::of(ctx, app, Timestamp::now());
    let head = match (&source, governance.spec_error()) {
        (_, Some(condition)) => Err((condition.clone(), None)),
        (Ok(source), None) => match compare::resolve_for(ctx, app, source, trigger).await {
            Ok(revision) => compare::compare(ctx, app, source, &revision)
                .await
                .map_err(|condition| (condition, Some(revision))),
            Err(condition) => Err((condition, None)),
        },
        (Err(condition), None) => Err((condition.clone(), None)),
    };

    // The operation: requested in `operation`, waiting for a retry, or an
    // automated sync decided on the comparison.
    let mut run = None;
    let mut finished = None;
    match operation::next_step(app, Timestamp::now()) {
        Step::Idle => {
            if let Ok(c) = &head {
                match status::auto_sync(app, &c.revision, c.out_of_sync(), c.desired.len()) {
                    Ok(true) => {
                        let op = operation::automated(app, &c.revision);
                        run = Some((new_state(op), true));
                    }
                    Ok(false) => {}
                    Err(condition) => conditions.push(condition),
                }
            }
        }
        Step::Start(state) => run = Some((state, true)),
        Step::Attempt(state) => run = Some((state, false)),
        Step::Wait(due) => retry_in = Some(operation::until(due, Timestamp::now())),
        Step::Finish(state) => finished = Some(state),
    }
    // An automated sync (new or retried) waits while the sync windows hold
    // it, and looks again when they change.
    if let Some((state, _)) = &run
        && governance::is_automated(&state.operation)
        && let Some(hold) = governance.automated_hold()
    {
        conditions.push(hold);
        run = None;
        if let Some(wait) = governance.wake_in(Timestamp::now()) {
            retry_in = Some(retry_in.map_or(wait, |r: Duration| r.min(wait)));
        }
    }
    let mut synced = false;
    if let Some((state, new)) = run {
        let op = state.operation.clone();
        let refresh = !new
            && op.retry.as_ref().and_then(|r| r.refresh) == Some(true)
            && state.retry_count.unwrap_or(0) > 0;
        let (attempt, target) =
            execute::attempt(ctx, app, &state, head.as_ref().ok(), refresh).await;
        if new {
            let revision = target
                .as_ref()
                .map(|t| t.revision.clone())
                .or_else(|| op.sync.as_ref().and_then(|s| s.revision.clone()))
                .unwrap_or_else(|| "HEAD".to_string());
            publish(
                ctx,
                app,
                EventType::Normal,
                "OperationStarted",
                operation::started_note(&op, &revision),
            )
            .await;
        }
        let state = operation::conclude(state, attempt, Timestamp::now());
        let dry_run = op.sync.as_ref().and_then(|s| s.dry_run) == Some(true);
        synced = !dry_run && state.sync_result.is_some();
        if state.phase == operation::SUCCEEDED
            && !dry_run
            && !operation::partial(&op)
            && let Some(target) = &target
        {
            let history = status::append_history(
                app,
                &target.revision,
                &target.source,
                &state.started_at,
                &state.finished_at.clone().unwrap_or_else(now),
                op.initiated_by.clone(),
            );
            status.insert("history".to_string(), to_json(&history));
        }
        let automated = op.initiated_by.as_ref().and_then(|i| i.automated) == Some(true);
        if automated && operation::completed(&state.phase) && state.phase != operation::SUCCEEDED {
            let revision = state
                .sync_result
                .as_ref()
                .map(|r| r.revision.clone())
                .unwrap_or_default();
            conditions.push(Condition::sync(status::failed_attempt(
                &revision,
                state.message.as_deref().unwrap_or(""),
            )));
        }
        finished = Some(state);
    }
    if let Some(state) = finished {
        if operation::completed(&state.phase) {
            ctx.metrics.operation_finished(app, &state.phase);
            // Like Argo CD: the operation field is cleared when it is over.
            top.insert("operation".to_string(), Value::Null);
            written_op = Some(None);
            let (type_, reason) = if state.phase == operation::SUCCEEDED {
                (EventType::Normal, "OperationCompleted")
            } else {
                (EventType::Warning, "OperationCompleted")
            };
            publish(ctx, app, type_, reason, operation::completed_note(&state)).await;
        } else {
            // Waiting for a retry: the operation stays (an automated one is
            // written, as Argo CD does), and the reconcile comes back when
            // the retry is due.
            let old = app.operation.as_ref().map(to_json);
            top.insert(
                "operation".to_string(),
                status::replacing(old.as_ref(), &to_json(&state.operation)),
            );
            written_op = Some(Some(state.operation.clone()));
            if let Ok(Some(due)) = operation::retry_due(&state) {
                retry_in = Some(operation::until(due, Timestamp::now()));
            }
        }
        status.insert("operationState".to_string(), to_json(&state));
    }

    let mut comparison = match head {
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
            if condition.message.starts_with(clusters::UNREACHABLE) {
                // Nothing is known of the live objects either.
                status.insert(
                    "health".to_string(),
                    to_json(&HealthStatus {
                        status: Some("Unknown".to_string()),
                        message: None,
                        last_transition_time: None,
                    }),
                );
            }
            conditions.push(condition);
            return Evaluation {
                patch: finish(app, status, top, &conditions, None, &now()),
                retry_in,
                operation: written_op,
                post_delete_hooks: None,
            };
        }
    };
    conditions.extend(comparison.errors.clone());
    conditions.extend(governance::orphan_warning(ctx, app, &comparison.cluster).await);
    if synced && let Ok(source) = &source {
        // The status reports the cluster after the sync, compared with the
        // spec's revision (a sync to another revision leaves it OutOfSync).
        match compare::compare(ctx, app, source, &comparison.revision).await {
            Ok(again) => {
                conditions.retain(|c| c.type_ != "ComparisonError");
                conditions.extend(again.errors.clone());
                comparison = again;
            }
            Err(condition) => conditions.push(condition),
        }
    }
    let sync_code = if comparison.out_of_sync() {
        "OutOfSync"
    } else {
        "Synced"
    };
    let old_status = app.status.as_ref();
    for note in summary::status_changes(
        old_status
            .and_then(|s| s.sync.as_ref())
            .map(|s| s.status.as_str()),
        sync_code,
        old_status
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status.as_deref()),
        comparison.health.status.as_str(),
    ) {
        publish(ctx, app, EventType::Normal, "ResourceUpdated", note).await;
    }
    status.insert(
        "sync".to_string(),
        to_json(&SyncStatus {
            status: sync_code.to_string(),
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
    Evaluation {
        patch: finish(app, status, top, &conditions, Some(&comparison), &now()),
        retry_in,
        operation: written_op,
        post_delete_hooks: Some(comparison.hooks.iter().any(post_delete::is_post_delete)),
    }
}

/// A new operation's state: Running, started now.
fn new_state(operation: api::Operation) -> OperationState {
    OperationState {
        operation,
        phase: operation::RUNNING.to_string(),
        message: None,
        sync_result: None,
        started_at: Time(Timestamp::now()),
        finished_at: None,
        retry_count: None,
    }
}

/// Adds `resources`, `conditions` and `reconciledAt` and adds the status
/// to `patch`.
fn finish(
    app: &Application,
    mut status: Map<String, Value>,
    mut patch: Map<String, Value>,
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
        let images = summary::images(c.items.iter().filter_map(|i| i.live.as_ref()));
        status.insert("summary".to_string(), json!({"images": images}));
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
    patch.insert("status".to_string(), Value::Object(status));
    patch
}

/// A Kubernetes Event on the Application (Argo CD's reasons
/// `OperationStarted`, `OperationCompleted`). Failing to publish it is
/// logged, not fatal.
async fn publish(ctx: &Context, app: &Application, type_: EventType, reason: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(truncate_note(&note)),
        action: "Sync".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &app.object_ref(&())).await {
        warn!(app = app.metadata.name.as_deref().unwrap_or(""), error = %e, "publishing the event");
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
