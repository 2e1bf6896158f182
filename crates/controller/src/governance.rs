//! The Application's AppProject applied to one reconcile: whether the
//! Application may deploy its sources to its destination at all, whether
//! each object of a sync is permitted, whether the project's sync windows
//! let a sync run now, and the orphaned resources warning. The decisions
//! are [`policy`]'s; this module finds the project, resolves the
//! destination and lists what `orphanedResources` needs.

use std::sync::Arc;
use std::time::Duration;

use api::{AppProject, Application, Operation};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{Discovery, Scope, verbs};
use policy::windows::{self, Target, Verdict};
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::Context;
use crate::clusters;
use crate::compare::Comparison;
use crate::status::Condition;

/// How long after a window opens or closes the held sync looks again, so
/// that the new state is the one seen.
const AFTER_WINDOW_CHANGE: Duration = Duration::from_secs(1);

/// The Application's destination as the project rules see it: the server
/// and name of the cluster it resolves to among the cluster Secrets (so a
/// destination given by name is checked by its server too), and the
/// cluster's `project` (for `permitOnlyProjectScopedClusters`). A
/// destination that does not resolve is kept as given; the comparison
/// reports why it does not.
pub fn resolved_destination(app: &Application, secrets: &[Secret]) -> policy::Destination {
    let dest = &app.spec.destination;
    let namespace = dest.namespace.clone().unwrap_or_default();
    match clusters::resolve(dest, secrets) {
        Ok(spec) => policy::Destination {
            server: spec.server,
            name: spec.name,
            namespace,
            cluster_project: spec.project,
        },
        Err(_) => policy::Destination {
            server: dest.server.clone().unwrap_or_default(),
            name: dest.name.clone().unwrap_or_default(),
            namespace,
            cluster_project: None,
        },
    }
}

/// What the project says about one Application at one time.
pub struct Governance {
    project: Option<Arc<AppProject>>,
    /// The Application is not permitted by its project (sourceNamespaces,
    /// sourceRepos, destinations): nothing is compared or synced.
    spec_error: Option<Condition>,
    /// The sync windows' verdict, or why the windows do not parse.
    windows: Result<Verdict, String>,
}

impl Governance {
    /// Checks `app` against its project (when it exists; a missing project
    /// is reported by the comparison) at `now`.
    pub fn of(ctx: &Context, app: &Application, now: Timestamp) -> Self {
        let project = ctx.settings.project(&app.spec.project);
        let Some(p) = &project else {
            return Self {
                project,
                spec_error: None,
                windows: Ok(no_windows()),
            };
        };
        let dest = resolved_destination(app, &ctx.clusters.secrets());
        let sources = app.spec.effective_sources();
        let urls: Vec<&str> = sources.iter().map(|s| s.repo_url.as_str()).collect();
        let spec_error = policy::check_application(
            p,
            app.metadata.namespace.as_deref().unwrap_or(""),
            &ctx.config.controller_namespace,
            &urls,
            &dest,
        )
        .err()
        .map(|denied| Condition::invalid_spec(denied.message));
        let windows = window_verdict(p, app, &dest, now);
        Self {
            project,
            spec_error,
            windows,
        }
    }

    /// The condition when the project does not permit the Application.
    pub fn spec_error(&self) -> Option<&Condition> {
        self.spec_error.as_ref()
    }

    /// The condition that holds an automated sync, if the windows (or
    /// windows that do not parse) hold it.
    pub fn automated_hold(&self) -> Option<Condition> {
        match &self.windows {
            Ok(v) if v.automated => None,
            Ok(v) => Some(Condition::sync(format!(
                "auto-sync {}",
                v.reason.as_deref().unwrap_or("blocked by sync window")
            ))),
            Err(message) => Some(Condition::invalid_spec(message.clone())),
        }
    }

    /// Why a sync operation may not run now, as its failure message: the
    /// project does not permit the Application, or a window blocks a
    /// manual sync (automated ones are held, see [`Self::automated_hold`]).
    pub fn refusal(&self, op: &Operation) -> Option<String> {
        if let Some(c) = &self.spec_error {
            return Some(c.message.clone());
        }
        if is_automated(op) {
            return None;
        }
        match &self.windows {
            Ok(v) if v.manual => None,
            Ok(v) => Some(format!(
                "Cannot sync: {}; a manual sync needs manualSync: true on the blocking windows",
                v.reason.as_deref().unwrap_or("blocked by sync window")
            )),
            Err(message) => Some(format!("Cannot sync: {message}")),
        }
    }

    /// How long until the windows' verdict may change (a held sync looks
    /// again then).
    pub fn wake_in(&self, now: Timestamp) -> Option<Duration> {
        let next = self.windows.as_ref().ok()?.next_change?;
        let wait = next.duration_since(now);
        Some(Duration::try_from(wait).unwrap_or(Duration::ZERO) + AFTER_WINDOW_CHANGE)
    }

    /// The project, when it exists.
    pub fn project(&self) -> Option<&AppProject> {
        self.project.as_deref()
    }
}

/// Whether an operation is an automated sync (not one a user asked for).
pub fn is_automated(op: &Operation) -> bool {
    op.initiated_by.as_ref().and_then(|i| i.automated) == Some(true)
}

fn no_windows() -> Verdict {
    Verdict {
        matching: Vec::new(),
        active: Vec::new(),
        automated: true,
        manual: true,
        reason: None,
        next_change: None,
    }
}

/// The verdict of the project's windows for `app`; `Err` names the
/// project and the window field that does not parse.
pub fn window_verdict(
    project: &AppProject,
    app: &Application,
    dest: &policy::Destination,
    now: Timestamp,
) -> Result<Verdict, String> {
    let parsed =
        windows::parse(project.spec.sync_windows.as_deref().unwrap_or(&[])).map_err(|e| {
            format!(
                "AppProject {} {e}",
                project.metadata.name.as_deref().unwrap_or("")
            )
        })?;
    let target = Target {
        application: app.metadata.name.as_deref().unwrap_or(""),
        namespace: &dest.namespace,
        server: &dest.server,
        cluster: &dest.name,
    };
    Ok(windows::evaluate(&parsed, &target, now))
}

/// Checks every object a sync of `comparison` would apply or prune against
/// the project: its kind and its namespace. `Err` is the sync's failure
/// message, naming the object, the project and the rule.
pub async fn check_resources(
    ctx: &Context,
    app: &Application,
    comparison: &Comparison,
) -> Result<(), String> {
    let Some(project) = ctx.settings.project(&app.spec.project) else {
        return Ok(());
    };
    let dest = resolved_destination(app, &ctx.clusters.secrets());
    for item in &comparison.items {
        let Some(obj) = item.desired.as_ref().or(item.live.as_ref()) else {
            continue;
        };
        let (_, namespaced) = comparison.cluster.resource(obj).await?;
        let namespace = namespaced.then(|| {
            obj["metadata"]
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty())
                .unwrap_or(&dest.namespace)
        });
        let res = policy::Resource {
            group: &item.key.group,
            kind: &item.key.kind,
            name: &item.key.name,
            namespace,
        };
        policy::check_resource(&project, &res, &dest).map_err(|denied| denied.message)?;
    }
    Ok(())
}

/// The `OrphanedResourceWarning` condition when the project warns about
/// orphaned resources and the destination namespace has some. Lists every
/// namespaced kind there (only for projects with `orphanedResources.warn`);
/// a kind that cannot be listed is skipped. It is computed on every
/// reconcile: the Application in hand may predate the controller's own last
/// status write, so carrying the last count over could lose it.
pub async fn orphan_warning(
    ctx: &Context,
    app: &Application,
    cluster: &clusters::Cluster,
) -> Option<Condition> {
    let project = ctx.settings.project(&app.spec.project)?;
    if !policy::orphans::warns(&project) {
        return None;
    }
    let namespace = app
        .spec
        .destination
        .namespace
        .clone()
        .filter(|n| !n.is_empty())?;
    let discovery = match Discovery::new(cluster.client.clone()).run().await {
        Ok(d) => d,
        Err(e) => {
            warn!(error = %e, "discovery for orphaned resources failed");
            return None;
        }
    };
    let tracking = ctx.clusters.tracking();
    let mut objects = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(cluster.client.clone(), &namespace, &ar);
            let list = match api.list_metadata(&ListParams::default()).await {
                Ok(list) => list,
                Err(e) => {
                    debug!(kind = %ar.kind, error = %e, "listing for orphaned resources");
                    continue;
                }
            };
            for meta in list.items {
                let value = json!({
                    "apiVersion": ar.api_version,
                    "kind": ar.kind,
                    "metadata": meta.metadata,
                });
                objects.push(policy::orphans::LiveObject {
                    group: ar.group.clone(),
                    kind: ar.kind.clone(),
                    namespace: namespace.clone(),
                    name: meta.metadata.name.clone().unwrap_or_default(),
                    owned: meta
                        .metadata
                        .owner_references
                        .as_ref()
                        .is_some_and(|o| !o.is_empty()),
                    managed: tracking.instance_of(&value).is_some(),
                });
            }
        }
    }
    let orphans = policy::orphans::orphans(&project, &objects);
    debug!(
        app = app.metadata.name.as_deref().unwrap_or(""),
        orphans = orphans.len(),
        "orphaned resources"
    );
    policy::orphans::warning(&project, orphans.len()).map(|message| Condition {
        type_: policy::orphans::CONDITION,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(destination: Value) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"project": "default", "destination": destination}
        }))
        .expect("a valid Application")
    }

    fn cluster_secret(name: &str, server: &str, project: &str) -> Secret {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        serde_json::from_value(json!({
            "metadata": {
                "name": name, "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "cluster"}
            },
            "data": {"name": b64(name), "server": b64(server), "project": b64(project),
                     "config": b64("{}")}
        }))
        .expect("a valid Secret")
    }

    #[test]
    fn destinations_resolve_through_the_cluster_secrets() {
        let d = resolved_destination(
            &app(json!({"server": "https://kubernetes.default.svc/", "namespace": "shop"})),
            &[],
        );
        assert_eq!(
            (d.server.as_str(), d.name.as_str(), d.namespace.as_str()),
            (clusters::IN_CLUSTER_SERVER, "in-cluster", "shop")
        );
        let d = resolved_destination(&app(json!({"name": "in-cluster"})), &[]);
        assert_eq!(
            (d.server.as_str(), d.name.as_str()),
            (clusters::IN_CLUSTER_SERVER, "in-cluster")
        );
        // By name: checked by the server it stands for too, with the
        // cluster's project.
        let secrets = [cluster_secret(
            "prod",
            "https://prod.example:6443",
            "team-a",
        )];
        let d = resolved_destination(&app(json!({"name": "prod"})), &secrets);
        assert_eq!(
            (
                d.server.as_str(),
                d.name.as_str(),
                d.cluster_project.as_deref()
            ),
            ("https://prod.example:6443", "prod", Some("team-a"))
        );
        // Unknown: kept as given (the comparison says why it is unknown).
        let d = resolved_destination(&app(json!({"name": "staging"})), &secrets);
        assert_eq!((d.server.as_str(), d.name.as_str()), ("", "staging"));
    }

    fn governance(windows: Result<Verdict, String>) -> Governance {
        Governance {
            project: None,
            spec_error: None,
            windows,
        }
    }

    fn op(automated: bool) -> Operation {
        serde_json::from_value(json!({"sync": {}, "initiatedBy": {"automated": automated}}))
            .expect("a valid operation")
    }

    #[test]
    fn windows_hold_automated_syncs_and_refuse_manual_ones() {
        let blocked = Verdict {
            automated: false,
            manual: false,
            reason: Some("blocked by sync window: deny window spec.syncWindows[0] active".into()),
            ..no_windows()
        };
        let g = governance(Ok(blocked.clone()));
        let hold = g.automated_hold().expect("held");
        assert_eq!(hold.type_, "SyncError");
        assert!(
            hold.message.starts_with("auto-sync blocked by sync window"),
            "{}",
            hold.message
        );
        assert_eq!(
            g.refusal(&op(true)),
            None,
            "automated syncs are held, not failed"
        );
        let refused = g.refusal(&op(false)).expect("refused");
        assert!(
            refused.starts_with("Cannot sync: blocked by sync window")
                && refused.contains("manualSync"),
            "{refused}"
        );

        let manual_ok = governance(Ok(Verdict {
            manual: true,
            ..blocked
        }));
        assert_eq!(manual_ok.refusal(&op(false)), None);
        assert!(manual_ok.automated_hold().is_some());

        let open = governance(Ok(no_windows()));
        assert_eq!(open.automated_hold(), None);
        assert_eq!(open.refusal(&op(false)), None);

        let invalid = governance(Err(
            "AppProject team-a spec.syncWindows[0].schedule: bad".into()
        ));
        assert_eq!(
            invalid.automated_hold().map(|c| c.type_),
            Some("InvalidSpecError")
        );
        assert!(
            invalid
                .refusal(&op(false))
                .is_some_and(|m| m.contains("spec.syncWindows[0].schedule"))
        );
    }

    #[test]
    fn a_held_sync_wakes_just_after_the_window_changes() {
        let now: Timestamp = "2026-11-23T10:30:00Z".parse().expect("a time");
        let g = governance(Ok(Verdict {
            next_change: Some("2026-11-23T11:00:00Z".parse().expect("a time")),
            ..no_windows()
        }));
        assert_eq!(g.wake_in(now), Some(Duration::from_secs(1801)));
        assert_eq!(governance(Ok(no_windows())).wake_in(now), None);
    }
}
