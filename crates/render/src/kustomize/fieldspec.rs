//! Field specs: "this field of that kind", the way kustomize's transformers
//! say where labels, names, images and references live
//! (`path: spec/template/metadata/labels, kind: Deployment, create: true`).

use serde::Deserialize;

use super::resource::{Gvk, Resource};
use crate::{Result, Value};

/// A field path for objects of some kinds. Empty group/version/kind match
/// any.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    /// `/`-separated; `x[]` marks a list (lists are walked either way);
    /// `\/` is a literal slash inside a key.
    pub path: String,
    /// Create the field (and the maps above it) when it is missing.
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// Whether this spec applies to `r`.
    pub fn applies_to(&self, r: &Resource) -> bool {
        self.gvk().selects(&r.gvk())
    }

    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field-spec path on `/`, honouring `\/` escapes and dropping the
/// `[]` list markers.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.strip_suffix("[]").map(str::to_string).unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect()
}

/// What to put at the end of a path that `create` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Map,
    Scalar,
}

/// Calls `f` on every value at `path` in `obj`. Lists on the way are walked
/// element by element. With `create`, missing maps on the way are made and
/// a missing leaf is created as `leaf` (a map, or `null` for a scalar that
/// `f` then fills). A non-map in the way stops the walk for that branch.
pub fn visit(
    obj: &mut Value,
    path: &[String],
    create: Option<Leaf>,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    if let Value::Array(items) = obj {
        for item in items {
            visit(item, path, create, f)?;
        }
        return Ok(());
    }
    let Some((head, rest)) = path.split_first() else {
        return f(obj);
    };
    let Value::Object(map) = obj else {
        return Ok(());
    };
    if !map.contains_key(head.as_str()) || map.get(head.as_str()).is_some_and(Value::is_null) {
        let Some(leaf) = create else { return Ok(()) };
        let new = if rest.is_empty() && leaf == Leaf::Scalar {
            Value::Null
        } else {
            Value::Object(Default::default())
        };
        map.insert(head.clone(), new);
    }
    match map.get_mut(head.as_str()) {
        Some(child) => visit(child, rest, create, f),
        None => Ok(()),
    }
}
