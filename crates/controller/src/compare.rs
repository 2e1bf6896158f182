//! The comparison of one Application: Git's objects (resolved, checked out,
//! rendered, tracked) against the live objects it manages, resource by
//! resource, with health. This is the I/O edge that talks to Git and the
//! API server; the decisions are in [`crate::status`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{Application, ApplicationSource};
use health::{AggregateHealth, ResourceRef};
use kube::core::GroupVersionKind;
use serde_json::Value;
use sync::ResourceKey;
use tracing::debug;

use crate::app_of_apps;
use crate::clusters::{self, Cluster};
use crate::status::Condition;
use crate::{Context, Trigger};

/// How long a resolved revision is reused by reconciles that were not
/// asked to look at Git (a push, a refresh). Many Applications on one
/// repository then share one `git ls-remote`; a webhook skips the wait.
pub const REVISION_TTL: Duration = Duration::from_secs(10);

/// The annotation value of a hard refresh.
const HARD_REFRESH: &str = "hard";

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
    /// The rendered objects that are the Application's resources (hooks
    /// left out), namespaced and tracked.
    pub desired: Vec<Value>,
    /// The rendered hooks (`argocd.argoproj.io/hook`, `helm.sh/hook`),
    /// namespaced and tracked: run by a sync, never compared or pruned.
    pub hooks: Vec<Value>,
    pub live: Vec<Value>,
    pub items: Vec<Item>,
    /// Per-resource comparison errors (the server rejected a dry run).
    pub errors: Vec<Condition>,
    pub health: AggregateHealth,
    /// The destination cluster compared with (and synced to).
    pub cluster: Arc<Cluster>,
}

impl Comparison {
    pub fn out_of_sync(&self) -> bool {
        self.items.iter().any(|i| !i.synced)
    }
}

/// Resolves the source's `targetRevision` to a commit, with the repository
/// credentials from the controller namespace's Secrets, reusing a
/// resolution younger than [`REVISION_TTL`]. `Err` is a condition for the
/// user.
pub async fn resolve(ctx: &Context, source: &ApplicationSource) -> Result<String, Condition> {
    resolve_at_most(ctx, source, REVISION_TTL).await
}

/// Resolves the revision of one of `app`'s sources for a reconcile: a
/// reconcile woken by a live object's or a project's change reuses the last resolution
/// (Git has not changed because the cluster did); a refresh annotation
/// asks Git (a hard one also renders again); others, including a push
/// (which forgot the repository's older resolutions), reuse a resolution
/// younger than [`REVISION_TTL`].
pub async fn resolve_for(
    ctx: &Context,
    app: &Application,
    source: &ApplicationSource,
    trigger: Option<Trigger>,
) -> Result<String, Condition> {
    let refresh = app
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::status::REFRESH_ANNOTATION));
    if refresh.is_some_and(|r| r == HARD_REFRESH) {
        ctx.rendered.forget_repo(&source.repo_url);
    }
    let max_age = match (refresh, trigger) {
        (Some(_), _) => Duration::ZERO,
        // A push already forgot the repository's older resolutions: the
        // ones left were made after it and are shared.
        (None, Some(Trigger::Push)) => REVISION_TTL,
        (None, Some(Trigger::Resources | Trigger::Project | Trigger::Cluster)) => Duration::MAX,
        (None, None) => REVISION_TTL,
    };
    resolve_at_most(ctx, source, max_age).await
}

async fn resolve_at_most(
    ctx: &Context,
    source: &ApplicationSource,
    max_age: Duration,
) -> Result<String, Condition> {
    let url = &source.repo_url;
    let wanted = source.target_revision.clone().unwrap_or_default();
    let key = (url.clone(), wanted.clone());
    if let Some((sha, at)) = crate::lock(&ctx.revisions).get(&key)
        && at.elapsed() < max_age
    {
        return Ok(sha.clone());
    }
    let creds = source::credentials::pick(url, &ctx.settings.repository_secrets());
    let resolved = ctx
        .source
        .resolve(url, &wanted, creds.as_ref())
        .await
        .map_err(|e| match e {
            // The repository answered and has no such revision: the spec is
            // wrong, not the world.
            source::Error::RevisionNotFound { .. } => {
                Condition::invalid_spec(format!("spec.source.targetRevision: {e}"))
            }
            e => Condition::comparison(format!("resolving revision {wanted:?}: {e}")),
        })?;
    crate::lock(&ctx.revisions).insert(key, (resolved.sha.clone(), Instant::now()));
    Ok(resolved.sha)
}

/// Checks out and renders the source at `revision` (from [`resolve`]), then
/// compares with the destination cluster. `Err` is a condition for the
/// user (Git, rendering, spec, destination or discovery errors, or a
/// cluster that does not answer).
pub async fn compare(
    ctx: &Context,
    app: &Application,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Comparison, Condition> {
    if ctx.settings.project(&app.spec.project).is_none() {
        return Err(Condition::invalid_spec(format!(
            "spec.project: Application referencing project {:?} which does not exist in namespace {}",
            app.spec.project, ctx.config.controller_namespace
        )));
    }
    let cluster = ctx.clusters.for_app(app).await?;
    ctx.clusters
        .reachable(&cluster)
        .await
        .map_err(Condition::comparison)?;
    let rendered = render_at(ctx, source, revision).await?;
    compare_rendered(ctx, app, source, revision, cluster, &rendered).await
}

/// The source's objects at `revision` (from [`resolve`]), checked out and
/// rendered, or from the render cache: what `GET .../manifests` answers.
pub async fn render_at(
    ctx: &Context,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Arc<Vec<Value>>, Condition> {
    let url = &source.repo_url;
    // A commit's manifests do not change: render once per commit and spec.
    let spec = serde_json::to_value(source)
        .map_err(|e| Condition::invalid_spec(format!("spec.source: {e}")))?;
    let key = (url.clone(), revision.to_string(), spec.to_string());
    let rendered = match ctx.rendered.get(&key) {
        Some(hit) => hit,
        None => {
            let tree = ctx
                .source
                .checkout(url, revision)
                .await
                .map_err(|e| Condition::comparison(format!("checking out {revision}: {e}")))?;
            let rendering = Instant::now();
            let objects = render_tree(tree.path(), source, revision);
            ctx.metrics
                .rendered(tree.path(), source, rendering.elapsed());
            let objects = objects?;
            drop(tree);
            let objects = std::sync::Arc::new(objects);
            ctx.rendered.insert(key, objects.clone());
            objects
        }
    };
    debug!(repo = %url, revision = %revision, objects = rendered.len(), "rendered");
    Ok(rendered)
}

/// Renders `source` from a directory tree holding its repository (a
/// checkout, or the files a client uploaded for `diff-local`); `revision`
/// only names it in errors.
pub fn render_tree(
    root: &std::path::Path,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Vec<Value>, Condition> {
    let spec = serde_json::to_value(source)
        .map_err(|e| Condition::invalid_spec(format!("spec.source: {e}")))?;
    let render_source = render::source::Source::from_value(&spec)
        .map_err(|e| Condition::invalid_spec(format!("spec.source: {e}")))?;
    let path = source.path.as_deref().unwrap_or("").trim_matches('/');
    if path.split('/').any(|c| c == "..") {
        return Err(Condition::invalid_spec(format!(
            "spec.source.path: {path:?} leaves the repository"
        )));
    }
    if !path.is_empty() && !root.join(path).is_dir() {
        return Err(Condition::invalid_spec(format!(
            "spec.source.path: {path:?} does not exist in {} at {revision}",
            source.repo_url
        )));
    }
    render::source::render(&render::fs::DiskFs::new(root), &render_source).map_err(|e| {
        match (&e.file, &e.field) {
            // No file: the problem is the source spec itself
            // (a chart, a plugin, two source types).
            (None, Some(field)) => {
                Condition::invalid_spec(format!("spec.source.{field}: {}", e.message))
            }
            _ => Condition::comparison(format!(
                "rendering {} at {}: {e}",
                display_path(source),
                revision
            )),
        }
    })
}

/// Compares already rendered objects (from [`render_at`] or
/// [`render_tree`]) with the destination cluster `cluster` (from
/// `ctx.clusters.for_app`).
pub async fn compare_rendered(
    ctx: &Context,
    app: &Application,
    source: &ApplicationSource,
    revision: &str,
    cluster: Arc<Cluster>,
    rendered: &[Value],
) -> Result<Comparison, Condition> {
    let name = app.metadata.name.clone().unwrap_or_default();

    let rules = ignore_rules(app)?;
    let rules_key = ignore_key(app);
    let custom_health = ctx
        .settings
        .health_checks()
        .map_err(Condition::comparison)?;
    let instance = ctx.instance(app);
    let dest_ns = app.spec.destination.namespace.clone().unwrap_or_default();
    let mut desired = Vec::with_capacity(rendered.len());
    let mut hooks = Vec::new();
    for mut obj in rendered.iter().cloned() {
        let (_, namespaced) = cluster
            .resource(&obj)
            .await
            .map_err(Condition::comparison)?;
        if namespaced
            && !dest_ns.is_empty()
            && obj["metadata"]
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            obj["metadata"]["namespace"] = Value::String(dest_ns.clone());
        }
        // After the namespace: an annotation's tracking id names it.
        ctx.clusters.tracking().track(&mut obj, &instance);
        if let Err(e) = clusters::permits(
            &cluster.spec,
            obj["metadata"]
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|_| namespaced),
            &ResourceKey::of(&obj)
                .map(|k| k.to_string())
                .unwrap_or_default(),
        ) {
            return Err(Condition::comparison(e));
        }
        // Hooks carry the tracking mark too (so they are found again), but
        // are created per sync and left out of the comparison, as in Argo CD.
        if sync::hook::is_hook(&obj) {
            hooks.push(obj);
        } else {
            desired.push(obj);
        }
    }
    let key = (
        app.metadata.namespace.clone().unwrap_or_default(),
        name.clone(),
    );
    if let Some(chain) = app_of_apps::closed_loop(&key, &desired, |k| ctx.manager_of(k)) {
        return Err(Condition::invalid_spec(format!(
            "spec.source.path: the manifests of {} include an Application that manages it ({chain}); \
             an app-of-apps loop is not synced: remove the parent's manifest from {}",
            name,
            display_path(source)
        )));
    }
    let mut live = managed_live(&cluster, app, &instance, &desired).await?;
    live.retain(|o| !sync::hook::is_hook(o));
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
        let verdict_key = (instance.clone(), key.clone());
        let fingerprint = fingerprint(obj, live.as_ref(), &rules_key);
        let known = crate::lock(&ctx.verdicts)
            .get(&verdict_key)
            .and_then(|(f, synced)| (*f == fingerprint).then_some(*synced));
        let synced = match known {
            Some(synced) => synced,
            None => match compare_one(&cluster, obj, live.as_ref(), &rules).await {
                Ok((synced, cache_was_current)) => {
                    // A verdict on a fresher object than the cache's is not
                    // a verdict on the cached one.
                    if cache_was_current {
                        crate::lock(&ctx.verdicts).insert(verdict_key, (fingerprint, synced));
                    }
                    synced
                }
                Err(e) => {
                    errors.push(Condition::comparison(format!("{key}: {e}")));
                    false
                }
            },
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
            // One already being deleted (by a prune or by hand) is on its
            // way out: pruning it again would loop.
            let deleting = live["metadata"].get("deletionTimestamp").is_some();
            items.push(Item {
                version: version_of(&live),
                key,
                desired: None,
                live: Some(live),
                synced: deleting,
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
        &custom_health,
        app_value.as_ref(),
    );
    Ok(Comparison {
        revision: revision.to_string(),
        desired,
        hooks,
        live,
        items,
        errors,
        health,
        cluster,
    })
    .inspect(|c| ctx.metrics.cluster_cache(&c.cluster))
}

/// Predict (server-side apply dry run) and diff one object. When the live
/// object changed since the cache saw it (the dry run answers from a newer
/// version), compare once more against a fresh read. Returns whether the
/// object is in sync and whether the cached live object was current.
async fn compare_one(
    cluster: &Cluster,
    desired: &Value,
    live: Option<&Value>,
    rules: &diff::IgnoreRules,
) -> Result<(bool, bool), diff::Error> {
    // Missing is out of sync; whether the server accepts the object is for
    // the sync to find out (as Argo CD does).
    let Some(live) = live else {
        return Ok((false, true));
    };
    let predicted = diff::predict(&cluster.client, desired).await?;
    if !diff::compare::same_revision(&predicted, live) {
        let fresh = diff::fetch_live(&cluster.client, desired).await?;
        let predicted = diff::predict(&cluster.client, desired).await?;
        let synced = diff::diff(&predicted, fresh.as_ref().unwrap_or(&Value::Null), rules).synced;
        return Ok((synced, false));
    }
    Ok((diff::diff(&predicted, live, rules).synced, true))
}

/// The Application's `ignoreDifferences` as a fingerprint input.
fn ignore_key(app: &Application) -> String {
    serde_json::to_string(&app.spec.ignore_differences).unwrap_or_default()
}

fn ignore_rules(app: &Application) -> Result<diff::IgnoreRules, Condition> {
    let invalid = |e: String| Condition::invalid_spec(format!("spec.ignoreDifferences: {e}"));
    let rules = app.spec.ignore_differences.clone().unwrap_or_default();
    let value = serde_json::to_value(&rules).map_err(|e| invalid(e.to_string()))?;
    let rules: Vec<diff::IgnoreDifference> =
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    diff::IgnoreRules::new(rules).map_err(|e| invalid(e.to_string()))
}

/// After a sync: what the server answered becomes the cached live object,
/// and an object applied with that answer is in sync by construction (the
/// dry run of the same object against it would change nothing), so the
/// comparison after the sync, and the reconcile its watch events wake,
/// need no dry run. Objects with no answer (client-side apply, failures)
/// lose their verdict and are compared anew; pruned ones leave the cache.
pub async fn record_sync(
    ctx: &Context,
    cluster: &Cluster,
    app: &Application,
    plan: &sync::plan::Plan,
    result: &sync::apply::SyncResult,
) {
    let instance = ctx.instance(app);
    let rules_key = ignore_key(app);
    for (task, outcome) in plan.tasks.iter().zip(&result.resources) {
        let (group, version) = split_api_version(&task.object);
        let kind = task
            .object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let gvk = GroupVersionKind::gvk(&group, &version, kind);
        let key = (instance.clone(), outcome.key.clone());
        match (&outcome.action, outcome.status, &outcome.live) {
            (sync::plan::Action::Apply, sync::apply::Status::Synced, Some(live)) => {
                cluster.live.observe(&gvk, live).await;
                let fingerprint = fingerprint(&task.object, Some(live), &rules_key);
                crate::lock(&ctx.verdicts).insert(key, (fingerprint, true));
            }
            (sync::plan::Action::Prune, sync::apply::Status::Pruned, live) => {
                match live {
                    Some(live) => cluster.live.observe(&gvk, live).await,
                    None => {
                        cluster
                            .live
                            .forget(&gvk, &outcome.key.namespace, &outcome.key.name)
                            .await
                    }
                }
                crate::lock(&ctx.verdicts).remove(&key);
            }
            (_, sync::apply::Status::Skipped, _) => {}
            _ => {
                crate::lock(&ctx.verdicts).remove(&key);
            }
        }
    }
}

/// What decides whether an object is in sync: the desired object, the live
/// object without what changes on its own (status, resourceVersion, the
/// status writers' managed fields and every entry's time), and the ignore
/// rules. Equal fingerprints give equal verdicts, so the dry run is skipped.
fn fingerprint(desired: &Value, live: Option<&Value>, rules: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    desired.to_string().hash(&mut hasher);
    rules.hash(&mut hasher);
    if let Some(live) = live {
        let mut live = live.clone();
        if let Some(obj) = live.as_object_mut() {
            obj.remove("status");
        }
        if let Some(meta) = live.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(Value::Array(fields)) = meta.get_mut("managedFields") {
                fields.retain(|f| f.get("subresource").and_then(Value::as_str) != Some("status"));
                for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                    f.remove("time");
                }
            }
        }
        live.to_string().hash(&mut hasher);
    }
    hasher.finish()
}

/// The live objects `instance` manages (from the watch cache), for every
/// kind it renders now or recorded in `status.resources` (so removed kinds
/// are still found for pruning), in the namespaces it deploys to.
async fn managed_live(
    cluster: &Cluster,
    app: &Application,
    instance: &str,
    desired: &[Value],
) -> Result<Vec<Value>, Condition> {
    let mut kinds: BTreeSet<(String, String, String)> = desired
        .iter()
        .map(|o| {
            let (group, version) = split_api_version(o);
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            (group, version, kind.to_string())
        })
        .collect();
    let recorded = app
        .status
        .as_ref()
        .and_then(|s| s.resources.as_deref())
        .unwrap_or(&[]);
    for r in recorded {
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
    let mut namespaces: HashSet<String> = desired
        .iter()
        .filter_map(|o| o["metadata"].get("namespace").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    namespaces.extend(app.spec.destination.namespace.clone());
    namespaces.extend(recorded.iter().filter_map(|r| r.namespace.clone()));
    let mut live = Vec::new();
    for (group, version, kind) in kinds {
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let Ok((ar, scope)) = cluster.resource_of(&gvk).await else {
            // A kind that no longer exists has no live objects.
            continue;
        };
        let namespaced = scope == kube::discovery::Scope::Namespaced;
        let objects = cluster
            .live
            .managed(&gvk, &ar, namespaced, instance, &namespaces)
            .await
            .map_err(Condition::comparison)?;
        live.extend(objects.iter().map(|o| (**o).clone()));
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
