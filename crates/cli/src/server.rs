//! `gyro server`: the API server alone. It keeps a controller context
//! (Git cache, renders, cluster caches) for manifests, diffs and the
//! resource tree, but runs no reconcile loops.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use kube::Client;

use crate::kubeconfig::KubeArgs;

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Where to serve the API.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,

    /// The namespace of gyro's settings and Secrets, and the default
    /// namespace of Applications (default: the kubeconfig context's).
    #[arg(long, value_name = "NS", env = "POD_NAMESPACE")]
    namespace: Option<String>,

    /// Where Git mirrors and checked-out revisions are kept.
    #[arg(long, value_name = "DIR", default_value = "/tmp/gyro-server-cache")]
    cache_dir: PathBuf,

    #[command(flatten)]
    serve: crate::serve::ServeArgs,
}

pub async fn run(kube: &KubeArgs, args: ServerArgs) -> Result<ExitCode> {
    let config = kube.config().await?;
    let namespace = args.namespace.unwrap_or(config.default_namespace.clone());
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    let listener = crate::serve::bind(args.listen)?;
    let ctx = controller::Context::new(
        client.clone(),
        controller::Config::new(args.cache_dir, namespace.clone()),
    )
    .await
    .context("starting the controller context")?;
    let router = server::router(crate::serve::state(Arc::new(ctx), args.serve.insecure).await?);
    crate::serve::serve(&client, &namespace, router, listener, args.serve.insecure).await?;
    Ok(ExitCode::SUCCESS)
}
