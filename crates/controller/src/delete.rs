//! Cascading deletion of an Application being deleted, as Argo CD's
//! resources finalizer does it: with `resources-finalizer.argocd.argoproj.io`
//! (foreground propagation) or `.../background` (background propagation),
//! the Application's managed resources are deleted, the finalizer is
//! removed only once none is left, and a failure is a `DeletionError`
//! condition retried later. Without either finalizer nothing is deleted.
//! Then the PostDelete hooks run ([`crate::post_delete`]).
//!
//! The managed resources are the live objects carrying the Application's
//! tracking mark (label or annotation, see `tracking`), of a kind and in a
//! namespace recorded in `status.resources` (or the destination
//! namespace): never an object the Application does not track. CRDs, objects annotated
//! `argocd.argoproj.io/sync-options: Delete=false` and
//! `helm.sh/resource-policy: keep` are left alone, as in Argo CD.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use api::Application;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::GroupVersionKind;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::status::{self, Condition};
use crate::{Context, Error};

/// Argo CD's resources finalizer (foreground propagation).
pub const FOREGROUND_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The same with background propagation.
pub const BACKGROUND_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io/background";

/// How often a deletion in progress is looked at again.
const POLL: Duration = Duration::from_secs(2);
/// How long after a failed deletion it is tried again.
const RETRY: Duration = Duration::from_secs(10);

/// The resources finalizer the Application carries and the propagation
/// policy it asks for; `None` without one (nothing is deleted then).
pub fn cascade(app: &Application) -> Option<(&'static str, PropagationPolicy)> {
    let finalizers = app.metadata.finalizers.as_deref().unwrap_or(&[]);
    if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
        Some((FOREGROUND_FINALIZER, PropagationPolicy::Foreground))
    } else if finalizers.iter().any(|f| f == BACKGROUND_FINALIZER) {
        Some((BACKGROUND_FINALIZER, PropagationPolicy::Background))
    } else {
        None
    }
}

/// Whether a managed live object is deleted with its Application.
pub fn should_delete(obj: &Value) -> bool {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    if kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io" {
        return false;
    }
    let annotation = |key: &str| {
        obj["metadata"]["annotations"]
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let disabled = annotation("argocd.argoproj.io/sync-options")
        .split(',')
        .any(|o| o.trim() == "Delete=false");
    let keep = annotation("helm.sh/resource-policy")
        .split(',')
        .any(|o| o.trim() == "keep");
    !disabled && !keep
}

/// `obj` is the Application itself: a root Application whose path holds its
/// own manifest (seed 003's `apps/root-app.yaml`) tracks itself. It is
/// already being deleted, and waiting for it to go would wait for ever.
fn is_itself(app: &Application, obj: &Value) -> bool {
    obj["kind"] == "Application"
        && obj["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
        && obj["metadata"]["name"].as_str() == app.metadata.name.as_deref()
        && obj["metadata"]["namespace"].as_str() == app.metadata.namespace.as_deref()
}

/// One reconcile of an Application with a `deletionTimestamp`: with a
/// resources finalizer, deletes its managed resources, waits for them to
/// be gone, then removes that finalizer; after it (or without one), the
/// PostDelete hooks and their finalizers ([`crate::post_delete`]).
pub async fn finalize(app: &Application, ctx: &Context) -> Result<Action, Error> {
    let Some((finalizer, propagation)) = cascade(app) else {
        return crate::post_delete::finalize(app, ctx).await;
    };
    let name = app.metadata.name.clone().unwrap_or_default();
    let remaining = match delete_managed(app, ctx, propagation).await {
        Ok(n) => n,
        Err(message) => {
            warn!(app = %name, error = %message, "deleting the application's resources");
            set_deletion_error(app, ctx, &message).await?;
            return Ok(Action::requeue(RETRY));
        }
    };
    if remaining > 0 {
        info!(app = %name, remaining, "waiting for the application's resources to be deleted");
        return Ok(Action::requeue(POLL));
    }
    info!(app = %name, "resources deleted");
    remove_finalizer(app, ctx, finalizer, json!({})).await
}

/// Removes `finalizer` from the Application (the others stay), setting
/// `annotations` in the same patch. The resourceVersion makes the patch
/// fail if another writer changed the Application meanwhile; the next
/// reconcile tries again.
pub(crate) async fn remove_finalizer(
    app: &Application,
    ctx: &Context,
    finalizer: &str,
    annotations: Value,
) -> Result<Action, Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let finalizers: Vec<&String> = app
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| f.as_str() != finalizer)
        .collect();
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "annotations": annotations,
        "resourceVersion": app.metadata.resource_version,
    }});
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    match apps
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            info!(app = %name, finalizer, "finalizer removed");
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Action::await_change()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Action::requeue(POLL)),
        Err(source) => Err(Error::WriteStatus {
            namespace,
            name,
            source,
        }),
    }
}

/// Deletes the managed resources not being deleted yet; returns how many
/// are left (being deleted, or just asked to be).
async fn delete_managed(
    app: &Application,
    ctx: &Context,
    propagation: PropagationPolicy,
) -> Result<usize, String> {
    let live = managed(app, ctx).await?;
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        ..Default::default()
    };
    let mut remaining = 0;
    let mut errors = Vec::new();
    for (api, obj) in live {
        if !should_delete(&obj) || is_itself(app, &obj) {
            continue;
        }
        remaining += 1;
        if obj["metadata"].get("deletionTimestamp").is_some() {
            continue;
        }
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        let kind = obj["kind"].as_str().unwrap_or("");
        match api.delete(name, &params).await {
            Ok(_) => info!(kind, name, "deleted"),
            Err(kube::Error::Api(e)) if e.code == 404 => remaining -= 1,
            Err(e) => errors.push(format!("deleting {kind}/{name}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(remaining)
    } else {
        Err(errors.join("; "))
    }
}

/// The live objects the Application manages (by its tracking mark, from
/// the live-object cache) of the kinds and in the namespaces recorded in
/// `status.resources` (or the destination namespace), with an API to
/// delete each.
async fn managed(
    app: &Application,
    ctx: &Context,
) -> Result<Vec<(Api<DynamicObject>, Value)>, String> {
    let recorded = app
        .status
        .as_ref()
        .and_then(|s| s.resources.as_deref())
        .unwrap_or(&[]);
    let kinds: BTreeSet<(String, String, String)> = recorded
        .iter()
        .filter_map(|r| {
            Some((
                r.group.clone().unwrap_or_default(),
                r.version.clone()?,
                r.kind.clone()?,
            ))
        })
        .collect();
    let mut namespaces: HashSet<String> = recorded
        .iter()
        .filter_map(|r| r.namespace.clone())
        .collect();
    namespaces.extend(app.spec.destination.namespace.clone());
    let instance = ctx.instance(app);
    let cluster = ctx
        .clusters
        .for_app(app)
        .await
        .map_err(|condition| condition.message)?;
    ctx.clusters.reachable(&cluster).await?;
    let mut live = Vec::new();
    for (group, version, kind) in kinds {
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let Ok((ar, scope)) = cluster.resource_of(&gvk).await else {
            // A kind the server no longer serves has no objects left.
            continue;
        };
        for obj in cluster
            .live
            .managed(
                &gvk,
                &ar,
                scope == kube::discovery::Scope::Namespaced,
                &instance,
                &namespaces,
            )
            .await?
        {
            let mut value = (*obj).clone();
            let api = match value["metadata"]["namespace"].as_str() {
                Some(ns) if !ns.is_empty() => Api::namespaced_with(cluster.client.clone(), ns, &ar),
                _ => Api::all_with(cluster.client.clone(), &ar),
            };
            value["apiVersion"] = Value::String(ar.api_version.clone());
            value["kind"] = Value::String(ar.kind.clone());
            live.push((api, value));
        }
    }
    Ok(live)
}

/// Records a failed deletion as a `DeletionError` condition (the other
/// conditions stay).
pub(crate) async fn set_deletion_error(
    app: &Application,
    ctx: &Context,
    message: &str,
) -> Result<(), Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let mut current: Vec<Condition> = app
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|c| c.type_ != status::DELETION_ERROR)
        .filter_map(|c| {
            Some(Condition {
                type_: status::condition_type(&c.type_)?,
                message: c.message.clone(),
            })
        })
        .collect();
    current.push(Condition::deletion(message));
    let conditions = status::conditions(
        app,
        &current,
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()),
    );
    let patch = json!({"status": {"conditions": conditions}});
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    match apps
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::WriteStatus {
            namespace,
            name,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finalizer_chooses_the_propagation() {
        let mut app: Application = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"destination": {}, "project": "default"}
        }))
        .unwrap();
        assert!(cascade(&app).is_none());
        app.metadata.finalizers = Some(vec!["other".into(), FOREGROUND_FINALIZER.into()]);
        assert!(matches!(
            cascade(&app),
            Some((FOREGROUND_FINALIZER, PropagationPolicy::Foreground))
        ));
        app.metadata.finalizers = Some(vec![BACKGROUND_FINALIZER.into()]);
        assert!(matches!(
            cascade(&app),
            Some((BACKGROUND_FINALIZER, PropagationPolicy::Background))
        ));
    }

    #[test]
    fn crds_and_objects_marked_to_keep_are_not_deleted() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(should_delete(&cm));
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                         "metadata": {"name": "x"}});
        assert!(!should_delete(&crd));
        let kept = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}}});
        assert!(!should_delete(&kept));
        let helm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {"helm.sh/resource-policy": "keep"}}});
        assert!(!should_delete(&helm));
    }
}
