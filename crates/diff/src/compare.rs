//! The comparison itself: normalized, rule-stripped predicted and live
//! objects, their changed paths, and a unified diff of their YAML.

use serde_json::Value;
use similar::TextDiff;

use crate::ObjectRef;
use crate::ignore::IgnoreRules;
use crate::normalize::normalize;
use crate::path::{Path, Segment};

/// The outcome of comparing one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDiff {
    /// Applying the desired object would change nothing that is compared.
    pub synced: bool,
    /// The live object does not exist (OutOfSync, "missing" in Argo CD).
    pub missing: bool,
    /// `--- live` / `+++ desired` unified diff of the normalized objects as
    /// YAML; empty when synced.
    pub unified: String,
    /// JSON pointers of every differing leaf (an added or removed field or
    /// list item is named once, not by its contents), sorted.
    pub changed_paths: Vec<String>,
}

/// Compares `predicted` (the server-side-apply dry run of the desired
/// object, see [`crate::predict()`]) with `live`. `live` is `Value::Null` when
/// the object does not exist. Both sides are normalized and stripped of the
/// fields `rules` ignore; managed-fields rules read ownership from `live`.
pub fn diff(predicted: &Value, live: &Value, rules: &IgnoreRules) -> ResourceDiff {
    let live_opt = (!live.is_null()).then_some(live);
    let id = ObjectRef::of(predicted)
        .or_else(|| live_opt.and_then(ObjectRef::of))
        .unwrap_or_default();
    let resolved = rules.resolve(&id, live_opt);
    let mut want = normalize(predicted);
    resolved.strip(&mut want, &id);
    let Some(live) = live_opt else {
        return ResourceDiff {
            synced: false,
            missing: true,
            unified: unified("", &render::yaml::to_yaml(&want)),
            changed_paths: Vec::new(),
        };
    };
    let mut have = normalize(live);
    resolved.strip(&mut have, &id);
    let mut changed = Vec::new();
    changed_paths(&have, &want, &Path::default(), &mut changed);
    if changed.is_empty() {
        return ResourceDiff {
            synced: true,
            missing: false,
            unified: String::new(),
            changed_paths: changed,
        };
    }
    changed.sort();
    let text = unified(&render::yaml::to_yaml(&have), &render::yaml::to_yaml(&want));
    ResourceDiff {
        synced: false,
        missing: false,
        unified: text,
        changed_paths: changed,
    }
}

/// Whether `predicted` was computed from this very `live` object (same
/// `metadata.resourceVersion`; a dry run does not bump it). When another
/// writer changed the object between the dry run and the read of live (a
/// controller bumping an annotation, say), fields gyro does not own may
/// differ for that reason alone: the caller should compare again rather
/// than report drift.
pub fn same_revision(predicted: &Value, live: &Value) -> bool {
    let rv = |v: &Value| {
        v.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    rv(predicted).is_some() && rv(predicted) == rv(live)
}

fn unified(live: &str, desired: &str) -> String {
    TextDiff::from_lines(live, desired)
        .unified_diff()
        .context_radius(3)
        .header("live", "desired")
        .to_string()
}

/// The JSON pointers where `a` and `b` differ. Numbers compare by value
/// (`1` and `1.0` are the same quantity to the API server).
pub fn changed_paths(a: &Value, b: &Value, at: &Path, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = at.child(Segment::Key(k.clone()));
                match y.get(k) {
                    Some(vb) => changed_paths(va, vb, &p, out),
                    None => out.push(p.to_string()),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(at.child(Segment::Key(k.clone())).to_string());
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let p = at.child(Segment::Index(i));
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => changed_paths(va, vb, &p, out),
                    _ => out.push(p.to_string()),
                }
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a == b => {}
        _ => out.push(at.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IgnoreDifference;
    use serde_json::json;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": data})
    }

    #[test]
    fn equal_after_normalization_is_synced() {
        let predicted = cm(json!({"a": "1"}));
        let mut live = cm(json!({"a": "1"}));
        live["metadata"]["resourceVersion"] = json!("99");
        live["metadata"]["managedFields"] = json!([{"manager": "gyro"}]);
        let d = diff(&predicted, &live, &IgnoreRules::none());
        assert!(d.synced, "{d:?}");
        assert!(d.unified.is_empty() && d.changed_paths.is_empty());
    }

    #[test]
    fn changed_added_and_removed_fields_are_named() {
        let d = diff(
            &cm(json!({"a": "2", "new": "x", "list": [1, 2]})),
            &cm(json!({"a": "1", "old": "y", "list": [1]})),
            &IgnoreRules::none(),
        );
        assert!(!d.synced && !d.missing);
        assert_eq!(
            d.changed_paths,
            ["/data/a", "/data/list/1", "/data/new", "/data/old"]
        );
        assert!(
            d.unified.starts_with("--- live\n+++ desired\n"),
            "{}",
            d.unified
        );
        assert!(
            d.unified.contains("-  a: \"1\"\n") && d.unified.contains("+  a: \"2\"\n"),
            "{}",
            d.unified
        );
    }

    #[test]
    fn absent_live_is_missing() {
        let d = diff(&cm(json!({"a": "1"})), &Value::Null, &IgnoreRules::none());
        assert!(!d.synced && d.missing);
        assert!(d.unified.contains("+kind: ConfigMap"), "{}", d.unified);
    }

    #[test]
    fn ignored_fields_do_not_count() {
        let rules = IgnoreRules::new([IgnoreDifference {
            kind: "ConfigMap".into(),
            json_pointers: vec!["/data/a".into()],
            ..Default::default()
        }])
        .unwrap();
        let d = diff(
            &cm(json!({"a": "2", "b": "1"})),
            &cm(json!({"a": "1", "b": "1"})),
            &rules,
        );
        assert!(d.synced, "{d:?}");
    }

    #[test]
    fn numbers_compare_by_value() {
        let mut out = Vec::new();
        changed_paths(
            &json!({"x": 1}),
            &json!({"x": 1.0}),
            &Path::default(),
            &mut out,
        );
        assert!(out.is_empty());
    }
}
