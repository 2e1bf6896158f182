//! Sync phases, waves and resource hooks, read from an object's
//! annotations as Argo CD reads them (pure; no I/O).
//!
//! - `argocd.argoproj.io/hook`: a comma list of `PreSync`, `Sync`,
//!   `PostSync`, `SyncFail`, `PostDelete` and `Skip`. An object with it is a
//!   hook, created during a sync and not part of the Application's compared
//!   or pruned resources; `Skip` alone means the object is never applied.
//! - Helm's `helm.sh/hook`, when the Argo CD annotation is absent, mapped as
//!   Argo CD maps it: `pre-install`/`pre-upgrade` → PreSync,
//!   `post-install`/`post-upgrade` → PostSync, `post-delete` → PostDelete,
//!   `crd-install` → a plain resource; the other Helm hooks (`pre-delete`,
//!   rollback and test hooks) make the object a hook that never runs.
//! - `argocd.argoproj.io/hook-delete-policy` (`HookSucceeded`, `HookFailed`,
//!   `BeforeHookCreation`), else Helm's `helm.sh/hook-delete-policy`
//!   (`hook-succeeded`, `hook-failed`, `before-hook-creation`); with
//!   neither, `BeforeHookCreation`, as Argo CD.
//! - `argocd.argoproj.io/sync-wave` (an integer, default 0), else Helm's
//!   `helm.sh/hook-weight`.

use serde_json::Value;

pub const HOOK: &str = "argocd.argoproj.io/hook";
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub const HELM_HOOK: &str = "helm.sh/hook";
pub const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
pub const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// A sync phase, in the order a sync runs them (`SyncFail` only when the
/// sync failed; `PostDelete` when the Application is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    PreSync,
    Sync,
    PostSync,
    SyncFail,
    PostDelete,
}

impl Phase {
    /// The name Argo CD writes (`syncPhase`, `hookType`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PreSync => "PreSync",
            Phase::Sync => "Sync",
            Phase::PostSync => "PostSync",
            Phase::SyncFail => "SyncFail",
            Phase::PostDelete => "PostDelete",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a hook object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletePolicy {
    /// After the hook succeeded.
    HookSucceeded,
    /// After the hook failed.
    HookFailed,
    /// Before a new instance is created (the previous one, by name).
    BeforeHookCreation,
}

/// What an object's hook annotations make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The phases it runs in (may be empty: a Helm hook of a kind Argo CD
    /// does not run, such as `test`).
    pub phases: Vec<Phase>,
    /// Never empty: `BeforeHookCreation` when none is given.
    pub delete_policies: Vec<DeletePolicy>,
}

impl Hook {
    pub fn deletes_on(&self, policy: DeletePolicy) -> bool {
        self.delete_policies.contains(&policy)
    }
}

/// What an object is for a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marking {
    /// An ordinary resource of the Application.
    Resource,
    /// `argocd.argoproj.io/hook: Skip`: never applied.
    Skip,
    /// A hook.
    Hook(Hook),
}

/// An annotation gyro cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {annotation}: {value:?} {problem}")]
pub struct AnnotationError {
    pub annotation: &'static str,
    pub value: String,
    pub problem: String,
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

fn items(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Whether `obj` is a hook, without judging its annotations (for leaving
/// hooks out of a comparison: a hook with a bad annotation is still not a
/// resource to compare or prune; the plan reports the annotation).
pub fn is_hook(obj: &Value) -> bool {
    if let Some(text) = annotation(obj, HOOK) {
        return items(text).ne(["Skip"]);
    }
    annotation(obj, HELM_HOOK).is_some_and(|text| items(text).any(|t| t != "crd-install"))
}

/// Reads an object's hook annotations.
pub fn marking(obj: &Value) -> Result<Marking, AnnotationError> {
    let phases = if let Some(text) = annotation(obj, HOOK) {
        let err = |problem: String| AnnotationError {
            annotation: HOOK,
            value: text.to_string(),
            problem,
        };
        let mut phases = Vec::new();
        let mut skip = false;
        for item in items(text) {
            let phase = match item {
                "PreSync" => Phase::PreSync,
                "Sync" => Phase::Sync,
                "PostSync" => Phase::PostSync,
                "SyncFail" => Phase::SyncFail,
                "PostDelete" => Phase::PostDelete,
                "Skip" => {
                    skip = true;
                    continue;
                }
                other => {
                    return Err(err(format!(
                        "names an unknown hook type {other:?}; expected PreSync, Sync, PostSync, SyncFail, PostDelete or Skip"
                    )));
                }
            };
            if !phases.contains(&phase) {
                phases.push(phase);
            }
        }
        if phases.is_empty() {
            return if skip {
                Ok(Marking::Skip)
            } else {
                Err(err("names no hook type".to_string()))
            };
        }
        phases
    } else if let Some(text) = annotation(obj, HELM_HOOK) {
        let mut phases = Vec::new();
        let mut hook = false;
        for item in items(text) {
            let phase = match item {
                "crd-install" => continue,
                "pre-install" | "pre-upgrade" => Some(Phase::PreSync),
                "post-install" | "post-upgrade" => Some(Phase::PostSync),
                "post-delete" => Some(Phase::PostDelete),
                // Helm hooks Argo CD does not run.
                _ => None,
            };
            hook = true;
            if let Some(phase) = phase.filter(|p| !phases.contains(p)) {
                phases.push(phase);
            }
        }
        if !hook {
            return Ok(Marking::Resource);
        }
        phases
    } else {
        return Ok(Marking::Resource);
    };
    Ok(Marking::Hook(Hook {
        phases,
        delete_policies: delete_policies(obj)?,
    }))
}

fn delete_policies(obj: &Value) -> Result<Vec<DeletePolicy>, AnnotationError> {
    let (key, text) = match (
        annotation(obj, HOOK_DELETE_POLICY),
        annotation(obj, HELM_HOOK_DELETE_POLICY),
    ) {
        (Some(text), _) => (HOOK_DELETE_POLICY, text),
        (None, Some(text)) => (HELM_HOOK_DELETE_POLICY, text),
        (None, None) => return Ok(vec![DeletePolicy::BeforeHookCreation]),
    };
    let mut policies = Vec::new();
    for item in items(text) {
        let policy = match (key, item) {
            (HOOK_DELETE_POLICY, "HookSucceeded") | (HELM_HOOK_DELETE_POLICY, "hook-succeeded") => {
                DeletePolicy::HookSucceeded
            }
            (HOOK_DELETE_POLICY, "HookFailed") | (HELM_HOOK_DELETE_POLICY, "hook-failed") => {
                DeletePolicy::HookFailed
            }
            (HOOK_DELETE_POLICY, "BeforeHookCreation")
            | (HELM_HOOK_DELETE_POLICY, "before-hook-creation") => DeletePolicy::BeforeHookCreation,
            _ => {
                let expected = if key == HOOK_DELETE_POLICY {
                    "HookSucceeded, HookFailed or BeforeHookCreation"
                } else {
                    "hook-succeeded, hook-failed or before-hook-creation"
                };
                return Err(AnnotationError {
                    annotation: key,
                    value: text.to_string(),
                    problem: format!("names an unknown policy {item:?}; expected {expected}"),
                });
            }
        };
        if !policies.contains(&policy) {
            policies.push(policy);
        }
    }
    if policies.is_empty() {
        policies.push(DeletePolicy::BeforeHookCreation);
    }
    Ok(policies)
}

/// The object's sync wave: `argocd.argoproj.io/sync-wave`, else
/// `helm.sh/hook-weight`, else 0.
pub fn wave(obj: &Value) -> Result<i64, AnnotationError> {
    let (key, text) = match (
        annotation(obj, SYNC_WAVE),
        annotation(obj, HELM_HOOK_WEIGHT),
    ) {
        (Some(text), _) => (SYNC_WAVE, text),
        (None, Some(text)) => (HELM_HOOK_WEIGHT, text),
        (None, None) => return Ok(0),
    };
    text.trim().parse::<i64>().map_err(|_| AnnotationError {
        annotation: key,
        value: text.to_string(),
        problem: "is not an integer".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(annotations: &[(&str, &str)]) -> Value {
        let map: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        json!({"metadata": {"annotations": map}})
    }

    fn hook(annotations: &[(&str, &str)]) -> Hook {
        match marking(&with(annotations)) {
            Ok(Marking::Hook(h)) => h,
            other => panic!("not a hook: {other:?}"),
        }
    }

    #[test]
    fn argo_cd_hook_types_and_default_delete_policy() {
        let h = hook(&[(HOOK, "PreSync, PostSync,PreSync")]);
        assert_eq!(h.phases, [Phase::PreSync, Phase::PostSync]);
        assert_eq!(h.delete_policies, [DeletePolicy::BeforeHookCreation]);
        let h = hook(&[
            (HOOK, "SyncFail"),
            (HOOK_DELETE_POLICY, "HookSucceeded,HookFailed"),
        ]);
        assert_eq!(h.phases, [Phase::SyncFail]);
        assert!(
            h.deletes_on(DeletePolicy::HookSucceeded) && h.deletes_on(DeletePolicy::HookFailed)
        );
        assert!(!h.deletes_on(DeletePolicy::BeforeHookCreation));
        assert_eq!(marking(&with(&[(HOOK, "Skip")])), Ok(Marking::Skip));
        // Skip with a phase is a hook of that phase, as in Argo CD.
        assert_eq!(hook(&[(HOOK, "Skip,Sync")]).phases, [Phase::Sync]);
        assert_eq!(marking(&json!({"metadata": {}})), Ok(Marking::Resource));
        assert!(is_hook(&with(&[(HOOK, "PostSync")])));
        assert!(!is_hook(&with(&[(HOOK, "Skip")])));
        assert!(!is_hook(&json!({"kind": "ConfigMap"})));
    }

    #[test]
    fn helm_hooks_map_as_argo_cd_maps_them_and_argo_cd_annotations_win() {
        let h = hook(&[(HELM_HOOK, "pre-install,pre-upgrade")]);
        assert_eq!(h.phases, [Phase::PreSync]);
        let h = hook(&[
            (HELM_HOOK, "post-install"),
            (
                HELM_HOOK_DELETE_POLICY,
                "hook-succeeded,before-hook-creation",
            ),
        ]);
        assert_eq!(h.phases, [Phase::PostSync]);
        assert_eq!(
            h.delete_policies,
            [
                DeletePolicy::HookSucceeded,
                DeletePolicy::BeforeHookCreation
            ]
        );
        assert_eq!(
            hook(&[(HELM_HOOK, "post-delete")]).phases,
            [Phase::PostDelete]
        );
        // A Helm test hook is a hook Argo CD never runs.
        assert!(hook(&[(HELM_HOOK, "test")]).phases.is_empty());
        assert!(is_hook(&with(&[(HELM_HOOK, "test")])));
        // crd-install is an ordinary resource.
        let crd = with(&[(HELM_HOOK, "crd-install")]);
        assert_eq!(marking(&crd), Ok(Marking::Resource));
        assert!(!is_hook(&crd));
        // Both: Argo CD's annotations win, for the type and the policy.
        let h = hook(&[
            (HOOK, "Sync"),
            (HELM_HOOK, "pre-install"),
            (HOOK_DELETE_POLICY, "HookFailed"),
            (HELM_HOOK_DELETE_POLICY, "hook-succeeded"),
        ]);
        assert_eq!(h.phases, [Phase::Sync]);
        assert_eq!(h.delete_policies, [DeletePolicy::HookFailed]);
    }

    #[test]
    fn bad_annotations_name_the_annotation_and_value() {
        let e = marking(&with(&[(HOOK, "PreSync,Later")])).unwrap_err();
        assert_eq!(e.annotation, HOOK);
        assert!(e.to_string().contains("unknown hook type \"Later\""), "{e}");
        let e = marking(&with(&[(HOOK, " , ")])).unwrap_err();
        assert!(e.to_string().contains("names no hook type"), "{e}");
        let e = marking(&with(&[
            (HOOK, "Sync"),
            (HOOK_DELETE_POLICY, "hook-succeeded"),
        ]))
        .unwrap_err();
        assert_eq!(e.annotation, HOOK_DELETE_POLICY);
        let e = marking(&with(&[
            (HELM_HOOK, "pre-install"),
            (HELM_HOOK_DELETE_POLICY, "never"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("before-hook-creation"), "{e}");
    }

    #[test]
    fn waves_are_integers_from_argo_cd_or_helm() {
        assert_eq!(wave(&json!({})), Ok(0));
        assert_eq!(wave(&with(&[(SYNC_WAVE, "-2")])), Ok(-2));
        assert_eq!(wave(&with(&[(SYNC_WAVE, " 5 ")])), Ok(5));
        assert_eq!(wave(&with(&[(HELM_HOOK_WEIGHT, "3")])), Ok(3));
        assert_eq!(
            wave(&with(&[(SYNC_WAVE, "1"), (HELM_HOOK_WEIGHT, "3")])),
            Ok(1)
        );
        let e = wave(&with(&[(SYNC_WAVE, "first")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "annotation argocd.argoproj.io/sync-wave: \"first\" is not an integer"
        );
    }
}
