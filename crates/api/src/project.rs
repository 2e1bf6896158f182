//! The `AppProject` resource: which repositories, clusters, namespaces and
//! kinds the Applications of a project may use, roles, and sync windows.
//!
//! Unlike [`Application`](crate::Application), an AppProject is exactly
//! `spec` plus `status`, so kube's `CustomResource` derive generates the
//! root type. Use [`crate::crd::app_project`] for the CRD, not the derived
//! `AppProject::crd()`: the former is generated with the same settings as
//! the Application's, while the derive adds `nullable: true` to optional
//! fields, which Argo CD's CRD does not have.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// The same type as an Application's destination; in a project each field
// may be a glob.
use crate::application::ApplicationDestination;

/// `AppProject.spec`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AppProject",
    plural = "appprojects",
    namespaced,
    status = "AppProjectStatus",
    shortname = "appproj",
    shortname = "appprojs"
)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// Repository URLs (globs allowed) Applications may deploy from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repos: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<ApplicationDestination>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<ProjectRole>>,
    /// Cluster-scoped kinds Applications may manage (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_resource_whitelist: Option<Vec<ClusterResourceRestrictionItem>>,
    /// Namespaced kinds Applications may not manage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_resource_blacklist: Option<Vec<GroupKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned_resources: Option<OrphanedResourcesMonitorSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_windows: Option<Vec<SyncWindow>>,
    /// Namespaced kinds Applications may manage (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_resource_whitelist: Option<Vec<GroupKind>>,
    /// GnuPG key IDs commits must be signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_keys: Option<Vec<SignatureKey>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_resource_blacklist: Option<Vec<ClusterResourceRestrictionItem>>,
    /// Namespaces (globs allowed) outside the control-plane namespace whose
    /// Applications may belong to this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit_only_project_scoped_clusters: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_service_accounts: Option<Vec<ApplicationDestinationServiceAccount>>,
}

/// A Kubernetes group and kind (`*` allowed in each).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

/// A cluster-scoped kind, optionally narrowed to one object by name (Argo
/// CD v3.1+); `*` allowed in group and kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterResourceRestrictionItem {
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `spec.roles[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRole {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Casbin policy lines (`p, proj:<project>:<role>, applications, get, <project>/*, allow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_tokens: Option<Vec<JwtToken>>,
    /// OIDC groups bound to the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// A project token: issued-at, expiry (Unix seconds) and id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JwtToken {
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `spec.orphanedResources`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrphanedResourcesMonitorSettings {
    /// Raise a warning condition when orphaned resources exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<OrphanedResourceKey>>,
}

/// `orphanedResources.ignore[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrphanedResourceKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `spec.syncWindows[]`: when syncs are allowed or denied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncWindow {
    /// `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A cron expression for when the window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// How long it stays open (Go duration, e.g. `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<String>>,
    /// Whether manual syncs are allowed while the window blocks automated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_sync: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Match only when applications, namespaces and clusters all match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and_operator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `spec.signatureKeys[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureKey {
    #[serde(rename = "keyID")]
    pub key_id: String,
}

/// `spec.destinationServiceAccounts[]`: the service account to impersonate
/// when syncing to a destination.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDestinationServiceAccount {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub default_service_account: String,
}

/// `AppProject.status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_tokens_by_role: Option<BTreeMap<String, JwtTokens>>,
}

/// The tokens of one role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JwtTokens {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<JwtToken>>,
}
