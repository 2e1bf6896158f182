//! `GET /api/openapi.json`: the OpenAPI 3.0 document of the API, built
//! from the route table below; the Application and AppProject schemas are
//! the CRDs' own (`api::crd`), so they stay what the cluster accepts.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::State;

pub fn routes() -> Router<Arc<State>> {
    Router::new().route("/api/openapi.json", get(document_handler))
}

async fn document_handler() -> axum::Json<Value> {
    axum::Json(document())
}

/// One operation: method, path, summary, the parameters' names (path
/// parameters are the path's `{...}`; these are the query's), the request
/// schema, the response schema, and whether it needs a token.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    response: &'static str,
    auth: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    response: &'static str,
) -> Op {
    Op {
        method,
        path,
        summary,
        query,
        body,
        response,
        auth: true,
    }
}

const NS: (&str, &str) = ("appNamespace", "string");

const OPS: &[Op] = &[
    Op {
        method: "get",
        path: "/api/version",
        summary: "The server's version",
        query: &[],
        body: None,
        response: "Version",
        auth: false,
    },
    Op {
        method: "get",
        path: "/api/v1/settings",
        summary: "Settings a client needs before login",
        query: &[],
        body: None,
        response: "Settings",
        auth: false,
    },
    op(
        "get",
        "/api/v1/applications",
        "List applications",
        &[
            ("selector", "string"),
            ("projects", "string"),
            ("name", "string"),
            NS,
        ],
        None,
        "ApplicationList",
    ),
    op(
        "post",
        "/api/v1/applications",
        "Create an application",
        &[("upsert", "boolean")],
        Some("Application"),
        "Application",
    ),
    op(
        "get",
        "/api/v1/applications/{name}",
        "Get an application (refresh it first with refresh=normal|hard)",
        &[("refresh", "string"), NS],
        None,
        "Application",
    ),
    op(
        "put",
        "/api/v1/applications/{name}",
        "Update an application",
        &[NS],
        Some("Application"),
        "Application",
    ),
    op(
        "delete",
        "/api/v1/applications/{name}",
        "Delete an application",
        &[("cascade", "boolean"), ("propagationPolicy", "string"), NS],
        None,
        "Empty",
    ),
    op(
        "put",
        "/api/v1/applications/{name}/spec",
        "Update an application's spec",
        &[NS],
        Some("ApplicationSpec"),
        "ApplicationSpec",
    ),
    op(
        "get",
        "/api/v1/applications/{name}/manifests",
        "The rendered manifests",
        &[("revision", "string"), NS],
        None,
        "Manifests",
    ),
    op(
        "get",
        "/api/v1/applications/{name}/managed-resources",
        "Managed resources: target and live states",
        &[NS],
        None,
        "ManagedResources",
    ),
    op(
        "post",
        "/api/v1/applications/{name}/diff-local",
        "Managed resources compared with uploaded files",
        &[NS],
        Some("DiffLocalRequest"),
        "ManagedResources",
    ),
    op(
        "get",
        "/api/v1/applications/{name}/resource-tree",
        "The resource tree",
        &[NS],
        None,
        "ResourceTree",
    ),
    op(
        "get",
        "/api/v1/applications/{name}/events",
        "Kubernetes Events of the application",
        &[NS],
        None,
        "EventList",
    ),
    op(
        "post",
        "/api/v1/applications/{name}/sync",
        "Start a sync",
        &[NS],
        Some("SyncRequest"),
        "Application",
    ),
    op(
        "post",
        "/api/v1/applications/{name}/rollback",
        "Roll back to a history id",
        &[NS],
        Some("RollbackRequest"),
        "Application",
    ),
    op(
        "delete",
        "/api/v1/applications/{name}/operation",
        "Terminate the running operation",
        &[NS],
        None,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/projects",
        "List projects",
        &[],
        None,
        "AppProjectList",
    ),
    op(
        "post",
        "/api/v1/projects",
        "Create a project",
        &[],
        Some("ProjectCreateRequest"),
        "AppProject",
    ),
    op(
        "get",
        "/api/v1/projects/{name}",
        "Get a project",
        &[],
        None,
        "AppProject",
    ),
    op(
        "put",
        "/api/v1/projects/{name}",
        "Update a project",
        &[],
        Some("ProjectUpdateRequest"),
        "AppProject",
    ),
    op(
        "delete",
        "/api/v1/projects/{name}",
        "Delete a project",
        &[],
        None,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/projects/{name}/syncwindows",
        "A project's sync windows",
        &[],
        None,
        "SyncWindows",
    ),
    op(
        "get",
        "/api/v1/repositories",
        "List repositories",
        &[],
        None,
        "RepositoryList",
    ),
    op(
        "post",
        "/api/v1/repositories",
        "Add a repository",
        &[("upsert", "boolean")],
        Some("RepositoryRequest"),
        "Repository",
    ),
    op(
        "get",
        "/api/v1/repositories/{repo}",
        "Get a repository",
        &[],
        None,
        "Repository",
    ),
    op(
        "delete",
        "/api/v1/repositories/{repo}",
        "Remove a repository",
        &[],
        None,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/clusters",
        "List clusters",
        &[],
        None,
        "ClusterList",
    ),
    op(
        "post",
        "/api/v1/clusters",
        "Add a cluster",
        &[("upsert", "boolean")],
        Some("ClusterRequest"),
        "Cluster",
    ),
    op(
        "get",
        "/api/v1/clusters/{server}",
        "Get a cluster",
        &[],
        None,
        "Cluster",
    ),
    op(
        "delete",
        "/api/v1/clusters/{server}",
        "Remove a cluster",
        &[],
        None,
        "Empty",
    ),
    Op {
        method: "post",
        path: "/api/v1/session",
        summary: "Log in with a local account's password; answers a session token",
        query: &[],
        body: Some("SessionCreateRequest"),
        response: "Token",
        auth: false,
    },
    op(
        "delete",
        "/api/v1/session",
        "Log out: revoke the caller's token",
        &[],
        None,
        "Empty",
    ),
    Op {
        method: "get",
        path: "/api/v1/session/userinfo",
        summary: "Who the caller is (loggedIn false without a valid token)",
        query: &[],
        body: None,
        response: "UserInfo",
        auth: false,
    },
    op(
        "get",
        "/api/v1/account",
        "Local accounts the caller may see",
        &[],
        None,
        "AccountList",
    ),
    op(
        "put",
        "/api/v1/account/password",
        "Change a local account's password (the caller's unless name is given)",
        &[],
        Some("PasswordRequest"),
        "Empty",
    ),
    op(
        "post",
        "/api/v1/account/{name}/token",
        "Create an API key for an account with the apiKey capability",
        &[],
        Some("TokenRequest"),
        "Token",
    ),
    op(
        "delete",
        "/api/v1/account/{name}/token/{id}",
        "Delete an account's API key",
        &[],
        None,
        "Empty",
    ),
    op(
        "post",
        "/api/v1/projects/{project}/roles/{role}/token",
        "Create a token for a project role",
        &[],
        Some("TokenRequest"),
        "Token",
    ),
    op(
        "delete",
        "/api/v1/projects/{project}/roles/{role}/token/{iat}",
        "Delete a project role's token by its issued-at time",
        &[],
        None,
        "Empty",
    ),
];

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn operation(op: &Op) -> Value {
    let mut parameters: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.extend(op.query.iter().map(|(name, type_)| {
        json!({"name": name, "in": "query", "required": false, "schema": {"type": type_}})
    }));
    let error = json!({"description": "error", "content": {"application/json": {"schema": reference("Error")}}});
    let mut responses = json!({
        "200": {"description": "OK", "content": {"application/json": {"schema": reference(op.response)}}},
        "400": error.clone(),
    });
    if op.auth {
        responses["401"] = error.clone();
        responses["403"] = error.clone();
        responses["404"] = error.clone();
        responses["409"] = error.clone();
        responses["503"] = error;
    }
    let mut v = json!({
        "summary": op.summary,
        "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '-'], "_")),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = op.body {
        v["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": reference(body)}}});
    }
    if !op.auth {
        v["security"] = json!([]);
    }
    v
}

/// The CRD's OpenAPI schema of its served version, or a free object.
fn crd_schema(
    crd: Result<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition, api::crd::CrdError>,
) -> Value {
    crd.ok()
        .and_then(|c| c.spec.versions.into_iter().next())
        .and_then(|v| v.schema)
        .and_then(|s| s.open_api_v3_schema)
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({"type": "object"}))
}

fn object(props: Value) -> Value {
    json!({"type": "object", "properties": props})
}

fn list_of(item: Value) -> Value {
    object(json!({"metadata": {"type": "object"}, "items": {"type": "array", "items": item}}))
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation(op);
    }
    let application = crd_schema(api::crd::application());
    let spec = application
        .pointer("/properties/spec")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    let project = crd_schema(api::crd::app_project());
    let s = |t: &str| json!({"type": t});
    let managed = object(json!({"items": {"type": "array", "items": object(json!({
        "group": s("string"), "kind": s("string"), "namespace": s("string"), "name": s("string"),
        "targetState": s("string"), "liveState": s("string"), "normalizedLiveState": s("string"),
        "predictedLiveState": s("string"), "modified": s("boolean"), "hook": s("boolean")
    }))}}));
    let repository = object(
        json!({"repo": s("string"), "type": s("string"), "name": s("string"),
        "project": s("string"), "username": s("string"), "insecure": s("boolean"), "hasCredentials": s("boolean")}),
    );
    let cluster = object(json!({"server": s("string"), "name": s("string"),
        "namespaces": {"type": "array", "items": s("string")}, "clusterResources": s("boolean"),
        "project": s("string"), "config": s("object")}));
    json!({
        "openapi": "3.0.3",
        "info": {"title": "gyro API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "gyro's HTTP API, on Argo CD's paths and JSON shapes."},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": object(json!({"error": s("string"), "code": s("integer"), "message": s("string")})),
                "Empty": s("object"),
                "Version": object(json!({"Version": s("string"), "BuildDate": s("string"), "GitCommit": s("string"), "Platform": s("string")})),
                "Settings": object(json!({"url": s("string"), "oidcConfig": {"type": "object", "nullable": true}})),
                "Application": application.clone(),
                "ApplicationSpec": spec,
                "ApplicationList": list_of(application),
                "AppProject": project.clone(),
                "AppProjectList": list_of(project.clone()),
                "ProjectCreateRequest": {"type": "object", "required": ["project"], "properties": {"project": project.clone(), "upsert": s("boolean")}},
                "ProjectUpdateRequest": {"type": "object", "required": ["project"], "properties": {"project": project}},
                "Manifests": object(json!({"manifests": {"type": "array", "items": s("string")}, "revision": s("string"),
                    "namespace": s("string"), "server": s("string"), "sourceType": s("string")})),
                "ManagedResources": managed,
                "DiffLocalRequest": {"type": "object", "required": ["files"], "properties": {
                    "files": {"type": "array", "items": {"type": "object", "required": ["path", "content"],
                        "properties": {"path": s("string"), "content": {"type": "string", "format": "byte"}}}},
                    "path": s("string")}},
                "ResourceTree": object(json!({"nodes": {"type": "array", "items": s("object")}})),
                "EventList": object(json!({"items": {"type": "array", "items": s("object")}})),
                "SyncRequest": object(json!({"revision": s("string"), "prune": s("boolean"), "dryRun": s("boolean"),
                    "strategy": s("object"), "resources": {"type": "array", "items": {"type": "object",
                        "required": ["kind", "name"], "properties": {"group": s("string"), "kind": s("string"),
                        "name": s("string"), "namespace": s("string")}}},
                    "syncOptions": object(json!({"items": {"type": "array", "items": s("string")}})),
                    "retryStrategy": s("object")})),
                "RollbackRequest": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "integer", "format": "int64"}, "prune": s("boolean"), "dryRun": s("boolean")}},
                "SyncWindows": object(json!({"windows": {"type": "array", "items": s("object")}})),
                "Repository": repository.clone(),
                "RepositoryList": list_of(repository),
                "RepositoryRequest": {"type": "object", "required": ["repo"], "properties": {
                    "repo": s("string"), "type": {"type": "string", "enum": ["git", "helm"]}, "name": s("string"),
                    "username": s("string"), "password": s("string"), "sshPrivateKey": s("string"),
                    "insecure": s("boolean"), "project": s("string")}},
                "Cluster": cluster.clone(),
                "ClusterList": list_of(cluster),
                "SessionCreateRequest": {"type": "object", "required": ["username", "password"], "properties": {
                    "username": s("string"), "password": s("string")}},
                "Token": object(json!({"token": s("string")})),
                "UserInfo": object(json!({"loggedIn": s("boolean"), "username": s("string"), "iss": s("string"),
                    "groups": {"type": "array", "items": s("string")}})),
                "AccountList": object(json!({"items": {"type": "array", "items": object(json!({
                    "name": s("string"), "enabled": s("boolean"),
                    "capabilities": {"type": "array", "items": s("string")},
                    "tokens": {"type": "array", "items": object(json!({"id": s("string"),
                        "issuedAt": {"type": "integer", "format": "int64"},
                        "expiresAt": {"type": "integer", "format": "int64"}}))}}))}})),
                "PasswordRequest": {"type": "object", "required": ["currentPassword", "newPassword"], "properties": {
                    "name": s("string"), "currentPassword": s("string"), "newPassword": s("string")}},
                "TokenRequest": object(json!({"expiresIn": {"type": "integer", "format": "int64"}, "id": s("string")})),
                "ClusterRequest": {"type": "object", "required": ["server"], "properties": {
                    "server": s("string"), "name": s("string"), "config": s("object"),
                    "namespaces": {"type": "array", "items": s("string")}, "project": s("string"),
                    "clusterResources": s("boolean")}},
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_and_path_parameters_are_declared() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
        assert!(
            doc["paths"]["/api/v1/applications/{name}/sync"]["post"]["parameters"][0]["name"]
                == "name"
        );
    }
}
