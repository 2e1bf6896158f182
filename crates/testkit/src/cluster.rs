//! The shared local test cluster: started once per test run through
//! `scripts/cluster up` (which is idempotent and holds a lock, so parallel
//! test processes share one cluster), then reached through its kubeconfig.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Api, Client, Resource};
use serde_json::Value;

/// The repository root, found from this crate's manifest directory.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kubeconfig of the test cluster, starting the cluster on first use.
///
/// `GYRO_TEST_KUBECONFIG` points the tests at another cluster instead.
pub fn kubeconfig_path() -> Result<PathBuf> {
    static STARTED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    STARTED
        .get_or_init(|| ensure_cluster().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("the test cluster is not available: {e}"))
}

fn ensure_cluster() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("GYRO_TEST_KUBECONFIG") {
        return Ok(PathBuf::from(path));
    }
    up(&[])
}

/// Runs `scripts/cluster up` with `args` (`--name`, `--port`; none for the
/// default cluster) and returns the kubeconfig `scripts/cluster env` names.
pub(crate) fn up(args: &[&str]) -> Result<PathBuf> {
    let script = repo_root().join("scripts/cluster");
    let status = Command::new(&script)
        .arg("up")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!(
            "`{} up {}` failed ({status}); its messages above name the step and log file",
            script.display(),
            args.join(" ")
        );
    }
    // `env` takes the name, not the port.
    let name: Vec<&str> = args
        .windows(2)
        .find(|w| w[0] == "--name")
        .map(|w| w.to_vec())
        .unwrap_or_default();
    let env = Command::new(&script)
        .arg("env")
        .args(&name)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} env", script.display()))?;
    String::from_utf8_lossy(&env.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("export KUBECONFIG="))
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("`{} env` printed no KUBECONFIG", script.display()))
}

/// A new client for the test cluster.
///
/// Each test gets its own client: a client is tied to the Tokio runtime it
/// was first used on, and every `#[tokio::test]` has its own runtime.
pub async fn client() -> Result<Client> {
    let path = kubeconfig_path()?;
    let file = Kubeconfig::read_from(&path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))?;
    Client::try_from(config).context("building a client for the test cluster")
}

/// What a resource type needs for the wait helpers: watchable, and
/// serializable so a timeout can show its last status.
pub trait Watchable:
    Clone + Debug + Send + Sync + serde::de::DeserializeOwned + serde::Serialize + Resource + 'static
{
}

impl<K> Watchable for K where
    K: Clone
        + Debug
        + Send
        + Sync
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Resource
        + 'static
{
}

/// Waits until `condition` holds for the object `name`, or fails after
/// `timeout` with the object's last seen state in the message.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    what: &str,
    condition: impl Condition<K>,
) -> Result<K>
where
    K: Watchable,
{
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, condition)).await {
        Ok(Ok(Some(obj))) => Ok(obj),
        Ok(Ok(None)) => bail!("{name} was deleted while waiting until it is {what}"),
        Ok(Err(e)) => Err(e).with_context(|| format!("watching {name}")),
        Err(_) => {
            let last = match api.get_opt(name).await {
                Ok(Some(obj)) => serde_json::to_value(&obj)
                    .ok()
                    .and_then(|v| v.get("status").cloned())
                    .unwrap_or(Value::Null)
                    .to_string(),
                Ok(None) => "not found".to_string(),
                Err(e) => format!("unreadable: {e}"),
            };
            bail!("{name} is not {what} after {timeout:?}; last status: {last}")
        }
    }
}

/// Waits until the object's `status.conditions` has a condition of type
/// `type_` with status `"True"` (Deployment `Available`, CRD `Established`,
/// and so on).
pub async fn wait_for_condition<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    type_: &str,
) -> Result<K>
where
    K: Watchable,
{
    let wanted = type_.to_string();
    let condition = move |obj: Option<&K>| {
        obj.is_some_and(|o| condition_status(o, &wanted).as_deref() == Some("True"))
    };
    wait_for(api, name, timeout, type_, condition).await
}

/// The status of the condition `type_` in `status.conditions`, for any kind.
pub fn condition_status<K: serde::Serialize>(obj: &K, type_: &str) -> Option<String> {
    let value = serde_json::to_value(obj).ok()?;
    value
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?
        .get("status")?
        .as_str()
        .map(str::to_string)
}

/// A command's exit status, stdout and stderr, for assertion messages.
pub fn describe_output(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
