//! Tests of the schema tables: the built-in data answers what kyaml's
//! bundle answers, and custom documents load the way kustomize loads them.

use serde_json::json;

use super::*;

fn gvk(api_version: &str, kind: &str) -> Gvk {
    Gvk::from_api_version(api_version, kind)
}

#[test]
fn builtin_data_is_the_version_kustomize_embeds() {
    for text in [BUILTIN_DATA, BUILTIN_SCOPES] {
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["kubernetesVersion"], BUILTIN_KUBERNETES_VERSION);
    }
    // The two paths to a scope agree.
    let s = Schema::builtin();
    for gvk in [
        gvk("v1", "Namespace"),
        gvk("apps/v1", "Deployment"),
        gvk("x/v1", "Y"),
    ] {
        assert_eq!(s.is_cluster_scoped(&gvk), is_cluster_scoped(&gvk));
    }
}

#[test]
fn pod_template_fields_carry_their_merge_keys() {
    let s = Schema::builtin();
    let deploy = gvk("apps/v1", "Deployment");
    let pod = ["spec", "template", "spec"];
    let at = |rest: &[&str]| {
        let path: Vec<&str> = pod.iter().chain(rest).copied().collect();
        s.lookup(&deploy, &path).unwrap()
    };
    let containers = at(&["containers"]);
    assert!(containers.merges_list());
    assert_eq!(containers.merge_keys(), ["name"]);
    assert_eq!(
        containers.elements().unwrap().definition(),
        Some("io.k8s.api.core.v1.Container")
    );
    assert_eq!(
        at(&["containers", "[]", "ports"]).merge_keys(),
        ["containerPort", "protocol"]
    );
    assert_eq!(
        at(&["containers", "[]", "volumeMounts"]).merge_keys(),
        ["mountPath"]
    );
    assert_eq!(at(&["volumes"]).patch_strategy(), Some("merge,retainKeys"));
    assert_eq!(
        at(&["topologySpreadConstraints"]).merge_keys(),
        ["topologyKey", "whenUnsatisfiable"]
    );
    // Lists without a strategy are replaced whole.
    assert!(!at(&["containers", "[]", "args"]).merges_list());
    assert!(!at(&["containers", "[]", "envFrom"]).merges_list());
    // Map values are reachable through additionalProperties.
    assert!(s.lookup(&deploy, &["metadata", "labels", "app"]).is_some());
    assert!(s.lookup(&deploy, &["spec", "nope"]).is_none());
    let finalizers = s.lookup(&deploy, &["metadata", "finalizers"]).unwrap();
    assert!(finalizers.merges_list());
    assert!(finalizers.merge_keys().is_empty());
}

#[test]
fn services_merge_ports_by_port_and_protocol() {
    let s = Schema::builtin();
    let ports = s.lookup(&gvk("v1", "Service"), &["spec", "ports"]).unwrap();
    assert_eq!(ports.merge_keys(), ["port", "protocol"]);
    assert!(s.for_type("batch/v1", "CronJob").is_some());
    assert!(s.for_type("example.com/v1", "Foo").is_none());
}

#[test]
fn scopes_follow_kustomizes_tables() {
    let cluster = |av: &str, kind: &str| is_cluster_scoped(&gvk(av, kind));
    assert!(cluster("v1", "Namespace"));
    assert!(cluster("rbac.authorization.k8s.io/v1", "ClusterRole"));
    assert!(cluster(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition"
    ));
    assert!(cluster("storage.k8s.io/v1", "StorageClass"));
    // From kyaml's fixed table, though newer than the schema.
    assert!(cluster(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy"
    ));
    assert!(cluster(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "FlowSchema"
    ));
    assert!(!cluster("apps/v1", "Deployment"));
    assert!(!cluster("v1", "ConfigMap"));
    // Kinds newer than Kubernetes v1.21 are namespaced to kustomize.
    assert!(!cluster("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"));
    assert!(!cluster("resource.k8s.io/v1", "DeviceClass"));
    assert!(!cluster("v1", "Nope"));
    assert!(!cluster("v1", "ClusterRole"));
    assert!(has_fixed_scope(&gvk("apps/v1", "Deployment")));
    assert!(!has_fixed_scope(&gvk("apps/v1beta1", "Deployment")));
}

fn custom_doc() -> Value {
    json!({
        "definitions": {
            "com.example.v1.Foo": {
                "type": "object",
                "x-kubernetes-group-version-kind": [
                    {"group": "example.com", "version": "v1", "kind": "Foo"}
                ],
                "properties": {"spec": {"$ref": "#/definitions/com.example.v1.FooSpec"}}
            },
            "com.example.v1.FooSpec": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-patch-merge-key": "id",
                        "items": {"type": "object", "properties": {"id": {"type": "string"}}}
                    },
                    "alias": {"$ref": "#/definitions/com.example.v1.Alias"},
                    "missing": {"$ref": "#/definitions/nope"}
                },
                "additionalProperties": {"type": "string"}
            },
            "com.example.v1.Alias": {"$ref": "#/definitions/com.example.v1.FooSpec"}
        },
        "paths": {
            "/apis/example.com/v1/foos": {
                "get": {"x-kubernetes-group-version-kind": {"group": "example.com", "version": "v1", "kind": "Foo"}}
            },
            "/apis/example.com/v1/namespaces/{namespace}/foos": {
                "get": {"x-kubernetes-group-version-kind": {"group": "example.com", "version": "v1", "kind": "Foo"}}
            },
            "/apis/example.com/v1/bars": {
                "get": {"x-kubernetes-group-version-kind": {"group": "example.com", "version": "v1", "kind": "Bar"}}
            }
        }
    })
}

#[test]
fn a_custom_document_replaces_the_builtin_definitions() {
    let s = Schema::from_openapi_doc(&custom_doc()).unwrap();
    let foo = gvk("example.com/v1", "Foo");
    let items = s.lookup(&foo, &["spec", "items"]).unwrap();
    assert_eq!(items.merge_keys(), ["id"]);
    assert!(items.elements().unwrap().field("id").is_some());
    // A $ref chain ends at the definition with content.
    assert!(
        s.lookup(&foo, &["spec", "alias", "items"])
            .unwrap()
            .merges_list()
    );
    // A dangling $ref means no schema, not the additionalProperties one.
    assert!(s.lookup(&foo, &["spec", "missing"]).is_none());
    assert!(s.lookup(&foo, &["spec", "other"]).is_some());
    assert!(s.for_type("apps/v1", "Deployment").is_none());
    // Kustomize's own definitions are always there.
    assert!(
        s.for_type("kustomize.config.k8s.io/v1beta1", "Kustomization")
            .is_some()
    );
    assert!(!s.is_cluster_scoped(&foo));
    assert!(s.is_cluster_scoped(&gvk("example.com/v1", "Bar")));
    // The fixed table still applies; the built-in scopes do not.
    assert!(s.is_cluster_scoped(&gvk("v1", "Namespace")));
    assert!(s.is_cluster_scoped(&gvk("storage.k8s.io/v1beta1", "CSIDriver")));
}

#[test]
fn layers_combine_documents_and_the_builtin_schema() {
    let doc = custom_doc();
    let s = Schema::from_layers(&[Layer::Document(&doc), Layer::Builtin]).unwrap();
    assert!(s.for_type("apps/v1", "Deployment").is_some());
    assert!(
        s.lookup(&gvk("example.com/v1", "Foo"), &["spec", "items"])
            .is_some()
    );
}

#[test]
fn malformed_documents_are_errors() {
    let err = Schema::from_openapi_doc(&json!({"definitions": []})).unwrap_err();
    assert!(err.to_string().contains("definitions"), "{err}");
    assert!(Schema::from_openapi_doc(&json!({"paths": "x"})).is_err());
    assert!(Schema::from_openapi_doc(&json!({})).is_ok());
}
