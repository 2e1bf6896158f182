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

    /// How often every Application is compared again (a number with s, m
    /// or h). Default: `timeout.reconciliation` in argocd-cm, else 180s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    reconcile_interval: Option<Duration>,

    /// Where Git mirrors and checked-out revisions are kept.
    #[arg(long, value_name = "DIR", default_value = "/tmp/gyro-cache")]
    cache_dir: PathBuf,

    /// The namespace of the repository Secrets (default: the namespace of
    /// the kubeconfig context, or the pod's in a cluster).
    #[arg(long, value_name = "NS", env = "POD_NAMESPACE")]
    controller_namespace: Option<String>,

    /// How managed objects are marked: label, annotation or
    /// annotation+label (default: `application.resourceTrackingMethod` in
    /// argocd-cm, else label).
    #[arg(long, value_name = "METHOD")]
    tracking_method: Option<controller::tracking::TrackingMethod>,

    /// How many Applications are reconciled at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    concurrency: u16,

    /// How long a sync waits for one wave (its hooks to finish, its
    /// resources to be healthy) before it fails.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    sync_wait_timeout: Duration,

    /// Where to serve the API, the Git webhook (POST /api/webhook) and
    /// metrics, or `off`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080", value_parser = parse_listen)]
    listen: Listen,

    #[command(flatten)]
    serve: crate::serve::ServeArgs,
}

/// `--listen`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct Listen(pub Option<std::net::SocketAddr>);

pub fn parse_listen(s: &str) -> Result<Listen> {
    if s == "off" {
        return Ok(Listen(None));
    }
    s.parse()
        .map(|a| Listen(Some(a)))
        .with_context(|| format!("{s:?} is not an address like 0.0.0.0:8080 (or `off`)"))
}

pub async fn run(kube: &KubeArgs, args: ControllerArgs) -> Result<ExitCode> {
    let config = kube.config().await?;
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    let config = controller::Config {
        namespaces: args.namespaces,
        reconcile_interval: args.reconcile_interval.unwrap_or(Duration::from_secs(180)),
        reconcile_interval_from_argocd_cm: args.reconcile_interval.is_none(),
        tracking: args.tracking_method,
        concurrency: args.concurrency,
        listen: None,
        sync_wait_timeout: args.sync_wait_timeout,
        ..controller::Config::new(
            args.cache_dir,
            args.controller_namespace.unwrap_or(default_namespace),
        )
    };
    let serve = match args.listen.0 {
        Some(addr) => Some(crate::serve::controller_serve(
            crate::serve::bind(addr)?,
            args.serve.insecure,
        )),
        None => None,
    };
    controller::run_serving(client, config, serve)
        .await
        .context("running the controller")?;
    Ok(ExitCode::SUCCESS)
}

/// `180s`, `3m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
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
    fn listen_addresses() {
        assert_eq!(
            super::parse_listen("127.0.0.1:9000").unwrap().0,
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert!(super::parse_listen("off").unwrap().0.is_none());
        assert!(super::parse_listen("8080").is_err());
    }

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
