//! Filling a template with one parameter set: `{{param}}` substitution
//! (fasttemplate) or Go templates, per-generator template overrides,
//! `templatePatch`, and the resulting Application.

use std::collections::BTreeMap;

use api::{Application, ApplicationSpec};
use kube::api::ObjectMeta;
use serde_json::{Map, Value};

use crate::gotemplate::{self, Options};
use crate::params::{Params, flatten, scalar};

/// How templates are rendered: `goTemplate` and its options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    pub go: bool,
    pub options: Options,
}

impl Mode {
    /// Renders one string with `params`. In the fasttemplate form an
    /// unknown `{{key}}` is left as written, as Argo CD does.
    pub fn string(&self, src: &str, params: &Params) -> Result<String, String> {
        if self.go {
            if !src.contains("{{") {
                return Ok(src.to_string());
            }
            gotemplate::render(src, &Value::Object(params.clone()), self.options)
                .map_err(|e| e.to_string())
        } else {
            Ok(fasttemplate(src, params))
        }
    }

    /// Renders every string of `value` (not object keys), naming the path
    /// of a string that fails.
    pub fn value(
        &self,
        value: &Value,
        params: &Params,
        path: &str,
    ) -> Result<Value, (String, String)> {
        // The fasttemplate form looks values up flat.
        let flat;
        let params = if self.go {
            params
        } else {
            flat = flatten_params(params);
            &flat
        };
        self.walk(value, params, path)
    }

    fn walk(&self, value: &Value, params: &Params, path: &str) -> Result<Value, (String, String)> {
        Ok(match value {
            Value::String(s) => {
                Value::String(self.string(s, params).map_err(|e| (path.to_string(), e))?)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.walk(v, params, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.walk(v, params, &format!("{path}.{k}"))?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// Parameters for the fasttemplate form: already-flat keys are kept,
/// nested values flattened.
pub fn flatten_params(params: &Params) -> Params {
    flatten(params)
}

/// `{{ key }}` replaced with the parameter's value; unknown keys stay.
fn fasttemplate(src: &str, params: &Params) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim();
                match params.get(key) {
                    Some(v) => out.push_str(&scalar(v)),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Merges a per-generator template over the set's: non-empty values of
/// `over` win, objects merge key by key, as Argo CD's template merge does.
pub fn merge_template(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => merge_template(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (b, o) if is_empty(o) => b.clone(),
        (_, o) => o.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// A JSON merge patch (RFC 7386): objects merge, `null` deletes, anything
/// else replaces. (Argo CD applies `templatePatch` as a strategic merge
/// patch; on an Application, whose lists have no merge keys, the two
/// agree.)
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// What the rendered template becomes.
#[derive(Debug)]
pub struct Rendered {
    pub application: Application,
}

/// Renders `template` (the set's template merged with any generator
/// override, as JSON) with `params`, applies `patch` (a `templatePatch`),
/// and reads the result as an Application in `namespace`. `Err` is
/// (field, message).
pub fn application(
    mode: Mode,
    template: &Value,
    patch: Option<&str>,
    params: &Params,
    namespace: &str,
) -> Result<Application, (String, String)> {
    let mut rendered = mode.value(template, params, "spec.template")?;
    if let Some(patch) = patch {
        let text = if mode.go {
            mode.string(patch, params)
        } else {
            Ok(fasttemplate(patch, &flatten_params(params)))
        }
        .map_err(|e| ("spec.templatePatch".to_string(), e))?;
        let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
            (
                "spec.templatePatch".to_string(),
                format!("the rendered patch is not YAML: {e}"),
            )
        })?;
        if !value.is_object() && !value.is_null() {
            return Err((
                "spec.templatePatch".into(),
                "the rendered patch is not a mapping".into(),
            ));
        }
        merge_patch(&mut rendered, &value);
    }
    let meta = rendered.get("metadata").cloned().unwrap_or(Value::Null);
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    check_name(name).map_err(|e| ("spec.template.metadata.name".to_string(), e))?;
    let strings = |key: &str| -> Result<Option<BTreeMap<String, String>>, (String, String)> {
        match meta.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| (format!("spec.template.metadata.{key}"), e.to_string())),
        }
    };
    let finalizers: Option<Vec<String>> = match meta.get("finalizers") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
            (
                "spec.template.metadata.finalizers".to_string(),
                e.to_string(),
            )
        })?),
    };
    let spec_value = rendered.get("spec").cloned().unwrap_or(Value::Null);
    let spec: ApplicationSpec = serde_path_to_error::deserialize(spec_value).map_err(|e| {
        let at = e.path().to_string();
        let field = if at == "." {
            "spec.template.spec".to_string()
        } else {
            format!("spec.template.spec.{at}")
        };
        (field, e.into_inner().to_string())
    })?;
    let app_namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    Ok(Application {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(app_namespace.to_string()),
            labels: strings("labels")?,
            annotations: strings("annotations")?,
            finalizers,
            ..Default::default()
        },
        spec,
        operation: None,
        status: None,
    })
}

/// An Application name must be a DNS subdomain.
fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "the rendered name {name:?} is not a valid Application name (lower-case letters, digits, '-' and '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        v.as_object().cloned().unwrap_or_default()
    }

    fn template() -> Value {
        json!({
            "metadata": {"name": "{{path.basename}}-app", "labels": {"team": "{{team}}"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://example.com/r.git", "path": "{{path}}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{ path.basename }}"}
            }
        })
    }

    #[test]
    fn fasttemplate_substitutes_and_leaves_unknown_keys() {
        let p = params(json!({"path": "apps/web", "path.basename": "web"}));
        let app = application(Mode::default(), &template(), None, &p, "argocd").unwrap();
        assert_eq!(app.metadata.name.as_deref(), Some("web-app"));
        assert_eq!(app.metadata.namespace.as_deref(), Some("argocd"));
        assert_eq!(app.metadata.labels.unwrap()["team"], "{{team}}");
        assert_eq!(app.spec.destination.namespace.as_deref(), Some("web"));
        assert_eq!(app.spec.source.unwrap().path.as_deref(), Some("apps/web"));
    }

    #[test]
    fn template_patch_merges_onto_the_application() {
        let mode = Mode {
            go: true,
            options: Options::default(),
        };
        let tmpl = json!({
            "metadata": {"name": "{{.name}}"},
            "spec": {"project": "default", "destination": {"server": "https://x"}}
        });
        let patch = "spec:\n  syncPolicy:\n    {{- if .auto }}\n    automated: {prune: true}\n    {{- end }}\n    syncOptions: [CreateNamespace=true]\n";
        let p = params(json!({"name": "a", "auto": true}));
        let app = application(mode, &tmpl, Some(patch), &p, "ns").unwrap();
        let policy = app.spec.sync_policy.unwrap();
        assert!(policy.automated.is_some());
        assert_eq!(
            policy.sync_options.unwrap(),
            vec!["CreateNamespace=true".to_string()]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let mode = Mode {
            go: true,
            options: Options {
                missing_key_error: true,
            },
        };
        let tmpl = json!({"metadata": {"name": "{{.cluster}}"}, "spec": {"project": "p", "destination": {}}});
        let (field, msg) = application(mode, &tmpl, None, &params(json!({})), "ns").unwrap_err();
        assert_eq!(field, "spec.template.metadata.name");
        assert!(msg.contains("no entry"), "{msg}");
        let bad_name =
            json!({"metadata": {"name": "Not_OK"}, "spec": {"project": "p", "destination": {}}});
        let (field, _) =
            application(Mode::default(), &bad_name, None, &params(json!({})), "ns").unwrap_err();
        assert_eq!(field, "spec.template.metadata.name");
        let bad_spec =
            json!({"metadata": {"name": "ok"}, "spec": {"project": 3, "destination": {}}});
        let (field, _) =
            application(Mode::default(), &bad_spec, None, &params(json!({})), "ns").unwrap_err();
        assert_eq!(field, "spec.template.spec.project");
    }

    #[test]
    fn generator_templates_override_non_empty_fields() {
        let merged = merge_template(
            &json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"project": "p"}}),
            &json!({"metadata": {"name": "", "labels": {"y": "2"}}, "spec": {"project": "q"}}),
        );
        assert_eq!(
            merged,
            json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "spec": {"project": "q"}})
        );
    }
}
