//! gyro's manifest renderer: a pure function from a directory tree and an
//! Application `source` spec to an ordered list of Kubernetes objects.
//!
//! It renders plain directories (as Argo CD's directory source does) and
//! Kustomize overlays, in-process, with output identical to `kustomize build`
//! (same objects, same order, same YAML bytes). It reads files through the
//! [`fs::Fs`] trait and never touches the network, the clock or the cluster.
//!
//! What it is not: a Git client (the `source` layer hands it a checked-out
//! tree) or an applier. Helm charts are a later module.

pub mod directory;
pub mod error;
pub mod fs;
pub mod kustomize;
pub mod schema;
pub mod smp;
pub mod source;
pub mod yaml;

pub use error::{Error, Result};

/// A Kubernetes object, or any YAML/JSON value inside one.
pub type Value = serde_json::Value;
