//! Which objects are sync hooks, as Argo CD tells them apart: an
//! `argocd.argoproj.io/hook` annotation (other than `Skip` alone) or a Helm
//! `helm.sh/hook` annotation (other than `crd-install`, which Helm treats as
//! a plain CRD). Hooks run during a sync and never count towards an
//! Application's health.

use serde_json::Value;

pub const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// The Argo CD hook types named on `obj` (comma-separated, trimmed).
fn argo_types(obj: &Value) -> Vec<&str> {
    annotation(obj, HOOK_ANNOTATION)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `obj` is marked `argocd.argoproj.io/hook: Skip` (and nothing else): it is
/// never applied.
pub fn is_skip(obj: &Value) -> bool {
    argo_types(obj) == ["Skip"]
}

/// `obj` is a sync hook (Argo CD or Helm).
pub fn is_hook(obj: &Value) -> bool {
    if annotation(obj, HOOK_ANNOTATION).is_some() {
        return !is_skip(obj);
    }
    annotation(obj, HELM_HOOK_ANNOTATION)
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t != "crd-install"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(key: &str, value: &str) -> Value {
        json!({"metadata": {"annotations": {key: value}}})
    }

    #[test]
    fn hooks_and_skips() {
        assert!(is_hook(&with(HOOK_ANNOTATION, "PreSync")));
        assert!(is_hook(&with(HOOK_ANNOTATION, "PostSync, SyncFail")));
        assert!(!is_hook(&with(HOOK_ANNOTATION, "Skip")));
        assert!(is_skip(&with(HOOK_ANNOTATION, "Skip")));
        assert!(is_hook(&with(
            HELM_HOOK_ANNOTATION,
            "pre-install,pre-upgrade"
        )));
        assert!(!is_hook(&with(HELM_HOOK_ANNOTATION, "crd-install")));
        assert!(!is_hook(&json!({"metadata": {"name": "plain"}})));
    }
}
