//! Pure decisions and status values: what the controller writes to
//! `Application.status`, and whether it syncs. No I/O and no clock: the
//! time is a parameter.

use api::{
    Application, ApplicationCondition, ApplicationSource, OperationInitiator, RevisionHistory,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

/// The annotation `argocd app get --refresh` (and users) set to ask for a
/// reconcile now; the controller removes it afterwards.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// Argo CD's default `revisionHistoryLimit`.
pub const DEFAULT_HISTORY_LIMIT: usize = 10;

/// A condition type and its message, as `status.conditions[]` holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub message: String,
}

impl Condition {
    pub fn comparison(message: impl Into<String>) -> Self {
        Self {
            type_: "ComparisonError",
            message: message.into(),
        }
    }
    pub fn invalid_spec(message: impl Into<String>) -> Self {
        Self {
            type_: "InvalidSpecError",
            message: message.into(),
        }
    }
    pub fn sync(message: impl Into<String>) -> Self {
        Self {
            type_: "SyncError",
            message: message.into(),
        }
    }
    pub fn deletion(message: impl Into<String>) -> Self {
        Self {
            type_: DELETION_ERROR,
            message: message.into(),
        }
    }
}

/// The condition of a cascading deletion that failed (retried).
pub const DELETION_ERROR: &str = "DeletionError";

/// The condition types the controller writes, by name.
pub fn condition_type(name: &str) -> Option<&'static str> {
    [
        "ComparisonError",
        "InvalidSpecError",
        "SyncError",
        DELETION_ERROR,
        policy::orphans::CONDITION,
    ]
    .into_iter()
    .find(|t| *t == name)
}

/// What the controller supports of an Application's spec, as the one source
/// it renders, or the condition that says why it cannot. (The destination
/// is checked against the declared clusters, see `clusters::resolve`.)
pub fn supported_source(app: &Application) -> Result<ApplicationSource, Condition> {
    if app.spec.source_hydrator.is_some() {
        return Err(Condition::invalid_spec(
            "spec.sourceHydrator: the source hydrator is not supported yet",
        ));
    }
    let mut sources = app.spec.effective_sources();
    match sources.len() {
        0 => Err(Condition::invalid_spec(
            "spec.source: the Application has no source",
        )),
        1 => Ok(sources.remove(0)),
        n => Err(Condition::invalid_spec(format!(
            "spec.sources: {n} sources; multiple sources are not supported yet"
        ))),
    }
}

/// Whether an automated sync runs: only when something is out of sync, and
/// then for a revision not attempted yet, or for drift when `selfHeal` is
/// on and the last attempt at this revision succeeded. As in Argo CD, a
/// revision whose sync failed is not synced again (a `SyncError` says so)
/// until a new revision arrives. `Err` is the reason the sync is refused.
pub fn auto_sync(
    app: &Application,
    revision: &str,
    out_of_sync: bool,
    desired_count: usize,
) -> Result<bool, Condition> {
    let Some(automated) = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref())
    else {
        return Ok(false);
    };
    if automated.enabled == Some(false) || !out_of_sync {
        return Ok(false);
    }
    let last = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    let attempted = last
        .and_then(|o| o.sync_result.as_ref())
        .is_some_and(|r| r.revision == revision);
    if let Some(last) = last.filter(|_| attempted) {
        if last.phase != "Succeeded" {
            return Err(Condition::sync(failed_attempt(
                revision,
                last.message.as_deref().unwrap_or(""),
            )));
        }
        if automated.self_heal != Some(true) {
            return Ok(false);
        }
    }
    if desired_count == 0 && automated.allow_empty != Some(true) {
        return Err(Condition::sync(format!(
            "auto-sync refused: revision {revision} renders no objects, which would prune every resource; set syncPolicy.automated.allowEmpty to allow it"
        )));
    }
    Ok(true)
}

/// The `SyncError` message of a failed automated sync (the same in the
/// reconcile that failed and in the later ones, so its transition time
/// holds).
pub fn failed_attempt(revision: &str, message: &str) -> String {
    format!("Failed last sync attempt to {revision}: {message}")
}

/// `status.history` with a new entry for a successful sync: the next id,
/// trimmed to `revisionHistoryLimit` (oldest dropped).
pub fn append_history(
    app: &Application,
    revision: &str,
    source: &ApplicationSource,
    started: &Time,
    now: &Time,
    initiated_by: Option<OperationInitiator>,
) -> Vec<RevisionHistory> {
    let mut history = app
        .status
        .as_ref()
        .and_then(|s| s.history.clone())
        .unwrap_or_default();
    let id = history.iter().map(|h| h.id).max().map_or(0, |m| m + 1);
    history.push(RevisionHistory {
        revision: Some(revision.to_string()),
        deployed_at: now.clone(),
        deploy_started_at: Some(started.clone()),
        id,
        source: Some(source.clone()),
        initiated_by,
        sources: None,
        revisions: None,
    });
    let limit = app
        .spec
        .revision_history_limit
        .map_or(DEFAULT_HISTORY_LIMIT, |l| usize::try_from(l).unwrap_or(0));
    let drop = history.len().saturating_sub(limit.max(1));
    history.drain(..drop);
    history
}

/// The `status.conditions` to write: one per new condition, keeping the
/// `lastTransitionTime` of a condition that was already there unchanged.
pub fn conditions(app: &Application, new: &[Condition], now: &Time) -> Vec<ApplicationCondition> {
    let old = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    new.iter()
        .map(|c| {
            let same = old
                .iter()
                .find(|o| o.type_ == c.type_ && o.message == c.message);
            ApplicationCondition {
                type_: c.type_.to_string(),
                message: c.message.clone(),
                last_transition_time: same
                    .and_then(|o| o.last_transition_time.clone())
                    .or_else(|| Some(now.clone())),
            }
        })
        .collect()
}

/// A fingerprint of what the user asks for (`spec`, `operation`): a
/// reconcile triggered only by the controller's own status write sees the
/// same fingerprint and is skipped until the interval is due.
pub fn fingerprint(app: &Application) -> String {
    json!([app.spec, app.operation]).to_string()
}

/// Whether the refresh annotation is set.
pub fn refresh_requested(app: &Application) -> bool {
    app.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(REFRESH_ANNOTATION))
}

/// A JSON merge patch that turns `old` into `new`: merge patches merge
/// nested objects, so every key `old` has and `new` lacks is set to `null`
/// (otherwise a stale `health.message` or `syncResult` would survive).
/// Arrays and scalars are replaced whole.
pub fn replacing(old: Option<&Value>, new: &Value) -> Value {
    match (old, new) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            let mut patch = serde_json::Map::new();
            for (k, v) in new {
                patch.insert(k.clone(), replacing(old.get(k), v));
            }
            for k in old.keys() {
                if !new.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{ApplicationStatus, Operation, OperationState, SyncOperationResult};

    fn app(yaml_json: Value) -> Application {
        serde_json::from_value(yaml_json).unwrap()
    }

    fn base() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": "file:///repo", "path": "app"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": false}}
            }
        })
    }

    fn synced_at(mut a: Application, rev: &str) -> Application {
        a.status = Some(ApplicationStatus {
            operation_state: Some(OperationState {
                operation: Operation::default(),
                phase: "Succeeded".into(),
                message: None,
                sync_result: Some(SyncOperationResult {
                    revision: rev.into(),
                    ..Default::default()
                }),
                started_at: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                finished_at: None,
                retry_count: None,
            }),
            ..Default::default()
        });
        a
    }

    #[test]
    fn only_a_single_source_is_supported() {
        assert!(supported_source(&app(base())).is_ok());
        let mut v = base();
        v["spec"]["sources"] = json!([{"repoURL": "a"}, {"repoURL": "b"}]);
        let err = supported_source(&app(v)).unwrap_err();
        assert!(err.message.starts_with("spec.sources: 2 sources"));
        let mut v = base();
        v["spec"].as_object_mut().unwrap().remove("source");
        assert!(
            supported_source(&app(v))
                .unwrap_err()
                .message
                .starts_with("spec.source:")
        );
    }

    #[test]
    fn auto_sync_new_revision_or_drift_with_self_heal() {
        let a = app(base());
        assert_eq!(auto_sync(&a, "r1", true, 3), Ok(true));
        assert_eq!(auto_sync(&a, "r1", false, 3), Ok(false));
        // Drift at the revision already synced: only with selfHeal.
        let a = synced_at(app(base()), "r1");
        assert_eq!(auto_sync(&a, "r1", true, 3), Ok(false));
        assert_eq!(auto_sync(&a, "r2", true, 3), Ok(true));
        let mut v = base();
        v["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(true);
        let a = synced_at(app(v), "r1");
        assert_eq!(auto_sync(&a, "r1", true, 3), Ok(true));
        // Not automated, or disabled.
        let mut v = base();
        v["spec"].as_object_mut().unwrap().remove("syncPolicy");
        assert_eq!(auto_sync(&app(v), "r1", true, 3), Ok(false));
        let mut v = base();
        v["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
        assert_eq!(auto_sync(&app(v), "r1", true, 3), Ok(false));
    }

    #[test]
    fn a_failed_revision_is_not_auto_synced_again_even_with_self_heal() {
        let mut v = base();
        v["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(true);
        let mut a = synced_at(app(v), "r1");
        if let Some(op) = a.status.as_mut().and_then(|s| s.operation_state.as_mut()) {
            op.phase = "Failed".into();
            op.message = Some("port out of range".into());
        }
        let err = auto_sync(&a, "r1", true, 3).unwrap_err();
        assert_eq!(err.type_, "SyncError");
        assert_eq!(
            err.message,
            "Failed last sync attempt to r1: port out of range"
        );
        assert_eq!(auto_sync(&a, "r2", true, 3), Ok(true), "a new revision");
        assert_eq!(auto_sync(&a, "r1", false, 3), Ok(false), "nothing to do");
    }

    #[test]
    fn empty_render_is_never_synced_without_allow_empty() {
        let err = auto_sync(&app(base()), "r1", true, 0).unwrap_err();
        assert_eq!(err.type_, "SyncError");
        assert!(err.message.contains("allowEmpty"));
        let mut v = base();
        v["spec"]["syncPolicy"]["automated"]["allowEmpty"] = json!(true);
        assert_eq!(auto_sync(&app(v), "r1", true, 0), Ok(true));
    }

    #[test]
    fn history_ids_increment_and_respect_the_limit() {
        let mut v = base();
        v["spec"]["revisionHistoryLimit"] = json!(2);
        let mut a = app(v);
        let src = a.spec.source.clone().unwrap();
        let t = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        for rev in ["a", "b", "c"] {
            let history = append_history(&a, rev, &src, &t, &t, None);
            a.status = Some(ApplicationStatus {
                history: Some(history),
                ..Default::default()
            });
        }
        let h = a.status.unwrap().history.unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].id, h[0].revision.as_deref()), (1, Some("b")));
        assert_eq!((h[1].id, h[1].revision.as_deref()), (2, Some("c")));
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        let t1 = Time(k8s_openapi::jiff::Timestamp::now());
        let mut a = app(base());
        let c = [Condition::comparison("x.yaml: bad")];
        a.status = Some(ApplicationStatus {
            conditions: Some(conditions(&a, &c, &t0)),
            ..Default::default()
        });
        assert_eq!(conditions(&a, &c, &t1)[0].last_transition_time, Some(t0));
        let other = [Condition::comparison("y.yaml: bad")];
        assert_eq!(
            conditions(&a, &other, &t1)[0].last_transition_time,
            Some(t1)
        );
    }

    #[test]
    fn replacing_patch_removes_what_the_new_value_lacks() {
        let old =
            json!({"health": {"status": "Degraded", "message": "stuck"}, "n": 1, "list": [1, 2]});
        let new = json!({"health": {"status": "Healthy"}, "list": [3]});
        assert_eq!(
            replacing(Some(&old), &new),
            json!({"health": {"status": "Healthy", "message": null}, "n": null, "list": [3]})
        );
        assert_eq!(replacing(None, &new), new);
    }
}
