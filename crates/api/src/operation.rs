//! `Application.operation`: a requested sync, and the parts of it echoed
//! back in `status.operationState`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::application::{Info, RetryStrategy};
use crate::source::ApplicationSource;

/// A requested operation. Argo CD has one kind, `sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Vec<Info>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
}

/// `operation.sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_strategy: Option<SyncStrategy>,
    /// Sync only these resources (a partial sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<SyncOperationResource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Rendered manifests to sync instead of the source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ApplicationSource>>,
    /// One revision per source, for multi-source Applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_heal_attempts_count: Option<i64>,
}

/// `sync.syncStrategy`: `apply` (kubectl apply) or `hook` (apply plus hooks;
/// Argo CD's default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<SyncStrategyForce>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<SyncStrategyForce>,
}

/// `syncStrategy.apply` / `syncStrategy.hook`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncStrategyForce {
    /// Delete and re-create resources that cannot be patched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
}

/// `sync.resources[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncOperationResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `operation.initiatedBy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OperationInitiator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// True when the controller started it (automated sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<bool>,
}
