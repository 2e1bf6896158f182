//! gyro's Kubernetes API types: Argo CD's `argoproj.io/v1alpha1`
//! [`Application`], [`AppProject`] and [`ApplicationSet`], field for field as Argo CD v3
//! defines them, and their CRDs ([`crd`]).
//!
//! gyro reads and writes the same objects Argo CD does, so a manifest
//! written for Argo CD works unchanged and the status gyro writes looks the
//! same to dashboards and scripts. Optional fields are `Option`s and are
//! left out when `None`, so an object read and written back keeps what was
//! written (`sources: []` stays `[]`, an absent field stays absent). Fields
//! unknown to these types are ignored on reading, which is what the API
//! server does too: the CRD schema prunes them, except inside free-form
//! parts (`helm.valuesObject`).
//!
//! This crate holds data and schemas only: no validation beyond what the
//! types and the CRD schema express, no defaulting, no I/O. Interpreting a
//! spec (project rules, sync windows, rendering) belongs to other crates.

mod application;
mod applicationset;
pub mod crd;
mod operation;
mod project;
mod schema;
mod source;
mod status;

pub use application::{
    Application, ApplicationDestination, ApplicationSpec, Backoff, DrySource, HydrateTo, Info,
    ManagedNamespaceMetadata, ResourceIgnoreDifferences, RetryStrategy, SourceHydrator, SyncPolicy,
    SyncPolicyAutomated, SyncSource,
};
pub use applicationset::{
    ApplicationPreservedFields, ApplicationSet, ApplicationSetApplicationStatus,
    ApplicationSetCondition, ApplicationSetGenerator, ApplicationSetResourceIgnoreDifferences,
    ApplicationSetSpec, ApplicationSetStatus, ApplicationSetStrategy, ApplicationSetSyncPolicy,
    ApplicationSetTemplate, ApplicationSetTemplateMeta, ClusterGenerator,
    GitDirectoryGeneratorItem, GitFileGeneratorItem, GitGenerator, LabelSelector,
    LabelSelectorRequirement, ListGenerator, NestedGenerators,
};
pub use operation::{
    Operation, OperationInitiator, SyncOperation, SyncOperationResource, SyncStrategy,
    SyncStrategyForce,
};
pub use project::{
    AppProject, AppProjectSpec, AppProjectStatus, ApplicationDestinationServiceAccount,
    ClusterResourceRestrictionItem, GroupKind, JwtToken, JwtTokens, OrphanedResourceKey,
    OrphanedResourcesMonitorSettings, ProjectRole, SignatureKey, SyncWindow,
};
pub use source::{
    ApplicationSource, ApplicationSourceDirectory, ApplicationSourceHelm, ApplicationSourceJsonnet,
    ApplicationSourceKustomize, ApplicationSourcePlugin, EnvEntry, HelmFileParameter,
    HelmParameter, JsonnetVar, KustomizePatch, KustomizeReplica, KustomizeSelector,
    PluginParameter,
};
pub use status::{
    ApplicationCondition, ApplicationStatus, ApplicationSummary, ComparedTo, HealthStatus,
    HydrateOperation, OperationState, ResourceResult, ResourceStatus, RevisionHistory,
    SourceHydratorStatus, SuccessfulHydrateOperation, SyncOperationResult, SyncStatus,
};

/// The API group of Argo CD's resources.
pub const GROUP: &str = "argoproj.io";
/// The (only) version of Argo CD's resources.
pub const VERSION: &str = "v1alpha1";
/// `argoproj.io/v1alpha1`.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// The finalizer that makes deleting an Application delete the resources it
/// manages first (cascading delete), as in Argo CD.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
