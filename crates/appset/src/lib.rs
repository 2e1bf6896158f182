//! Argo CD's ApplicationSet, computed: from an `ApplicationSet` and its
//! inputs (registered clusters, repository trees) to the Applications it
//! stands for, and from those and the existing ones to what to create,
//! update and delete.
//!
//! Generators ([`generators`]): `list`, `clusters`, `git` (directories and
//! files), `matrix` and `merge`, each with an optional `selector`.
//! Templates ([`render`]): the `{{param}}` form and Go templates
//! (`goTemplate: true`, rendered by the small engine in [`gotemplate`]),
//! per-generator `template` overrides and `templatePatch`.
//!
//! This crate does no I/O against Kubernetes or Git: the controller reads
//! cluster Secrets and checks out repositories, and hands them in as
//! [`Inputs`]. A git generator whose tree is not among the inputs yields
//! [`Error::NeedTree`]; the caller fetches it and calls again (the second
//! child of a matrix may only know its repository once the first has
//! run).

pub mod generators;
pub mod gotemplate;
pub mod params;
pub mod policy;
pub mod render;
mod tree;

use std::collections::BTreeMap;
use std::sync::Arc;

use api::{Application, ApplicationSet, RESOURCES_FINALIZER};
use serde_json::Value;

pub use generators::{Cluster, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
pub use params::Params;
pub use policy::{Plan, Policy};
pub use tree::{DirTree, MemoryTree, Tree};

use generators::{Env, GenError};
use render::Mode;

/// What generators read besides the spec.
#[derive(Clone, Default)]
pub struct Inputs {
    /// The registered clusters (the local one is added as Argo CD does).
    pub clusters: Vec<Cluster>,
    /// Repository trees by (repoURL, revision as written, `HEAD` when
    /// empty).
    pub trees: BTreeMap<(String, String), Arc<dyn Tree>>,
}

/// Why an ApplicationSet could not be turned into Applications.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The spec is wrong at `field`.
    #[error("ApplicationSet {set}: {field}: {message}")]
    Invalid {
        set: String,
        field: String,
        message: String,
    },
    /// The git generator at `field` needs a repository tree the inputs do
    /// not hold yet.
    #[error("ApplicationSet {set}: {field}: needs {repo} at {revision}")]
    NeedTree {
        set: String,
        field: String,
        repo: String,
        revision: String,
    },
}

impl Error {
    /// The spec field the error is about.
    pub fn field(&self) -> &str {
        match self {
            Error::Invalid { field, .. } | Error::NeedTree { field, .. } => field,
        }
    }
}

/// What an ApplicationSet generates.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// How many parameter sets the generators yielded.
    pub parameter_sets: usize,
    /// The Applications, sorted by name, with the resources finalizer
    /// added unless `preserveResourcesOnDeletion` is set (Argo CD's
    /// default). Owner references are the caller's to add.
    pub applications: Vec<Application>,
}

/// The Applications `set` stands for, given `inputs`.
pub fn generate(set: &ApplicationSet, inputs: &Inputs) -> Result<Generated, Error> {
    let name = set.metadata.name.clone().unwrap_or_default();
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let invalid = |field: &str, message: String| Error::Invalid {
        set: name.clone(),
        field: field.to_string(),
        message,
    };
    let spec = &set.spec;
    let options = gotemplate::Options::parse(spec.go_template_options.as_deref().unwrap_or(&[]))
        .map_err(|e| invalid("spec.goTemplateOptions", e.0))?;
    let mode = Mode {
        go: spec.go_template == Some(true),
        options,
    };
    let template = serde_json::to_value(&spec.template)
        .map_err(|e| invalid("spec.template", e.to_string()))?;
    let env = Env { mode, inputs };
    let preserve = spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.preserve_resources_on_deletion)
        == Some(true);
    if spec.generators.is_empty() {
        return Err(invalid("spec.generators", "no generators".into()));
    }
    let mut parameter_sets = 0;
    // Application name -> (field, params) of the set that made it.
    let mut made: BTreeMap<String, (String, Params, Application)> = BTreeMap::new();
    for (i, generator) in spec.generators.iter().enumerate() {
        let field = format!("spec.generators[{i}]");
        let sets = generators::generate(&env, generator, &field).map_err(|e| match e {
            GenError::Invalid { field, message } => invalid(&field, message),
            GenError::NeedTree {
                field,
                repo,
                revision,
            } => Error::NeedTree {
                set: name.clone(),
                field,
                repo,
                revision,
            },
        })?;
        parameter_sets += sets.len();
        for g in sets {
            let effective: Value = match &g.template {
                Some(over) => render::merge_template(&template, over),
                None => template.clone(),
            };
            let mut app = render::application(
                mode,
                &effective,
                spec.template_patch.as_deref(),
                &g.params,
                &namespace,
            )
            .map_err(|(f, message)| invalid(&f, format!("{message} (generated by {field})")))?;
            if !preserve {
                let finalizers = app.metadata.finalizers.get_or_insert_with(Vec::new);
                if !finalizers
                    .iter()
                    .any(|f| f.starts_with(RESOURCES_FINALIZER))
                {
                    finalizers.push(RESOURCES_FINALIZER.to_string());
                }
            }
            let app_name = app.metadata.name.clone().unwrap_or_default();
            if let Some((other_field, other, _)) = made.get(&app_name) {
                return Err(invalid(
                    &field,
                    format!(
                        "two parameter sets generate the Application {app_name:?}: {} (from {other_field}) and {} (from {field}); make spec.template.metadata.name differ between them",
                        Value::Object(other.clone()),
                        Value::Object(g.params.clone()),
                    ),
                ));
            }
            made.insert(app_name, (field.clone(), g.params, app));
        }
    }
    Ok(Generated {
        parameter_sets,
        applications: made.into_values().map(|(_, _, app)| app).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(spec: Value) -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": spec
        }))
        .unwrap()
    }

    fn template(name: &str) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
                     "source": {"repoURL": "https://r", "path": "p"}}
        })
    }

    #[test]
    fn list_with_go_template_and_default_finalizer() {
        let s = set(json!({
            "goTemplate": true, "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}}],
            "template": template("shop-{{.env}}")
        }));
        let out = generate(&s, &Inputs::default()).unwrap();
        assert_eq!(out.parameter_sets, 2);
        let names: Vec<_> = out
            .applications
            .iter()
            .map(|a| a.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["shop-dev", "shop-prod"]);
        assert_eq!(
            out.applications[0].metadata.namespace.as_deref(),
            Some("argocd")
        );
        assert_eq!(
            out.applications[0].metadata.finalizers,
            Some(vec![RESOURCES_FINALIZER.to_string()])
        );
    }

    #[test]
    fn preserve_resources_means_no_finalizer() {
        let s = set(json!({
            "syncPolicy": {"preserveResourcesOnDeletion": true},
            "generators": [{"list": {"elements": [{"env": "dev"}]}}],
            "template": template("shop-{{env}}")
        }));
        let out = generate(&s, &Inputs::default()).unwrap();
        assert_eq!(out.applications[0].metadata.finalizers, None);
    }

    #[test]
    fn duplicate_names_name_both_parameter_sets() {
        let s = set(json!({
            "generators": [{"list": {"elements": [{"env": "dev", "n": "1"}]}},
                           {"list": {"elements": [{"env": "dev", "n": "2"}]}}],
            "template": template("shop-{{env}}")
        }));
        let err = generate(&s, &Inputs::default()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.field(), "spec.generators[1]");
        assert!(text.contains("ApplicationSet shop"), "{text}");
        assert!(
            text.contains("\"n\":\"1\"") && text.contains("\"n\":\"2\""),
            "{text}"
        );
        assert!(text.contains("\"shop-dev\""), "{text}");
    }

    #[test]
    fn missing_key_errors_name_the_template_field_and_generator() {
        let s = set(json!({
            "goTemplate": true, "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": [{"env": "dev"}]}}],
            "template": template("shop-{{.nope}}")
        }));
        let err = generate(&s, &Inputs::default()).unwrap_err();
        assert_eq!(err.field(), "spec.template.metadata.name");
        assert!(
            err.to_string().contains("generated by spec.generators[0]"),
            "{err}"
        );
    }

    #[test]
    fn per_generator_template_overrides_the_set_template() {
        let s = set(json!({
            "generators": [{"list": {"elements": [{"env": "dev"}],
                                     "template": {"metadata": {}, "spec": {"project": "team-{{env}}"}}}}],
            "template": template("shop-{{env}}")
        }));
        let out = generate(&s, &Inputs::default()).unwrap();
        assert_eq!(out.applications[0].spec.project, "team-dev");
    }
}
