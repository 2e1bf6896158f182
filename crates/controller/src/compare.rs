//! The comparison of one Application: Git's objects (resolved, checked out,
//! rendered, tracked) against the live objects it manages, resource by
//! resource, with health. This is the I/O edge that talks to Git and the
//! API server; the decisions are in [`crate::status`].

use std::collections::{BTreeSet, HashMap};

use api::{Application, ApplicationSource};
use health::{AggregateHealth, CustomHealthChecks, ResourceRef};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use sync::ResourceKey;
use tracing::debug;

use crate::Context;
use crate::status::{Condition, TRACKING_LABEL, track};

/// The label that marks Argo CD's repository Secrets.
const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

/// One resource of the Application: desired, live, or both.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: ResourceKey,
    pub version: String,
    pub desired: Option<Value>,
    pub live: Option<Value>,
    pub synced: bool,
}

/// The result of comparing Git with the cluster.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub revision: String,
    pub desired: Vec<Value>,
    pub live: Vec<Value>,
    pub items: Vec<Item>,
    /// Per-resource comparison errors (the server rejected a dry run).
    pub errors: Vec<Condition>,
    pub health: AggregateHealth,
}

impl Comparison {
    pub fn out_of_sync(&self) -> bool {
        self.items.iter().any(|i| !i.synced)
    }
}

/// Resolves the source's `targetRevision` to a commit, with the repository
/// credentials from the controller namespace's Secrets. `Err` is a
/// condition for the user.
pub async fn resolve(ctx: &Context, source: &ApplicationSource) -> Result<String, Condition> {
    let url = &source.repo_url;
    let secrets = repository_secrets(ctx).await?;
    let creds = source::credentials::pick(url, &secrets);
    let wanted = source.target_revision.clone().unwrap_or_default();
    let resolved = ctx
        .source
        .resolve(url, &wanted, creds.as_ref())
        .await
        .map_err(|e| Condition::comparison(format!("resolving revision {wanted:?}: {e}")))?;
    Ok(resolved.sha)
}

/// Checks out and renders the source at `revision` (from [`resolve`]), then
/// compares. `Err` is a condition for the user (Git, rendering, spec or
/// discovery errors).
pub async fn compare(
    ctx: &Context,
    app: &Application,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Comparison, Condition> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let url = &source.repo_url;
    // A commit's manifests do not change: render once per commit and spec.
    let spec = serde_json::to_value(source)
        .map_err(|e| Condition::invalid_spec(format!("spec.source: {e}")))?;
    let key = (url.clone(), revision.to_string(), spec.to_string());
    let rendered = match ctx.rendered.get(&key) {
        Some(hit) => hit,
        None => {
            let render_source = render::source::Source::from_value(&spec)
                .map_err(|e| Condition::invalid_spec(format!("spec.source: {e}")))?;
            let tree = ctx
                .source
                .checkout(url, revision)
                .await
                .map_err(|e| Condition::comparison(format!("checking out {revision}: {e}")))?;
            let objects =
                render::source::render(&render::fs::DiskFs::new(tree.path()), &render_source)
                    .map_err(|e| {
                        Condition::comparison(format!(
                            "rendering {} at {}: {e}",
                            display_path(source),
                            revision
                        ))
                    })?;
            drop(tree);
            let objects = std::sync::Arc::new(objects);
            ctx.rendered.insert(key, objects.clone());
            objects
        }
    };
    debug!(app = %name, revision = %revision, objects = rendered.len(), "rendered");

    let rules = ignore_rules(app)?;
    let dest_ns = app.spec.destination.namespace.clone().unwrap_or_default();
    let mut desired = Vec::with_capacity(rendered.len());
    for mut obj in rendered.iter().cloned() {
        track(&mut obj, &name);
        let (_, namespaced) = ctx.resource(&obj).await.map_err(Condition::comparison)?;
        if namespaced
            && !dest_ns.is_empty()
            && obj["metadata"]
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            obj["metadata"]["namespace"] = Value::String(dest_ns.clone());
        }
        desired.push(obj);
    }
    let live = list_managed(ctx, app, &desired).await?;
    let mut live_by_key: HashMap<ResourceKey, Value> = live
        .iter()
        .filter_map(|o| Some((ResourceKey::of(o)?, o.clone())))
        .collect();

    let mut items = Vec::new();
    let mut errors = Vec::new();
    for obj in &desired {
        let Some(key) = ResourceKey::of(obj) else {
            return Err(Condition::comparison(
                "a rendered object has no kind or metadata.name",
            ));
        };
        let live = live_by_key.remove(&key);
        let synced = match compare_one(ctx, obj, live.as_ref(), &rules).await {
            Ok(synced) => synced,
            Err(e) => {
                errors.push(Condition::comparison(format!("{key}: {e}")));
                false
            }
        };
        items.push(Item {
            version: version_of(obj),
            key,
            desired: Some(obj.clone()),
            live,
            synced,
        });
    }
    // Live objects Git no longer has: out of sync until pruned.
    for obj in &live {
        if let Some(key) = ResourceKey::of(obj)
            && let Some(live) = live_by_key.remove(&key)
        {
            items.push(Item {
                version: version_of(&live),
                key,
                desired: None,
                live: Some(live),
                synced: false,
            });
        }
    }
    let app_value = serde_json::to_value(app).ok();
    let health = health::aggregate(
        items.iter().map(|i| ResourceRef {
            group: &i.key.group,
            kind: &i.key.kind,
            namespace: &i.key.namespace,
            name: &i.key.name,
            live: i.live.as_ref(),
            target: i.desired.as_ref(),
        }),
        &CustomHealthChecks::default(),
        app_value.as_ref(),
    );
    Ok(Comparison {
        revision: revision.to_string(),
        desired,
        live,
        items,
        errors,
        health,
    })
}

/// Predict (server-side apply dry run) and diff one object. When the live
/// object changed between the dry run and the list, compare once more
/// against a fresh read.
async fn compare_one(
    ctx: &Context,
    desired: &Value,
    live: Option<&Value>,
    rules: &diff::IgnoreRules,
) -> Result<bool, diff::Error> {
    let predicted = diff::predict(&ctx.client, desired).await?;
    if let Some(live) = live
        && !diff::compare::same_revision(&predicted, live)
    {
        let fresh = diff::fetch_live(&ctx.client, desired).await?;
        let predicted = diff::predict(&ctx.client, desired).await?;
        return Ok(diff::diff(&predicted, fresh.as_ref().unwrap_or(&Value::Null), rules).synced);
    }
    Ok(diff::diff(&predicted, live.unwrap_or(&Value::Null), rules).synced)
}

fn ignore_rules(app: &Application) -> Result<diff::IgnoreRules, Condition> {
    let invalid = |e: String| Condition::invalid_spec(format!("spec.ignoreDifferences: {e}"));
    let rules = app.spec.ignore_differences.clone().unwrap_or_default();
    let value = serde_json::to_value(&rules).map_err(|e| invalid(e.to_string()))?;
    let rules: Vec<diff::IgnoreDifference> =
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    diff::IgnoreRules::new(rules).map_err(|e| invalid(e.to_string()))
}

async fn repository_secrets(ctx: &Context) -> Result<Vec<Secret>, Condition> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.config.controller_namespace);
    match api
        .list(&ListParams::default().labels(SECRET_TYPE_LABEL))
        .await
    {
        Ok(list) => Ok(list.items),
        Err(e) => Err(Condition::comparison(format!(
            "listing repository Secrets in namespace {}: {e}",
            ctx.config.controller_namespace
        ))),
    }
}

/// The live objects labelled as the Application's, for every kind it renders
/// now or recorded in `status.resources` (so removed kinds are still found
/// for pruning), in the namespaces it deploys to. A watch-based cache
/// replaces these lists later.
async fn list_managed(
    ctx: &Context,
    app: &Application,
    desired: &[Value],
) -> Result<Vec<Value>, Condition> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let mut kinds: BTreeSet<(String, String, String)> = desired
        .iter()
        .map(|o| {
            let (group, version) = split_api_version(o);
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            (group, version, kind.to_string())
        })
        .collect();
    for r in app
        .status
        .as_ref()
        .and_then(|s| s.resources.as_deref())
        .unwrap_or(&[])
    {
        if let (Some(version), Some(kind)) = (&r.version, &r.kind) {
            kinds.insert((
                r.group.clone().unwrap_or_default(),
                version.clone(),
                kind.clone(),
            ));
        }
    }
    // Only namespaces the Application deploys to, now or before: the label
    // is not unique cluster-wide (Helm charts set it to their release name),
    // and an object picked up by mistake would be pruned.
    let mut namespaces: BTreeSet<String> = desired
        .iter()
        .filter_map(|o| o["metadata"].get("namespace").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    namespaces.extend(app.spec.destination.namespace.clone());
    namespaces.extend(
        app.status
            .as_ref()
            .and_then(|s| s.resources.as_deref())
            .unwrap_or(&[])
            .iter()
            .filter_map(|r| r.namespace.clone()),
    );
    let selector = format!("{TRACKING_LABEL}={name}");
    let mut live = Vec::new();
    for (group, version, kind) in kinds {
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let Ok((ar, _)) = ctx.resource_of(&gvk).await else {
            // A kind that no longer exists has no live objects.
            continue;
        };
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ar);
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| Condition::comparison(format!("listing {kind}.{group}: {e}")))?;
        for item in list.items {
            let ns = item.metadata.namespace.as_deref();
            if ns.is_some_and(|ns| !namespaces.contains(ns)) {
                continue;
            }
            let Ok(mut value) = serde_json::to_value(&item) else {
                continue;
            };
            // List items of built-in kinds come without apiVersion and kind.
            value["apiVersion"] = Value::String(ar.api_version.clone());
            value["kind"] = Value::String(ar.kind.clone());
            live.push(value);
        }
    }
    Ok(live)
}

pub(crate) fn split_api_version(obj: &Value) -> (String, String) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

fn version_of(obj: &Value) -> String {
    split_api_version(obj).1
}

fn display_path(source: &ApplicationSource) -> String {
    match source.path.as_deref() {
        Some(p) if !p.is_empty() => format!("{} path {p}", source.repo_url),
        _ => source.repo_url.clone(),
    }
}
