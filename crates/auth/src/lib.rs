//! gyro's authentication: who is calling, proven by a password or a token.
//!
//! Local accounts live where Argo CD keeps them (`argocd-cm` declares
//! them, `argocd-secret` holds bcrypt hashes, `server.secretkey` and API
//! keys); the built-in `admin` gets a random initial password published in
//! `argocd-initial-admin-secret` on first start. A login answers a JWT
//! (HS256, `server.secretkey`) that expires after `users.session.duration`;
//! a token is refused once expired, revoked (logout, recorded in the
//! Secret `gyro-revoked-tokens` so that every replica and restart sees it),
//! issued before its account's password changed, or, for a project role
//! token, no longer listed in its AppProject. Failed logins are rate
//! limited per user name and per client address.
//!
//! [`Auth`] is the entry point. It holds no HTTP code: the API server
//! (crate `server`) maps [`AuthError`]s to responses. It does not decide
//! what a caller may do: that is RBAC's (crate `rbac`).

mod accounts;
mod clock;
mod cluster;
pub mod duration;
mod error;
mod password;
mod project;
pub mod ratelimit;
mod revocation;
mod token;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{AppProject, JwtToken};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

pub use accounts::{Account, AccountToken, Capability};
pub use clock::{Clock, FakeClock, SystemClock};
pub use error::AuthError;
pub use ratelimit::Limits;
pub use revocation::SECRET_NAME as REVOKED_TOKENS_SECRET;
pub use token::{Claims, ISSUER, TokenKind};

pub use cluster::{CONFIG_MAP, INITIAL_ADMIN_SECRET, SECRET};

/// How long [`Auth::start`] waits for its first read of the settings.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`Auth::start_with`] may change from the defaults.
pub struct Options {
    /// The clock tokens and rate limits are decided on.
    pub clock: Arc<dyn Clock>,
    /// Login rate limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            limits: Limits::from_env(),
        }
    }
}

/// Authentication against the settings of one namespace, kept current by
/// watches (stopped when the `Auth` is dropped).
pub struct Auth {
    client: Client,
    namespace: String,
    clock: Arc<dyn Clock>,
    cache: Arc<cluster::Cache>,
    limiter: Mutex<ratelimit::RateLimiter>,
    watches: Vec<tokio::task::AbortHandle>,
}

impl Drop for Auth {
    fn drop(&mut self) {
        for w in &self.watches {
            w.abort();
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Starts authentication for `namespace`: creates `server.secretkey`
    /// and the initial admin password if missing, and watches `argocd-cm`,
    /// `argocd-secret` and `gyro-revoked-tokens`. Returns once they are
    /// read.
    pub async fn start(client: Client, namespace: &str) -> Result<Arc<Auth>, AuthError> {
        Self::start_with(client, namespace, Options::default()).await
    }

    /// [`Auth::start`] with a clock and limits of the caller's choosing.
    pub async fn start_with(
        client: Client,
        namespace: &str,
        options: Options,
    ) -> Result<Arc<Auth>, AuthError> {
        let secret = cluster::bootstrap(&client, namespace, options.clock.now()).await?;
        let cache = Arc::new(cluster::Cache::default());
        cluster::store_secret(&cache.secret, &secret);
        let mut ready = Vec::new();
        let mut watches = Vec::new();
        {
            let (tx, rx) = watch::channel(false);
            ready.push(rx);
            watches.push(cluster::spawn_watch::<ConfigMap, _>(
                Api::namespaced(client.clone(), namespace),
                CONFIG_MAP,
                cache.clone(),
                |c| &c.config,
                cluster::config_data,
                tx,
            ));
        }
        for (name, pick) in [
            (
                SECRET,
                (|c| &c.secret) as fn(&cluster::Cache) -> &std::sync::RwLock<_>,
            ),
            (revocation::SECRET_NAME, |c| &c.revoked),
        ] {
            let (tx, rx) = watch::channel(false);
            ready.push(rx);
            watches.push(cluster::spawn_watch::<Secret, _>(
                Api::namespaced(client.clone(), namespace),
                name,
                cache.clone(),
                pick,
                cluster::secret_data,
                tx,
            ));
        }
        let auth = Arc::new(Auth {
            client,
            namespace: namespace.to_string(),
            clock: options.clock,
            cache,
            limiter: Mutex::new(ratelimit::RateLimiter::new(options.limits)),
            watches,
        });
        let all_ready = async {
            for mut rx in ready {
                rx.wait_for(|r| *r).await.map_err(|_| {
                    AuthError::Cluster("a settings watch stopped before its first read".into())
                })?;
            }
            Ok::<_, AuthError>(())
        };
        tokio::time::timeout(START_TIMEOUT, all_ready)
            .await
            .map_err(|_| {
                AuthError::Cluster(format!(
                    "could not read {CONFIG_MAP} and {SECRET} in namespace {namespace} within {}s",
                    START_TIMEOUT.as_secs()
                ))
            })??;
        info!(namespace, "authentication started");
        Ok(auth)
    }

    /// The namespace whose settings are used.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The current time of this `Auth`'s clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    fn settings(&self) -> accounts::Settings {
        self.cache.settings()
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, ratelimit::RateLimiter> {
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every local account.
    pub fn accounts(&self) -> Vec<Account> {
        self.settings().accounts()
    }

    /// The local account `name`.
    pub fn account(&self, name: &str) -> Option<Account> {
        self.settings().account(name)
    }

    /// `users.session.duration` of `argocd-cm`, in seconds (default 24h).
    pub fn session_duration(&self) -> i64 {
        self.settings().session_duration()
    }

    /// Logs `username` in with `password` from `peer`: a session token,
    /// or [`AuthError::BadCredentials`] (the same for unknown, disabled
    /// and wrong) or [`AuthError::RateLimited`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<String, AuthError> {
        let now = self.now();
        self.limiter().check(username, peer, now)?;
        let account = self
            .account(username)
            .filter(|a| a.enabled && a.can(Capability::Login));
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let given = password.to_string();
        // bcrypt takes tens of milliseconds on purpose: off the runtime.
        let matches =
            tokio::task::spawn_blocking(move || password::verify(&given, hash.as_deref()))
                .await
                .unwrap_or(false);
        if !matches || account.is_none() {
            self.limiter().record_failure(username, peer, now);
            warn!(user = username, peer = %peer, "login failed");
            return Err(AuthError::BadCredentials);
        }
        self.limiter().record_success(username);
        info!(user = username, peer = %peer, "logged in");
        self.issue(username, Vec::new(), TokenKind::Local, None)
    }

    /// Signs a token for `subject` (the oidc part issues SSO sessions with
    /// it). `ttl` `None` means `users.session.duration`.
    pub fn issue(
        &self,
        subject: &str,
        groups: Vec<String>,
        kind: TokenKind,
        ttl: Option<Duration>,
    ) -> Result<String, AuthError> {
        let now = self.now();
        let ttl = ttl.map_or_else(
            || self.session_duration(),
            |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        );
        let claims = Claims {
            subject: subject.to_string(),
            groups,
            kind,
            token_id: password::random_id(),
            issued_at: now,
            expires_at: Some(now.saturating_add(ttl)),
        };
        self.sign(&claims)
    }

    fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let settings = self.settings();
        let key = settings.signing_key().ok_or_else(missing_key)?;
        token::encode(key, claims)
    }

    /// Checks `token`: signature, expiry, revocation and, by kind, the
    /// account (still enabled, password unchanged since), the API key or
    /// the project role token still listed.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let now = self.now();
        let settings = self.settings();
        let key = settings.signing_key().ok_or_else(missing_key)?;
        let claims = token::decode(key, token, now)?;
        if revocation::is_revoked(
            &revocation::parse(&cluster::read(&self.cache.revoked).data),
            &claims.token_id,
        ) {
            return Err(AuthError::Revoked("logged out".into()));
        }
        match claims.kind {
            TokenKind::Local => {
                let account = settings
                    .account(&claims.subject)
                    .filter(|a| a.enabled)
                    .ok_or_else(|| {
                        AuthError::Revoked(format!(
                            "account {} is disabled or no longer exists",
                            claims.subject
                        ))
                    })?;
                if account
                    .password_mtime
                    .is_some_and(|mtime| claims.issued_at < mtime)
                {
                    return Err(AuthError::Revoked(format!(
                        "the password of account {} changed after the token was issued",
                        claims.subject
                    )));
                }
            }
            TokenKind::ApiKey => {
                let account = settings
                    .account(&claims.subject)
                    .filter(|a| a.enabled && a.can(Capability::ApiKey))
                    .ok_or_else(|| {
                        AuthError::Revoked(format!(
                            "account {} is disabled, lacks the apiKey capability or no longer exists",
                            claims.subject
                        ))
                    })?;
                if !account.tokens.iter().any(|t| t.id == claims.token_id) {
                    return Err(AuthError::Revoked(format!(
                        "API key {} of account {} was deleted",
                        claims.token_id, claims.subject
                    )));
                }
            }
            TokenKind::ProjectRole => {
                let (project, role) = claims.project_role().ok_or_else(|| {
                    AuthError::InvalidToken("a project token without its project and role".into())
                })?;
                let listed = self.project(project).await?.is_some_and(|p| {
                    project::is_listed(&p, role, &claims.token_id, claims.issued_at)
                });
                if !listed {
                    return Err(AuthError::Revoked(format!(
                        "the token is no longer listed in project {project} role {role}"
                    )));
                }
            }
            TokenKind::Sso => {}
        }
        Ok(claims)
    }

    /// Revokes the token `claims` came from (logout).
    pub async fn revoke(&self, claims: &Claims) -> Result<(), AuthError> {
        let jti = claims.token_id.clone();
        if !revocation::valid_key(&jti) {
            return Err(AuthError::BadRequest(format!(
                "token id {jti:?} cannot be recorded as revoked"
            )));
        }
        let now = self.now();
        let exp = claims.expires_at.unwrap_or(0);
        let secret = cluster::update_secret(
            &self.client,
            &self.namespace,
            revocation::SECRET_NAME,
            |data| {
                let mut changes: BTreeMap<String, Option<Vec<u8>>> =
                    revocation::expired(&revocation::parse(data), now)
                        .into_iter()
                        .map(|k| (k, None))
                        .collect();
                changes.insert(jti.clone(), Some(exp.to_string().into_bytes()));
                Ok(changes)
            },
        )
        .await?;
        cluster::store_secret(&self.cache.revoked, &secret);
        info!(subject = %claims.subject, token = %jti, "token revoked");
        Ok(())
    }

    async fn project(&self, name: &str) -> Result<Option<AppProject>, AuthError> {
        let api: Api<AppProject> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(name)
            .await
            .map_err(|e| AuthError::cluster(&format!("reading AppProject {name}"), e))
    }

    /// Issues a token for `role` of `project`, recorded in the AppProject
    /// (id: `id` or a random one; `ttl` `None`: never expires). Returns
    /// the token and its record.
    pub async fn issue_project_token(
        &self,
        project: &str,
        role: &str,
        id: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<(String, JwtToken), AuthError> {
        let api: Api<AppProject> = Api::namespaced(self.client.clone(), &self.namespace);
        let id = match id {
            Some(id) if !id.trim().is_empty() => id.to_string(),
            _ => password::random_id(),
        };
        for _ in 0..8 {
            let mut p = self
                .project(project)
                .await?
                .ok_or_else(|| AuthError::NotFound(format!("project {project} not found")))?;
            let now = self.now();
            let exp = ttl
                .filter(|d| !d.is_zero())
                .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
            let record = JwtToken {
                iat: now,
                exp,
                id: Some(id.clone()),
            };
            project::add_token(&mut p, role, record.clone())?;
            let claims = Claims {
                subject: format!("proj:{project}:{role}"),
                groups: Vec::new(),
                kind: TokenKind::ProjectRole,
                token_id: id.clone(),
                issued_at: now,
                expires_at: exp,
            };
            let token = self.sign(&claims)?;
            match api.replace(project, &PostParams::default(), &p).await {
                Ok(_) => {
                    info!(project, role, token = %id, "project token issued");
                    return Ok((token, record));
                }
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => {
                    return Err(AuthError::cluster(
                        &format!("writing AppProject {project}"),
                        e,
                    ));
                }
            }
        }
        Err(AuthError::Cluster(format!(
            "AppProject {project} kept changing while a token was added"
        )))
    }

    /// Deletes `role`'s token issued at `iat` from `project` (Argo CD's
    /// `DELETE /api/v1/projects/{project}/roles/{role}/token/{iat}`); the
    /// token is refused from then on.
    pub async fn delete_project_token(
        &self,
        project: &str,
        role: &str,
        iat: i64,
    ) -> Result<(), AuthError> {
        let api: Api<AppProject> = Api::namespaced(self.client.clone(), &self.namespace);
        for _ in 0..8 {
            let mut p = self
                .project(project)
                .await?
                .ok_or_else(|| AuthError::NotFound(format!("project {project} not found")))?;
            project::remove_token(&mut p, role, iat)?;
            match api.replace(project, &PostParams::default(), &p).await {
                Ok(_) => {
                    info!(project, role, iat, "project token deleted");
                    return Ok(());
                }
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => {
                    return Err(AuthError::cluster(
                        &format!("writing AppProject {project}"),
                        e,
                    ));
                }
            }
        }
        Err(AuthError::Cluster(format!(
            "AppProject {project} kept changing while a token was deleted"
        )))
    }

    /// Changes `name`'s password to `new_password`, after checking
    /// `current_password` against the account `verifier` (the caller: the
    /// account itself, or an admin changing another's). Every token of
    /// `name` issued before the change is refused from then on. A wrong
    /// current password counts as a failed login of `verifier` from `peer`.
    pub async fn change_password(
        &self,
        peer: IpAddr,
        verifier: &str,
        current_password: &str,
        name: &str,
        new_password: &str,
    ) -> Result<(), AuthError> {
        let settings = self.settings();
        let target = settings
            .account(name)
            .ok_or_else(|| AuthError::NotFound(format!("account {name} not found")))?;
        if !target.can(Capability::Login) {
            return Err(AuthError::BadRequest(format!(
                "account {name} does not have the login capability, so it has no password"
            )));
        }
        password::check_pattern(new_password, settings.password_pattern())?;
        let now = self.now();
        self.limiter().check(verifier, peer, now)?;
        let hash = settings.account(verifier).and_then(|a| a.password_hash);
        let given = current_password.to_string();
        let new = new_password.to_string();
        let (matches, new_hash) = tokio::task::spawn_blocking(move || {
            (
                password::verify(&given, hash.as_deref()),
                password::hash(&new),
            )
        })
        .await
        .map_err(|e| AuthError::Cluster(format!("hashing the password: {e}")))?;
        if !matches {
            self.limiter().record_failure(verifier, peer, now);
            return Err(AuthError::BadRequest(format!(
                "the current password of {verifier} does not match"
            )));
        }
        let new_hash = new_hash?;
        let (password_key, mtime_key, _) = accounts::secret_keys(name);
        let secret = cluster::update_secret(&self.client, &self.namespace, SECRET, |_| {
            Ok(BTreeMap::from([
                (password_key.clone(), Some(new_hash.clone().into_bytes())),
                (
                    mtime_key.clone(),
                    Some(accounts::format_mtime(now).into_bytes()),
                ),
            ]))
        })
        .await?;
        cluster::store_secret(&self.cache.secret, &secret);
        info!(account = name, by = verifier, "password changed");
        Ok(())
    }

    /// Generates an API key for `name` (which needs the `apiKey`
    /// capability), recorded in `accounts.<name>.tokens`; `ttl` `None`:
    /// never expires. Returns the token.
    pub async fn create_api_key(
        &self,
        name: &str,
        id: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<String, AuthError> {
        let account = self
            .account(name)
            .ok_or_else(|| AuthError::NotFound(format!("account {name} not found")))?;
        if !account.enabled {
            return Err(AuthError::BadRequest(format!("account {name} is disabled")));
        }
        if !account.can(Capability::ApiKey) {
            return Err(AuthError::BadRequest(format!(
                "account {name} does not have the apiKey capability (argocd-cm accounts.{name}: apiKey)"
            )));
        }
        let id = match id {
            Some(id) if !id.trim().is_empty() => id.to_string(),
            _ => password::random_id(),
        };
        let now = self.now();
        let exp = ttl
            .filter(|d| !d.is_zero())
            .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
        let claims = Claims {
            subject: name.to_string(),
            groups: Vec::new(),
            kind: TokenKind::ApiKey,
            token_id: id.clone(),
            issued_at: now,
            expires_at: exp,
        };
        let token = self.sign(&claims)?;
        let (_, _, tokens_key) = accounts::secret_keys(name);
        let secret = cluster::update_secret(&self.client, &self.namespace, SECRET, |data| {
            let mut tokens = api_keys(data, &tokens_key);
            if tokens.iter().any(|t| t.id == id) {
                return Err(AuthError::Conflict(format!(
                    "account {name} already has an API key with id {id:?}"
                )));
            }
            tokens.push(AccountToken {
                id: id.clone(),
                iat: now,
                exp: exp.unwrap_or(0),
            });
            Ok(BTreeMap::from([(
                tokens_key.clone(),
                Some(to_json(&tokens)?),
            )]))
        })
        .await?;
        cluster::store_secret(&self.cache.secret, &secret);
        info!(account = name, token = %id, "API key created");
        Ok(token)
    }

    /// Deletes `name`'s API key `id`; the key is refused from then on.
    pub async fn delete_api_key(&self, name: &str, id: &str) -> Result<(), AuthError> {
        if self.account(name).is_none() {
            return Err(AuthError::NotFound(format!("account {name} not found")));
        }
        let (_, _, tokens_key) = accounts::secret_keys(name);
        let secret = cluster::update_secret(&self.client, &self.namespace, SECRET, |data| {
            let mut tokens = api_keys(data, &tokens_key);
            let before = tokens.len();
            tokens.retain(|t| t.id != id);
            if tokens.len() == before {
                return Err(AuthError::NotFound(format!(
                    "account {name} has no API key {id:?}"
                )));
            }
            Ok(BTreeMap::from([(
                tokens_key.clone(),
                Some(to_json(&tokens)?),
            )]))
        })
        .await?;
        cluster::store_secret(&self.cache.secret, &secret);
        info!(account = name, token = %id, "API key deleted");
        Ok(())
    }
}

fn missing_key() -> AuthError {
    AuthError::Cluster(format!(
        "{SECRET} has no server.secretkey; restart gyro to generate one"
    ))
}

fn api_keys(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Vec<AccountToken> {
    data.get(key)
        .and_then(|v| serde_json::from_slice(v).ok())
        .unwrap_or_default()
}

fn to_json(tokens: &[AccountToken]) -> Result<Vec<u8>, AuthError> {
    serde_json::to_vec(tokens).map_err(|e| AuthError::Cluster(format!("encoding API keys: {e}")))
}
