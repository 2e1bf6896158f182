//! `metadata.managedFields` FieldsV1 sets, parsed into trees and resolved
//! into concrete paths of an object.
//!
//! FieldsV1 is structured-merge-diff's serialised field set: a JSON object
//! whose keys are `f:<field>` (a map field), `k:<json object>` (the list
//! item whose key fields have these values), `v:<json value>` (the set item
//! equal to this value), `i:<index>` (an atomic list's item) and `.` (the
//! node itself is owned, not only some of its children).

use serde_json::{Map, Value};

use crate::path::{Path, Segment};

/// How one step of a FieldsV1 set selects children of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    /// `f:name`: the field `name` of an object.
    Field(String),
    /// `k:{"name":"app"}`: the list items whose fields equal all of these.
    Key(Map<String, Value>),
    /// `v:"x"`: the list items equal to this value.
    Value(Value),
    /// `i:3`: the list item at this index.
    Index(usize),
}

/// A parsed FieldsV1 tree: `member` says the node itself is owned (a leaf
/// `{}` or a `.` key); `children` are the owned parts below it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    pub member: bool,
    pub children: Vec<(Selector, FieldSet)>,
}

/// A FieldsV1 value that is not the shape the API server writes.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FieldsV1Error {
    #[error("FieldsV1 node at {at} is not an object")]
    NotObject { at: String },
    #[error("FieldsV1 key {key:?} at {at} is not f:, k:, v:, i: or .")]
    BadKey { at: String, key: String },
}

impl FieldSet {
    /// Parses one `fieldsV1` object.
    pub fn parse(fields: &Value) -> Result<FieldSet, FieldsV1Error> {
        parse_node(fields, "")
    }

    /// The concrete paths of `value` this set owns. A leaf, and a list item
    /// the manager added (`k:`/`v:`/`i:` with `.`), are taken whole. A map
    /// field with `.` and children is only descended into: the `.` says the
    /// manager created the map (the first annotation, say), not that it owns
    /// the other managers' keys in it. Parts the set names but the value
    /// does not have are skipped.
    pub fn paths_in(&self, value: &Value) -> Vec<Path> {
        let mut out = Vec::new();
        collect(self, value, &Path::default(), &mut out);
        out
    }
}

fn parse_node(node: &Value, at: &str) -> Result<FieldSet, FieldsV1Error> {
    let Value::Object(map) = node else {
        return Err(FieldsV1Error::NotObject { at: at.to_string() });
    };
    let mut set = FieldSet {
        // `{}` is a leaf: the field itself is owned.
        member: map.is_empty(),
        children: Vec::new(),
    };
    for (key, child) in map {
        let bad = || FieldsV1Error::BadKey {
            at: at.to_string(),
            key: key.clone(),
        };
        if key == "." {
            set.member = true;
            continue;
        }
        let (prefix, rest) = key.split_once(':').ok_or_else(bad)?;
        let selector = match prefix {
            "f" => Selector::Field(rest.to_string()),
            "k" => match serde_json::from_str(rest) {
                Ok(Value::Object(fields)) => Selector::Key(fields),
                _ => return Err(bad()),
            },
            "v" => Selector::Value(serde_json::from_str(rest).map_err(|_| bad())?),
            "i" => Selector::Index(rest.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        let child = parse_node(child, &format!("{at}/{key}"))?;
        set.children.push((selector, child));
    }
    Ok(set)
}

fn collect(set: &FieldSet, value: &Value, at: &Path, out: &mut Vec<Path>) {
    for (selector, child) in &set.children {
        for (seg, item) in select(selector, value) {
            let path = at.child(seg);
            let whole = child.children.is_empty() || !matches!(selector, Selector::Field(_));
            if child.member && whole {
                out.push(path);
            } else {
                collect(child, item, &path, out);
            }
        }
    }
}

fn select<'a>(selector: &Selector, value: &'a Value) -> Vec<(Segment, &'a Value)> {
    match (selector, value) {
        (Selector::Field(name), Value::Object(map)) => map
            .get(name)
            .map(|v| vec![(Segment::Key(name.clone()), v)])
            .unwrap_or_default(),
        (Selector::Key(fields), Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                fields
                    .iter()
                    .all(|(k, want)| item.get(k).is_some_and(|got| same(got, want)))
            })
            .map(|(i, item)| (Segment::Index(i), item))
            .collect(),
        (Selector::Value(want), Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, item)| same(item, want))
            .map(|(i, item)| (Segment::Index(i), item))
            .collect(),
        (Selector::Index(i), Value::Array(items)) => items
            .get(*i)
            .map(|v| vec![(Segment::Index(*i), v)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Equality where `80` and `80.0` are the same number, as they are once the
/// API server has decoded them.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The FieldsV1 sets in `live`'s `metadata.managedFields` whose manager is
/// one of `managers` (any operation, any subresource). Entries that do not
/// parse are reported, not skipped silently.
pub fn sets_of_managers(live: &Value, managers: &[String]) -> Result<Vec<FieldSet>, FieldsV1Error> {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries
        .iter()
        .filter(|e| {
            e.get("manager")
                .and_then(Value::as_str)
                .is_some_and(|m| managers.iter().any(|want| want == m))
        })
        .filter_map(|e| e.get("fieldsV1"))
        .map(FieldSet::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(set: &FieldSet, v: &Value) -> Vec<String> {
        set.paths_in(v).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_every_key_form() {
        let set = FieldSet::parse(&json!({
            "f:spec": {
                "f:replicas": {},
                "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
                "f:finalizers": {"v:\"a\"": {}},
                "f:args": {"i:1": {}}
            }
        }))
        .unwrap();
        let spec = &set.children[0].1;
        assert!(!spec.member);
        assert_eq!(spec.children.len(), 4);
        let field = |name: &str| {
            let (_, child) = spec
                .children
                .iter()
                .find(|(s, _)| *s == Selector::Field(name.into()))
                .unwrap();
            child
        };
        assert!(field("replicas").member);
        let (key, item) = &field("ports").children[0];
        assert!(matches!(key, Selector::Key(k) if k["port"] == 80 && k["protocol"] == "TCP"));
        assert!(item.member);
        assert_eq!(
            field("finalizers").children[0].0,
            Selector::Value(json!("a"))
        );
        assert_eq!(field("args").children[0].0, Selector::Index(1));
    }

    #[test]
    fn resolves_against_an_object() {
        let set = FieldSet::parse(&json!({
            "f:spec": {
                "f:replicas": {},
                "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
                "f:finalizers": {"v:\"b\"": {}},
                "f:args": {"i:1": {}},
                "f:absent": {}
            },
            "f:metadata": {"f:labels": {"f:x": {}}}
        }))
        .unwrap();
        let obj = json!({
            "metadata": {"labels": {"x": "1", "y": "2"}},
            "spec": {
                "replicas": 3,
                "ports": [{"port": 443, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}],
                "finalizers": ["a", "b"],
                "args": ["-v", "-q"]
            }
        });
        let mut got = paths(&set, &obj);
        got.sort();
        assert_eq!(
            got,
            [
                "/metadata/labels/x",
                "/spec/args/1",
                "/spec/finalizers/1",
                "/spec/ports/1",
                "/spec/replicas"
            ]
        );
    }

    #[test]
    fn owned_map_is_descended_owned_list_item_taken_whole() {
        let set = FieldSet::parse(&json!({"f:metadata": {"f:annotations": {".": {}, "f:a": {}}}}))
            .unwrap();
        let obj = json!({"metadata": {"annotations": {"a": "1", "b": "2"}}});
        assert_eq!(paths(&set, &obj), ["/metadata/annotations/a"]);
        let alone = FieldSet::parse(&json!({"f:metadata": {"f:annotations": {".": {}}}})).unwrap();
        assert_eq!(paths(&alone, &obj), ["/metadata/annotations"]);
    }

    #[test]
    fn rejects_malformed_sets() {
        assert!(matches!(
            FieldSet::parse(&json!({"x:y": {}})),
            Err(FieldsV1Error::BadKey { .. })
        ));
        assert!(matches!(
            FieldSet::parse(&json!({"f:a": 1})),
            Err(FieldsV1Error::NotObject { .. })
        ));
        assert!(FieldSet::parse(&json!({"k:notjson": {}})).is_err());
    }

    #[test]
    fn picks_sets_by_manager() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "gyro", "operation": "Apply", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:data": {"f:b": {}}}}
        ]}});
        let sets = sets_of_managers(&live, &["kubectl-edit".to_string()]).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(
            paths(&sets[0], &json!({"data": {"a": "1", "b": "2"}})),
            ["/data/b"]
        );
    }

    /// `testdata/deployment-live.yaml` is a Deployment as the API server
    /// returned it: applied as `gyro`, scaled by `kubectl-edit`, a sidecar
    /// added by `injector` (a strategic merge, which put it first), status
    /// and the revision annotation written by the controller manager.
    #[test]
    fn real_managed_fields_resolve_to_each_managers_changes() {
        let text = include_str!("../testdata/deployment-live.yaml");
        let live = render::yaml::parse_value(text, "deployment-live.yaml").unwrap();
        let of = |manager: &str| {
            let sets = sets_of_managers(&live, &[manager.to_string()]).unwrap();
            assert_eq!(sets.len(), 1, "{manager}");
            let mut p = paths(&sets[0], &live);
            p.sort();
            p
        };
        assert_eq!(of("kubectl-edit"), ["/spec/replicas"]);
        assert_eq!(of("injector"), ["/spec/template/spec/containers/0"]);
        assert_eq!(
            of("gyro"),
            [
                "/metadata/labels/app",
                "/spec/selector",
                "/spec/template/metadata/labels/app",
                "/spec/template/spec/containers/1"
            ]
        );
        let kcm = of("kube-controller-manager");
        assert!(
            kcm.contains(&"/metadata/annotations/deployment.kubernetes.io~1revision".to_string())
        );
        assert!(
            kcm.iter()
                .all(|p| p.starts_with("/status/") || p.starts_with("/metadata/annotations/")),
            "{kcm:?}"
        );
    }
}
