//! Parameter sets: what a generator yields for each Application, and the
//! helpers every generator shares (name normalisation, flattening nested
//! values into `a.b.c` keys, label selectors over parameters).

use std::collections::BTreeMap;

use api::LabelSelector;
use serde_json::{Map, Value};

/// One parameter set. With `goTemplate: false` the keys are flat
/// (`path.basename`) and the values strings; with `goTemplate: true` values
/// nest (`.path.basename`).
pub type Params = Map<String, Value>;

/// Argo CD's name sanitising (`path.basenameNormalized`,
/// `nameNormalized`, the `normalize` template function): lower case,
/// characters other than `a-z 0-9 - .` become `-`, at most 253
/// characters, no leading or trailing `-` or `.`.
pub fn normalize(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(253)
        .collect();
    lowered.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// Flattens nested values into dotted keys (`a.b.c`, list items as
/// `a.0`), as Argo CD does for the fasttemplate form; scalars become
/// strings.
pub fn flatten(params: &Params) -> Params {
    let mut out = Map::new();
    for (key, value) in params {
        flatten_into(&mut out, key, value);
    }
    out
}

fn flatten_into(out: &mut Params, prefix: &str, value: &Value) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten_into(out, &format!("{prefix}.{k}"), v);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten_into(out, &format!("{prefix}.{i}"), v);
            }
        }
        other => {
            out.insert(prefix.to_string(), Value::String(scalar(other)));
        }
    }
}

/// A parameter value as text (strings unquoted).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether a parameter set matches a generator's `selector`: the
/// parameters are flattened and compared as labels.
pub fn matches(selector: &LabelSelector, params: &Params) -> Result<bool, String> {
    let flat: BTreeMap<String, String> = flatten(params)
        .into_iter()
        .map(|(k, v)| (k, scalar(&v)))
        .collect();
    selector_matches(selector, &flat)
}

/// A label selector applied to a map of labels. `Err` for an unknown
/// operator or an `In`/`NotIn` without values.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
        let values = expr.values.clone().unwrap_or_default();
        let found = labels.get(&expr.key);
        let ok = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "matchExpressions[{i}]: operator {} needs values",
                    expr.operator
                ));
            }
            "In" => found.is_some_and(|v| values.contains(v)),
            "NotIn" => found.is_none_or(|v| !values.contains(v)),
            "Exists" => found.is_some(),
            "DoesNotExist" => found.is_none(),
            other => {
                return Err(format!(
                    "matchExpressions[{i}].operator: unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"
                ));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The parameters describing a repository path, as the git generator
/// names them, under `prefix` (`pathParamPrefix`) when given. `file` is
/// the file name for the files generator.
pub fn path_params(dir: &str, file: Option<&str>, prefix: Option<&str>, go: bool) -> Params {
    let key = match prefix {
        Some(p) if !p.is_empty() => format!("{p}.path"),
        _ => "path".to_string(),
    };
    let segments: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let basename = segments.last().copied().unwrap_or(".");
    let mut out = Map::new();
    if go {
        let mut path = Map::new();
        path.insert("path".into(), dir.into());
        path.insert("basename".into(), basename.into());
        path.insert("basenameNormalized".into(), normalize(basename).into());
        if let Some(file) = file {
            path.insert("filename".into(), file.into());
            path.insert("filenameNormalized".into(), normalize(file).into());
        }
        path.insert(
            "segments".into(),
            Value::Array(segments.iter().map(|s| Value::from(*s)).collect()),
        );
        match prefix {
            Some(p) if !p.is_empty() => {
                let mut wrapper = Map::new();
                wrapper.insert("path".into(), Value::Object(path));
                out.insert(p.to_string(), Value::Object(wrapper));
            }
            _ => {
                out.insert("path".into(), Value::Object(path));
            }
        }
    } else {
        out.insert(key.clone(), dir.into());
        out.insert(format!("{key}.basename"), basename.into());
        out.insert(
            format!("{key}.basenameNormalized"),
            normalize(basename).into(),
        );
        if let Some(file) = file {
            out.insert(format!("{key}.filename"), file.into());
            out.insert(format!("{key}.filenameNormalized"), normalize(file).into());
        }
        for (i, s) in segments.iter().enumerate() {
            out.insert(format!("{key}[{i}]"), (*s).into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::LabelSelectorRequirement;
    use serde_json::json;

    fn obj(v: Value) -> Params {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn normalize_makes_dns_names() {
        assert_eq!(normalize("Guest_Book"), "guest-book");
        assert_eq!(normalize("-a.b-"), "a.b");
        assert_eq!(normalize(&"x".repeat(300)).len(), 253);
    }

    #[test]
    fn flatten_uses_dots_and_indices() {
        let flat = flatten(&obj(json!({"a": {"b": 1, "c": ["x", "y"]}, "d": true})));
        assert_eq!(
            Value::Object(flat),
            json!({"a.b": "1", "a.c.0": "x", "a.c.1": "y", "d": "true"})
        );
    }

    #[test]
    fn selectors_match_flattened_params() {
        let params = obj(json!({"metadata": {"labels": {"env": "prod"}}, "name": "a"}));
        let by_label = LabelSelector {
            match_labels: Some([("metadata.labels.env".into(), "prod".into())].into()),
            match_expressions: None,
        };
        assert_eq!(matches(&by_label, &params), Ok(true));
        let not_in = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "name".into(),
                operator: "NotIn".into(),
                values: Some(vec!["a".into()]),
            }]),
        };
        assert_eq!(matches(&not_in, &params), Ok(false));
        let bad = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "name".into(),
                operator: "Near".into(),
                values: None,
            }]),
        };
        assert!(matches(&bad, &params).unwrap_err().contains("Near"));
    }

    #[test]
    fn path_params_in_both_forms() {
        let flat = path_params("apps/guest_book", None, None, false);
        assert_eq!(flat["path"], "apps/guest_book");
        assert_eq!(flat["path.basename"], "guest_book");
        assert_eq!(flat["path.basenameNormalized"], "guest-book");
        assert_eq!(flat["path[0]"], "apps");
        assert_eq!(flat["path[1]"], "guest_book");
        let go = path_params("c/d", Some("config.json"), Some("app"), true);
        assert_eq!(go["app"]["path"]["filename"], "config.json");
        assert_eq!(go["app"]["path"]["segments"], json!(["c", "d"]));
    }
}
