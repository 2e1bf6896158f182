//! `/api/v1/repositories`: repository Secrets (labelled
//! `argocd.argoproj.io/secret-type: repository`, named `repo-<hash>` as
//! Argo CD names them) in the server's namespace. Credentials are written,
//! never returned. RBAC object: the repository URL.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxumState;
use axum::routing::get;
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit;
use crate::extract::{Json, Path, Query, UpsertQuery};
use crate::secrets::{fnv32a, value};
use crate::{ApiError, Principal, State};

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/v1/repositories", get(list).post(create))
        .route("/api/v1/repositories/{repo}", get(get_one).delete(delete))
}

/// The body of `POST /api/v1/repositories`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRequest {
    pub repo: String,
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub ssh_private_key: Option<String>,
    #[serde(default)]
    pub insecure: Option<bool>,
    #[serde(default)]
    pub project: Option<String>,
}

/// The Secret data of a repository; `Err` names a bad field.
pub fn secret_data(req: &RepositoryRequest) -> Result<BTreeMap<String, String>, ApiError> {
    if req.repo.trim().is_empty() {
        return Err(ApiError::bad_request(
            "repo: the repository URL is required",
        ));
    }
    let type_ = req.type_.clone().unwrap_or_else(|| "git".to_string());
    if type_ != "git" && type_ != "helm" {
        return Err(ApiError::bad_request(format!(
            "type: {type_:?} is not git or helm"
        )));
    }
    let mut data = BTreeMap::from([
        ("url".to_string(), req.repo.clone()),
        ("type".to_string(), type_),
    ]);
    let fields = [
        ("name", &req.name),
        ("username", &req.username),
        ("password", &req.password),
        ("sshPrivateKey", &req.ssh_private_key),
        ("project", &req.project),
    ];
    for (k, v) in fields {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            data.insert(k.to_string(), v.clone());
        }
    }
    if req.insecure == Some(true) {
        data.insert("insecure".to_string(), "true".to_string());
    }
    Ok(data)
}

/// Argo CD's name for a repository Secret.
pub fn secret_name(url: &str) -> String {
    format!("repo-{}", fnv32a(url))
}

/// What a client sees of a repository: no credentials.
pub fn view(secret: &Secret) -> Value {
    json!({
        "repo": value(secret, "url"),
        "type": value(secret, "type").unwrap_or_else(|| "git".to_string()),
        "name": value(secret, "name"),
        "project": value(secret, "project"),
        "username": value(secret, "username"),
        "insecure": value(secret, "insecure").is_some_and(|v| v == "true"),
        "hasCredentials": value(secret, "password").is_some() || value(secret, "sshPrivateKey").is_some(),
    })
}

async fn list(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
) -> Result<axum::Json<Value>, ApiError> {
    let secrets = state.typed_secrets("repository").await?;
    let items: Vec<Value> = secrets
        .iter()
        .filter(|s| {
            let url = value(s, "url").unwrap_or_default();
            state.allowed(&principal, "repositories", "get", &url)
        })
        .map(view)
        .collect();
    Ok(axum::Json(json!({"metadata": {}, "items": items})))
}

async fn find(state: &State, url: &str) -> Result<Secret, ApiError> {
    state
        .typed_secrets("repository")
        .await?
        .into_iter()
        .find(|s| value(s, "url").as_deref() == Some(url))
        .ok_or_else(|| ApiError::not_found(format!("repository {url:?} not found")))
}

async fn get_one(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(repo): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    state.enforce(&principal, "repositories", "get", &repo)?;
    Ok(axum::Json(view(&find(&state, &repo).await?)))
}

async fn create(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Query(q): Query<UpsertQuery>,
    Json(req): Json<RepositoryRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let data = secret_data(&req)?;
    state.enforce(&principal, "repositories", "create", &req.repo)?;
    let name = secret_name(&req.repo);
    let secret = state
        .write_secret(
            &name,
            "repository",
            data,
            q.upsert.unwrap_or(false),
            "repository",
        )
        .await?;
    audit::record(
        &state,
        &principal.subject,
        "create",
        &secret.object_ref(&()),
        audit::CREATED,
        format!("{} added repository {}", principal.subject, req.repo),
    )
    .await;
    Ok(axum::Json(view(&secret)))
}

async fn delete(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(repo): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    state.enforce(&principal, "repositories", "delete", &repo)?;
    let secret = find(&state, &repo).await?;
    let name = secret.metadata.name.clone().unwrap_or_default();
    state.delete_secret(&name).await?;
    audit::record(
        &state,
        &principal.subject,
        "delete",
        &secret.object_ref(&()),
        audit::DELETED,
        format!("{} deleted repository {repo}", principal.subject),
    )
    .await;
    Ok(axum::Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_data_checks_the_type_and_keeps_credentials_out_of_views() {
        let req: RepositoryRequest = serde_json::from_value(json!({
            "repo": "https://git.example.com/shop.git", "username": "u", "password": "p"
        }))
        .unwrap();
        let data = secret_data(&req).unwrap();
        assert_eq!(data["type"], "git");
        assert_eq!(data["password"], "p");
        let secret = Secret {
            string_data: Some(data),
            ..Default::default()
        };
        let v = view(&secret);
        assert!(v.get("password").is_none());
        assert_eq!(v["hasCredentials"], true);
        let bad: RepositoryRequest =
            serde_json::from_value(json!({"repo": "x", "type": "svn"})).unwrap();
        assert_eq!(secret_data(&bad).unwrap_err().status, 400);
    }
}
