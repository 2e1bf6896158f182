//! Three-way patches as `kubectl apply` (client-side) computes them: from
//! the configuration applied last time (`original`), the one to apply now
//! (`modified`) and the live object (`current`).
//!
//! The patch is the union of two diffs, as in apimachinery's
//! `CreateThreeWayMergePatch` and `CreateThreeWayJSONMergePatch`:
//!
//! - *deletions*, from `original` to `modified`: what the last apply set
//!   and this one no longer does is removed; nothing else is touched, so a
//!   field someone added by hand (a label, an env entry) survives;
//! - *changes and additions*, from `current` to `modified`: what differs
//!   from the live object is set; fields only the live object has (status,
//!   defaults, other writers' fields) are left alone.
//!
//! Built-in kinds get a strategic merge patch driven by the Kubernetes
//! schema the `render` crate embeds: maps merge, lists with patch strategy
//! `merge` are diffed element by element by merge key (`$patch: delete` for
//! a removed element, `$deleteFromPrimitiveList/<field>` for a removed
//! scalar, `$setElementOrder/<field>` for the order), and maps with
//! strategy `retainKeys` carry `$retainKeys` (so switching a Deployment to
//! `Recreate` clears the defaulted `rollingUpdate`). Kinds the schema does
//! not know (custom resources) get an RFC 7386 JSON merge patch, where
//! lists are replaced whole.
//!
//! Pure: JSON in, JSON out; the API calls live in [`crate::client_side`].

use render::schema::{Schema, SchemaRef};
use serde_json::{Map, Value};

/// The kind of patch a three-way diff produced, and the body to send.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreeWayPatch {
    /// `application/strategic-merge-patch+json` (built-in kinds).
    Strategic(Value),
    /// `application/merge-patch+json` (kinds the schema does not know).
    Merge(Value),
}

impl ThreeWayPatch {
    /// The patch body.
    pub fn body(&self) -> &Value {
        match self {
            ThreeWayPatch::Strategic(v) | ThreeWayPatch::Merge(v) => v,
        }
    }

    /// Whether the patch changes nothing (`{}`): kubectl then sends no
    /// request at all.
    pub fn is_empty(&self) -> bool {
        self.body().as_object().is_none_or(Map::is_empty)
    }
}

/// A list the strategic diff cannot handle; kubectl refuses these too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("field {field}: list elements have different types")]
    MixedList { field: String },
    #[error("field {field}: lists of lists cannot be merged")]
    ListOfLists { field: String },
    #[error("field {field}: element #{index} has no merge key '{key}'")]
    MissingMergeKey {
        field: String,
        index: usize,
        key: String,
    },
    #[error("field {field}: a list of objects with patch strategy merge but no merge key")]
    NoMergeKey { field: String },
}

/// The patch that takes `current` to `modified`, removing what `original`
/// (the last applied configuration, if any) had and `modified` has not.
/// The schema decides the patch type: a strategic merge patch when it
/// knows the object's `apiVersion` and `kind`, a JSON merge patch when not.
pub fn patch(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
    schema: &Schema,
) -> Result<ThreeWayPatch, PatchError> {
    let empty = Map::new();
    let as_map = |v: Option<&Value>| v.and_then(Value::as_object).unwrap_or(&empty).clone();
    let (original, modified, current) = (
        as_map(original),
        as_map(Some(modified)),
        as_map(Some(current)),
    );
    let s = |k: &str| modified.get(k).and_then(Value::as_str).unwrap_or("");
    match schema.for_type(s("apiVersion"), s("kind")) {
        Some(root) => strategic(&original, &modified, &current, root).map(ThreeWayPatch::Strategic),
        None => Ok(ThreeWayPatch::Merge(json_merge(
            &original, &modified, &current,
        ))),
    }
}

/// kubectl's strategic three-way patch for objects described by `root`.
pub fn strategic(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
    root: SchemaRef<'_>,
) -> Result<Value, PatchError> {
    let deletions = Diff {
        changes: false,
        deletions: true,
        retain_keys: false,
    }
    .maps(original, modified, Some(root), "")?;
    let delta = Diff {
        changes: true,
        deletions: false,
        retain_keys: false,
    }
    .maps(current, modified, Some(root), "")?;
    Ok(Value::Object(union(deletions, delta, Some(root))))
}

/// kubectl's JSON merge three-way patch (`CreateThreeWayJSONMergePatch`):
/// the deletions of `original` → `modified` (nulls only) merged with the
/// additions and changes of `current` → `modified` (nulls dropped).
pub fn json_merge(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Value {
    let deletions = keep_nulls(merge_diff(original, modified), true);
    let delta = keep_nulls(merge_diff(current, modified), false);
    Value::Object(union(deletions, delta, None))
}

const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVES: &str = "$deleteFromPrimitiveList/";
const DIRECTIVE: &str = "$patch";

/// One of the two diffs (kubectl's `DiffOptions`): `changes` emits what
/// `modified` adds or changes, `deletions` emits what it removes.
#[derive(Clone, Copy)]
struct Diff {
    changes: bool,
    deletions: bool,
    /// The map being diffed sits under a `retainKeys` strategy.
    retain_keys: bool,
}

impl Diff {
    fn maps(
        self,
        original: &Map<String, Value>,
        modified: &Map<String, Value>,
        schema: Option<SchemaRef<'_>>,
        path: &str,
    ) -> Result<Map<String, Value>, PatchError> {
        let mut patch = Map::new();
        let mut retained = Vec::new();
        for (key, m) in modified {
            if self.retain_keys && !m.is_null() {
                retained.push(Value::String(key.clone()));
            }
            let Some(o) = original.get(key) else {
                if self.changes {
                    patch.insert(key.clone(), m.clone());
                }
                continue;
            };
            let field = schema.and_then(|s| s.field(key));
            let path = format!("{path}.{key}");
            match (o, m) {
                (Value::Object(o), Value::Object(m)) => {
                    let strategy = Strategy::of_map(schema, key, field);
                    if strategy.replace {
                        // kubectl sends a `replace` map whole, changed or not.
                        if self.changes {
                            patch.insert(key.clone(), Value::Object(m.clone()));
                        }
                        continue;
                    }
                    let inner = Diff {
                        retain_keys: strategy.retain_keys,
                        ..self
                    };
                    let sub = inner.maps(o, m, field, &path)?;
                    if !sub.is_empty() {
                        patch.insert(key.clone(), Value::Object(sub));
                    }
                }
                (Value::Array(o), Value::Array(m)) => {
                    self.lists(key, o, m, field, &path, &mut patch)?;
                }
                _ if same_type(o, m) => {
                    if self.changes && !json_eq(o, m) {
                        patch.insert(key.clone(), m.clone());
                    }
                }
                _ => {
                    if self.changes {
                        patch.insert(key.clone(), m.clone());
                    }
                }
            }
        }
        if self.deletions {
            for key in original.keys() {
                if !modified.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
        }
        let dropped = original
            .iter()
            .any(|(k, v)| !v.is_null() && !modified.contains_key(k));
        if !retained.is_empty() && (!patch.is_empty() || dropped) {
            retained.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            patch.insert(RETAIN_KEYS.to_string(), Value::Array(retained));
        }
        Ok(patch)
    }

    /// A list field: merged element by element under patch strategy
    /// `merge`, else replaced when it differs.
    fn lists(
        self,
        key: &str,
        original: &[Value],
        modified: &[Value],
        field: Option<SchemaRef<'_>>,
        path: &str,
        patch: &mut Map<String, Value>,
    ) -> Result<(), PatchError> {
        let Some(field) = field.filter(|f| f.merges_list()) else {
            if self.changes && !json_eq_list(original, modified) {
                patch.insert(key.to_string(), Value::Array(modified.to_vec()));
            }
            return Ok(());
        };
        let inner = Diff {
            retain_keys: Strategy::of(Some(field)).retain_keys,
            ..self
        };
        let merge_key = field.merge_keys().first().map(String::as_str);
        let ListDiff {
            patch: add,
            delete,
            order,
        } = inner.merged_lists(original, modified, field.elements(), merge_key, path)?;
        if !add.is_empty() {
            patch.insert(key.to_string(), Value::Array(add));
        }
        if !delete.is_empty() {
            patch.insert(format!("{DELETE_PRIMITIVES}{key}"), Value::Array(delete));
        }
        if !order.is_empty() {
            patch.insert(format!("{SET_ORDER}{key}"), Value::Array(order));
        }
        Ok(())
    }

    /// kubectl's `diffLists`.
    fn merged_lists(
        self,
        original: &[Value],
        modified: &[Value],
        elements: Option<SchemaRef<'_>>,
        merge_key: Option<&str>,
        path: &str,
    ) -> Result<ListDiff, PatchError> {
        if original.is_empty() {
            if modified.is_empty() || !self.changes {
                return Ok(ListDiff::default());
            }
            return Ok(ListDiff {
                patch: modified.to_vec(),
                ..ListDiff::default()
            });
        }
        let first = original.iter().chain(modified).next();
        if first.is_some_and(Value::is_array) {
            return Err(PatchError::ListOfLists {
                field: path.to_string(),
            });
        }
        let of_maps = first.is_some_and(Value::is_object);
        if original
            .iter()
            .chain(modified)
            .any(|v| v.is_object() != of_maps)
        {
            return Err(PatchError::MixedList {
                field: path.to_string(),
            });
        }
        if !of_maps {
            return Ok(self.scalar_lists(original, modified));
        }
        let key = merge_key.ok_or_else(|| PatchError::NoMergeKey {
            field: path.to_string(),
        })?;
        let keyed = |list: &[Value]| -> Result<Vec<Keyed>, PatchError> {
            let mut out = Vec::with_capacity(list.len());
            for (index, v) in list.iter().enumerate() {
                let map = v.as_object().cloned().unwrap_or_default();
                let value = map
                    .get(key)
                    .cloned()
                    .ok_or_else(|| PatchError::MissingMergeKey {
                        field: path.to_string(),
                        index,
                        key: key.to_string(),
                    })?;
                out.push((key_text(&value), value, map));
            }
            // kubectl walks both lists sorted by the merge key's text.
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        };
        let (o_sorted, m_sorted) = (keyed(original)?, keyed(modified)?);
        let mut changed: Vec<(String, Value)> = Vec::new();
        let mut deletes = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < o_sorted.len() || j < m_sorted.len() {
            let o = o_sorted.get(i);
            let m = m_sorted.get(j);
            match (o, m) {
                (Some(o), Some(m)) if o.0 == m.0 => {
                    let mut sub = self.maps(&o.2, &m.2, elements, &format!("{path}[{}]", m.0))?;
                    if !sub.is_empty() {
                        sub.insert(key.to_string(), m.1.clone());
                        changed.push((m.0.clone(), Value::Object(sub)));
                    }
                    i += 1;
                    j += 1;
                }
                (None, Some(m)) => {
                    if self.changes {
                        changed.push((m.0.clone(), Value::Object(m.2.clone())));
                    }
                    j += 1;
                }
                (Some(o), Some(m)) if o.0 > m.0 => {
                    if self.changes {
                        changed.push((m.0.clone(), Value::Object(m.2.clone())));
                    }
                    j += 1;
                }
                (Some(o), _) => {
                    if self.deletions {
                        let mut directive = Map::new();
                        directive.insert(DIRECTIVE.to_string(), Value::String("delete".into()));
                        directive.insert(key.to_string(), o.1.clone());
                        deletes.push(Value::Object(directive));
                    }
                    i += 1;
                }
                (None, None) => break,
            }
        }
        // Patch elements follow the modified list's order.
        let position = |k: &str| {
            modified
                .iter()
                .position(|v| v.get(key).map(key_text).as_deref() == Some(k))
        };
        changed.sort_by_key(|(k, _)| position(k));
        let mut list: Vec<Value> = changed.into_iter().map(|(_, v)| v).collect();
        list.extend(deletes);
        let same_order = original.len() == modified.len()
            && original
                .iter()
                .zip(modified)
                .all(|(o, m)| o.get(key).map(key_text) == m.get(key).map(key_text));
        let order = if (self.changes && (!list.is_empty() || !same_order))
            || (self.deletions && !list.is_empty())
        {
            modified
                .iter()
                .map(|v| {
                    let mut entry = Map::new();
                    entry.insert(key.to_string(), v.get(key).cloned().unwrap_or(Value::Null));
                    Value::Object(entry)
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(ListDiff {
            patch: list,
            delete: Vec::new(),
            order,
        })
    }

    /// kubectl's `diffListsOfScalars` for merged lists of scalars (such as
    /// `finalizers`): additions, deletions and the order.
    fn scalar_lists(self, original: &[Value], modified: &[Value]) -> ListDiff {
        let sorted = |list: &[Value]| {
            let mut out: Vec<(String, Value)> =
                list.iter().map(|v| (key_text(v), v.clone())).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        };
        let (o, m) = (sorted(original), sorted(modified));
        let (mut add, mut delete) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < o.len() || j < m.len() {
            match (o.get(i), m.get(j)) {
                (Some(a), Some(b)) if a.0 == b.0 => {
                    i += 1;
                    j += 1;
                }
                (None, Some(b)) => {
                    add.push(b.1.clone());
                    j += 1;
                }
                (Some(a), Some(b)) if a.0 > b.0 => {
                    add.push(b.1.clone());
                    j += 1;
                }
                (Some(a), _) => {
                    delete.push(a.1.clone());
                    i += 1;
                }
                (None, None) => break,
            }
        }
        if !self.changes {
            add.clear();
        }
        if !self.deletions {
            delete.clear();
        }
        let position = |v: &Value| modified.iter().position(|m| json_eq(m, v));
        add.sort_by_key(position);
        let order = if (self.deletions && !delete.is_empty())
            || (self.changes && !json_eq_list(original, modified))
        {
            modified.to_vec()
        } else {
            Vec::new()
        };
        ListDiff {
            patch: add,
            delete,
            order,
        }
    }
}

/// kubectl's `diffLists` result for one merged list: the patch list, the
/// scalars to delete and the `$setElementOrder` list.
#[derive(Default)]
struct ListDiff {
    patch: Vec<Value>,
    delete: Vec<Value>,
    order: Vec<Value>,
}

/// A list element with its merge key's text and value.
type Keyed = (String, Value, Map<String, Value>);

/// A field's patch strategy, as far as the diff cares.
#[derive(Default)]
struct Strategy {
    replace: bool,
    retain_keys: bool,
}

/// Map fields whose patch strategy sits beside a `$ref` in the Kubernetes
/// schema. The embedded schema follows kyaml, where a `$ref` replaces the
/// schema it sits in, extensions included, so these strategies are not in
/// it; kubectl reads them from the server's schema.
const STRATEGIES_BESIDE_REFS: &[(&str, &str, &str)] = &[
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        "retainKeys",
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        "selector",
        "replace",
    ),
    (
        "io.k8s.api.policy.v1beta1.PodDisruptionBudgetSpec",
        "selector",
        "replace",
    ),
];

impl Strategy {
    /// The strategy of a list field, from its own schema.
    fn of(field: Option<SchemaRef<'_>>) -> Strategy {
        Strategy::parse(field.and_then(|f| f.patch_strategy()))
    }

    /// The strategy of map field `key` of `parent`.
    fn of_map(parent: Option<SchemaRef<'_>>, key: &str, field: Option<SchemaRef<'_>>) -> Strategy {
        let beside_ref = parent.and_then(|p| p.definition()).and_then(|def| {
            STRATEGIES_BESIDE_REFS
                .iter()
                .find(|(d, k, _)| *d == def && *k == key)
                .map(|(_, _, s)| *s)
        });
        Strategy::parse(beside_ref.or_else(|| field.and_then(|f| f.patch_strategy())))
    }

    fn parse(strategy: Option<&str>) -> Strategy {
        let Some(s) = strategy else {
            return Strategy::default();
        };
        Strategy {
            replace: s.split(',').any(|p| p == "replace"),
            retain_keys: s.split(',').any(|p| p == "retainKeys"),
        }
    }
}

/// Merges patch `b` into patch `a` (kubectl merges its two diffs with the
/// strategic merge itself): maps key by key, merged lists element by
/// element (by merge key), anything else from `b`.
fn union(
    mut a: Map<String, Value>,
    b: Map<String, Value>,
    schema: Option<SchemaRef<'_>>,
) -> Map<String, Value> {
    for (key, bv) in b {
        let field = schema.and_then(|s| s.field(&key));
        let merged = match (a.remove(&key), bv) {
            (Some(Value::Object(av)), Value::Object(bv))
                if !key.starts_with('$') && !Strategy::of_map(schema, &key, field).replace =>
            {
                Value::Object(union(av, bv, field))
            }
            (Some(Value::Array(av)), Value::Array(bv))
                if field.is_some_and(|f| f.merges_list()) =>
            {
                Value::Array(union_lists(av, bv, field))
            }
            (Some(Value::Array(av)), Value::Array(bv)) if key.starts_with(DELETE_PRIMITIVES) => {
                Value::Array(union_lists(av, bv, None))
            }
            (_, bv) => bv,
        };
        a.insert(key, merged);
    }
    a
}

/// Two patch lists of one merged list field as one: `b`'s elements (with
/// `a`'s for the same key merged in), then the rest of `a`'s, as kubectl
/// orders them.
fn union_lists(a: Vec<Value>, b: Vec<Value>, field: Option<SchemaRef<'_>>) -> Vec<Value> {
    let key = field.and_then(|f| f.merge_keys().first().cloned());
    let elements = field.and_then(|f| f.elements());
    let mut rest: Vec<Option<Value>> = a.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(rest.len() + b.len());
    for bv in b {
        let matches = |av: &Value| match (&key, &bv) {
            (Some(key), Value::Object(bm)) => {
                av.get(DIRECTIVE).is_none()
                    && av.get(key.as_str()).is_some()
                    && av.get(key.as_str()) == bm.get(key.as_str())
            }
            _ => json_eq(av, &bv),
        };
        let found = rest
            .iter_mut()
            .find(|av| av.as_ref().is_some_and(matches))
            .and_then(Option::take);
        out.push(match (found, bv) {
            (Some(Value::Object(am)), Value::Object(bm)) => Value::Object(union(am, bm, elements)),
            (_, bv) => bv,
        });
    }
    out.extend(rest.into_iter().flatten());
    out
}

/// RFC 7386 diff (evanphx/json-patch's `CreateMergePatch`): changed and
/// added keys with `modified`'s values, removed keys as null, maps
/// recursively, everything else (lists included) replaced whole.
fn merge_diff(original: &Map<String, Value>, modified: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, m) in modified {
        match (original.get(key), m) {
            (Some(Value::Object(o)), Value::Object(m)) => {
                let sub = merge_diff(o, m);
                if !sub.is_empty() {
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            (Some(o), m) if json_eq(o, m) => {}
            (_, m) => {
                patch.insert(key.clone(), m.clone());
            }
        }
    }
    for key in original.keys() {
        if !modified.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    patch
}

/// apimachinery's `keepOrDeleteNullInObj`: with `keep`, only the nulls
/// (deletions) of a merge patch; without, everything but them. An empty
/// map set on purpose is a value, not an empty patch.
fn keep_nulls(patch: Map<String, Value>, keep: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in patch {
        match value {
            Value::Null if keep => {
                out.insert(key, Value::Null);
            }
            Value::Null => {}
            Value::Object(m) if m.is_empty() => {
                if !keep {
                    out.insert(key, Value::Object(m));
                }
            }
            Value::Object(m) => {
                let sub = keep_nulls(m, keep);
                if !sub.is_empty() {
                    out.insert(key, Value::Object(sub));
                }
            }
            other => {
                if !keep {
                    out.insert(key, other);
                }
            }
        }
    }
    out
}

/// Whether Go's JSON decoding gives both values the same type (numbers
/// are all `float64` there).
fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Deep equality with numbers compared by value (`1` equals `1.0`), as
/// Go's `reflect.DeepEqual` on decoded JSON sees them.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => json_eq_list(x, y),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn json_eq_list(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
}

/// A merge key's value as text (kubectl compares `fmt.Sprintf("%v")`).
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
