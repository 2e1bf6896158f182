//! Auth's edge to the Kubernetes API: watching `argocd-cm`,
//! `argocd-secret` and `gyro-revoked-tokens` into memory, creating
//! `server.secretkey` and the initial admin password on first start, and
//! writing Secret keys with optimistic concurrency (a write based on a
//! stale read fails with 409 and is retried on a fresh read).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::AuthError;
use crate::accounts::{self, Settings};
use crate::password;

pub const CONFIG_MAP: &str = "argocd-cm";
pub const SECRET: &str = "argocd-secret";
pub const INITIAL_ADMIN_SECRET: &str = "argocd-initial-admin-secret";
const MANAGER: &str = "gyro-auth";
/// How often a write retries after losing a race with another writer.
const WRITE_ATTEMPTS: usize = 8;

/// A watched object's data, with the resourceVersion it came from so a
/// late watch event never overwrites a newer write.
#[derive(Debug, Default, Clone)]
pub struct Cached<T> {
    pub version: u64,
    pub data: T,
}

/// What the watches keep current.
#[derive(Debug, Default)]
pub struct Cache {
    pub config: RwLock<Cached<BTreeMap<String, String>>>,
    pub secret: RwLock<Cached<BTreeMap<String, Vec<u8>>>>,
    pub revoked: RwLock<Cached<BTreeMap<String, Vec<u8>>>>,
}

impl Cache {
    /// The settings accounts and tokens are read from.
    pub fn settings(&self) -> Settings {
        Settings {
            config: read(&self.config).data.clone(),
            secret: read(&self.secret).data.clone(),
        }
    }
}

pub fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn version_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Stores `data` seen at `version` unless something newer is there;
/// `None` (deleted) always applies.
pub fn store<T: Default>(lock: &RwLock<Cached<T>>, version: u64, data: Option<T>) {
    let mut cached = lock
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match data {
        Some(data) if version >= cached.version || version == 0 => {
            *cached = Cached { version, data };
        }
        Some(_) => {}
        None => *cached = Cached::default(),
    }
}

pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), v.as_bytes().to_vec());
    }
    data
}

/// Stores a Secret (as read or as a write returned it) into `lock`.
pub fn store_secret(lock: &RwLock<Cached<BTreeMap<String, Vec<u8>>>>, secret: &Secret) {
    store(lock, version_of(secret.meta()), Some(secret_data(secret)));
}

/// Watches one named object of the namespace into `lock` with `data`
/// converting it; `ready` turns true after the first full listing.
pub fn spawn_watch<K, T>(
    api: Api<K>,
    name: &'static str,
    lock: Arc<Cache>,
    pick: fn(&Cache) -> &RwLock<Cached<T>>,
    data: fn(&K) -> T,
    ready: watch::Sender<bool>,
) -> tokio::task::AbortHandle
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    T: Default + Send + Sync + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let mut events = watcher(api, config).default_backoff().boxed();
        let mut listing: Option<Option<K>> = None;
        while let Some(event) = events.next().await {
            match event {
                Err(e) => warn!(object = name, error = %e, "watch failed; retrying"),
                Ok(watcher::Event::Init) => listing = Some(None),
                Ok(watcher::Event::InitApply(obj)) => listing = Some(Some(obj)),
                Ok(watcher::Event::InitDone) => {
                    let obj = listing.take().flatten();
                    let version = obj.as_ref().map_or(0, |o| version_of(o.meta()));
                    store(pick(&lock), version, obj.as_ref().map(data));
                    debug!(object = name, present = version != 0, "listed");
                    let _ = ready.send(true);
                }
                Ok(watcher::Event::Apply(obj)) => {
                    store(pick(&lock), version_of(obj.meta()), Some(data(&obj)));
                    debug!(object = name, "changed");
                }
                Ok(watcher::Event::Delete(_)) => {
                    store(pick(&lock), 0, None);
                    debug!(object = name, "deleted");
                }
            }
        }
    })
    .abort_handle()
}

pub fn config_data(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

fn encode_value(v: &[u8]) -> Value {
    // A Secret's `data` is base64 on the wire.
    serde_json::to_value(ByteString(v.to_vec())).unwrap_or(Value::Null)
}

/// Writes `changes` into the data of Secret `name` (a `None` removes the
/// key), creating it if absent. `plan` sees the current data and answers
/// the changes (or an error); when another writer got there first, it runs
/// again on a fresh read.
pub async fn update_secret<F>(
    client: &Client,
    namespace: &str,
    name: &str,
    mut plan: F,
) -> Result<Secret, AuthError>
where
    F: FnMut(&BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, Option<Vec<u8>>>, AuthError>,
{
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..WRITE_ATTEMPTS {
        let current = api
            .get_opt(name)
            .await
            .map_err(|e| AuthError::cluster(&format!("reading Secret {namespace}/{name}"), e))?;
        let data = current.as_ref().map(secret_data).unwrap_or_default();
        let changes = plan(&data)?;
        let result = match &current {
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        namespace: Some(namespace.to_string()),
                        labels: Some(
                            [(
                                "app.kubernetes.io/part-of".to_string(),
                                "argocd".to_string(),
                            )]
                            .into(),
                        ),
                        ..Default::default()
                    },
                    data: Some(
                        changes
                            .into_iter()
                            .filter_map(|(k, v)| Some((k, ByteString(v?))))
                            .collect(),
                    ),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &secret).await
            }
            Some(secret) => {
                if changes.is_empty() {
                    return Ok(secret.clone());
                }
                let data: serde_json::Map<String, Value> = changes
                    .into_iter()
                    .map(|(k, v)| (k, v.as_deref().map_or(Value::Null, encode_value)))
                    .collect();
                // The resourceVersion makes the patch fail if the Secret
                // changed since it was read.
                let patch = json!({
                    "metadata": {"resourceVersion": secret.metadata.resource_version},
                    "data": data,
                });
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
            }
        };
        match result {
            Ok(secret) => return Ok(secret),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                debug!(secret = name, "lost a write race; retrying on a fresh read");
            }
            Err(e) => {
                return Err(AuthError::cluster(
                    &format!("writing Secret {namespace}/{name}"),
                    e,
                ));
            }
        }
    }
    Err(AuthError::Cluster(format!(
        "writing Secret {namespace}/{name}: it kept changing under {WRITE_ATTEMPTS} attempts"
    )))
}

/// First start: gives `argocd-secret` a `server.secretkey` and, when admin
/// has no password, a random one whose plain text goes into
/// `argocd-initial-admin-secret`, as Argo CD does. Safe with several
/// replicas starting at once: only the writer that won the race on
/// `argocd-secret` publishes its password.
pub async fn bootstrap(client: &Client, namespace: &str, now: i64) -> Result<Secret, AuthError> {
    let mut initial_password: Option<String> = None;
    let secret = update_secret(client, namespace, SECRET, |data| {
        let mut changes = BTreeMap::new();
        initial_password = None;
        if data.get("server.secretkey").is_none_or(Vec::is_empty) {
            changes.insert(
                "server.secretkey".to_string(),
                Some(password::random_bytes(32)),
            );
        }
        let (password_key, mtime_key, _) = accounts::secret_keys(accounts::ADMIN);
        if data.get(&password_key).is_none_or(Vec::is_empty) {
            let plain = password::random_alphanumeric(16);
            changes.insert(password_key, Some(password::hash(&plain)?.into_bytes()));
            changes.insert(mtime_key, Some(accounts::format_mtime(now).into_bytes()));
            initial_password = Some(plain);
        }
        Ok(changes)
    })
    .await?;
    if let Some(plain) = initial_password {
        write_initial_admin_secret(client, namespace, &plain).await?;
        info!(
            secret = INITIAL_ADMIN_SECRET,
            namespace, "generated the admin password"
        );
    }
    Ok(secret)
}

async fn write_initial_admin_secret(
    client: &Client,
    namespace: &str,
    plain: &str,
) -> Result<(), AuthError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let patch = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": INITIAL_ADMIN_SECRET, "namespace": namespace},
        "type": "Opaque",
        "data": {"password": encode_value(plain.as_bytes())},
    });
    api.patch(
        INITIAL_ADMIN_SECRET,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| {
        AuthError::cluster(
            &format!("writing Secret {namespace}/{INITIAL_ADMIN_SECRET}"),
            e,
        )
    })?;
    Ok(())
}
