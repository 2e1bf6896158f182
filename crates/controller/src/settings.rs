//! The controller's settings from its own namespace, kept current by
//! watches rather than read on every reconcile, in the objects Argo CD
//! keeps them in:
//!
//! - repository Secrets (`argocd.argoproj.io/secret-type: repository` /
//!   `repo-creds`): Git credentials;
//! - the `argocd-cm` ConfigMap: custom health checks
//!   (`resource.customizations.health.<group>_<kind>` and
//!   `resource.customizations`) and `application.resourceTrackingMethod`;
//! - the `argocd-secret` Secret: the webhook secrets (`webhook.github.secret`, ...);
//! - `AppProject`s: an Application must name one that exists (`default`
//!   is implied, as Argo CD creates it); a change to a project wakes the
//!   Applications (their checks may change).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use health::CustomHealthChecks;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tracing::warn;

/// The label that marks Argo CD's repository and cluster Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
/// Argo CD's settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";
/// Argo CD's settings Secret (webhook secrets, ...).
pub const ARGOCD_SECRET: &str = "argocd-secret";
/// The project every Argo CD installation has.
pub const DEFAULT_PROJECT: &str = policy::DEFAULT_PROJECT;
/// The `argocd-cm` key of the periodic reconcile interval.
pub const RECONCILIATION_KEY: &str = "timeout.reconciliation";
/// What `timeout.reconciliation: 0s` (no periodic reconcile) stands for.
pub const NO_PERIODIC_RECONCILE: Duration = Duration::from_secs(365 * 24 * 3600);
/// The `argocd-cm` key of the resource tracking method.
pub const TRACKING_METHOD_KEY: &str = "application.resourceTrackingMethod";

/// How long startup waits for the first lists of the settings objects.
const FIRST_LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Custom health checks, or what is wrong with their configuration.
type HealthChecks = Result<Arc<CustomHealthChecks>, String>;

/// Watched settings.
pub struct Settings {
    namespace: String,
    repository_secrets: Store<Secret>,
    argocd_cm: Store<ConfigMap>,
    projects: Store<api::AppProject>,
    /// The webhook secrets, updated whenever `argocd-secret` changes.
    webhook_secrets: watch::Receiver<webhook::Secrets>,
    /// The checks parsed from `argocd-cm`, by its resourceVersion.
    health: Mutex<Option<(String, HealthChecks)>>,
}

impl Settings {
    /// Starts the watches in `namespace` and waits (bounded) for their
    /// first lists.
    pub async fn start(
        client: Client,
        namespace: &str,
        projects_changed: impl Fn() + Send + 'static,
    ) -> Self {
        let projects = reflect_then(
            Api::<api::AppProject>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            "AppProjects",
            move |_: &Store<api::AppProject>| projects_changed(),
        );
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let maps: Api<ConfigMap> = Api::namespaced(client, namespace);
        let repository_secrets = reflect(
            secrets.clone(),
            watcher::Config::default().labels(SECRET_TYPE_LABEL),
            "repository Secrets",
        );
        let argocd_cm = reflect(
            maps,
            watcher::Config::default().fields(&format!("metadata.name={ARGOCD_CM}")),
            ARGOCD_CM,
        );
        let (webhook_tx, webhook_secrets) = watch::channel(webhook::Secrets::default());
        let argocd_secret = reflect_then(
            secrets,
            watcher::Config::default().fields(&format!("metadata.name={ARGOCD_SECRET}")),
            ARGOCD_SECRET,
            move |store: &Store<Secret>| {
                let data = secret_data(store);
                webhook_tx.send_replace(webhook::Secrets::from_secret_data(&data));
            },
        );
        let waits = [
            (
                "repository Secrets",
                repository_secrets.wait_until_ready().boxed(),
            ),
            (ARGOCD_CM, argocd_cm.wait_until_ready().boxed()),
            (ARGOCD_SECRET, argocd_secret.wait_until_ready().boxed()),
            ("AppProjects", projects.wait_until_ready().boxed()),
        ];
        for (what, ready) in waits {
            if tokio::time::timeout(FIRST_LIST_TIMEOUT, ready)
                .await
                .is_err()
            {
                warn!(namespace, what, "not listed yet; continuing without");
            }
        }
        Self {
            namespace: namespace.to_string(),
            repository_secrets,
            argocd_cm,
            webhook_secrets,
            projects,
            health: Mutex::default(),
        }
    }

    /// The repository and repo-creds Secrets.
    pub fn repository_secrets(&self) -> Vec<Secret> {
        self.repository_secrets
            .state()
            .iter()
            .map(|s| (**s).clone())
            .collect()
    }

    /// `argocd-cm`'s data (empty when it does not exist).
    pub fn argocd_cm(&self) -> BTreeMap<String, String> {
        self.argocd_cm
            .state()
            .first()
            .and_then(|cm| cm.data.clone())
            .unwrap_or_default()
    }

    /// The AppProject named `name` in the controller namespace. `default`
    /// always exists: Argo CD creates it, and without one it allows
    /// everything.
    pub fn project(&self, name: &str) -> Option<Arc<api::AppProject>> {
        let found = self
            .projects
            .state()
            .into_iter()
            .find(|p| p.metadata.name.as_deref() == Some(name));
        match found {
            Some(p) => Some(p),
            None if name == DEFAULT_PROJECT => Some(Arc::new(policy::implicit_default_project())),
            None => None,
        }
    }

    /// The webhook secrets of `argocd-secret`, kept current.
    pub fn webhook_secrets(&self) -> watch::Receiver<webhook::Secrets> {
        self.webhook_secrets.clone()
    }

    /// The custom health checks of `argocd-cm`, parsed once per version
    /// of the ConfigMap. `Err` names the key that is wrong.
    pub fn health_checks(&self) -> Result<Arc<CustomHealthChecks>, String> {
        let cm = self.argocd_cm.state().first().cloned();
        let version = cm
            .as_ref()
            .and_then(|c| c.metadata.resource_version.clone())
            .unwrap_or_default();
        let mut cached = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, checks)) = cached.as_ref()
            && *seen == version
        {
            return checks.clone();
        }
        let data = cm.and_then(|c| c.data.clone()).unwrap_or_default();
        let checks = CustomHealthChecks::from_argocd_cm(&data)
            .map(Arc::new)
            .map_err(|e| format!("ConfigMap {}/{ARGOCD_CM}: {e}", self.namespace));
        *cached = Some((version, checks.clone()));
        checks
    }
}

fn secret_data(store: &Store<Secret>) -> BTreeMap<String, Vec<u8>> {
    store
        .state()
        .first()
        .and_then(|s| s.data.clone())
        .map(|d| d.into_iter().map(|(k, v)| (k, v.0)).collect())
        .unwrap_or_default()
}

/// `timeout.reconciliation` from `argocd-cm`'s data, as Argo CD reads it:
/// a Go duration (`180s`, `3m`, `1h30m`); `0` turns the periodic reconcile
/// off. `None` when the key is absent.
pub fn reconciliation_timeout(data: &BTreeMap<String, String>) -> Result<Option<Duration>, String> {
    let Some(text) = data.get(RECONCILIATION_KEY) else {
        return Ok(None);
    };
    match crate::operation::parse_duration(text) {
        Some(d) if d.is_zero() => Ok(Some(NO_PERIODIC_RECONCILE)),
        Some(d) => Ok(Some(d)),
        None => Err(format!(
            "argocd-cm {RECONCILIATION_KEY}: {text:?} is not a duration like 180s or 3m"
        )),
    }
}

/// A reflector store fed by a watch running in the background.
fn reflect<K>(api: Api<K>, config: watcher::Config, what: &'static str) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    reflect_then(api, config, what, |_: &Store<K>| {})
}

/// [`reflect`], calling `changed` with the store after every change.
pub(crate) fn reflect_then<K>(
    api: Api<K>,
    config: watcher::Config,
    what: &'static str,
    changed: impl Fn(&Store<K>) + Send + 'static,
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    let store = reader.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed(&store),
                Err(e) => warn!(what, error = %e, "settings watch failed; retrying"),
            }
        }
    });
    reader
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconciliation_timeout_reads_as_argo_cd_writes_it() {
        let data = |v: &str| BTreeMap::from([(RECONCILIATION_KEY.to_string(), v.to_string())]);
        assert_eq!(reconciliation_timeout(&BTreeMap::new()), Ok(None));
        assert_eq!(
            reconciliation_timeout(&data("3m")),
            Ok(Some(Duration::from_secs(180)))
        );
        assert_eq!(
            reconciliation_timeout(&data("1h30m")),
            Ok(Some(Duration::from_secs(5400)))
        );
        assert_eq!(
            reconciliation_timeout(&data("0s")),
            Ok(Some(NO_PERIODIC_RECONCILE))
        );
        let err = reconciliation_timeout(&data("soon")).unwrap_err();
        assert!(
            err.contains("timeout.reconciliation") && err.contains("soon"),
            "{err}"
        );
    }
}
