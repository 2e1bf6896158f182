//! One attempt of a sync operation: resolve the operation's revision,
//! compare at it (with the operation's source for a rollback), plan
//! (`sync::plan::build`), keep the resources of a partial sync, and run the
//! plan's phases and waves ([`crate::phases`], dry run when asked). This is the I/O edge of
//! [`crate::operation`]; it returns an [`Attempt`] and the comparison it
//! synced.

use std::collections::HashSet;

use api::{
    Application, ApplicationSource, Operation, OperationState, ResourceResult, SyncOperationResult,
};
use serde_json::Value;
use sync::ResourceKey;
use sync::apply::Status;
use tracing::info;

use crate::Context;
use crate::compare::{self, Comparison};
use crate::operation::{self, Attempt, ERROR, FAILED, SUCCEEDED};
use crate::{phases, status};

/// How often a waiting sync step looks at its objects.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What an attempt synced: the source and revision, for the history.
#[derive(Debug, Clone)]
pub struct Target {
    pub source: ApplicationSource,
    pub revision: String,
}

/// Runs one attempt of the operation of `state` (the state it is in, for
/// the progress written while a step waits). `head` is the comparison of the spec's source
/// at its resolved revision, reused when the operation syncs exactly that;
/// `refresh` re-resolves the source's `targetRevision` instead of the
/// operation's revision (`retry.refresh` on a retry).
pub async fn attempt(
    ctx: &Context,
    app: &Application,
    state: &OperationState,
    head: Option<&Comparison>,
    refresh: bool,
) -> (Attempt, Option<Target>) {
    let op = &state.operation;
    let error = |message: String| {
        (
            Attempt {
                phase: ERROR,
                message,
                sync_result: None,
            },
            None,
        )
    };
    let refused = || {
        crate::governance::Governance::of(ctx, app, k8s_openapi::jiff::Timestamp::now()).refusal(op)
    };
    if let Some(message) = operation::unsupported(app, op).or_else(refused) {
        return (
            Attempt {
                phase: FAILED,
                message,
                sync_result: None,
            },
            None,
        );
    }
    let Some(sync_op) = &op.sync else {
        return error("operation has no sync".to_string());
    };
    let spec_source = match status::supported_source(app) {
        Ok(s) => s,
        Err(condition) => return error(condition.message),
    };
    let rollback = sync_op.source.is_some();
    let mut source = sync_op
        .source
        .clone()
        .unwrap_or_else(|| spec_source.clone());
    if !refresh && let Some(revision) = sync_op.revision.as_ref().filter(|r| !r.is_empty()) {
        source.target_revision = Some(revision.clone());
    }
    let revision = match compare::resolve(ctx, &source).await {
        Ok(r) => r,
        Err(condition) => return error(condition.message),
    };
    // Report the source as the Application (or the history entry) has it,
    // not with the revision the operation asked for.
    let reported = if rollback {
        sync_op.source.clone().unwrap_or_default()
    } else {
        spec_source.clone()
    };
    let target = Target {
        source: reported.clone(),
        revision: revision.clone(),
    };
    let fresh;
    let comparison = match head {
        Some(c) if !rollback && c.revision == revision => c,
        _ => match compare::compare(ctx, app, &source, &revision).await {
            Ok(c) => {
                fresh = c;
                &fresh
            }
            Err(condition) => return (error(condition.message).0, Some(target)),
        },
    };
    let attempt = apply(ctx, app, state, &reported, comparison).await;
    (attempt, Some(target))
}

/// Plans and applies the compared objects.
async fn apply(
    ctx: &Context,
    app: &Application,
    state: &OperationState,
    source: &ApplicationSource,
    comparison: &Comparison,
) -> Attempt {
    let op: &Operation = &state.operation;
    let sync_op = op.sync.clone().unwrap_or_default();
    let prune = sync_op.prune.unwrap_or(false);
    let dry_run = sync_op.dry_run.unwrap_or(false);
    let failed = |message: String| Attempt {
        phase: FAILED,
        message,
        sync_result: None,
    };
    // The operation's options when it has some (what `argocd app sync
    // --sync-option` sends), else the Application's.
    let options = sync_op
        .sync_options
        .clone()
        .or_else(|| {
            app.spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.sync_options.clone())
        })
        .unwrap_or_default();
    let options = match sync::SyncOptions::parse(options.iter().map(String::as_str)) {
        Ok(o) => o,
        Err(e) => return failed(format!("syncOptions: {e}")),
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
        .chain(&comparison.hooks)
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
    // The project's rules hold for every object before anything is applied.
    if let Err(message) = crate::governance::check_resources(ctx, app, comparison).await {
        return failed(message);
    }
    let namespace = app.spec.destination.namespace.clone().unwrap_or_default();
    let desired: Vec<Value> = comparison
        .desired
        .iter()
        .chain(&comparison.hooks)
        .cloned()
        .collect();
    let mut plan = match sync::plan::build(&sync::plan::Input {
        desired: &desired,
        live: &comparison.live,
        in_sync: &|k| in_sync.contains(k),
        options: &options,
        prune,
        namespace: &namespace,
        cluster_scoped: &cluster_scoped,
    }) {
        Ok(plan) => plan,
        Err(e) => return failed(format!("planning the sync: {e}")),
    };
    // A partial sync runs no hooks (as Argo CD's selective sync).
    let partial = operation::partial(op);
    plan.tasks.retain(|t| {
        t.action == sync::plan::Action::CreateNamespace
            || (!(partial && t.hook.is_some()) && operation::selected(&sync_op, &t.key))
    });
    if partial {
        plan.sync_fail.clear();
    }
    info!(
        app = app.metadata.name.as_deref().unwrap_or(""),
        revision = %comparison.revision,
        changes = plan.changes().count(),
        steps = plan.steps().len(),
        dry_run,
        "syncing"
    );
    // The health checks were read for the comparison just made; should
    // `argocd-cm` have broken since, the built-in checks still decide.
    let health = ctx.settings.health_checks().unwrap_or_default();
    let waits = phases::Waits {
        timeout: ctx.config.sync_wait_timeout,
        poll: WAIT_POLL,
    };
    let progress = phases::Progress { ctx, app, state };
    let cluster = &comparison.cluster;
    let phased = phases::run(&cluster.client, &plan, dry_run, &health, waits, &progress).await;
    if !dry_run {
        compare::record_sync(ctx, cluster, app, &plan, &phased.result()).await;
    }
    let not_in_git = |key: &ResourceKey| {
        comparison
            .items
            .iter()
            .any(|i| &i.key == key && i.desired.is_none())
    };
    let resources: Vec<ResourceResult> = phased
        .ran
        .iter()
        .chain(&phased.sync_fail)
        .filter_map(|r| {
            let o = &r.outcome;
            let status = match o.status {
                // Hooks that never ran are not listed.
                Status::NotRun if r.hook => return None,
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
                version: r.version.clone(),
                kind: o.key.kind.clone(),
                namespace: o.key.namespace.clone(),
                name: o.key.name.clone(),
                status: Some(status.to_string()),
                message: Some(o.message.clone()).filter(|m| !m.is_empty()),
                hook_type: r.hook.then(|| r.phase.as_str().to_string()),
                hook_phase: r.task_phase.map(|p| p.as_str().to_string()),
                sync_phase: Some(r.phase.as_str().to_string()),
                ..Default::default()
            })
        })
        .collect();
    let sync_result = Some(SyncOperationResult {
        resources: Some(resources),
        revision: comparison.revision.clone(),
        source: Some(source.clone()),
        ..Default::default()
    });
    match phased.failure {
        None => Attempt {
            phase: SUCCEEDED,
            message: "successfully synced (all tasks run)".to_string(),
            sync_result,
        },
        Some(failure) => Attempt {
            phase: FAILED,
            message: format!("sync to {} failed: {failure}", comparison.revision),
            sync_result,
        },
    }
}
