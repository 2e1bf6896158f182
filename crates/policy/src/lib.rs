//! gyro's AppProject policy: the pure decisions on what an Application
//! may deploy, where, and when, with Argo CD's semantics.
//!
//! - [`project`]: `sourceRepos`, `destinations`,
//!   `permitOnlyProjectScopedClusters`, `sourceNamespaces`, and the
//!   cluster- and namespace-scoped kind white- and blacklists; the implicit
//!   `default` project.
//! - [`windows`]: sync windows (cron schedule, duration, time zone) and
//!   whether an automated or a manual sync may run now.
//! - [`orphans`]: which live objects of a destination namespace count as
//!   orphaned (`orphanedResources`).
//! - [`glob`]: the glob dialect of every pattern above
//!   (`github.com/gobwas/glob`, as Argo CD uses).
//!
//! What it is not: it does no I/O. The caller resolves the destination
//! (cluster server and name), lists live objects, and passes the clock.

pub mod duration;
pub mod glob;
pub mod orphans;
pub mod project;
pub mod windows;

pub use duration::parse_go_duration;
pub use project::{
    DEFAULT_PROJECT, Denied, Destination, Resource, check_application, check_destination,
    check_kind, check_resource, check_source_namespace, check_source_repo,
    implicit_default_project,
};
pub use windows::{Target, Verdict, Window, WindowError};
