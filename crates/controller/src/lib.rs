//! gyro's Application controller: keeps each Argo CD `Application` in the
//! state its Git source describes, and reports that state in the
//! Application's `status` the way Argo CD does.
//!
//! It is built from kube-runtime's `Controller`: a watch on Applications
//! schedules [`reconcile::reconcile`], a plain async function of the
//! Application and a [`Context`]. One reconcile resolves and checks out the
//! source (`source`), renders it (`render`), compares every object with the
//! cluster (`diff`), assesses health (`health`), syncs when the sync policy
//! says so (`sync`), and writes `status`.
//!
//! What it is not (yet): a multi-cluster controller (only the in-cluster
//! destination), a multi-source or Helm renderer, a runner of manual sync
//! operations (`operation`), hooks or waves, or a watch-based cache of live
//! objects (live objects are listed by label on every reconcile).

pub mod compare;
pub mod reconcile;
pub mod render_cache;
pub mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::Application;
use futures::StreamExt;
use kube::Client;
use kube::api::Api;
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use serde_json::Value;
use tracing::{info, warn};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The namespaces whose Applications are watched; empty for all.
    pub namespaces: Vec<String>,
    /// How often every Application is compared again (Argo CD's
    /// `timeout.reconciliation`, 180 s by default).
    pub reconcile_interval: Duration,
    /// Where Git mirrors and worktrees live.
    pub cache_dir: PathBuf,
    /// The namespace of the repository Secrets
    /// (`argocd.argoproj.io/secret-type`): the controller's own.
    pub controller_namespace: String,
}

/// The controller's errors: those that stop it from starting, and those a
/// reconcile cannot turn into a status (writing the status failed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("preparing the Git cache: {0}")]
    Source(#[from] source::Error),
    #[error("writing the status of Application {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Application without metadata.{0}")]
    Unnamed(&'static str),
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub source: source::Source,
    pub config: Config,
    pub recorder: Recorder,
    /// Per Application (namespace, name): the spec fingerprint of the last
    /// full reconcile and when the next one is due, so that the controller's
    /// own status writes do not cause another one.
    last: Mutex<HashMap<(String, String), (String, Instant)>>,
    /// Per Application: consecutive failed reconciles, for the backoff.
    failures: Mutex<HashMap<(String, String), u32>>,
    /// Discovery results by group/version/kind.
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, Scope)>>,
    /// Rendered manifests by repository, commit and source spec.
    pub rendered: render_cache::RenderCache,
}

impl Context {
    pub fn new(client: Client, config: Config) -> Result<Self, Error> {
        let source = source::Source::new(source::Config::new(&config.cache_dir))?;
        let reporter = Reporter {
            controller: "gyro-controller".to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Ok(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            source,
            config,
            last: Mutex::default(),
            failures: Mutex::default(),
            kinds: Mutex::default(),
            rendered: render_cache::RenderCache::new(512),
        })
    }

    /// The API resource and scope of a kind, through discovery (cached).
    pub async fn resource_of(
        &self,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, Scope), String> {
        if let Some(found) = lock(&self.kinds).get(gvk) {
            return Ok(found.clone());
        }
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .map_err(|e| format!("kind {}/{} {}: {e}", gvk.group, gvk.version, gvk.kind))?;
        lock(&self.kinds).insert(gvk.clone(), (ar.clone(), caps.scope.clone()));
        Ok((ar, caps.scope))
    }

    /// The API resource of an object's kind and whether it is namespaced.
    pub async fn resource(&self, obj: &Value) -> Result<(ApiResource, bool), String> {
        let (group, version) = compare::split_api_version(obj);
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        let (ar, scope) = self
            .resource_of(&GroupVersionKind::gvk(&group, &version, kind))
            .await
            .map_err(|e| format!("{kind}/{name}: {e}"))?;
        Ok((ar, scope == Scope::Namespaced))
    }

    /// Whether an Application whose spec has `fingerprint` is not due for a
    /// reconcile yet; then how long until it is.
    fn not_due(&self, key: &(String, String), fingerprint: &str, now: Instant) -> Option<Duration> {
        let last = lock(&self.last);
        let (seen, due) = last.get(key)?;
        (seen == fingerprint && *due > now).then(|| *due - now)
    }

    fn reconciled(&self, key: (String, String), fingerprint: String, due: Instant) {
        lock(&self.last).insert(key.clone(), (fingerprint, due));
        lock(&self.failures).remove(&key);
    }

    /// Counts a failure and returns the backoff before the next try:
    /// 5 s doubling up to 5 minutes.
    fn failed(&self, key: (String, String)) -> Duration {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        let secs = 5u64.saturating_mul(1 << (*n - 1).min(6));
        Duration::from_secs(secs.min(300))
    }
}

/// A poisoned lock only means another reconcile panicked; the maps stay
/// usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the controller until the watches end (they do not end on their
/// own): one kube-runtime `Controller` per watched namespace (or one for
/// all), sharing one [`Context`].
pub async fn run(client: Client, config: Config) -> Result<(), Error> {
    let apis: Vec<Api<Application>> = if config.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        config
            .namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let ctx = Arc::new(Context::new(client, config)?);
    info!(
        namespaces = ?ctx.config.namespaces,
        interval = ?ctx.config.reconcile_interval,
        "controller started"
    );
    let controllers = apis.into_iter().map(|apps| {
        Controller::new(apps, watcher::Config::default())
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    warn!(error = %e, "reconcile failed");
                }
            })
    });
    futures::future::join_all(controllers).await;
    Ok(())
}
