//! Single sign-on through an OpenID Connect issuer, configured as Argo CD
//! configures it (`oidc.config` and `url` in `argocd-cm`, the client secret
//! optionally in `argocd-secret`).
//!
//! - `GET /auth/login?return_url=` sends the browser to the issuer with an
//!   authorization code request: PKCE (S256), a `state` and a `nonce`, kept
//!   by this server for ten minutes and usable once.
//! - `GET /auth/callback?code&state` checks the state, exchanges the code
//!   with the PKCE verifier, verifies the ID token (signature against the
//!   issuer's keys, issuer, audience, expiry, nonce), and issues a gyro token
//!   for the user (subject: `email` if present, else `sub`; `groups` claim
//!   for RBAC). A browser gets it in the `argocd.token` cookie and is sent
//!   back to a same-origin `return_url`; the CLI (`gyro login --sso`) passes
//!   a loopback `return_url`, to which the token is handed by a form POST.
//! - `GET /api/v1/settings` tells clients whether SSO is configured.
//!
//! The settings are read from the cluster on each login call, so an edit
//! of `argocd-cm` or `argocd-secret` takes effect on the next login; the
//! issuer's discovery document and keys are fetched per login too, so a
//! key rotation at the issuer needs nothing from gyro.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;

pub use crate::session::TOKEN_COOKIE;
/// How long a login may take between `/auth/login` and `/auth/callback`.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);
/// Scopes asked for when `requestedScopes` is not set (Argo CD's default).
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "groups"];

/// `oidc.config` from `argocd-cm`, with the client secret resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub requested_scopes: Vec<String>,
    /// `requestedIDTokenClaims`, sent as the `claims` request parameter.
    pub requested_id_token_claims: Option<Value>,
    /// PEM certificates to trust for the issuer's TLS, beside the system's.
    pub root_ca: Option<String>,
}

/// The SSO settings: the OIDC config and gyro's external URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// `url` in `argocd-cm`, without a trailing slash.
    pub url: String,
    pub oidc: OidcConfig,
}

impl SsoSettings {
    /// Where the issuer sends the browser back: `<url>/auth/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/callback", self.url)
    }
}

/// `oidc.config` as Argo CD writes it (YAML, camelCase keys).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOidcConfig {
    #[serde(default)]
    name: Option<String>,
    issuer: Option<String>,
    #[serde(rename = "clientID")]
    client_id: Option<String>,
    client_secret: Option<String>,
    #[serde(default)]
    requested_scopes: Vec<String>,
    #[serde(rename = "requestedIDTokenClaims")]
    requested_id_token_claims: Option<Value>,
    #[serde(rename = "rootCA")]
    root_ca: Option<String>,
}

/// Reads the SSO settings from `argocd-cm`'s data and `argocd-secret`'s
/// (decoded) data. `Ok(None)` when no `oidc.config` is set; an error names
/// the key that is wrong.
pub fn parse_settings(
    cm: &BTreeMap<String, String>,
    secret: &BTreeMap<String, String>,
) -> Result<Option<SsoSettings>, String> {
    let Some(raw) = cm.get("oidc.config").filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let raw: RawOidcConfig = serde_saphyr::from_str(raw)
        .map_err(|e| format!("argocd-cm oidc.config is not valid YAML: {e}"))?;
    let issuer = raw
        .issuer
        .filter(|s| !s.is_empty())
        .ok_or("argocd-cm oidc.config has no issuer")?;
    let client_id = raw
        .client_id
        .filter(|s| !s.is_empty())
        .ok_or("argocd-cm oidc.config has no clientID")?;
    let client_secret = match raw.client_secret.filter(|s| !s.is_empty()) {
        None => None,
        Some(value) => Some(resolve_secret_ref(&value, secret)?),
    };
    let url = cm
        .get("url")
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .ok_or("argocd-cm has oidc.config but no url; SSO needs it for the redirect URI <url>/auth/callback")?;
    let parsed =
        url::Url::parse(&url).map_err(|e| format!("argocd-cm url {url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("argocd-cm url {url:?} must be http or https"));
    }
    let requested_scopes = if raw.requested_scopes.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect()
    } else {
        let mut scopes = raw.requested_scopes;
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_string());
        }
        scopes
    };
    Ok(Some(SsoSettings {
        url,
        oidc: OidcConfig {
            name: raw.name.unwrap_or_else(|| "SSO".to_string()),
            issuer,
            client_id,
            client_secret,
            requested_scopes,
            requested_id_token_claims: raw.requested_id_token_claims,
            root_ca: raw.root_ca.filter(|s| !s.trim().is_empty()),
        },
    }))
}

/// `$key` names a key of `argocd-secret` (Argo CD's syntax); any other
/// value is the secret itself.
fn resolve_secret_ref(value: &str, secret: &BTreeMap<String, String>) -> Result<String, String> {
    let Some(key) = value.strip_prefix('$') else {
        return Ok(value.to_string());
    };
    if key.contains(':') {
        return Err(format!(
            "argocd-cm oidc.config clientSecret {value:?} names another Secret; gyro reads only argocd-secret keys ($<key>)"
        ));
    }
    secret.get(key).cloned().ok_or_else(|| {
        format!(
            "argocd-cm oidc.config clientSecret names argocd-secret key {key:?}, which is not set"
        )
    })
}

/// Where the user goes after logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTo {
    /// A browser: the token goes into the cookie, then a redirect to this
    /// same-origin path (or URL).
    Browser(String),
    /// The CLI: the token is handed to this loopback URL.
    Cli(String),
}

/// Classifies `return_url` against gyro's external URL: empty is `/`; a
/// path, or an absolute URL of gyro's own origin, is a browser return; an
/// `http` URL on a loopback host (`127.0.0.1`, `localhost`, `[::1]`) is the
/// CLI; anything else is refused, so the login cannot be turned into an
/// open redirect or hand a token to another site.
pub fn return_to(return_url: Option<&str>, url: &str) -> Result<ReturnTo, String> {
    let raw = return_url.unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(ReturnTo::Browser("/".to_string()));
    }
    if raw.starts_with('/') {
        if raw.starts_with("//") || raw.contains('\\') || raw.chars().any(char::is_control) {
            return Err(format!(
                "return_url {raw:?} is not a path of this server (it must start with a single /)"
            ));
        }
        return Ok(ReturnTo::Browser(raw.to_string()));
    }
    let parsed =
        url::Url::parse(raw).map_err(|e| format!("return_url {raw:?} is not a URL: {e}"))?;
    let own = url::Url::parse(url).map_err(|e| format!("argocd-cm url {url:?}: {e}"))?;
    if parsed.origin() == own.origin() {
        return Ok(ReturnTo::Browser(raw.to_string()));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if parsed.scheme() == "http" && loopback && parsed.port().is_some() {
        return Ok(ReturnTo::Cli(raw.to_string()));
    }
    Err(format!(
        "return_url {raw:?} is neither on this server ({url}) nor a loopback http://127.0.0.1:<port>/ URL of the gyro CLI"
    ))
}

/// The RBAC subject of an SSO user: `email` when the ID token has one (as
/// Argo CD), else `sub`.
pub fn subject_of(email: Option<&str>, sub: &str) -> String {
    email.filter(|e| !e.is_empty()).unwrap_or(sub).to_string()
}

/// The `groups` claim of an ID token whose signature was verified: read
/// from its payload, since the standard claims have no such field. A single
/// string counts as one group; anything else as none.
pub fn groups_of(id_token: &str) -> Vec<String> {
    let Some(payload) = id_token.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    match claims.get("groups") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(g)) => vec![g.clone()],
        _ => Vec::new(),
    }
}

/// The `Set-Cookie` value for a browser's token: HttpOnly, SameSite=Lax,
/// Secure when gyro is served over TLS. A session cookie: the token inside
/// carries its own expiry.
pub fn token_cookie(token: &str, secure: bool) -> String {
    let mut cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The page that hands the token to the CLI: a form POSTed to the CLI's
/// loopback listener (a POST keeps the token out of the browser's history),
/// sent by script, or by a button without it.
pub fn handover_page(target: &str, token: &str) -> String {
    let target = html_escape(target);
    let token = html_escape(token);
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>gyro login</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{target}">
<input type="hidden" name="token" value="{token}">
<noscript><p>Logged in. Press the button to hand the session to the gyro CLI.</p></noscript>
<button type="submit">Continue to the gyro CLI</button>
</form>
</body></html>
"#
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A login started by `/auth/login`, waiting for its callback.
struct Pending {
    verifier: String,
    nonce: String,
    return_to: ReturnTo,
    started: Instant,
}

/// SSO's state: where the settings live, the logins under way, and who
/// issues gyro tokens.
pub struct Sso {
    client: kube::Client,
    namespace: String,
    auth: Arc<auth::Auth>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Sso {
    /// SSO for the gyro instance whose settings (`argocd-cm`,
    /// `argocd-secret`) are in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, auth: Arc<auth::Auth>) -> Arc<Self> {
        Arc::new(Self {
            client,
            namespace: namespace.to_string(),
            auth,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// The current settings, read from the cluster.
    pub async fn settings(&self) -> Result<(Option<String>, Option<SsoSettings>), ApiError> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let cm = cms
            .get_opt("argocd-cm")
            .await
            .map_err(|e| ApiError::internal(format!("reading argocd-cm: {e}")))?
            .and_then(|cm| cm.data)
            .unwrap_or_default();
        let url = cm.get("url").cloned();
        if !cm.contains_key("oidc.config") {
            return Ok((url, None));
        }
        let secret = secrets
            .get_opt("argocd-secret")
            .await
            .map_err(|e| ApiError::internal(format!("reading argocd-secret: {e}")))?;
        let mut data = BTreeMap::new();
        if let Some(secret) = secret {
            for (k, v) in secret.data.unwrap_or_default() {
                data.insert(k, String::from_utf8_lossy(&v.0).into_owned());
            }
            data.extend(secret.string_data.unwrap_or_default());
        }
        let settings = parse_settings(&cm, &data).map_err(|message| {
            tracing::warn!(%message, "SSO settings are invalid");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        })?;
        Ok((url, settings))
    }

    async fn configured(&self) -> Result<SsoSettings, ApiError> {
        self.settings().await?.1.ok_or_else(|| {
            ApiError::not_found("single sign-on is not configured: argocd-cm has no oidc.config")
        })
    }

    fn remember(&self, state: String, pending: Pending) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, p| p.started.elapsed() < LOGIN_TIMEOUT);
        map.insert(state, pending);
    }

    /// Takes the login `state` belongs to: each state works once.
    fn take(&self, state: &str) -> Result<Pending, ApiError> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let pending = map.remove(state).ok_or_else(|| {
            ApiError::bad_request(
                "unknown or already used login state; start again from /auth/login",
            )
        })?;
        if pending.started.elapsed() >= LOGIN_TIMEOUT {
            return Err(ApiError::bad_request(format!(
                "the login expired (it must finish within {} minutes); start again from /auth/login",
                LOGIN_TIMEOUT.as_secs() / 60
            )));
        }
        Ok(pending)
    }
}

/// The HTTP client for talking to the issuer: no redirects followed (the
/// OAuth 2 endpoints never need them), the configured root CA trusted.
fn http_client(oidc: &OidcConfig) -> Result<reqwest::Client, ApiError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    if let Some(pem) = &oidc.root_ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("argocd-cm oidc.config rootCA is not PEM certificates: {e}"),
            )
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ApiError::internal(format!("building the HTTP client for the issuer: {e}")))
}

type Client = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Discovers the issuer (metadata and signing keys) and builds the client.
async fn discover(settings: &SsoSettings, http: &reqwest::Client) -> Result<Client, ApiError> {
    let oidc = &settings.oidc;
    let bad_gateway = |what: String| ApiError::new(StatusCode::BAD_GATEWAY, what);
    let issuer = IssuerUrl::new(oidc.issuer.clone())
        .map_err(|e| bad_gateway(format!("issuer {:?} is not a URL: {e}", oidc.issuer)))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| {
            bad_gateway(format!(
                "discovering OIDC issuer {}: {}",
                oidc.issuer,
                error_chain(&e)
            ))
        })?;
    let redirect = RedirectUrl::new(settings.redirect_uri())
        .map_err(|e| bad_gateway(format!("redirect URI {}: {e}", settings.redirect_uri())))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(oidc.client_id.clone()),
        oidc.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    return_url: Option<String>,
}

/// `GET /auth/login`: to the issuer.
async fn login(
    AxumState(sso): AxumState<Arc<Sso>>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let settings = sso.configured().await?;
    let return_to =
        return_to(query.return_url.as_deref(), &settings.url).map_err(ApiError::bad_request)?;
    let http = http_client(&settings.oidc)?;
    let client = discover(&settings, &http).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in settings
        .oidc
        .requested_scopes
        .iter()
        .filter(|s| *s != "openid")
    {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    if let Some(claims) = &settings.oidc.requested_id_token_claims {
        request = request.add_extra_param("claims", json!({ "id_token": claims }).to_string());
    }
    let (url, state, nonce) = request.url();
    sso.remember(
        state.secret().clone(),
        Pending {
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            return_to,
            started: Instant::now(),
        },
    );
    tracing::info!(issuer = %settings.oidc.issuer, "SSO login started");
    Ok(redirect(url.as_str()))
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => ApiError::bad_request(format!("cannot redirect to {location:?}")).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback`: the issuer's answer.
async fn callback(
    AxumState(sso): AxumState<Arc<Sso>>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("the callback has no state parameter"))?;
    let pending = sso.take(state)?;
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        tracing::info!(%error, %detail, "SSO login refused by the issuer");
        return Err(ApiError::unauthenticated(format!(
            "the issuer refused the login: {error} {detail}"
        )));
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("the callback has no code parameter"))?;
    let settings = sso.configured().await?;
    let http = http_client(&settings.oidc)?;
    let client = discover(&settings, &http).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the issuer has no token endpoint: {e}"),
            )
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&http)
        .await
        .map_err(|e| {
            ApiError::unauthenticated(format!(
                "the issuer did not accept the authorization code: {}",
                error_chain(&e)
            ))
        })?;
    let id_token = openidconnect::TokenResponse::id_token(&token)
        .ok_or_else(|| ApiError::unauthenticated("the issuer's answer has no ID token"))?;
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &Nonce::new(pending.nonce))
        .map_err(|e| {
            ApiError::unauthenticated(format!("the ID token is not valid: {}", error_chain(&e)))
        })?;
    let subject = subject_of(
        claims.email().map(|e| e.as_str()),
        claims.subject().as_str(),
    );
    let groups = groups_of(&id_token.to_string());
    tracing::info!(%subject, ?groups, "SSO login");
    // The session lives `users.session.duration`, as a local login's.
    let gyro_token = sso
        .auth
        .issue(&subject, groups, auth::TokenKind::Sso, None)?;
    match pending.return_to {
        ReturnTo::Browser(location) => {
            let secure = settings.url.starts_with("https://");
            let cookie = token_cookie(&gyro_token, secure);
            let mut response = redirect(&location);
            let value = HeaderValue::from_str(&cookie)
                .map_err(|_| ApiError::internal("the issued token is not a valid cookie value"))?;
            response.headers_mut().insert(header::SET_COOKIE, value);
            Ok(response)
        }
        ReturnTo::Cli(target) => Ok((
            [(header::CACHE_CONTROL, "no-store")],
            Html(handover_page(&target, &gyro_token)),
        )
            .into_response()),
    }
}

/// `oidcConfig` in the settings answer.
#[derive(Debug, Serialize)]
struct OidcSettings {
    name: String,
    issuer: String,
    #[serde(rename = "clientID")]
    client_id: String,
    scopes: Vec<String>,
}

/// `GET /api/v1/settings` (no authentication, as Argo CD).
async fn settings(AxumState(sso): AxumState<Arc<Sso>>) -> Result<Response, ApiError> {
    let (url, settings) = sso.settings().await?;
    let oidc = settings.map(|s| OidcSettings {
        name: s.oidc.name,
        issuer: s.oidc.issuer,
        client_id: s.oidc.client_id,
        scopes: s.oidc.requested_scopes,
    });
    Ok(axum::Json(json!({ "url": url.unwrap_or_default(), "oidcConfig": oidc })).into_response())
}

/// The SSO routes, for any router state (they carry their own).
pub fn routes<S: Clone + Send + Sync + 'static>(sso: Arc<Sso>) -> Router<S> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/api/v1/settings", get(settings))
        .with_state(sso)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CONFIG: &str = "name: Dex\nissuer: https://dex.example.com/dex\nclientID: gyro\nclientSecret: $oidc.clientSecret\nrequestedScopes: [email, groups]\nrequestedIDTokenClaims: {groups: {essential: true}}\n";

    #[test]
    fn settings_resolve_the_secret_and_add_openid() {
        let cm = map(&[
            ("oidc.config", CONFIG),
            ("url", "https://gyro.example.com/"),
        ]);
        let secret = map(&[("oidc.clientSecret", "s3cret")]);
        let s = parse_settings(&cm, &secret).unwrap().unwrap();
        assert_eq!(s.url, "https://gyro.example.com");
        assert_eq!(s.redirect_uri(), "https://gyro.example.com/auth/callback");
        assert_eq!(s.oidc.name, "Dex");
        assert_eq!(s.oidc.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(s.oidc.requested_scopes, ["openid", "email", "groups"]);
        assert_eq!(
            s.oidc.requested_id_token_claims,
            Some(json!({"groups": {"essential": true}}))
        );
    }

    #[test]
    fn settings_default_scopes_and_literal_secret() {
        let cfg = "issuer: https://i\nclientID: c\nclientSecret: plain\n";
        let cm = map(&[("oidc.config", cfg), ("url", "https://g")]);
        let s = parse_settings(&cm, &BTreeMap::new()).unwrap().unwrap();
        assert_eq!(s.oidc.client_secret.as_deref(), Some("plain"));
        assert_eq!(s.oidc.requested_scopes, DEFAULT_SCOPES);
    }

    #[test]
    fn settings_errors_name_the_key() {
        let none = parse_settings(&map(&[("url", "https://g")]), &BTreeMap::new()).unwrap();
        assert_eq!(none, None);
        let err = |cfg: &str, url: Option<&str>| {
            let mut cm = map(&[("oidc.config", cfg)]);
            if let Some(u) = url {
                cm.insert("url".into(), u.into());
            }
            parse_settings(&cm, &BTreeMap::new()).unwrap_err()
        };
        assert!(err("clientID: c\n", Some("https://g")).contains("no issuer"));
        assert!(err("issuer: https://i\n", Some("https://g")).contains("no clientID"));
        assert!(err("issuer: https://i\nclientID: c\n", None).contains("no url"));
        assert!(
            err(
                "issuer: https://i\nclientID: c\nclientSecret: $missing\n",
                Some("https://g")
            )
            .contains("\"missing\"")
        );
        assert!(
            err(
                "issuer: https://i\nclientID: c\nclientSecret: $other:key\n",
                Some("https://g")
            )
            .contains("another Secret")
        );
        assert!(err("issuer: [", Some("https://g")).contains("not valid YAML"));
        assert!(err("issuer: https://i\nclientID: c\n", Some("ftp://g")).contains("http or https"));
    }

    #[test]
    fn return_urls() {
        let url = "https://gyro.example.com";
        let browser = |s: &str| ReturnTo::Browser(s.to_string());
        assert_eq!(return_to(None, url), Ok(browser("/")));
        assert_eq!(
            return_to(Some("/applications?x=1"), url),
            Ok(browser("/applications?x=1"))
        );
        assert_eq!(
            return_to(Some("https://gyro.example.com/a"), url),
            Ok(browser("https://gyro.example.com/a"))
        );
        for cli in [
            "http://127.0.0.1:8085/auth/callback",
            "http://localhost:8085/x",
            "http://[::1]:8085/",
        ] {
            assert_eq!(
                return_to(Some(cli), url),
                Ok(ReturnTo::Cli(cli.to_string()))
            );
        }
        for bad in [
            "//evil.example.com/",
            "/\\evil.example.com",
            "https://evil.example.com/",
            "http://gyro.example.com/",
            "https://127.0.0.1:8085/",
            "http://127.0.0.1/",
            "http://10.0.0.1:8085/",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(return_to(Some(bad), url).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn subject_prefers_email() {
        assert_eq!(subject_of(Some("a@b.c"), "123"), "a@b.c");
        assert_eq!(subject_of(Some(""), "123"), "123");
        assert_eq!(subject_of(None, "123"), "123");
    }

    #[test]
    fn groups_from_the_payload() {
        let token = |claims: Value| {
            let payload =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("h.{payload}.s")
        };
        assert_eq!(groups_of(&token(json!({"groups": ["a", "b"]}))), ["a", "b"]);
        assert_eq!(groups_of(&token(json!({"groups": "a"}))), ["a"]);
        assert!(groups_of(&token(json!({"sub": "x"}))).is_empty());
        assert!(groups_of("garbage").is_empty());
        assert!(groups_of("a.!!!.c").is_empty());
    }

    #[test]
    fn cookie_flags() {
        assert_eq!(
            token_cookie("t", false),
            "argocd.token=t; Path=/; HttpOnly; SameSite=Lax"
        );
        assert!(token_cookie("t", true).ends_with("; Secure"));
    }

    #[test]
    fn handover_page_escapes() {
        let page = handover_page("http://127.0.0.1:1/?a=1&b=\"", "tok<en>");
        assert!(page.contains(r#"action="http://127.0.0.1:1/?a=1&amp;b=&quot;""#));
        assert!(page.contains(r#"value="tok&lt;en&gt;""#));
    }
}
