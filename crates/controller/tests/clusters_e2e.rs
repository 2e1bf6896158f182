//! Several destination clusters, against two real local clusters (the
//! shared test cluster runs the controller; `testkit::second_cluster` is
//! the destination) and real Git: Applications whose destination names the
//! second cluster by `server` or by `name` sync there and are self-healed
//! there, and deleted there with their Application; a cluster that goes away leaves its Application `Unknown` with a
//! condition while an Application on the first cluster still syncs, and it
//! syncs again once the cluster is back; a bad cluster Secret is a
//! condition naming it, and fixing the Secret takes effect without a
//! restart; a service account's bearer token limited to one namespace
//! (the Secret's `namespaces`) syncs there, and only there.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use api::Application;
use common::*;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testkit::{GitRepo, SecondCluster, TcpProxy, TestNamespace};

/// Longer than any test: every step is driven by watches (live objects,
/// cluster Secrets), refresh annotations or a cluster coming back.
const NO_POLLING: Duration = Duration::from_secs(3600);

fn app(ns: &str, name: &str, repo: &str, path: &str, destination: Value) -> Value {
    let mut app = application(ns, name, repo, path);
    app["spec"]["destination"] = destination;
    app["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": true}});
    app
}

/// A cluster Secret as Argo CD's declarative setup writes it.
async fn cluster_secret(
    client: &Client,
    ns: &str,
    secret: &str,
    name: &str,
    server: &str,
    config: &str,
    extra: &[(&str, &str)],
) -> Result<()> {
    let mut data = BTreeMap::from([
        ("name".to_string(), name.to_string()),
        ("server".to_string(), server.to_string()),
        ("config".to_string(), config.to_string()),
    ]);
    data.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret.to_string()),
            namespace: Some(ns.to_string()),
            labels: Some(BTreeMap::from([(
                "argocd.argoproj.io/secret-type".to_string(),
                "cluster".to_string(),
            )])),
            ..Default::default()
        },
        string_data: Some(data),
        ..Default::default()
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .patch(
            secret.metadata.name.as_deref().unwrap_or(""),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
    Ok(())
}

fn configmap(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n")
}

fn value_of(cm: &ConfigMap) -> Option<&str> {
    cm.data.as_ref()?.get("value").map(String::as_str)
}

fn condition(app: &Application, type_: &str, needle: &str) -> bool {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == type_ && c.message.contains(needle))
        })
}

fn no_conditions(app: &Application) -> bool {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_none_or(Vec::is_empty)
}

/// The first cluster (with the controller's namespace) and the second,
/// with a namespace of the same name in both.
async fn two_clusters(
    prefix: &str,
) -> Result<(Client, TestNamespace, SecondCluster, Client, TestNamespace)> {
    let (client, namespace) = test_namespace(prefix).await?;
    let second = testkit::second_cluster()?;
    let remote = second.client().await?;
    let remote_ns = TestNamespace::create_in_second(&remote, namespace.name()).await?;
    Ok((client, namespace, second, remote, remote_ns))
}

#[tokio::test]
async fn applications_sync_to_a_second_cluster_by_server_and_by_name() -> Result<()> {
    let (client, namespace, second, remote, _remote_ns) = two_clusters("clusters").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("clusters")?;
    repo.write("by-server/cm.yaml", &configmap("by-server", "one"))?
        .write("by-name/cm.yaml", &configmap("by-name", "one"))?;
    repo.commit("two apps")?;
    repo.push()?;
    cluster_secret(
        &client,
        &ns,
        "second-cluster",
        "second",
        &second.server,
        &second.secret_config().to_string(),
        &[],
    )
    .await?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let by_server = json!({"server": second.server, "namespace": ns});
    let by_name = json!({"name": "second", "namespace": ns});
    apply_app(
        &apps,
        &app(&ns, "by-server", &repo.url(), "by-server", by_server),
    )
    .await?;
    let mut with_finalizer = app(&ns, "by-name", &repo.url(), "by-name", by_name);
    with_finalizer["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    apply_app(&apps, &with_finalizer).await?;
    for name in ["by-server", "by-name"] {
        wait_app(&apps, name, "Synced/Healthy", |a| {
            let (sync, _, health) = sync_status(a);
            (sync, health) == ("Synced", "Healthy") && no_conditions(a)
        })
        .await?;
    }

    // The objects are in the second cluster, not in the first.
    let remote_maps: Api<ConfigMap> = Api::namespaced(remote.clone(), &ns);
    let local_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for name in ["by-server", "by-name"] {
        let cm = remote_maps
            .get(name)
            .await
            .with_context(|| format!("ConfigMap {name} in the second cluster"))?;
        assert_eq!(value_of(&cm), Some("one"));
        assert!(
            local_maps.get_opt(name).await?.is_none(),
            "ConfigMap {name} must not be in the first cluster"
        );
    }

    // Self-heal there: the second cluster's watch wakes the Application.
    edit_by_hand(
        &remote_maps,
        "by-name",
        &json!({"data": {"value": "drift"}}),
    )
    .await?;
    eventually(
        "the second cluster's ConfigMap to be reverted",
        async || Ok(value_of(&remote_maps.get("by-name").await?) == Some("one")),
    )
    .await?;

    // A new commit reaches the second cluster too.
    repo.write("by-server/cm.yaml", &configmap("by-server", "two"))?;
    let sha = repo.commit("two")?;
    repo.push()?;
    refresh(&apps, "by-server").await?;
    wait_app(&apps, "by-server", "Synced at the new commit", |a| {
        sync_status(a) == ("Synced", sha.as_str(), "Healthy")
    })
    .await?;
    assert_eq!(value_of(&remote_maps.get("by-server").await?), Some("two"));

    // Deleting an Application deletes its resources there.
    apps.delete("by-name", &Default::default()).await?;
    eventually("the Application and its ConfigMap to be gone", async || {
        Ok(apps.get_opt("by-name").await?.is_none()
            && remote_maps.get_opt("by-name").await?.is_none())
    })
    .await?;
    assert!(remote_maps.get_opt("by-server").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_cluster_that_goes_away_is_unknown_and_others_keep_syncing() -> Result<()> {
    let (client, namespace, second, remote, _remote_ns) = two_clusters("gone").await?;
    let ns = namespace.name().to_string();
    // The second cluster behind a relay the test can cut.
    let target = second
        .server
        .trim_start_matches("https://")
        .parse()
        .context("the second cluster's server is not an https://IP:port URL")?;
    let relay = TcpProxy::start(target).await?;
    let server = format!("https://127.0.0.1:{}", relay.port());
    cluster_secret(
        &client,
        &ns,
        "flaky",
        "flaky",
        &server,
        &second.secret_config().to_string(),
        &[],
    )
    .await?;
    let repo = GitRepo::new("gone")?;
    repo.write("remote/cm.yaml", &configmap("remote", "one"))?
        .write("local/cm.yaml", &configmap("local", "one"))?;
    repo.commit("one")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let remote_dest = json!({"name": "flaky", "namespace": ns});
    let local_dest = json!({"server": "https://kubernetes.default.svc", "namespace": ns});
    apply_app(
        &apps,
        &app(&ns, "remote", &repo.url(), "remote", remote_dest),
    )
    .await?;
    apply_app(&apps, &app(&ns, "local", &repo.url(), "local", local_dest)).await?;
    for name in ["remote", "local"] {
        wait_app(&apps, name, "Synced", |a| sync_status(a).0 == "Synced").await?;
    }

    // The cluster goes away; a new commit arrives for both.
    relay.stop();
    repo.write("remote/cm.yaml", &configmap("remote", "two"))?
        .write("local/cm.yaml", &configmap("local", "two"))?;
    let sha = repo.commit("two")?;
    repo.push()?;
    refresh(&apps, "local").await?;
    refresh(&apps, "remote").await?;
    let gone = wait_app(&apps, "remote", "Unknown with a condition", |a| {
        let (sync, _, health) = sync_status(a);
        (sync, health) == ("Unknown", "Unknown")
            && condition(a, "ComparisonError", "failed to sync cluster")
    })
    .await?;
    assert!(
        condition(&gone, "ComparisonError", &server),
        "the condition names the cluster: {:?}",
        gone.status.and_then(|s| s.conditions)
    );
    wait_app(&apps, "local", "Synced at the new commit", |a| {
        sync_status(a) == ("Synced", sha.as_str(), "Healthy")
    })
    .await?;
    let local_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(value_of(&local_maps.get("local").await?), Some("two"));

    // It comes back: the Application syncs the commit it missed, with no
    // refresh (the controller notices the cluster answers again).
    relay.resume().await?;
    wait_app(&apps, "remote", "Synced at the new commit again", |a| {
        sync_status(a) == ("Synced", sha.as_str(), "Healthy") && no_conditions(a)
    })
    .await?;
    let remote_maps: Api<ConfigMap> = Api::namespaced(remote.clone(), &ns);
    assert_eq!(value_of(&remote_maps.get("remote").await?), Some("two"));
    Ok(())
}

#[tokio::test]
async fn bad_cluster_secrets_and_unknown_clusters_are_conditions() -> Result<()> {
    let (client, namespace, second, remote, _remote_ns) = two_clusters("badsecret").await?;
    let ns = namespace.name().to_string();
    let repo = GitRepo::new("badsecret")?;
    repo.write("app/cm.yaml", &configmap("fixed", "one"))?;
    repo.commit("one")?;
    repo.push()?;
    cluster_secret(
        &client,
        &ns,
        "broken",
        "broken",
        &second.server,
        "{not json",
        &[],
    )
    .await?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let broken = json!({"name": "broken", "namespace": ns});
    let unknown = json!({"name": "nowhere", "namespace": ns});
    let both = json!({"name": "broken", "server": second.server, "namespace": ns});
    apply_app(&apps, &app(&ns, "broken", &repo.url(), "app", broken)).await?;
    apply_app(&apps, &app(&ns, "unknown", &repo.url(), "app", unknown)).await?;
    apply_app(&apps, &app(&ns, "both", &repo.url(), "app", both)).await?;
    let secret = format!("cluster Secret {ns}/broken: key config");
    wait_app(&apps, "broken", "a condition naming the Secret", |a| {
        sync_status(a).0 == "Unknown" && condition(a, "ComparisonError", &secret)
    })
    .await?;
    wait_app(&apps, "unknown", "a condition naming the field", |a| {
        condition(
            a,
            "InvalidSpecError",
            "spec.destination.name: there are no clusters with this name: nowhere",
        )
    })
    .await?;
    wait_app(&apps, "both", "a condition naming both fields", |a| {
        condition(a, "InvalidSpecError", "spec.destination: both server")
    })
    .await?;

    // Fixing the Secret takes effect without a restart or a refresh.
    cluster_secret(
        &client,
        &ns,
        "broken",
        "broken",
        &second.server,
        &second.secret_config().to_string(),
        &[],
    )
    .await?;
    wait_app(&apps, "broken", "Synced once the Secret is fixed", |a| {
        sync_status(a).0 == "Synced" && no_conditions(a)
    })
    .await?;
    let remote_maps: Api<ConfigMap> = Api::namespaced(remote.clone(), &ns);
    assert_eq!(value_of(&remote_maps.get("fixed").await?), Some("one"));
    // Nothing was created in the first cluster.
    let local_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(local_maps.get_opt("fixed").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_namespace_limited_token_manages_only_its_namespace() -> Result<()> {
    let (client, namespace, second, remote, _remote_ns) = two_clusters("token").await?;
    let ns = namespace.name().to_string();
    // A service account of the second cluster that may only manage its
    // namespace (the `admin` role there): the cluster Secret says so with
    // `namespaces`, and the live cache watches only that namespace.
    let accounts: Api<ServiceAccount> = Api::namespaced(remote.clone(), &ns);
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "gyro"}}))?;
    accounts.create(&PostParams::default(), &account).await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "gyro"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "gyro", "namespace": ns}]
    }))?;
    Api::<RoleBinding>::namespaced(remote.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await?;
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))?;
    let token = accounts
        .create_token_request("gyro", &PostParams::default(), &request)
        .await?
        .status
        .context("the token request has no status")?
        .token;
    // Token and CA only: no client certificate.
    let config = json!({"bearerToken": token, "tlsClientConfig": {"caData": second.ca_data}});
    cluster_secret(
        &client,
        &ns,
        "by-token",
        "by-token",
        &second.server,
        &config.to_string(),
        &[("namespaces", &ns)],
    )
    .await?;
    let repo = GitRepo::new("token")?;
    repo.write("app/cm.yaml", &configmap("by-token", "one"))?;
    repo.commit("one")?;
    repo.push()?;
    let (_running, _cache) = start_controller(&client, &ns, NO_POLLING)?;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let dest = json!({"name": "by-token", "namespace": ns});
    apply_app(&apps, &app(&ns, "by-token", &repo.url(), "app", dest)).await?;
    // Another namespace of that cluster is not the Secret's to manage.
    let elsewhere = json!({"name": "by-token", "namespace": "default"});
    apply_app(&apps, &app(&ns, "elsewhere", &repo.url(), "app", elsewhere)).await?;
    wait_app(&apps, "by-token", "Synced/Healthy", |a| {
        let (sync, _, health) = sync_status(a);
        (sync, health) == ("Synced", "Healthy") && no_conditions(a)
    })
    .await?;
    let remote_maps: Api<ConfigMap> = Api::namespaced(remote.clone(), &ns);
    let cm = remote_maps.get("by-token").await?;
    assert_eq!(value_of(&cm), Some("one"));
    let refused = format!(
        "namespace default is not managed by cluster {}",
        second.server
    );
    wait_app(
        &apps,
        "elsewhere",
        "a condition naming the namespace",
        |a| condition(a, "ComparisonError", &refused),
    )
    .await?;
    Ok(())
}
