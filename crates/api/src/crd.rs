//! The CustomResourceDefinitions of Argo CD's `Application`,
//! `AppProject` and `ApplicationSet`, generated from this crate's types so that the schema the
//! API server enforces and the types gyro reads can never disagree.
//!
//! `deploy/crds/*.yaml` are this module's output, written by
//! `cargo run -p gyro-api --example gen-crds`; a test fails when they are
//! stale.
//!
//! What is matched to Argo CD's own CRDs on purpose: names, short names,
//! scope, the `Sync Status` / `Health Status` (and, at `-o wide`,
//! `Revision` / `Project`) printer columns, the required fields, and no
//! status subresource (Argo CD's controller writes `status` with the main
//! resource, and `kubectl apply` of an Application may carry `status`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};
use kube::api::ObjectMeta;
use schemars::JsonSchema;
use serde_json::{Value, json};

use crate::application::ApplicationSpec;
use crate::applicationset::{ApplicationSetSpec, ApplicationSetStatus};
use crate::operation::Operation;
use crate::project::{AppProjectSpec, AppProjectStatus};
use crate::status::ApplicationStatus;
use crate::{GROUP, VERSION};

/// Why a CRD could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("the generated schema for {kind} is not a valid CRD schema: {source}")]
    Schema {
        kind: &'static str,
        source: serde_json::Error,
    },
    #[error("writing the {kind} CRD as YAML: {message}")]
    Yaml { kind: String, message: String },
    #[error("installing CRD {name}: {source}")]
    Install { name: String, source: kube::Error },
    #[error("CRD {name} did not become Established within {seconds} s")]
    NotEstablished { name: String, seconds: u64 },
}

/// Installs (or updates) the CRDs with server-side apply as `manager` and
/// waits until the API server serves them. Idempotent: tests and
/// installers call it whether or not the CRDs are there.
pub async fn install(client: &kube::Client, manager: &str) -> Result<(), CrdError> {
    use kube::api::{Api, Patch, PatchParams};
    use kube::runtime::wait::{await_condition, conditions};

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [application()?, app_project()?, application_set()?] {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|source| CrdError::Install {
            name: name.clone(),
            source,
        })?;
        const WAIT: u64 = 60;
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(std::time::Duration::from_secs(WAIT), established).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => {
                return Err(CrdError::NotEstablished {
                    name,
                    seconds: WAIT,
                });
            }
        }
    }
    Ok(())
}

/// The `applications.argoproj.io` CRD.
pub fn application() -> Result<CustomResourceDefinition, CrdError> {
    let kind = "Application";
    let schema = root_schema(
        kind,
        &[
            ("spec", schema_of::<ApplicationSpec>()),
            ("operation", schema_of::<Operation>()),
            ("status", schema_of::<ApplicationStatus>()),
        ],
    )?;
    let columns = vec![
        column("Sync Status", ".status.sync.status", None),
        column("Health Status", ".status.health.status", None),
        column("Revision", ".status.sync.revision", Some(10)),
        column("Project", ".spec.project", Some(10)),
    ];
    Ok(definition(
        kind,
        "applications",
        &["app", "apps"],
        schema,
        columns,
    ))
}

/// The `appprojects.argoproj.io` CRD.
pub fn app_project() -> Result<CustomResourceDefinition, CrdError> {
    let kind = "AppProject";
    let schema = root_schema(
        kind,
        &[
            ("spec", schema_of::<AppProjectSpec>()),
            ("status", schema_of::<AppProjectStatus>()),
        ],
    )?;
    Ok(definition(
        kind,
        "appprojects",
        &["appproj", "appprojs"],
        schema,
        Vec::new(),
    ))
}

/// The `applicationsets.argoproj.io` CRD.
pub fn application_set() -> Result<CustomResourceDefinition, CrdError> {
    let kind = "ApplicationSet";
    let schema = root_schema(
        kind,
        &[
            ("spec", schema_of::<ApplicationSetSpec>()),
            ("status", schema_of::<ApplicationSetStatus>()),
        ],
    )?;
    Ok(definition(
        kind,
        "applicationsets",
        &["appset", "appsets"],
        schema,
        Vec::new(),
    ))
}

/// A CRD as the YAML document committed under `deploy/crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let kind = &crd.spec.names.kind;
    // Through serde_json::Value so that keys come out sorted: the file
    // then only changes when the schema does.
    let value = serde_json::to_value(crd).map_err(|e| CrdError::Yaml {
        kind: kind.clone(),
        message: e.to_string(),
    })?;
    serde_saphyr::to_string(&value).map_err(|e| CrdError::Yaml {
        kind: kind.clone(),
        message: e.to_string(),
    })
}

/// The committed CRD files: (file name under `deploy/crds/`, contents).
pub fn files() -> Result<Vec<(&'static str, String)>, CrdError> {
    Ok(vec![
        ("application-crd.yaml", to_yaml(&application()?)?),
        ("appproject-crd.yaml", to_yaml(&app_project()?)?),
        ("applicationset-crd.yaml", to_yaml(&application_set()?)?),
    ])
}

fn schema_of<T: JsonSchema>() -> Value {
    let mut value = crate::schema::generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(obj) = value.as_object_mut() {
        // The type's name and doc are not part of the CRD schema.
        obj.remove("title");
        obj.remove("description");
    }
    strip_nullable(&mut value);
    value
}

/// schemars marks every `Option` as `nullable: true`; Argo CD's CRDs mark
/// nothing nullable, and a non-nullable field lets the API server drop an
/// explicit `null` instead of storing it, as it does for Argo CD.
fn strip_nullable(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            if obj.get("nullable") == Some(&Value::Bool(true)) {
                obj.remove("nullable");
            }
            obj.values_mut().for_each(strip_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nullable),
        _ => {}
    }
}

/// The top-level schema: Argo CD requires `metadata` and `spec`, and leaves
/// `metadata` to the API server's own validation.
fn root_schema(kind: &'static str, fields: &[(&str, Value)]) -> Result<JSONSchemaProps, CrdError> {
    let mut properties = serde_json::Map::new();
    properties.insert("apiVersion".into(), json!({"type": "string"}));
    properties.insert("kind".into(), json!({"type": "string"}));
    properties.insert("metadata".into(), json!({"type": "object"}));
    for (name, schema) in fields {
        properties.insert((*name).into(), schema.clone());
    }
    let root = json!({
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": properties,
    });
    serde_json::from_value(root).map_err(|source| CrdError::Schema { kind, source })
}

fn column(name: &str, json_path: &str, priority: Option<i32>) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.into(),
        json_path: json_path.into(),
        type_: "string".into(),
        priority,
        ..Default::default()
    }
}

fn definition(
    kind: &str,
    plural: &str,
    short_names: &[&str],
    schema: JSONSchemaProps,
    columns: Vec<CustomResourceColumnDefinition>,
) -> CustomResourceDefinition {
    let name = format!("{plural}.{GROUP}");
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(
                [
                    ("app.kubernetes.io/name".to_string(), name),
                    ("app.kubernetes.io/part-of".to_string(), "gyro".to_string()),
                ]
                .into(),
            ),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: kind.into(),
                list_kind: Some(format!("{kind}List")),
                plural: plural.into(),
                singular: Some(kind.to_lowercase()),
                short_names: Some(short_names.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: VERSION.into(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(schema),
                }),
                additional_printer_columns: (!columns.is_empty()).then_some(columns),
                // Present and empty, as in Argo CD's CRD: no status
                // subresource.
                subresources: Some(CustomResourceSubresources::default()),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}
