//! The `git` generator: directories of a repository matching path globs
//! (minus `exclude: true` ones), or JSON/YAML files whose contents become
//! parameters.
//!
//! Globs follow Go's `path.Match`, as Argo CD's do by default: `*` does
//! not cross `/`; `**` crosses directories.

use api::GitGenerator;
use globset::GlobMatcher;
use serde_json::{Map, Value};

use super::{Env, GenError, invalid};
use crate::params::{Params, flatten, path_params};

pub(super) fn generate(
    env: &Env,
    spec: &GitGenerator,
    field: &str,
) -> Result<Vec<Params>, GenError> {
    if spec.repo_url.is_empty() {
        return Err(invalid(&format!("{field}.repoURL"), "repoURL is required"));
    }
    let revision = if spec.revision.is_empty() {
        "HEAD"
    } else {
        spec.revision.as_str()
    };
    let (dirs, files) = (spec.directories.as_deref(), spec.files.as_deref());
    if dirs.is_some() == files.is_some() {
        return Err(invalid(field, "set exactly one of directories and files"));
    }
    let tree = env.tree(field, &spec.repo_url, revision)?;
    let prefix = spec.path_param_prefix.as_deref();
    let mut out = Vec::new();
    if let Some(items) = dirs {
        let (include, exclude) = globs(
            items
                .iter()
                .map(|d| (d.path.as_str(), d.exclude == Some(true))),
            &format!("{field}.directories"),
        )?;
        for dir in tree.directories() {
            if include.iter().any(|g| g.is_match(&dir)) && !exclude.iter().any(|g| g.is_match(&dir))
            {
                out.push(path_params(&dir, None, prefix, env.mode.go));
            }
        }
    }
    if let Some(items) = files {
        let (include, exclude) = globs(
            items
                .iter()
                .map(|f| (f.path.as_str(), f.exclude == Some(true))),
            &format!("{field}.files"),
        )?;
        for file in tree.files() {
            if !include.iter().any(|g| g.is_match(&file))
                || exclude.iter().any(|g| g.is_match(&file))
            {
                continue;
            }
            let bytes = tree
                .read(&file)
                .map_err(|e| invalid(&format!("{field}.files"), e))?;
            let text = String::from_utf8_lossy(&bytes);
            let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
                invalid(
                    &format!("{field}.files"),
                    format!("{file}: not JSON or YAML: {e}"),
                )
            })?;
            let objects = match value {
                Value::Object(m) => vec![m],
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Value::Object(m) => Ok(m),
                        _ => Err(invalid(
                            &format!("{field}.files"),
                            format!("{file}: a list item is not a mapping"),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Value::Null => vec![Map::new()],
                _ => {
                    return Err(invalid(
                        &format!("{field}.files"),
                        format!("{file}: not a mapping"),
                    ));
                }
            };
            let (dir, name) = file.rsplit_once('/').unwrap_or(("", file.as_str()));
            for object in objects {
                let mut params = if env.mode.go {
                    object
                } else {
                    flatten(&object)
                };
                params.extend(path_params(dir, Some(name), prefix, env.mode.go));
                out.push(params);
            }
        }
    }
    if let Some(values) = &spec.values {
        for params in &mut out {
            super::add_values(env, values, params, field)?;
        }
    }
    Ok(out)
}

type Globs = (Vec<GlobMatcher>, Vec<GlobMatcher>);

fn globs<'a>(items: impl Iterator<Item = (&'a str, bool)>, field: &str) -> Result<Globs, GenError> {
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for (i, (path, excluded)) in items.enumerate() {
        let glob = globset::GlobBuilder::new(path)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                invalid(
                    &format!("{field}[{i}].path"),
                    format!("bad glob {path:?}: {e}"),
                )
            })?
            .compile_matcher();
        if excluded {
            exclude.push(glob);
        } else {
            include.push(glob);
        }
    }
    Ok((include, exclude))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::render::Mode;
    use crate::{Inputs, MemoryTree};
    use serde_json::json;

    fn inputs() -> Inputs {
        let mut inputs = Inputs::default();
        inputs.trees.insert(
            ("https://r".into(), "HEAD".into()),
            Arc::new(MemoryTree::from_files([
                ("apps/a/x.yaml", ""),
                ("apps/b/sub/y.yaml", ""),
                (
                    "clusters/eu/config.json",
                    "{\"cluster\": {\"name\": \"eu\", \"zones\": [\"a\", \"b\"]}}",
                ),
                (
                    "clusters/us/config.json",
                    "- cluster: {name: us1}\n- cluster: {name: us2}\n",
                ),
            ])),
        );
        inputs
    }

    #[test]
    fn directories_match_one_level_per_star_and_exclude() {
        let inputs = inputs();
        let env = Env {
            mode: Mode::default(),
            inputs: &inputs,
        };
        let spec: GitGenerator = serde_json::from_value(json!({
            "repoURL": "https://r", "directories": [{"path": "apps/*"}, {"path": "apps/b", "exclude": true}]
        }))
        .unwrap();
        let sets = generate(&env, &spec, "g").unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0]["path"], "apps/a");
        let deep: GitGenerator = serde_json::from_value(json!({
            "repoURL": "https://r", "directories": [{"path": "apps/**"}]
        }))
        .unwrap();
        assert_eq!(generate(&env, &deep, "g").unwrap().len(), 3);
    }

    #[test]
    fn files_flatten_their_contents_with_path_params() {
        let inputs = inputs();
        let flat = Env {
            mode: Mode::default(),
            inputs: &inputs,
        };
        let spec: GitGenerator = serde_json::from_value(json!({
            "repoURL": "https://r", "files": [{"path": "clusters/**/config.json"}],
            "values": {"who": "{{cluster.name}}"}
        }))
        .unwrap();
        let sets = generate(&flat, &spec, "g").unwrap();
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0]["cluster.name"], "eu");
        assert_eq!(sets[0]["cluster.zones.1"], "b");
        assert_eq!(sets[0]["path"], "clusters/eu");
        assert_eq!(sets[0]["path.filename"], "config.json");
        assert_eq!(sets[0]["path[1]"], "eu");
        assert_eq!(sets[0]["values.who"], "eu");
        assert_eq!(sets[2]["cluster.name"], "us2");
        let go = Env {
            mode: Mode {
                go: true,
                options: Default::default(),
            },
            inputs: &inputs,
        };
        let spec: GitGenerator = serde_json::from_value(json!({
            "repoURL": "https://r", "files": [{"path": "clusters/**/config.json"}],
            "values": {"who": "{{.cluster.name}}"}
        }))
        .unwrap();
        let sets = generate(&go, &spec, "g").unwrap();
        assert_eq!(sets[0]["values"]["who"], "eu");
        assert_eq!(sets[0]["cluster"]["zones"], json!(["a", "b"]));
        assert_eq!(sets[0]["path"]["basename"], "eu");
    }
}
