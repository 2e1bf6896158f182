//! Test support for gyro's integration and end-to-end tests.
//!
//! - [`cluster`]: a client for the shared local test cluster (a real
//!   kube-apiserver, etcd, controller manager, scheduler and kwok nodes,
//!   started by `scripts/cluster` once per test run when it is not already up).
//! - [`TestNamespace`]: an isolated namespace per test, deleted when dropped.
//! - [`GitRepo`]: a bare remote plus a working clone, with helpers to write
//!   files, commit, tag and push through the real `git` program.
//! - [`GitHttpServer`]: Git's own smart-HTTP server (`git http-backend`)
//!   behind a small loopback HTTP server, with optional basic auth.
//!
//! It is for tests only: it panics on nothing, but it is not hardened for
//! hostile input and starts processes freely.

mod cluster;
mod git;
mod git_http;
pub mod http;
mod namespace;
pub mod tools;

pub use cluster::{
    client, condition_status, describe_output, kubeconfig_path, wait_for, wait_for_condition,
};
pub use git::GitRepo;
pub use git_http::GitHttpServer;
pub use namespace::TestNamespace;
