//! Unit tests of the merge walker on small objects. The same behaviours
//! are checked against the kustomize binary in `oracle_tests`.

use serde_json::json;

use super::*;

fn patched(target: Value, patch: Value) -> Value {
    let mut target = target;
    assert_eq!(
        apply(&mut target, &patch, Schema::builtin()).unwrap(),
        Applied::Patched
    );
    target
}

fn deployment(pod_spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": pod_spec}}
    })
}

fn pod_spec(obj: &Value) -> &Value {
    &obj["spec"]["template"]["spec"]
}

#[test]
fn maps_merge_and_nulls_delete() {
    let out = patched(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}, "data": null}),
    );
    assert_eq!(
        out,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"b": "2", "c": "3"}}})
    );
}

#[test]
fn containers_merge_by_name_with_the_patch_first() {
    let out = patched(
        deployment(json!({"containers": [
            {"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b"}
        ]})),
        deployment(json!({"containers": [
            {"name": "b", "image": "b2"},
            {"name": "a", "env": [{"name": "Y", "value": "2"}]},
            {"name": "c", "image": "c"}
        ]})),
    );
    assert_eq!(
        pod_spec(&out)["containers"],
        json!([
            {"name": "b", "image": "b2"},
            {"name": "a", "image": "a", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]},
            {"name": "c", "image": "c"}
        ])
    );
}

#[test]
fn lists_without_a_merge_strategy_are_replaced() {
    let out = patched(
        deployment(
            json!({"containers": [{"name": "a", "args": ["x", "y"]}], "tolerations": [{"key": "k"}]}),
        ),
        deployment(
            json!({"containers": [{"name": "a", "args": ["z"]}], "tolerations": [{"key": "j"}]}),
        ),
    );
    assert_eq!(
        pod_spec(&out)["containers"],
        json!([{"name": "a", "args": ["z"]}])
    );
    assert_eq!(pod_spec(&out)["tolerations"], json!([{"key": "j"}]));
}

#[test]
fn element_and_list_directives() {
    let out = patched(
        deployment(json!({
            "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}],
            "initContainers": [{"name": "i1"}, {"name": "i2"}],
            "volumes": [{"name": "v", "emptyDir": {}}]
        })),
        deployment(json!({
            "containers": [{"name": "b", "$patch": "delete"}],
            "initContainers": [{"$patch": "replace"}, {"name": "i3"}],
            "volumes": [{"name": "v", "$patch": "replace", "secret": {"secretName": "s"}}]
        })),
    );
    let spec = pod_spec(&out);
    assert_eq!(spec["containers"], json!([{"name": "a", "image": "a"}]));
    assert_eq!(spec["initContainers"], json!([{"name": "i3"}]));
    // kyaml folds the untouched original back over a replaced element.
    assert_eq!(spec["volumes"], json!([{"name": "v", "emptyDir": {}}]));

    let out = patched(
        deployment(json!({"containers": [{"name": "a"}], "volumes": [{"name": "v"}]})),
        deployment(json!({"volumes": [{"$patch": "delete"}]})),
    );
    assert!(pod_spec(&out).get("volumes").is_none());
}

#[test]
fn a_replace_directive_on_a_missing_list_is_kept_as_an_element() {
    let out = patched(
        deployment(json!({"containers": [{"name": "a"}]})),
        deployment(json!({"initContainers": [{"$patch": "replace"}, {"name": "i"}]})),
    );
    assert_eq!(
        pod_spec(&out)["initContainers"],
        json!([{"$patch": "replace"}])
    );
}

#[test]
fn map_directives() {
    let out = patched(
        deployment(json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "1"}}}]})),
        deployment(
            json!({"containers": [{"name": "a", "resources": {"$patch": "replace", "requests": {"cpu": "2"}}}]}),
        ),
    );
    assert_eq!(
        pod_spec(&out)["containers"][0]["resources"],
        json!({"requests": {"cpu": "2"}})
    );

    let out = patched(
        deployment(json!({"containers": [{"name": "a"}], "securityContext": {"runAsUser": 1}})),
        deployment(json!({"securityContext": {"$patch": "delete"}})),
    );
    assert!(pod_spec(&out).get("securityContext").is_none());
}

#[test]
fn whole_object_directives() {
    let base = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1"}});
    let mut target = base.clone();
    let replace = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "$patch": "replace"});
    assert_eq!(
        apply(&mut target, &replace, Schema::builtin()).unwrap(),
        Applied::Patched
    );
    assert_eq!(target, base);

    let delete = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "$patch": "delete"});
    assert_eq!(
        apply(&mut target, &delete, Schema::builtin()).unwrap(),
        Applied::Deleted
    );
}

#[test]
fn ports_merge_by_port_and_protocol_with_kyamls_unification() {
    let out = patched(
        deployment(json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 80},
            {"containerPort": 81, "protocol": "UDP"}
        ]}]})),
        deployment(json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 80, "protocol": "TCP"},
            {"containerPort": 81, "name": "udp"}
        ]}]})),
    );
    // The object's ports win over the patch's partial matches, as in kustomize.
    assert_eq!(
        pod_spec(&out)["containers"][0]["ports"],
        json!([{"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}])
    );
}

#[test]
fn scalar_merge_lists_keep_patch_values_first() {
    let out = patched(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", 2, "a"]}}),
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", 2]));
}

#[test]
fn unknown_directive_fields_are_copied() {
    let out = patched(
        deployment(json!({"containers": [{"name": "a"}, {"name": "b"}]})),
        deployment(json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})),
    );
    assert_eq!(
        pod_spec(&out)["$setElementOrder/containers"],
        json!([{"name": "b"}, {"name": "a"}])
    );
    assert_eq!(
        pod_spec(&out)["containers"],
        json!([{"name": "a"}, {"name": "b"}])
    );
}

#[test]
fn unknown_kinds_merge_maps_and_replace_lists_but_embedded_kinds_use_their_schema() {
    let foo = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "f"}, "spec": spec});
    let out = patched(
        foo(json!({
            "items": [{"name": "a"}, {"name": "b"}],
            "workload": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
                "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]
            }}}}
        })),
        foo(json!({
            "items": [{"name": "b", "v": 3}],
            "workload": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b2"}]}}}}
        })),
    );
    assert_eq!(out["spec"]["items"], json!([{"name": "b", "v": 3}]));
    assert_eq!(
        out["spec"]["workload"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "b", "image": "b2"}, {"name": "a", "image": "a"}])
    );
}

#[test]
fn explicit_nulls_in_the_object_survive() {
    let out = patched(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "creationTimestamp": null}}),
        json!({"metadata": {"labels": {"a": "b"}}}),
    );
    assert_eq!(out["metadata"]["creationTimestamp"], Value::Null);
}

#[test]
fn mismatched_kinds_are_errors_naming_the_field() {
    let mut target = deployment(json!({"containers": [{"name": "a", "image": "a"}]}));
    let patch = deployment(json!({"containers": [{"name": "a", "image": {"x": 1}}]}));
    let err = apply(&mut target, &patch, Schema::builtin()).unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("spec.template.spec.containers[name=a].image")
    );
    assert!(err.message.contains("wrong node kind"), "{err}");

    let patch = json!({"metadata": {"$patch": "sideways"}});
    let err = apply(&mut target, &patch, Schema::builtin()).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown patch strategy 'sideways'"),
        "{err}"
    );
}

#[test]
fn custom_schemas_decide_list_merges() {
    let doc = json!({"definitions": {"Foo": {
        "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Foo"}],
        "properties": {"items": {
            "type": "array",
            "items": {"type": "object"},
            "x-kubernetes-patch-strategy": "merge",
            "x-kubernetes-patch-merge-key": "id"
        }}
    }}});
    let schema = Schema::from_openapi_doc(&doc).unwrap();
    let mut target = json!({"apiVersion": "example.com/v1", "kind": "Foo", "items": [{"id": "a"}, {"id": "b", "v": 1}]});
    let patch = json!({"items": [{"id": "b", "v": 2}]});
    assert_eq!(
        apply(&mut target, &patch, &schema).unwrap(),
        Applied::Patched
    );
    assert_eq!(target["items"], json!([{"id": "b", "v": 2}, {"id": "a"}]));
}
