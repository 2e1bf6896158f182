//! `/api/v1/projects`: AppProjects in the server's namespace, with Argo
//! CD's shapes (`{"project": ..., "upsert": ...}` on create and update),
//! and `.../syncwindows` with each window's `active` flag. A project that
//! Applications still use is not deleted. RBAC object: the project name.

use std::sync::Arc;

use api::AppProject;
use axum::Router;
use axum::extract::State as AxumState;
use axum::routing::get;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::applications::kube_error;
use crate::audit;
use crate::extract::{Json, Path};
use crate::{ApiError, Principal, State};

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/v1/projects", get(list).post(create))
        .route(
            "/api/v1/projects/{name}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/projects/{name}/syncwindows", get(sync_windows))
}

impl State {
    fn projects(&self) -> Api<AppProject> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn project(&self, name: &str) -> Result<AppProject, ApiError> {
        crate::applications::check_name("name", name)?;
        self.projects()
            .get_opt(name)
            .await
            .map_err(kube_error)?
            .ok_or_else(|| ApiError::not_found(format!("project {name:?} not found")))
    }
}

/// The body of create (Argo CD's `ProjectCreateRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    project: AppProject,
    #[serde(default)]
    upsert: bool,
}

/// The body of update (Argo CD's `ProjectUpdateRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    project: AppProject,
}

async fn list(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
) -> Result<axum::Json<Value>, ApiError> {
    let list = state
        .projects()
        .list(&ListParams::default())
        .await
        .map_err(kube_error)?;
    let items: Vec<&AppProject> = list
        .items
        .iter()
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or("");
            state.allowed(&principal, "projects", "get", name)
        })
        .collect();
    Ok(axum::Json(json!({"metadata": {}, "items": items})))
}

async fn get_one(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<axum::Json<AppProject>, ApiError> {
    state.enforce(&principal, "projects", "get", &name)?;
    Ok(axum::Json(state.project(&name).await?))
}

async fn create(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Json(req): Json<CreateRequest>,
) -> Result<axum::Json<AppProject>, ApiError> {
    let mut project = req.project;
    let name = project
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("project.metadata.name: a project needs a name"))?;
    crate::applications::check_name("project.metadata.name", &name)?;
    check_windows(&project)?;
    state.enforce(&principal, "projects", "create", &name)?;
    project.metadata.namespace = Some(state.namespace.clone());
    project.metadata.resource_version = None;
    project.metadata.uid = None;
    let projects = state.projects();
    let saved = match projects.get_opt(&name).await.map_err(kube_error)? {
        Some(existing) if existing.spec == project.spec => return Ok(axum::Json(existing)),
        Some(existing) => {
            if !req.upsert {
                return Err(ApiError::conflict(format!(
                    "existing project spec is different, use upsert flag to force update: {name}"
                )));
            }
            state.enforce(&principal, "projects", "update", &name)?;
            let mut updated = existing;
            updated.spec = project.spec;
            projects
                .replace(&name, &PostParams::default(), &updated)
                .await
                .map_err(kube_error)?
        }
        None => projects
            .create(&PostParams::default(), &project)
            .await
            .map_err(kube_error)?,
    };
    audit::record(
        &state,
        &principal.subject,
        "create",
        &saved.object_ref(&()),
        audit::CREATED,
        format!("{} created project", principal.subject),
    )
    .await;
    Ok(axum::Json(saved))
}

/// A window that does not parse is the request's error.
fn check_windows(project: &AppProject) -> Result<(), ApiError> {
    policy::windows::parse(project.spec.sync_windows.as_deref().unwrap_or(&[]))
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(format!("project.{e}")))
}

async fn update(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(name): Path<String>,
    Json(req): Json<UpdateRequest>,
) -> Result<axum::Json<AppProject>, ApiError> {
    if req
        .project
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::bad_request(format!(
            "project.metadata.name does not match the path's {name:?}"
        )));
    }
    check_windows(&req.project)?;
    state.enforce(&principal, "projects", "update", &name)?;
    let mut existing = state.project(&name).await?;
    existing.spec = req.project.spec;
    if req.project.metadata.labels.is_some() {
        existing.metadata.labels = req.project.metadata.labels;
    }
    if req.project.metadata.annotations.is_some() {
        existing.metadata.annotations = req.project.metadata.annotations;
    }
    let saved = state
        .projects()
        .replace(&name, &PostParams::default(), &existing)
        .await
        .map_err(kube_error)?;
    audit::record(
        &state,
        &principal.subject,
        "update",
        &saved.object_ref(&()),
        audit::UPDATED,
        format!("{} updated project", principal.subject),
    )
    .await;
    Ok(axum::Json(saved))
}

async fn delete(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    state.enforce(&principal, "projects", "delete", &name)?;
    let project = state.project(&name).await?;
    let apps: Api<api::Application> = Api::all(state.client.clone());
    let using = apps
        .list(&ListParams::default())
        .await
        .map_err(kube_error)?
        .items
        .iter()
        .filter(|a| a.spec.project == name)
        .count();
    if using > 0 {
        return Err(ApiError::conflict(format!(
            "project {name:?} is referenced by {using} applications; delete them first"
        )));
    }
    state
        .projects()
        .delete(&name, &DeleteParams::default())
        .await
        .map_err(kube_error)?;
    audit::record(
        &state,
        &principal.subject,
        "delete",
        &project.object_ref(&()),
        audit::DELETED,
        format!("{} deleted project", principal.subject),
    )
    .await;
    Ok(axum::Json(json!({})))
}

/// The project's windows as Argo CD lists them, each with `active` now.
pub fn windows_view(
    project: &AppProject,
    now: k8s_openapi::jiff::Timestamp,
) -> Result<Value, ApiError> {
    let raw = project.spec.sync_windows.as_deref().unwrap_or(&[]);
    let parsed = policy::windows::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let windows: Vec<Value> = raw
        .iter()
        .zip(&parsed)
        .map(|(w, p)| {
            let mut v = serde_json::to_value(w).unwrap_or_else(|_| json!({}));
            v["active"] = json!(p.active(now));
            v
        })
        .collect();
    Ok(json!({ "windows": windows }))
}

async fn sync_windows(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    state.enforce(&principal, "projects", "get", &name)?;
    let project = state.project(&name).await?;
    Ok(axum::Json(windows_view(
        &project,
        k8s_openapi::jiff::Timestamp::now(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_say_whether_they_are_active() {
        let project: AppProject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "p"},
            "spec": {"syncWindows": [
                {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["*"]}
            ]}
        }))
        .unwrap();
        let v = windows_view(&project, k8s_openapi::jiff::Timestamp::now()).unwrap();
        assert_eq!(v["windows"][0]["active"], true);
        assert_eq!(v["windows"][0]["kind"], "deny");
    }
}
