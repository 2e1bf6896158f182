//! An Application's health from its resources' health, as Argo CD's
//! controller (v3) sets `status.health`: start Healthy and keep the worst
//! status seen, where
//!
//! - a resource whose desired object is `argocd.argoproj.io/hook: Skip`, a
//!   live hook, a live object annotated
//!   `argocd.argoproj.io/ignore-healthcheck: "true"`, the Application itself
//!   (an app that manages itself) and kinds without health are left out;
//! - a resource that is desired but not live is `Missing` in its own status
//!   but does not change the aggregate (sync status already says it is
//!   missing) - unless no resource is live at all, then the whole
//!   Application is `Missing`;
//! - a child `Application` that is `Missing` or `Unknown` does not change
//!   the parent (its own status reports that).
//!
//! The message names the resources that caused the status ("Caused by
//! apps/Deployment:shop/web"), at most three of them.

use crate::{CustomHealthChecks, HealthStatus, HealthStatusCode, hooks, is_worse, resource_health};
use serde_json::Value;

/// Tells gyro (and Argo CD) to leave a resource out of its Application's health.
pub const IGNORE_HEALTHCHECK_ANNOTATION: &str = "argocd.argoproj.io/ignore-healthcheck";

/// How many causing resources the message names before "and N more".
const MAX_CAUSES_SHOWN: usize = 3;

/// One resource of an Application: its identity, the live object (if it
/// exists in the cluster) and the desired one (if Git has it).
#[derive(Debug, Clone, Copy)]
pub struct ResourceRef<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub live: Option<&'a Value>,
    pub target: Option<&'a Value>,
}

/// The aggregate: status, a message naming the causes, and each resource's
/// own health in input order (`None` for resources left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateHealth {
    pub status: HealthStatusCode,
    pub message: String,
    pub resources: Vec<Option<HealthStatus>>,
}

/// Aggregates the health of `resources`, the resources of the Application
/// `app` (its live object, used only to leave the Application itself out;
/// `None` when not known).
pub fn aggregate<'a>(
    resources: impl IntoIterator<Item = ResourceRef<'a>>,
    custom: &CustomHealthChecks,
    app: Option<&Value>,
) -> AggregateHealth {
    let mut status = HealthStatusCode::Healthy;
    let mut causes: Vec<ResourceRef<'a>> = Vec::new();
    let (mut any_resource, mut any_live) = (false, false);
    let mut per_resource = Vec::new();
    for res in resources {
        let counted = counts(&res, app);
        if counted.is_some() {
            any_resource = true;
            any_live |= res.live.is_some();
        }
        let health = match counted {
            Some(true) => match res.live {
                None => Some(HealthStatus::new(HealthStatusCode::Missing, "")),
                Some(live) => resource_health(live, custom),
            },
            _ => None,
        };
        if let Some(h) = &health
            && affects_app(&res, h.status)
        {
            if is_worse(status, h.status) {
                status = h.status;
                causes = vec![res];
            } else if h.status == status && status != HealthStatusCode::Healthy {
                causes.push(res);
            }
        }
        per_resource.push(health);
    }
    if any_resource && !any_live && is_worse(status, HealthStatusCode::Missing) {
        status = HealthStatusCode::Missing;
        causes.clear();
    }
    AggregateHealth {
        status,
        message: causes_message(&causes),
        resources: per_resource,
    }
}

/// `None`: not part of the Application's health at all (skipped or hook);
/// `Some(false)`: part of it, but its health is not assessed; `Some(true)`:
/// assessed.
fn counts(res: &ResourceRef<'_>, app: Option<&Value>) -> Option<bool> {
    if res.target.is_some_and(hooks::is_skip) || res.live.is_some_and(hooks::is_hook) {
        return None;
    }
    let Some(live) = res.live else {
        return Some(true);
    };
    let ignored = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(IGNORE_HEALTHCHECK_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true");
    Some(!ignored && !app.is_some_and(|app| is_same_application(app, live)))
}

fn affects_app(res: &ResourceRef<'_>, status: HealthStatusCode) -> bool {
    if res.live.is_none() && status == HealthStatusCode::Missing {
        return false;
    }
    let child_app = res.group == "argoproj.io" && res.kind == "Application";
    !(child_app
        && matches!(
            status,
            HealthStatusCode::Missing | HealthStatusCode::Unknown
        ))
}

/// `live` is the Application `app` itself (same UID, name and namespace).
fn is_same_application(app: &Value, live: &Value) -> bool {
    let (group, kind) = crate::group_kind(live);
    let field = |v: &Value, f: &str| v.pointer(f).and_then(Value::as_str).map(str::to_string);
    group == "argoproj.io"
        && kind == "Application"
        && ["/metadata/uid", "/metadata/name", "/metadata/namespace"]
            .iter()
            .all(|f| field(app, f) == field(live, f))
}

fn causes_message(causes: &[ResourceRef<'_>]) -> String {
    if causes.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = causes
        .iter()
        .take(MAX_CAUSES_SHOWN)
        .map(|c| {
            let gk = if c.group.is_empty() {
                c.kind.to_string()
            } else {
                format!("{}/{}", c.group, c.kind)
            };
            let name = if c.namespace.is_empty() {
                c.name.to_string()
            } else {
                format!("{}/{}", c.namespace, c.name)
            };
            format!("{gk}:{name}")
        })
        .collect();
    let mut message = format!("Caused by {}", shown.join(", "));
    if causes.len() > MAX_CAUSES_SHOWN {
        message.push_str(&format!(" and {} more", causes.len() - MAX_CAUSES_SHOWN));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatusCode::*;
    use serde_json::json;

    fn res<'a>(obj: &'a Value, live: bool) -> ResourceRef<'a> {
        let (group, kind) = crate::group_kind(obj);
        ResourceRef {
            group,
            kind,
            namespace: obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(""),
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            live: live.then_some(obj),
            target: Some(obj),
        }
    }

    fn pvc(name: &str, phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": name, "namespace": "shop"}, "status": {"phase": phase}})
    }

    fn run(resources: Vec<ResourceRef<'_>>) -> AggregateHealth {
        aggregate(resources, &CustomHealthChecks::default(), None)
    }

    #[test]
    fn worst_status_wins_and_names_its_causes() {
        let (bound, pending, lost) = (pvc("a", "Bound"), pvc("b", "Pending"), pvc("c", "Lost"));
        let got = run(vec![res(&bound, true), res(&pending, true)]);
        assert_eq!(got.status, Progressing);
        assert_eq!(got.message, "Caused by PersistentVolumeClaim:shop/b");
        let got = run(vec![
            res(&lost, true),
            res(&pending, true),
            res(&bound, true),
        ]);
        assert_eq!(got.status, Degraded);
        assert_eq!(got.message, "Caused by PersistentVolumeClaim:shop/c");
        assert_eq!(got.resources[2], Some(HealthStatus::new(Healthy, "")));
    }

    #[test]
    fn message_lists_at_most_three_causes() {
        let lost: Vec<Value> = (1..=5).map(|i| pvc(&format!("d{i}"), "Lost")).collect();
        let got = run(lost.iter().map(|o| res(o, true)).collect());
        assert_eq!(
            got.message,
            "Caused by PersistentVolumeClaim:shop/d1, PersistentVolumeClaim:shop/d2, PersistentVolumeClaim:shop/d3 and 2 more"
        );
        let bound = pvc("ok", "Bound");
        assert_eq!(run(vec![res(&bound, true)]).message, "");
    }

    #[test]
    fn no_resources_is_healthy() {
        assert_eq!(run(vec![]).status, Healthy);
    }

    #[test]
    fn missing_resource_is_missing_but_does_not_change_the_app_unless_nothing_is_live() {
        let pending = pvc("a", "Pending");
        let absent = pvc("b", "Bound");
        let got = run(vec![res(&pending, true), res(&absent, false)]);
        assert_eq!(got.status, Progressing);
        assert_eq!(got.resources[1], Some(HealthStatus::new(Missing, "")));

        let got = run(vec![res(&absent, false)]);
        assert_eq!(got.status, Missing);
        assert_eq!(got.message, "");
        // A live hook is not a live resource of the Application.
        let mut hook = pvc("h", "Lost");
        hook["metadata"]["annotations"] = json!({"helm.sh/hook": "post-install"});
        let got = run(vec![res(&absent, false), res(&hook, true)]);
        assert_eq!(got.status, Missing);
    }

    #[test]
    fn hooks_skipped_ignored_and_healthless_resources_are_left_out() {
        let mut failed_hook = pvc("h", "Lost");
        failed_hook["metadata"]["annotations"] = json!({"argocd.argoproj.io/hook": "PreSync"});
        let mut skipped = pvc("s", "Lost");
        skipped["metadata"]["annotations"] = json!({"argocd.argoproj.io/hook": "Skip"});
        let mut ignored = pvc("i", "Lost");
        ignored["metadata"]["annotations"] = json!({IGNORE_HEALTHCHECK_ANNOTATION: "true"});
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let bound = pvc("b", "Bound");
        let got = run(vec![
            res(&failed_hook, true),
            res(&skipped, false),
            res(&ignored, true),
            res(&config, true),
            res(&bound, true),
        ]);
        assert_eq!(got.status, Healthy);
        assert_eq!(got.resources[..4], [None, None, None, None]);
    }

    #[test]
    fn child_application_missing_or_unknown_does_not_affect_parent() {
        let app = |name: &str, status: &str| {
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": name, "namespace": "argocd"},
                   "status": {"health": {"status": status}}})
        };
        let (unknown, missing, degraded) = (
            app("u", "Unknown"),
            app("m", "Missing"),
            app("d", "Degraded"),
        );
        let got = run(vec![res(&unknown, true), res(&missing, true)]);
        assert_eq!(got.status, Healthy);
        let got = run(vec![res(&degraded, true)]);
        assert_eq!(got.status, Degraded);
        assert_eq!(got.message, "Caused by argoproj.io/Application:argocd/d");
    }

    #[test]
    fn application_managing_itself_is_left_out() {
        let me = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                        "metadata": {"name": "root", "namespace": "argocd", "uid": "1234"},
                        "status": {"health": {"status": "Degraded"}}});
        let bound = pvc("b", "Bound");
        let got = aggregate(
            [res(&me, true), res(&bound, true)],
            &CustomHealthChecks::default(),
            Some(&me),
        );
        assert_eq!(got.status, Healthy);
        assert_eq!(got.resources[0], None);
        // Without knowing the app, the same object counts.
        let got = run(vec![res(&me, true), res(&bound, true)]);
        assert_eq!(got.status, Degraded);
    }
}
