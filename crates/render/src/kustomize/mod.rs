//! Kustomize, in-process: `build(tree, dir)` gives what `kustomize build dir`
//! gives, object for object and (through [`crate::yaml::to_yaml_stream`])
//! byte for byte.
//!
//! The build follows kustomize v5's order of work: load resources,
//! components and generators, then run the transformers (patches, labels,
//! annotations, namespace, prefix/suffix, images, replicas, replacements),
//! fix name references, resolve vars and sort.

mod build;
pub mod builtins;
pub mod fieldspec;
pub mod generators;
pub mod images;
pub mod json6902;
pub mod kustomization;
pub mod nameref;
pub mod patches;
pub mod replacements;
pub mod replicas;
pub mod resource;
pub mod selector;
pub mod sort;
pub mod transformers;
pub mod vars;

pub use build::is_remote;
pub use kustomization::Kustomization;
pub use resource::{Gvk, ResId, ResMap, Resource};

use crate::fs::Fs;
use crate::{Result, Value};

/// The kustomize release whose behaviour gyro reproduces (the value of
/// the `app.kubernetes.io/managed-by` label `buildMetadata` adds).
pub const KUSTOMIZE_VERSION: &str = "v5.8.2";

/// Changes to the root kustomization before it is built: how Argo CD's
/// Application-level options (`spec.source.kustomize`) take effect.
pub type RootEdit<'a> = &'a dyn Fn(&mut Kustomization) -> Result<()>;

/// Options of a build.
#[derive(Default, Clone, Copy)]
pub struct BuildOptions<'a> {
    /// Applied to the root kustomization after it is read.
    pub root_edit: Option<RootEdit<'a>>,
}

/// Builds the kustomization in `dir` (a tree path, `""` for the root).
pub fn build(fs: &dyn Fs, dir: &str) -> Result<Vec<Value>> {
    build_with(fs, dir, BuildOptions::default())
}

/// [`build`] with options.
pub fn build_with(fs: &dyn Fs, dir: &str, opts: BuildOptions<'_>) -> Result<Vec<Value>> {
    Ok(build_resmap(fs, dir, opts)?.into_objects())
}

/// Builds and returns the resources with their bookkeeping.
pub fn build_resmap(fs: &dyn Fs, dir: &str, opts: BuildOptions<'_>) -> Result<ResMap> {
    build::Builder::new(fs, opts).build(dir)
}
