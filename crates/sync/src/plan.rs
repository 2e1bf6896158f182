//! The sync plan: a pure function from desired and live objects to the
//! ordered tasks a sync performs.
//!
//! Order: by phase (PreSync, Sync, PostSync), then by sync wave
//! (`argocd.argoproj.io/sync-wave`, negative first), then kind order
//! ([`crate::order`]), namespace and name. The destination namespace (with
//! `CreateNamespace=true`) comes first of all. Ordinary resources are in the
//! Sync phase; hooks ([`crate::hook`]) in the phases their annotation
//! names, one task per phase, with SyncFail and PostDelete hooks listed
//! apart. Prunes run after the applies of the last Sync wave, latest wave
//! and reverse kind order first (a Deployment goes before the ConfigMap it
//! reads, a CRD's objects before the CRD), `PruneLast` ones in a wave of
//! their own after that. Objects the sync leaves alone (in sync with
//! `ApplyOutOfSyncOnly`, not to be pruned, `hook: Skip`) are in the plan as
//! skips with the reason, so the result can say so per resource.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Value, json};

use crate::hook::{self, AnnotationError, Hook, Marking, Phase};
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
    /// Create a hook object (a new instance per sync; see
    /// [`crate::hook`]).
    Hook,
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
    /// The desired object (apply, hook, namespace) or the live one (prune,
    /// skip of a prune).
    pub object: Value,
    /// The Application's options with the object's own annotation on top.
    pub options: SyncOptions,
    /// The phase the task runs in.
    pub phase: Phase,
    /// The wave it runs in within its phase: the object's wave for applies
    /// and hooks; for prunes the last wave of the Sync phase (`PruneLast`:
    /// one after it).
    pub wave: i64,
    /// For a hook: its phases and delete policies.
    pub hook: Option<Hook>,
}

/// The ordered tasks of one sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// PreSync, Sync and PostSync tasks, in the order they run.
    pub tasks: Vec<Task>,
    /// The SyncFail hooks, run in this order when the sync fails.
    pub sync_fail: Vec<Task>,
    /// The PostDelete hooks, run when the Application is deleted (by the
    /// controller's `post_delete` module, not by a sync).
    pub post_delete: Vec<Task>,
}

impl Plan {
    /// Tasks that change something (everything but skips).
    pub fn changes(&self) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .filter(|t| !matches!(t.action, Action::Skip(_)))
    }

    /// The tasks grouped into steps, one per phase and wave, in order.
    pub fn steps(&self) -> Vec<&[Task]> {
        steps(&self.tasks)
    }
}

/// Ordered tasks grouped into steps: consecutive tasks of one phase and
/// wave. A sync applies a step, then waits for it before the next.
pub fn steps(tasks: &[Task]) -> Vec<&[Task]> {
    tasks
        .chunk_by(|a, b| (a.phase, a.wave) == (b.phase, b.wave))
        .collect()
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
    /// A hook without `kind`, or with neither `metadata.name` nor
    /// `metadata.generateName`.
    #[error("hook {object} has no {field}")]
    HookUnidentified { object: String, field: &'static str },
    /// A hook or wave annotation that cannot be read.
    #[error("{object}: {source}")]
    Annotation {
        object: String,
        #[source]
        source: AnnotationError,
    },
}

/// What a plan is made from.
pub struct Input<'a> {
    /// The rendered objects, hooks included (told apart by their
    /// annotations, see [`crate::hook`]).
    pub desired: &'a [Value],
    /// The live objects the Application manages (tracked as its own; hooks
    /// are left out by the caller).
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

/// How tasks are ordered: phase, wave, applies before prunes, then kind
/// order (reversed for prunes, after their own wave, latest first), then
/// namespace and name.
type SortKey = (Phase, i64, u8, i64, isize, String, String);

fn sort_key(task: &Task, prune: Option<i64>) -> SortKey {
    let rank = order::rank(&task.key.kind) as isize;
    let (class, own_wave, rank) = match prune {
        None => (0, 0, rank),
        Some(own_wave) => (1, -own_wave, -rank),
    };
    (
        task.phase,
        task.wave,
        class,
        own_wave,
        rank,
        task.key.namespace.clone(),
        task.key.name.clone(),
    )
}

/// Builds the plan.
pub fn build(input: &Input<'_>) -> Result<Plan, PlanError> {
    let mut main: Vec<(SortKey, Task)> = Vec::with_capacity(input.desired.len());
    let mut sync_fail = Vec::new();
    let mut post_delete = Vec::new();
    let mut desired_keys = HashSet::with_capacity(input.desired.len());
    for (index, obj) in input.desired.iter().enumerate() {
        let obj = with_namespace(obj, input);
        let annotation_error = |source| PlanError::Annotation {
            object: describe(&obj, index),
            source,
        };
        let marking = hook::marking(&obj).map_err(annotation_error)?;
        let wave = hook::wave(&obj).map_err(annotation_error)?;
        if let Marking::Hook(hook) = marking {
            let key = hook_key(&obj, index)?;
            let options = input
                .options
                .for_object(&obj)
                .map_err(|source| PlanError::Option {
                    key: Box::new(key.clone()),
                    source,
                })?;
            for phase in hook.phases.clone() {
                let task = Task {
                    key: key.clone(),
                    action: Action::Hook,
                    object: obj.clone(),
                    options: options.clone(),
                    phase,
                    wave,
                    hook: Some(hook.clone()),
                };
                match phase {
                    Phase::SyncFail => sync_fail.push((sort_key(&task, None), task)),
                    Phase::PostDelete => post_delete.push((sort_key(&task, None), task)),
                    _ => main.push((sort_key(&task, None), task)),
                }
            }
            continue;
        }
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
        let action = if marking == Marking::Skip {
            Action::Skip(format!("{}: Skip", hook::HOOK))
        } else if options.apply_out_of_sync_only && (input.in_sync)(&key) {
            Action::Skip("already in sync (ApplyOutOfSyncOnly)".to_string())
        } else {
            Action::Apply
        };
        let task = Task {
            key,
            action,
            object: obj,
            options,
            phase: Phase::Sync,
            wave,
            hook: None,
        };
        main.push((sort_key(&task, None), task));
    }
    // Prunes run after the last wave of the Sync phase (Argo CD counts
    // from wave 0), `PruneLast` ones in a wave of their own after that.
    let last_sync_wave = main
        .iter()
        .filter(|(_, t)| t.phase == Phase::Sync)
        .map(|(_, t)| t.wave)
        .max()
        .unwrap_or(0)
        .max(0);
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
        // A live object's unreadable wave only orders prunes: not worth
        // refusing the sync for.
        let own_wave = hook::wave(obj).unwrap_or(0);
        let action = if !input.prune {
            Action::Skip("not in Git; pruning is off for this sync".to_string())
        } else if options.no_prune {
            Action::Skip("not in Git; kept by its Prune=false sync option".to_string())
        } else {
            Action::Prune
        };
        let wave = if options.prune_last && action == Action::Prune {
            last_sync_wave.saturating_add(1)
        } else {
            last_sync_wave
        };
        let task = Task {
            key,
            action,
            object: obj.clone(),
            options,
            phase: Phase::Sync,
            wave,
            hook: None,
        };
        main.push((sort_key(&task, Some(own_wave)), task));
    }

    let ns = input.namespace;
    let ns_in_git = desired_keys
        .iter()
        .any(|k| k.kind == "Namespace" && k.group.is_empty() && k.name == ns);
    if input.options.create_namespace && !ns.is_empty() && !ns_in_git {
        let task = Task {
            key: ResourceKey {
                group: String::new(),
                kind: "Namespace".to_string(),
                namespace: String::new(),
                name: ns.to_string(),
            },
            action: Action::CreateNamespace,
            object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            options: input.options.clone(),
            phase: Phase::PreSync,
            wave: i64::MIN,
            hook: None,
        };
        main.push((sort_key(&task, None), task));
    }
    let ordered = |mut tasks: Vec<(SortKey, Task)>| {
        tasks.sort_by(|a, b| a.0.cmp(&b.0));
        tasks.into_iter().map(|(_, t)| t).collect()
    };
    Ok(Plan {
        tasks: ordered(main),
        sync_fail: ordered(sync_fail),
        post_delete: ordered(post_delete),
    })
}

/// A hook's key: its name, or its `generateName` until the server picks
/// one.
fn hook_key(obj: &Value, index: usize) -> Result<ResourceKey, PlanError> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let meta = obj.get("metadata");
    let kind = s(obj.get("kind"));
    let mut name = s(meta.and_then(|m| m.get("name")));
    if name.is_empty() {
        name = s(meta.and_then(|m| m.get("generateName")));
    }
    let field = if kind.is_empty() {
        Some("kind")
    } else if name.is_empty() {
        Some("metadata.name or metadata.generateName")
    } else {
        None
    };
    if let Some(field) = field {
        return Err(PlanError::HookUnidentified {
            object: describe(obj, index),
            field,
        });
    }
    let api_version = s(obj.get("apiVersion"));
    Ok(ResourceKey {
        group: api_version
            .rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default(),
        kind,
        namespace: s(meta.and_then(|m| m.get("namespace"))),
        name,
    })
}

/// Names a desired object for an error, however little it has.
fn describe(obj: &Value, index: usize) -> String {
    let field = |path: &str| {
        obj.pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let kind = field("/kind").unwrap_or("(no kind)");
    match (field("/metadata/name"), field("/metadata/generateName")) {
        (Some(name), _) => format!("{kind} {name}"),
        (None, Some(prefix)) => format!("{kind} {prefix}* (generateName)"),
        (None, None) => format!("{kind} #{index} (no metadata.name or generateName)"),
    }
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
                    Action::Hook => "hook",
                    Action::Prune => "prune",
                    Action::Skip(_) => "skip",
                };
                format!("{action} {}", t.key)
            })
            .collect()
    }

    fn annotated(api: &str, kind: &str, name: &str, annotations: Value) -> Value {
        let mut o = obj(api, kind, name);
        o["metadata"]["annotations"] = annotations;
        o
    }

    /// The plan's steps as "Phase wave: task, task".
    fn step_summary(tasks: &[Task]) -> Vec<String> {
        steps(tasks)
            .iter()
            .map(|step| {
                let names: Vec<String> = step
                    .iter()
                    .map(|t| format!("{}/{}", t.key.kind, t.key.name))
                    .collect();
                format!("{} {}: {}", step[0].phase, step[0].wave, names.join(", "))
            })
            .collect()
    }

    #[test]
    fn phases_then_waves_then_kinds_and_prunes_after_the_last_sync_wave() {
        let wave = |w: &str| json!({hook::SYNC_WAVE: w});
        let desired = [
            annotated("apps/v1", "Deployment", "api", wave("1")),
            annotated("v1", "ConfigMap", "db-config", wave("-1")),
            annotated("apps/v1", "Deployment", "db", wave("-1")),
            obj("v1", "Service", "api"),
            annotated(
                "batch/v1",
                "Job",
                "migrate",
                json!({hook::HOOK: "PreSync", hook::HOOK_DELETE_POLICY: "HookSucceeded"}),
            ),
            json!({"apiVersion": "batch/v1", "kind": "Job",
                   "metadata": {"generateName": "smoke-", "annotations": {hook::HOOK: "PostSync"}}}),
            annotated("v1", "Pod", "notify", json!({hook::HOOK: "SyncFail"})),
            annotated(
                "batch/v1",
                "Job",
                "cleanup",
                json!({hook::HOOK: "PostDelete"}),
            ),
            annotated("v1", "ConfigMap", "never", json!({hook::HOOK: "Skip"})),
        ];
        let live = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "shop"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "older", "namespace": "shop",
                   "annotations": {crate::options::ANNOTATION: "PruneLast=true"}}}),
        ];
        let p = plan(&desired, &live, &["CreateNamespace=true"], true).unwrap();
        assert_eq!(
            step_summary(&p.tasks),
            [
                format!("PreSync {}: Namespace/shop", i64::MIN),
                "PreSync 0: Job/migrate".to_string(),
                "Sync -1: ConfigMap/db-config, Deployment/db".to_string(),
                "Sync 0: ConfigMap/never, Service/api".to_string(),
                "Sync 1: Deployment/api, ConfigMap/old".to_string(),
                "Sync 2: Secret/older".to_string(),
                "PostSync 0: Job/smoke-".to_string(),
            ]
        );
        assert_eq!(summary(&p)[4], "skip ConfigMap/shop/never");
        assert_eq!(summary(&p)[7], "prune ConfigMap/shop/old");
        let migrate = &p.tasks[1];
        assert_eq!(migrate.action, Action::Hook);
        let policies = &migrate.hook.as_ref().unwrap().delete_policies;
        assert_eq!(policies, &[hook::DeletePolicy::HookSucceeded]);
        // Hooks get the destination namespace like any object.
        assert_eq!(p.tasks[9].object["metadata"]["namespace"], "shop");
        assert_eq!(step_summary(&p.sync_fail), ["SyncFail 0: Pod/notify"]);
        assert_eq!(step_summary(&p.post_delete), ["PostDelete 0: Job/cleanup"]);
    }

    #[test]
    fn prunes_go_latest_wave_first_and_a_hook_in_two_phases_runs_twice() {
        let live = [
            annotated("v1", "ConfigMap", "early", json!({hook::SYNC_WAVE: "-3"})),
            annotated("v1", "ConfigMap", "late", json!({hook::SYNC_WAVE: "4"})),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}}),
        ];
        let twice = annotated(
            "batch/v1",
            "Job",
            "check",
            json!({hook::HOOK: "PreSync,PostSync", hook::SYNC_WAVE: "2"}),
        );
        let p = plan(&[twice], &live, &["PruneLast=true"], true).unwrap();
        assert_eq!(
            step_summary(&p.tasks),
            [
                "PreSync 2: Job/check",
                "Sync 1: ConfigMap/late, ConfigMap/plain, ConfigMap/early",
                "PostSync 2: Job/check",
            ]
        );
        // Without waves or hooks a plan is one step, as before.
        let p = plan(
            &[
                obj("v1", "ConfigMap", "a"),
                obj("apps/v1", "Deployment", "b"),
            ],
            &live[2..],
            &[],
            true,
        )
        .unwrap();
        assert_eq!(p.steps().len(), 1);
    }

    #[test]
    fn bad_waves_and_hooks_are_errors_naming_the_object_and_field() {
        let bad_wave = annotated("v1", "ConfigMap", "cfg", json!({hook::SYNC_WAVE: "soon"}));
        let e = plan(&[bad_wave], &[], &[], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ConfigMap cfg: annotation argocd.argoproj.io/sync-wave: \"soon\" is not an integer"
        );
        let kindless = json!({"apiVersion": "batch/v1",
            "metadata": {"generateName": "smoke-", "annotations": {hook::HOOK: "PostSync"}}});
        let e = plan(&[kindless], &[], &[], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hook (no kind) smoke-* (generateName) has no kind"
        );
        let nameless = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"annotations": {hook::HOOK: "PreSync"}}});
        let e = plan(&[obj("v1", "ConfigMap", "a"), nameless], &[], &[], false).unwrap_err();
        assert_eq!(
            e,
            PlanError::HookUnidentified {
                object: "Job #1 (no metadata.name or generateName)".to_string(),
                field: "metadata.name or metadata.generateName",
            }
        );
        let unknown = annotated("batch/v1", "Job", "j", json!({hook::HOOK: "PreUpgrade"}));
        let e = plan(&[unknown], &[], &[], false).unwrap_err();
        assert!(e.to_string().starts_with("Job j: annotation argocd.argoproj.io/hook: \"PreUpgrade\" names an unknown hook type"), "{e}");
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
