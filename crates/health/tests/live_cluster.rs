//! Health of live objects read from the real test cluster (kube-apiserver,
//! controller manager, scheduler and kwok nodes): the built-in checks must
//! agree with what the Kubernetes controllers actually write.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use health::{
    CustomHealthChecks, HealthStatus, HealthStatusCode, ResourceRef, aggregate, resource_health,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use testkit::TestNamespace;

/// kwok leaves Pods with this annotation alone: they stay Pending.
const KWOK_CUSTOM: (&str, &str) = ("kwok.x-k8s.io/status", "custom");

fn health_of(obj: &Value) -> Result<HealthStatus> {
    resource_health(obj, &CustomHealthChecks::default()).context("expected a health status")
}

/// Reads `name` until its health satisfies `done`, returning every distinct
/// health seen on the way (the last one satisfies `done`).
async fn poll_health<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    done: impl Fn(&HealthStatus) -> bool,
) -> Result<Vec<HealthStatus>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let start = Instant::now();
    let mut seen: Vec<HealthStatus> = Vec::new();
    loop {
        let live = serde_json::to_value(api.get(name).await?)?;
        let health = health_of(&live)?;
        if seen.last() != Some(&health) {
            seen.push(health.clone());
        }
        if done(&health) {
            return Ok(seen);
        }
        if start.elapsed() > timeout {
            bail!(
                "{name}: health never reached the expected state in {timeout:?}; seen {seen:?}; last status {}",
                live["status"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn deployment(name: &str, pod_annotations: Value, extra_spec: Value) -> Result<Deployment> {
    let mut spec = json!({
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}, "annotations": pod_annotations},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
        }
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": spec
    }))?)
}

#[tokio::test]
async fn deployment_goes_from_progressing_to_healthy() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "health-deploy").await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns.name());

    // The object as the API server returns it on create: no status yet.
    let created = api
        .create(
            &PostParams::default(),
            &deployment("web", json!({}), json!({}))?,
        )
        .await?;
    let first = health_of(&serde_json::to_value(&created)?)?;
    assert_eq!(
        first,
        HealthStatus::new(
            HealthStatusCode::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation"
        )
    );

    let seen = poll_health(&api, "web", Duration::from_secs(120), |h| {
        h.status == HealthStatusCode::Healthy
    })
    .await?;
    let (last, before) = seen.split_last().context("no health seen")?;
    assert_eq!(last, &HealthStatus::new(HealthStatusCode::Healthy, ""));
    assert!(
        before
            .iter()
            .all(|h| h.status == HealthStatusCode::Progressing),
        "only Progressing before Healthy, saw {seen:?}"
    );
    Ok(())
}

#[tokio::test]
async fn pod_that_kwok_leaves_pending_stays_progressing() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "health-pod").await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stuck", "annotations": {KWOK_CUSTOM.0: KWOK_CUSTOM.1}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
    }))?;
    api.create(&PostParams::default(), &pod).await?;

    // Wait until the scheduler has bound it to a kwok node, so "Pending" is
    // kwok not starting it rather than the pod not being scheduled yet.
    let start = Instant::now();
    loop {
        let live = api.get("stuck").await?;
        if live
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some()
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("pod was never scheduled");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..5 {
        let live = serde_json::to_value(api.get("stuck").await?)?;
        assert_eq!(live["status"]["phase"], "Pending");
        assert_eq!(health_of(&live)?.status, HealthStatusCode::Progressing);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

#[tokio::test]
async fn deployment_past_its_progress_deadline_is_degraded() -> Result<()> {
    let client = testkit::client().await?;
    let ns = TestNamespace::create(&client, "health-deadline").await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let manifest = deployment(
        "stuck",
        json!({KWOK_CUSTOM.0: KWOK_CUSTOM.1}),
        json!({"progressDeadlineSeconds": 1}),
    )?;
    api.create(&PostParams::default(), &manifest).await?;

    let seen = poll_health(&api, "stuck", Duration::from_secs(120), |h| {
        h.status == HealthStatusCode::Degraded
    })
    .await?;
    let (last, before) = seen.split_last().context("no health seen")?;
    assert_eq!(
        last,
        &HealthStatus::new(
            HealthStatusCode::Degraded,
            "Deployment \"stuck\" exceeded its progress deadline"
        )
    );
    assert!(
        before
            .iter()
            .all(|h| h.status == HealthStatusCode::Progressing),
        "only Progressing before Degraded, saw {seen:?}"
    );

    // The Application holding it is Degraded, caused by the Deployment; a
    // desired object not yet created does not change that.
    let live = serde_json::to_value(api.get("stuck").await?)?;
    let missing =
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}});
    let app = aggregate(
        [
            ResourceRef {
                group: "apps",
                kind: "Deployment",
                namespace: ns.name(),
                name: "stuck",
                live: Some(&live),
                target: Some(&live),
            },
            ResourceRef {
                group: "",
                kind: "PersistentVolumeClaim",
                namespace: ns.name(),
                name: "data",
                live: None,
                target: Some(&missing),
            },
        ],
        &CustomHealthChecks::default(),
        None,
    );
    assert_eq!(
        app.message,
        format!("Caused by apps/Deployment:{}/stuck", ns.name())
    );
    assert_eq!(app.status, HealthStatusCode::Degraded);
    Ok(())
}
