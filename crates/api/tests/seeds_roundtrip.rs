//! Every seed manifest reads into the typed `Application` / `AppProject`
//! and writes back to exactly the same document: no field is lost, renamed
//! or added (no cluster needed).

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use api::{AppProject, Application};
use common::full;
use serde_json::Value;

fn round_trip(seed: &common::Seed) -> Value {
    match seed.kind() {
        "Application" => {
            let app: Application = serde_json::from_value(seed.doc.clone()).unwrap();
            serde_json::to_value(&app).unwrap()
        }
        "AppProject" => {
            let proj: AppProject = serde_json::from_value(seed.doc.clone()).unwrap();
            serde_json::to_value(&proj).unwrap()
        }
        other => panic!("{}: unexpected kind {other}", seed.file),
    }
}

#[test]
fn every_seed_round_trips_through_the_types_unchanged() {
    for seed in common::seeds() {
        let back = round_trip(&seed);
        assert_eq!(back, seed.doc, "{} changed in a round trip", seed.file);
    }
}

#[test]
fn seed_fields_are_read_into_the_typed_fields() {
    let seeds = common::seeds();
    let doc = |file: &str| &seeds.iter().find(|s| s.file == file).unwrap().doc;

    let dev: Application =
        serde_json::from_value(doc("seed001-istio-demo-dev.yaml").clone()).unwrap();
    let policy = dev.spec.sync_policy.as_ref().unwrap();
    let automated = policy.automated.as_ref().unwrap();
    assert_eq!(automated.self_heal, Some(true));
    assert_eq!(automated.allow_empty, Some(false));
    let backoff = policy.retry.as_ref().unwrap().backoff.as_ref().unwrap();
    assert_eq!(backoff.max_duration.as_deref(), Some("3m0s"));
    assert_eq!(backoff.factor, Some(2));
    // `sources: []` beside `source` is a single-source Application.
    assert_eq!(dev.spec.sources.as_deref(), Some(&[][..]));
    assert_eq!(dev.sources().len(), 1);
    assert_eq!(
        dev.sources()[0].path.as_deref(),
        Some("istio-demo/ab-testing/environments/demo-dev")
    );

    let api_service: Application =
        serde_json::from_value(doc("seed003-api-service.yaml").clone()).unwrap();
    assert_eq!(
        api_service.metadata.finalizers.as_deref(),
        Some(&[api::RESOURCES_FINALIZER.to_string()][..])
    );
    let helm = api_service
        .spec
        .source
        .as_ref()
        .unwrap()
        .helm
        .as_ref()
        .unwrap();
    assert_eq!(
        helm.value_files.as_deref(),
        Some(&["../../environments/production/api-service-values.yaml".to_string()][..])
    );

    let project: AppProject =
        serde_json::from_value(doc("seed001-istio-project.yaml").clone()).unwrap();
    let whitelist = project.spec.cluster_resource_whitelist.as_ref().unwrap();
    assert_eq!(
        (whitelist[0].group.as_str(), whitelist[0].kind.as_str()),
        ("*", "*")
    );
    assert_eq!(
        project.spec.destinations.as_ref().unwrap()[0]
            .namespace
            .as_deref(),
        Some("*")
    );
}

#[test]
fn fields_these_types_do_not_know_are_tolerated() {
    // The API server prunes unknown fields through the CRD schema; reading
    // an object written by a newer Argo CD must not fail here either.
    let doc = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc"},
            "source": {"repoURL": "https://example.com/r.git", "someFutureField": {"x": 1}},
            "someFutureSpecField": true,
        },
        "status": {"someFutureStatusField": 1, "sync": {"status": "Synced"}},
    });
    let app: Application = serde_json::from_value(doc).unwrap();
    assert_eq!(app.status.unwrap().sync.unwrap().status, "Synced");
}

#[test]
fn a_full_spec_with_status_and_operation_round_trips() {
    let doc = full("application.json");
    let app: Application = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(serde_json::to_value(&app).unwrap(), doc);
}

#[test]
fn a_full_project_round_trips() {
    let doc = full("appproject.json");
    let proj: AppProject = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(serde_json::to_value(&proj).unwrap(), doc);
}
