//! `gyro controller`: runs the Application controller against the cluster
//! that `--kubeconfig` / `--context` name, until it is stopped (SIGINT or
//! SIGTERM end the process; a reconcile cut short is redone on restart).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use kube::Client;

use crate::kubeconfig::KubeArgs;

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// Watch Applications in this namespace (repeat for several; default:
    /// all namespaces).
    #[arg(long = "namespace", short = 'n', value_name = "NS")]
    namespaces: Vec<String>,

    /// How often every Application is compared again, like Argo CD's
    /// `timeout.reconciliation` (a number with s, m or h).
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = parse_duration)]
    reconcile_interval: Duration,

    /// Where Git mirrors and checked-out revisions are kept.
    #[arg(long, value_name = "DIR", default_value = "/tmp/gyro-cache")]
    cache_dir: PathBuf,

    /// The namespace of the repository Secrets (default: the namespace of
    /// the kubeconfig context, or the pod's in a cluster).
    #[arg(long, value_name = "NS", env = "POD_NAMESPACE")]
    controller_namespace: Option<String>,
}

pub async fn run(kube: &KubeArgs, args: ControllerArgs) -> Result<ExitCode> {
    let config = kube.config().await?;
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    let config = controller::Config {
        namespaces: args.namespaces,
        reconcile_interval: args.reconcile_interval,
        cache_dir: args.cache_dir,
        controller_namespace: args.controller_namespace.unwrap_or(default_namespace),
    };
    controller::run(client, config)
        .await
        .context("running the controller")?;
    Ok(ExitCode::SUCCESS)
}

/// `180s`, `3m`, `1h` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = number
        .parse()
        .with_context(|| format!("{s:?} is not a duration like 180s, 3m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => bail!("{s:?}: unknown unit {unit:?} (use s, m or h)"),
    };
    if secs == 0 {
        bail!("the reconcile interval must be more than zero");
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("180s").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("42").unwrap(), Duration::from_secs(42));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("s").is_err());
    }
}
