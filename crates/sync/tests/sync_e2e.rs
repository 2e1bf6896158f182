//! Sync plans carried out against the real API server: applied in order
//! with server-side apply as `gyro`, pruned when asked, stopped at the
//! first failure without pruning.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::Api;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use sync::SyncOptions;
use sync::apply::{self, Status};
use sync::plan::{self, Input, Plan, ResourceKey};
use testkit::{TestNamespace, wait_for_condition};

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"greeting": "hello"}})
}

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10",
                                                          "envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}})
}

fn cluster_scoped(_: &str, kind: &str) -> bool {
    kind == "Namespace"
}

fn make_plan(desired: &[Value], live: &[Value], ns: &str, options: &[&str], prune: bool) -> Plan {
    let options = SyncOptions::parse(options.iter().copied()).expect("options");
    plan::build(&Input {
        desired,
        live,
        in_sync: &|_: &ResourceKey| false,
        options: &options,
        prune,
        namespace: ns,
        cluster_scoped: &cluster_scoped,
    })
    .expect("plan")
}

fn statuses(r: &apply::SyncResult) -> Vec<(String, Status)> {
    r.resources
        .iter()
        .map(|o| (o.key.to_string(), o.status))
        .collect()
}

#[tokio::test]
async fn applies_in_order_then_prunes_what_left_git() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "sync").await?;
    let n = ns.name();

    let desired = [
        deployment(),
        service(),
        config_map("settings"),
        config_map("extra"),
    ];
    let result = apply::run(&client, &make_plan(&desired, &[], n, &[], true), false).await;
    assert!(result.succeeded(), "{:?}", result.resources);
    assert_eq!(
        statuses(&result),
        [
            (format!("ConfigMap/{n}/extra"), Status::Synced),
            (format!("ConfigMap/{n}/settings"), Status::Synced),
            (format!("Service/{n}/web"), Status::Synced),
            (format!("Deployment.apps/{n}/web"), Status::Synced),
        ]
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), n);
    let live =
        wait_for_condition(&deployments, "web", Duration::from_secs(60), "Available").await?;
    let managers: Vec<String> = live
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().any(|m| m == "gyro"), "{managers:?}");

    // Git drops the Service and one ConfigMap; the other is kept by its
    // own Prune=false annotation.
    let services: Api<Service> = Api::namespaced(client.clone(), n);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), n);
    let mut extra = serde_json::to_value(config_maps.get("extra").await?)?;
    extra["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-options": "Prune=false"});
    let live_objects = [
        serde_json::to_value(deployments.get("web").await?)?,
        serde_json::to_value(services.get("web").await?)?,
        serde_json::to_value(config_maps.get("settings").await?)?,
        extra,
    ];
    let desired = [deployment(), config_map("settings")];

    // Without prune nothing is deleted.
    let result = apply::run(
        &client,
        &make_plan(&desired, &live_objects, n, &[], false),
        false,
    )
    .await;
    assert!(result.succeeded());
    assert!(services.get_opt("web").await?.is_some());

    let result = apply::run(
        &client,
        &make_plan(&desired, &live_objects, n, &[], true),
        false,
    )
    .await;
    assert!(result.succeeded(), "{:?}", result.resources);
    assert!(statuses(&result).contains(&(format!("Service/{n}/web"), Status::Pruned)));
    assert!(statuses(&result).contains(&(format!("ConfigMap/{n}/extra"), Status::Skipped)));
    // Foreground deletion: the object may linger briefly with a
    // deletionTimestamp.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while services.get_opt("web").await?.is_some() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the pruned Service is still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(config_maps.get_opt("extra").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_failing_apply_stops_the_sync_before_any_prune() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "sync-fail").await?;
    let n = ns.name();
    let keep = config_map("keep");
    let first = apply::run(
        &client,
        &make_plan(std::slice::from_ref(&keep), &[], n, &[], true),
        false,
    )
    .await;
    assert!(first.succeeded());

    // A ConfigMap with a field the schema does not have is refused by
    // server-side apply; the Deployment after it must not be applied and the
    // live ConfigMap no longer in Git must not be pruned.
    let mut broken = config_map("broken");
    broken["spec"] = json!({"nonsense": true});
    let mut live_keep = keep.clone();
    live_keep["metadata"]["namespace"] = json!(n);
    let result = apply::run(
        &client,
        &make_plan(&[broken, deployment()], &[live_keep], n, &[], true),
        false,
    )
    .await;
    assert!(!result.succeeded());
    let st = statuses(&result);
    assert_eq!(st[0], (format!("ConfigMap/{n}/broken"), Status::Failed));
    assert!(
        result.resources[0].message.contains("spec"),
        "{}",
        result.resources[0].message
    );
    assert_eq!(st[1].1, Status::NotRun);
    assert_eq!(st[2], (format!("ConfigMap/{n}/keep"), Status::NotRun));
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), n);
    assert!(config_maps.get_opt("keep").await?.is_some());

    Ok(())
}

#[tokio::test]
async fn create_namespace_and_replace() -> Result<()> {
    let client = testkit::client().await?;
    let name = format!("gyro-test-sync-ns-{}", std::process::id());
    let result = apply::run(
        &client,
        &make_plan(
            &[config_map("inside")],
            &[],
            &name,
            &["CreateNamespace=true", "Replace=true"],
            false,
        ),
        false,
    )
    .await;
    assert!(result.succeeded(), "{:?}", result.resources);
    assert_eq!(
        statuses(&result)[0],
        (format!("Namespace/{name}"), Status::Synced)
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
    assert!(config_maps.get_opt("inside").await?.is_some());
    // Replace again: the object exists now and is replaced, not created.
    let result = apply::run(
        &client,
        &make_plan(
            &[config_map("inside")],
            &[],
            &name,
            &["Replace=true"],
            false,
        ),
        false,
    )
    .await;
    assert_eq!(result.resources[0].message, "replaced (Replace=true)");
    Api::<Namespace>::all(client)
        .delete(&name, &DeleteParams::default())
        .await?;
    Ok(())
}
