//! gyro's role-based access control, in Argo CD's form: the `policy.csv`
//! lines of the `argocd-rbac-cm` ConfigMap (`p, <subject>, <resource>,
//! <action>, <object>, <allow|deny>` and `g, <user or group>, <role>`),
//! `policy.default`, `scopes`, the built-in `role:readonly` and
//! `role:admin`, and the roles AppProjects declare in `spec.roles`.
//!
//! Pure: the crate parses text and answers questions; it reads no files and
//! talks to no cluster. The server watches the ConfigMap and the AppProjects
//! and hands them to an [`Rbac`], which keeps the last good [`Policy`].
//! [`Policy::enforce`] answers allow or deny with the reason (the line that
//! decided, or that no line allows).

mod config;
mod holder;
mod line;
mod object;
mod pattern;
mod policy;
mod project;

pub use config::{DEFAULT_SCOPES, RBAC_CONFIG_MAP};
pub use holder::Rbac;
pub use object::{app_object, permission_denied};
pub use pattern::MatchMode;
pub use policy::{Decision, Effect, Origin, Policy, PolicyError};
pub use project::{project_subject, validate_project};

/// The resources Argo CD's policies name (`*` and globs are also accepted).
pub const RESOURCES: &[&str] = &[
    "applications",
    "applicationsets",
    "clusters",
    "projects",
    "repositories",
    "write-repositories",
    "accounts",
    "certificates",
    "gpgkeys",
    "logs",
    "exec",
    "extensions",
];
