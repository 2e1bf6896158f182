//! Small three-way cases; the expected patches are what `kubectl apply
//! -v=8` sends for the same inputs (checked by hand against kubectl
//! v1.36.3), and `tests/client_side_apply.rs` compares the resulting live
//! objects with kubectl's on the real API server.

use serde_json::{Value, json};

use super::*;

fn three_way(original: Option<Value>, modified: Value, current: Value) -> ThreeWayPatch {
    patch(original.as_ref(), &modified, &current, Schema::builtin()).unwrap()
}

fn deployment(strategy: Value, env: Value, ports: Value, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "labels": labels},
           "spec": {"replicas": 1, "strategy": strategy,
                    "template": {"spec": {"containers": [
                        {"name": "c", "image": "pause:1", "env": env, "ports": ports}]}}}})
}

#[test]
fn deployment_drops_fields_and_list_entries_like_kubectl() {
    let original = deployment(
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]),
        json!([{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "m"}]),
        json!({"app": "p", "tier": "web"}),
    );
    // The live object: what was applied, plus server defaults and a label
    // someone added by hand.
    let mut current = original.clone();
    current["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = json!("25%");
    current["metadata"]["labels"]["owner"] = json!("ops");
    current["status"] = json!({"replicas": 1});
    let modified = deployment(
        json!({"type": "Recreate"}),
        json!([{"name": "A", "value": "1"}, {"name": "D", "value": "4"}, {"name": "C", "value": "3"}]),
        json!([{"containerPort": 8080, "name": "http"}]),
        json!({"app": "p"}),
    );
    let patch = three_way(Some(original), modified, current);
    assert_eq!(
        patch,
        ThreeWayPatch::Strategic(json!({
            "metadata": {"labels": {"tier": null}},
            "spec": {
                "strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"},
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "c"}],
                    "containers": [{
                        "$setElementOrder/env": [{"name": "A"}, {"name": "D"}, {"name": "C"}],
                        "$setElementOrder/ports": [{"containerPort": 8080}],
                        "env": [{"name": "D", "value": "4"}, {"$patch": "delete", "name": "B"}],
                        "name": "c",
                        "ports": [{"$patch": "delete", "containerPort": 9090}]
                    }]
                }}
            }
        }))
    );
}

#[test]
fn nothing_to_do_is_an_empty_patch() {
    let desired = deployment(
        json!({"type": "Recreate"}),
        json!([{"name": "A", "value": "1"}]),
        json!([]),
        json!({"app": "p"}),
    );
    let mut current = desired.clone();
    current["status"] = json!({"replicas": 1});
    current["metadata"]["labels"]["owner"] = json!("ops");
    let patch = three_way(Some(desired.clone()), desired, current);
    assert!(patch.is_empty(), "{patch:?}");
}

#[test]
fn without_a_last_applied_configuration_nothing_is_deleted() {
    let current = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
                         "data": {"x": "1", "y": "2"}});
    let modified = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "c", "labels": {"a": "1"}},
                          "data": {"x": "changed"}});
    assert_eq!(
        three_way(None, modified, current),
        ThreeWayPatch::Strategic(json!({"data": {"x": "changed"}}))
    );
}

#[test]
fn a_list_new_to_the_object_is_sent_whole() {
    let current = deployment(json!({}), json!([]), json!([]), json!({}));
    let modified = deployment(
        json!({}),
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]),
        json!([]),
        json!({}),
    );
    let patch = three_way(Some(current.clone()), modified, current);
    assert_eq!(
        patch.body()["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
    );
    assert!(
        patch.body()["spec"]["template"]["spec"]["containers"][0]
            .get("$setElementOrder/env")
            .is_none()
    );
}

#[test]
fn merged_scalar_lists_use_delete_from_primitive_list() {
    let obj = |finalizers: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
    let patch = three_way(
        Some(obj(json!(["a", "b"]))),
        obj(json!(["a", "c"])),
        obj(json!(["a", "b", "x"])),
    );
    assert_eq!(
        patch,
        ThreeWayPatch::Strategic(json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "$setElementOrder/finalizers": ["a", "c"],
            "finalizers": ["c"]
        }}))
    );
}

#[test]
fn atomic_lists_are_replaced_and_only_when_they_differ() {
    let obj = |args: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "args": args}]}})
    };
    let same = three_way(
        Some(obj(json!(["a"]))),
        obj(json!(["a"])),
        obj(json!(["a"])),
    );
    assert!(same.is_empty(), "{same:?}");
    let changed = three_way(
        Some(obj(json!(["a"]))),
        obj(json!(["b", "a"])),
        obj(json!(["a"])),
    );
    assert_eq!(
        changed.body()["spec"]["containers"][0]["args"],
        json!(["b", "a"])
    );
}

#[test]
fn custom_resources_get_a_json_merge_patch() {
    let obj = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    let original = obj(json!({"a": 1, "b": 2, "list": [1, 2], "nested": {"p": 1, "q": 2}}));
    let mut current =
        obj(json!({"a": 5, "b": 2, "c": 3, "list": [1, 2], "nested": {"p": 1, "q": 2}}));
    current["status"] = json!({"ok": true});
    let modified = obj(json!({"a": 1, "list": [1], "nested": {"p": 1}, "empty": {}}));
    assert_eq!(
        three_way(Some(original), modified, current),
        ThreeWayPatch::Merge(json!({"spec": {
            "a": 1, "b": null, "list": [1], "nested": {"q": null}, "empty": {}
        }}))
    );
}

#[test]
fn a_merged_list_element_without_its_key_is_an_error() {
    let obj = |env: Value| deployment(json!({}), env, json!([]), json!({}));
    let err = patch(
        Some(&obj(json!([{"name": "A"}]))),
        &obj(json!([{"value": "x"}])),
        &obj(json!([{"name": "A"}])),
        Schema::builtin(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PatchError::MissingMergeKey { key, .. } if key == "name"),
        "{err}"
    );
    assert!(
        err.to_string().contains(".spec.template.spec.containers"),
        "{err}"
    );
}
