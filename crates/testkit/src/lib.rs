//! Test support for gyro's integration and end-to-end tests.
//!
//! - [`cluster`]: a client for the shared local test cluster (a real
//!   kube-apiserver, etcd, controller manager, scheduler and kwok nodes,
//!   started by `scripts/cluster` once per test run when it is not already up).
//! - [`second_cluster`]: a second, independent local cluster (started on
//!   first use) and what a cluster Secret needs to reach it.
//! - [`TcpProxy`]: a loopback relay a test can cut and restore, to make a
//!   cluster go away and come back.
//! - [`TestNamespace`]: an isolated namespace per test, deleted when dropped.
//! - [`GitRepo`]: a bare remote plus a working clone, with helpers to write
//!   files, commit, tag and push through the real `git` program.
//! - [`dex()`]: a real OpenID Connect provider (Dex) for the single sign-on
//!   tests, one per test process.
//! - [`GitHttpServer`]: Git's own smart-HTTP server (`git http-backend`)
//!   behind a small loopback HTTP server, with optional basic auth.
//!
//! It is for tests only: it panics on nothing, but it is not hardened for
//! hostile input and starts processes freely.

mod cluster;
mod dex;
mod git;
mod git_http;
pub mod http;
mod namespace;
mod second_cluster;
mod tcp_proxy;
pub mod tools;

pub use cluster::{
    client, condition_status, describe_output, kubeconfig_path, wait_for, wait_for_condition,
};
pub use dex::{Dex, dex, dex_binary};
pub use git::GitRepo;
pub use git_http::GitHttpServer;
pub use namespace::TestNamespace;
pub use second_cluster::{SECOND_CLUSTER_NAME, SECOND_CLUSTER_PORT, SecondCluster, second_cluster};
pub use tcp_proxy::TcpProxy;
