//! `/api/v1/applications`: Applications read from and written to the
//! Kubernetes API (no copy kept here), with Argo CD's paths and JSON
//! shapes. A sync or rollback writes the Application's `operation`, which
//! the controller carries out; manifests, managed resources and the
//! resource tree reuse the controller's render and compare code.

use std::sync::Arc;

use api::{
    Application, ApplicationSpec, Operation, OperationInitiator, RetryStrategy, SyncOperation,
    SyncOperationResource, SyncStrategy,
};
use axum::Router;
use axum::extract::State as AxumState;
use axum::routing::{get, post, put};
use controller::compare::{self, Comparison};
use k8s_openapi::api::core::v1::Event as KubeEvent;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit;
use crate::authz::app_object;
use crate::extract::{Json, Path, Query, UpsertQuery};
use crate::{ApiError, Principal, State};

type S = AxumState<Arc<State>>;

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/v1/applications", get(list).post(create))
        .route(
            "/api/v1/applications/{name}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/applications/{name}/spec", put(update_spec))
        .route("/api/v1/applications/{name}/manifests", get(manifests))
        .route(
            "/api/v1/applications/{name}/managed-resources",
            get(managed_resources),
        )
        .route(
            "/api/v1/applications/{name}/resource-tree",
            get(resource_tree),
        )
        .route("/api/v1/applications/{name}/events", get(events))
        .route("/api/v1/applications/{name}/sync", post(sync))
        .route("/api/v1/applications/{name}/rollback", post(rollback))
        .route(
            "/api/v1/applications/{name}/operation",
            axum::routing::delete(terminate),
        )
}

/// `?appNamespace=NS`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceQuery {
    pub app_namespace: Option<String>,
}

impl State {
    /// The namespace an Application call is about: `appNamespace`, else
    /// the server's.
    pub fn app_namespace(&self, q: Option<&str>) -> String {
        q.filter(|n| !n.is_empty())
            .map_or_else(|| self.namespace.clone(), str::to_string)
    }

    pub fn apps(&self, namespace: &str) -> Api<Application> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The Application, or a 404 naming it.
    pub async fn app(&self, namespace: &str, name: &str) -> Result<Application, ApiError> {
        check_name("appNamespace", namespace)?;
        check_name("name", name)?;
        self.apps(namespace)
            .get_opt(name)
            .await
            .map_err(kube_error)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "application {name:?} not found in namespace {namespace:?}"
                ))
            })
    }

    /// The Application's RBAC object.
    pub fn object_of(&self, app: &Application) -> String {
        app_object(
            &app.spec.project,
            app.metadata.namespace.as_deref().unwrap_or(""),
            app.metadata.name.as_deref().unwrap_or(""),
            &self.namespace,
        )
    }

    /// The Application after an RBAC check of `action` on it.
    async fn app_for(
        &self,
        principal: &Principal,
        action: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Application, ApiError> {
        let app = self.app(namespace, name).await?;
        self.enforce(principal, "applications", action, &self.object_of(&app))?;
        Ok(app)
    }
}

/// A Kubernetes API error as the client's error where it is the client's
/// (invalid, conflict, not found), else a 500 naming the cause.
pub fn kube_error(e: kube::Error) -> ApiError {
    match &e {
        kube::Error::Api(status) => {
            let code = axum::http::StatusCode::from_u16(status.code)
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            let code = match code.as_u16() {
                // The cluster refused gyro's own credentials: not the
                // caller's fault.
                401 | 403 => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                _ => code,
            };
            ApiError::new(code, status.message.clone())
        }
        // A name or namespace that cannot be in a URL is the caller's.
        kube::Error::BuildRequest(_) => {
            ApiError::bad_request(format!("invalid name, namespace or selector: {e}"))
        }
        _ => ApiError::internal(format!("the Kubernetes API: {e}")),
    }
}

/// A Kubernetes object name or namespace as the API accepts it (DNS
/// subdomain: lower-case letters, digits, `-` and `.`, at most 253);
/// `Err` is a 400 naming the field.
pub fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field}: {value:?} is not a valid name (lower-case letters, digits, '-' and '.')"
        )))
    }
}

/// The list's filters: `selector`, `projects` (repeatable), `name`,
/// `appNamespace`.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub selector: Option<String>,
    pub projects: Vec<String>,
    pub name: Option<String>,
    pub app_namespace: Option<String>,
}

impl ListFilter {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = ListFilter::default();
        for (k, v) in pairs {
            match k.as_str() {
                "selector" if !v.is_empty() => f.selector = Some(v),
                "projects" | "project" => f
                    .projects
                    .extend(v.split(',').filter(|p| !p.is_empty()).map(str::to_string)),
                "name" if !v.is_empty() => f.name = Some(v),
                "appNamespace" if !v.is_empty() => f.app_namespace = Some(v),
                _ => {}
            }
        }
        f
    }

    pub fn keeps(&self, app: &Application) -> bool {
        (self.projects.is_empty() || self.projects.contains(&app.spec.project))
            && self
                .name
                .as_ref()
                .is_none_or(|n| app.metadata.name.as_ref() == Some(n))
    }
}

async fn list(
    AxumState(state): S,
    principal: Principal,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<axum::Json<Value>, ApiError> {
    let filter = ListFilter::from_pairs(pairs);
    let ns = state.app_namespace(filter.app_namespace.as_deref());
    check_name("appNamespace", &ns)?;
    let mut params = ListParams::default();
    if let Some(selector) = &filter.selector {
        params = params.labels(selector);
    }
    let apps = state.apps(&ns).list(&params).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 400 => {
            ApiError::bad_request(format!("selector: {}", s.message))
        }
        e => kube_error(e),
    })?;
    let items: Vec<&Application> = apps
        .items
        .iter()
        .filter(|a| filter.keeps(a))
        .filter(|a| state.allowed(&principal, "applications", "get", &state.object_of(a)))
        .collect();
    Ok(axum::Json(json!({
        "metadata": {"resourceVersion": apps.metadata.resource_version},
        "items": items,
    })))
}

async fn create(
    AxumState(state): S,
    principal: Principal,
    Query(q): Query<UpsertQuery>,
    Json(mut app): Json<Application>,
) -> Result<axum::Json<Application>, ApiError> {
    let name = app
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("metadata.name: an Application needs a name"))?;
    let ns = state.app_namespace(app.metadata.namespace.as_deref());
    check_name("metadata.namespace", &ns)?;
    check_name("metadata.name", &name)?;
    app.metadata.namespace = Some(ns.clone());
    let object = state.object_of(&app);
    state.enforce(&principal, "applications", "create", &object)?;
    let apps = state.apps(&ns);
    if let Some(existing) = apps.get_opt(&name).await.map_err(kube_error)? {
        if existing.spec == app.spec {
            return Ok(axum::Json(existing));
        }
        if !q.upsert.unwrap_or(false) {
            return Err(ApiError::conflict(format!(
                "existing application spec is different, use upsert flag to force update: {name}"
            )));
        }
        // An upsert updates the Application where it is now: the caller
        // must be allowed to update it there, not only in the project the
        // request names.
        state.enforce(
            &principal,
            "applications",
            "update",
            &state.object_of(&existing),
        )?;
        let before = existing.spec.project.clone();
        let mut updated = existing;
        updated.spec = app.spec.clone();
        merge_meta(&mut updated, &app);
        let saved = save_update(&state, &principal, &before, updated, "application").await?;
        return Ok(axum::Json(saved));
    }
    app.metadata.resource_version = None;
    app.metadata.uid = None;
    app.status = None;
    app.operation = None;
    let created = apps
        .create(&PostParams::default(), &app)
        .await
        .map_err(kube_error)?;
    audit::record(
        &state,
        &principal.subject,
        "create",
        &created.object_ref(&()),
        audit::CREATED,
        format!("{} created application", principal.subject),
    )
    .await;
    Ok(axum::Json(created))
}

/// Copies what a client may change besides the spec: labels, annotations,
/// finalizers (Argo CD's update does the same).
fn merge_meta(target: &mut Application, from: &Application) {
    if from.metadata.labels.is_some() {
        target.metadata.labels = from.metadata.labels.clone();
    }
    if from.metadata.annotations.is_some() {
        target.metadata.annotations = from.metadata.annotations.clone();
    }
    if from.metadata.finalizers.is_some() {
        target.metadata.finalizers = from.metadata.finalizers.clone();
    }
}

/// `?refresh=normal|hard&appNamespace=`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetQuery {
    refresh: Option<String>,
    app_namespace: Option<String>,
}

async fn get_one(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<GetQuery>,
) -> Result<axum::Json<Application>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "get", &ns, &name).await?;
    let Some(refresh) = q.refresh.filter(|r| !r.is_empty()) else {
        return Ok(axum::Json(app));
    };
    if refresh != "normal" && refresh != "hard" {
        return Err(ApiError::bad_request(format!(
            "refresh: {refresh:?} is not normal or hard"
        )));
    }
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": refresh}}});
    let app = state
        .apps(&ns)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_error)?;
    state
        .controller
        .request((ns, name), controller::Trigger::Push);
    Ok(axum::Json(app))
}

async fn update(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
    Json(app): Json<Application>,
) -> Result<axum::Json<Application>, ApiError> {
    if app.metadata.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "metadata.name {:?} does not match the path's {name:?}",
            app.metadata.name.as_deref().unwrap_or("")
        )));
    }
    let ns = state.app_namespace(
        q.app_namespace
            .as_deref()
            .or(app.metadata.namespace.as_deref()),
    );
    let mut existing = state.app_for(&principal, "update", &ns, &name).await?;
    let before = existing.spec.project.clone();
    existing.spec = app.spec.clone();
    merge_meta(&mut existing, &app);
    let saved = save_update(&state, &principal, &before, existing, "application").await?;
    Ok(axum::Json(saved))
}

/// Writes `updated`, an existing Application with a client's changes, as
/// `principal`, who the caller checked may update it where it was (in
/// project `before`); when the change moves it to another project, they
/// must be allowed to update it there too. Audited.
async fn save_update(
    state: &State,
    principal: &Principal,
    before: &str,
    updated: Application,
    what: &str,
) -> Result<Application, ApiError> {
    let ns = updated.metadata.namespace.clone().unwrap_or_default();
    let name = updated.metadata.name.clone().unwrap_or_default();
    if updated.spec.project != before {
        let moved = app_object(&updated.spec.project, &ns, &name, &state.namespace);
        state.enforce(principal, "applications", "update", &moved)?;
    }
    let saved = state
        .apps(&ns)
        .replace(&name, &PostParams::default(), &updated)
        .await
        .map_err(kube_error)?;
    audit::record(
        state,
        &principal.subject,
        "update",
        &saved.object_ref(&()),
        audit::UPDATED,
        format!("{} updated {what}", principal.subject),
    )
    .await;
    Ok(saved)
}

async fn update_spec(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
    Json(spec): Json<ApplicationSpec>,
) -> Result<axum::Json<ApplicationSpec>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let mut existing = state.app_for(&principal, "update", &ns, &name).await?;
    let before = existing.spec.project.clone();
    existing.spec = spec;
    let saved = save_update(&state, &principal, &before, existing, "application spec").await?;
    Ok(axum::Json(saved.spec))
}

/// `?cascade=&propagationPolicy=&appNamespace=`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    cascade: Option<bool>,
    propagation_policy: Option<String>,
    app_namespace: Option<String>,
}

/// The finalizers an Application keeps after a delete call: a cascading
/// delete has the resources finalizer of its propagation policy (and none
/// of the other), a non-cascading one neither. `Err` for an unknown
/// policy.
pub fn finalizers_for_delete(
    current: &[String],
    cascade: bool,
    policy: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    use controller::delete::{BACKGROUND_FINALIZER, FOREGROUND_FINALIZER};
    let wanted = match (cascade, policy.unwrap_or("foreground")) {
        (false, _) => None,
        (true, "foreground" | "") => Some(FOREGROUND_FINALIZER),
        (true, "background") => Some(BACKGROUND_FINALIZER),
        (true, other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: {other:?} is not foreground or background"
            )));
        }
    };
    let mut out: Vec<String> = current
        .iter()
        .filter(|f| f.as_str() != FOREGROUND_FINALIZER && f.as_str() != BACKGROUND_FINALIZER)
        .cloned()
        .collect();
    out.extend(wanted.map(str::to_string));
    Ok(out)
}

async fn delete(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "delete", &ns, &name).await?;
    let finalizers = finalizers_for_delete(
        app.metadata.finalizers.as_deref().unwrap_or(&[]),
        q.cascade.unwrap_or(true),
        q.propagation_policy.as_deref(),
    )?;
    let apps = state.apps(&ns);
    if app.metadata.finalizers.as_deref().unwrap_or(&[]) != finalizers.as_slice() {
        let patch = json!({"metadata": {"finalizers": finalizers}});
        apps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(kube_error)?;
    }
    apps.delete(&name, &DeleteParams::default())
        .await
        .map_err(kube_error)?;
    audit::record(
        &state,
        &principal.subject,
        "delete",
        &app.object_ref(&()),
        audit::DELETED,
        format!(
            "{} deleted application (cascade: {})",
            principal.subject,
            q.cascade.unwrap_or(true)
        ),
    )
    .await;
    Ok(axum::Json(json!({})))
}

/// `?revision=&appNamespace=`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestsQuery {
    revision: Option<String>,
    app_namespace: Option<String>,
}

/// The Application's single source, or a 400 for what gyro does not
/// render.
fn source_of(app: &Application) -> Result<api::ApplicationSource, ApiError> {
    controller::status::supported_source(app).map_err(|c| ApiError::bad_request(c.message))
}

/// A controller condition as the caller's error: a wrong spec is a 400,
/// Git or the cluster failing is a 503 (not gyro's bug, nor the
/// caller's).
pub fn condition_error(c: controller::status::Condition) -> ApiError {
    if c.type_ == "InvalidSpecError" {
        ApiError::bad_request(c.message)
    } else {
        ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, c.message)
    }
}

async fn manifests(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<ManifestsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "get", &ns, &name).await?;
    let mut source = source_of(&app)?;
    if let Some(revision) = q.revision.filter(|r| !r.is_empty()) {
        source.target_revision = Some(revision);
    }
    let ctx = &state.controller;
    let revision = compare::resolve(ctx, &source)
        .await
        .map_err(condition_error)?;
    let objects = compare::render_at(ctx, &source, &revision)
        .await
        .map_err(condition_error)?;
    let manifests: Vec<String> = objects.iter().map(Value::to_string).collect();
    Ok(axum::Json(json!({
        "manifests": manifests,
        "revision": revision,
        "namespace": app.spec.destination.namespace,
        "server": app.spec.destination.server,
        "sourceType": source_type(&source),
    })))
}

fn source_type(source: &api::ApplicationSource) -> &'static str {
    if source.helm.is_some() || source.chart.is_some() {
        "Helm"
    } else if source.kustomize.is_some() {
        "Kustomize"
    } else if source.plugin.is_some() {
        "Plugin"
    } else {
        "Directory"
    }
}

/// Compares the Application (as a reconcile would) at its target revision.
async fn comparison(state: &State, app: &Application) -> Result<Comparison, ApiError> {
    let source = source_of(app)?;
    let ctx = &state.controller;
    let revision = compare::resolve(ctx, &source)
        .await
        .map_err(condition_error)?;
    compare::compare(ctx, app, &source, &revision)
        .await
        .map_err(condition_error)
}

/// Argo CD's `managed-resources` items: the states as JSON strings.
pub fn managed_items(comparison: &Comparison) -> Value {
    let as_string = |v: Option<&Value>| v.map_or_else(|| "null".to_string(), Value::to_string);
    let items: Vec<Value> = comparison
        .items
        .iter()
        .map(|i| {
            json!({
                "group": i.key.group,
                "kind": i.key.kind,
                "namespace": i.key.namespace,
                "name": i.key.name,
                "targetState": as_string(i.desired.as_ref()),
                "liveState": as_string(i.live.as_ref()),
                "normalizedLiveState": as_string(i.live.as_ref()),
                "predictedLiveState": as_string(i.desired.as_ref()),
                "modified": !i.synced,
                "hook": false,
            })
        })
        .collect();
    json!({ "items": items })
}

async fn managed_resources(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "get", &ns, &name).await?;
    let comparison = comparison(&state, &app).await?;
    Ok(axum::Json(managed_items(&comparison)))
}

/// The resource tree: one node per managed live object, with its health
/// from the Application's status and its container images.
pub fn tree_nodes(app: &Application, comparison: &Comparison) -> Value {
    let statuses = app
        .status
        .as_ref()
        .and_then(|s| s.resources.as_deref())
        .unwrap_or(&[]);
    let nodes: Vec<Value> = comparison
        .items
        .iter()
        .filter_map(|i| {
            let live = i.live.as_ref()?;
            let health = statuses
                .iter()
                .find(|r| {
                    r.kind.as_deref() == Some(i.key.kind.as_str())
                        && r.name.as_deref() == Some(i.key.name.as_str())
                        && r.namespace.as_deref().unwrap_or("") == i.key.namespace
                })
                .and_then(|r| r.health.as_ref());
            Some(json!({
                "group": i.key.group,
                "version": i.version,
                "kind": i.key.kind,
                "namespace": i.key.namespace,
                "name": i.key.name,
                "uid": live["metadata"]["uid"],
                "resourceVersion": live["metadata"]["resourceVersion"],
                "parentRefs": [],
                "health": health,
                "images": images(live),
            }))
        })
        .collect();
    json!({ "nodes": nodes })
}

/// The container images of a workload (or Pod) object.
fn images(obj: &Value) -> Vec<String> {
    let spec = obj
        .pointer("/spec/template/spec")
        .or_else(|| obj.pointer("/spec/jobTemplate/spec/template/spec"))
        .or_else(|| obj.get("spec"));
    let Some(spec) = spec else { return Vec::new() };
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

async fn resource_tree(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "get", &ns, &name).await?;
    let comparison = comparison(&state, &app).await?;
    Ok(axum::Json(tree_nodes(&app, &comparison)))
}

async fn events(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "get", &ns, &name).await?;
    let selector = format!(
        "involvedObject.kind=Application,involvedObject.name={name},involvedObject.uid={}",
        app.metadata.uid.as_deref().unwrap_or("")
    );
    let events: Api<KubeEvent> = Api::namespaced(state.client.clone(), &ns);
    let list = events
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(kube_error)?;
    Ok(axum::Json(json!({ "items": list.items })))
}

/// The body of `POST .../sync` (Argo CD's `ApplicationSyncRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub app_namespace: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default)]
    pub prune: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub strategy: Option<SyncStrategy>,
    #[serde(default)]
    pub resources: Option<Vec<SyncOperationResource>>,
    #[serde(default)]
    pub sync_options: Option<SyncOptions>,
    #[serde(default)]
    pub retry_strategy: Option<RetryStrategy>,
    #[serde(default)]
    pub manifests: Option<Vec<String>>,
}

/// `syncOptions: {"items": [...]}`.
#[derive(Debug, Default, Deserialize)]
pub struct SyncOptions {
    #[serde(default)]
    pub items: Vec<String>,
}

/// The operation a sync request writes.
pub fn sync_operation(req: SyncRequest, user: &str) -> Result<Operation, ApiError> {
    if req.manifests.is_some() {
        return Err(ApiError::bad_request(
            "manifests: syncing local manifests is not supported by gyro",
        ));
    }
    if let Some(r) = req
        .resources
        .iter()
        .flatten()
        .find(|r| r.kind.is_empty() || r.name.is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "resources: every resource needs a kind and a name (got kind {:?}, name {:?})",
            r.kind, r.name
        )));
    }
    Ok(Operation {
        sync: Some(SyncOperation {
            revision: req.revision.filter(|r| !r.is_empty()),
            prune: req.prune,
            dry_run: req.dry_run,
            sync_strategy: req.strategy,
            resources: req.resources.filter(|r| !r.is_empty()),
            sync_options: req.sync_options.map(|o| o.items).filter(|o| !o.is_empty()),
            ..Default::default()
        }),
        initiated_by: Some(OperationInitiator {
            username: Some(user.to_string()),
            automated: None,
        }),
        info: None,
        retry: req.retry_strategy,
    })
}

/// A 409 when an operation is already under way.
fn no_running_operation(app: &Application) -> Result<(), ApiError> {
    let running = app.operation.is_some()
        || app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|s| !controller::operation::completed(&s.phase));
    if running {
        return Err(ApiError::conflict(format!(
            "another operation is already in progress on application {}",
            app.metadata.name.as_deref().unwrap_or("")
        )));
    }
    Ok(())
}

/// Writes `operation` (only if none is running: guarded by the
/// resourceVersion read). The controller writes the status often, so a
/// conflict re-reads the Application, checks again that no operation runs,
/// and tries again (a few times).
async fn start_operation(
    state: &State,
    app: &Application,
    op: &Operation,
) -> Result<Application, ApiError> {
    let ns = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let apps = state.apps(&ns);
    let mut version = app.metadata.resource_version.clone();
    for _ in 0..5 {
        let patch = json!({
            "metadata": {"resourceVersion": version},
            "operation": op,
        });
        match apps
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => return Ok(updated),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let fresh = state.app(&ns, &name).await?;
                no_running_operation(&fresh)?;
                version = fresh.metadata.resource_version;
            }
            Err(e) => return Err(kube_error(e)),
        }
    }
    Err(ApiError::conflict(format!(
        "application {name} kept changing while the operation was being started; try again"
    )))
}

async fn sync(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
    Json(req): Json<SyncRequest>,
) -> Result<axum::Json<Application>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref().or(req.app_namespace.as_deref()));
    let app = state.app_for(&principal, "sync", &ns, &name).await?;
    no_running_operation(&app)?;
    let op = sync_operation(req, &principal.subject)?;
    let revision = op
        .sync
        .as_ref()
        .and_then(|s| s.revision.clone())
        .or_else(|| {
            app.spec
                .source
                .as_ref()
                .and_then(|s| s.target_revision.clone())
        })
        .unwrap_or_default();
    let updated = start_operation(&state, &app, &op).await?;
    let resolved = app
        .status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .and_then(|s| s.revision.clone());
    audit::record(
        &state,
        &principal.subject,
        "sync",
        &updated.object_ref(&()),
        audit::OPERATION_STARTED,
        audit::sync_message(&principal.subject, "sync", &revision, resolved.as_deref()),
    )
    .await;
    Ok(axum::Json(updated))
}

/// The body of `POST .../rollback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RollbackRequest {
    id: i64,
    #[serde(default)]
    prune: Option<bool>,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    app_namespace: Option<String>,
}

async fn rollback(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
    Json(req): Json<RollbackRequest>,
) -> Result<axum::Json<Application>, ApiError> {
    let _ = &req.name;
    let ns = state.app_namespace(q.app_namespace.as_deref().or(req.app_namespace.as_deref()));
    let app = state.app_for(&principal, "sync", &ns, &name).await?;
    no_running_operation(&app)?;
    let op = controller::operation::rollback(
        &app,
        req.id,
        req.prune.unwrap_or(false),
        req.dry_run.unwrap_or(false),
        Some(&principal.subject),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let revision = op
        .sync
        .as_ref()
        .and_then(|s| s.revision.clone())
        .unwrap_or_default();
    let updated = start_operation(&state, &app, &op).await?;
    audit::record(
        &state,
        &principal.subject,
        "rollback",
        &updated.object_ref(&()),
        audit::OPERATION_STARTED,
        audit::sync_message(
            &principal.subject,
            &format!("rollback to history id {}", req.id),
            &revision,
            None,
        ),
    )
    .await;
    Ok(axum::Json(updated))
}

async fn terminate(
    AxumState(state): S,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<NamespaceQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let ns = state.app_namespace(q.app_namespace.as_deref());
    let app = state.app_for(&principal, "sync", &ns, &name).await?;
    let running = app
        .status
        .as_ref()
        .and_then(|s| s.operation_state.as_ref())
        .is_some_and(|s| s.phase == controller::operation::RUNNING);
    if !running {
        return Err(ApiError::bad_request(format!(
            "unable to terminate operation: no operation is in progress on application {name}"
        )));
    }
    let patch =
        json!({"status": {"operationState": {"phase": controller::operation::TERMINATING}}});
    let apps = state.apps(&ns);
    apps.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_error)?;
    audit::record(
        &state,
        &principal.subject,
        "terminate",
        &app.object_ref(&()),
        audit::UPDATED,
        format!("{} terminated running operation", principal.subject),
    )
    .await;
    let _ = app.name_any();
    Ok(axum::Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascading_deletes_keep_the_finalizer_of_their_policy() {
        use controller::delete::{BACKGROUND_FINALIZER, FOREGROUND_FINALIZER};
        let other = "example.com/keep".to_string();
        assert_eq!(
            finalizers_for_delete(std::slice::from_ref(&other), true, None).unwrap(),
            [other.clone(), FOREGROUND_FINALIZER.to_string()]
        );
        assert_eq!(
            finalizers_for_delete(&[FOREGROUND_FINALIZER.into()], true, Some("background"))
                .unwrap(),
            [BACKGROUND_FINALIZER]
        );
        assert_eq!(
            finalizers_for_delete(&[FOREGROUND_FINALIZER.into(), other.clone()], false, None)
                .unwrap(),
            [other]
        );
        assert_eq!(
            finalizers_for_delete(&[], true, Some("orphan"))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn names_are_checked_before_they_reach_a_url() {
        assert!(check_name("name", "web-1.a").is_ok());
        for bad in ["", "Web", "a/b", "a b", "-a", "a?b"] {
            assert_eq!(check_name("name", bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn list_filters_take_repeated_and_comma_separated_projects() {
        let f = ListFilter::from_pairs(vec![
            ("projects".into(), "a,b".into()),
            ("projects".into(), "c".into()),
            ("selector".into(), "team=x".into()),
        ]);
        assert_eq!(f.projects, ["a", "b", "c"]);
        assert_eq!(f.selector.as_deref(), Some("team=x"));
    }

    #[test]
    fn sync_requests_become_operations_naming_the_user() {
        let req: SyncRequest = serde_json::from_value(json!({
            "revision": "v2", "prune": true,
            "syncOptions": {"items": ["CreateNamespace=true"]},
            "resources": [{"kind": "ConfigMap", "name": "web-config"}]
        }))
        .unwrap();
        let op = sync_operation(req, "alice").unwrap();
        let sync = op.sync.unwrap();
        assert_eq!(sync.revision.as_deref(), Some("v2"));
        assert_eq!(sync.prune, Some(true));
        assert_eq!(sync.sync_options.unwrap(), ["CreateNamespace=true"]);
        assert_eq!(op.initiated_by.unwrap().username.as_deref(), Some("alice"));
        let bad: SyncRequest =
            serde_json::from_value(json!({"resources": [{"kind": "", "name": "x"}]})).unwrap();
        assert_eq!(sync_operation(bad, "alice").unwrap_err().status, 400);
    }

    #[test]
    fn images_come_from_pod_templates() {
        let deploy =
            json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27"}]}}}});
        assert_eq!(images(&deploy), ["nginx:1.27"]);
        assert!(images(&json!({"data": {}})).is_empty());
    }
}
