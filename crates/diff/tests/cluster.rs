//! Zero false drift, and real drift named, against the real API server:
//! objects are applied with server-side apply as `gyro`, changed by hand as
//! other field managers, and compared with `predict` + `diff`.

// The helpers below are test code too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use diff::compare::same_revision;
use diff::{IgnoreDifference, IgnoreRules, ResourceDiff, diff, fetch_live, predict};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use testkit::TestNamespace;

/// Applies `obj` for real with server-side apply as `manager`, as a sync
/// would.
async fn apply(client: &Client, obj: &Value, manager: &str) -> Value {
    let api = api_for(client, obj).await;
    let name = obj["metadata"]["name"].as_str().unwrap();
    let applied = api
        .patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(obj),
        )
        .await
        .unwrap();
    serde_json::to_value(applied).unwrap()
}

/// A hand edit: a merge or strategic patch as field manager `manager`, the
/// way `kubectl edit` / `kubectl scale` write (an Update, not an Apply).
async fn edit(client: &Client, obj: &Value, manager: &str, patch: Patch<Value>) {
    let api = api_for(client, obj).await;
    let name = obj["metadata"]["name"].as_str().unwrap();
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    };
    api.patch(name, &params, &patch).await.unwrap();
}

async fn api_for(client: &Client, obj: &Value) -> Api<DynamicObject> {
    diff::predict::dynamic_api(client, obj).await.unwrap().0
}

/// What the controller does on a refresh: predict, read live, compare. The
/// deployment controller writes to the object on its own (the revision
/// annotation), so a prediction made from an older revision than the live
/// object read after it is made again, as the controller would.
async fn compare(client: &Client, desired: &Value, rules: &IgnoreRules) -> ResourceDiff {
    for _ in 0..20 {
        let predicted = predict(client, desired).await.unwrap();
        let live = fetch_live(client, desired)
            .await
            .unwrap()
            .unwrap_or(Value::Null);
        if live.is_null() || same_revision(&predicted, &live) {
            return diff(&predicted, &live, rules);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the object kept changing between prediction and read");
}

fn rules(r: IgnoreDifference) -> IgnoreRules {
    IgnoreRules::new([r]).unwrap()
}

fn assert_synced(d: &ResourceDiff, what: &str) {
    assert!(
        d.synced,
        "{what}: false drift at {:?}\n{}",
        d.changed_paths, d.unified
    );
}

fn deployment(ns: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "registry.example/web:1.0",
                    "ports": [{"containerPort": 8080}],
                    "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}}
                }]}
            }
        }
    })
}

#[tokio::test]
async fn deployment_zero_false_drift_then_hand_scaling_is_drift() {
    let client = testkit::client().await.unwrap();
    let ns = TestNamespace::create(&client, "diff-deploy").await.unwrap();
    let desired = deployment(ns.name());

    // Not there yet: the dry run is a create, and the object is missing.
    let d = compare(&client, &desired, &IgnoreRules::none()).await;
    assert!(d.missing && !d.synced);
    assert!(
        d.unified.contains("+      dnsPolicy: ClusterFirst\n"),
        "{}",
        d.unified
    );

    apply(&client, &desired, "gyro").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    testkit::wait_for_condition(&deployments, "web", Duration::from_secs(60), "Available")
        .await
        .unwrap();

    // Defaulted fields (dnsPolicy, strategy, protocol, terminationMessagePath,
    // "0.5" CPU normalised to "500m", ...) and controller-written status and
    // annotations do not count.
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "freshly applied Deployment",
    );
    let live = fetch_live(&client, &desired).await.unwrap().unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "500m"
    );

    // A sidecar added by another manager is kept by server-side apply (the
    // containers list is keyed by name), so it is not drift at all.
    edit(
        &client,
        &desired,
        "injector",
        Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "istio-proxy", "image": "proxy:1"}
        ]}}}})),
    )
    .await;
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "sidecar owned by another manager",
    );

    // Scaled by hand: the replicas gyro declared changed.
    edit(
        &client,
        &desired,
        "kubectl-edit",
        Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await;
    let d = compare(&client, &desired, &IgnoreRules::none()).await;
    assert!(!d.synced && !d.missing);
    assert_eq!(d.changed_paths, ["/spec/replicas"], "{}", d.unified);
    assert!(
        d.unified.starts_with("--- live\n+++ desired\n"),
        "{}",
        d.unified
    );
    assert!(
        d.unified.contains("-  replicas: 5\n+  replicas: 2\n"),
        "{}",
        d.unified
    );

    // The same change, owned by kubectl-edit, ignored by manager.
    let by_manager = rules(IgnoreDifference {
        group: "apps".into(),
        kind: "Deployment".into(),
        managed_fields_managers: vec!["kubectl-edit".into()],
        ..Default::default()
    });
    assert_synced(
        &compare(&client, &desired, &by_manager).await,
        "managedFieldsManagers: [kubectl-edit]",
    );

    // And by JSON pointer.
    let by_pointer = rules(IgnoreDifference {
        group: "apps".into(),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    });
    assert_synced(
        &compare(&client, &desired, &by_pointer).await,
        "jsonPointers: [/spec/replicas]",
    );

    // RespectIgnoreDifferences: the desired object a sync would apply keeps
    // the hand-set replicas, so applying it changes nothing.
    let live = fetch_live(&client, &desired).await.unwrap();
    let respected = by_manager.respect(&desired, live.as_ref());
    assert_eq!(respected["spec"]["replicas"], 5);
    assert_synced(
        &compare(&client, &respected, &IgnoreRules::none()).await,
        "respected desired object",
    );

    // A change in Git is drift too.
    let mut changed = desired.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example/web:2.0");
    let d = compare(&client, &changed, &by_manager).await;
    // The strategic merge put the sidecar first; paths name live's order.
    assert_eq!(
        d.changed_paths,
        ["/spec/template/spec/containers/1/image"],
        "{}",
        d.unified
    );
}

#[tokio::test]
async fn service_defaults_are_not_drift() {
    let client = testkit::client().await.unwrap();
    let ns = TestNamespace::create(&client, "diff-svc").await.unwrap();
    let desired = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": ns.name()},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    });
    apply(&client, &desired, "gyro").await;
    let live = fetch_live(&client, &desired).await.unwrap().unwrap();
    // The server filled these in; none is in the manifest.
    assert!(live["spec"]["clusterIP"].is_string());
    assert_eq!(live["spec"]["type"], "ClusterIP");
    assert_eq!(live["spec"]["ports"][0]["protocol"], "TCP");
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "freshly applied Service",
    );

    // A field gyro never declared, set by hand, is not gyro's to revert.
    edit(
        &client,
        &desired,
        "kubectl-edit",
        Patch::Merge(json!({"spec": {"sessionAffinity": "ClientIP"}})),
    )
    .await;
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "undeclared field set by hand",
    );

    // The selector gyro declared, changed by hand, is drift.
    edit(
        &client,
        &desired,
        "kubectl-edit",
        Patch::Merge(json!({"spec": {"selector": {"app": "other"}}})),
    )
    .await;
    let d = compare(&client, &desired, &IgnoreRules::none()).await;
    assert_eq!(d.changed_paths, ["/spec/selector/app"], "{}", d.unified);
}

#[tokio::test]
async fn configmap_key_edit_is_drift() {
    let client = testkit::client().await.unwrap();
    let ns = TestNamespace::create(&client, "diff-cm").await.unwrap();
    let desired = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns.name(), "annotations": {"team": "a"}},
        "data": {"LOG_LEVEL": "info", "FEATURE_X": "on"}
    });
    apply(&client, &desired, "gyro").await;
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "freshly applied ConfigMap",
    );

    edit(
        &client,
        &desired,
        "kubectl-edit",
        Patch::Merge(json!({"data": {"LOG_LEVEL": "debug"}})),
    )
    .await;
    let d = compare(&client, &desired, &IgnoreRules::none()).await;
    assert!(!d.synced);
    assert_eq!(d.changed_paths, ["/data/LOG_LEVEL"]);
    assert!(
        d.unified
            .contains("-  LOG_LEVEL: debug\n+  LOG_LEVEL: info\n"),
        "{}",
        d.unified
    );

    let ignore_key = rules(IgnoreDifference {
        kind: "ConfigMap".into(),
        name: "settings".into(),
        json_pointers: vec!["/data/LOG_LEVEL".into(), "/data/not-there".into()],
        ..Default::default()
    });
    assert_synced(
        &compare(&client, &desired, &ignore_key).await,
        "jsonPointers on the edited key",
    );
    // A rule for another name does not apply.
    let other = rules(IgnoreDifference {
        kind: "ConfigMap".into(),
        name: "other".into(),
        json_pointers: vec!["/data/LOG_LEVEL".into()],
        ..Default::default()
    });
    assert!(!compare(&client, &desired, &other).await.synced);

    // A key removed from Git that only gyro set: applying deletes it, so it
    // is drift. The key kubectl-edit took over stays (applying keeps it).
    let mut removed = desired.clone();
    let data = removed["data"].as_object_mut().unwrap();
    data.remove("FEATURE_X");
    data.remove("LOG_LEVEL");
    let d = compare(&client, &removed, &IgnoreRules::none()).await;
    assert_eq!(d.changed_paths, ["/data/FEATURE_X"], "{}", d.unified);
    assert!(
        d.unified.contains("-  FEATURE_X: \"on\"\n"),
        "{}",
        d.unified
    );
}

const CRD_NAME: &str = "widgets.gyro-test.dev";

/// A small CRD of this crate's own: a schema default (`size`), and an
/// atomic list (`containers`: CRD lists are atomic unless they say
/// otherwise), where server-side apply replaces the whole list. Applied
/// idempotently and never deleted, so parallel and later runs share it.
async fn install_crd(client: &Client) {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": "gyro-test.dev",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "color": {"type": "string"},
                                "size": {"type": "integer", "default": 1},
                                "containers": {"type": "array", "items": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}, "image": {"type": "string"}}
                                }}
                            }
                        },
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    });
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        CRD_NAME,
        &PatchParams::apply("gyro-diff-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    testkit::wait_for_condition(&crds, CRD_NAME, Duration::from_secs(30), "Established")
        .await
        .unwrap();
}

#[tokio::test]
async fn custom_resource_defaults_and_jq_hidden_sidecar() {
    let client = testkit::client().await.unwrap();
    install_crd(&client).await;
    let ns = TestNamespace::create(&client, "diff-cr").await.unwrap();
    let desired = json!({
        "apiVersion": "gyro-test.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": ns.name()},
        "spec": {"color": "blue", "containers": [{"name": "main", "image": "main:1"}]}
    });
    apply(&client, &desired, "gyro").await;
    let live = fetch_live(&client, &desired).await.unwrap().unwrap();
    assert_eq!(live["spec"]["size"], 1, "the schema default is in live");
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "freshly applied Widget",
    );

    // Status written through the status subresource is not drift.
    let api = api_for(&client, &desired).await;
    api.patch_status(
        "w",
        &PatchParams {
            field_manager: Some("widget-controller".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"status": {"ready": true}})),
    )
    .await
    .unwrap();
    assert_synced(
        &compare(&client, &desired, &IgnoreRules::none()).await,
        "status set by a controller",
    );

    // An injector adds a container to the atomic list: applying would
    // remove it, so without a rule it is drift.
    edit(
        &client,
        &desired,
        "injector",
        Patch::Merge(json!({"spec": {"containers": [
            {"name": "main", "image": "main:1"}, {"name": "injected", "image": "sidecar:1"}
        ]}})),
    )
    .await;
    let d = compare(&client, &desired, &IgnoreRules::none()).await;
    assert_eq!(d.changed_paths, ["/spec/containers/1"], "{}", d.unified);

    let jq = rules(IgnoreDifference {
        group: "gyro-test.dev".into(),
        kind: "Widget".into(),
        jq_path_expressions: vec![r#".spec.containers[] | select(.name == "injected")"#.into()],
        ..Default::default()
    });
    assert_synced(
        &compare(&client, &desired, &jq).await,
        "jq hides the injected container",
    );

    // RespectIgnoreDifferences keeps the injected container in what a sync applies.
    let live = fetch_live(&client, &desired).await.unwrap();
    let respected = jq.respect(&desired, live.as_ref());
    assert_eq!(respected["spec"]["containers"][1]["name"], "injected");
    assert_synced(
        &compare(&client, &respected, &IgnoreRules::none()).await,
        "respected Widget",
    );

    // A field the schema does not declare cannot be applied server-side at
    // all: the prediction fails, naming the object and the field, instead
    // of reporting drift that no sync could remove.
    let mut unknown = desired.clone();
    unknown["spec"]["shape"] = json!("round");
    let err = predict(&client, &unknown).await.unwrap_err().to_string();
    assert!(
        err.contains("gyro-test.dev/Widget") && err.contains(".spec.shape"),
        "{err}"
    );

    // A hand edit of a field gyro declared is named.
    edit(
        &client,
        &desired,
        "kubectl-edit",
        Patch::Merge(json!({"spec": {"color": "red"}})),
    )
    .await;
    let d = compare(&client, &desired, &jq).await;
    assert_eq!(d.changed_paths, ["/spec/color"], "{}", d.unified);
}

#[tokio::test]
async fn predict_errors_name_the_object() {
    let client = testkit::client().await.unwrap();
    let no_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let err = predict(&client, &no_ns).await.unwrap_err().to_string();
    assert!(
        err.contains("ConfigMap x") && err.contains("metadata.namespace"),
        "{err}"
    );
    let unknown = json!({"apiVersion": "nope.gyro-test.dev/v1", "kind": "Nothing", "metadata": {"name": "x", "namespace": "default"}});
    let err = predict(&client, &unknown).await.unwrap_err().to_string();
    assert!(
        err.contains("nope.gyro-test.dev/Nothing default/x") && err.contains("CRD"),
        "{err}"
    );
    let invalid = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}, "data": {"a": 1}});
    let err = predict(&client, &invalid).await.unwrap_err().to_string();
    assert!(
        err.contains("dry run") && err.contains("ConfigMap default/x"),
        "{err}"
    );
}

#[tokio::test]
async fn cluster_scoped_aggregated_cluster_role() {
    let client = testkit::client().await.unwrap();
    // Cluster-scoped: a unique name, deleted at the end.
    let ns = TestNamespace::create(&client, "diff-crole").await.unwrap();
    let name = format!("{}-aggregate", ns.name());
    let desired = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"gyro-test.dev/aggregate-to": name}}]}
    });
    let part = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": format!("{name}-part"), "labels": {"gyro-test.dev/aggregate-to": name}},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    });
    apply(&client, &desired, "gyro").await;
    apply(&client, &part, "gyro").await;

    // The controller manager fills in `rules`; gyro never declared them.
    let mut filled = false;
    for _ in 0..100 {
        let live = fetch_live(&client, &desired).await.unwrap().unwrap();
        if live["rules"].as_array().is_some_and(|r| !r.is_empty()) {
            filled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let plain = compare(&client, &desired, &IgnoreRules::none()).await;
    // A manifest that says `rules: []` would have them emptied on apply,
    // unless Argo CD's ignoreAggregatedRoles rule is on.
    let mut with_rules = desired.clone();
    with_rules["rules"] = json!([]);
    let emptied = compare(&client, &with_rules, &IgnoreRules::none()).await;
    let agg = rules(IgnoreDifference::aggregated_cluster_roles());
    let ignored = compare(&client, &with_rules, &agg).await;

    // Cluster-scoped objects outlive the namespace: delete before asserting.
    let api = api_for(&client, &desired).await;
    for n in [name.clone(), format!("{name}-part")] {
        api.delete(&n, &Default::default()).await.unwrap();
    }

    assert!(filled, "the aggregation controller did not fill in rules");
    assert_synced(&plain, "aggregated ClusterRole");
    // An empty list is dropped by the server, so the field goes as a whole.
    assert_eq!(emptied.changed_paths, ["/rules"], "{}", emptied.unified);
    assert_synced(&ignored, "ignoreAggregatedRoles");
}
