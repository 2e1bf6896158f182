//! What `gyro controller --listen` and `gyro server` share: building the
//! API server's state and serving it (with the Git webhook, for the
//! controller) over TLS unless `--insecure`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tracing::warn;

/// `--listen` and `--insecure`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Serve plain HTTP instead of HTTPS (Argo CD's flag).
    #[arg(long)]
    pub insecure: bool,
}

/// The API's state over the controller's context: local accounts and
/// tokens from `argocd-cm`/`argocd-secret` (the admin password and signing
/// key are made on first start), RBAC from `argocd-rbac-cm` and the
/// AppProjects. Without TLS (`insecure`) the session cookie is not marked
/// `Secure`, or a browser would not send it back.
pub async fn state(ctx: Arc<controller::Context>, insecure: bool) -> Result<Arc<server::State>> {
    let namespace = ctx.config.controller_namespace.clone();
    let auth = auth::Auth::start(ctx.client.clone(), &namespace)
        .await
        .context("starting authentication (argocd-cm, argocd-secret)")?;
    let rbac = server::authz::watch(ctx.client.clone(), &namespace)
        .await
        .context("reading argocd-rbac-cm and the AppProjects")?;
    let mut state = server::State::new(ctx, auth, server::authz::enforcer(rbac));
    state.secure_cookies = !insecure;
    Ok(Arc::new(state))
}

/// Binds `addr`, so that a port in use stops gyro at start with a clear
/// error instead of leaving it running without its API and webhook.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr).with_context(|| format!("--listen {addr}"))
}

/// Serves `router` on `listener`, over TLS unless `insecure`.
pub async fn serve(
    client: &kube::Client,
    namespace: &str,
    router: axum::Router,
    listener: std::net::TcpListener,
    insecure: bool,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let tls = if insecure {
        None
    } else {
        let cert = server::tls::certificate(client, namespace, &[]).await?;
        tracing::info!(origin = %cert.origin, "TLS certificate");
        Some(server::tls::rustls_config(&cert)?)
    };
    server::tls::serve(router, listener, tls)
        .await
        .with_context(|| format!("serving on {addr}"))
}

/// The [`controller::Serve`] of `gyro controller --listen`: the API and
/// the webhook on one port, `listener` (bound before the controller
/// starts, see [`bind`]).
pub fn controller_serve(listener: std::net::TcpListener, insecure: bool) -> controller::Serve {
    Box::new(
        move |ctx: Arc<controller::Context>, webhook: axum::Router| {
            Box::pin(async move {
                let client = ctx.client.clone();
                let namespace = ctx.config.controller_namespace.clone();
                let served = async {
                    let router = server::router(state(ctx, insecure).await?).merge(webhook);
                    serve(&client, &namespace, router, listener, insecure).await
                };
                if let Err(e) = served.await {
                    warn!(error = %format!("{e:#}"), "the API server stopped");
                }
            })
        },
    )
}
