//! Sync operations (`Application.operation`), the pure part: which step an
//! Application's operation is at, how a finished attempt is concluded
//! (retried with a backoff or finished), the backoff itself, what a
//! rollback writes, and the Event messages. No I/O; the time is a
//! parameter. The attempt itself runs in [`crate::execute`].
//!
//! The state lives in `status.operationState` as Argo CD keeps it, so a
//! restarted controller resumes a waiting retry: `phase: Running` with a
//! `finishedAt` is a failed attempt waiting for its retry, due at
//! `finishedAt + backoff(retryCount - 1)`.

use std::time::Duration;

use api::{
    Application, Operation, OperationInitiator, OperationState, RetryStrategy, SyncOperation,
    SyncOperationResult, SyncStrategy, SyncStrategyForce,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Argo CD's defaults for `retry.backoff`.
pub const DEFAULT_RETRY_DURATION: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRY_MAX_DURATION: Duration = Duration::from_secs(180);
pub const DEFAULT_RETRY_FACTOR: i64 = 2;

pub const RUNNING: &str = "Running";
pub const TERMINATING: &str = "Terminating";
pub const SUCCEEDED: &str = "Succeeded";
pub const FAILED: &str = "Failed";
pub const ERROR: &str = "Error";

/// A `retry.backoff` field that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "retry.backoff.{field}: {value:?} is not a duration (e.g. 5s, 3m0s, or a number of seconds)"
)]
pub struct BackoffError {
    pub field: &'static str,
    pub value: String,
}

/// Parses a `retry.backoff` duration as Argo CD does: a whole number of
/// seconds, or a Go duration (`5s`, `1m30s`, `1.5h`, `250ms`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    policy::parse_go_duration(text)
}

/// The wait before retry number `retries_done + 1`: `duration *
/// factor^retries_done`, capped by `maxDuration` (when positive), so the
/// first retry waits `duration`.
pub fn retry_delay(
    retry: Option<&RetryStrategy>,
    retries_done: i64,
) -> Result<Duration, BackoffError> {
    let backoff = retry.and_then(|r| r.backoff.as_ref());
    let field = |field: &'static str, value: Option<&String>, default: Duration| match value {
        Some(v) if !v.is_empty() => parse_duration(v).ok_or_else(|| BackoffError {
            field,
            value: v.clone(),
        }),
        _ => Ok(default),
    };
    let duration = field(
        "duration",
        backoff.and_then(|b| b.duration.as_ref()),
        DEFAULT_RETRY_DURATION,
    )?;
    let max = field(
        "maxDuration",
        backoff.and_then(|b| b.max_duration.as_ref()),
        DEFAULT_RETRY_MAX_DURATION,
    )?;
    let factor = backoff
        .and_then(|b| b.factor)
        .unwrap_or(DEFAULT_RETRY_FACTOR);
    let exponent = i32::try_from(retries_done.max(0)).unwrap_or(i32::MAX);
    let mut secs = duration.as_secs_f64() * (factor as f64).powi(exponent);
    if !secs.is_finite() || secs < 0.0 {
        secs = f64::MAX;
    }
    if !max.is_zero() {
        secs = secs.min(max.as_secs_f64());
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// Whether a failed attempt is retried: `limit` retries, a negative limit
/// for ever, none without a retry strategy or limit (Argo CD's zero value).
pub fn may_retry(retry: Option<&RetryStrategy>, retries_done: i64) -> bool {
    let limit = retry.and_then(|r| r.limit).unwrap_or(0);
    limit < 0 || retries_done < limit
}

/// Where an Application's operation stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// No operation requested or running.
    Idle,
    /// A new operation from `Application.operation`: run its first attempt.
    Start(OperationState),
    /// A failed attempt waits for its retry until then.
    Wait(Timestamp),
    /// Run the operation (again): a retry that is due, or an attempt that
    /// was interrupted (Running without `finishedAt`).
    Attempt(OperationState),
    /// The operation ends without another attempt (terminated by the
    /// user, or its backoff is invalid): write this state.
    Finish(OperationState),
}

/// Which step the Application's operation is at. Like Argo CD, an
/// operation is processed only while `Application.operation` is set; an
/// in-progress `operationState` says whether it is new.
pub fn next_step(app: &Application, now: Timestamp) -> Step {
    let Some(op) = &app.operation else {
        return Step::Idle;
    };
    let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    match state {
        Some(s) if s.phase == TERMINATING => {
            let mut s = s.clone();
            s.phase = FAILED.to_string();
            s.message = Some("Operation terminated".to_string());
            s.finished_at = Some(Time(now));
            Step::Finish(s)
        }
        Some(s) if s.phase == RUNNING => {
            if s.finished_at.is_none() {
                return Step::Attempt(s.clone());
            }
            match retry_due(s) {
                Ok(Some(due)) if due > now => Step::Wait(due),
                Ok(_) => {
                    let mut s = s.clone();
                    s.finished_at = None;
                    s.sync_result = None;
                    s.message = Some(format!(
                        "Retrying operation. Attempt #{}",
                        s.retry_count.unwrap_or(0)
                    ));
                    Step::Attempt(s)
                }
                Err(e) => {
                    let mut s = s.clone();
                    s.phase = FAILED.to_string();
                    s.message = Some(e.to_string());
                    s.finished_at = Some(Time(now));
                    Step::Finish(s)
                }
            }
        }
        _ => Step::Start(OperationState {
            operation: op.clone(),
            phase: RUNNING.to_string(),
            message: None,
            sync_result: None,
            started_at: Time(now),
            finished_at: None,
            retry_count: None,
        }),
    }
}

/// When a failed attempt waiting in `state` (Running with `finishedAt`)
/// is retried: `finishedAt` plus the backoff of the retry it counted.
pub fn retry_due(state: &OperationState) -> Result<Option<Timestamp>, BackoffError> {
    let Some(finished) = &state.finished_at else {
        return Ok(None);
    };
    let retries_done = state.retry_count.unwrap_or(0).saturating_sub(1);
    let delay = retry_delay(state.operation.retry.as_ref(), retries_done)?;
    Ok(Some(add(finished.0, delay)))
}

/// How long from `now` until `due` (zero when past).
pub fn until(due: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO)
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    let d = k8s_openapi::jiff::SignedDuration::try_from(d)
        .unwrap_or(k8s_openapi::jiff::SignedDuration::MAX);
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// How one attempt of a sync ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// [`SUCCEEDED`], [`FAILED`] or [`ERROR`].
    pub phase: &'static str,
    pub message: String,
    pub sync_result: Option<SyncOperationResult>,
}

/// The operation state after an attempt: Succeeded; or, when it failed
/// and the retry strategy allows, Running again with `retryCount` counted
/// and a message saying when the retry is due; or Failed, saying how often
/// it was retried.
pub fn conclude(mut state: OperationState, attempt: Attempt, now: Timestamp) -> OperationState {
    state.phase = attempt.phase.to_string();
    state.sync_result = attempt.sync_result;
    state.finished_at = Some(Time(now));
    let mut message = attempt.message;
    if attempt.phase != SUCCEEDED {
        let retries_done = state.retry_count.unwrap_or(0);
        let retry = state.operation.retry.as_ref();
        if may_retry(retry, retries_done) {
            match retry_delay(retry, retries_done) {
                Ok(delay) => {
                    state.phase = RUNNING.to_string();
                    state.retry_count = Some(retries_done + 1);
                    message = format!(
                        "{message}. Retrying attempt #{} at {}.",
                        retries_done + 1,
                        add(now, delay).strftime("%Y-%m-%dT%H:%M:%SZ")
                    );
                }
                Err(e) => message = format!("{message} (failed to retry: {e})"),
            }
        } else if retries_done > 0 {
            message = format!("{message} (retried {retries_done} times).");
        }
    }
    state.message = Some(message);
    state
}

/// Whether a phase is final (the operation is over).
pub fn completed(phase: &str) -> bool {
    phase != RUNNING && phase != TERMINATING
}

/// Whether `syncPolicy.automated` is on (present and not `enabled: false`).
pub fn automated_enabled(app: &Application) -> bool {
    app.spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref())
        .is_some_and(|a| a.enabled != Some(false))
}

/// The operation of an automated sync to `revision`, as Argo CD's
/// controller writes it: prune from `automated.prune`, the policy's sync
/// options and retry strategy.
pub fn automated(app: &Application, revision: &str) -> Operation {
    let policy = app.spec.sync_policy.as_ref();
    Operation {
        sync: Some(SyncOperation {
            revision: Some(revision.to_string()),
            prune: Some(
                policy
                    .and_then(|p| p.automated.as_ref())
                    .and_then(|a| a.prune)
                    .unwrap_or(false),
            ),
            sync_options: policy.and_then(|p| p.sync_options.clone()),
            ..Default::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: None,
            automated: Some(true),
        }),
        info: None,
        retry: policy.and_then(|p| p.retry.clone()),
    }
}

/// Why a rollback is refused (Argo CD's API server's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    #[error("application is deleting")]
    Deleting,
    #[error("rollback cannot be initiated when auto-sync is enabled")]
    AutoSyncEnabled,
    #[error("application {app} does not have deployment with id {id}")]
    NoSuchDeployment { app: String, id: i64 },
    #[error(
        "cannot rollback to revision deployed with Argo CD v0.11 or lower. sync to revision instead."
    )]
    NoSource,
}

/// The operation `argocd app rollback APP ID` writes: a sync to the
/// revision and source of `status.history[id]`, refused while automated
/// sync is on (it would sync forward again at once) unless it is a dry run.
pub fn rollback(
    app: &Application,
    id: i64,
    prune: bool,
    dry_run: bool,
    username: Option<&str>,
) -> Result<Operation, RollbackError> {
    if app.metadata.deletion_timestamp.is_some() {
        return Err(RollbackError::Deleting);
    }
    if automated_enabled(app) && !dry_run {
        return Err(RollbackError::AutoSyncEnabled);
    }
    let entry = app
        .status
        .as_ref()
        .and_then(|s| s.history.as_ref())
        .and_then(|h| h.iter().find(|h| h.id == id))
        .ok_or_else(|| RollbackError::NoSuchDeployment {
            app: app.metadata.name.clone().unwrap_or_default(),
            id,
        })?;
    let source = entry
        .source
        .clone()
        .filter(|s| !s.repo_url.is_empty())
        .ok_or(RollbackError::NoSource)?;
    Ok(Operation {
        sync: Some(SyncOperation {
            revision: entry.revision.clone(),
            prune: Some(prune),
            dry_run: Some(dry_run),
            sync_options: app
                .spec
                .sync_policy
                .as_ref()
                .and_then(|p| p.sync_options.clone()),
            sync_strategy: Some(SyncStrategy {
                apply: Some(SyncStrategyForce::default()),
                hook: None,
            }),
            source: Some(source),
            ..Default::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: username.map(str::to_string),
            automated: None,
        }),
        info: None,
        retry: None,
    })
}

/// What the controller refuses to run of an operation, as the message of
/// the failed operation: what gyro does not support yet, and a rollback
/// (`sync.source` set) while automated sync is on, which Argo CD's API
/// server refuses (gyro has none, so the controller checks it).
pub fn unsupported(app: &Application, op: &Operation) -> Option<String> {
    let Some(sync) = &op.sync else {
        return Some("operation has no sync; sync is the only operation".to_string());
    };
    if sync.source.is_some() && automated_enabled(app) && sync.dry_run != Some(true) {
        return Some(RollbackError::AutoSyncEnabled.to_string());
    }
    if sync.manifests.as_ref().is_some_and(|m| !m.is_empty()) {
        return Some(
            "operation.sync.manifests: syncing local manifests is not supported yet".to_string(),
        );
    }
    if sync.sources.as_ref().is_some_and(|s| !s.is_empty())
        || sync.revisions.as_ref().is_some_and(|r| !r.is_empty())
    {
        return Some("operation.sync.sources: multiple sources are not supported yet".to_string());
    }
    let force = sync.sync_strategy.as_ref().is_some_and(|s| {
        [&s.apply, &s.hook]
            .into_iter()
            .flatten()
            .any(|f| f.force == Some(true))
    });
    if force {
        return Some(
            "operation.sync.syncStrategy: force (delete and re-create) is not supported yet"
                .to_string(),
        );
    }
    None
}

/// Whether a resource is one of a partial sync's `sync.resources` (all are
/// without a list). A filter without namespace matches every namespace.
pub fn selected(sync: &SyncOperation, key: &sync::ResourceKey) -> bool {
    let Some(resources) = sync.resources.as_ref().filter(|r| !r.is_empty()) else {
        return true;
    };
    resources.iter().any(|r| {
        r.name == key.name
            && r.kind == key.kind
            && r.group.as_deref().unwrap_or("") == key.group
            && r.namespace
                .as_deref()
                .is_none_or(|ns| ns.is_empty() || ns == key.namespace)
    })
}

/// Whether an operation is a partial sync (only some resources); partial
/// syncs and dry runs add no history entry.
pub fn partial(op: &Operation) -> bool {
    op.sync
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .is_some_and(|r| !r.is_empty())
}

/// The note of the `OperationStarted` Event.
pub fn started_note(op: &Operation, revision: &str) -> String {
    let automated = op
        .initiated_by
        .as_ref()
        .is_some_and(|i| i.automated == Some(true));
    let sync = op.sync.as_ref();
    if automated {
        return format!("Initiated automated sync to '{revision}'");
    }
    let what = if sync.is_some_and(|s| s.source.is_some()) {
        "rollback"
    } else if partial(op) {
        "partial sync"
    } else {
        "sync"
    };
    let who = op
        .initiated_by
        .as_ref()
        .and_then(|i| i.username.as_deref())
        .filter(|u| !u.is_empty());
    match who {
        Some(user) => format!("{user} initiated {what} to {revision}"),
        None => format!("initiated {what} to {revision}"),
    }
}

/// The note of the `OperationCompleted` Event (Normal when it succeeded,
/// Warning otherwise), as Argo CD writes it.
pub fn completed_note(state: &OperationState) -> String {
    let mut note = if partial(&state.operation) {
        "Partial sync operation".to_string()
    } else {
        "Sync operation".to_string()
    };
    if let Some(result) = &state.sync_result {
        note = format!("{note} to {}", result.revision);
    }
    if state.phase == SUCCEEDED {
        format!("{note} succeeded")
    } else {
        format!("{note} failed: {}", state.message.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{ApplicationStatus, Backoff};
    use serde_json::json;

    fn app(v: serde_json::Value) -> Application {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": "file:///repo", "path": "app", "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"}
            }
        })
    }

    fn retry(limit: Option<i64>, duration: &str, factor: Option<i64>, max: &str) -> RetryStrategy {
        RetryStrategy {
            limit,
            backoff: Some(Backoff {
                duration: Some(duration.to_string()).filter(|d| !d.is_empty()),
                factor,
                max_duration: Some(max.to_string()).filter(|m| !m.is_empty()),
            }),
            refresh: None,
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn durations_are_seconds_or_go_durations() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("3m0s"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn backoff_grows_by_factor_and_is_capped() {
        let r = retry(Some(5), "5s", Some(2), "3m");
        let secs = |n| retry_delay(Some(&r), n).unwrap().as_secs();
        assert_eq!([secs(0), secs(1), secs(2), secs(3)], [5, 10, 20, 40]);
        assert_eq!(secs(10), 180, "capped by maxDuration");
        // Defaults: 5s, factor 2, max 3m.
        assert_eq!(retry_delay(None, 0).unwrap(), Duration::from_secs(5));
        assert_eq!(retry_delay(None, 1).unwrap(), Duration::from_secs(10));
        assert_eq!(retry_delay(None, 60).unwrap(), Duration::from_secs(180));
        let r = retry(None, "2", Some(3), "");
        assert_eq!(retry_delay(Some(&r), 2).unwrap(), Duration::from_secs(18));
        let bad = retry(None, "soon", None, "");
        let err = retry_delay(Some(&bad), 0).unwrap_err();
        assert_eq!(err.field, "duration");
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }

    #[test]
    fn retry_limit_semantics_follow_argo_cd() {
        assert!(!may_retry(None, 0), "no strategy, no retry");
        let r = retry(None, "", None, "");
        assert!(!may_retry(Some(&r), 0), "no limit is limit 0");
        let r = retry(Some(2), "", None, "");
        assert!(may_retry(Some(&r), 0));
        assert!(may_retry(Some(&r), 1));
        assert!(!may_retry(Some(&r), 2));
        let r = retry(Some(-1), "", None, "");
        assert!(may_retry(Some(&r), 1000), "negative: for ever");
    }

    fn running(op: Operation) -> OperationState {
        OperationState {
            operation: op,
            phase: RUNNING.into(),
            message: None,
            sync_result: None,
            started_at: Time(t(0)),
            finished_at: None,
            retry_count: None,
        }
    }

    fn failed() -> Attempt {
        Attempt {
            phase: FAILED,
            message: "one or more objects failed to apply".into(),
            sync_result: None,
        }
    }

    #[test]
    fn a_failed_attempt_waits_for_its_retry_then_fails_at_the_limit() {
        let op = Operation {
            sync: Some(SyncOperation::default()),
            retry: Some(retry(Some(2), "10s", Some(2), "")),
            ..Default::default()
        };
        let s = conclude(running(op.clone()), failed(), t(100));
        assert_eq!(s.phase, RUNNING);
        assert_eq!(s.retry_count, Some(1));
        assert_eq!(s.finished_at, Some(Time(t(100))));
        let msg = s.message.clone().unwrap();
        assert!(
            msg.ends_with("Retrying attempt #1 at 1970-01-01T00:01:50Z."),
            "{msg}"
        );

        let mut a = app(base());
        a.operation = Some(op.clone());
        a.status = Some(ApplicationStatus {
            operation_state: Some(s),
            ..Default::default()
        });
        assert_eq!(next_step(&a, t(105)), Step::Wait(t(110)));
        let Step::Attempt(again) = next_step(&a, t(110)) else {
            panic!("the retry is due");
        };
        assert_eq!(again.finished_at, None);
        assert_eq!(again.retry_count, Some(1));

        // The second retry waits twice as long, the third is not allowed.
        let s = conclude(again, failed(), t(200));
        assert_eq!((s.phase.as_str(), s.retry_count), (RUNNING, Some(2)));
        a.status.as_mut().unwrap().operation_state = Some(s.clone());
        assert_eq!(next_step(&a, t(201)), Step::Wait(t(220)));
        let s = conclude(s, failed(), t(300));
        assert_eq!((s.phase.as_str(), s.retry_count), (FAILED, Some(2)));
        assert!(s.message.unwrap().ends_with("(retried 2 times)."));
    }

    #[test]
    fn success_and_no_retry_strategy_finish_at_once() {
        let op = Operation {
            sync: Some(SyncOperation::default()),
            ..Default::default()
        };
        let s = conclude(running(op.clone()), failed(), t(5));
        assert_eq!((s.phase.as_str(), s.retry_count), (FAILED, None));
        assert_eq!(
            s.message.as_deref(),
            Some("one or more objects failed to apply")
        );
        let ok = Attempt {
            phase: SUCCEEDED,
            message: "successfully synced".into(),
            sync_result: None,
        };
        let s = conclude(running(op), ok, t(5));
        assert_eq!(s.phase, SUCCEEDED);
        assert!(completed(&s.phase));
        assert!(!completed(RUNNING));
    }

    #[test]
    fn steps_start_resume_and_terminate() {
        let mut a = app(base());
        assert_eq!(next_step(&a, t(0)), Step::Idle);
        let op = Operation {
            sync: Some(SyncOperation::default()),
            ..Default::default()
        };
        a.operation = Some(op.clone());
        let Step::Start(s) = next_step(&a, t(7)) else {
            panic!("a new operation starts");
        };
        assert_eq!(
            (s.phase.as_str(), s.started_at.clone()),
            (RUNNING, Time(t(7)))
        );
        // A finished earlier operation does not stop a new one.
        let mut done = running(op.clone());
        done.phase = SUCCEEDED.into();
        a.status = Some(ApplicationStatus {
            operation_state: Some(done),
            ..Default::default()
        });
        assert!(matches!(next_step(&a, t(8)), Step::Start(_)));
        // Interrupted mid-attempt: run it again.
        a.status.as_mut().unwrap().operation_state = Some(running(op.clone()));
        assert!(matches!(next_step(&a, t(8)), Step::Attempt(_)));
        // Terminated by the user.
        let mut term = running(op);
        term.phase = TERMINATING.into();
        a.status.as_mut().unwrap().operation_state = Some(term);
        let Step::Finish(s) = next_step(&a, t(9)) else {
            panic!("terminating finishes");
        };
        assert_eq!(s.phase, FAILED);
        assert_eq!(s.message.as_deref(), Some("Operation terminated"));
    }

    fn with_history(mut v: serde_json::Value) -> Application {
        v["status"] = json!({"history": [
            {"id": 0, "revision": "aaa", "deployedAt": "2026-01-01T00:00:00Z",
             "source": {"repoURL": "file:///repo", "path": "app", "targetRevision": "main"}},
            {"id": 1, "revision": "bbb", "deployedAt": "2026-01-02T00:00:00Z"}
        ]});
        app(v)
    }

    #[test]
    fn rollback_takes_revision_and_source_from_history() {
        let a = with_history(base());
        let op = rollback(&a, 0, true, false, Some("alice")).unwrap();
        let sync = op.sync.unwrap();
        assert_eq!(sync.revision.as_deref(), Some("aaa"));
        assert_eq!(sync.source.unwrap().path.as_deref(), Some("app"));
        assert_eq!(sync.prune, Some(true));
        assert_eq!(op.initiated_by.unwrap().username.as_deref(), Some("alice"));
        assert_eq!(
            rollback(&a, 7, false, false, None).unwrap_err().to_string(),
            "application web does not have deployment with id 7"
        );
        assert_eq!(
            rollback(&a, 1, false, false, None).unwrap_err(),
            RollbackError::NoSource
        );
    }

    #[test]
    fn rollback_is_refused_while_automated_sync_is_on() {
        let mut v = base();
        v["spec"]["syncPolicy"] = json!({"automated": {"prune": true}});
        let a = with_history(v.clone());
        let err = rollback(&a, 0, false, false, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rollback cannot be initiated when auto-sync is enabled"
        );
        assert!(
            rollback(&a, 0, false, true, None).is_ok(),
            "a dry run is allowed"
        );
        // The controller refuses the same operation written by hand.
        let op = rollback(&with_history(base()), 0, false, false, None).unwrap();
        assert_eq!(
            unsupported(&a, &op).as_deref(),
            Some("rollback cannot be initiated when auto-sync is enabled")
        );
        assert_eq!(unsupported(&with_history(base()), &op), None);
        // Automated sync switched off (Argo CD v3 `enabled: false`).
        v["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        assert!(rollback(&with_history(v), 0, false, false, None).is_ok());
        let mut deleting = with_history(base());
        deleting.metadata.deletion_timestamp = Some(Time(t(1)));
        assert_eq!(
            rollback(&deleting, 0, false, false, None).unwrap_err(),
            RollbackError::Deleting
        );
    }

    #[test]
    fn partial_sync_selects_by_group_kind_name_and_optional_namespace() {
        let sync: SyncOperation = serde_json::from_value(json!({"resources": [
            {"group": "apps", "kind": "Deployment", "name": "web"},
            {"kind": "ConfigMap", "name": "cfg", "namespace": "a"}
        ]}))
        .unwrap();
        let key = |group: &str, kind: &str, namespace: &str, name: &str| sync::ResourceKey {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        assert!(selected(&sync, &key("apps", "Deployment", "x", "web")));
        assert!(selected(&sync, &key("", "ConfigMap", "a", "cfg")));
        assert!(!selected(&sync, &key("", "ConfigMap", "b", "cfg")));
        assert!(!selected(&sync, &key("", "Service", "a", "web")));
        assert!(selected(
            &SyncOperation::default(),
            &key("", "Service", "a", "web")
        ));
    }

    #[test]
    fn event_notes_say_what_happened() {
        let mut op = automated(&app(base()), "abc");
        assert_eq!(
            started_note(&op, "abc"),
            "Initiated automated sync to 'abc'"
        );
        op.initiated_by = Some(OperationInitiator {
            username: Some("alice".into()),
            automated: None,
        });
        assert_eq!(started_note(&op, "abc"), "alice initiated sync to abc");
        let mut s = running(op);
        s.phase = FAILED.into();
        s.message = Some("boom".into());
        s.sync_result = Some(SyncOperationResult {
            revision: "abc".into(),
            ..Default::default()
        });
        assert_eq!(completed_note(&s), "Sync operation to abc failed: boom");
        s.phase = SUCCEEDED.into();
        assert_eq!(completed_note(&s), "Sync operation to abc succeeded");
    }
}
