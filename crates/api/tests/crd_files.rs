//! `deploy/crds/` holds exactly what the types generate: regenerate with
//! `cargo run -p gyro-api --example gen-crds` when this fails.

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn committed_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    for (name, generated) in api::crd::files().unwrap() {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(
            committed == generated,
            "{} is stale: run `cargo run -p gyro-api --example gen-crds`",
            path.display()
        );
    }
}

#[test]
fn kustomization_lists_every_crd_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    for (name, _) in api::crd::files().unwrap() {
        assert!(
            kustomization.contains(&format!("- {name}")),
            "kustomization.yaml lacks {name}"
        );
    }
}

#[test]
fn crds_match_argo_cd_names_columns_and_subresources() {
    let app = api::crd::application().unwrap();
    assert_eq!(
        app.metadata.name.as_deref(),
        Some("applications.argoproj.io")
    );
    assert_eq!(app.spec.scope, "Namespaced");
    assert_eq!(
        app.spec.names.short_names,
        Some(vec!["app".into(), "apps".into()])
    );
    let version = &app.spec.versions[0];
    // Argo CD's Application has no status subresource: status is written
    // with the object.
    assert!(
        version
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_none() && s.scale.is_none())
    );
    let columns: Vec<(&str, &str)> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        &columns[..2],
        &[
            ("Sync Status", ".status.sync.status"),
            ("Health Status", ".status.health.status")
        ]
    );

    let proj = api::crd::app_project().unwrap();
    assert_eq!(
        proj.metadata.name.as_deref(),
        Some("appprojects.argoproj.io")
    );
    assert_eq!(
        proj.spec.names.short_names,
        Some(vec!["appproj".into(), "appprojs".into()])
    );
    assert!(
        proj.spec.versions[0]
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_none())
    );
}

#[test]
fn free_form_parts_keep_unknown_fields_and_nothing_is_nullable() {
    let app = serde_json::to_value(api::crd::application().unwrap()).unwrap();
    let schema = &app["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let values_object = &schema["properties"]["spec"]["properties"]["source"]["properties"]["helm"]
        ["properties"]["valuesObject"];
    assert_eq!(values_object["x-kubernetes-preserve-unknown-fields"], true);
    assert!(!app.to_string().contains("\"nullable\""));
    let required = &schema["properties"]["spec"]["required"];
    assert_eq!(required, &serde_json::json!(["destination", "project"]));
}

#[test]
fn application_set_crd_matches_argo_cd_names_and_keeps_nested_generators() {
    let set = api::crd::application_set().unwrap();
    assert_eq!(
        set.metadata.name.as_deref(),
        Some("applicationsets.argoproj.io")
    );
    assert_eq!(
        set.spec.names.short_names,
        Some(vec!["appset".into(), "appsets".into()])
    );
    let value = serde_json::to_value(&set).unwrap();
    let spec = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["required"],
        serde_json::json!(["generators", "template"])
    );
    let matrix = &spec["properties"]["generators"]["items"]["properties"]["matrix"];
    assert_eq!(
        matrix["properties"]["generators"]["items"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(!value.to_string().contains("\"nullable\""));
}
