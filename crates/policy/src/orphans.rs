//! Orphaned resources (`AppProject.spec.orphanedResources`): the objects in
//! an Application's destination namespace that no Application manages.
//!
//! As in Argo CD, an object is not counted when it has an owner (it is part
//! of another object), when its kind is one Argo CD excludes by default
//! (Events, Endpoints, EndpointSlices, Leases), when it is one of the
//! objects Kubernetes creates in every namespace (the `default`
//! ServiceAccount, the `kube-root-ca.crt` ConfigMap, the `kubernetes`
//! Service in `default`), when the project does not permit its kind, or
//! when an `ignore` rule (group, kind and name globs; an empty kind or
//! name matches all) covers it.

use api::AppProject;

use crate::glob;
use crate::project::{Resource, check_kind};

/// Argo CD's condition type for orphaned resources.
pub const CONDITION: &str = "OrphanedResourceWarning";

/// A live object in the destination namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// It has `metadata.ownerReferences`.
    pub owned: bool,
    /// Some Application manages it (its tracking label or annotation).
    pub managed: bool,
}

/// Kinds Argo CD's default `resource.exclusions` leave out of its cache.
const EXCLUDED: [(&str, &str); 6] = [
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "Endpoints"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("coordination.k8s.io", "Lease"),
    ("", "Binding"),
];

/// Whether the project asks for orphaned resources to be monitored.
pub fn monitored(project: &AppProject) -> bool {
    project.spec.orphaned_resources.is_some()
}

/// Whether the project asks for a warning condition when there are some.
pub fn warns(project: &AppProject) -> bool {
    project
        .spec
        .orphaned_resources
        .as_ref()
        .is_some_and(|o| o.warn == Some(true))
}

fn known_exclusion(o: &LiveObject) -> bool {
    let core = o.group.is_empty();
    EXCLUDED.contains(&(o.group.as_str(), o.kind.as_str()))
        || (core && o.kind == "ServiceAccount" && o.name == "default")
        || (core && o.kind == "ConfigMap" && o.name == "kube-root-ca.crt")
        || (core && o.kind == "Service" && o.name == "kubernetes" && o.namespace == "default")
}

fn ignored(project: &AppProject, o: &LiveObject) -> bool {
    let rules = project
        .spec
        .orphaned_resources
        .as_ref()
        .and_then(|s| s.ignore.as_deref())
        .unwrap_or(&[]);
    rules.iter().any(|rule| {
        let kind = rule.kind.as_deref().unwrap_or("");
        let name = rule.name.as_deref().unwrap_or("");
        let group = rule.group.as_deref().unwrap_or("");
        (kind.is_empty() || glob::argo_match(kind, &o.kind, false, &[]))
            && glob::argo_match(group, &o.group, false, &[])
            && (name.is_empty() || glob::argo_match(name, &o.name, false, &[]))
    })
}

/// The orphaned objects among `objects`, in their order.
pub fn orphans<'a>(project: &AppProject, objects: &'a [LiveObject]) -> Vec<&'a LiveObject> {
    if !monitored(project) {
        return Vec::new();
    }
    objects
        .iter()
        .filter(|o| !o.managed && !o.owned && !known_exclusion(o) && !ignored(project, o))
        .filter(|o| {
            check_kind(
                project,
                &Resource {
                    group: &o.group,
                    kind: &o.kind,
                    name: &o.name,
                    namespace: Some(&o.namespace),
                },
            )
            .is_ok()
        })
        .collect()
}

/// The `OrphanedResourceWarning` message for `count` orphans (Argo CD's
/// wording), when the project warns and there are some.
pub fn warning(project: &AppProject, count: usize) -> Option<String> {
    (warns(project) && count > 0).then(|| format!("Application has {count} orphaned resources"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(group: &str, kind: &str, name: &str) -> LiveObject {
        LiveObject {
            group: group.into(),
            kind: kind.into(),
            namespace: "shop".into(),
            name: name.into(),
            owned: false,
            managed: false,
        }
    }

    fn project(spec: serde_json::Value) -> AppProject {
        AppProject::new(
            "team-a",
            serde_json::from_value(spec).expect("a valid spec"),
        )
    }

    #[test]
    fn orphans_leave_out_managed_owned_built_in_and_ignored_objects() {
        let p = project(serde_json::json!({
            "orphanedResources": {"warn": true, "ignore": [
                {"kind": "Secret", "name": "sh.helm.*"},
                {"group": "apps", "kind": "*"}
            ]},
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}]
        }));
        let mut managed = obj("", "ConfigMap", "web-config");
        managed.managed = true;
        let mut owned = obj("", "Pod", "web-1234");
        owned.owned = true;
        let objects = vec![
            managed,
            owned,
            obj("", "ConfigMap", "stray"),
            obj("", "ConfigMap", "kube-root-ca.crt"),
            obj("", "ServiceAccount", "default"),
            obj("", "ServiceAccount", "builder"),
            obj("", "Endpoints", "web"),
            obj("", "Secret", "sh.helm.release.v1.web.v1"),
            obj("", "Secret", "token"),
            obj("apps", "Deployment", "old"),
            obj("", "ResourceQuota", "quota"),
        ];
        let found: Vec<String> = orphans(&p, &objects)
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        assert_eq!(
            found,
            ["ConfigMap/stray", "ServiceAccount/builder", "Secret/token"]
        );
        assert_eq!(
            warning(&p, found.len()).as_deref(),
            Some("Application has 3 orphaned resources")
        );
        assert_eq!(warning(&p, 0), None);
    }

    #[test]
    fn only_projects_that_ask_monitor_or_warn() {
        let objects = vec![obj("", "ConfigMap", "stray")];
        let silent = project(serde_json::json!({}));
        assert!(orphans(&silent, &objects).is_empty());
        let quiet = project(serde_json::json!({"orphanedResources": {}}));
        assert_eq!(orphans(&quiet, &objects).len(), 1);
        assert_eq!(warning(&quiet, 1), None);
    }
}
