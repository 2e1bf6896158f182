//! Destination clusters: where an Application's resources live.
//!
//! Clusters are declared as Argo CD declares them: Secrets labelled
//! `argocd.argoproj.io/secret-type: cluster` in the controller namespace,
//! with the keys `name`, `server`, `namespaces`, `clusterResources`,
//! `project` and `config` (JSON: bearer token, basic auth, TLS client
//! settings). The in-cluster destination (`https://kubernetes.default.svc`,
//! name `in-cluster`) is the controller's own client unless a Secret for
//! that server says otherwise.
//!
//! [`parse_secret`] and [`resolve`] are pure: a Secret in, a
//! [`ClusterSpec`] or an error naming the Secret and the key out; a
//! destination and the Secrets in, the cluster or a condition naming
//! `spec.destination.server`/`name` out. [`Clusters`] is the I/O edge: it
//! watches the Secrets and keeps one [`Cluster`] handle per server (a
//! client with timeouts, its own API discovery and its own watch-based
//! [`LiveCache`]), made on first use and replaced when its Secret changes.
//!
//! A cluster that does not answer is reported, never waited on: each
//! handle checks that its API server answers (at most once every few
//! seconds) before its cache is used, and an unreachable cluster wakes its
//! Applications again once it answers.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use api::{Application, ApplicationDestination};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::cache::{LiveCache, Notify};
use crate::status::Condition;
use crate::tracking::TrackingMethod;

/// The `argocd.argoproj.io/secret-type` value of cluster Secrets.
pub const CLUSTER_SECRET_TYPE: &str = "cluster";
/// The server of the cluster the controller runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// Its name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// How every condition about a cluster that does not answer starts, as in
/// Argo CD; the reconcile reports such an Application's health as
/// `Unknown` too.
pub const UNREACHABLE: &str = "failed to sync cluster";

/// How long a connection to a cluster may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may wait for a read (watches get bookmarks well
/// within this, so it only ends dead connections).
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// The bound on one reachability check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a successful check is trusted.
const PROBE_TTL: Duration = Duration::from_secs(5);

/// A cluster as its Secret declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ClusterSpec {
    /// The Secret's `namespace/name`; empty for the built-in in-cluster
    /// destination.
    pub secret: String,
    pub name: String,
    /// The API server's URL, without a trailing `/`.
    pub server: String,
    /// The namespaces it may manage; empty for all.
    pub namespaces: Vec<String>,
    /// Whether cluster-scoped objects may be managed when `namespaces` is
    /// set.
    pub cluster_resources: bool,
    pub project: Option<String>,
    pub config: ClusterConfig,
}

/// The `config` key of a cluster Secret (Argo CD's `ClusterConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub tls_client_config: TlsClientConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_compression: Option<bool>,
}

/// `config.tlsClientConfig`. The data fields are base64-encoded PEM, as
/// Argo CD writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsClientConfig {
    #[serde(default)]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_data: Option<String>,
}

impl ClusterConfig {
    /// Whether the config carries credentials of its own (an in-cluster
    /// Secret without any keeps the controller's own).
    fn has_credentials(&self) -> bool {
        self.bearer_token.is_some()
            || self.username.is_some()
            || self.tls_client_config.cert_data.is_some()
    }
}

/// The built-in in-cluster destination.
pub fn in_cluster() -> ClusterSpec {
    ClusterSpec {
        secret: String::new(),
        name: IN_CLUSTER_NAME.to_string(),
        server: IN_CLUSTER_SERVER.to_string(),
        namespaces: Vec::new(),
        cluster_resources: true,
        project: None,
        config: ClusterConfig::default(),
    }
}

/// Where a cluster's settings come from, for messages.
pub fn origin(spec: &ClusterSpec) -> String {
    if spec.secret.is_empty() {
        "the controller's own cluster".to_string()
    } else {
        format!("cluster Secret {}", spec.secret)
    }
}

fn secret_id(secret: &Secret) -> String {
    format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or(""),
        secret.metadata.name.as_deref().unwrap_or("")
    )
}

/// A key of a Secret as text: `stringData` (as written) over `data`.
fn secret_key(secret: &Secret, key: &str) -> Result<Option<String>, String> {
    if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Ok(Some(v.clone()));
    }
    match secret.data.as_ref().and_then(|d| d.get(key)) {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes.0.clone())
            .map(Some)
            .map_err(|_| format!("key {key}: not UTF-8 text")),
    }
}

fn normalize_server(server: &str) -> String {
    server.trim().trim_end_matches('/').to_string()
}

/// The `server` a cluster Secret names, if it names one.
fn secret_server(secret: &Secret) -> Option<String> {
    secret_key(secret, "server")
        .ok()
        .flatten()
        .map(|s| normalize_server(&s))
        .filter(|s| !s.is_empty())
}

/// The `name` a cluster Secret gives, if any.
fn secret_name(secret: &Secret) -> Option<String> {
    secret_key(secret, "name")
        .ok()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Whether a Secret is a cluster Secret.
pub fn is_cluster_secret(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::settings::SECRET_TYPE_LABEL))
        .is_some_and(|t| t == CLUSTER_SECRET_TYPE)
}

/// Reads a cluster Secret. Errors name the Secret and the key.
pub fn parse_secret(secret: &Secret) -> Result<ClusterSpec, String> {
    let id = secret_id(secret);
    let err = |e: String| format!("cluster Secret {id}: {e}");
    let key = |k: &str| secret_key(secret, k).map_err(err);
    let server = key("server")?
        .map(|s| normalize_server(&s))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("key server: missing or empty".to_string()))?;
    if !server.starts_with("https://") && !server.starts_with("http://") {
        return Err(err(format!("key server: {server:?} is not an http(s) URL")));
    }
    if server.contains(char::is_whitespace) {
        return Err(err(format!("key server: {server:?} is not a valid URL")));
    }
    let name = key("name")?
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let namespaces = key("namespaces")?
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let cluster_resources = match key("clusterResources")?.as_deref().map(str::trim) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(err(format!(
                "key clusterResources: {other:?} is neither true nor false"
            )));
        }
    };
    let project = key("project")?.filter(|p| !p.trim().is_empty());
    let config = match key("config")? {
        None => ClusterConfig::default(),
        Some(text) if text.trim().is_empty() => ClusterConfig::default(),
        Some(text) => parse_config(&text).map_err(err)?,
    };
    Ok(ClusterSpec {
        secret: id,
        name,
        server,
        namespaces,
        cluster_resources,
        project,
        config,
    })
}

/// The `config` JSON, checked: supported authentication only, and TLS
/// data that is base64-encoded PEM.
fn parse_config(text: &str) -> Result<ClusterConfig, String> {
    let raw: Value =
        serde_json::from_str(text).map_err(|e| format!("key config: not valid JSON: {e}"))?;
    for (field, what) in [
        ("execProviderConfig", "exec credential plugins"),
        ("awsAuthConfig", "AWS IAM authentication"),
    ] {
        if raw.get(field).is_some_and(|v| !v.is_null()) {
            return Err(format!(
                "key config: {field} is not supported ({what}); use bearerToken, username/password or tlsClientConfig.certData/keyData"
            ));
        }
    }
    let config: ClusterConfig =
        serde_json::from_value(raw).map_err(|e| format!("key config: {e}"))?;
    let tls = &config.tls_client_config;
    for (field, data) in [
        ("caData", &tls.ca_data),
        ("certData", &tls.cert_data),
        ("keyData", &tls.key_data),
    ] {
        if let Some(data) = data {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| format!("key config: tlsClientConfig.{field}: not base64: {e}"))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN ") {
                return Err(format!(
                    "key config: tlsClientConfig.{field}: not a PEM block once base64-decoded"
                ));
            }
        }
    }
    match (&tls.cert_data, &tls.key_data) {
        (Some(_), None) => {
            return Err("key config: tlsClientConfig.certData is set without keyData".to_string());
        }
        (None, Some(_)) => {
            return Err("key config: tlsClientConfig.keyData is set without certData".to_string());
        }
        _ => {}
    }
    if config.password.is_some() && config.username.is_none() {
        return Err("key config: password is set without username".to_string());
    }
    Ok(config)
}

/// The cluster an Application's destination names, among the cluster
/// Secrets (as Argo CD finds it: by `server`, or by `name`; never both).
/// A Secret that names the cluster but cannot be read gives a
/// `ComparisonError` naming the Secret and the key; an unknown cluster an
/// `InvalidSpecError` naming the destination field.
pub fn resolve(
    dest: &ApplicationDestination,
    secrets: &[Secret],
) -> Result<ClusterSpec, Condition> {
    let server = dest.server.as_deref().map(str::trim).unwrap_or("");
    let name = dest.name.as_deref().map(str::trim).unwrap_or("");
    let mut secrets: Vec<&Secret> = secrets.iter().filter(|s| is_cluster_secret(s)).collect();
    // The same answer whatever order the watch delivered them in.
    secrets.sort_by_key(|s| secret_id(s));
    let read = |s: &Secret| parse_secret(s).map_err(Condition::comparison);
    match (server.is_empty(), name.is_empty()) {
        (false, false) => Err(Condition::invalid_spec(format!(
            "spec.destination: both server ({server}) and name ({name}) are set; set only one"
        ))),
        (true, true) => Err(Condition::invalid_spec(
            "spec.destination: neither server nor name is set",
        )),
        (false, true) => {
            let server = normalize_server(server);
            if let Some(found) = secrets
                .iter()
                .find(|s| secret_server(s).as_deref() == Some(server.as_str()))
            {
                return read(found);
            }
            if server == IN_CLUSTER_SERVER {
                return Ok(in_cluster());
            }
            Err(Condition::invalid_spec(format!(
                "spec.destination.server: there are no clusters with this URL: {server} (declare one with a Secret labelled {}={CLUSTER_SECRET_TYPE})",
                crate::settings::SECRET_TYPE_LABEL
            )))
        }
        (true, false) => {
            let named: Vec<&&Secret> = secrets
                .iter()
                .filter(|s| secret_name(s).as_deref() == Some(name))
                .collect();
            match named.as_slice() {
                [one] => read(one),
                [] if name == IN_CLUSTER_NAME
                    && !secrets
                        .iter()
                        .any(|s| secret_server(s).as_deref() == Some(IN_CLUSTER_SERVER)) =>
                {
                    Ok(in_cluster())
                }
                [] => Err(Condition::invalid_spec(format!(
                    "spec.destination.name: there are no clusters with this name: {name}"
                ))),
                many => Err(Condition::invalid_spec(format!(
                    "spec.destination.name: there are {} clusters with the same name: {name} (cluster Secrets {})",
                    many.len(),
                    many.iter()
                        .map(|s| secret_id(s))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

/// Whether a cluster restricted to some namespaces (its Secret's
/// `namespaces`) may manage an object; `Err` says why not.
pub fn permits(spec: &ClusterSpec, namespace: Option<&str>, what: &str) -> Result<(), String> {
    if spec.namespaces.is_empty() {
        return Ok(());
    }
    match namespace.filter(|n| !n.is_empty()) {
        Some(ns) if spec.namespaces.iter().any(|n| n == ns) => Ok(()),
        Some(ns) => Err(format!(
            "{what}: namespace {ns} is not managed by cluster {} ({} key namespaces: {})",
            spec.server,
            origin(spec),
            spec.namespaces.join(",")
        )),
        None if spec.cluster_resources => Ok(()),
        None => Err(format!(
            "{what}: cluster-scoped objects are not managed by cluster {} ({} sets namespaces without clusterResources: \"true\")",
            spec.server,
            origin(spec)
        )),
    }
}

/// A kubeconfig (as kube reads one) for a cluster Secret's config.
fn kubeconfig(spec: &ClusterSpec) -> Result<Kubeconfig, String> {
    let config = &spec.config;
    let tls = &config.tls_client_config;
    let mut cluster = json!({"server": spec.server});
    if tls.insecure {
        cluster["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(ca) = &tls.ca_data {
        cluster["certificate-authority-data"] = json!(ca.trim());
    }
    if let Some(name) = &tls.server_name {
        cluster["tls-server-name"] = json!(name);
    }
    if let Some(proxy) = &config.proxy_url {
        cluster["proxy-url"] = json!(proxy);
    }
    if config.disable_compression == Some(true) {
        cluster["disable-compression"] = json!(true);
    }
    let mut user = json!({});
    if let Some(token) = &config.bearer_token {
        user["token"] = json!(token);
    }
    if let Some(username) = &config.username {
        user["username"] = json!(username);
        user["password"] = json!(config.password.clone().unwrap_or_default());
    }
    if let (Some(cert), Some(key)) = (&tls.cert_data, &tls.key_data) {
        user["client-certificate-data"] = json!(cert.trim());
        user["client-key-data"] = json!(key.trim());
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }))
    .map_err(|e| format!("{}: key config: {e}", origin(spec)))
}

/// A client for a cluster Secret, with timeouts so that a cluster that
/// does not answer fails requests instead of holding them.
async fn client_for(spec: &ClusterSpec) -> Result<Client, String> {
    let file = kubeconfig(spec)?;
    let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("{}: key config: {e}", origin(spec)))?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    config.write_timeout = Some(READ_TIMEOUT);
    Client::try_from(config).map_err(|e| format!("{}: key config: {e}", origin(spec)))
}

/// A reachability check: when, the cache's watch failures then, and the
/// answer.
type Checked = (Instant, u64, Result<(), String>);

/// One destination cluster: its client, its API discovery and its cache of
/// managed objects.
pub struct Cluster {
    pub spec: ClusterSpec,
    pub client: Client,
    /// The managed live objects of this cluster.
    pub live: LiveCache,
    /// Discovery results by group/version/kind.
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, Scope)>>,
    /// Whether its reachability is checked (not for the controller's own
    /// cluster: without it the controller cannot run at all).
    probed: bool,
    /// The last check: when, the cache's watch failures then, and its
    /// answer.
    checked: tokio::sync::Mutex<Option<Checked>>,
    /// Set while a task waits for it to answer again.
    recovering: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.spec.name)
            .field("server", &self.spec.server)
            .field("secret", &self.spec.secret)
            .finish()
    }
}

impl Cluster {
    /// The API resource and scope of a kind, through discovery (cached).
    pub async fn resource_of(
        &self,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, Scope), String> {
        if let Some(found) = crate::lock(&self.kinds).get(gvk) {
            return Ok(found.clone());
        }
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .map_err(|e| format!("kind {}/{} {}: {e}", gvk.group, gvk.version, gvk.kind))?;
        crate::lock(&self.kinds).insert(gvk.clone(), (ar.clone(), caps.scope.clone()));
        Ok((ar, caps.scope))
    }

    /// The API resource of an object's kind and whether it is namespaced.
    pub async fn resource(&self, obj: &Value) -> Result<(ApiResource, bool), String> {
        let (group, version) = crate::compare::split_api_version(obj);
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        let (ar, scope) = self
            .resource_of(&GroupVersionKind::gvk(&group, &version, kind))
            .await
            .map_err(|e| format!("{kind}/{name}: {e}"))?;
        Ok((ar, scope == Scope::Namespaced))
    }

    /// Whether the cluster answers; `Err` is the message of a condition
    /// (starting with [`UNREACHABLE`]). An answer is trusted for a few
    /// seconds, so many Applications on one cluster share one request (a
    /// success only while none of its watches failed since).
    pub async fn reachable(&self) -> Result<(), String> {
        if !self.probed {
            return Ok(());
        }
        let mut checked = self.checked.lock().await;
        let failures = self.live.failures();
        match checked.as_ref() {
            // A failure is trusted as long: a cluster that drops packets
            // costs one connect timeout per interval, not one per
            // Application.
            Some((at, _, Err(e))) if at.elapsed() < PROBE_TTL => return Err(e.clone()),
            Some((at, seen, Ok(()))) if at.elapsed() < PROBE_TTL && *seen == failures => {
                return Ok(());
            }
            _ => {}
        }
        let answer = probe(&self.client).await.map_err(|e| {
            format!(
                "{UNREACHABLE} {} (name {:?}, {}): {e}",
                self.spec.server,
                self.spec.name,
                origin(&self.spec)
            )
        });
        *checked = Some((Instant::now(), failures, answer.clone()));
        answer
    }
}

async fn probe(client: &Client) -> Result<(), String> {
    match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
}

/// Called when clusters changed: with `None` when a cluster Secret
/// changed (every Application may be concerned), with a cluster's spec
/// when that cluster stopped or started answering (its Applications).
pub type Changed = Arc<dyn Fn(Option<&ClusterSpec>) + Send + Sync>;

/// The registry of destination clusters.
pub struct Clusters {
    own: Client,
    secrets: Store<Secret>,
    tracking: TrackingMethod,
    notify: Notify,
    changed: Changed,
    /// Handles by server, with a fingerprint of the spec they were made
    /// from (a changed Secret makes a new handle).
    handles: tokio::sync::Mutex<HashMap<String, (u64, Arc<Cluster>)>>,
}

impl Clusters {
    /// Watches the cluster Secrets of `namespace`; `changed` is called
    /// with `None` whenever one changes, and with a cluster's spec when
    /// that cluster answers again after it did not.
    pub fn start(
        own: Client,
        namespace: &str,
        tracking: TrackingMethod,
        notify: Notify,
        changed: Changed,
    ) -> Self {
        let on_secret = changed.clone();
        let secrets = crate::settings::reflect_then(
            Api::<Secret>::namespaced(own.clone(), namespace),
            watcher::Config::default().labels(&format!(
                "{}={CLUSTER_SECRET_TYPE}",
                crate::settings::SECRET_TYPE_LABEL
            )),
            "cluster Secrets",
            move |_: &Store<Secret>| on_secret(None),
        );
        Self {
            own,
            secrets,
            tracking,
            notify,
            changed,
            handles: tokio::sync::Mutex::default(),
        }
    }

    pub fn tracking(&self) -> TrackingMethod {
        self.tracking
    }

    /// The cluster Secrets as last seen.
    pub fn secrets(&self) -> Vec<Secret> {
        self.secrets.state().iter().map(|s| (**s).clone()).collect()
    }

    /// The cluster an Application deploys to, made on first use. `Err` is
    /// a condition for the user (unknown cluster, bad Secret).
    pub async fn for_app(&self, app: &Application) -> Result<Arc<Cluster>, Condition> {
        let secrets = self.secrets();
        let spec = resolve(&app.spec.destination, &secrets)?;
        // Clusters whose Secret is gone stop watching (once no reconcile
        // holds them).
        let declared: Vec<String> = secrets.iter().filter_map(secret_server).collect();
        self.handles.lock().await.retain(|server, _| {
            server == IN_CLUSTER_SERVER || declared.iter().any(|d| d == server)
        });
        self.handle(spec).await.map_err(Condition::comparison)
    }

    /// The handle of `spec`'s cluster, made (or remade, when its Secret
    /// changed) here.
    pub async fn handle(&self, spec: ClusterSpec) -> Result<Arc<Cluster>, String> {
        let fingerprint = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            spec.hash(&mut h);
            h.finish()
        };
        let mut handles = self.handles.lock().await;
        if let Some((seen, cluster)) = handles.get(&spec.server)
            && *seen == fingerprint
        {
            return Ok(cluster.clone());
        }
        let own = spec.server == IN_CLUSTER_SERVER && !spec.config.has_credentials();
        let client = if own {
            self.own.clone()
        } else {
            client_for(&spec).await?
        };
        info!(server = %spec.server, name = %spec.name, origin = %origin(&spec), "using cluster");
        let mut live = LiveCache::new(client.clone(), self.tracking, self.notify.clone())
            .in_namespaces(spec.namespaces.clone());
        if !own {
            // A watch that breaks may mean the cluster is gone: its
            // Applications look again (and find out).
            let (changed, spec) = (self.changed.clone(), spec.clone());
            live = live.on_failure(Arc::new(move || changed(Some(&spec))));
        }
        let cluster = Arc::new(Cluster {
            live,
            client,
            kinds: Mutex::default(),
            probed: !own,
            checked: tokio::sync::Mutex::default(),
            recovering: AtomicBool::new(false),
            spec: spec.clone(),
        });
        // The old handle (its watches) goes once no reconcile holds it.
        handles.insert(spec.server.clone(), (fingerprint, cluster.clone()));
        Ok(cluster)
    }

    /// The cluster's reachability; when it does not answer, a background
    /// task asks again until it does, then wakes its Applications.
    pub async fn reachable(&self, cluster: &Arc<Cluster>) -> Result<(), String> {
        let answer = cluster.reachable().await;
        if answer.is_err() && !cluster.recovering.swap(true, Ordering::AcqRel) {
            warn!(server = %cluster.spec.server, "cluster does not answer; waiting for it");
            tokio::spawn(recover(Arc::downgrade(cluster), self.changed.clone()));
        }
        answer
    }
}

/// Asks a cluster that did not answer until it does (or its handle is
/// gone), then reports it.
async fn recover(cluster: Weak<Cluster>, changed: Changed) {
    loop {
        tokio::time::sleep(PROBE_TTL).await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if cluster.reachable().await.is_ok() {
            cluster.recovering.store(false, Ordering::Release);
            info!(server = %cluster.spec.server, "cluster answers again");
            changed(Some(&cluster.spec));
            return;
        }
    }
}

/// Whether an Application's destination names the cluster `spec`.
pub fn deploys_to(dest: &ApplicationDestination, spec: &ClusterSpec) -> bool {
    match (dest.server.as_deref(), dest.name.as_deref()) {
        (Some(server), _) if !server.trim().is_empty() => normalize_server(server) == spec.server,
        (_, Some(name)) if !name.trim().is_empty() => name.trim() == spec.name,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
        serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "cluster"}
            },
            // As the API server returns it: base64 in `data`.
            "data": data.iter().map(|(k, v)| (k.to_string(), json!(b64(v)))).collect::<serde_json::Map<_, _>>()
        }))
        .unwrap()
    }

    fn dest(server: Option<&str>, name: Option<&str>) -> ApplicationDestination {
        ApplicationDestination {
            server: server.map(str::to_string),
            name: name.map(str::to_string),
            namespace: Some("web".to_string()),
        }
    }

    #[test]
    fn a_full_secret_reads_as_argo_cd_writes_it() {
        let config = json!({
            "bearerToken": "t0k3n",
            "tlsClientConfig": {"insecure": false, "caData": b64(PEM), "serverName": "prod.internal"}
        });
        let s = secret(
            "prod",
            &[
                ("name", "prod"),
                ("server", "https://prod.example.com:6443/"),
                ("namespaces", "web, shop"),
                ("clusterResources", "true"),
                ("project", "payments"),
                ("config", &config.to_string()),
            ],
        );
        let spec = parse_secret(&s).unwrap();
        assert_eq!(spec.secret, "argocd/prod");
        assert_eq!(spec.server, "https://prod.example.com:6443");
        assert_eq!(spec.namespaces, ["web", "shop"]);
        assert!(spec.cluster_resources);
        assert_eq!(spec.project.as_deref(), Some("payments"));
        assert_eq!(spec.config.bearer_token.as_deref(), Some("t0k3n"));
        assert_eq!(
            spec.config.tls_client_config.server_name.as_deref(),
            Some("prod.internal")
        );
        let kc = kubeconfig(&spec).unwrap();
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.tls_server_name.as_deref(), Some("prod.internal"));
        assert!(kc.auth_infos[0].auth_info.as_ref().unwrap().token.is_some());
    }

    #[test]
    fn string_data_and_no_config_are_accepted() {
        let mut s = secret("dev", &[]);
        s.string_data = Some(BTreeMap::from([
            ("server".to_string(), "https://dev:6443".to_string()),
            ("name".to_string(), "dev".to_string()),
        ]));
        let spec = parse_secret(&s).unwrap();
        assert_eq!(spec.name, "dev");
        assert_eq!(spec.config, ClusterConfig::default());
        assert!(spec.namespaces.is_empty());
    }

    #[test]
    fn bad_secrets_name_the_secret_and_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("name", "x")], "key server: missing"),
            (&[("server", "prod:6443")], "key server:"),
            (
                &[("server", "https://p"), ("clusterResources", "yes")],
                "key clusterResources:",
            ),
            (
                &[("server", "https://p"), ("config", "{not json")],
                "key config: not valid JSON",
            ),
            (
                &[("server", "https://p"), ("config", r#"{"bearerToken": 5}"#)],
                "key config:",
            ),
            (
                &[
                    ("server", "https://p"),
                    ("config", r#"{"tlsClientConfig": {"caData": "%%%"}}"#),
                ],
                "tlsClientConfig.caData: not base64",
            ),
            (
                &[
                    ("server", "https://p"),
                    ("config", r#"{"tlsClientConfig": {"certData": "aGVsbG8="}}"#),
                ],
                "tlsClientConfig.certData: not a PEM block",
            ),
            (
                &[
                    ("server", "https://p"),
                    ("config", r#"{"execProviderConfig": {"command": "x"}}"#),
                ],
                "execProviderConfig is not supported",
            ),
            (
                &[
                    ("server", "https://p"),
                    ("config", r#"{"awsAuthConfig": {"clusterName": "x"}}"#),
                ],
                "awsAuthConfig is not supported",
            ),
        ];
        for (data, needle) in cases {
            let err = parse_secret(&secret("bad", data)).unwrap_err();
            assert!(err.starts_with("cluster Secret argocd/bad: "), "{err}");
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
        let pem = b64(PEM);
        let config = json!({"tlsClientConfig": {"certData": pem}}).to_string();
        let err = parse_secret(&secret(
            "bad",
            &[("server", "https://p"), ("config", &config)],
        ))
        .unwrap_err();
        assert!(err.contains("certData is set without keyData"), "{err}");
    }

    #[test]
    fn invalid_utf8_is_named() {
        let mut s = secret("bin", &[("server", "https://p")]);
        s.data
            .as_mut()
            .unwrap()
            .insert("name".to_string(), ByteString(vec![0xff, 0xfe]));
        assert_eq!(
            parse_secret(&s).unwrap_err(),
            "cluster Secret argocd/bin: key name: not UTF-8 text"
        );
    }

    #[test]
    fn destinations_resolve_by_server_or_name() {
        let secrets = [
            secret("a", &[("name", "prod"), ("server", "https://prod:6443")]),
            secret("b", &[("name", "dev"), ("server", "https://dev:6443")]),
            // Not a cluster Secret: ignored.
            {
                let mut s = secret("c", &[("name", "other"), ("server", "https://o")]);
                s.metadata.labels = None;
                s
            },
        ];
        let by_server = resolve(&dest(Some("https://prod:6443/"), None), &secrets).unwrap();
        assert_eq!(by_server.secret, "argocd/a");
        let by_name = resolve(&dest(None, Some("dev")), &secrets).unwrap();
        assert_eq!(by_name.server, "https://dev:6443");
        let both = resolve(&dest(Some("https://prod:6443"), Some("prod")), &secrets).unwrap_err();
        assert_eq!(both.type_, "InvalidSpecError");
        assert!(both.message.contains("both server"), "{}", both.message);
        let none = resolve(&dest(None, None), &secrets).unwrap_err();
        assert!(none.message.starts_with("spec.destination: neither"));
        let unknown = resolve(&dest(Some("https://nope"), None), &secrets).unwrap_err();
        assert_eq!(unknown.type_, "InvalidSpecError");
        assert!(unknown.message.starts_with(
            "spec.destination.server: there are no clusters with this URL: https://nope"
        ));
        let unknown = resolve(&dest(None, Some("other")), &secrets).unwrap_err();
        assert!(
            unknown
                .message
                .starts_with("spec.destination.name: there are no clusters with this name: other")
        );
        let twice = [
            secret("x", &[("name", "prod"), ("server", "https://one")]),
            secret("y", &[("name", "prod"), ("server", "https://two")]),
        ];
        let err = resolve(&dest(None, Some("prod")), &twice).unwrap_err();
        assert!(
            err.message.contains("2 clusters with the same name"),
            "{}",
            err.message
        );
    }

    #[test]
    fn in_cluster_is_built_in_unless_a_secret_overrides_it() {
        let none: [Secret; 0] = [];
        assert_eq!(
            resolve(&dest(Some(IN_CLUSTER_SERVER), None), &none).unwrap(),
            in_cluster()
        );
        assert_eq!(
            resolve(&dest(None, Some("in-cluster")), &none).unwrap(),
            in_cluster()
        );
        let renamed = [secret(
            "local",
            &[
                ("name", "local"),
                ("server", IN_CLUSTER_SERVER),
                ("namespaces", "web"),
            ],
        )];
        let spec = resolve(&dest(Some(IN_CLUSTER_SERVER), None), &renamed).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.secret.as_str()),
            ("local", "argocd/local")
        );
        assert!(
            !spec.config.has_credentials(),
            "keeps the controller's own client"
        );
        assert!(resolve(&dest(None, Some("local")), &renamed).is_ok());
        // Renamed: the old name is gone, as in Argo CD.
        assert!(resolve(&dest(None, Some("in-cluster")), &renamed).is_err());
    }

    #[test]
    fn a_bad_secret_is_a_comparison_error_for_its_applications() {
        let secrets = [secret(
            "broken",
            &[("name", "broken"), ("server", "https://b"), ("config", "[")],
        )];
        let err = resolve(&dest(None, Some("broken")), &secrets).unwrap_err();
        assert_eq!(err.type_, "ComparisonError");
        assert!(
            err.message
                .starts_with("cluster Secret argocd/broken: key config:"),
            "{}",
            err.message
        );
    }

    #[test]
    fn namespaced_clusters_permit_only_their_namespaces() {
        let mut spec = in_cluster();
        assert!(permits(&spec, None, "ClusterRole/x").is_ok());
        spec.namespaces = vec!["web".into()];
        spec.cluster_resources = false;
        spec.secret = "argocd/local".into();
        assert!(permits(&spec, Some("web"), "ConfigMap/x").is_ok());
        let err = permits(&spec, Some("db"), "ConfigMap/x").unwrap_err();
        assert!(
            err.contains("namespace db is not managed") && err.contains("argocd/local"),
            "{err}"
        );
        let err = permits(&spec, None, "ClusterRole/x").unwrap_err();
        assert!(err.contains("clusterResources"), "{err}");
        spec.cluster_resources = true;
        assert!(permits(&spec, None, "ClusterRole/x").is_ok());
    }

    #[test]
    fn applications_are_matched_to_their_cluster() {
        let spec = parse_secret(&secret(
            "a",
            &[("name", "prod"), ("server", "https://prod/")],
        ))
        .unwrap();
        assert!(deploys_to(&dest(Some("https://prod"), None), &spec));
        assert!(deploys_to(&dest(None, Some("prod")), &spec));
        assert!(!deploys_to(&dest(Some("https://dev"), None), &spec));
    }
}
