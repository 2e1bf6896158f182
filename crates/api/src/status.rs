//! `Application.status`, in the shape Argo CD writes it, so dashboards,
//! `kubectl get applications` columns and scripts keep working.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::application::{
    ApplicationDestination, ManagedNamespaceMetadata, ResourceIgnoreDifferences, SourceHydrator,
};
use crate::operation::{Operation, OperationInitiator};
use crate::source::ApplicationSource;

/// `Application.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<RevisionHistory>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ApplicationCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub reconciled_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub observed_at: Option<Time>,
    /// `Helm`, `Kustomize`, `Directory` or `Plugin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ApplicationSummary>,
    /// Where per-resource health is kept: `appTree` or empty (in `resources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_health_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<SourceHydratorStatus>,
}

/// `status.sourceHydrator`: progress of source hydration (Argo CD v3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceHydratorStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_operation: Option<SuccessfulHydrateOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_operation: Option<HydrateOperation>,
}

/// `sourceHydrator.lastSuccessfulOperation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuccessfulHydrateOperation {
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "drySHA")]
    pub dry_sha: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "hydratedSHA"
    )]
    pub hydrated_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<SourceHydrator>,
}

/// `sourceHydrator.currentOperation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydrateOperation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub finished_at: Option<Time>,
    /// `Hydrating`, `Failed` or `Hydrated`.
    pub phase: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "drySHA")]
    pub dry_sha: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "hydratedSHA"
    )]
    pub hydrated_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hydrator: Option<SourceHydrator>,
}

/// `status.resources[]`: one managed resource's sync and health.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Synced`, `OutOfSync` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_pruning: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_wave: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_deletion_confirmation: Option<bool>,
}

/// `status.sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`: the `Sync Status` column.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_to: Option<ComparedTo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Vec<String>>,
}

/// `sync.comparedTo`: the spec the sync status was computed against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedTo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    pub destination: ApplicationDestination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ApplicationSource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_differences: Option<Vec<ResourceIgnoreDifferences>>,
}

/// Health of an Application (`status.health`, the `Health Status` column)
/// or of one resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub last_transition_time: Option<Time>,
}

/// `status.history[]`: one completed sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[schemars(schema_with = "crate::schema::date_time")]
    pub deployed_at: Time,
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub deploy_started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ApplicationSource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
}

/// `status.conditions[]`: errors and warnings about the Application
/// (`ComparisonError`, `SyncError`, `InvalidSpecError`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub last_transition_time: Option<Time>,
}

/// `status.operationState`: progress and result of the current or last
/// operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    pub operation: Operation,
    /// `Running`, `Terminating`, `Failed`, `Error` or `Succeeded`.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncOperationResult>,
    #[schemars(schema_with = "crate::schema::date_time")]
    pub started_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::date_time")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
}

/// `operationState.syncResult`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceResult>>,
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ApplicationSource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
}

/// `syncResult.resources[]`: what the sync did to one resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
}

/// `status.summary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSummary {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "externalURLs"
    )]
    pub external_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
}
