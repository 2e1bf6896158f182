//! The ApplicationSet controller: renders each `ApplicationSet` into
//! Applications (with the pure `appset` crate) and creates, updates and
//! deletes them with server-side apply, as `syncPolicy.applicationsSync`
//! allows; writes `status.conditions` and `status.resources`.
//!
//! Inputs come from the edges here: cluster Secrets
//! ([`registered_clusters`]) and repository trees, resolved and checked
//! out through the shared [`Context`] (`compare::resolve`, so a pushed
//! repository is asked again once the webhook forgot its revisions).
//! Generated Applications carry an owner reference to their set: a change
//! to one wakes the set (which puts it back), and deleting the set deletes
//! them (Kubernetes' garbage collector).
//!
//! Sets are looked at again every `reconcile_interval` (sooner when a
//! git generator asks with `requeueAfterSeconds`), and at once when the
//! Git webhook reports a push to a repository one of their git generators
//! reads ([`on_push`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{
    Application, ApplicationSet, ApplicationSetCondition, ApplicationSource, HealthStatus,
    RESOURCES_FINALIZER, ResourceStatus,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::Context;

/// The field manager of generated Applications.
pub const MANAGER: &str = "gyro-applicationset";
/// How many times one reconcile fetches a repository tree a generator asks
/// for (a matrix of git generators asks one at a time).
const MAX_TREES: usize = 16;

/// Why an ApplicationSet reconcile failed in a way that cannot be written
/// to its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ApplicationSet without metadata.{0}")]
    Unnamed(&'static str),
    #[error("writing the status of ApplicationSet {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("removing the finalizer of ApplicationSet {namespace}/{name}: {source}")]
    RemoveFinalizer {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The running ApplicationSet controllers, for the push path: the sets
/// each one watches and where it takes reconcile requests.
#[derive(Default)]
pub struct Wakers(Mutex<Vec<Waker>>);

type Waker = (
    Store<ApplicationSet>,
    mpsc::UnboundedSender<ObjectRef<ApplicationSet>>,
);

impl Wakers {
    /// Wakes every ApplicationSet (a cluster Secret changed: a clusters
    /// generator may yield other parameters now).
    pub fn wake_all(&self) {
        for (store, sender) in crate::lock(&self.0).iter() {
            for set in store.state() {
                let _ = sender.send(ObjectRef::from_obj(&*set));
            }
        }
    }
}

/// Wakes every ApplicationSet with a git generator (at any depth) on the
/// pushed repository and revision. (The push path has already made the
/// controller forget the repository's resolved revisions.)
pub fn on_push(ctx: &Context, push: &webhook::Push) {
    let wakers = crate::lock(&ctx.appsets.0);
    for (store, sender) in wakers.iter() {
        for set in store.state() {
            let spec = serde_json::to_value(&set.spec).unwrap_or(Value::Null);
            if git_sources(&spec)
                .iter()
                .any(|(repo, revision)| push.touches(repo, revision))
            {
                debug!(applicationset = ?set.metadata.name, "push concerns an ApplicationSet");
                let _ = sender.send(ObjectRef::from_obj(&*set));
            }
        }
    }
}

/// The (repoURL, revision) of every git generator in a set's spec,
/// nested ones included.
fn git_sources(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![spec];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(git) = map.get("git")
                    && let Some(repo) = git.get("repoURL").and_then(Value::as_str)
                {
                    let revision = git.get("revision").and_then(Value::as_str).unwrap_or("");
                    out.push((repo.to_string(), revision.to_string()));
                }
                // Templates hold Application sources, not generators.
                stack.extend(
                    map.iter()
                        .filter(|(k, _)| k.as_str() != "template")
                        .map(|(_, v)| v),
                );
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// Runs the ApplicationSet controller over the namespaces the
/// Application controller watches, until the watches end.
pub async fn run(ctx: Arc<Context>) {
    let namespaces: Vec<Option<String>> = if ctx.config.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.config.namespaces.iter().cloned().map(Some).collect()
    };
    let controllers = namespaces.into_iter().map(|namespace| {
        let (sets, apps): (Api<ApplicationSet>, Api<Application>) = match &namespace {
            Some(ns) => (
                Api::namespaced(ctx.client.clone(), ns),
                Api::namespaced(ctx.client.clone(), ns),
            ),
            None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let requests = futures::stream::unfold(receiver, |mut r| async move {
            r.recv().await.map(|item| (item, r))
        });
        let controller = Controller::new(sets, watcher::Config::default());
        crate::lock(&ctx.appsets.0).push((controller.store(), sender));
        controller
            .owns(apps, watcher::Config::default())
            .reconcile_on(requests)
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|result| async move {
                match result {
                    // Reconcile errors were logged by `error_policy`.
                    Err(kube::runtime::controller::Error::ReconcilerFailed(..)) | Ok(_) => {}
                    Err(e) => warn!(error = %e, "applicationset watch"),
                }
            })
    });
    futures::future::join_all(controllers).await;
}

fn error_policy(_: Arc<ApplicationSet>, error: &Error, _: Arc<Context>) -> Action {
    warn!(error = %error, "applicationset reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// Reconciles one ApplicationSet. Generation and write errors become
/// conditions; only a failed status write is an error.
pub async fn reconcile(set: Arc<ApplicationSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = set.metadata.name.clone().ok_or(Error::Unnamed("name"))?;
    let namespace = set
        .metadata
        .namespace
        .clone()
        .ok_or(Error::Unnamed("namespace"))?;
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    let preserve = set
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.preserve_resources_on_deletion)
        == Some(true);
    let owned = owned_applications(&apps, &set).await;
    if set.metadata.deletion_timestamp.is_some() {
        return finalize(&set, &ctx, &apps, owned, preserve).await;
    }
    let mut next = ctx.config.reconcile_interval;
    for g in set.spec.generators.iter().filter_map(|g| g.git.as_ref()) {
        if let Some(secs) = g.requeue_after_seconds.and_then(|s| u64::try_from(s).ok()) {
            next = next.min(Duration::from_secs(secs.max(1)));
        }
    }
    let outcome = match owned {
        Ok(owned) => apply(&set, &ctx, &apps, &owned, preserve).await,
        Err(e) => Outcome::failed("ApplicationSetUpdateStatusError", e, 0),
    };
    if let Some(error) = &outcome.error {
        warn!(applicationset = %name, namespace = %namespace, error = %error.1, "applicationset not up to date");
    }
    // The Applications as they are now, for status.resources.
    let owned = owned_applications(&apps, &set).await.unwrap_or_default();
    let status = json!({
        "conditions": conditions(&set, &outcome, &Timestamp::now().to_string()),
        "resources": resources(&owned),
        "resourcesCount": owned.len(),
    });
    let sets: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &namespace);
    sets.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map_err(|source| Error::WriteStatus {
        namespace,
        name,
        source,
    })?;
    Ok(Action::requeue(next))
}

/// What one reconcile did: the parameter sets generated, and the first
/// error as (reason, message).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub parameter_sets: Option<usize>,
    pub error: Option<(&'static str, String)>,
}

impl Outcome {
    fn failed(reason: &'static str, message: String, parameter_sets: usize) -> Self {
        Self {
            parameter_sets: Some(parameter_sets).filter(|_| reason != GENERATION_ERROR),
            error: Some((reason, message)),
        }
    }
}

const GENERATION_ERROR: &str = "ApplicationGenerationFromParamsError";

/// Generates and writes the Applications.
async fn apply(
    set: &ApplicationSet,
    ctx: &Context,
    apps: &Api<Application>,
    owned: &[Application],
    preserve: bool,
) -> Outcome {
    let generated = match generate(set, ctx).await {
        Ok(g) => g,
        Err(message) => return Outcome::failed(GENERATION_ERROR, message, 0),
    };
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let count = generated.parameter_sets;
    if let Some(app) = generated
        .applications
        .iter()
        .find(|a| a.metadata.namespace.as_deref() != Some(namespace.as_str()))
    {
        return Outcome::failed(
            "ApplicationValidationError",
            format!(
                "ApplicationSet {set_name}: spec.template.metadata.namespace: Application {} would be in namespace {:?}; generated Applications must be in the ApplicationSet's namespace {namespace:?}",
                app.metadata.name.as_deref().unwrap_or(""),
                app.metadata.namespace.as_deref().unwrap_or("")
            ),
            count,
        );
    }
    let policy = match appset::Policy::parse(
        set.spec
            .sync_policy
            .as_ref()
            .and_then(|p| p.applications_sync.as_deref()),
    ) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::failed(
                "ApplicationValidationError",
                format!("ApplicationSet {set_name}: spec.syncPolicy.applicationsSync: {e}"),
                count,
            );
        }
    };
    let owned_names: BTreeSet<String> = owned
        .iter()
        .filter_map(|a| a.metadata.name.clone())
        .collect();
    let mut plan = appset::policy::plan(policy, generated.applications, &owned_names);
    let owner = owner_reference(set);
    // An Application already as generated is not written again: every
    // status change of a generated Application wakes its set.
    let by_name: BTreeMap<&str, &Application> = owned
        .iter()
        .filter_map(|a| Some((a.metadata.name.as_deref()?, a)))
        .collect();
    plan.update.retain(|app| {
        let existing = app.metadata.name.as_deref().and_then(|n| by_name.get(n));
        !existing.is_some_and(|e| up_to_date(e, app))
    });
    let mut first_error: Option<(&'static str, String)> = None;
    let mut note = |reason: &'static str, message: String| {
        warn!(applicationset = %set_name, %message, "applicationset write failed");
        first_error.get_or_insert((reason, message));
    };
    for (app, creating) in plan
        .create
        .into_iter()
        .map(|a| (a, true))
        .chain(plan.update.into_iter().map(|a| (a, false)))
    {
        let app_name = app.metadata.name.clone().unwrap_or_default();
        if creating && let Ok(Some(existing)) = apps.get_opt(&app_name).await {
            // An Application of the same name that another set or a user
            // made: never taken over.
            if !is_owned_by(&existing, set) {
                note(
                    "CreateApplicationError",
                    format!(
                        "ApplicationSet {set_name}: Application {app_name} already exists and is not owned by this ApplicationSet; it is left as it is"
                    ),
                );
                continue;
            }
        }
        let mut app = app;
        app.metadata.owner_references = Some(vec![owner.clone()]);
        let result = apps
            .patch(
                &app_name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&app),
            )
            .await;
        match result {
            Ok(_) => {
                if creating {
                    info!(applicationset = %set_name, application = %app_name, "application created");
                }
            }
            Err(e) => note(
                if creating {
                    "CreateApplicationError"
                } else {
                    "UpdateApplicationError"
                },
                format!("ApplicationSet {set_name}: applying Application {app_name}: {e}"),
            ),
        }
    }
    for app_name in plan.delete {
        if preserve && let Err(e) = strip_resources_finalizer(apps, &app_name).await {
            note("DeleteApplicationError", e);
            continue;
        }
        match apps.delete(&app_name, &DeleteParams::default()).await {
            Ok(_) => {
                info!(applicationset = %set_name, application = %app_name, "application deleted")
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => note(
                "DeleteApplicationError",
                format!("ApplicationSet {set_name}: deleting Application {app_name}: {e}"),
            ),
        }
    }
    Outcome {
        parameter_sets: Some(count),
        error: first_error,
    }
}

/// Whether `existing` already has everything the set writes in
/// `desired`: the spec, and the labels, annotations and finalizers (others
/// may add their own).
pub fn up_to_date(existing: &Application, desired: &Application) -> bool {
    let contains = |have: &Option<BTreeMap<String, String>>,
                    want: &Option<BTreeMap<String, String>>| {
        want.iter()
            .flatten()
            .all(|(k, v)| have.as_ref().and_then(|h| h.get(k)) == Some(v))
    };
    let finalizers = existing.metadata.finalizers.clone().unwrap_or_default();
    existing.spec == desired.spec
        && contains(&existing.metadata.labels, &desired.metadata.labels)
        && contains(
            &existing.metadata.annotations,
            &desired.metadata.annotations,
        )
        && desired
            .metadata
            .finalizers
            .iter()
            .flatten()
            .all(|f| finalizers.contains(f))
}

/// Runs the generators, fetching the repository trees they ask for.
/// `Err` is a message naming the set and the field.
async fn generate(set: &ApplicationSet, ctx: &Context) -> Result<appset::Generated, String> {
    let mut inputs = appset::Inputs {
        clusters: registered_clusters(&ctx.clusters.secrets()),
        ..Default::default()
    };
    for _ in 0..MAX_TREES {
        match appset::generate(set, &inputs) {
            Ok(generated) => return Ok(generated),
            Err(appset::Error::NeedTree {
                set: set_name,
                field,
                repo,
                revision,
            }) => {
                let tree = fetch_tree(ctx, &repo, &revision).await.map_err(|e| {
                    match e.strip_prefix("revision: ") {
                        Some(rest) => {
                            format!("ApplicationSet {set_name}: {field}.revision: {rest}")
                        }
                        None => format!("ApplicationSet {set_name}: {field}: {e}"),
                    }
                })?;
                inputs.trees.insert((repo, revision), tree);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "ApplicationSet {}: spec.generators: more than {MAX_TREES} repository trees needed",
        set.metadata.name.as_deref().unwrap_or("")
    ))
}

/// The tree of `repo` at `revision`, through the controller's Git cache.
async fn fetch_tree(
    ctx: &Context,
    repo: &str,
    revision: &str,
) -> Result<Arc<dyn appset::Tree>, String> {
    let source = ApplicationSource {
        repo_url: repo.to_string(),
        target_revision: Some(revision.to_string()),
        ..Default::default()
    };
    // A revision the repository lacks is the set's `revision` field's
    // fault; name that field, not the Application's.
    let sha = crate::compare::resolve(ctx, &source).await.map_err(|c| {
        match c.message.strip_prefix("spec.source.targetRevision: ") {
            Some(rest) => format!("revision: {rest}"),
            None => c.message,
        }
    })?;
    let worktree = ctx
        .source
        .checkout(repo, &sha)
        .await
        .map_err(|e| format!("checking out {repo} at {sha}: {e}"))?;
    let root = worktree.path().to_path_buf();
    let tree = tokio::task::spawn_blocking(move || appset::DirTree::open(&root))
        .await
        .map_err(|e| format!("listing {repo} at {sha}: {e}"))??;
    Ok(Arc::new(tree))
}

/// The clusters registered as Argo CD cluster Secrets (the controller's
/// watched cluster Secrets, [`crate::clusters`]): `name` and `server` from
/// the data, labels and annotations from the Secret. Secrets without a
/// server are skipped. The generator needs no credentials, so a Secret
/// whose `config` does not read still counts (the Applications on it get
/// the condition).
pub fn registered_clusters(secrets: &[Secret]) -> Vec<appset::Cluster> {
    secrets
        .iter()
        .filter(|s| crate::clusters::is_cluster_secret(s))
        .filter_map(|secret| {
            let field = |key: &str| -> Option<String> {
                let data = secret.data.as_ref()?.get(key)?;
                String::from_utf8(data.0.clone()).ok()
            };
            let server = field("server")?;
            Some(appset::Cluster {
                name: field("name").unwrap_or_else(|| server.clone()),
                server,
                project: field("project"),
                labels: secret.metadata.labels.clone().unwrap_or_default(),
                annotations: secret.metadata.annotations.clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// The Applications whose controlling owner is `set`. `Err` is a message.
async fn owned_applications(
    apps: &Api<Application>,
    set: &ApplicationSet,
) -> Result<Vec<Application>, String> {
    let list = apps
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing Applications: {e}"))?;
    Ok(list
        .items
        .into_iter()
        .filter(|a| is_owned_by(a, set))
        .collect())
}

fn is_owned_by(app: &Application, set: &ApplicationSet) -> bool {
    let uid = set.metadata.uid.as_deref();
    app.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == ApplicationSet::kind(&()) && Some(o.uid.as_str()) == uid)
}

fn owner_reference(set: &ApplicationSet) -> OwnerReference {
    OwnerReference {
        api_version: api::API_VERSION.to_string(),
        kind: ApplicationSet::kind(&()).to_string(),
        name: set.metadata.name.clone().unwrap_or_default(),
        uid: set.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// An ApplicationSet being deleted (it has a finalizer, or is deleted in
/// the foreground): with `preserveResourcesOnDeletion`, its Applications
/// lose their resources finalizer so that deleting them leaves their
/// resources; then Argo CD's resources finalizer on the set, if any, is
/// removed.
async fn finalize(
    set: &ApplicationSet,
    ctx: &Context,
    apps: &Api<Application>,
    owned: Result<Vec<Application>, String>,
    preserve: bool,
) -> Result<Action, Error> {
    let name = set.metadata.name.clone().unwrap_or_default();
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    if preserve {
        let owned = match owned {
            Ok(o) => o,
            Err(e) => {
                warn!(applicationset = %name, error = %e, "cannot list Applications");
                return Ok(Action::requeue(Duration::from_secs(5)));
            }
        };
        for app in owned {
            let app_name = app.metadata.name.clone().unwrap_or_default();
            if let Err(e) = strip_resources_finalizer(apps, &app_name).await {
                warn!(applicationset = %name, error = %e, "cannot keep the resources of an Application");
                return Ok(Action::requeue(Duration::from_secs(5)));
            }
        }
    }
    let finalizers = set.metadata.finalizers.clone().unwrap_or_default();
    if finalizers.iter().any(|f| f == RESOURCES_FINALIZER) {
        let kept: Vec<&String> = finalizers
            .iter()
            .filter(|f| *f != RESOURCES_FINALIZER)
            .collect();
        let sets: Api<ApplicationSet> = Api::namespaced(ctx.client.clone(), &namespace);
        sets.patch(
            &name,
            &PatchParams::default(),
            // Guarded by resourceVersion, so a finalizer another writer
            // added meanwhile is not dropped; the next reconcile retries.
            &Patch::Merge(json!({"metadata": {
                "finalizers": kept,
                "resourceVersion": set.metadata.resource_version,
            }})),
        )
        .await
        .map_err(|source| Error::RemoveFinalizer {
            namespace,
            name,
            source,
        })?;
    }
    Ok(Action::await_change())
}

/// Removes the resources finalizers (foreground and background) of one
/// Application, so that deleting it leaves its resources.
async fn strip_resources_finalizer(apps: &Api<Application>, name: &str) -> Result<(), String> {
    let app = match apps.get_opt(name).await {
        Ok(Some(app)) => app,
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("reading Application {name}: {e}")),
    };
    let finalizers = app.metadata.finalizers.clone().unwrap_or_default();
    let kept: Vec<&String> = finalizers
        .iter()
        .filter(|f| !f.starts_with(RESOURCES_FINALIZER))
        .collect();
    if kept.len() == finalizers.len() {
        return Ok(());
    }
    // Guarded by resourceVersion: a concurrent change fails this write and
    // the next reconcile tries again.
    let patch = json!({"metadata": {
        "finalizers": kept,
        "resourceVersion": app.metadata.resource_version,
    }});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(|e| format!("removing the resources finalizer of Application {name}: {e}"))
}

/// `status.conditions` as Argo CD writes them: `ErrorOccurred`,
/// `ParametersGenerated` and `ResourcesUpToDate`, keeping each one's
/// transition time while its status does not change.
pub fn conditions(
    set: &ApplicationSet,
    outcome: &Outcome,
    now: &str,
) -> Vec<ApplicationSetCondition> {
    const UP_TO_DATE: &str = "ApplicationSetUpToDate";
    let generated_ok = "Successfully generated parameters for all Applications";
    let new = match &outcome.error {
        None => vec![
            (
                "ErrorOccurred",
                "False",
                UP_TO_DATE,
                generated_ok.to_string(),
            ),
            (
                "ParametersGenerated",
                "True",
                "ParametersGenerated",
                generated_ok.to_string(),
            ),
            (
                "ResourcesUpToDate",
                "True",
                UP_TO_DATE,
                "All applications have been generated successfully".to_string(),
            ),
        ],
        Some((reason, message)) => {
            let params = match outcome.parameter_sets {
                Some(_) => (
                    "ParametersGenerated",
                    "True",
                    "ParametersGenerated",
                    generated_ok.to_string(),
                ),
                None => ("ParametersGenerated", "False", *reason, message.clone()),
            };
            vec![
                ("ErrorOccurred", "True", *reason, message.clone()),
                params,
                (
                    "ResourcesUpToDate",
                    "False",
                    "ErrorOccurred",
                    message.clone(),
                ),
            ]
        }
    };
    let old: BTreeMap<&str, &ApplicationSetCondition> = set
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .map(|c| (c.type_.as_str(), c))
        .collect();
    new.into_iter()
        .map(|(type_, status, reason, message)| {
            let since = old
                .get(type_)
                .filter(|c| c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_string());
            ApplicationSetCondition {
                type_: type_.to_string(),
                status: status.to_string(),
                reason: reason.to_string(),
                message,
                last_transition_time: Some(since),
            }
        })
        .collect()
}

/// `status.resources`: the generated Applications with their sync and
/// health status, by name.
pub fn resources(apps: &[Application]) -> Vec<ResourceStatus> {
    let mut out: Vec<ResourceStatus> = apps
        .iter()
        .map(|app| {
            let status = app.status.as_ref();
            ResourceStatus {
                group: Some(api::GROUP.to_string()),
                version: Some(api::VERSION.to_string()),
                kind: Some(Application::KIND.to_string()),
                namespace: app.metadata.namespace.clone(),
                name: app.metadata.name.clone(),
                status: status
                    .and_then(|s| s.sync.as_ref())
                    .map(|s| s.status.clone())
                    .filter(|s| !s.is_empty()),
                health: status
                    .and_then(|s| s.health.as_ref())
                    .map(|h| HealthStatus {
                        status: h.status.clone(),
                        message: h.message.clone(),
                        last_transition_time: None,
                    }),
                ..Default::default()
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_as_generated_is_up_to_date() {
        let desired: Application = serde_json::from_value(json!({
            "metadata": {"name": "a", "labels": {"team": "x"}, "finalizers": [RESOURCES_FINALIZER]},
            "spec": {"project": "default", "destination": {"server": "https://s"}}
        }))
        .unwrap();
        let mut existing = desired.clone();
        existing.metadata.labels = Some(
            [
                ("team".to_string(), "x".to_string()),
                ("other".to_string(), "y".to_string()),
            ]
            .into(),
        );
        existing.status = Some(Default::default());
        assert!(up_to_date(&existing, &desired));
        existing.spec.project = "edited".into();
        assert!(!up_to_date(&existing, &desired));
        let mut relabelled = desired.clone();
        relabelled.metadata.labels = Some([("team".to_string(), "z".to_string())].into());
        assert!(!up_to_date(&relabelled, &desired));
        let mut unfinalized = desired.clone();
        unfinalized.metadata.finalizers = None;
        assert!(!up_to_date(&unfinalized, &desired));
    }

    #[test]
    fn git_sources_are_found_in_nested_generators_but_not_templates() {
        let spec = json!({
            "generators": [
                {"git": {"repoURL": "https://a", "revision": "main"}},
                {"matrix": {"generators": [{"list": {}}, {"git": {"repoURL": "https://b"}}]}}
            ],
            "template": {"spec": {"source": {"git": {"repoURL": "https://not-a-generator"}}}}
        });
        let mut found = git_sources(&spec);
        found.sort();
        assert_eq!(
            found,
            vec![
                ("https://a".to_string(), "main".to_string()),
                ("https://b".to_string(), String::new())
            ]
        );
    }

    fn set_with(conditions: Vec<ApplicationSetCondition>) -> ApplicationSet {
        let mut set = ApplicationSet::new("s", Default::default());
        set.status = Some(api::ApplicationSetStatus {
            conditions: Some(conditions),
            ..Default::default()
        });
        set
    }

    #[test]
    fn conditions_say_what_failed_and_keep_transition_times() {
        let ok = Outcome {
            parameter_sets: Some(2),
            error: None,
        };
        let first = conditions(&set_with(vec![]), &ok, "t1");
        let types: Vec<(&str, &str)> = first
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("ErrorOccurred", "False"),
                ("ParametersGenerated", "True"),
                ("ResourcesUpToDate", "True")
            ]
        );
        let again = conditions(&set_with(first.clone()), &ok, "t2");
        assert_eq!(again[0].last_transition_time.as_deref(), Some("t1"));
        let failed = Outcome::failed(GENERATION_ERROR, "spec.generators[0]: bad".into(), 0);
        let bad = conditions(&set_with(first), &failed, "t3");
        assert_eq!(bad[0].status, "True");
        assert_eq!(bad[0].message, "spec.generators[0]: bad");
        assert_eq!(bad[0].last_transition_time.as_deref(), Some("t3"));
        assert_eq!(bad[1].status, "False");
        assert_eq!(bad[2].status, "False");
    }
}
