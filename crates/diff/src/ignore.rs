//! `ignoreDifferences` as Argo CD defines it: rules per group, kind, name
//! and namespace that take fields out of the comparison, by JSON pointer,
//! jq path expression, or the field managers that own them in the live
//! object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fieldsv1::{self, FieldSet};
use crate::jq::JqPath;
use crate::path::{self, Path};
use crate::{Error, ObjectRef};

/// One `spec.ignoreDifferences` entry of an Argo CD Application (also the
/// shape of `resource.customizations.ignoreDifferences` in `argocd-cm`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifference {
    /// API group; `""` is the core group. `*` wildcards match as in Argo CD.
    #[serde(default)]
    pub group: String,
    /// Kind; `*` wildcards allowed.
    pub kind: String,
    /// Only the object of this name when not empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Only objects in this namespace when not empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreDifference {
    /// Argo CD's `resource.compareoptions: ignoreAggregatedRoles: true`:
    /// the `rules` of a ClusterRole with an `aggregationRule` are filled in
    /// by the controller manager, never by the manifest.
    pub fn aggregated_cluster_roles() -> IgnoreDifference {
        IgnoreDifference {
            group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            jq_path_expressions: vec!["select(.aggregationRule != null) | .rules".into()],
            ..Default::default()
        }
    }
}

#[derive(Debug)]
struct Rule {
    spec: IgnoreDifference,
    pointers: Vec<Vec<String>>,
    jq: Vec<JqPath>,
}

/// Compiled ignore rules: pointers parsed and jq expressions compiled once,
/// so a refresh only evaluates them.
#[derive(Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

/// The fields some rules ignore on one object, resolved against the live
/// object's managed fields (which the normalized objects no longer carry).
pub(crate) struct Resolved<'r> {
    rules: Vec<&'r Rule>,
    manager_sets: Vec<FieldSet>,
}

impl IgnoreRules {
    /// No rules: only normalization applies.
    pub fn none() -> IgnoreRules {
        IgnoreRules::default()
    }

    /// Validates and compiles `rules`. Errors name the rule (by index, group
    /// and kind) and the pointer or expression at fault.
    pub fn new(rules: impl IntoIterator<Item = IgnoreDifference>) -> Result<IgnoreRules, Error> {
        let mut out = Vec::new();
        for (index, spec) in rules.into_iter().enumerate() {
            let rule_name = || format!("ignoreDifferences[{index}] ({}/{})", spec.group, spec.kind);
            let pointers = spec
                .json_pointers
                .iter()
                .map(|p| {
                    path::parse_pointer(p).ok_or_else(|| Error::InvalidPointer {
                        rule: rule_name(),
                        pointer: p.clone(),
                    })
                })
                .collect::<Result<_, _>>()?;
            let jq = spec
                .jq_path_expressions
                .iter()
                .map(|e| {
                    JqPath::compile(e).map_err(|message| Error::InvalidJq {
                        rule: rule_name(),
                        expression: e.clone(),
                        message,
                    })
                })
                .collect::<Result<_, _>>()?;
            out.push(Rule { spec, pointers, jq });
        }
        Ok(IgnoreRules { rules: out })
    }

    /// Whether any rule applies to the object.
    pub fn applies_to(&self, obj: &ObjectRef) -> bool {
        self.rules.iter().any(|r| matches(&r.spec, obj))
    }

    /// The rules for `obj`, with the managed-field sets of `live` (before
    /// normalization drops `managedFields`).
    pub(crate) fn resolve(&self, obj: &ObjectRef, live: Option<&Value>) -> Resolved<'_> {
        let rules: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| matches(&r.spec, obj))
            .collect();
        let managers: Vec<String> = rules
            .iter()
            .flat_map(|r| r.spec.managed_fields_managers.iter().cloned())
            .collect();
        let manager_sets = match live {
            Some(live) if !managers.is_empty() => {
                fieldsv1::sets_of_managers(live, &managers).unwrap_or_else(|e| {
                    // A FieldsV1 set the server wrote but we cannot read:
                    // comparing without the rule shows drift, which is safer
                    // than hiding fields we cannot name.
                    tracing::warn!(object = %obj, error = %e, "unreadable managedFields; managedFieldsManagers not applied");
                    Vec::new()
                })
            }
            _ => Vec::new(),
        };
        Resolved {
            rules,
            manager_sets,
        }
    }

    /// Removes every ignored field from `obj` (a normalized predicted or
    /// live object), with the live object's managed fields.
    pub fn strip(&self, obj: &mut Value, live: Option<&Value>) {
        let Some(id) = ObjectRef::of(obj) else {
            return;
        };
        self.resolve(&id, live).strip(obj, &id);
    }

    /// RespectIgnoreDifferences=true: `desired` with every ignored field
    /// taken from `live` (or removed when live does not have it), so a sync
    /// leaves those fields as they are in the cluster. Without a live
    /// object there is nothing to respect and `desired` is returned as is.
    pub fn respect(&self, desired: &Value, live: Option<&Value>) -> Value {
        let mut out = desired.clone();
        let (Some(live), Some(id)) = (live, ObjectRef::of(desired)) else {
            return out;
        };
        let resolved = self.resolve(&id, Some(live));
        if resolved.rules.is_empty() {
            return out;
        }
        resolved.strip(&mut out, &id);
        let mut live_paths = resolved.paths(live, &id);
        // Parents first, so that a whole owned list is written before any of
        // its items would be.
        live_paths.sort();
        live_paths.dedup();
        for p in live_paths {
            if let Some(v) = path::get(live, &p)
                && !path::set(&mut out, &p, v.clone())
            {
                tracing::debug!(object = %id, path = %p, "ignored live field has no place in desired");
            }
        }
        out
    }
}

impl Resolved<'_> {
    pub(crate) fn strip(&self, obj: &mut Value, id: &ObjectRef) {
        let paths = self.paths(obj, id);
        path::remove_all(obj, &paths);
    }

    /// Every ignored path that resolves in `obj`.
    fn paths(&self, obj: &Value, id: &ObjectRef) -> Vec<Path> {
        let mut out = Vec::new();
        for rule in &self.rules {
            out.extend(
                rule.pointers
                    .iter()
                    .filter_map(|t| path::resolve_tokens(obj, t)),
            );
            for jq in &rule.jq {
                match jq.paths(obj) {
                    Ok(ps) => out.extend(ps.into_iter().filter(|p| path::get(obj, p).is_some())),
                    Err(e) => {
                        tracing::debug!(object = %id, expression = jq.source(), error = %e, "jq path expression selects nothing")
                    }
                }
            }
        }
        for set in &self.manager_sets {
            out.extend(set.paths_in(obj));
        }
        // Never ignore what identifies the object.
        out.retain(|p| !is_identity(p));
        out
    }
}

fn is_identity(p: &Path) -> bool {
    use crate::path::Segment::Key;
    match p.segments() {
        [] => true,
        [Key(k)] => k == "apiVersion" || k == "kind" || k == "metadata",
        [Key(m), Key(k)] => m == "metadata" && (k == "name" || k == "namespace"),
        _ => false,
    }
}

fn matches(rule: &IgnoreDifference, obj: &ObjectRef) -> bool {
    glob(&rule.group, &obj.group)
        && glob(&rule.kind, &obj.kind)
        && (rule.name.is_empty() || rule.name == obj.name)
        && (rule.namespace.is_empty() || rule.namespace == obj.namespace)
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = rest.split_last().unwrap_or((&"", &[]));
    for part in middle {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "annotations": {"a/b": "1", "keep": "2"}},
            "spec": {
                "replicas": 3,
                "template": {"spec": {
                    "containers": [{"name": "app", "image": "app:1"}, {"name": "istio-proxy", "image": "proxy"}]
                }}
            }
        })
    }

    fn rules(r: IgnoreDifference) -> IgnoreRules {
        IgnoreRules::new([r]).unwrap()
    }

    #[test]
    fn glob_matches_like_argo() {
        assert!(glob("*", ""));
        assert!(glob("*", "apps"));
        assert!(glob("", ""));
        assert!(!glob("", "apps"));
        assert!(glob("*.k8s.io", "rbac.authorization.k8s.io"));
        assert!(glob("Deploy*", "Deployment"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn json_pointers_remove_fields_and_skip_missing_ones() {
        let r = rules(IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: vec![
                "/spec/replicas".into(),
                "/metadata/annotations/a~1b".into(),
                "/spec/nothing/here".into(),
            ],
            ..Default::default()
        });
        let mut d = deployment();
        r.strip(&mut d, None);
        assert!(d.pointer("/spec/replicas").is_none());
        assert_eq!(d["metadata"]["annotations"], json!({"keep": "2"}));
    }

    #[test]
    fn rules_match_on_group_kind_name_namespace() {
        let base = IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        };
        let applies = |r: IgnoreDifference| {
            let mut d = deployment();
            rules(r).strip(&mut d, None);
            d.pointer("/spec/replicas").is_none()
        };
        assert!(applies(base.clone()));
        assert!(applies(IgnoreDifference {
            name: "web".into(),
            namespace: "prod".into(),
            ..base.clone()
        }));
        assert!(!applies(IgnoreDifference {
            name: "other".into(),
            ..base.clone()
        }));
        assert!(!applies(IgnoreDifference {
            namespace: "dev".into(),
            ..base.clone()
        }));
        assert!(!applies(IgnoreDifference {
            group: "".into(),
            ..base.clone()
        }));
        assert!(applies(IgnoreDifference {
            group: "*".into(),
            kind: "*".into(),
            ..base.clone()
        }));
        assert!(!applies(IgnoreDifference {
            kind: "StatefulSet".into(),
            ..base
        }));
    }

    #[test]
    fn jq_expressions_remove_selected_items() {
        let r = rules(IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            jq_path_expressions: vec![
                r#".spec.template.spec.containers[] | select(.name == "istio-proxy")"#.into(),
                ".spec.template.spec.initContainers[]".into(),
            ],
            ..Default::default()
        });
        let mut d = deployment();
        r.strip(&mut d, None);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "app:1"}])
        );
    }

    #[test]
    fn managed_fields_managers_use_live_ownership_on_both_sides() {
        let r = rules(IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            managed_fields_managers: vec!["kubectl-edit".into()],
            ..Default::default()
        });
        let mut live = deployment();
        live["metadata"]["managedFields"] = json!([
            {"manager": "gyro", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        ]);
        let mut predicted = deployment();
        predicted["spec"]["replicas"] = json!(1);
        let live_copy = live.clone();
        r.strip(&mut predicted, Some(&live_copy));
        r.strip(&mut live, Some(&live_copy));
        assert!(predicted.pointer("/spec/replicas").is_none());
        assert!(live.pointer("/spec/replicas").is_none());
        assert!(live.pointer("/spec/template").is_some());
    }

    #[test]
    fn invalid_rules_are_errors_naming_the_rule() {
        let bad_pointer = IgnoreRules::new([IgnoreDifference {
            kind: "ConfigMap".into(),
            json_pointers: vec!["data/x".into()],
            ..Default::default()
        }]);
        let msg = bad_pointer.unwrap_err().to_string();
        assert!(
            msg.contains("ignoreDifferences[0]") && msg.contains("data/x"),
            "{msg}"
        );
        let bad_jq = IgnoreRules::new([IgnoreDifference {
            kind: "ConfigMap".into(),
            jq_path_expressions: vec![".data[".into()],
            ..Default::default()
        }]);
        assert!(bad_jq.unwrap_err().to_string().contains(".data["));
    }

    #[test]
    fn respect_copies_ignored_live_fields_into_desired() {
        let r = rules(IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into(), "/metadata/annotations/keep".into()],
            jq_path_expressions: vec![
                r#".spec.template.spec.containers[] | select(.name == "istio-proxy")"#.into(),
            ],
            ..Default::default()
        });
        let mut desired = deployment();
        desired["spec"]["replicas"] = json!(1);
        desired["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "app", "image": "app:2"}]);
        desired["metadata"]["annotations"] = json!({"a/b": "1", "keep": "from-git"});
        let mut live = deployment();
        live["spec"]["replicas"] = json!(7);
        live["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("keep");
        let out = r.respect(&desired, Some(&live));
        assert_eq!(out["spec"]["replicas"], json!(7));
        // Ignored and absent from live: not pushed from Git either.
        assert_eq!(out["metadata"]["annotations"], json!({"a/b": "1"}));
        // The injected container is kept; the image change from Git is not ignored.
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "app:2"}, {"name": "istio-proxy", "image": "proxy"}])
        );
        // An injected item before desired's own is restored in place, not
        // over desired's item at that index.
        let mut first = live.clone();
        first["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "istio-proxy", "image": "proxy"}, {"name": "app", "image": "app:1"}]);
        let out = r.respect(&desired, Some(&first));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "istio-proxy", "image": "proxy"}, {"name": "app", "image": "app:2"}])
        );
        // Without live, desired is unchanged.
        assert_eq!(r.respect(&desired, None), desired);
    }

    #[test]
    fn aggregated_cluster_roles_rule() {
        let r = rules(IgnoreDifference::aggregated_cluster_roles());
        let mut agg = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "a"}, "aggregationRule": {"clusterRoleSelectors": []}, "rules": [{"verbs": ["get"]}]
        });
        r.strip(&mut agg, None);
        assert!(agg.get("rules").is_none());
        let mut plain = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "b"}, "rules": [{"verbs": ["get"]}]});
        r.strip(&mut plain, None);
        assert!(plain.get("rules").is_some());
    }

    #[test]
    fn deserializes_argo_cd_yaml() {
        let v = render::yaml::parse_value(
            "group: apps\nkind: Deployment\njsonPointers: [/spec/replicas]\njqPathExpressions: ['.a']\nmanagedFieldsManagers: [kube-controller-manager]\n",
            "app.yaml",
        )
        .unwrap();
        let r: IgnoreDifference = serde_json::from_value(v).unwrap();
        assert_eq!(r.json_pointers, ["/spec/replicas"]);
        assert_eq!(r.managed_fields_managers, ["kube-controller-manager"]);
        assert_eq!(r.name, "");
    }
}
