//! `/api/v1/clusters`: cluster Secrets (labelled
//! `argocd.argoproj.io/secret-type: cluster`, keys `name`, `server`,
//! `config`, `namespaces`, `project`, as Argo CD stores them) in the
//! server's namespace, plus the built-in in-cluster destination. The
//! config's credentials are written, never returned. RBAC object: the
//! server URL.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxumState;
use axum::routing::get;
use controller::clusters::{ClusterConfig, ClusterSpec};
use kube::Resource;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit;
use crate::extract::{Json, Path, Query, UpsertQuery};
use crate::secrets::fnv32a;
use crate::{ApiError, Principal, State};

pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/api/v1/clusters", get(list).post(create))
        .route("/api/v1/clusters/{server}", get(get_one).delete(delete))
}

/// The body of `POST /api/v1/clusters`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRequest {
    pub server: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub config: ClusterConfig,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub cluster_resources: Option<bool>,
}

/// Argo CD's name for a cluster Secret: `cluster-<host>-<hash>`.
pub fn secret_name(server: &str) -> String {
    let host: String = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "cluster-{}-{}",
        host.trim_matches(['-', '.']),
        fnv32a(server)
    )
}

/// The Secret data of a cluster; `Err` names a bad field.
pub fn secret_data(req: &ClusterRequest) -> Result<BTreeMap<String, String>, ApiError> {
    let server = req.server.trim().trim_end_matches('/');
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        return Err(ApiError::bad_request(format!(
            "server: {:?} is not an http(s) URL",
            req.server
        )));
    }
    let config = serde_json::to_string(&req.config)
        .map_err(|e| ApiError::bad_request(format!("config: {e}")))?;
    let mut data = BTreeMap::from([
        ("server".to_string(), server.to_string()),
        (
            "name".to_string(),
            req.name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| server.to_string()),
        ),
        ("config".to_string(), config),
    ]);
    if !req.namespaces.is_empty() {
        data.insert("namespaces".to_string(), req.namespaces.join(","));
    }
    if let Some(project) = req.project.as_ref().filter(|p| !p.is_empty()) {
        data.insert("project".to_string(), project.clone());
    }
    if req.cluster_resources == Some(true) {
        data.insert("clusterResources".to_string(), "true".to_string());
    }
    Ok(data)
}

/// What a client sees of a cluster: no credentials.
pub fn view(spec: &ClusterSpec) -> Value {
    json!({
        "server": spec.server,
        "name": spec.name,
        "namespaces": spec.namespaces,
        "clusterResources": spec.cluster_resources,
        "project": spec.project,
        "config": {"tlsClientConfig": {"insecure": spec.config.tls_client_config.insecure}},
    })
}

/// Every cluster: the Secrets, and the in-cluster destination unless a
/// Secret redefines it.
fn clusters(state: &State) -> Vec<ClusterSpec> {
    let mut specs: Vec<ClusterSpec> = state
        .controller
        .clusters
        .secrets()
        .iter()
        .filter_map(|s| controller::clusters::parse_secret(s).ok())
        .collect();
    let local = controller::clusters::in_cluster();
    if !specs.iter().any(|s| s.server == local.server) {
        specs.insert(0, local);
    }
    specs
}

fn find(state: &State, server: &str) -> Result<ClusterSpec, ApiError> {
    let wanted = server.trim_end_matches('/');
    clusters(state)
        .into_iter()
        .find(|c| c.server == wanted || c.name == server)
        .ok_or_else(|| ApiError::not_found(format!("cluster {server:?} not found")))
}

async fn list(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
) -> Result<axum::Json<Value>, ApiError> {
    let items: Vec<Value> = clusters(&state)
        .iter()
        .filter(|c| state.allowed(&principal, "clusters", "get", &c.server))
        .map(view)
        .collect();
    Ok(axum::Json(json!({"metadata": {}, "items": items})))
}

async fn get_one(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(server): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let spec = find(&state, &server)?;
    state.enforce(&principal, "clusters", "get", &spec.server)?;
    Ok(axum::Json(view(&spec)))
}

async fn create(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Query(q): Query<UpsertQuery>,
    Json(req): Json<ClusterRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let data = secret_data(&req)?;
    let server = data["server"].clone();
    state.enforce(&principal, "clusters", "create", &server)?;
    // Check the Secret as the controller will read it before storing it, so
    // a config the controller cannot use is refused and nothing is written.
    let probe = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(secret_name(&server)),
            namespace: Some(state.namespace.clone()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.clone(), k8s_openapi::ByteString(v.clone().into_bytes())))
                .collect(),
        ),
        ..Default::default()
    };
    let spec = controller::clusters::parse_secret(&probe)
        .map_err(|e| ApiError::bad_request(format!("config: {e}")))?;
    let secret = state
        .write_secret(
            &secret_name(&server),
            "cluster",
            data,
            q.upsert.unwrap_or(false),
            "cluster",
        )
        .await?;
    audit::record(
        &state,
        &principal.subject,
        "create",
        &secret.object_ref(&()),
        audit::CREATED,
        format!("{} added cluster {server}", principal.subject),
    )
    .await;
    Ok(axum::Json(view(&spec)))
}

async fn delete(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Path(server): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let spec = find(&state, &server)?;
    state.enforce(&principal, "clusters", "delete", &spec.server)?;
    let Some((_, name)) = spec.secret.split_once('/') else {
        return Err(ApiError::bad_request(format!(
            "cluster {server:?} is the built-in in-cluster destination; it has no Secret to delete"
        )));
    };
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("Secret".to_string()),
        api_version: Some("v1".to_string()),
        namespace: Some(state.namespace.clone()),
        name: Some(name.to_string()),
        ..Default::default()
    };
    state.delete_secret(name).await?;
    audit::record(
        &state,
        &principal.subject,
        "delete",
        &reference,
        audit::DELETED,
        format!("{} deleted cluster {}", principal.subject, spec.server),
    )
    .await;
    Ok(axum::Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_secrets_are_named_after_the_host() {
        let name = secret_name("https://10.0.0.1:6443");
        assert!(name.starts_with("cluster-10.0.0.1-"), "{name}");
    }

    #[test]
    fn cluster_requests_need_an_http_url() {
        let req: ClusterRequest =
            serde_json::from_value(json!({"server": "kube.example.com"})).unwrap();
        assert_eq!(secret_data(&req).unwrap_err().status, 400);
        let req: ClusterRequest = serde_json::from_value(json!({
            "server": "https://kube.example.com/", "namespaces": ["a", "b"],
            "config": {"bearerToken": "t"}
        }))
        .unwrap();
        let data = secret_data(&req).unwrap();
        assert_eq!(data["server"], "https://kube.example.com");
        assert_eq!(data["namespaces"], "a,b");
        assert!(data["config"].contains("bearerToken"));
    }
}
