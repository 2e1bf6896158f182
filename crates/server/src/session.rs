//! Sessions and local accounts over HTTP, on Argo CD's paths: log in
//! (`POST /api/v1/session`), log out (`DELETE /api/v1/session`), who am I
//! (`GET /api/v1/session/userinfo`), the accounts (`GET /api/v1/account`),
//! password change (`PUT /api/v1/account/password`) and API keys
//! (`POST|DELETE /api/v1/account/{name}/token[/{id}]`).
//!
//! Also the [`Principal`] extractor every authenticated handler takes: it
//! reads `Authorization: Bearer <token>` or the `argocd.token` cookie and
//! has [`auth::Auth::verify`] check it. The checking itself lives in the
//! `auth` crate; this module only speaks HTTP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use auth::{AuthError, Claims, TokenKind};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use k8s_openapi::api::core::v1::ObjectReference;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::audit;
use crate::principal::PrincipalKind;
use crate::sso::token_cookie;
use crate::{ApiError, Principal, State};

/// The cookie Argo CD's UI keeps its session token in.
pub const TOKEN_COOKIE: &str = "argocd.token";

/// The session and account routes.
pub fn routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/api/v1/session",
            post(create_session).delete(delete_session),
        )
        .route("/api/v1/session/userinfo", get(user_info))
        .route("/api/v1/account", get(list_accounts))
        .route("/api/v1/account/password", put(update_password))
        .route("/api/v1/account/{name}/token", post(create_token))
        .route("/api/v1/account/{name}/token/{id}", delete(delete_token))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = axum::http::StatusCode::from_u16(e.status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %e, "authentication failed on gyro's side");
        }
        ApiError::new(status, e.to_string())
    }
}

/// The RBAC view of a verified token.
pub fn principal_of(claims: Claims) -> Principal {
    let kind = match claims.kind {
        TokenKind::Local | TokenKind::ApiKey => PrincipalKind::Local,
        TokenKind::Sso => PrincipalKind::Sso,
        TokenKind::ProjectRole => PrincipalKind::ProjectRole,
    };
    Principal {
        subject: claims.subject,
        groups: claims.groups,
        kind,
        token_id: Some(claims.token_id),
    }
}

/// The session token of a request: the bearer token, else the
/// `argocd.token` cookie.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    if let Some(token) = bearer {
        return Some(token.to_string());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == TOKEN_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

async fn verified(headers: &HeaderMap, state: &State) -> Result<Claims, ApiError> {
    let token = token_of(headers).ok_or_else(|| {
        ApiError::unauthenticated(
            "no session token: log in first (send `Authorization: Bearer <token>` or the argocd.token cookie)",
        )
    })?;
    Ok(state.auth.verify(&token).await?)
}

impl FromRequestParts<Arc<State>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, ApiError> {
        verified(&parts.headers, state).await.map(principal_of)
    }
}

/// The verified claims themselves, for handlers that need more than the
/// principal (logout needs the expiry).
struct Session(Claims);

impl FromRequestParts<Arc<State>> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, ApiError> {
        verified(&parts.headers, state).await.map(Session)
    }
}

/// The client's address, for login rate limits (unspecified when the
/// server was not started with connect info).
struct Peer(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

/// A JSON body whose errors are 400s in the API's error shape, naming
/// what is wrong (axum's own rejection answers plain text).
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "the request body must be JSON (Content-Type: application/json)",
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid request body: {}",
                e.body_text()
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginRequest {
    username: String,
    password: String,
}

async fn create_session(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Peer(peer): Peer,
    Body(req): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    if req.username.is_empty() {
        return Err(ApiError::bad_request("username is required"));
    }
    let token = state.auth.login(&req.username, &req.password, peer).await?;
    let mut response = Json(json!({ "token": token })).into_response();
    if let Ok(c) = HeaderValue::from_str(&token_cookie(&token, state.secure_cookies)) {
        response.headers_mut().insert(SET_COOKIE, c);
    }
    Ok(response)
}

async fn delete_session(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Session(claims): Session,
) -> Result<Response, ApiError> {
    state.auth.revoke(&claims).await?;
    // The revocation is kept in a Secret of gyro's own, no object a user
    // would look at: a log line only.
    audit::log(&claims.subject, "logout", "session", "ok");
    let mut response = Json(json!({})).into_response();
    let expired = format!("{}; Max-Age=0", token_cookie("", state.secure_cookies));
    if let Ok(c) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(SET_COOKIE, c);
    }
    Ok(response)
}

async fn user_info(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    headers: HeaderMap,
) -> Json<Value> {
    // As Argo CD: not logged in is an answer here, not an error.
    match verified(&headers, &state).await {
        Ok(claims) => Json(json!({
            "loggedIn": true,
            "username": claims.subject,
            "iss": auth::ISSUER,
            "groups": claims.groups,
        })),
        Err(_) => Json(json!({ "loggedIn": false })),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountView {
    name: String,
    enabled: bool,
    capabilities: Vec<auth::Capability>,
    tokens: Vec<TokenView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    id: String,
    issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

async fn list_accounts(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    principal: Principal,
) -> Json<Value> {
    // As every list: what the caller may not `get` is left out.
    let items: Vec<AccountView> = state
        .auth
        .accounts()
        .into_iter()
        .filter(|a| {
            own_account(&principal, &a.name)
                || state.allowed(&principal, "accounts", "get", &a.name)
        })
        .map(|a| AccountView {
            name: a.name,
            enabled: a.enabled,
            capabilities: a.capabilities,
            tokens: a
                .tokens
                .into_iter()
                .map(|t| TokenView {
                    id: t.id,
                    issued_at: t.iat,
                    expires_at: (t.exp != 0).then_some(t.exp),
                })
                .collect(),
        })
        .collect();
    Json(json!({ "items": items }))
}

/// Whether `principal` may manage account `name`: its own, or any that
/// RBAC lets it update (`accounts, update, <name>`).
fn may_manage(state: &State, principal: &Principal, name: &str) -> Result<(), ApiError> {
    if own_account(principal, name) {
        return Ok(());
    }
    state.enforce(principal, "accounts", "update", name)
}

/// A local account manages itself (its password, its API keys) without
/// an RBAC rule, as in Argo CD.
fn own_account(principal: &Principal, name: &str) -> bool {
    principal.kind == PrincipalKind::Local && principal.subject == name
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordRequest {
    #[serde(default)]
    name: String,
    current_password: String,
    new_password: String,
}

async fn update_password(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    principal: Principal,
    Peer(peer): Peer,
    Body(req): Body<PasswordRequest>,
) -> Result<Json<Value>, ApiError> {
    if principal.kind != PrincipalKind::Local {
        return Err(ApiError::bad_request(
            "only local accounts have a password to change",
        ));
    }
    let name = if req.name.is_empty() {
        principal.subject.clone()
    } else {
        req.name
    };
    may_manage(&state, &principal, &name)?;
    state
        .auth
        .change_password(
            peer,
            &principal.subject,
            &req.current_password,
            &name,
            &req.new_password,
        )
        .await?;
    audit::record(
        &state,
        &principal.subject,
        "update",
        &settings_secret(&state),
        audit::UPDATED,
        format!(
            "{} changed the password of account {name}",
            principal.subject
        ),
    )
    .await;
    Ok(Json(json!({})))
}

/// `argocd-secret`, where account passwords and API keys are kept: the
/// object their audit Events are recorded on.
fn settings_secret(state: &State) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Secret".to_string()),
        namespace: Some(state.namespace.clone()),
        name: Some("argocd-secret".to_string()),
        ..Default::default()
    }
}

/// The AppProject `name`, where its role tokens are recorded.
fn project_ref(state: &State, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".to_string()),
        kind: Some("AppProject".to_string()),
        namespace: Some(state.namespace.clone()),
        name: Some(name.to_string()),
        ..Default::default()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    /// Seconds; 0 or absent: never expires. grpc-gateway writes int64 as
    /// a string, so both are accepted.
    #[serde(default, deserialize_with = "int64")]
    expires_in: i64,
    #[serde(default)]
    id: Option<String>,
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Number(i64),
        Text(String),
    }
    match Int::deserialize(d)? {
        Int::Number(n) => Ok(n),
        Int::Text(s) => s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("expiresIn: {s:?} is not a number of seconds"))
        }),
    }
}

fn ttl(expires_in: i64) -> Result<Option<Duration>, ApiError> {
    match u64::try_from(expires_in) {
        Ok(0) => Ok(None),
        Ok(secs) => Ok(Some(Duration::from_secs(secs))),
        Err(_) => Err(ApiError::bad_request(format!(
            "expiresIn must not be negative, got {expires_in}"
        ))),
    }
}

async fn create_token(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    principal: Principal,
    Path(name): Path<String>,
    Body(req): Body<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    may_manage(&state, &principal, &name)?;
    let token = state
        .auth
        .create_api_key(&name, req.id.as_deref(), ttl(req.expires_in)?)
        .await?;
    audit::record(
        &state,
        &principal.subject,
        "create",
        &settings_secret(&state),
        audit::UPDATED,
        format!(
            "{} created an API key for account {name}",
            principal.subject
        ),
    )
    .await;
    Ok(Json(json!({ "token": token })))
}

async fn delete_token(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    principal: Principal,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    may_manage(&state, &principal, &name)?;
    state.auth.delete_api_key(&name, &id).await?;
    audit::record(
        &state,
        &principal.subject,
        "delete",
        &settings_secret(&state),
        audit::UPDATED,
        format!(
            "{} deleted API key {id} of account {name}",
            principal.subject
        ),
    )
    .await;
    Ok(Json(json!({})))
}

/// The project role token routes, Argo CD's
/// `POST /api/v1/projects/{project}/roles/{role}/token` (`{"expiresIn",
/// "id"}` -> `{"token"}`) and `DELETE .../token/{iat}`. Separate from
/// [`routes`] because the projects API owns the `/api/v1/projects` paths:
/// the router merges these unless it serves them itself.
pub fn project_token_routes() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/api/v1/projects/{project}/roles/{role}/token",
            post(create_project_token),
        )
        .route(
            "/api/v1/projects/{project}/roles/{role}/token/{iat}",
            delete(delete_project_token),
        )
}

/// Project role tokens are issued and revoked by whoever may update the
/// project (Argo CD's rule).
fn may_manage_project(state: &State, principal: &Principal, project: &str) -> Result<(), ApiError> {
    state.enforce(principal, "projects", "update", project)
}

async fn create_project_token(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    principal: Principal,
    Path((project, role)): Path<(String, String)>,
    Body(req): Body<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    crate::applications::check_name("project", &project)?;
    may_manage_project(&state, &principal, &project)?;
    let (token, _) = state
        .auth
        .issue_project_token(&project, &role, req.id.as_deref(), ttl(req.expires_in)?)
        .await?;
    audit::record(
        &state,
        &principal.subject,
        "create",
        &project_ref(&state, &project),
        audit::UPDATED,
        format!("{} created a token for role {role}", principal.subject),
    )
    .await;
    Ok(Json(json!({ "token": token })))
}

async fn delete_project_token(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    principal: Principal,
    Path((project, role, iat)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    crate::applications::check_name("project", &project)?;
    may_manage_project(&state, &principal, &project)?;
    let iat: i64 = iat.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "token {iat:?}: expected the token's issued-at time in Unix seconds"
        ))
    })?;
    state
        .auth
        .delete_project_token(&project, &role, iat)
        .await?;
    audit::record(
        &state,
        &principal.subject,
        "delete",
        &project_ref(&state, &project),
        audit::UPDATED,
        format!("{} deleted token {iat} of role {role}", principal.subject),
    )
    .await;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn tokens_come_from_bearer_or_cookie() {
        assert_eq!(
            token_of(&headers(&[("authorization", "Bearer abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_of(&headers(&[("authorization", "bearer  abc ")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_of(&headers(&[(
                "cookie",
                "theme=dark; argocd.token=xyz; other=1"
            )]))
            .as_deref(),
            Some("xyz")
        );
        // The header wins over the cookie.
        assert_eq!(
            token_of(&headers(&[
                ("authorization", "Bearer abc"),
                ("cookie", "argocd.token=xyz")
            ]))
            .as_deref(),
            Some("abc")
        );
        assert_eq!(token_of(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(token_of(&headers(&[("cookie", "argocd.token=")])), None);
        assert_eq!(token_of(&HeaderMap::new()), None);
    }

    #[test]
    fn auth_errors_keep_their_status() {
        let e: ApiError = AuthError::BadCredentials.into();
        assert_eq!(e.status.as_u16(), 401);
        assert_eq!(e.message, "Invalid username or password");
        let e: ApiError = AuthError::RateLimited {
            subject: "user \"admin\"".into(),
            retry_after_secs: 42,
        }
        .into();
        assert_eq!(e.status.as_u16(), 429);
        assert!(e.message.contains("42 seconds"), "{}", e.message);
    }

    #[test]
    fn expires_in_reads_numbers_and_strings() {
        let r: TokenRequest = serde_json::from_str(r#"{"expiresIn": 60}"#).unwrap();
        assert_eq!(r.expires_in, 60);
        let r: TokenRequest = serde_json::from_str(r#"{"expiresIn": "60", "id": "ci"}"#).unwrap();
        assert_eq!((r.expires_in, r.id.as_deref()), (60, Some("ci")));
        let r: TokenRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r.expires_in, 0);
        assert!(serde_json::from_str::<TokenRequest>(r#"{"expiresIn": "soon"}"#).is_err());
        assert!(ttl(-1).is_err());
        assert_eq!(ttl(0).unwrap(), None);
    }

    #[test]
    fn a_local_account_manages_itself() {
        let p = |subject: &str, kind| Principal {
            subject: subject.into(),
            groups: vec![],
            kind,
            token_id: None,
        };
        assert!(own_account(&p("alice", PrincipalKind::Local), "alice"));
        assert!(!own_account(&p("bob", PrincipalKind::Local), "alice"));
        assert!(!own_account(&p("alice", PrincipalKind::Sso), "alice"));
    }
}
