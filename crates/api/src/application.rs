//! The `Application` resource and its `spec`.
//!
//! The root type is written by hand rather than with kube's
//! `CustomResource` derive: an Argo CD Application has a third top-level
//! field, `operation`, beside `spec` and `status`, and the derive can only
//! generate `spec` and `status`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use kube::api::ObjectMeta;
use schemars::JsonSchema;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::operation::Operation;
use crate::source::ApplicationSource;
use crate::status::ApplicationStatus;
use crate::{API_VERSION, GROUP, VERSION};

/// An Argo CD `Application` (`argoproj.io/v1alpha1`).
///
/// `apiVersion` and `kind` are written on serialization and ignored on
/// reading, as kube's derived types do.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Application {
    pub metadata: ObjectMeta,
    pub spec: ApplicationSpec,
    /// A requested operation (a sync), written by a user or the API server
    /// and cleared by the controller once it has started it.
    #[serde(default)]
    pub operation: Option<Operation>,
    #[serde(default)]
    pub status: Option<ApplicationStatus>,
}

impl Application {
    pub const KIND: &'static str = "Application";
    pub const PLURAL: &'static str = "applications";

    /// An Application with the given name and spec, no namespace.
    pub fn new(name: &str, spec: ApplicationSpec) -> Self {
        Self {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            spec,
            operation: None,
            status: None,
        }
    }

    /// The sources to render and sync, per [`ApplicationSpec::effective_sources`].
    pub fn sources(&self) -> Vec<ApplicationSource> {
        self.spec.effective_sources()
    }
}

impl Serialize for Application {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Application", 6)?;
        s.serialize_field("apiVersion", API_VERSION)?;
        s.serialize_field("kind", Self::KIND)?;
        s.serialize_field("metadata", &self.metadata)?;
        s.serialize_field("spec", &self.spec)?;
        if let Some(operation) = &self.operation {
            s.serialize_field("operation", operation)?;
        }
        if let Some(status) = &self.status {
            s.serialize_field("status", status)?;
        }
        s.end()
    }
}

impl kube::Resource for Application {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Self::KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        API_VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Self::PLURAL.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `Application.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// The single source; ignored when `sources` is non-empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    pub destination: ApplicationDestination,
    /// The AppProject this Application belongs to (`default` if unsure).
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_differences: Option<Vec<ResourceIgnoreDifferences>>,
    /// Free-form name/value pairs shown in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Vec<Info>>,
    /// How many `status.history` entries to keep (Argo CD's default is 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Multiple sources, rendered together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ApplicationSource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<SourceHydrator>,
}

impl ApplicationSpec {
    /// Whether `sources` is in effect (Argo CD's rule: a source hydrator
    /// wins, and an empty `sources: []` beside `source` means a
    /// single-source Application).
    pub fn has_multiple_sources(&self) -> bool {
        self.source_hydrator.is_none() && self.sources.as_ref().is_some_and(|s| !s.is_empty())
    }

    /// The sources to render and sync, in order: the hydrator's sync
    /// source, else `sources` when non-empty, else `source` (none when an
    /// Application has neither, which the API server allows).
    pub fn effective_sources(&self) -> Vec<ApplicationSource> {
        if let Some(hydrator) = &self.source_hydrator {
            return vec![hydrator.sync_source()];
        }
        match &self.sources {
            Some(sources) if !sources.is_empty() => sources.clone(),
            _ => self.source.iter().cloned().collect(),
        }
    }
}

/// Where an Application deploys to: a cluster (by `server` URL or by
/// `name`) and a default namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `spec.syncPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<SyncPolicyAutomated>,
    /// `Name=value` options, e.g. `CreateNamespace=true`, `ServerSideApply=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
}

/// `syncPolicy.automated`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyAutomated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
    /// Argo CD v3: automated sync can be switched off without removing the
    /// block; absent means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `syncPolicy.retry` (also `operation.retry`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetryStrategy {
    /// Maximum attempts; a negative limit retries for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Re-resolve the revision on each retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<bool>,
}

/// `retry.backoff`: durations are Go duration strings (`5s`, `3m0s`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// `syncPolicy.managedNamespaceMetadata`: labels and annotations put on a
/// namespace created with `CreateNamespace=true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManagedNamespaceMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `spec.ignoreDifferences[]`: parts of live objects left out of the diff.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIgnoreDifferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jq_path_expressions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields_managers: Option<Vec<String>>,
}

/// A name/value pair (`spec.info`, `operation.info`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Info {
    pub name: String,
    pub value: String,
}

/// `spec.sourceHydrator` (Argo CD v3): render a dry source and push the
/// result to a branch, then sync from that branch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceHydrator {
    pub dry_source: DrySource,
    pub sync_source: SyncSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydrate_to: Option<HydrateTo>,
}

impl SourceHydrator {
    /// The source synced to the cluster: the dry source's repository, at
    /// the sync branch and path.
    pub fn sync_source(&self) -> ApplicationSource {
        ApplicationSource {
            repo_url: self.dry_source.repo_url.clone(),
            path: Some(self.sync_source.path.clone()),
            target_revision: Some(self.sync_source.target_branch.clone()),
            ..Default::default()
        }
    }

    /// The dry (not yet hydrated) source.
    pub fn dry_source(&self) -> ApplicationSource {
        ApplicationSource {
            repo_url: self.dry_source.repo_url.clone(),
            path: Some(self.dry_source.path.clone()),
            target_revision: Some(self.dry_source.target_revision.clone()),
            ..Default::default()
        }
    }
}

/// `sourceHydrator.drySource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrySource {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub target_revision: String,
    pub path: String,
}

/// `sourceHydrator.syncSource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSource {
    pub target_branch: String,
    pub path: String,
}

/// `sourceHydrator.hydrateTo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydrateTo {
    pub target_branch: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str) -> ApplicationSource {
        ApplicationSource {
            repo_url: "https://git.example.com/r.git".into(),
            path: Some(path.into()),
            ..Default::default()
        }
    }

    #[test]
    fn an_empty_sources_list_leaves_the_single_source_in_effect() {
        let spec = ApplicationSpec {
            source: Some(source("single")),
            sources: Some(vec![]),
            ..Default::default()
        };
        assert!(!spec.has_multiple_sources());
        assert_eq!(spec.effective_sources(), vec![source("single")]);
    }

    #[test]
    fn non_empty_sources_win_over_source() {
        let spec = ApplicationSpec {
            source: Some(source("single")),
            sources: Some(vec![source("a"), source("b")]),
            ..Default::default()
        };
        assert!(spec.has_multiple_sources());
        assert_eq!(spec.effective_sources(), vec![source("a"), source("b")]);
    }

    #[test]
    fn a_source_hydrator_syncs_from_its_sync_branch() {
        let spec = ApplicationSpec {
            sources: Some(vec![source("a")]),
            source_hydrator: Some(SourceHydrator {
                dry_source: DrySource {
                    repo_url: "https://git.example.com/r.git".into(),
                    target_revision: "main".into(),
                    path: "dry".into(),
                },
                sync_source: SyncSource {
                    target_branch: "env/prod".into(),
                    path: "prod".into(),
                },
                hydrate_to: None,
            }),
            ..Default::default()
        };
        assert!(!spec.has_multiple_sources());
        let synced = spec.effective_sources();
        assert_eq!(synced.len(), 1);
        assert_eq!(synced[0].path.as_deref(), Some("prod"));
        assert_eq!(synced[0].target_revision.as_deref(), Some("env/prod"));
    }

    #[test]
    fn serialization_names_the_kind_and_leaves_out_what_is_unset() {
        let app = Application::new(
            "web",
            ApplicationSpec {
                project: "default".into(),
                ..Default::default()
            },
        );
        let value = serde_json::to_value(&app).unwrap();
        assert_eq!(value["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(value["kind"], "Application");
        assert!(value.get("operation").is_none() && value.get("status").is_none());
        assert_eq!(
            value["spec"],
            serde_json::json!({"destination": {}, "project": "default"})
        );
    }
}
