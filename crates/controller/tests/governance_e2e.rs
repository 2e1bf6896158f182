//! AppProject rules and sync windows, with the controller run in-process
//! against the real test API server and real Git repositories: a source or
//! destination the project does not permit, an object in a namespace or of
//! a cluster-scoped kind it does not permit, a deny window that holds an
//! automated sync (until the window is removed, or until it closes by
//! itself), a window with an invalid schedule, and orphaned resources.

use std::time::Duration;

use anyhow::{Context as _, Result};
use api::{AppProject, Application};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use testkit::{GitRepo, TestNamespace};

mod common;
use common::{MANAGER, apply_app, start_controller, test_namespace, wait_app};

/// Long: every step below is driven by a change, an operation or a sync
/// window, never by the periodic reconcile.
const INTERVAL: Duration = Duration::from_secs(900);

const IN_CLUSTER: &str = "https://kubernetes.default.svc";

fn configmap(name: &str, namespace: Option<&str>) -> String {
    let ns = namespace.map_or(String::new(), |n| format!("  namespace: {n}\n"));
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{ns}data:\n  LOG_LEVEL: info\n"
    )
}

/// A repository with `files` under `app/`, committed and pushed.
fn git_repo(name: &str, files: &[(&str, String)]) -> Result<GitRepo> {
    let repo = GitRepo::new(name)?;
    for (path, contents) in files {
        repo.write(&format!("app/{path}"), contents)?;
    }
    repo.commit("app")?;
    repo.push()?;
    Ok(repo)
}

async fn apply_project(projects: &Api<AppProject>, name: &str, spec: Value) -> Result<()> {
    let project: AppProject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": name}, "spec": spec
    }))?;
    projects
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&project),
        )
        .await?;
    Ok(())
}

fn application(
    name: &str,
    ns: &str,
    project: &str,
    repo_url: &str,
    dest_ns: &str,
    auto: bool,
) -> Value {
    let mut app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "project": project,
            "source": {"repoURL": repo_url, "targetRevision": "main", "path": "app"},
            "destination": {"server": IN_CLUSTER, "namespace": dest_ns}
        }
    });
    if auto {
        app["spec"]["syncPolicy"] = json!({"automated": {"prune": true}});
    }
    app
}

/// The message of the Application's condition of `type_`.
fn condition(app: &Application, type_: &str) -> Option<String> {
    app.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
}

fn sync_code(app: &Application) -> &str {
    app.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .map_or("", |s| s.status.as_str())
}

/// The phase and message of the last operation.
fn operation(app: &Application) -> (String, String) {
    let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    (
        state.map(|s| s.phase.clone()).unwrap_or_default(),
        state.and_then(|s| s.message.clone()).unwrap_or_default(),
    )
}

async fn request_sync(apps: &Api<Application>, name: &str) -> Result<()> {
    let patch =
        json!({"operation": {"sync": {"prune": true}, "initiatedBy": {"username": "alice"}}});
    apps.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[tokio::test]
async fn sources_destinations_and_resource_namespaces_must_be_permitted() -> Result<()> {
    let (client, ns) = test_namespace("gov-rules").await?;
    let ns = ns.name().to_string();
    let other = TestNamespace::create(&client, "gov-other").await?;
    let other = other.name().to_string();
    let good = git_repo(
        "gov-good",
        &[
            ("web.yaml", configmap("web-config", None)),
            ("stray.yaml", configmap("stray", Some(&other))),
        ],
    )?;
    let bad = git_repo("gov-bad", &[("web.yaml", configmap("web-config", None))])?;
    let projects: Api<AppProject> = Api::namespaced(client.clone(), &ns);
    apply_project(
        &projects,
        "team-a",
        json!({
            "sourceRepos": [good.url()],
            "destinations": [{"server": IN_CLUSTER, "namespace": ns}]
        }),
    )
    .await?;
    let (_running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let other_configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &other);

    // A repository outside sourceRepos: InvalidSpecError, nothing compared.
    apply_app(
        &apps,
        &application("bad-source", &ns, "team-a", &bad.url(), &ns, true),
    )
    .await?;
    let app = wait_app(&apps, "bad-source", "InvalidSpecError", |a| {
        condition(a, "InvalidSpecError").is_some()
    })
    .await?;
    let message = condition(&app, "InvalidSpecError").unwrap_or_default();
    assert!(
        message.contains("sourceRepos") && message.contains(&bad.url()),
        "{message}"
    );
    assert_eq!(sync_code(&app), "Unknown");

    // A destination namespace outside destinations: the same.
    apply_app(
        &apps,
        &application("bad-dest", &ns, "team-a", &good.url(), &other, true),
    )
    .await?;
    let app = wait_app(&apps, "bad-dest", "InvalidSpecError", |a| {
        condition(a, "InvalidSpecError").is_some()
    })
    .await?;
    let message = condition(&app, "InvalidSpecError").unwrap_or_default();
    assert!(
        message.contains("destinations") && message.contains(&other),
        "{message}"
    );

    // A manual sync of it is refused too.
    request_sync(&apps, "bad-dest").await?;
    let app = wait_app(&apps, "bad-dest", "the refused sync", |a| {
        a.operation.is_none() && !operation(a).0.is_empty()
    })
    .await?;
    let (phase, message) = operation(&app);
    assert_eq!(phase, "Failed", "{message}");
    assert!(message.contains("destinations"), "{message}");

    // An object in a namespace the project does not permit: the automated
    // sync fails before anything is applied, naming the object and rule.
    apply_app(
        &apps,
        &application("stray-ns", &ns, "team-a", &good.url(), &ns, true),
    )
    .await?;
    let app = wait_app(&apps, "stray-ns", "the refused automated sync", |a| {
        operation(a).0 == "Failed"
    })
    .await?;
    let (_, message) = operation(&app);
    assert!(
        message.contains(&format!(
            "ConfigMap/stray in namespace {other} is not permitted in project team-a"
        )) && message.contains("destinations"),
        "{message}"
    );
    let sync_error = condition(&app, "SyncError").unwrap_or_default();
    assert!(sync_error.contains("ConfigMap/stray"), "{sync_error}");
    assert!(
        configmaps.get_opt("web-config").await?.is_none(),
        "nothing is applied"
    );
    assert!(other_configmaps.get_opt("stray").await?.is_none());

    // Permit the namespace: a manual sync now applies both.
    apply_project(
        &projects,
        "team-a",
        json!({
            "sourceRepos": [good.url()],
            "destinations": [{"server": IN_CLUSTER, "namespace": ns}, {"server": IN_CLUSTER, "namespace": other}]
        }),
    )
    .await?;
    request_sync(&apps, "stray-ns").await?;
    wait_app(&apps, "stray-ns", "the permitted sync", |a| {
        a.operation.is_none() && operation(a).0 == "Succeeded"
    })
    .await?;
    assert!(configmaps.get_opt("web-config").await?.is_some());
    assert!(other_configmaps.get_opt("stray").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn cluster_scoped_kinds_need_the_cluster_whitelist() -> Result<()> {
    let (client, ns) = test_namespace("gov-kinds").await?;
    let ns = ns.name().to_string();
    let extra = format!("{ns}-extra");
    let role = format!("{ns}-reader");
    let repo = git_repo(
        "gov-kinds",
        &[
            ("web.yaml", configmap("web-config", None)),
            (
                "namespace.yaml",
                format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {extra}\n"),
            ),
            (
                "role.yaml",
                format!(
                    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\nrules: []\n"
                ),
            ),
        ],
    )?;
    let projects: Api<AppProject> = Api::namespaced(client.clone(), &ns);
    let rules = |whitelist: Value| {
        json!({
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": whitelist
        })
    };
    // No whitelist at all: no cluster-scoped kind.
    let mut spec = rules(Value::Null);
    spec.as_object_mut()
        .context("an object")?
        .remove("clusterResourceWhitelist");
    apply_project(&projects, "team-b", spec).await?;
    let (_running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    apply_app(
        &apps,
        &application("kinds", &ns, "team-b", &repo.url(), &ns, true),
    )
    .await?;
    let app = wait_app(&apps, "kinds", "the refused automated sync", |a| {
        operation(a).0 == "Failed"
    })
    .await?;
    let (_, message) = operation(&app);
    assert!(
        message.contains(&format!(
            "Namespace/{extra} is not permitted in project team-b: clusterResourceWhitelist"
        )),
        "{message}"
    );
    assert!(namespaces.get_opt(&extra).await?.is_none());
    assert!(
        configmaps.get_opt("web-config").await?.is_none(),
        "nothing is applied"
    );

    // Namespaces whitelisted, ClusterRoles not: the ClusterRole is named.
    apply_project(
        &projects,
        "team-b",
        rules(json!([{"group": "", "kind": "Namespace"}])),
    )
    .await?;
    request_sync(&apps, "kinds").await?;
    let app = wait_app(&apps, "kinds", "the second refused sync", |a| {
        a.operation.is_none() && operation(a).1.contains("ClusterRole")
    })
    .await?;
    let (phase, message) = operation(&app);
    assert_eq!(phase, "Failed");
    assert!(
        message.contains(&format!(
            "rbac.authorization.k8s.io/ClusterRole/{role} is not permitted in project team-b: clusterResourceWhitelist"
        )),
        "{message}"
    );
    assert!(namespaces.get_opt(&extra).await?.is_none());

    // A blacklist wins over the whitelist.
    apply_project(&projects, "team-b", {
        let mut spec = rules(json!([{"group": "*", "kind": "*"}]));
        spec["clusterResourceBlacklist"] =
            json!([{"group": "rbac.authorization.k8s.io", "kind": "*"}]);
        spec
    })
    .await?;
    request_sync(&apps, "kinds").await?;
    let app = wait_app(&apps, "kinds", "the blacklisted sync", |a| {
        a.operation.is_none() && operation(a).1.contains("clusterResourceBlacklist")
    })
    .await?;
    assert_eq!(operation(&app).0, "Failed");
    assert!(namespaces.get_opt(&extra).await?.is_none());
    Ok(())
}

/// A deny window open for the next hour, whatever the time.
fn always_denied(manual_sync: bool) -> Value {
    json!([{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
            "applications": ["*"], "manualSync": manual_sync}])
}

fn open_project(windows: Value) -> Value {
    json!({
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "*"}],
        "syncWindows": windows
    })
}

/// One test's set-up for sync windows: a namespace, a repository with the
/// ConfigMap `web-config`, the AppProject `project` with the windows
/// `windows` makes for the namespace, the controller, and the automated
/// Application `app` of that project.
struct Windowed {
    ns: String,
    _namespace: TestNamespace,
    /// The repository lives as long as the test.
    _repo: GitRepo,
    projects: Api<AppProject>,
    apps: Api<Application>,
    configmaps: Api<ConfigMap>,
    running: tokio::task::JoinHandle<Result<(), controller::Error>>,
    _cache: tempfile::TempDir,
}

async fn windowed(
    prefix: &str,
    project: &str,
    windows: impl FnOnce(&str) -> Value,
    app: &str,
) -> Result<Windowed> {
    let (client, namespace) = test_namespace(prefix).await?;
    let ns = namespace.name().to_string();
    let repo = git_repo(prefix, &[("web.yaml", configmap("web-config", None))])?;
    let projects: Api<AppProject> = Api::namespaced(client.clone(), &ns);
    apply_project(&projects, project, open_project(windows(&ns))).await?;
    let (running, cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(
        &apps,
        &application(app, &ns, project, &repo.url(), &ns, true),
    )
    .await?;
    Ok(Windowed {
        configmaps: Api::namespaced(client.clone(), &ns),
        ns,
        _namespace: namespace,
        _repo: repo,
        projects,
        apps,
        running,
        _cache: cache,
    })
}

#[tokio::test]
async fn a_deny_window_holds_automated_and_manual_syncs_until_it_goes() -> Result<()> {
    let t = windowed("gov-window", "frozen", |_| always_denied(false), "held").await?;
    let (apps, configmaps, projects) = (&t.apps, &t.configmaps, &t.projects);
    let app = wait_app(apps, "held", "the held automated sync", |a| {
        condition(a, "SyncError").is_some()
    })
    .await?;
    let message = condition(&app, "SyncError").unwrap_or_default();
    assert!(
        message.starts_with("auto-sync blocked by sync window: deny window spec.syncWindows[0]"),
        "{message}"
    );
    assert_eq!(sync_code(&app), "OutOfSync");
    assert_eq!(operation(&app).0, "", "no operation ran");
    assert!(configmaps.get_opt("web-config").await?.is_none());

    // A manual sync fails while the window has no manualSync.
    request_sync(apps, "held").await?;
    let app = wait_app(apps, "held", "the refused manual sync", |a| {
        a.operation.is_none() && operation(a).0 == "Failed"
    })
    .await?;
    let (_, message) = operation(&app);
    assert!(
        message.starts_with("Cannot sync: blocked by sync window"),
        "{message}"
    );
    assert!(configmaps.get_opt("web-config").await?.is_none());

    // The window goes: the project change wakes the Application and the
    // held sync runs.
    apply_project(projects, "frozen", open_project(json!([]))).await?;
    let app = wait_app(apps, "held", "Synced", |a| sync_code(a) == "Synced").await?;
    assert_eq!(condition(&app, "SyncError"), None);
    assert_eq!(operation(&app).0, "Succeeded");
    assert!(configmaps.get_opt("web-config").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn manual_sync_passes_a_deny_window_with_manual_sync() -> Result<()> {
    let t = windowed("gov-manual", "frozen", |_| always_denied(true), "held").await?;
    let (apps, configmaps) = (&t.apps, &t.configmaps);
    wait_app(apps, "held", "the held automated sync", |a| {
        condition(a, "SyncError").is_some()
    })
    .await?;
    request_sync(apps, "held").await?;
    wait_app(apps, "held", "the manual sync", |a| {
        a.operation.is_none() && operation(a).0 == "Succeeded"
    })
    .await?;
    assert!(configmaps.get_opt("web-config").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_held_sync_proceeds_when_the_window_closes() -> Result<()> {
    // A daily window that opened at the start of this minute and closes
    // about a minute from now.
    let mut now = Timestamp::now().to_zoned(TimeZone::UTC);
    if now.second() < 2 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        now = Timestamp::now().to_zoned(TimeZone::UTC);
    }
    let seconds = i64::from(now.second()) + 60;
    let window = |ns: &str| {
        json!([{
            "kind": "deny", "schedule": format!("{} {} * * *", now.minute(), now.hour()),
            "duration": format!("{seconds}s"), "timeZone": "Etc/UTC", "namespaces": [ns]
        }])
    };
    let t = windowed("gov-closes", "nightly", window, "held").await?;
    let (apps, configmaps) = (&t.apps, &t.configmaps);
    let app = wait_app(apps, "held", "the held automated sync", |a| {
        condition(a, "SyncError").is_some() || sync_code(a) == "Synced"
    })
    .await?;
    assert!(
        condition(&app, "SyncError").is_some_and(|m| m.contains("blocked by sync window")),
        "the sync was not held: {:?}",
        app.status
    );
    assert!(configmaps.get_opt("web-config").await?.is_none());
    // Nothing changes but the clock (the periodic reconcile is 15 minutes
    // away): the reconcile comes back when the window closes.
    let app = wait_app(apps, "held", "Synced after the window", |a| {
        sync_code(a) == "Synced"
    })
    .await?;
    assert_eq!(condition(&app, "SyncError"), None);
    assert!(configmaps.get_opt("web-config").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn an_invalid_schedule_is_a_condition_and_other_applications_sync() -> Result<()> {
    let t = windowed(
        "gov-invalid",
        "broken",
        |_| json!([{"kind": "deny", "schedule": "every night", "duration": "1h", "applications": ["*"]}]),
        "broken",
    )
    .await?;
    let (apps, projects, ns, running) = (&t.apps, &t.projects, &t.ns, &t.running);
    let app = wait_app(apps, "broken", "InvalidSpecError", |a| {
        condition(a, "InvalidSpecError").is_some()
    })
    .await?;
    let message = condition(&app, "InvalidSpecError").unwrap_or_default();
    assert!(
        message.contains("AppProject broken spec.syncWindows[0].schedule")
            && message.contains("every night"),
        "{message}"
    );
    assert_eq!(sync_code(&app), "OutOfSync", "compared, not synced");

    // The controller goes on: an Application of another project syncs.
    let other = git_repo(
        "gov-invalid-other",
        &[("other.yaml", configmap("other-config", None))],
    )?;
    apply_app(
        apps,
        &application("fine", ns, "default", &other.url(), ns, true),
    )
    .await?;
    wait_app(apps, "fine", "Synced", |a| sync_code(a) == "Synced").await?;
    assert!(!running.is_finished());

    // Fixing the schedule lifts the hold.
    apply_project(
        projects,
        "broken",
        open_project(json!([{"kind": "deny", "schedule": "0 3 * * *", "duration": "1m", "applications": ["nothing-matches"]}])),
    )
    .await?;
    let app = wait_app(apps, "broken", "Synced", |a| sync_code(a) == "Synced").await?;
    assert_eq!(condition(&app, "InvalidSpecError"), None);
    Ok(())
}

#[tokio::test]
async fn orphaned_resources_give_a_warning() -> Result<()> {
    let (client, ns) = test_namespace("gov-orphans").await?;
    let ns = ns.name().to_string();
    let dest = TestNamespace::create(&client, "gov-orphans-dest").await?;
    let dest = dest.name().to_string();
    let repo = git_repo(
        "gov-orphans",
        &[("web.yaml", configmap("web-config", None))],
    )?;
    let projects: Api<AppProject> = Api::namespaced(client.clone(), &ns);
    let spec = |ignore: Value| {
        json!({
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "orphanedResources": {"warn": true, "ignore": ignore}
        })
    };
    apply_project(&projects, "tidy", spec(json!([]))).await?;
    let stray: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stray"}
    }))?;
    let dest_configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &dest);
    dest_configmaps
        .patch("stray", &PatchParams::apply(MANAGER), &Patch::Apply(&stray))
        .await?;
    let (_running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);

    apply_app(
        &apps,
        &application("tidy", &ns, "tidy", &repo.url(), &dest, true),
    )
    .await?;
    let app = wait_app(&apps, "tidy", "the orphan warning", |a| {
        sync_code(a) == "Synced" && condition(a, "OrphanedResourceWarning").is_some()
    })
    .await?;
    assert_eq!(
        condition(&app, "OrphanedResourceWarning").as_deref(),
        Some("Application has 1 orphaned resources")
    );

    // Ignored: the warning goes.
    apply_project(
        &projects,
        "tidy",
        spec(json!([{"kind": "ConfigMap", "name": "str*"}])),
    )
    .await?;
    wait_app(&apps, "tidy", "no orphan warning", |a| {
        condition(a, "OrphanedResourceWarning").is_none()
    })
    .await?;
    Ok(())
}
