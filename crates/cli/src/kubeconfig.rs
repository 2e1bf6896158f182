//! How the CLI finds the cluster: `--kubeconfig` and `--context`, else the
//! usual `KUBECONFIG` / `~/.kube/config` / in-cluster lookup.

use anyhow::{Context, Result};
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;

#[derive(Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path to a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config,
    /// then the in-cluster service account).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

impl KubeArgs {
    /// A client configuration for the cluster these arguments name.
    pub async fn config(&self) -> Result<kube::Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        match &self.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .with_context(|| format!("loading kubeconfig {}", path.display()))
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .context("loading kubeconfig"),
            None => kube::Config::infer().await.context(
                "no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster",
            ),
        }
    }
}
