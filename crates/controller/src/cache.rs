//! A watch-based cache of the live objects Applications manage, so that a
//! reconcile reads memory instead of listing the cluster, and a change to a
//! managed object wakes its Application at once (self-heal, health).
//!
//! One watch per kind, started the first time an Application manages that
//! kind and kept for the controller's life. With label tracking the watch
//! asks the API server only for objects carrying the tracking label; with
//! annotation tracking it sees the whole kind and keeps only objects whose
//! tracking id names them. Objects are indexed by the instance that manages
//! them, so one Application's lookup does not scan others'.
//!
//! Every change calls the notifier with the instance name; the controller
//! turns it into a reconcile of that Application. The first full list of a
//! kind notifies nobody (the Applications that asked are reconciling); a
//! re-list after a broken watch notifies every instance whose objects
//! changed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::tracking::TrackingMethod;

/// How long a reconcile waits for a new kind's first list before it
/// reports the kind as unavailable.
const FIRST_LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Called with the instance name whose objects changed.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// Called when a watch that worked fails (the cluster may be gone).
pub type OnFailure = Arc<dyn Fn() + Send + Sync>;

/// (namespace, name); namespace empty for cluster-scoped objects.
type ObjectName = (String, String);

/// An object and, when some instance manages it, that instance.
type Entry = (ObjectName, Option<(String, Arc<Value>)>);

/// The objects of one kind, by managing instance.
#[derive(Default)]
struct Objects {
    by_instance: HashMap<String, HashMap<ObjectName, Arc<Value>>>,
    owner: HashMap<ObjectName, String>,
}

impl Objects {
    /// Stores (or with `None`, forgets) an object; returns the instances
    /// whose set changed.
    fn put(&mut self, name: ObjectName, obj: Option<(String, Arc<Value>)>) -> Vec<String> {
        let mut touched = Vec::new();
        let new_owner = obj.as_ref().map(|(i, _)| i.clone());
        if let Some(old) = self.owner.remove(&name) {
            if let Some(set) = self.by_instance.get_mut(&old) {
                set.remove(&name);
                if set.is_empty() {
                    self.by_instance.remove(&old);
                }
            }
            if new_owner.as_ref() != Some(&old) {
                touched.push(old);
            }
        }
        if let Some((instance, value)) = obj {
            self.owner.insert(name.clone(), instance.clone());
            self.by_instance
                .entry(instance.clone())
                .or_default()
                .insert(name, value);
            touched.push(instance);
        }
        touched
    }

    fn len(&self) -> usize {
        self.owner.len()
    }
}

/// The watch of one kind.
struct KindWatch {
    objects: RwLock<Objects>,
    /// `Ok(true)` once the first list is in; `Err` while the watch fails.
    state: watch::Sender<Result<bool, String>>,
}

/// A kind and the namespace its watch covers (empty: all).
type WatchKey = (GroupVersionKind, String);

/// The cache: one [`KindWatch`] per kind in use (per kind and namespace
/// for a cluster restricted to some namespaces).
pub struct LiveCache {
    client: kube::Client,
    tracking: TrackingMethod,
    notify: Notify,
    /// The namespaces namespaced kinds are watched in, one watch each;
    /// empty: cluster-wide (which needs cluster-wide list and watch).
    namespaces: Vec<String>,
    kinds: tokio::sync::Mutex<HashMap<WatchKey, Arc<KindWatch>>>,
    /// Watch failures so far: a cluster's reachability check trusts an
    /// earlier answer only while this has not moved.
    failures: Arc<AtomicU64>,
    on_failure: Option<OnFailure>,
    /// The watch tasks, stopped with the cache (a cluster's cache is
    /// replaced when its Secret changes).
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for LiveCache {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl LiveCache {
    pub fn new(client: kube::Client, tracking: TrackingMethod, notify: Notify) -> Self {
        Self {
            client,
            tracking,
            notify,
            namespaces: Vec::new(),
            kinds: tokio::sync::Mutex::default(),
            tasks: std::sync::Mutex::default(),
            failures: Arc::default(),
            on_failure: None,
        }
    }

    /// Watches namespaced kinds only in `namespaces` (a cluster whose
    /// credentials are limited to them); empty: cluster-wide.
    pub fn in_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Calls `hook` when a watch that worked fails.
    pub fn on_failure(mut self, hook: OnFailure) -> Self {
        self.on_failure = Some(hook);
        self
    }

    /// How many times its watches have failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn tracking(&self) -> TrackingMethod {
        self.tracking
    }

    /// The kinds watched and the objects cached, for metrics; `None` while
    /// another task holds the kinds.
    pub fn size(&self) -> Option<(usize, usize)> {
        let kinds = self.kinds.try_lock().ok()?;
        let objects = kinds
            .values()
            .map(|w| w.objects.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum();
        Some((kinds.len(), objects))
    }

    /// The objects of kind `resource` (`namespaced` or not) that
    /// `instance` manages, in `namespaces` (cluster-scoped objects
    /// always). Starts watching the kind if nobody did yet and waits for
    /// its first list.
    pub async fn managed(
        &self,
        gvk: &GroupVersionKind,
        resource: &ApiResource,
        namespaced: bool,
        instance: &str,
        namespaces: &HashSet<String>,
    ) -> Result<Vec<Arc<Value>>, String> {
        let scopes: Vec<&str> = if self.namespaces.is_empty() || !namespaced {
            vec![""]
        } else {
            // The others are refused before they get here (see
            // `clusters::permits`).
            self.namespaces
                .iter()
                .filter(|ns| namespaces.contains(*ns))
                .map(String::as_str)
                .collect()
        };
        let mut found = Vec::new();
        for scope in scopes {
            let kind = self.watch(gvk, resource, scope).await;
            found.extend(listed(&kind, gvk, instance, namespaces).await?);
        }
        Ok(found)
    }

    /// Records an object as the API server just answered it (an apply),
    /// so the next lookup need not wait for the watch. An older version
    /// than the one held is ignored; the watch delivers the same version
    /// again later, which changes nothing.
    pub async fn observe(&self, gvk: &GroupVersionKind, obj: &Value) {
        let meta = &obj["metadata"];
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        let Some(kind) = self.holding(gvk, namespace).await else {
            return;
        };
        let (Some(name), Some(version)) = (
            meta.get("name").and_then(Value::as_str),
            meta.get("resourceVersion").and_then(Value::as_str),
        ) else {
            return;
        };
        let key = (
            meta.get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name.to_string(),
        );
        let mut objects = kind
            .objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = objects
            .owner
            .get(&key)
            .and_then(|i| objects.by_instance.get(i))
            .and_then(|set| set.get(&key))
            .and_then(|o| {
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .map(str::to_string)
            });
        if held.is_some_and(|held| !newer(version, &held)) {
            return;
        }
        let managed = self
            .tracking
            .instance_of(obj)
            .map(|instance| (instance, Arc::new(obj.clone())));
        objects.put(key, managed);
    }

    /// Forgets an object the API server said is gone (a prune), until the
    /// watch says otherwise.
    pub async fn forget(&self, gvk: &GroupVersionKind, namespace: &str, name: &str) {
        let Some(kind) = self.holding(gvk, namespace).await else {
            return;
        };
        kind.objects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .put((namespace.to_string(), name.to_string()), None);
    }

    /// The watch of `gvk` holding an object in `namespace`, if one runs.
    async fn holding(&self, gvk: &GroupVersionKind, namespace: &str) -> Option<Arc<KindWatch>> {
        let kinds = self.kinds.lock().await;
        kinds
            .get(&(gvk.clone(), String::new()))
            .or_else(|| kinds.get(&(gvk.clone(), namespace.to_string())))
            .cloned()
    }

    async fn watch(
        &self,
        gvk: &GroupVersionKind,
        resource: &ApiResource,
        namespace: &str,
    ) -> Arc<KindWatch> {
        let mut kinds = self.kinds.lock().await;
        let key = (gvk.clone(), namespace.to_string());
        if let Some(kind) = kinds.get(&key) {
            return kind.clone();
        }
        let (state, _) = watch::channel(Ok(false));
        let kind = Arc::new(KindWatch {
            objects: RwLock::default(),
            state,
        });
        kinds.insert(key, kind.clone());
        info!(kind = %describe(gvk), namespace, tracking = %self.tracking, "watching managed objects");
        let api: Api<DynamicObject> = if namespace.is_empty() {
            Api::all_with(self.client.clone(), resource)
        } else {
            Api::namespaced_with(self.client.clone(), namespace, resource)
        };
        let mut config = watcher::Config::default();
        if let Some(label) = self.tracking.selector() {
            config = config.labels(label);
        }
        let task = run_watch(
            api,
            config,
            resource.clone(),
            self.tracking,
            kind.clone(),
            describe(gvk),
            Report {
                notify: self.notify.clone(),
                failures: self.failures.clone(),
                on_failure: self.on_failure.clone(),
            },
        );
        let task = tokio::spawn(task).abort_handle();
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task);
        kind
    }
}

/// The objects `instance` manages in one watch, in `namespaces`, once the
/// watch's first list is in.
async fn listed(
    kind: &KindWatch,
    gvk: &GroupVersionKind,
    instance: &str,
    namespaces: &HashSet<String>,
) -> Result<Vec<Arc<Value>>, String> {
    let mut state = kind.state.subscribe();
    let ready = tokio::time::timeout(FIRST_LIST_TIMEOUT, async {
        loop {
            match &*state.borrow_and_update() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e.clone()),
            }
            if state.changed().await.is_err() {
                return Err("the watch ended".to_string());
            }
        }
    })
    .await;
    match ready {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("watching {}: {e}", describe(gvk))),
        Err(_) => {
            return Err(format!(
                "watching {}: no list within {FIRST_LIST_TIMEOUT:?}",
                describe(gvk)
            ));
        }
    }
    let objects = kind
        .objects
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(objects
        .by_instance
        .get(instance)
        .map(|set| {
            set.iter()
                .filter(|((ns, _), _)| ns.is_empty() || namespaces.contains(ns))
                .map(|(_, v)| v.clone())
                .collect()
        })
        .unwrap_or_default())
}

/// Whom a watch tells: the changed instances, and its failures.
struct Report {
    notify: Notify,
    failures: Arc<AtomicU64>,
    on_failure: Option<OnFailure>,
}

/// Folds one kind's watch events into its [`KindWatch`].
async fn run_watch(
    api: Api<DynamicObject>,
    config: watcher::Config,
    resource: ApiResource,
    tracking: TrackingMethod,
    kind: Arc<KindWatch>,
    label: String,
    report: Report,
) {
    let Report {
        notify,
        failures,
        on_failure,
    } = report;
    let entry = |obj: DynamicObject| -> Option<Entry> {
        let name = (
            obj.metadata.namespace.clone().unwrap_or_default(),
            obj.metadata.name.clone()?,
        );
        let mut value = serde_json::to_value(&obj).ok()?;
        // Watch events of built-in kinds come without apiVersion and kind.
        value["apiVersion"] = Value::String(resource.api_version.clone());
        value["kind"] = Value::String(resource.kind.clone());
        let managed = tracking
            .instance_of(&value)
            .map(|instance| (instance, Arc::new(value)));
        Some((name, managed))
    };
    let mut listing: Option<Objects> = None;
    let mut listed_once = false;
    // Failing since the last event: later failures are the same outage.
    let mut failing = false;
    let mut events = watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                warn!(kind = %label, error = %e, "watch failed; retrying");
                failures.fetch_add(1, Ordering::Relaxed);
                if !listed_once {
                    let _ = kind.state.send_replace(Err(e.to_string()));
                }
                if !failing && let Some(hook) = &on_failure {
                    hook();
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        let mut touched: HashSet<String> = HashSet::new();
        match event {
            watcher::Event::Init => listing = Some(Objects::default()),
            watcher::Event::InitApply(obj) => {
                if let (Some(listing), Some((name, managed))) = (listing.as_mut(), entry(obj)) {
                    listing.put(name, managed);
                }
            }
            watcher::Event::InitDone => {
                let fresh = listing.take().unwrap_or_default();
                let mut objects = kind
                    .objects
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if listed_once {
                    touched.extend(changed_instances(&objects, &fresh));
                }
                debug!(kind = %label, objects = fresh.len(), "listed");
                *objects = fresh;
                listed_once = true;
                let _ = kind.state.send_replace(Ok(true));
            }
            watcher::Event::Apply(obj) => {
                if let Some((name, managed)) = entry(obj) {
                    let mut objects = kind
                        .objects
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    touched.extend(objects.put(name, managed));
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some((name, _)) = entry(obj) {
                    let mut objects = kind
                        .objects
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    touched.extend(objects.put(name, None));
                }
            }
        }
        for instance in touched {
            notify(&instance);
        }
    }
}

/// Whether resourceVersion `a` is newer than `b`. They are opaque to
/// clients, but etcd-backed servers use increasing integers; anything else
/// counts as not newer (the watch decides).
pub(crate) fn newer(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// The instances whose objects differ between two listings.
fn changed_instances(old: &Objects, new: &Objects) -> Vec<String> {
    let mut changed = Vec::new();
    for (instance, set) in &old.by_instance {
        if new.by_instance.get(instance) != Some(set) {
            changed.push(instance.clone());
        }
    }
    for instance in new.by_instance.keys() {
        if !old.by_instance.contains_key(instance) {
            changed.push(instance.clone());
        }
    }
    changed
}

fn describe(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() {
        format!("{}/{}", gvk.version, gvk.kind)
    } else {
        format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name(n: &str) -> ObjectName {
        ("ns".to_string(), n.to_string())
    }

    #[test]
    fn objects_are_indexed_by_instance_and_moves_touch_both() {
        let mut objects = Objects::default();
        let v = |x: i64| Arc::new(json!({"x": x}));
        assert_eq!(objects.put(name("a"), Some(("web".into(), v(1)))), ["web"]);
        assert_eq!(objects.put(name("b"), Some(("web".into(), v(2)))), ["web"]);
        // Relabelled to another Application: both are told.
        assert_eq!(
            objects.put(name("a"), Some(("db".into(), v(3)))),
            ["web", "db"]
        );
        assert_eq!(objects.by_instance["web"].len(), 1);
        // Label removed: the old owner is told.
        assert_eq!(objects.put(name("b"), None), ["web"]);
        assert!(!objects.by_instance.contains_key("web"));
        assert_eq!(objects.len(), 1);
        // Forgetting an unknown object touches nobody.
        assert!(objects.put(name("zz"), None).is_empty());
    }

    #[test]
    fn only_newer_integer_versions_replace_what_the_watch_delivered() {
        assert!(newer("12", "9"));
        assert!(!newer("9", "12"));
        assert!(!newer("12", "12"));
        assert!(!newer("abc", "9"));
    }

    #[test]
    fn a_relist_reports_only_instances_that_changed() {
        let v = |x: i64| Arc::new(json!({"x": x}));
        let mut old = Objects::default();
        old.put(name("a"), Some(("web".into(), v(1))));
        old.put(name("b"), Some(("db".into(), v(1))));
        let mut new = Objects::default();
        new.put(name("a"), Some(("web".into(), v(1))));
        new.put(name("b"), Some(("db".into(), v(2))));
        new.put(name("c"), Some(("queue".into(), v(1))));
        let mut changed = changed_instances(&old, &new);
        changed.sort();
        assert_eq!(changed, ["db", "queue"]);
    }
}
