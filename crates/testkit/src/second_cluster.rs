//! A second, independent local cluster for multi-cluster tests: started
//! once per test process through `scripts/cluster up --name second --port
//! 17443` (idempotent, locked, so parallel test processes share it), with
//! what an Argo CD cluster Secret needs to reach it.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

/// The second cluster's name and API port (`scripts/cluster`).
pub const SECOND_CLUSTER_NAME: &str = "second";
pub const SECOND_CLUSTER_PORT: u16 = 17443;

/// The second test cluster: its API server and admin credentials, as an
/// Argo CD cluster Secret holds them.
#[derive(Debug, Clone)]
pub struct SecondCluster {
    pub kubeconfig: PathBuf,
    /// The API server URL (`https://127.0.0.1:17443`).
    pub server: String,
    /// Base64 PEM, as `config.tlsClientConfig.caData` takes it.
    pub ca_data: String,
    pub cert_data: String,
    pub key_data: String,
}

impl SecondCluster {
    /// A new client (each test has its own Tokio runtime, see
    /// [`crate::client`]).
    pub async fn client(&self) -> Result<Client> {
        let file = Kubeconfig::read_from(&self.kubeconfig)
            .with_context(|| format!("reading kubeconfig {}", self.kubeconfig.display()))?;
        let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("loading kubeconfig {}", self.kubeconfig.display()))?;
        Client::try_from(config).context("building a client for the second test cluster")
    }

    /// The `config` key of a cluster Secret for this cluster: the admin's
    /// client certificate and the cluster CA.
    pub fn secret_config(&self) -> Value {
        json!({
            "tlsClientConfig": {
                "insecure": false,
                "caData": self.ca_data,
                "certData": self.cert_data,
                "keyData": self.key_data,
            }
        })
    }
}

/// The second test cluster, started on first use.
///
/// `GYRO_TEST_SECOND_KUBECONFIG` points the tests at another cluster
/// instead.
pub fn second_cluster() -> Result<SecondCluster> {
    static STARTED: OnceLock<std::result::Result<SecondCluster, String>> = OnceLock::new();
    STARTED
        .get_or_init(|| ensure_second().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("the second test cluster is not available: {e}"))
}

fn ensure_second() -> Result<SecondCluster> {
    let path = match std::env::var_os("GYRO_TEST_SECOND_KUBECONFIG") {
        Some(path) => PathBuf::from(path),
        None => start_second()?,
    };
    read_credentials(path)
}

fn start_second() -> Result<PathBuf> {
    let port = SECOND_CLUSTER_PORT.to_string();
    crate::cluster::up(&["--name", SECOND_CLUSTER_NAME, "--port", &port])
}

/// The server, CA and client certificate of the kubeconfig's current
/// context (embedded data, as `scripts/cluster` writes it).
fn read_credentials(path: PathBuf) -> Result<SecondCluster> {
    let file = Kubeconfig::read_from(&path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    // Serialized, the kubeconfig shows its secret fields.
    let value = serde_json::to_value(&file)?;
    let context = value["current-context"].as_str().unwrap_or("");
    let named = |list: &str, name: &str| -> Value {
        value[list]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["name"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    let ctx = &named("contexts", context)["context"];
    let cluster = &named("clusters", ctx["cluster"].as_str().unwrap_or(""))["cluster"];
    let user = &named("users", ctx["user"].as_str().unwrap_or(""))["user"];
    let field = |v: &Value, key: &str| -> Result<String> {
        v[key].as_str().map(str::to_string).ok_or_else(|| {
            anyhow!(
                "kubeconfig {}: context {context:?} has no {key} (embedded data is needed)",
                path.display()
            )
        })
    };
    Ok(SecondCluster {
        server: field(cluster, "server")?,
        ca_data: field(cluster, "certificate-authority-data")?,
        cert_data: field(user, "client-certificate-data")?,
        key_data: field(user, "client-key-data")?,
        kubeconfig: path,
    })
}
