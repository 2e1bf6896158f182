//! The ApplicationSet controller against the real API server and real Git:
//! git directory generators follow the repository (and the
//! `applicationsSync` policy decides whether a removed directory's
//! Application goes), a matrix of cluster Secrets and directories, a list
//! with Go templates and `missingkey=error`, and bad input that is reported
//! as a condition naming the field while existing Applications stay.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use api::{Application, ApplicationSet};
use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testkit::GitRepo;

/// Short, so that a pushed commit is seen without a webhook.
const INTERVAL: Duration = Duration::from_secs(3);

fn template(name: &str, repo: &str, path: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"}
        }
    })
}

async fn apply_set(sets: &Api<ApplicationSet>, set: Value) -> Result<()> {
    let name = set["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let set: ApplicationSet = serde_json::from_value(set)?;
    sets.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&set),
    )
    .await?;
    Ok(())
}

/// The names of the Applications `set` owns.
async fn owned(
    apps: &Api<Application>,
    sets: &Api<ApplicationSet>,
    set: &str,
) -> Result<Vec<String>> {
    let uid = sets.get(set).await?.metadata.uid.unwrap_or_default();
    let mut names: Vec<String> = apps
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|a| {
            a.metadata.deletion_timestamp.is_none()
                && a.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid)
        })
        .filter_map(|a| a.metadata.name)
        .collect();
    names.sort();
    Ok(names)
}

async fn wait_owned(
    apps: &Api<Application>,
    sets: &Api<ApplicationSet>,
    set: &str,
    want: &[&str],
) -> Result<()> {
    let waited = eventually(&format!("{set} to own {want:?}"), async || {
        Ok(owned(apps, sets, set).await? == want)
    })
    .await;
    if let Err(e) = waited {
        let status = sets.get(set).await.ok().and_then(|s| s.status);
        anyhow::bail!("{e}; status: {}", serde_json::to_string(&status)?);
    }
    Ok(())
}

/// The set's conditions as type -> (status, message).
async fn conditions(
    sets: &Api<ApplicationSet>,
    set: &str,
) -> Result<BTreeMap<String, (String, String)>> {
    Ok(sets
        .get(set)
        .await?
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, (c.status, c.message)))
        .collect())
}

/// Stops the controller and lets the test namespace go: the generated
/// Applications carry the resources finalizer, which no one would remove
/// once the controller is gone.
async fn stop(
    client: &Client,
    ns: &str,
    running: tokio::task::JoinHandle<Result<(), controller::Error>>,
) -> Result<()> {
    running.abort();
    let apps: Api<Application> = Api::namespaced(client.clone(), ns);
    for app in apps.list(&ListParams::default()).await?.items {
        if let Some(name) = app.metadata.name {
            apps.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await?;
        }
    }
    Ok(())
}

fn repo_with_apps(name: &str, apps: &[&str]) -> Result<GitRepo> {
    let repo = GitRepo::new(name)?;
    for app in apps {
        repo.write(
            &format!("apps/{app}/configmap.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}\ndata:\n  app: {app}\n"
            ),
        )?;
    }
    repo.write("README.md", "not an app\n")?;
    repo.commit("apps")?;
    repo.push()?;
    Ok(repo)
}

#[tokio::test]
async fn git_directories_make_one_application_each_and_follow_the_repository() -> Result<()> {
    let (client, namespace) = test_namespace("appset-git").await?;
    let ns = namespace.name().to_string();
    let repo = repo_with_apps("appset-git", &["api", "web", "old"])?;
    let url = repo.url();
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ns);
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let generator = json!({"git": {"repoURL": url, "revision": "main",
        "directories": [{"path": "apps/*"}, {"path": "apps/old", "exclude": true}]}});
    for (name, policy, prefix) in [("synced", "sync", ""), ("kept", "create-update", "kept-")] {
        apply_set(&sets, json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "generators": [generator],
                "syncPolicy": {"applicationsSync": policy},
                "template": template(&format!("{prefix}{{{{path.basename}}}}"), &url, "{{path}}")
            }
        }))
        .await?;
    }
    wait_owned(&apps, &sets, "synced", &["api", "web"]).await?;
    wait_owned(&apps, &sets, "kept", &["kept-api", "kept-web"]).await?;

    let web = apps.get("web").await?;
    assert_eq!(
        web.spec.source.as_ref().and_then(|s| s.path.as_deref()),
        Some("apps/web")
    );
    assert_eq!(
        web.metadata.finalizers,
        Some(vec![api::RESOURCES_FINALIZER.to_string()])
    );
    let owner = &web.metadata.owner_references.clone().unwrap_or_default()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("ApplicationSet", "synced", Some(true))
    );

    eventually("the status to list the Applications", async || {
        let set = sets.get("synced").await?;
        let status = set.status.unwrap_or_default();
        let names: Vec<String> = status
            .resources
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.name)
            .collect();
        let up_to_date = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "ResourcesUpToDate" && c.status == "True");
        Ok(names == ["api", "web"] && up_to_date && status.resources_count == Some(2))
    })
    .await?;

    // A hand edit of a generated Application is put back.
    edit_by_hand(
        &apps,
        "api",
        &json!({"spec": {"source": {"path": "elsewhere"}}}),
    )
    .await?;
    wait_app(&apps, "api", "to be put back", |a| {
        a.spec.source.as_ref().and_then(|s| s.path.as_deref()) == Some("apps/api")
    })
    .await?;

    // A removed directory: its Application goes with `sync`, stays with
    // `create-update`; a new one appears in both.
    repo.remove("apps/web/configmap.yaml")?;
    repo.write(
        "apps/shop/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\n",
    )?;
    repo.commit("web out, shop in")?;
    repo.push()?;
    wait_owned(&apps, &sets, "synced", &["api", "shop"]).await?;
    wait_owned(&apps, &sets, "kept", &["kept-api", "kept-shop", "kept-web"]).await?;

    stop(&client, &ns, running).await
}

async fn cluster_secret(secrets: &Api<Secret>, name: &str, server: &str, env: &str) -> Result<()> {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "labels": {"argocd.argoproj.io/secret-type": "cluster", "env": env},
                     "annotations": {"region": format!("{env}-region")}},
        "stringData": {"name": name, "server": server, "config": "{}"}
    }))?;
    secrets.create(&PostParams::default(), &secret).await?;
    Ok(())
}

#[tokio::test]
async fn a_matrix_of_cluster_secrets_and_git_directories() -> Result<()> {
    let (client, namespace) = test_namespace("appset-matrix").await?;
    let ns = namespace.name().to_string();
    let repo = repo_with_apps("appset-matrix", &["api", "web"])?;
    let url = repo.url();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    cluster_secret(&secrets, "prod-eu", "https://prod-eu.example", "prod").await?;
    cluster_secret(&secrets, "dev", "https://dev.example", "dev").await?;
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ns);
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let mut tmpl = template("{{name}}-{{path.basename}}", &url, "{{path}}");
    tmpl["spec"]["destination"] =
        json!({"server": "{{server}}", "namespace": "{{metadata.annotations.region}}"});
    apply_set(&sets, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "matrix", "namespace": ns},
        "spec": {
            "generators": [{"matrix": {"generators": [
                {"clusters": {"selector": {"matchLabels": {"env": "prod"}}}},
                {"git": {"repoURL": url, "revision": "main", "directories": [{"path": "apps/*"}]}}
            ]}}],
            "template": tmpl
        }
    }))
    .await?;
    // Every cluster, the local one included (no selector).
    apply_set(
        &sets,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "every-cluster", "namespace": ns},
            "spec": {
                "generators": [{"clusters": {}}],
                "template": template("all-{{nameNormalized}}", &url, "apps/api")
            }
        }),
    )
    .await?;
    wait_owned(&apps, &sets, "matrix", &["prod-eu-api", "prod-eu-web"]).await?;
    wait_owned(
        &apps,
        &sets,
        "every-cluster",
        &["all-dev", "all-in-cluster", "all-prod-eu"],
    )
    .await?;
    let web = apps.get("prod-eu-web").await?;
    assert_eq!(
        web.spec.destination.server.as_deref(),
        Some("https://prod-eu.example")
    );
    assert_eq!(
        web.spec.destination.namespace.as_deref(),
        Some("prod-region")
    );
    assert_eq!(
        apps.get("all-in-cluster")
            .await?
            .spec
            .destination
            .server
            .as_deref(),
        Some("https://kubernetes.default.svc")
    );
    stop(&client, &ns, running).await
}

#[tokio::test]
async fn a_list_with_go_templates_and_missing_keys_as_errors() -> Result<()> {
    let (client, namespace) = test_namespace("appset-list").await?;
    let ns = namespace.name().to_string();
    let repo = repo_with_apps("appset-list", &["web"])?;
    let url = repo.url();
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ns);
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let mut tmpl = template("{{ .env | lower }}-web", &url, "apps/web");
    tmpl["spec"]["destination"]["namespace"] = json!("{{ .target | default \"shared\" }}");
    apply_set(&sets, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "envs", "namespace": ns},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "syncPolicy": {"preserveResourcesOnDeletion": true},
            "generators": [{"list": {"elements": [
                {"env": "Dev", "target": "dev-web", "auto": false},
                {"env": "Prod", "target": "prod-web", "auto": true}
            ]}}],
            "template": tmpl,
            "templatePatch": "metadata:\n  labels:\n    env: {{ .env | lower | quote }}\n{{- if .auto }}\nspec:\n  syncPolicy:\n    automated: {}\n{{- end }}\n"
        }
    }))
    .await?;
    wait_owned(&apps, &sets, "envs", &["dev-web", "prod-web"]).await?;
    let prod = apps.get("prod-web").await?;
    assert_eq!(prod.spec.destination.namespace.as_deref(), Some("prod-web"));
    assert_eq!(
        prod.metadata
            .labels
            .unwrap_or_default()
            .get("env")
            .map(String::as_str),
        Some("prod")
    );
    assert!(prod.spec.sync_policy.and_then(|p| p.automated).is_some());
    let dev = apps.get("dev-web").await?;
    assert!(dev.spec.sync_policy.is_none());
    // preserveResourcesOnDeletion: no resources finalizer.
    assert_eq!(dev.metadata.finalizers, None);
    stop(&client, &ns, running).await
}

#[tokio::test]
async fn bad_input_is_a_condition_naming_the_field_and_leaves_applications_alone() -> Result<()> {
    let (client, namespace) = test_namespace("appset-bad").await?;
    let ns = namespace.name().to_string();
    let repo = repo_with_apps("appset-bad", &["web"])?;
    let url = repo.url();
    let (running, _cache) = start_controller(&client, &ns, INTERVAL)?;
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ns);
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let set = |elements: Value, name_template: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "teams", "namespace": ns},
            "spec": {
                "goTemplate": true,
                "goTemplateOptions": ["missingkey=error"],
                "generators": [{"list": {"elements": elements}}],
                "template": template(name_template, &url, "apps/web")
            }
        })
    };
    apply_set(
        &sets,
        set(json!([{"team": "a"}, {"team": "b"}]), "team-{{.team}}"),
    )
    .await?;
    wait_owned(&apps, &sets, "teams", &["team-a", "team-b"]).await?;
    let uids = |list: Vec<Application>| -> Vec<String> {
        let mut u: Vec<String> = list.into_iter().filter_map(|a| a.metadata.uid).collect();
        u.sort();
        u
    };
    let before = uids(apps.list(&ListParams::default()).await?.items);

    // Two elements yielding the same name.
    apply_set(
        &sets,
        set(
            json!([{"team": "a", "n": 1}, {"team": "a", "n": 2}, {"team": "c"}]),
            "team-{{.team}}",
        ),
    )
    .await?;
    eventually("a duplicate-name error", async || {
        let c = conditions(&sets, "teams").await?;
        Ok(c.get("ErrorOccurred").is_some_and(|(s, m)| {
            s == "True"
                && m.contains("spec.generators[0]")
                && m.contains("\"team-a\"")
                && m.contains("\"n\":1")
                && m.contains("\"n\":2")
        }) && c
            .get("ResourcesUpToDate")
            .is_some_and(|(s, _)| s == "False"))
    })
    .await?;

    // A template referring to a missing key.
    apply_set(&sets, set(json!([{"team": "a"}]), "team-{{.nope}}")).await?;
    eventually("a missing-key error", async || {
        let c = conditions(&sets, "teams").await?;
        Ok(c.get("ErrorOccurred").is_some_and(|(s, m)| {
            s == "True" && m.contains("spec.template.metadata.name") && m.contains("nope")
        }))
    })
    .await?;

    // A git generator on a branch the repository lacks.
    apply_set(&sets, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "ghost", "namespace": ns},
        "spec": {"generators": [{"git": {"repoURL": url, "revision": "no-such-branch", "directories": [{"path": "apps/*"}]}}],
                 "template": template("ghost-{{path.basename}}", &url, "{{path}}")}
    }))
    .await?;
    eventually("a missing-revision error", async || {
        let c = conditions(&sets, "ghost").await?;
        Ok(c.get("ErrorOccurred").is_some_and(|(s, m)| {
            s == "True"
                && m.contains("spec.generators[0].git.revision")
                && m.contains("no-such-branch")
        }))
    })
    .await?;

    // The controller keeps running: another set in the namespace works.
    apply_set(
        &sets,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "other", "namespace": ns},
            "spec": {"generators": [{"list": {"elements": [{"x": "1"}]}}],
                     "template": template("other-{{x}}", &url, "apps/web")}
        }),
    )
    .await?;
    wait_owned(&apps, &sets, "other", &["other-1"]).await?;
    // Neither error touched the Applications of the broken set.
    assert_eq!(owned(&apps, &sets, "teams").await?, ["team-a", "team-b"]);
    let after: Vec<String> = uids(
        apps.list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|a| a.metadata.name.as_deref() != Some("other-1"))
            .collect(),
    );
    assert_eq!(before, after);

    // Fixed: the error clears and the set converges.
    apply_set(&sets, set(json!([{"team": "a"}]), "team-{{.team}}")).await?;
    wait_owned(&apps, &sets, "teams", &["team-a"]).await?;
    eventually("the error to clear", async || {
        let c = conditions(&sets, "teams").await?;
        Ok(c.get("ErrorOccurred").is_some_and(|(s, _)| s == "False"))
    })
    .await?;
    stop(&client, &ns, running).await
}

#[tokio::test]
async fn a_push_webhook_wakes_the_sets_reading_that_repository() -> Result<()> {
    let (client, namespace) = test_namespace("appset-push").await?;
    let ns = namespace.name().to_string();
    let repo = repo_with_apps("appset-push", &["api"])?;
    let url = repo.url();
    logs();
    let addr = testkit::http::free_port()?;
    let cache = tempfile::tempdir()?;
    // No polling: only the push can show the new directory.
    let config = controller::Config {
        namespaces: vec![ns.clone()],
        reconcile_interval: Duration::from_secs(3600),
        listen: Some(addr),
        ..controller::Config::new(cache.path(), &ns)
    };
    let running = tokio::spawn(controller::run(client.clone(), config));
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), &ns);
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    // The Applications deploy from another repository, so the push wakes
    // only the set, not them (whose status writes would wake the set too).
    let manifests = repo_with_apps("appset-push-manifests", &["api", "web"])?;
    apply_set(&sets, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "pushed", "namespace": ns},
        "spec": {
            "generators": [{"git": {"repoURL": url, "revision": "main", "directories": [{"path": "apps/*"}]}}],
            "template": template("{{path.basename}}", &manifests.url(), "{{path}}")
        }
    }))
    .await?;
    wait_owned(&apps, &sets, "pushed", &["api"]).await?;
    // Settled: the Application has been compared and the set has seen it.
    eventually(
        "the set to report its Application's sync status",
        async || {
            let status = sets.get("pushed").await?.status.unwrap_or_default();
            Ok(status
                .resources
                .unwrap_or_default()
                .iter()
                .any(|r| r.status.is_some()))
        },
    )
    .await?;

    repo.write(
        "apps/web/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
    )?;
    let after = repo.commit("web")?;
    repo.push()?;
    let body = json!({
        "ref": "refs/heads/main",
        "before": "0".repeat(40),
        "after": after,
        "repository": {"clone_url": url, "html_url": url, "default_branch": "main"},
        "commits": [{"id": after, "added": ["apps/web/configmap.yaml"], "removed": [], "modified": []}]
    })
    .to_string()
    .into_bytes();
    let headers = [
        ("X-GitHub-Event", "push"),
        ("Content-Type", "application/json"),
    ];
    let accepted = testkit::http::request(addr, "POST", "/api/webhook", &headers, &body).await?;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    wait_owned(&apps, &sets, "pushed", &["api", "web"]).await?;
    stop(&client, &ns, running).await
}
