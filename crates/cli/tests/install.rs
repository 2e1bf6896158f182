//! `gyro install` against the real test cluster.
//!
//! - It creates the CRDs (Established), the namespace, the ServiceAccount,
//!   the ClusterRole and its binding, the Deployment (Available: kwok marks
//!   its pod Ready without running it) and the Service; a second run
//!   changes nothing (every resourceVersion stays).
//! - `--print` is byte for byte what the real `kustomize build deploy/`
//!   prints (and, with `--namespace`, what kustomize makes of the same
//!   overlay), and `kubectl apply -k` of that overlay passes a server dry
//!   run; `gyro install --dry-run` persists nothing.
//! - The RBAC is enough for what the controller does, checked by acting as
//!   its ServiceAccount (impersonation), and a ServiceAccount without the
//!   binding is refused the same calls.
//!
//! Each test installs into a namespace of its own (`--namespace`), but the
//! ClusterRole and ClusterRoleBinding are cluster-wide, one per cluster:
//! tests that install (or dry-run an install) hold [`INSTALL_LOCK`], and
//! those that install delete them afterwards.
//! The CRDs stay (other tests use them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use testkit::{TestNamespace, condition_status, describe_output};

/// Serialises the tests that install for real (see the module docs).
static INSTALL_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CRDS: [&str; 2] = ["applications.argoproj.io", "appprojects.argoproj.io"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gyro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gyro"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the gyro binary runs")
}

/// `gyro install --namespace NS ...` against the test cluster; it must
/// succeed. Returns stdout.
fn install(namespace: &str, extra: &[&str]) -> Result<String> {
    let kubeconfig = testkit::kubeconfig_path()?.display().to_string();
    let mut args = vec![
        "install",
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    let out = gyro(&args);
    assert!(
        out.status.success(),
        "gyro {args:?}: {}",
        describe_output(&out)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// Deletes the cluster-wide ClusterRole and ClusterRoleBinding when the
/// test ends, passed or not (the CRDs stay).
struct ClusterScopedCleanup;

impl Drop for ClusterScopedCleanup {
    fn drop(&mut self) {
        let Ok(kubeconfig) = testkit::kubeconfig_path() else {
            return;
        };
        let out = Command::new(testkit::tools::tool("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "delete",
                "--ignore-not-found",
                "clusterrolebinding/gyro-controller",
                "clusterrole/gyro-controller",
            ])
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("warning: cleanup failed: {}", describe_output(&out)),
            Err(e) => eprintln!("warning: cannot run kubectl for cleanup: {e}"),
        }
    }
}

fn application_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "Application",
    ));
    Api::namespaced_with(client.clone(), namespace, &ar)
}

/// The resourceVersion of every object the install made.
async fn resource_versions(client: &Client, ns: &str) -> Result<Vec<(String, String)>> {
    fn rv<K: Resource>(what: &str, obj: &K) -> (String, String) {
        (what.to_string(), obj.resource_version().unwrap_or_default())
    }
    let mut all = Vec::new();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in CRDS {
        all.push(rv(name, &crds.get(name).await?));
    }
    let name = "gyro-controller";
    all.push(rv(
        "namespace",
        &Api::<Namespace>::all(client.clone()).get(ns).await?,
    ));
    all.push(rv(
        "serviceaccount",
        &Api::<ServiceAccount>::namespaced(client.clone(), ns)
            .get(name)
            .await?,
    ));
    all.push(rv(
        "clusterrole",
        &Api::<ClusterRole>::all(client.clone()).get(name).await?,
    ));
    all.push(rv(
        "clusterrolebinding",
        &Api::<ClusterRoleBinding>::all(client.clone())
            .get(name)
            .await?,
    ));
    all.push(rv(
        "deployment",
        &Api::<Deployment>::namespaced(client.clone(), ns)
            .get(name)
            .await?,
    ));
    all.push(rv(
        "service",
        &Api::<Service>::namespaced(client.clone(), ns)
            .get("gyro-server")
            .await?,
    ));
    Ok(all)
}

#[tokio::test]
async fn install_creates_everything_and_a_second_run_changes_nothing() -> Result<()> {
    let _lock = INSTALL_LOCK.lock().await;
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "install").await?;
    let _cleanup = ClusterScopedCleanup;
    let ns = ns.name();

    let first = install(ns, &[])?;
    assert!(
        first.contains(&format!("Deployment.apps/{ns}/gyro-controller"))
            && first.contains("applied"),
        "{first}"
    );

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in CRDS {
        let crd = crds.get(name).await?;
        assert_eq!(
            condition_status(&crd, "Established").as_deref(),
            Some("True"),
            "{name}"
        );
    }
    let namespace = Api::<Namespace>::all(client.clone()).get(ns).await?;
    assert_eq!(
        namespace
            .labels()
            .get("app.kubernetes.io/part-of")
            .map(String::as_str),
        Some("gyro")
    );
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .get("gyro-controller")
        .await?;
    let role = Api::<ClusterRole>::all(client.clone())
        .get("gyro-controller")
        .await?;
    let rules = role.rules.unwrap_or_default();
    assert!(
        rules.iter().any(|r| r.verbs == ["*"]
            && r.resources.as_deref() == Some(&["*".to_string()][..])
            && r.api_groups.as_deref() == Some(&["*".to_string()][..])),
        "{rules:?}"
    );
    let binding = Api::<ClusterRoleBinding>::all(client.clone())
        .get("gyro-controller")
        .await?;
    let subjects = binding.subjects.unwrap_or_default();
    let subject = &subjects[0];
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.name.as_str(),
            subject.namespace.as_deref()
        ),
        ("ServiceAccount", "gyro-controller", Some(ns))
    );
    let service = Api::<Service>::namespaced(client.clone(), ns)
        .get("gyro-server")
        .await?;
    let ports = service.spec.and_then(|s| s.ports).unwrap_or_default();
    let port = &ports[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("http"), 80));

    // kwok marks the pod Ready without running the image, so the
    // Deployment becomes Available; wait until its rollout has settled
    // (Progressing: NewReplicaSetAvailable), after which nothing but an
    // install changes it.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    testkit::wait_for(
        &deployments,
        "gyro-controller",
        Duration::from_secs(60),
        "Available with its rollout complete",
        |d: Option<&Deployment>| {
            let conditions = d
                .and_then(|d| d.status.as_ref())
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            let available = conditions
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True");
            let rolled_out = conditions.iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("NewReplicaSetAvailable")
            });
            available && rolled_out
        },
    )
    .await?;
    let deployment = deployments.get("gyro-controller").await?;
    let pod = deployment.spec.and_then(|s| s.template.spec).unwrap();
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some(format!("ghcr.io/gyro-cd/gyro:{}", env!("CARGO_PKG_VERSION")).as_str())
    );

    let before = resource_versions(&client, ns).await?;
    let second = install(ns, &[])?;
    assert_eq!(first, second);
    let after = resource_versions(&client, ns).await?;
    assert_eq!(before, after, "a second install changed objects");
    Ok(())
}

/// A copy of deploy/ with an overlay that moves it to `namespace`, the way
/// `gyro install --namespace` documents it (docs/install.md).
fn overlay_tree(namespace: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("deploy"))
        .arg(dir.path())
        .status()?;
    assert!(status.success());
    std::fs::create_dir(dir.path().join("install"))?;
    std::fs::write(
        dir.path().join("install/kustomization.yaml"),
        format!(
            "namespace: {namespace}\nresources:\n- ../deploy\npatches:\n- target:\n    kind: ClusterRoleBinding\n    name: gyro-controller\n  patch: |-\n    - op: replace\n      path: /subjects/0/namespace\n      value: {namespace}\n"
        ),
    )?;
    Ok(dir)
}

#[tokio::test]
async fn print_is_kustomize_build_and_the_server_accepts_it() -> Result<()> {
    let out = gyro(&["install", "--print"]);
    assert!(out.status.success(), "{}", describe_output(&out));
    let oracle =
        testkit::tools::kustomize_build(&repo_root().join("deploy")).map_err(anyhow::Error::msg)?;
    assert!(
        String::from_utf8(out.stdout)? == oracle,
        "gyro install --print differs from kustomize build deploy/"
    );

    // The dry runs below apply the cluster-wide RBAC objects too: with
    // another test's install present they would conflict over the
    // binding's subject (owned by field manager `gyro`).
    let _lock = INSTALL_LOCK.lock().await;
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "install-dry").await?;
    let ns = ns.name();
    let out = gyro(&["install", "--print", "--namespace", ns]);
    assert!(out.status.success(), "{}", describe_output(&out));
    let tree = overlay_tree(ns)?;
    let oracle = testkit::tools::kustomize_build(&tree.path().join("install"))
        .map_err(anyhow::Error::msg)?;
    assert!(
        String::from_utf8(out.stdout)? == oracle,
        "gyro install --print --namespace differs from kustomize build of the overlay"
    );

    // The real kubectl, server dry run, into an existing namespace (a dry
    // run cannot create one: objects in a missing namespace are refused).
    let kubeconfig = testkit::kubeconfig_path()?;
    let out = Command::new(testkit::tools::tool("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--server-side", "--dry-run=server", "-k"])
        .arg(tree.path().join("install"))
        .output()?;
    let shown = describe_output(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("deployment.apps/gyro-controller serverside-applied (server dry run)"),
        "{shown}"
    );

    // gyro's own dry run: every object checked, nothing persisted.
    let stdout = install(ns, &["--dry-run"])?;
    assert!(
        stdout.contains(&format!("Deployment.apps/{ns}/gyro-controller"))
            && stdout.contains("applied (server dry run)")
            && !stdout.contains("not checked"),
        "{stdout}"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    assert!(deployments.get_opt("gyro-controller").await?.is_none());

    // Into a namespace that does not exist: what the server cannot check is
    // named, and the run still passes.
    let missing = format!("{ns}-missing");
    let stdout = install(&missing, &["--dry-run"])?;
    assert!(
        stdout.contains(&format!("Deployment.apps/{missing}/gyro-controller"))
            && stdout.contains(&format!(
                "not checked: namespace {missing} does not exist yet"
            )),
        "{stdout}"
    );
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&missing)
            .await?
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn invalid_namespace_is_refused_before_contacting_the_cluster() {
    let out = gyro(&[
        "install",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--namespace",
        "Not_A_Namespace",
    ]);
    assert_eq!(out.status.code(), Some(20), "{}", describe_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--namespace \"Not_A_Namespace\" is not a valid namespace name"),
        "{}",
        describe_output(&out)
    );
}

/// A client that acts as `user` (the admin kubeconfig, impersonating).
async fn impersonating(user: &str) -> Result<Client> {
    let path = testkit::kubeconfig_path()?;
    let file = Kubeconfig::read_from(&path)?;
    let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .context("loading the test kubeconfig")?;
    config.auth_info.impersonate = Some(user.to_string());
    Ok(Client::try_from(config)?)
}

fn is_forbidden<T: std::fmt::Debug>(result: &kube::Result<T>) -> bool {
    matches!(result, Err(kube::Error::Api(e)) if e.code == 403)
}

#[tokio::test]
async fn rbac_lets_the_service_account_do_what_the_controller_does() -> Result<()> {
    let _lock = INSTALL_LOCK.lock().await;
    let admin = testkit::client().await?;
    let ns = TestNamespace::create(&admin, "install-rbac").await?;
    let _cleanup = ClusterScopedCleanup;
    let ns = ns.name();
    install(ns, &[])?;
    let target = TestNamespace::create(&admin, "install-target").await?;

    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": ns},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/apps.git", "path": "guestbook", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": target.name()}
        }
    });
    application_api(&admin, ns)
        .create(&PostParams::default(), &serde_json::from_value(app)?)
        .await?;

    let controller = impersonating(&format!("system:serviceaccount:{ns}:gyro-controller")).await?;
    let nobody = impersonating(&format!("system:serviceaccount:{ns}:nobody")).await?;

    // Watch Applications (list, then watch).
    let apps = application_api(&controller, ns);
    let listed = apps.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 1);
    let version = listed.metadata.resource_version.unwrap_or_default();
    let _events = apps
        .watch(&WatchParams::default().timeout(1), &version)
        .await?;
    assert!(is_forbidden(
        &application_api(&nobody, ns)
            .list(&ListParams::default())
            .await
    ));

    // Write status (a merge patch: Argo CD's CRD has no status subresource).
    let status = json!({"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}});
    apps.patch("guestbook", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let written = application_api(&admin, ns).get("guestbook").await?;
    assert_eq!(written.data["status"]["sync"]["status"], "Synced");
    assert!(is_forbidden(
        &application_api(&nobody, ns)
            .patch("guestbook", &PatchParams::default(), &Patch::Merge(&status))
            .await
    ));

    // Read repository Secrets in its namespace.
    Api::<Secret>::namespaced(controller.clone(), ns)
        .list(&ListParams::default())
        .await?;

    // Sync: server-side apply a ConfigMap and a Deployment into another
    // namespace, the way the controller's sync does, then prune them.
    let desired: Vec<Value> = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "web-config", "namespace": target.name()},
               "data": {"greeting": "hello"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": target.name()},
               "spec": {"replicas": 1,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
    ];
    let options = sync::SyncOptions::default();
    let plan = sync::plan::build(&sync::plan::Input {
        desired: &desired,
        live: &[],
        in_sync: &|_| false,
        options: &options,
        prune: false,
        namespace: target.name(),
        cluster_scoped: &|_, _| false,
    })?;
    let result = sync::apply::run(&controller, &plan, false).await;
    assert!(result.succeeded(), "{result:?}");
    let denied = sync::apply::run(&nobody, &plan, false).await;
    assert!(!denied.succeeded(), "{denied:?}");
    Api::<Deployment>::namespaced(controller.clone(), target.name())
        .delete("web", &DeleteParams::foreground())
        .await?;
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(controller.clone(), target.name())
        .delete("web-config", &DeleteParams::default())
        .await?;

    // Publish an Event about the Application.
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some("guestbook-".to_string()),
            ..Default::default()
        },
        event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        action: Some("Sync".to_string()),
        reason: Some("Synced".to_string()),
        note: Some("synced by the install test".to_string()),
        type_: Some("Normal".to_string()),
        reporting_controller: Some("gyro.dev/controller".to_string()),
        reporting_instance: Some("gyro-controller-test".to_string()),
        regarding: Some(k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("argoproj.io/v1alpha1".to_string()),
            kind: Some("Application".to_string()),
            name: Some("guestbook".to_string()),
            namespace: Some(ns.to_string()),
            uid: written.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<Event>::namespaced(controller.clone(), ns)
        .create(&PostParams::default(), &event)
        .await?;
    assert!(is_forbidden(
        &Api::<Event>::namespaced(nobody.clone(), ns)
            .create(&PostParams::default(), &event)
            .await
    ));
    Ok(())
}
