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
//! Live objects come from a watch-based cache ([`cache`]): a change to a
//! managed object wakes its Application, and a reconcile lists nothing.
//! Settings (repository credentials, `argocd-cm`) are watched too
//! ([`settings`]).
//!
//! Applications deploy to the controller's own cluster or to clusters
//! declared in cluster Secrets ([`clusters`]); each destination has its
//! own client, discovery and live-object cache.
//!
//! A sync runs its plan's phases and waves one step at a time, with hooks,
//! waiting inside the attempt for each step ([`phases`]).
//!
//! The same process runs the ApplicationSet controller ([`appset`]), which
//! turns each `ApplicationSet` into the Applications this controller then
//! keeps.
//!
//! What it is not (yet): a multi-source or Helm renderer.

pub mod app_of_apps;
pub mod appset;
pub mod cache;
pub mod clusters;
pub mod compare;
pub mod delete;
pub mod execute;
pub mod governance;
pub mod metrics;
pub mod operation;
pub mod phases;
pub mod post_delete;
pub mod push;
pub mod reconcile;
pub mod render_cache;
pub mod settings;
pub mod status;
pub mod summary;
pub mod tracking;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use api::Application;
use futures::StreamExt;
use kube::Client;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::tracking::TrackingMethod;

/// Renders kept (one per repository, commit and source spec): enough for
/// thousands of Applications at two commits each.
const RENDER_CACHE_ENTRIES: usize = 8192;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The namespaces whose Applications are watched; empty for all.
    pub namespaces: Vec<String>,
    /// How often every Application is compared again (Argo CD's
    /// `timeout.reconciliation`, 180 s by default).
    pub reconcile_interval: Duration,
    /// Take the interval from `argocd-cm`'s `timeout.reconciliation` when
    /// it is set there (read at start), as Argo CD does.
    pub reconcile_interval_from_argocd_cm: bool,
    /// Where Git mirrors and worktrees live.
    pub cache_dir: PathBuf,
    /// The namespace of the repository Secrets
    /// (`argocd.argoproj.io/secret-type`) and of `argocd-cm`: the
    /// controller's own.
    pub controller_namespace: String,
    /// How managed objects are marked; `None` reads
    /// `application.resourceTrackingMethod` from `argocd-cm` at start
    /// (default `label`).
    pub tracking: Option<TrackingMethod>,
    /// How many Applications are reconciled at once (Argo CD's
    /// `--status-processors`); 0 is unbounded.
    pub concurrency: u16,
    /// Where to serve the Git webhook (`POST /api/webhook`); `None`: not
    /// served.
    pub listen: Option<std::net::SocketAddr>,
    /// How long a sync waits for one step (a phase's wave) to finish: its
    /// hooks done, its resources healthy (see [`phases`]). Argo CD waits
    /// until the operation is terminated; gyro fails the sync after this.
    pub sync_wait_timeout: Duration,
}

impl Config {
    /// The defaults of `gyro controller` for the given cache directory and
    /// controller namespace: all namespaces, 180 s.
    pub fn new(cache_dir: impl Into<PathBuf>, controller_namespace: impl Into<String>) -> Self {
        Self {
            namespaces: Vec::new(),
            reconcile_interval: Duration::from_secs(180),
            reconcile_interval_from_argocd_cm: false,
            cache_dir: cache_dir.into(),
            controller_namespace: controller_namespace.into(),
            tracking: None,
            concurrency: 32,
            listen: None,
            sync_wait_timeout: Duration::from_secs(600),
        }
    }
}

/// Where a running `Controller` takes reconcile requests, with the
/// namespace it watches (`None`: all).
type Waker = (
    Option<String>,
    mpsc::UnboundedSender<ObjectRef<Application>>,
);

/// Why an Application is reconciled before its interval is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// One of its live objects changed: compare again at the last resolved
    /// revision (Git is not asked).
    Resources,
    /// Its repository was pushed to (webhook): resolve the revision anew.
    Push,
    /// An AppProject changed.
    Project,
    /// Its destination cluster changed: its Secret, or it answers again.
    Cluster,
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
    #[error("listening on {addr} for the Git webhook: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Settings(String),
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
    /// The running ApplicationSet controllers, woken by pushes.
    pub appsets: Arc<appset::Wakers>,
    /// Rendered manifests by repository, commit and source spec.
    pub rendered: render_cache::RenderCache,
    /// Watched settings (credentials, `argocd-cm`).
    pub settings: settings::Settings,
    /// The destination clusters, each with its client, discovery and
    /// cache of managed live objects.
    pub clusters: clusters::Clusters,
    /// Reconciles requested before their time, and why.
    triggers: Arc<Mutex<HashMap<(String, String), Trigger>>>,
    /// Where requested reconciles go: one channel per running
    /// `Controller`, with the namespace it watches (`None`: all).
    wake: Arc<Mutex<Vec<Waker>>>,
    /// The Applications of every running `Controller` (set once they run).
    apps: Arc<OnceLock<Vec<Store<Application>>>>,
    /// The last resolution of (repository, targetRevision): commit and
    /// when it was made.
    pub(crate) revisions: Mutex<HashMap<(String, String), (String, Instant)>>,
    /// The last comparison of each managed object: a fingerprint of what
    /// decided it (desired object, live object without status, ignore
    /// rules) and whether it was in sync, so an unchanged object is not
    /// dry-run again.
    pub(crate) verdicts: Mutex<HashMap<(String, sync::ResourceKey), (u64, bool)>>,
    /// Per Application: the resourceVersion of this controller's last
    /// write, so a reconcile of an older copy (the reflector lags behind
    /// the write) waits instead of running an operation again.
    written: Mutex<HashMap<(String, String), String>>,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<metrics::Metrics>,
}

impl Context {
    /// Prepares the Git cache and starts the settings and live-object
    /// watches.
    pub async fn new(client: Client, config: Config) -> Result<Self, Error> {
        let apps: Arc<OnceLock<Vec<Store<Application>>>> = Arc::default();
        let metrics = Arc::new(metrics::Metrics::new(apps.clone()));
        let source = source::Source::new(source::Config {
            on_git: Some(metrics.git_observer()),
            ..source::Config::new(&config.cache_dir)
        })?;
        let reporter = Reporter {
            controller: "gyro-controller".to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let triggers: Arc<Mutex<HashMap<(String, String), Trigger>>> = Arc::default();
        let wake: Arc<Mutex<Vec<_>>> = Arc::default();
        let projects_changed = {
            let (triggers, wake, apps) = (triggers.clone(), wake.clone(), apps.clone());
            move || {
                // Projects change rarely; every Application looks again.
                for app in apps.get().into_iter().flatten().flat_map(|s| s.state()) {
                    if let (Some(ns), Some(name)) = (&app.metadata.namespace, &app.metadata.name) {
                        request(
                            &triggers,
                            &wake,
                            (ns.clone(), name.clone()),
                            Trigger::Project,
                        );
                    }
                }
            }
        };
        let settings = settings::Settings::start(
            client.clone(),
            &config.controller_namespace,
            projects_changed,
        )
        .await;
        let mut config = config;
        if config.reconcile_interval_from_argocd_cm
            && let Some(interval) =
                settings::reconciliation_timeout(&settings.argocd_cm()).map_err(Error::Settings)?
        {
            config.reconcile_interval = interval;
        }
        let tracking = match config.tracking {
            Some(t) => t,
            None => settings
                .argocd_cm()
                .get(settings::TRACKING_METHOD_KEY)
                .map(|m| m.parse::<TrackingMethod>())
                .transpose()
                .map_err(|e| {
                    Error::Settings(format!("argocd-cm {}: {e}", settings::TRACKING_METHOD_KEY))
                })?
                .unwrap_or_default(),
        };
        let notify: cache::Notify = {
            let (triggers, wake, apps) = (triggers.clone(), wake.clone(), apps.clone());
            let controller_namespace = config.controller_namespace.clone();
            Arc::new(move |instance: &str| {
                let (namespace, name) = tracking::application_of(instance, &controller_namespace);
                // The label may be another tool's (or another gyro's): only
                // Applications this controller has are woken.
                let target = ObjectRef::new(&name).within(&namespace);
                let known = apps
                    .get()
                    .is_some_and(|stores| stores.iter().any(|s| s.get(&target).is_some()));
                if known {
                    request(&triggers, &wake, (namespace, name), Trigger::Resources);
                }
            })
        };
        let appsets = Arc::new(appset::Wakers::default());
        let cluster_changed: clusters::Changed = {
            let (triggers, wake, apps) = (triggers.clone(), wake.clone(), apps.clone());
            let appsets = appsets.clone();
            Arc::new(move |cluster: Option<&clusters::ClusterSpec>| {
                if cluster.is_none() {
                    appsets.wake_all();
                }
                // A cluster Secret changed (rare: every Application looks
                // again), or one cluster answers again (its Applications).
                for app in apps.get().into_iter().flatten().flat_map(|s| s.state()) {
                    if cluster.is_some_and(|c| !clusters::deploys_to(&app.spec.destination, c)) {
                        continue;
                    }
                    if let (Some(ns), Some(name)) = (&app.metadata.namespace, &app.metadata.name) {
                        request(
                            &triggers,
                            &wake,
                            (ns.clone(), name.clone()),
                            Trigger::Cluster,
                        );
                    }
                }
            })
        };
        let clusters = clusters::Clusters::start(
            client.clone(),
            &config.controller_namespace,
            tracking,
            notify,
            cluster_changed,
        );
        Ok(Self {
            recorder: Recorder::new(client.clone(), reporter),
            clusters,
            client,
            source,
            config,
            last: Mutex::default(),
            failures: Mutex::default(),
            appsets,
            rendered: render_cache::RenderCache::new(RENDER_CACHE_ENTRIES),
            settings,
            triggers,
            wake,
            metrics,
            apps,
            revisions: Mutex::default(),
            verdicts: Mutex::default(),
            written: Mutex::default(),
        })
    }

    /// The instance name of an Application in tracking marks.
    pub fn instance(&self, app: &Application) -> String {
        tracking::instance_name(
            app.metadata.namespace.as_deref().unwrap_or(""),
            app.metadata.name.as_deref().unwrap_or(""),
            &self.config.controller_namespace,
        )
    }

    /// The Application that manages Application (namespace, name), by the
    /// tracking mark on it (app of apps); `None` for one applied by hand.
    pub fn manager_of(&self, (namespace, name): &(String, String)) -> Option<(String, String)> {
        let target = ObjectRef::new(name).within(namespace);
        let app = self.apps.get()?.iter().find_map(|s| s.get(&target))?;
        let obj = serde_json::to_value(app.as_ref()).ok()?;
        let instance = self.clusters.tracking().instance_of(&obj)?;
        Some(tracking::application_of(
            &instance,
            &self.config.controller_namespace,
        ))
    }

    /// Records the resourceVersion of a write to an Application.
    pub(crate) fn wrote(&self, app: &Application) {
        if let (Some(ns), Some(name), Some(version)) = (
            &app.metadata.namespace,
            &app.metadata.name,
            &app.metadata.resource_version,
        ) {
            lock(&self.written).insert((ns.clone(), name.clone()), version.clone());
        }
    }

    /// Whether `app` is older than this controller's last write to it.
    pub(crate) fn stale(&self, key: &(String, String), app: &Application) -> bool {
        let Some(version) = &app.metadata.resource_version else {
            return false;
        };
        lock(&self.written)
            .get(key)
            .is_some_and(|w| cache::newer(w, version))
    }

    /// Asks for a reconcile of Application (namespace, name) now.
    pub fn request(&self, app: (String, String), why: Trigger) {
        request(&self.triggers, &self.wake, app, why);
    }

    /// Takes the reason an early reconcile was requested, if one was.
    pub fn take_trigger(&self, key: &(String, String)) -> Option<Trigger> {
        lock(&self.triggers).remove(key)
    }

    /// Forgets resolved revisions of a repository (after a push), so the
    /// next reconcile asks Git.
    pub fn forget_revisions(&self, same_repo: impl Fn(&str) -> bool) {
        lock(&self.revisions).retain(|(url, _), _| !same_repo(url));
    }

    /// Whether an Application whose spec has `fingerprint` is not due for a
    /// reconcile yet; then how long until it is. (A requested reconcile,
    /// see [`Context::take_trigger`], is due whatever this says.)
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

/// Records why an Application is wanted and sends it to the `Controller`
/// that watches its namespace.
fn request(
    triggers: &Mutex<HashMap<(String, String), Trigger>>,
    wake: &Mutex<Vec<Waker>>,
    (namespace, name): (String, String),
    why: Trigger,
) {
    {
        let mut triggers = lock(triggers);
        let entry = triggers
            .entry((namespace.clone(), name.clone()))
            .or_insert(why);
        // A push asks Git again; it outranks a resource change.
        if why == Trigger::Push {
            *entry = why;
        }
    }
    debug!(app = %name, namespace = %namespace, ?why, "reconcile requested");
    let target = ObjectRef::new(&name).within(&namespace);
    for (watched, sender) in lock(wake).iter() {
        if watched.as_deref().is_none_or(|ns| ns == namespace) {
            let _ = sender.send(target.clone());
        }
    }
}

/// Runs the controller until the watches end (they do not end on their
/// own): one kube-runtime `Controller` per watched namespace (or one for
/// all), sharing one [`Context`].
pub async fn run(client: Client, config: Config) -> Result<(), Error> {
    run_serving(client, config, None).await
}

/// What serves HTTP beside the controller: given the shared context and the
/// webhook's router (`POST /api/webhook`, state applied), it serves them
/// (with the API, on one port) until the process ends. Used by `gyro
/// controller`; `None` serves the webhook alone on `config.listen`.
pub type Serve =
    Box<dyn FnOnce(Arc<Context>, axum::Router) -> futures::future::BoxFuture<'static, ()> + Send>;

/// [`run`], with `serve` (when given) serving HTTP instead of the webhook
/// alone.
pub async fn run_serving(
    client: Client,
    config: Config,
    serve: Option<Serve>,
) -> Result<(), Error> {
    let apis: Vec<(Option<String>, Api<Application>)> = if config.namespaces.is_empty() {
        vec![(None, Api::all(client.clone()))]
    } else {
        config
            .namespaces
            .iter()
            .map(|ns| (Some(ns.clone()), Api::namespaced(client.clone(), ns)))
            .collect()
    };
    let ctx = Arc::new(Context::new(client, config).await?);
    info!(
        namespaces = ?ctx.config.namespaces,
        interval = ?ctx.config.reconcile_interval,
        tracking = %ctx.clusters.tracking(),
        "controller started"
    );
    let mut stores = Vec::new();
    let controllers: Vec<_> = apis
        .into_iter()
        .map(|(namespace, apps)| {
            let (sender, receiver) = mpsc::unbounded_channel();
            lock(&ctx.wake).push((namespace, sender));
            let requests = futures::stream::unfold(receiver, |mut r| async move {
                r.recv().await.map(|item| (item, r))
            });
            let controller = Controller::new(apps, watcher::Config::default());
            stores.push(controller.store());
            (controller, requests)
        })
        .collect();
    let _ = ctx.apps.set(stores.clone());
    if let Some(serve) = serve {
        tokio::spawn(serve(ctx.clone(), push::router(ctx.clone(), stores)));
    } else if let Some(addr) = ctx.config.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        tokio::spawn(push::serve(ctx.clone(), stores, listener));
    }
    let controllers = controllers.into_iter().map(|(controller, requests)| {
        controller
            .with_config(
                kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
            )
            .reconcile_on(requests)
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    warn!(error = %e, "reconcile failed");
                }
            })
    });
    futures::future::join(
        futures::future::join_all(controllers),
        appset::run(ctx.clone()),
    )
    .await;
    Ok(())
}
