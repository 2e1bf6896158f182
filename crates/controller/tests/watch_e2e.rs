//! The controller's watch-based cache and its error isolation, against the
//! real API server and real Git: drift is seen (and healed) without any
//! refresh or poll, a Deployment that never becomes ready goes Progressing
//! then Degraded, annotation tracking claims only the objects it names, and
//! broken, empty, unreachable or misconfigured sources leave live objects
//! alone while other Applications keep syncing.

mod common;

use std::time::Duration;

use anyhow::{Context as _, Result};
use api::Application;
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use testkit::GitRepo;

/// Longer than any test: every step below is driven by watch events (or,
/// in the error test, by refresh annotations), never by the interval.
const NO_POLLING: Duration = Duration::from_secs(3600);

fn app(ns: &str, name: &str, repo: &str, path: &str, self_heal: bool) -> serde_json::Value {
    let mut app = application(ns, name, repo, path);
    app["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": self_heal}});
    app
}

fn configmap(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n")
}

fn cm_value(cm: &ConfigMap) -> Option<&str> {
    cm.data.as_ref()?.get("value").map(String::as_str)
}

fn conditions(app: &Application) -> Vec<(String, String)> {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.message))
        .collect()
}

fn has_condition(app: &Application, type_: &str, needle: &str) -> bool {
    conditions(app)
        .iter()
        .any(|(t, m)| t == type_ && m.contains(needle))
}

#[tokio::test]
async fn live_changes_wake_the_application_without_polling() -> Result<()> {
    let (client, namespace) = test_namespace("watch").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("watch")?;
    repo.write("base/kustomization.yaml", BASE_KUSTOMIZATION)?
        .write("base/configmap.yaml", CONFIGMAP)?
        .write("base/deployment.yaml", DEPLOYMENT)?
        .write("base/service.yaml", SERVICE)?
        .write(
            "healed/kustomization.yaml",
            "resources:\n- ../base\nnamePrefix: healed-\n",
        )?
        .write(
            "watched/kustomization.yaml",
            "resources:\n- ../base\nnamePrefix: watched-\n",
        )?;
    repo.commit("two copies")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "healed", &repo.url(), "healed", true)).await?;
    apply_app(&apps, &app(&ns, "watched", &repo.url(), "watched", false)).await?;
    for name in ["healed", "watched"] {
        wait_app(&apps, name, "Synced/Healthy", |a| {
            let (sync, _, health) = sync_status(a);
            (sync, health) == ("Synced", "Healthy")
        })
        .await?;
    }

    // A deleted Service comes back, and an edited ConfigMap is reverted,
    // with selfHeal and no refresh: the watch wakes the Application.
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let uid = services.get("healed-web").await?.metadata.uid;
    services
        .delete("healed-web", &DeleteParams::default())
        .await?;
    eventually("the Service to be recreated", async || {
        Ok(services
            .get_opt("healed-web")
            .await?
            .is_some_and(|s| s.metadata.uid != uid && s.metadata.deletion_timestamp.is_none()))
    })
    .await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for name in ["healed-web-config", "watched-web-config"] {
        edit_by_hand(&maps, name, &json!({"data": {"LOG_LEVEL": "debug"}})).await?;
    }
    eventually("the healed ConfigMap to be reverted", async || {
        let cm = maps.get("healed-web-config").await?;
        Ok(cm.data.and_then(|d| d.get("LOG_LEVEL").cloned()).as_deref() == Some("info"))
    })
    .await?;

    // Without selfHeal the drift is reported, not reverted.
    let drifted = wait_app(&apps, "watched", "OutOfSync", |a| {
        sync_status(a).0 == "OutOfSync"
    })
    .await?;
    let out_of_sync: Vec<String> = drifted
        .status
        .and_then(|s| s.resources)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.status.as_deref() == Some("OutOfSync"))
        .filter_map(|r| r.name)
        .collect();
    assert_eq!(out_of_sync, ["watched-web-config"]);
    let cm = maps.get("watched-web-config").await?;
    assert_eq!(
        cm.data.and_then(|d| d.get("LOG_LEVEL").cloned()).as_deref(),
        Some("debug")
    );
    Ok(())
}

#[tokio::test]
async fn a_deployment_that_never_becomes_ready_turns_degraded() -> Result<()> {
    let (client, namespace) = test_namespace("deadline").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("deadline")?;
    // kwok leaves Pods with this annotation Pending (see scripts/cluster),
    // so the Deployment runs into its progress deadline.
    let stuck = DEPLOYMENT
        .replace("  replicas: 2\n", "  replicas: 1\n  progressDeadlineSeconds: 5\n")
        .replace(
            "    metadata:\n      labels:\n        app: web\n",
            "    metadata:\n      labels:\n        app: web\n      annotations:\n        kwok.x-k8s.io/status: custom\n",
        );
    repo.write("app/deployment.yaml", &stuck)?;
    repo.commit("stuck")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "stuck", &repo.url(), "app", true)).await?;

    let mut seen: Vec<String> = Vec::new();
    let degraded = wait_app(&apps, "stuck", "Degraded", |a| {
        let health = sync_status(a).2.to_string();
        if !health.is_empty() && seen.last() != Some(&health) {
            seen.push(health.clone());
        }
        health == "Degraded"
    })
    .await?;
    let at = |h: &str| seen.iter().position(|s| s == h);
    assert!(
        at("Progressing").is_some() && at("Progressing") < at("Degraded"),
        "health went {seen:?}"
    );
    let message = degraded
        .status
        .and_then(|s| s.resources)
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.kind.as_deref() == Some("Deployment"))
        .and_then(|r| r.health)
        .and_then(|h| h.message)
        .unwrap_or_default();
    assert!(message.contains("progress deadline"), "{message}");
    Ok(())
}

#[tokio::test]
async fn annotation_tracking_claims_only_the_objects_it_names() -> Result<()> {
    let (client, namespace) = test_namespace("annotated").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("annotated")?;
    repo.write("app/a.yaml", &configmap("a", "one"))?
        .write("app/b.yaml", &configmap("b", "one"))?;
    repo.commit("two maps")?;
    repo.push()?;
    logs();
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![ns.clone()],
        reconcile_interval: NO_POLLING,
        tracking: Some(controller::tracking::TrackingMethod::Annotation),
        ..controller::Config::new(cache.path(), &ns)
    };
    let _running = tokio::spawn(controller::run(client.clone(), config));
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "annotated", &repo.url(), "app", true)).await?;
    wait_app(&apps, "annotated", "Synced", |a| {
        sync_status(a).0 == "Synced"
    })
    .await?;

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let a = maps.get("a").await?;
    let annotation = a
        .metadata
        .annotations
        .as_ref()
        .and_then(|m| m.get("argocd.argoproj.io/tracking-id"))
        .cloned();
    assert_eq!(annotation, Some(format!("annotated:/ConfigMap:{ns}/a")));
    assert!(
        a.metadata
            .labels
            .as_ref()
            .is_none_or(|l| !l.contains_key(TRACKING))
    );

    // A copy of `a` made by hand carries the same annotation but is not
    // the object it names: it is neither listed nor pruned.
    let mut copy = a.clone();
    copy.metadata = kube::api::ObjectMeta {
        name: Some("a-copy".to_string()),
        annotations: a.metadata.annotations.clone(),
        ..Default::default()
    };
    maps.create(&PostParams::default(), &copy).await?;
    repo.remove("app/b.yaml")?;
    let second = repo.commit("drop b")?;
    repo.push()?;
    refresh(&apps, "annotated").await?;
    let synced = wait_app(&apps, "annotated", "b pruned", |a| {
        sync_status(a) == ("Synced", second.as_str(), "Healthy")
    })
    .await?;
    let listed: Vec<String> = synced
        .status
        .and_then(|s| s.resources)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.name)
        .collect();
    assert_eq!(listed, ["a"]);
    assert!(maps.get_opt("b").await?.is_none());
    assert!(maps.get_opt("a-copy").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn broken_sources_touch_nothing_while_other_applications_sync() -> Result<()> {
    let (client, namespace) = test_namespace("isolated").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("isolated")?;
    repo.write("good/cm.yaml", &configmap("good", "one"))?
        .write("broken/cm.yaml", &configmap("broken", "one"))?
        .write("empty/cm.yaml", &configmap("empty", "one"))?;
    let first = repo.commit("three apps")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let url = repo.url();
    for name in ["good", "broken", "empty"] {
        apply_app(&apps, &app(&ns, name, &url, name, true)).await?;
    }
    for name in ["good", "broken", "empty"] {
        wait_app(&apps, name, "Synced", |a| {
            sync_status(a) == ("Synced", first.as_str(), "Healthy")
        })
        .await?;
    }
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let before_broken = maps.get("broken").await?;
    let before_empty = maps.get("empty").await?;

    // One commit breaks a file, empties a directory and changes the good app.
    repo.write("good/cm.yaml", &configmap("good", "two"))?
        .write(
            "broken/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata: [oops\n",
        )?
        .remove("empty/cm.yaml")?
        .write("empty/README.md", "nothing to deploy\n")?;
    let second = repo.commit("break things")?;
    repo.push()?;
    for name in ["good", "broken", "empty"] {
        refresh(&apps, name).await?;
    }
    // Misconfigured Applications next to them.
    let mut unreachable = app(
        &ns,
        "unreachable",
        "file:///nonexistent/repo.git",
        "good",
        true,
    );
    unreachable["spec"]["source"]["repoURL"] = json!("file:///nonexistent/repo.git");
    apply_app(&apps, &unreachable).await?;
    let mut bad_revision = app(&ns, "bad-revision", &url, "good", true);
    bad_revision["spec"]["source"]["targetRevision"] = json!("no-such-branch");
    apply_app(&apps, &bad_revision).await?;
    apply_app(&apps, &app(&ns, "no-path", &url, "not/there", true)).await?;
    let mut plugin = app(&ns, "plugin", &url, "good", true);
    plugin["spec"]["source"]["plugin"] = json!({"name": "my-cmp"});
    apply_app(&apps, &plugin).await?;

    wait_app(&apps, "good", "the good app at the new commit", |a| {
        sync_status(a) == ("Synced", second.as_str(), "Healthy")
    })
    .await?;
    assert_eq!(cm_value(&maps.get("good").await?), Some("two"));

    let broken = wait_app(&apps, "broken", "a ComparisonError", |a| {
        has_condition(a, "ComparisonError", "broken/cm.yaml")
    })
    .await?;
    assert_eq!(sync_status(&broken).0, "Unknown");
    assert!(
        has_condition(&broken, "ComparisonError", "line 5"),
        "{:?}",
        conditions(&broken)
    );

    let empty = wait_app(&apps, "empty", "a SyncError about allowEmpty", |a| {
        has_condition(a, "SyncError", "allowEmpty")
    })
    .await?;
    assert_eq!(sync_status(&empty).1, second);

    wait_app(&apps, "unreachable", "a ComparisonError", |a| {
        has_condition(a, "ComparisonError", "nonexistent")
    })
    .await?;
    wait_app(&apps, "bad-revision", "an InvalidSpecError", |a| {
        has_condition(a, "InvalidSpecError", "spec.source.targetRevision")
            && has_condition(a, "InvalidSpecError", "no-such-branch")
    })
    .await?;
    wait_app(&apps, "no-path", "an InvalidSpecError", |a| {
        has_condition(a, "InvalidSpecError", "spec.source.path")
            && has_condition(a, "InvalidSpecError", "not/there")
    })
    .await?;
    wait_app(&apps, "plugin", "an InvalidSpecError", |a| {
        has_condition(a, "InvalidSpecError", "spec.source.plugin")
    })
    .await?;

    // The live objects of the broken and empty apps are exactly as they were.
    for before in [before_broken, before_empty] {
        let name = before.metadata.name.clone().context("name")?;
        let now = maps.get(&name).await?;
        assert_eq!(now.metadata.uid, before.metadata.uid, "{name}");
        assert_eq!(
            now.metadata.resource_version, before.metadata.resource_version,
            "{name}"
        );
    }
    // And nothing else appeared: the misconfigured apps deployed nothing.
    let names: Vec<String> = maps
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    assert_eq!(names, ["broken", "empty", "good"]);
    Ok(())
}

/// A GitHub push of `main` to `repo`, as GitHub sends it (trimmed).
fn github_push(repo: &str, after: &str) -> Vec<u8> {
    json!({
        "ref": "refs/heads/main",
        "before": "0".repeat(40),
        "after": after,
        "repository": {"clone_url": repo, "html_url": repo, "default_branch": "main"},
        "commits": [{"id": after, "added": [], "removed": [], "modified": ["app/cm.yaml"]}]
    })
    .to_string()
    .into_bytes()
}

fn github_signature(secret: &str, body: &[u8]) -> Result<String> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[tokio::test]
async fn a_signed_push_webhook_syncs_the_new_commit() -> Result<()> {
    let (client, namespace) = test_namespace("webhook").await?;
    let ns = namespace.name().to_string();
    // The shared secret, where Argo CD keeps it.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "argocd-secret"},
                "stringData": {"webhook.github.secret": "s3cret"}
            }))?,
        )
        .await?;
    let repo = GitRepo::new("webhook")?;
    repo.write("app/cm.yaml", &configmap("web", "one"))?;
    let first = repo.commit("one")?;
    repo.push()?;
    logs();
    let addr = testkit::http::free_port()?;
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![ns.clone()],
        reconcile_interval: NO_POLLING,
        listen: Some(addr),
        ..controller::Config::new(cache.path(), &ns)
    };
    let _running = tokio::spawn(controller::run(client.clone(), config));
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "hooked", &repo.url(), "app", true)).await?;
    wait_app(&apps, "hooked", "Synced", |a| {
        sync_status(a) == ("Synced", first.as_str(), "Healthy")
    })
    .await?;

    repo.write("app/cm.yaml", &configmap("web", "two"))?;
    let second = repo.commit("two")?;
    repo.push()?;
    let body = github_push(&repo.url(), &second);
    let post = async |headers: &[(&str, &str)]| {
        testkit::http::request(addr, "POST", "/api/webhook", headers, &body).await
    };
    // Unsigned: refused, and nothing happens.
    let refused = post(&[
        ("X-GitHub-Event", "push"),
        ("Content-Type", "application/json"),
    ])
    .await?;
    assert_eq!(refused.status, 401, "{}", refused.body);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sync_status(&apps.get("hooked").await?).1, first);
    // Signed: the Application syncs the pushed commit.
    let signature = github_signature("s3cret", &body)?;
    let accepted = post(&[
        ("X-GitHub-Event", "push"),
        ("Content-Type", "application/json"),
        ("X-Hub-Signature-256", &signature),
    ])
    .await?;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    wait_app(&apps, "hooked", "the pushed commit", |a| {
        sync_status(a) == ("Synced", second.as_str(), "Healthy")
    })
    .await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(cm_value(&maps.get("web").await?), Some("two"));
    Ok(())
}

#[tokio::test]
async fn without_a_webhook_the_argocd_cm_interval_picks_up_a_new_commit() -> Result<()> {
    let (client, namespace) = test_namespace("polled").await?;
    let ns = namespace.name().to_string();
    // The interval comes from argocd-cm, as Argo CD users set it.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "argocd-cm"},
            "data": {"timeout.reconciliation": "3s"}
        }))?,
    )
    .await?;
    let repo = GitRepo::new("polled")?;
    repo.write("app/cm.yaml", &configmap("web", "one"))?;
    let first = repo.commit("one")?;
    repo.push()?;
    logs();
    let cache = tempfile::tempdir()?;
    let config = controller::Config {
        namespaces: vec![ns.clone()],
        reconcile_interval: NO_POLLING,
        reconcile_interval_from_argocd_cm: true,
        ..controller::Config::new(cache.path(), &ns)
    };
    let _running = tokio::spawn(controller::run(client.clone(), config));
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "polled", &repo.url(), "app", true)).await?;
    wait_app(&apps, "polled", "Synced", |a| {
        sync_status(a) == ("Synced", first.as_str(), "Healthy")
    })
    .await?;
    repo.write("app/cm.yaml", &configmap("web", "two"))?;
    let second = repo.commit("two")?;
    repo.push()?;
    wait_app(&apps, "polled", "the new commit", |a| {
        sync_status(a) == ("Synced", second.as_str(), "Healthy")
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_application_waits_for_its_project_to_exist() -> Result<()> {
    let (client, namespace) = test_namespace("project").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("project")?;
    repo.write("app/cm.yaml", &configmap("web", "one"))?;
    repo.commit("one")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let mut spec = app(&ns, "team-app", &repo.url(), "app", true);
    spec["spec"]["project"] = json!("team-a");
    apply_app(&apps, &spec).await?;
    wait_app(&apps, "team-app", "an InvalidSpecError", |a| {
        has_condition(a, "InvalidSpecError", "spec.project")
            && has_condition(a, "InvalidSpecError", "team-a")
    })
    .await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(maps.get_opt("web").await?.is_none());

    // Creating the project wakes the Application: no refresh, no polling.
    let projects: Api<api::AppProject> = Api::namespaced(client.clone(), &ns);
    projects
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                "metadata": {"name": "team-a"},
                "spec": {"sourceRepos": ["*"],
                         "destinations": [{"namespace": "*", "server": "https://kubernetes.default.svc"}]}
            }))?,
        )
        .await?;
    let synced = wait_app(&apps, "team-app", "Synced", |a| {
        sync_status(a).0 == "Synced"
    })
    .await?;
    assert!(conditions(&synced).is_empty(), "{:?}", conditions(&synced));
    assert_eq!(cm_value(&maps.get("web").await?), Some("one"));
    Ok(())
}

#[tokio::test]
async fn without_prune_a_removed_object_stays_and_is_reported() -> Result<()> {
    let (client, namespace) = test_namespace("noprune").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("noprune")?;
    repo.write("app/a.yaml", &configmap("a", "one"))?
        .write("app/b.yaml", &configmap("b", "one"))?;
    repo.commit("two maps")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let mut spec = app(&ns, "keeper", &repo.url(), "app", true);
    spec["spec"]["syncPolicy"]["automated"]["prune"] = json!(false);
    apply_app(&apps, &spec).await?;
    wait_app(&apps, "keeper", "Synced", |a| sync_status(a).0 == "Synced").await?;

    repo.remove("app/b.yaml")?
        .write("app/a.yaml", &configmap("a", "two"))?;
    let second = repo.commit("drop b, change a")?;
    repo.push()?;
    refresh(&apps, "keeper").await?;
    let synced = wait_app(&apps, "keeper", "the new commit synced", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .and_then(|o| o.sync_result.as_ref())
            .is_some_and(|r| r.revision == second)
    })
    .await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(cm_value(&maps.get("a").await?), Some("two"));
    assert!(maps.get_opt("b").await?.is_some(), "b was pruned");
    let status = synced.status.context("status")?;
    let skipped: Vec<String> = status
        .operation_state
        .and_then(|o| o.sync_result)
        .and_then(|r| r.resources)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.status.as_deref() == Some("PruneSkipped"))
        .map(|r| r.name)
        .collect();
    assert_eq!(skipped, ["b"]);
    let b = status
        .resources
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.name.as_deref() == Some("b"))
        .context("b not listed")?;
    assert_eq!(b.requires_pruning, Some(true));
    assert_eq!(b.status.as_deref(), Some("OutOfSync"));
    Ok(())
}

#[tokio::test]
async fn custom_health_checks_come_from_argocd_cm() -> Result<()> {
    let (client, namespace) = test_namespace("lua").await?;
    let ns = namespace.name().to_string();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let script = r#"hs = {}
if obj.data ~= nil and obj.data.value == "bad" then
  hs.status = "Degraded"
  hs.message = "value is bad"
  return hs
end
hs.status = "Healthy"
return hs
"#;
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "argocd-cm"},
            "data": {"resource.customizations.health.ConfigMap": script}
        }))?,
    )
    .await?;
    let repo = GitRepo::new("lua")?;
    repo.write("app/cm.yaml", &configmap("web", "bad"))?;
    repo.commit("bad")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    apply_app(&apps, &app(&ns, "checked", &repo.url(), "app", true)).await?;
    let degraded = wait_app(&apps, "checked", "Degraded", |a| {
        sync_status(a).2 == "Degraded"
    })
    .await?;
    let message = degraded
        .status
        .and_then(|s| s.resources)
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.name.as_deref() == Some("web"))
        .and_then(|r| r.health)
        .and_then(|h| h.message);
    assert_eq!(message.as_deref(), Some("value is bad"));

    repo.write("app/cm.yaml", &configmap("web", "good"))?;
    repo.commit("good")?;
    repo.push()?;
    refresh(&apps, "checked").await?;
    wait_app(&apps, "checked", "Healthy", |a| {
        sync_status(a).2 == "Healthy"
    })
    .await?;
    Ok(())
}
