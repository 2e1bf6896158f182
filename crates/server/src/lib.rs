//! gyro's HTTP API server: what Argo CD's API server does, on Argo CD's
//! paths (`/api/v1/applications`, `/api/v1/projects`, `/api/v1/session`,
//! ...), so that scripts and the `gyro` CLI drive gyro as they drive Argo
//! CD. It is served by `gyro controller` (beside the reconcile loops, with
//! which it shares the Git and cluster caches) or alone by `gyro server`.
//!
//! Every call goes through the same steps: authenticate (a bearer token or
//! the `argocd.token` cookie) into a [`Principal`], authorize with RBAC,
//! act on the Kubernetes API, record an audit entry when it changed
//! something. Errors are [`ApiError`]s: a status and a message, never a
//! panic; a client's mistake is always a 4xx.
//!
//! It is not a second controller: a sync or rollback is written into the
//! Application's `operation`, and the controller carries it out.

// The OpenAPI document is one large `json!`.
#![recursion_limit = "256"]

pub mod applications;
pub mod audit;
pub mod authz;
pub mod clusters;
pub mod diff_local;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod principal;
pub mod projects;
pub mod repositories;
pub mod secrets;
pub mod session;
pub mod sso;
pub mod stream;
pub mod tls;
pub mod version;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use error::ApiError;
pub use principal::Principal;

/// The largest request body accepted (a `diff-local` upload of a whole
/// directory is the biggest): 16 MiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every request handler shares.
pub struct State {
    /// The Kubernetes client of the cluster gyro runs in (Applications,
    /// AppProjects, Secrets).
    pub client: kube::Client,
    /// The namespace of gyro's settings (`argocd-cm`, `argocd-secret`,
    /// `argocd-rbac-cm`, repository and cluster Secrets) and the default
    /// namespace of Applications.
    pub namespace: String,
    /// The controller's shared context: Git cache, renders, cluster
    /// clients and their caches, used to answer manifests, diff and
    /// resource-tree calls without a second copy.
    pub controller: Arc<controller::Context>,
    /// Authentication: sessions, local accounts, token checks (see
    /// [`session`]).
    pub auth: Arc<auth::Auth>,
    /// Whether the session cookie is marked `Secure` (sent over HTTPS
    /// only): true unless the server runs without TLS (`--insecure`).
    pub secure_cookies: bool,
    /// Decides RBAC questions (see [`authz`]).
    pub enforcer: authz::Enforcer,
    /// Publishes the audit Events.
    pub recorder: kube::runtime::events::Recorder,
}

impl State {
    /// The state for `controller`'s cluster and namespace, with the given
    /// authentication and RBAC.
    pub fn new(
        controller: Arc<controller::Context>,
        auth: Arc<auth::Auth>,
        enforcer: authz::Enforcer,
    ) -> Self {
        let client = controller.client.clone();
        let reporter = kube::runtime::events::Reporter {
            controller: "gyro-server".to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: kube::runtime::events::Recorder::new(client.clone(), reporter),
            namespace: controller.config.controller_namespace.clone(),
            client,
            controller,
            auth,
            enforcer,
            secure_cookies: true,
        }
    }
}

/// The API's routes, without TLS or a listener (tests serve it on a
/// loopback port).
pub fn router(state: Arc<State>) -> Router {
    let sso = sso::Sso::new(state.client.clone(), &state.namespace, state.auth.clone());
    Router::new()
        .merge(version::routes())
        .merge(session::routes())
        .merge(session::project_token_routes())
        .merge(sso::routes(sso))
        .merge(applications::routes())
        .merge(diff_local::routes())
        .merge(stream::routes())
        .merge(projects::routes())
        .merge(repositories::routes())
        .merge(clusters::routes())
        .merge(openapi::routes())
        .merge(metrics::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
