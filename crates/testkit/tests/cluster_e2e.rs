//! End-to-end proof that the test cluster is a real Kubernetes control plane:
//! a Deployment applied with server-side apply becomes Available (the
//! controller manager creates a ReplicaSet, the scheduler binds its Pods to
//! kwok nodes, kwok marks them Ready), and a CRD serves custom objects.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::json;
use testkit::{TestNamespace, wait_for_condition};

#[tokio::test]
async fn deployment_becomes_available_on_kwok_nodes() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "deploy").await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());

    let manifest: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}]}
            }
        }
    }))?;
    deployments
        .patch(
            "web",
            &PatchParams::apply("gyro-e2e").force(),
            &Patch::Apply(&manifest),
        )
        .await
        .context("server-side apply of the Deployment")?;

    let available =
        wait_for_condition(&deployments, "web", Duration::from_secs(120), "Available").await?;
    assert_eq!(
        available.status.as_ref().and_then(|s| s.available_replicas),
        Some(2)
    );

    // The chain behind "Available" is real: a ReplicaSet owned by the
    // Deployment, and Ready Pods bound to kwok's fake nodes.
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), ns.name())
        .list(&ListParams::default())
        .await?;
    let owned: Vec<_> = replica_sets
        .items
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Deployment" && o.name == "web")
        })
        .collect();
    assert_eq!(owned.len(), 1, "expected one ReplicaSet owned by web");

    let pods = Api::<Pod>::namespaced(client.clone(), ns.name())
        .list(&ListParams::default().labels("app=web"))
        .await?;
    assert_eq!(pods.items.len(), 2);
    for pod in &pods.items {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        assert!(
            node.starts_with("kwok-node-"),
            "pod scheduled onto {node:?}"
        );
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(ready, "pod {:?} is not Ready", pod.metadata.name);
    }
    Ok(())
}

#[tokio::test]
async fn custom_resource_definition_round_trip() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "crd").await?;
    // A group of its own per run, so parallel or repeated runs never share it.
    let group = format!("{}.e2e.gyro.dev", ns.name());
    let crd_name = format!("widgets.{group}");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {"size": {"type": "integer"}, "colour": {"type": "string"}}
                    }}
                }}
            }]
        }
    }))?;
    crds.patch(
        &crd_name,
        &PatchParams::apply("gyro-e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .context("applying the CRD")?;
    let result = async {
        wait_for_condition(&crds, &crd_name, Duration::from_secs(30), "Established").await?;

        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&group, "v1", "Widget"),
            "widgets",
        );
        let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ar);
        let widget: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{group}/v1"),
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3, "colour": "blue"}
        }))?;
        // The new type may take a moment to be served after Established.
        let mut attempts = 0;
        loop {
            match widgets
                .patch(
                    "w1",
                    &PatchParams::apply("gyro-e2e").force(),
                    &Patch::Apply(&widget),
                )
                .await
            {
                Ok(_) => break,
                Err(e) if attempts < 20 => {
                    attempts += 1;
                    tracing::debug!(error = %e, "widget not accepted yet");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e).context("creating the Widget"),
            }
        }
        let back = widgets.get("w1").await?;
        assert_eq!(back.data["spec"], json!({"size": 3, "colour": "blue"}));

        // Server-side apply checks fields against the CRD's schema, and the
        // error names the undeclared field: what gyro's sync reports later.
        let mut bad = widget.clone();
        bad.data["spec"]["shape"] = json!("round");
        let err = widgets
            .patch(
                "w1",
                &PatchParams::apply("gyro-e2e").force(),
                &Patch::Apply(&bad),
            )
            .await
            .expect_err("an undeclared field must be rejected");
        assert!(
            err.to_string()
                .contains(".spec.shape: field not declared in schema"),
            "{err}"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    crds.delete(&crd_name, &DeleteParams::default()).await?;
    result
}

#[tokio::test]
async fn test_namespaces_are_deleted_when_dropped() -> Result<()> {
    let client = testkit::client().await?;
    let name = {
        let ns = TestNamespace::create(&client, "drop").await?;
        ns.name().to_string()
    };
    let namespaces: Api<Namespace> = Api::all(client);
    let gone = match namespaces.get_opt(&name).await? {
        None => true,
        Some(ns) => ns.metadata.deletion_timestamp.is_some(),
    };
    assert!(gone, "namespace {name} is neither deleted nor terminating");
    Ok(())
}
