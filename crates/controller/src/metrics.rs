//! The controller's Prometheus metrics, named and labelled as Argo CD's
//! where Argo CD has them (`argocd_app_info`, `argocd_app_sync_total`,
//! `argocd_app_reconcile`, `argocd_git_request_*`,
//! `argocd_cluster_api_*`), plus gyro's render and API request series.
//!
//! Counters and histograms are recorded where the controller does the
//! work (one call per site); `argocd_app_info` and `argocd_app_condition`
//! are computed at scrape time from the controller's Application stores,
//! so they are never stale. [`Metrics::encode`] gives the text the
//! server's `GET /metrics` answers.

use std::sync::{Arc, OnceLock};

use api::Application;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s text (OpenMetrics, which
/// Prometheus scrapes as it does its own text format).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The Applications of every running controller, as `Context` holds them.
pub type AppStores = Arc<OnceLock<Vec<Store<Application>>>>;

/// Argo CD's buckets for `argocd_app_reconcile` (seconds).
const RECONCILE_BUCKETS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// Buckets for Git requests and renders (seconds).
const WORK_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
/// Buckets for API requests (seconds).
const API_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    namespace: String,
    dest_server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    name: String,
    namespace: String,
    project: String,
    dest_server: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GitLabels {
    repo: String,
    request_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RenderLabels {
    source_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    method: String,
    route: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiRouteLabels {
    method: String,
    route: String,
}

/// The registry and every series the controller and server record.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile: Histograms<ReconcileLabels>,
    syncs: Family<SyncLabels, Counter>,
    git_requests: Family<GitLabels, Counter>,
    git_durations: Histograms<GitLabels>,
    renders: Histograms<RenderLabels>,
    cluster_objects: Family<ServerLabels, Gauge>,
    cluster_resources: Family<ServerLabels, Gauge>,
    api_requests: Family<ApiLabels, Counter>,
    api_durations: Histograms<ApiRouteLabels>,
}

impl Default for Metrics {
    /// Metrics without Applications to report (for a server alone).
    fn default() -> Self {
        Metrics::new(AppStores::default())
    }
}

impl Metrics {
    /// The metrics, reporting the Applications in `apps` at scrape time.
    pub fn new(apps: AppStores) -> Self {
        let mut registry = Registry::default();
        let reconcile: Histograms<ReconcileLabels> =
            Family::new_with_constructor(|| Histogram::new(RECONCILE_BUCKETS));
        registry.register(
            "argocd_app_reconcile",
            "Application reconciliation performance in seconds.",
            reconcile.clone(),
        );
        let syncs = Family::<SyncLabels, Counter>::default();
        registry.register(
            "argocd_app_sync",
            "Number of application syncs, by the phase the operation ended in.",
            syncs.clone(),
        );
        let git_requests = Family::<GitLabels, Counter>::default();
        registry.register(
            "argocd_git_request",
            "Number of Git requests performed by the controller.",
            git_requests.clone(),
        );
        let git_durations: Histograms<GitLabels> =
            Family::new_with_constructor(|| Histogram::new(WORK_BUCKETS));
        registry.register(
            "argocd_git_request_duration_seconds",
            "Git request duration in seconds.",
            git_durations.clone(),
        );
        let renders: Histograms<RenderLabels> =
            Family::new_with_constructor(|| Histogram::new(WORK_BUCKETS));
        registry.register(
            "gyro_render_duration_seconds",
            "Time to render an Application's source into manifests, in seconds.",
            renders.clone(),
        );
        let cluster_objects = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "argocd_cluster_api_resource_objects",
            "Number of k8s resource objects in the cache.",
            cluster_objects.clone(),
        );
        let cluster_resources = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "argocd_cluster_api_resources",
            "Number of monitored kubernetes API resources.",
            cluster_resources.clone(),
        );
        let api_requests = Family::<ApiLabels, Counter>::default();
        registry.register(
            "gyro_api_requests",
            "Number of API server requests, by method, route and status code.",
            api_requests.clone(),
        );
        let api_durations: Histograms<ApiRouteLabels> =
            Family::new_with_constructor(|| Histogram::new(API_BUCKETS));
        registry.register(
            "gyro_api_request_duration_seconds",
            "API server request duration in seconds.",
            api_durations.clone(),
        );
        registry.register_collector(Box::new(AppCollector { apps }));
        Metrics {
            registry,
            reconcile,
            syncs,
            git_requests,
            git_durations,
            renders,
            cluster_objects,
            cluster_resources,
            api_requests,
            api_durations,
        }
    }

    /// One reconcile of `app` took `seconds`.
    pub fn reconciled(&self, app: &Application, seconds: f64) {
        self.reconcile
            .get_or_create(&ReconcileLabels {
                namespace: app.metadata.namespace.clone().unwrap_or_default(),
                dest_server: dest_server(app),
            })
            .observe(seconds);
    }

    /// An operation on `app` ended in `phase` (`Succeeded`, `Failed`,
    /// `Error`).
    pub fn operation_finished(&self, app: &Application, phase: &str) {
        self.syncs
            .get_or_create(&SyncLabels {
                name: app.metadata.name.clone().unwrap_or_default(),
                namespace: app.metadata.namespace.clone().unwrap_or_default(),
                project: app.spec.project.clone(),
                dest_server: dest_server(app),
                phase: phase.to_string(),
            })
            .inc();
    }

    /// A Git request (`request_type` `ls-remote` or `fetch`) to `repo` took
    /// `seconds`.
    pub fn git_request(&self, repo: &str, request_type: &str, seconds: f64) {
        let labels = GitLabels {
            repo: repo.to_string(),
            request_type: request_type.to_string(),
        };
        self.git_requests.get_or_create(&labels).inc();
        self.git_durations.get_or_create(&labels).observe(seconds);
    }

    /// The hook the Git source layer calls after each `ls-remote` and
    /// `fetch`.
    pub fn git_observer(self: &Arc<Self>) -> source::GitObserver {
        let metrics = Arc::downgrade(self);
        source::GitObserver(Arc::new(move |repo, request_type, took| {
            if let Some(metrics) = metrics.upgrade() {
                metrics.git_request(repo, request_type, took.as_secs_f64());
            }
        }))
    }

    /// Rendering `source` from the tree at `root` took `took`; the series
    /// is labelled with the source's type (`Directory`, `Kustomize`,
    /// `Helm`, `Plugin`), named by its options or found in the tree.
    pub fn rendered(
        &self,
        root: &std::path::Path,
        source: &api::ApplicationSource,
        took: std::time::Duration,
    ) {
        use render::source::{Source, SourceType, detect};
        let fs = render::fs::DiskFs::new(root);
        let source_type = serde_json::to_value(source)
            .ok()
            .and_then(|spec| Source::from_value(&spec).ok())
            .and_then(|s| match s.explicit_type() {
                Ok(Some(t)) => Some(t),
                _ => render::fs::join("", &s.path)
                    .and_then(|dir| detect(&fs, &dir))
                    .ok(),
            })
            .unwrap_or(SourceType::Directory);
        self.render_seconds(&format!("{source_type:?}"), took.as_secs_f64());
    }

    fn render_seconds(&self, source_type: &str, seconds: f64) {
        self.renders
            .get_or_create(&RenderLabels {
                source_type: source_type.to_string(),
            })
            .observe(seconds);
    }

    /// The size of `cluster`'s live-object cache: kinds watched and
    /// objects held (left as they were when the cache is busy).
    pub fn cluster_cache(&self, cluster: &crate::clusters::Cluster) {
        if let Some((resources, objects)) = cluster.live.size() {
            self.cluster_cache_size(&cluster.spec.server, resources, objects);
        }
    }

    fn cluster_cache_size(&self, server: &str, resources: usize, objects: usize) {
        let labels = ServerLabels {
            server: server.to_string(),
        };
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.cluster_resources
            .get_or_create(&labels)
            .set(as_i64(resources));
        self.cluster_objects
            .get_or_create(&labels)
            .set(as_i64(objects));
    }

    /// One API request: `route` is the matched route pattern
    /// (`/api/v1/applications/{name}`), not the path, so that series stay
    /// few.
    pub fn api_request(&self, method: &str, route: &str, code: u16, seconds: f64) {
        self.api_requests
            .get_or_create(&ApiLabels {
                method: method.to_string(),
                route: route.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.api_durations
            .get_or_create(&ApiRouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Every series in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; a collector's error would be a
        // bug, and the text so far is still worth serving.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

/// `spec.destination.server`, or the cluster's name when only that is set.
fn dest_server(app: &Application) -> String {
    let dest = &app.spec.destination;
    dest.server
        .clone()
        .or_else(|| dest.name.clone())
        .unwrap_or_default()
}

/// `argocd_app_info` and `argocd_app_condition`, from the Applications as
/// the controller sees them when scraped.
#[derive(Debug)]
struct AppCollector {
    apps: AppStores,
}

impl Collector for AppCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut apps: Vec<Arc<Application>> = self
            .apps
            .get()
            .into_iter()
            .flatten()
            .flat_map(|s| s.state())
            .collect();
        apps.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        let one = ConstGauge::new(1i64);
        {
            let mut info = encoder.encode_descriptor(
                "argocd_app_info",
                "Information about application.",
                None,
                one.metric_type(),
            )?;
            for app in &apps {
                let labels = app_info(app);
                one.encode(info.encode_family(&labels)?)?;
            }
        }
        let mut conditions = encoder.encode_descriptor(
            "argocd_app_condition",
            "Report application conditions.",
            None,
            one.metric_type(),
        )?;
        for app in &apps {
            let status = app.status.as_ref();
            for condition in status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
            {
                let labels = vec![
                    (
                        "namespace",
                        app.metadata.namespace.clone().unwrap_or_default(),
                    ),
                    ("name", app.metadata.name.clone().unwrap_or_default()),
                    ("project", app.spec.project.clone()),
                    ("condition", condition.type_.clone()),
                ];
                one.encode(conditions.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The labels of an Application's `argocd_app_info` sample, as Argo CD
/// computes them (`Unknown` for a status not yet known).
fn app_info(app: &Application) -> Vec<(&'static str, String)> {
    let status = app.status.as_ref();
    let known = |s: Option<&str>| s.filter(|s| !s.is_empty()).unwrap_or("Unknown").to_string();
    let sync_status = known(
        status
            .and_then(|s| s.sync.as_ref())
            .map(|s| s.status.as_str()),
    );
    let health_status = known(
        status
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status.as_deref()),
    );
    let autosync = app
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.as_ref())
        .is_some_and(|a| a.enabled != Some(false));
    let operation = if app.metadata.deletion_timestamp.is_some() {
        "delete"
    } else if app.operation.as_ref().is_some_and(|o| o.sync.is_some()) {
        "sync"
    } else {
        ""
    };
    let repo = app
        .spec
        .effective_sources()
        .first()
        .map(|s| s.repo_url.clone())
        .unwrap_or_default();
    vec![
        (
            "namespace",
            app.metadata.namespace.clone().unwrap_or_default(),
        ),
        ("name", app.metadata.name.clone().unwrap_or_default()),
        ("project", app.spec.project.clone()),
        ("autosync_enabled", autosync.to_string()),
        ("repo", repo),
        ("dest_server", dest_server(app)),
        (
            "dest_namespace",
            app.spec.destination.namespace.clone().unwrap_or_default(),
        ),
        ("sync_status", sync_status),
        ("health_status", health_status),
        ("operation", operation.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(json: serde_json::Value) -> Application {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn recorded_series_are_encoded_with_argo_cd_names() {
        let metrics = Metrics::default();
        let guestbook = app(serde_json::json!({
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "gb"}}
        }));
        metrics.reconciled(&guestbook, 0.3);
        metrics.operation_finished(&guestbook, "Succeeded");
        metrics.git_request("https://git.example/repo.git", "ls-remote", 0.02);
        metrics.render_seconds("Kustomize", 0.1);
        metrics.cluster_cache_size("https://kubernetes.default.svc", 3, 12);
        metrics.api_request("GET", "/api/v1/applications", 200, 0.004);
        let text = metrics.encode();
        for want in [
            "# TYPE argocd_app_reconcile histogram",
            "argocd_app_reconcile_bucket{le=\"0.5\",namespace=\"argocd\",dest_server=\"https://kubernetes.default.svc\"} 1",
            "argocd_app_reconcile_count{namespace=\"argocd\",dest_server=\"https://kubernetes.default.svc\"} 1",
            "argocd_app_sync_total{name=\"guestbook\",namespace=\"argocd\",project=\"default\",dest_server=\"https://kubernetes.default.svc\",phase=\"Succeeded\"} 1",
            "argocd_git_request_total{repo=\"https://git.example/repo.git\",request_type=\"ls-remote\"} 1",
            "argocd_git_request_duration_seconds_count{repo=\"https://git.example/repo.git\",request_type=\"ls-remote\"} 1",
            "gyro_render_duration_seconds_count{source_type=\"Kustomize\"} 1",
            "argocd_cluster_api_resources{server=\"https://kubernetes.default.svc\"} 3",
            "argocd_cluster_api_resource_objects{server=\"https://kubernetes.default.svc\"} 12",
            "gyro_api_requests_total{method=\"GET\",route=\"/api/v1/applications\",code=\"200\"} 1",
            "gyro_api_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/api/v1/applications\"} 1",
            "# TYPE argocd_app_info gauge",
            "# EOF",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn app_info_labels_follow_argo_cd() {
        let synced = app(serde_json::json!({
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "project": "team-a",
                "source": {"repoURL": "https://git.example/web.git", "path": "deploy"},
                "destination": {"name": "prod", "namespace": "web"},
                "syncPolicy": {"automated": {"prune": true}}
            },
            "operation": {"sync": {}},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
        }));
        assert_eq!(
            app_info(&synced),
            vec![
                ("namespace", "apps".to_string()),
                ("name", "web".to_string()),
                ("project", "team-a".to_string()),
                ("autosync_enabled", "true".to_string()),
                ("repo", "https://git.example/web.git".to_string()),
                ("dest_server", "prod".to_string()),
                ("dest_namespace", "web".to_string()),
                ("sync_status", "Synced".to_string()),
                ("health_status", "Healthy".to_string()),
                ("operation", "sync".to_string()),
            ]
        );
        let fresh = app(serde_json::json!({
            "metadata": {"name": "new", "namespace": "apps"},
            "spec": {"project": "default", "destination": {}, "syncPolicy": {"automated": {"enabled": false}}}
        }));
        let labels = app_info(&fresh);
        assert!(labels.contains(&("sync_status", "Unknown".to_string())));
        assert!(labels.contains(&("health_status", "Unknown".to_string())));
        assert!(labels.contains(&("autosync_enabled", "false".to_string())));
        assert!(labels.contains(&("operation", String::new())));
    }
}
