//! The sync plan: a pure function from desired and live objects to the
//! ordered tasks a sync performs.
//!
//! Order: the destination namespace (with `CreateNamespace=true`), then
//! every desired object in kind order ([`crate::order`]), then prunes in
//! reverse kind order, so a Deployment goes before the ConfigMap it reads
//! and a CRD's objects before the CRD. Objects the sync leaves alone (in
//! sync with `ApplyOutOfSyncOnly`, or not to be pruned) are in the plan as
//! skips with the reason, so the result can say so per resource.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Value, json};

use crate::options::{OptionError, SyncOptions};
use crate::order;

/// A resource's identity within a sync: group, kind, namespace, name
/// (Argo CD's resource key; versions of one kind are the same object).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ResourceKey {
    /// The key of an object, or `None` when it lacks a kind or a name.
    pub fn of(obj: &Value) -> Option<ResourceKey> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = s(obj.get("apiVersion"));
        let kind = s(obj.get("kind"));
        let meta = obj.get("metadata");
        let name = s(meta.and_then(|m| m.get("name")));
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(ResourceKey {
            group: api_version
                .rsplit_once('/')
                .map(|(g, _)| g.to_string())
                .unwrap_or_default(),
            kind,
            namespace: s(meta.and_then(|m| m.get("namespace"))),
            name,
        })
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}/{}/{}", self.namespace, self.name)
        }
    }
}

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the destination namespace (`CreateNamespace=true`).
    CreateNamespace,
    /// Apply the desired object.
    Apply,
    /// Delete a live object that is no longer in Git.
    Prune,
    /// Leave the object alone, for this reason.
    Skip(String),
}

/// One step of a sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub key: ResourceKey,
    pub action: Action,
    /// The desired object (apply, namespace) or the live one (prune, skip
    /// of a prune).
    pub object: Value,
    /// The Application's options with the object's own annotation on top.
    pub options: SyncOptions,
}

/// The ordered tasks of one sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub tasks: Vec<Task>,
}

impl Plan {
    /// Tasks that change something (everything but skips).
    pub fn changes(&self) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .filter(|t| !matches!(t.action, Action::Skip(_)))
    }
}

/// Why a plan cannot be made; nothing is applied then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("desired object #{index} has no kind or no metadata.name")]
    Unidentified { index: usize },
    #[error("{key} appears twice in the desired objects")]
    Duplicate { key: ResourceKey },
    #[error("{key}: {source}")]
    Option {
        key: Box<ResourceKey>,
        #[source]
        source: OptionError,
    },
}

/// What a plan is made from.
pub struct Input<'a> {
    /// The rendered objects.
    pub desired: &'a [Value],
    /// The live objects the Application manages (tracked as its own).
    pub live: &'a [Value],
    /// Whether a resource is already in sync (from the diff).
    pub in_sync: &'a dyn Fn(&ResourceKey) -> bool,
    /// The Application's sync options.
    pub options: &'a SyncOptions,
    /// Whether this sync prunes (`syncPolicy.automated.prune`, or a manual
    /// sync with prune).
    pub prune: bool,
    /// The destination namespace, given to namespaced objects without one.
    pub namespace: &'a str,
    /// Whether a kind (`apiVersion`, `kind`) is cluster-scoped.
    pub cluster_scoped: &'a dyn Fn(&str, &str) -> bool,
}

/// Builds the plan.
pub fn build(input: &Input<'_>) -> Result<Plan, PlanError> {
    let mut applies = Vec::with_capacity(input.desired.len());
    let mut desired_keys = HashSet::with_capacity(input.desired.len());
    for (index, obj) in input.desired.iter().enumerate() {
        let obj = with_namespace(obj, input);
        let key = ResourceKey::of(&obj).ok_or(PlanError::Unidentified { index })?;
        if !desired_keys.insert(key.clone()) {
            return Err(PlanError::Duplicate { key });
        }
        let options = input
            .options
            .for_object(&obj)
            .map_err(|source| PlanError::Option {
                key: Box::new(key.clone()),
                source,
            })?;
        let action = if options.apply_out_of_sync_only && (input.in_sync)(&key) {
            Action::Skip("already in sync (ApplyOutOfSyncOnly)".to_string())
        } else {
            Action::Apply
        };
        applies.push(Task {
            key,
            action,
            object: obj,
            options,
        });
    }
    applies.sort_by(|a, b| {
        (order::rank(&a.key.kind), &a.key.namespace, &a.key.name).cmp(&(
            order::rank(&b.key.kind),
            &b.key.namespace,
            &b.key.name,
        ))
    });

    let mut prunes = Vec::new();
    for obj in input.live {
        let Some(key) = ResourceKey::of(obj) else {
            continue;
        };
        if desired_keys.contains(&key) {
            continue;
        }
        let options = input
            .options
            .for_object(obj)
            .map_err(|source| PlanError::Option {
                key: Box::new(key.clone()),
                source,
            })?;
        let action = if !input.prune {
            Action::Skip("not in Git; pruning is off for this sync".to_string())
        } else if options.no_prune {
            Action::Skip("not in Git; kept by its Prune=false sync option".to_string())
        } else {
            Action::Prune
        };
        prunes.push(Task {
            key,
            action,
            object: obj.clone(),
            options,
        });
    }
    prunes.sort_by(|a, b| {
        (order::rank(&b.key.kind), &a.key.namespace, &a.key.name).cmp(&(
            order::rank(&a.key.kind),
            &b.key.namespace,
            &b.key.name,
        ))
    });

    let mut tasks = Vec::with_capacity(applies.len() + prunes.len() + 1);
    let ns = input.namespace;
    let ns_in_git = desired_keys
        .iter()
        .any(|k| k.kind == "Namespace" && k.group.is_empty() && k.name == ns);
    if input.options.create_namespace && !ns.is_empty() && !ns_in_git {
        tasks.push(Task {
            key: ResourceKey {
                group: String::new(),
                kind: "Namespace".to_string(),
                namespace: String::new(),
                name: ns.to_string(),
            },
            action: Action::CreateNamespace,
            object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            options: input.options.clone(),
        });
    }
    tasks.extend(applies);
    tasks.extend(prunes);
    Ok(Plan { tasks })
}

/// The object with the destination namespace set when it is namespaced and
/// names none, as Argo CD applies it.
fn with_namespace(obj: &Value, input: &Input<'_>) -> Value {
    let mut obj = obj.clone();
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if input.namespace.is_empty() || (input.cluster_scoped)(api_version, kind) {
        return obj;
    }
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        let has = meta
            .get("namespace")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has {
            meta.insert(
                "namespace".to_string(),
                Value::String(input.namespace.to_string()),
            );
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(api: &str, kind: &str, name: &str) -> Value {
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}})
    }

    fn scoped(_: &str, kind: &str) -> bool {
        matches!(
            kind,
            "Namespace" | "ClusterRole" | "CustomResourceDefinition"
        )
    }

    fn plan(
        desired: &[Value],
        live: &[Value],
        options: &[&str],
        prune: bool,
    ) -> Result<Plan, PlanError> {
        let options = SyncOptions::parse(options.iter().copied()).unwrap();
        build(&Input {
            desired,
            live,
            in_sync: &|k: &ResourceKey| k.name == "synced",
            options: &options,
            prune,
            namespace: "shop",
            cluster_scoped: &scoped,
        })
    }

    fn summary(p: &Plan) -> Vec<String> {
        p.tasks
            .iter()
            .map(|t| {
                let action = match &t.action {
                    Action::CreateNamespace => "create-namespace",
                    Action::Apply => "apply",
                    Action::Prune => "prune",
                    Action::Skip(_) => "skip",
                };
                format!("{action} {}", t.key)
            })
            .collect()
    }

    #[test]
    fn applies_in_kind_order_then_prunes_in_reverse() {
        let desired = [
            obj("apps/v1", "Deployment", "web"),
            obj("example.com/v1", "Widget", "w"),
            obj("v1", "ConfigMap", "cfg"),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "widgets.example.com",
            ),
            obj("v1", "Service", "web"),
        ];
        let live = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "shop"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "old", "namespace": "shop"}}),
        ];
        let p = plan(&desired, &live, &["CreateNamespace=true"], true).unwrap();
        assert_eq!(
            summary(&p),
            [
                "create-namespace Namespace/shop",
                "apply ConfigMap/shop/cfg",
                "apply CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com",
                "apply Service/shop/web",
                "apply Deployment.apps/shop/web",
                "apply Widget.example.com/shop/w",
                "prune Deployment.apps/shop/old",
                "prune ConfigMap/shop/old",
            ]
        );
        // The destination namespace went on namespaced objects only.
        assert_eq!(p.tasks[1].object["metadata"]["namespace"], "shop");
        assert!(p.tasks[2].object["metadata"].get("namespace").is_none());
    }

    #[test]
    fn no_prune_without_prune_or_with_prune_false() {
        let mut kept = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "namespace": "shop"}});
        kept["metadata"]["annotations"] = json!({crate::options::ANNOTATION: "Prune=false"});
        let gone = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "shop"}});
        let p = plan(&[], &[kept.clone(), gone.clone()], &[], false).unwrap();
        assert_eq!(p.changes().count(), 0, "{:?}", summary(&p));
        let p = plan(&[], &[kept, gone], &[], true).unwrap();
        assert_eq!(
            summary(&p),
            ["prune ConfigMap/shop/gone", "skip ConfigMap/shop/kept"]
        );
    }

    #[test]
    fn apply_out_of_sync_only_skips_synced_objects() {
        let desired = [
            obj("v1", "ConfigMap", "synced"),
            obj("v1", "ConfigMap", "drifted"),
        ];
        let p = plan(&desired, &[], &["ApplyOutOfSyncOnly=true"], false).unwrap();
        assert_eq!(
            summary(&p),
            ["apply ConfigMap/shop/drifted", "skip ConfigMap/shop/synced"]
        );
    }

    #[test]
    fn namespace_in_git_is_not_created_twice_and_bad_input_is_refused() {
        let desired = [obj("v1", "Namespace", "shop")];
        let p = plan(&desired, &[], &["CreateNamespace=true"], false).unwrap();
        assert_eq!(summary(&p), ["apply Namespace/shop"]);
        let dup = [obj("v1", "ConfigMap", "a"), obj("v1", "ConfigMap", "a")];
        assert!(matches!(
            plan(&dup, &[], &[], false),
            Err(PlanError::Duplicate { .. })
        ));
        let nameless = [json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})];
        assert_eq!(
            plan(&nameless, &[], &[], false),
            Err(PlanError::Unidentified { index: 0 })
        );
        let mut bad = obj("v1", "ConfigMap", "a");
        bad["metadata"]["annotations"] = json!({crate::options::ANNOTATION: "Prune=perhaps"});
        let e = plan(&[bad], &[], &[], false).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ConfigMap/shop/a: sync option 'Prune=perhaps'"),
            "{e}"
        );
    }
}
