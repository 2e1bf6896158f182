//! Field specs: "this field of that kind", the way kustomize's transformers
//! say where labels, names, images and references live
//! (`path: spec/template/metadata/labels, kind: Deployment, create: true`).

use serde::Deserialize;

use super::resource::{Gvk, Resource};
use crate::{Error, Result, Value};

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
    /// `/`-separated; `x[]` marks a list (lists are walked either way, but
    /// a marked list is never created); `\/` is a literal slash in a key.
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

/// Splits a field-spec path on `/`, honouring `\/` escapes. A `[]` suffix
/// (a list field) is kept; [`visit`] understands it.
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
    out.retain(|s| !s.is_empty());
    out
}

/// What to put at the end of a path that `create` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Map,
    Scalar,
}

/// Calls `f` on every value at `path` in `obj`, as kustomize's field-spec
/// filter walks: lists on the way are walked element by element, a null on
/// the way ends that branch, and a scalar on the way is an error. With
/// `create`, missing (or null) fields on the way become maps and a missing
/// leaf is created as `leaf` (a map, or `null` for a scalar that `f` then
/// fills); a segment marked `x[]` is never created, and a null one becomes
/// an empty list, as in kustomize.
pub fn visit(
    obj: &mut Value,
    path: &[String],
    create: Option<Leaf>,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some((head, rest)) = path.split_first() else {
        return f(obj);
    };
    match obj {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                visit(item, path, create, f)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (name, is_seq) = match head.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (head.as_str(), false),
            };
            if name.is_empty() {
                return Err(Error::new("cannot set or create an empty field name"));
            }
            let creating = if is_seq { None } else { create };
            let new_leaf = |leaf: Leaf| {
                if rest.is_empty() && leaf == Leaf::Scalar {
                    Value::Null
                } else {
                    Value::Object(Default::default())
                }
            };
            match (map.get_mut(name), creating) {
                // kustomize turns a null field marked as a list into an
                // empty list while walking through it, creating or not.
                (Some(child), _) if is_seq && child.is_null() => *child = Value::Array(Vec::new()),
                (Some(child), Some(leaf)) if child.is_null() => *child = new_leaf(leaf),
                (Some(_), _) => {}
                (None, Some(leaf)) => {
                    map.insert(name.to_string(), new_leaf(leaf));
                }
                (None, None) => return Ok(()),
            }
            match map.get_mut(name) {
                Some(child) => visit(child, rest, create, f),
                None => Ok(()),
            }
        }
        _ => Err(Error::new(format!(
            "expected a map or list at '{head}' but found a scalar"
        ))),
    }
}
