//! Generators: each turns its spec (and the [`Inputs`]) into parameter
//! sets. `matrix` and `merge` combine the sets of their children; a
//! `selector` on any generator keeps only the sets it matches.

mod clusters;
mod git;
mod list;

use std::collections::BTreeMap;
use std::sync::Arc;

use api::ApplicationSetGenerator;
use serde_json::{Map, Value};

use crate::Inputs;
use crate::params::{Params, flatten, matches, scalar};
use crate::render::Mode;

pub use clusters::{Cluster, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};

/// A parameter set with the per-generator template that applies to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub params: Params,
    pub template: Option<Value>,
}

/// Why generating failed.
#[derive(Debug, Clone, PartialEq)]
pub enum GenError {
    /// The spec at `field` is wrong.
    Invalid { field: String, message: String },
    /// The git generator at `field` needs this tree, which the inputs do
    /// not hold yet.
    NeedTree {
        field: String,
        repo: String,
        revision: String,
    },
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> GenError {
    GenError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// What every generator reads.
pub(crate) struct Env<'a> {
    pub mode: Mode,
    pub inputs: &'a Inputs,
}

impl Env<'_> {
    pub fn tree(
        &self,
        field: &str,
        repo: &str,
        revision: &str,
    ) -> Result<Arc<dyn crate::Tree>, GenError> {
        self.inputs
            .trees
            .get(&(repo.to_string(), revision.to_string()))
            .cloned()
            .ok_or_else(|| GenError::NeedTree {
                field: field.to_string(),
                repo: repo.to_string(),
                revision: revision.to_string(),
            })
    }
}

/// The parameter sets of one generator at `field`
/// (`spec.generators[0]`).
pub(crate) fn generate(
    env: &Env,
    generator: &ApplicationSetGenerator,
    field: &str,
) -> Result<Vec<Generated>, GenError> {
    let mut kinds = Vec::new();
    let mut out: Vec<Generated> = Vec::new();
    if let Some(list) = &generator.list {
        kinds.push("list");
        out = with_template(
            list::generate(env, list, &format!("{field}.list"))?,
            &list.template,
        );
    }
    if let Some(clusters) = &generator.clusters {
        kinds.push("clusters");
        out = with_template(
            clusters::generate(env, clusters, &format!("{field}.clusters"))?,
            &clusters.template,
        );
    }
    if let Some(git) = &generator.git {
        kinds.push("git");
        out = with_template(
            git::generate(env, git, &format!("{field}.git"))?,
            &git.template,
        );
    }
    if let Some(matrix) = &generator.matrix {
        kinds.push("matrix");
        out = with_template(
            matrix_generate(env, &matrix.generators, &format!("{field}.matrix"))?,
            &matrix.template,
        );
    }
    if let Some(merge) = &generator.merge {
        kinds.push("merge");
        let keys = merge.merge_keys.clone().unwrap_or_default();
        out = with_template(
            merge_generate(env, &merge.generators, &keys, &format!("{field}.merge"))?,
            &merge.template,
        );
    }
    for (name, set) in [
        ("scmProvider", generator.scm_provider.is_some()),
        (
            "clusterDecisionResource",
            generator.cluster_decision_resource.is_some(),
        ),
        ("pullRequest", generator.pull_request.is_some()),
        ("plugin", generator.plugin.is_some()),
    ] {
        if set {
            return Err(invalid(
                &format!("{field}.{name}"),
                format!("the {name} generator is not supported by gyro"),
            ));
        }
    }
    match kinds.len() {
        0 => {
            return Err(invalid(
                field,
                "no generator is set (list, clusters, git, matrix or merge)",
            ));
        }
        1 => {}
        _ => {
            return Err(invalid(
                field,
                format!(
                    "more than one generator is set ({}); use one per entry",
                    kinds.join(", ")
                ),
            ));
        }
    }
    if let Some(selector) = &generator.selector {
        let mut kept = Vec::new();
        for g in out {
            if matches(selector, &g.params).map_err(|e| invalid(&format!("{field}.selector"), e))? {
                kept.push(g);
            }
        }
        out = kept;
    }
    Ok(out)
}

/// Adds a generator's `values`, each rendered with the parameters of the
/// set it joins: under `values` with Go templates, as `values.<key>`
/// otherwise.
fn add_values(
    env: &Env,
    values: &BTreeMap<String, String>,
    params: &mut Params,
    field: &str,
) -> Result<(), GenError> {
    let data = if env.mode.go {
        params.clone()
    } else {
        flatten(params)
    };
    let mut rendered = Map::new();
    for (k, v) in values {
        let v = env
            .mode
            .string(v, &data)
            .map_err(|e| invalid(&format!("{field}.values.{k}"), e))?;
        rendered.insert(k.clone(), Value::String(v));
    }
    if env.mode.go {
        params.insert("values".into(), Value::Object(rendered));
    } else {
        params.extend(
            rendered
                .into_iter()
                .map(|(k, v)| (format!("values.{k}"), v)),
        );
    }
    Ok(())
}

fn with_template(params: Vec<Params>, template: &Option<Value>) -> Vec<Generated> {
    params
        .into_iter()
        .map(|params| Generated {
            params,
            template: template.clone(),
        })
        .collect()
}

/// Reads a nested (free-form) generator.
fn child(value: &Value, field: &str) -> Result<ApplicationSetGenerator, GenError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let at = e.path().to_string();
        let field = if at == "." {
            field.to_string()
        } else {
            format!("{field}.{at}")
        };
        invalid(&field, e.into_inner().to_string())
    })
}

/// A nested generator with a parent's parameters filled in (Argo CD
/// interpolates a matrix's second child with each set of the first).
/// `template` and `values` are left for later, when the child's own
/// parameters are known.
fn interpolate(env: &Env, value: &Value, params: &Params, field: &str) -> Result<Value, GenError> {
    fn walk(
        env: &Env,
        v: &Value,
        params: &Params,
        field: &str,
        top: bool,
    ) -> Result<Value, GenError> {
        Ok(match v {
            Value::String(s) => {
                Value::String(env.mode.string(s, params).map_err(|e| invalid(field, e))?)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| walk(env, x, params, &format!("{field}[{i}]"), false))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    let keep = k == "template" || k == "values" || (top && k == "selector");
                    let x = if keep {
                        x.clone()
                    } else {
                        walk(env, x, params, &format!("{field}.{k}"), false)?
                    };
                    out.insert(k.clone(), x);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    let params = if env.mode.go {
        params.clone()
    } else {
        flatten(params)
    };
    // Under each generator kind's object, skip the same keys.
    let mut out = Map::new();
    for (kind, spec) in value.as_object().into_iter().flatten() {
        let spec = if kind == "selector" {
            spec.clone()
        } else {
            walk(env, spec, &params, &format!("{field}.{kind}"), true)?
        };
        out.insert(kind.clone(), spec);
    }
    Ok(Value::Object(out))
}

fn matrix_generate(env: &Env, children: &[Value], field: &str) -> Result<Vec<Params>, GenError> {
    if children.len() != 2 {
        return Err(invalid(
            &format!("{field}.generators"),
            format!(
                "a matrix needs exactly 2 generators, found {}",
                children.len()
            ),
        ));
    }
    let first_field = format!("{field}.generators[0]");
    let second_field = format!("{field}.generators[1]");
    let first = generate(env, &child(&children[0], &first_field)?, &first_field)?;
    let mut out = Vec::new();
    for a in first {
        let second = interpolate(env, &children[1], &a.params, &second_field)?;
        for b in generate(env, &child(&second, &second_field)?, &second_field)? {
            out.push(combine(env.mode.go, &a.params, &b.params));
        }
    }
    Ok(out)
}

/// `b`'s parameters over `a`'s; in the Go template form nested maps merge.
fn combine(go: bool, a: &Params, b: &Params) -> Params {
    let mut out = a.clone();
    for (k, v) in b {
        match (out.get_mut(k), v) {
            (Some(Value::Object(existing)), Value::Object(new)) if go => {
                *existing = combine(go, existing, new);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn merge_generate(
    env: &Env,
    children: &[Value],
    keys: &[String],
    field: &str,
) -> Result<Vec<Params>, GenError> {
    if keys.is_empty() {
        return Err(invalid(
            &format!("{field}.mergeKeys"),
            "a merge needs mergeKeys",
        ));
    }
    if children.len() < 2 {
        return Err(invalid(
            &format!("{field}.generators"),
            format!(
                "a merge needs at least 2 generators, found {}",
                children.len()
            ),
        ));
    }
    let key_of = |params: &Params, child_field: &str| -> Result<Vec<String>, GenError> {
        let flat = flatten(params);
        keys.iter()
            .map(|k| {
                flat.get(k).map(scalar).ok_or_else(|| {
                    invalid(
                        child_field,
                        format!("a parameter set lacks the merge key {k:?}"),
                    )
                })
            })
            .collect()
    };
    let mut base: Vec<Params> = Vec::new();
    let mut index: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for (i, value) in children.iter().enumerate() {
        let child_field = format!("{field}.generators[{i}]");
        let sets = generate(env, &child(value, &child_field)?, &child_field)?;
        if i == 0 {
            for g in sets {
                let key = key_of(&g.params, &child_field)?;
                if index.contains_key(&key) {
                    return Err(invalid(
                        &child_field,
                        format!("two parameter sets have the same merge keys {key:?}"),
                    ));
                }
                index.insert(key, base.len());
                base.push(g.params);
            }
            continue;
        }
        for g in sets {
            let key = key_of(&g.params, &child_field)?;
            if let Some(&at) = index.get(&key) {
                base[at] = combine(env.mode.go, &base[at], &g.params);
            }
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryTree;
    use serde_json::json;

    fn env_inputs() -> Inputs {
        let mut inputs = Inputs::default();
        inputs.trees.insert(
            ("https://git.example/r.git".into(), "HEAD".into()),
            Arc::new(MemoryTree::from_files([
                ("apps/web/kustomization.yaml", ""),
                ("apps/api/kustomization.yaml", ""),
                ("apps/old/kustomization.yaml", ""),
            ])),
        );
        inputs.clusters = vec![
            Cluster {
                name: "prod".into(),
                server: "https://prod".into(),
                labels: [("env".to_string(), "prod".to_string())].into(),
                ..Default::default()
            },
            Cluster {
                name: "dev".into(),
                server: "https://dev".into(),
                labels: [("env".to_string(), "dev".to_string())].into(),
                ..Default::default()
            },
        ];
        inputs
    }

    fn run(spec: Value, go: bool, inputs: &Inputs) -> Result<Vec<Params>, GenError> {
        let env = Env {
            mode: Mode {
                go,
                options: Default::default(),
            },
            inputs,
        };
        let g: ApplicationSetGenerator = serde_json::from_value(spec).unwrap();
        Ok(generate(&env, &g, "spec.generators[0]")?
            .into_iter()
            .map(|g| g.params)
            .collect())
    }

    #[test]
    fn matrix_of_clusters_and_directories() {
        let inputs = env_inputs();
        let spec = json!({"matrix": {"generators": [
            {"clusters": {"selector": {"matchLabels": {"env": "prod"}}}},
            {"git": {"repoURL": "https://git.example/r.git", "revision": "HEAD",
                     "directories": [{"path": "apps/*"}, {"path": "apps/old", "exclude": true}]}}
        ]}});
        let sets = run(spec, false, &inputs).unwrap();
        let names: Vec<String> = sets
            .iter()
            .map(|p| format!("{}-{}", scalar(&p["name"]), scalar(&p["path.basename"])))
            .collect();
        assert_eq!(names, vec!["prod-api", "prod-web"]);
    }

    #[test]
    fn second_matrix_child_uses_the_first_ones_params() {
        let inputs = env_inputs();
        let spec = json!({"matrix": {"generators": [
            {"list": {"elements": [{"dir": "apps/web"}]}},
            {"git": {"repoURL": "https://git.example/r.git", "revision": "HEAD",
                     "directories": [{"path": "{{.dir}}"}]}}
        ]}});
        let sets = run(spec, true, &inputs).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0]["path"]["basename"], "web");
        assert_eq!(sets[0]["dir"], "apps/web");
    }

    #[test]
    fn merge_overrides_by_key_and_selector_filters() {
        let inputs = env_inputs();
        let spec = json!({"merge": {"mergeKeys": ["name"], "generators": [
            {"clusters": {"values": {"replicas": "1"}}},
            {"list": {"elements": [{"name": "prod", "values.replicas": "3"}, {"name": "other"}]}}
        ]}, "selector": {"matchExpressions": [{"key": "name", "operator": "In", "values": ["prod", "dev"]}]}});
        let sets = run(spec, false, &inputs).unwrap();
        let got: Vec<(String, String)> = sets
            .iter()
            .map(|p| (scalar(&p["name"]), scalar(&p["values.replicas"])))
            .collect();
        assert_eq!(
            got,
            vec![("dev".into(), "1".into()), ("prod".into(), "3".into())]
        );
    }

    #[test]
    fn bad_nesting_names_the_field() {
        let inputs = env_inputs();
        let err = run(
            json!({"matrix": {"generators": [{"list": {"elements": []}}]}}),
            false,
            &inputs,
        )
        .unwrap_err();
        assert!(
            matches!(&err, GenError::Invalid { field, .. } if field == "spec.generators[0].matrix.generators"),
            "{err:?}"
        );
        let err = run(
            json!({"matrix": {"generators": [
                {"list": {"elements": [{"a": "1"}]}},
                {"git": {"repoURL": "https://git.example/r.git", "revision": "HEAD", "directories": [{"path": "["}]}}
            ]}}),
            false,
            &inputs,
        )
        .unwrap_err();
        assert!(
            matches!(&err, GenError::Invalid { field, .. } if field == "spec.generators[0].matrix.generators[1].git.directories[0].path"),
            "{err:?}"
        );
        let err = run(
            json!({"list": {"elements": []}, "clusters": {}}),
            false,
            &inputs,
        )
        .unwrap_err();
        assert!(
            matches!(&err, GenError::Invalid { message, .. } if message.contains("more than one"))
        );
        let err = run(json!({"scmProvider": {}}), false, &inputs).unwrap_err();
        assert!(
            matches!(&err, GenError::Invalid { field, .. } if field == "spec.generators[0].scmProvider")
        );
    }

    #[test]
    fn a_missing_tree_is_asked_for() {
        let inputs = Inputs::default();
        let err = run(
            json!({"git": {"repoURL": "https://other/r.git", "revision": "main", "directories": [{"path": "*"}]}}),
            false,
            &inputs,
        )
        .unwrap_err();
        assert_eq!(
            err,
            GenError::NeedTree {
                field: "spec.generators[0].git".into(),
                repo: "https://other/r.git".into(),
                revision: "main".into()
            }
        );
    }
}
