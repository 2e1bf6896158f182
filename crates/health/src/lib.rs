//! Resource health as Argo CD computes it (gitops-engine `pkg/health` plus
//! Argo CD's custom Lua health checks), as a pure library.
//!
//! A live object goes in as a [`serde_json::Value`]; a [`HealthStatus`]
//! (`Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`
//! and a message) comes out, or `None` for kinds that have no health at all
//! (a ConfigMap, a Role, a CRD instance nobody wrote a check for).
//!
//! - [`resource_health`]: one object, custom checks first, then the built-in
//!   check for its kind ([`kinds`]).
//! - [`aggregate`]: an Application's health over its resources, with Argo
//!   CD's "worse" order and its rules for hooks and child Applications.
//! - [`CustomHealthChecks`]: the `resource.customizations.health.<group>_<kind>`
//!   Lua scripts from `argocd-cm`, run in a sandbox ([`lua`]).
//!
//! Not for: reading objects from a cluster, watching, or writing status; the
//! caller brings live objects and stores the result. Nothing here does I/O
//! or keeps state between calls.

mod aggregate;
mod custom;
mod fields;
pub mod hooks;
pub mod kinds;
pub mod lua;
mod status;

pub use aggregate::{AggregateHealth, ResourceRef, aggregate};
pub use custom::{ConfigError, CustomCheck, CustomHealthChecks};
pub use fields::HealthError;
pub use status::{HealthStatus, HealthStatusCode, is_worse};

use serde_json::Value;

/// The finalizer gyro (like Argo CD) puts on hook objects it still tracks;
/// a hook being deleted under it keeps its real health.
const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// The health of one live object, or `None` when its kind has no health.
///
/// In Argo CD's order: an object being deleted is `Progressing` ("Pending
/// deletion") unless it is a hook held by gyro's finalizer; then a custom
/// check for its group and kind, which overrides the built-in one; then the
/// built-in check. A check that fails (a script error, a field of the wrong
/// type) gives `Unknown` with the reason as the message.
pub fn resource_health(obj: &Value, custom: &CustomHealthChecks) -> Option<HealthStatus> {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
        && !has_hook_finalizer(obj)
    {
        return Some(HealthStatus::new(
            HealthStatusCode::Progressing,
            "Pending deletion",
        ));
    }
    let (group, kind) = group_kind(obj);
    if let Some(check) = custom.find(group, kind) {
        return Some(check.run_with(obj, custom.limits()).unwrap_or_else(|e| {
            tracing::debug!(group, kind, name = fields::name(obj), error = %e, "custom health check failed");
            HealthStatus::new(HealthStatusCode::Unknown, e.to_string())
        }));
    }
    match kinds::builtin_health(obj) {
        Ok(health) => health,
        Err(e) => Some(HealthStatus::new(HealthStatusCode::Unknown, e.to_string())),
    }
}

/// The API group (empty for the core group) and kind of an object.
pub fn group_kind(obj: &Value) -> (&str, &str) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = match api_version.split_once('/') {
        Some((group, _version)) => group,
        None => "",
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    (group, kind)
}

fn has_hook_finalizer(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(HOOK_FINALIZER)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_being_deleted_is_pending_deletion_unless_a_tracked_hook() {
        let deleting = json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "status": {"phase": "Bound"}
        });
        let health = resource_health(&deleting, &CustomHealthChecks::default());
        assert_eq!(
            health,
            Some(HealthStatus::new(
                HealthStatusCode::Progressing,
                "Pending deletion"
            ))
        );

        let mut hook = deleting.clone();
        hook["metadata"]["finalizers"] = json!([HOOK_FINALIZER]);
        let health = resource_health(&hook, &CustomHealthChecks::default());
        assert_eq!(
            health,
            Some(HealthStatus::new(HealthStatusCode::Healthy, ""))
        );
    }

    #[test]
    fn group_kind_of_core_and_grouped_objects() {
        assert_eq!(
            group_kind(&json!({"apiVersion": "v1", "kind": "Pod"})),
            ("", "Pod")
        );
        assert_eq!(
            group_kind(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
            ("apps", "Deployment")
        );
    }

    #[test]
    fn kinds_without_health_give_none() {
        for obj in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                   "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        ] {
            assert_eq!(
                resource_health(&obj, &CustomHealthChecks::default()),
                None,
                "{obj}"
            );
        }
    }
}
