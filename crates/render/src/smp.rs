//! Strategic merge patches as `kustomize build` applies them (the
//! `patches` entries that are not JSON patches, and the legacy
//! `patchesStrategicMerge`).
//!
//! kustomize does not use Kubernetes' strategic merge; it walks both
//! objects with kyaml's merge walker, and the result differs from
//! `kubectl patch` in ways users see:
//!
//! - maps merge key by key; a `null` in the patch deletes the field;
//! - a list merges element by element only where the schema gives it patch
//!   strategy `merge` (containers by name, ports by port and protocol, ...);
//!   every other list, and every list of a kind the schema does not know,
//!   is replaced. An unknown map that has `apiVersion` and `kind` is looked
//!   up by those, so a Deployment embedded in a custom resource merges too;
//! - merged lists put the patch's elements first, in patch order, then the
//!   rest of the object's;
//! - `$patch: delete` and `$patch: replace` work on maps, lists and list
//!   elements, with kyaml's quirks (a replaced list element keeps its old
//!   content); `$patch: replace` on the whole object does nothing, and
//!   `$patch: delete` on it deletes the object ([`Applied::Deleted`]);
//! - `$setElementOrder/...`, `$retainKeys` and `$deleteFromPrimitiveList/...`
//!   are not directives to kustomize: they are copied like any field.
//!
//! The caller restores what kustomize restores after a patch: the object's
//! name and kind (unless the patch options allow changing them) and its
//! namespace.

mod graph;

use graph::{Graph, Id, Kind, Node, wrong_kind};

use crate::schema::{Schema, SchemaRef};
use crate::{Error, Result, Value};

/// What a patch did to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The target holds the patched object.
    Patched,
    /// The patch deleted the object (`$patch: delete` at the top, or every
    /// field set to null): kustomize drops it from the build. The target is
    /// left null or empty.
    Deleted,
}

/// Applies strategic merge patch `patch` to `target`, finding field
/// strategies in `schema` by the target's `apiVersion` and `kind` (or, for
/// a kind the schema lacks, the patch's). On error the target may be
/// partly patched.
pub fn apply(target: &mut Value, patch: &Value, schema: &Schema) -> Result<Applied> {
    let mut merger = Merger {
        graph: Graph::default(),
        schema,
    };
    let dest = merger.graph.add(std::mem::take(target));
    let origin = merger.graph.add(patch.clone());
    let walked = merger.walk(Some(dest), Some(origin), None);
    // kustomize keeps its own node and asks the walk only whether it
    // deleted it, so a `$patch: replace` of the whole object is lost.
    *target = merger.graph.export(dest)?;
    match walked? {
        None => {
            *target = Value::Null;
            Ok(Applied::Deleted)
        }
        Some(_) if target.as_object().is_some_and(|m| m.is_empty()) => Ok(Applied::Deleted),
        Some(_) => Ok(Applied::Patched),
    }
}

/// A `$patch` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

const DIRECTIVE_KEY: &str = "$patch";

struct Merger<'s> {
    graph: Graph,
    schema: &'s Schema,
}

impl<'s> Merger<'s> {
    /// Merges `origin` (from the patch) into `dest` (from the object) and
    /// returns the node to store in dest's place (`None` to remove it).
    fn walk(
        &mut self,
        dest: Option<Id>,
        origin: Option<Id>,
        schema: Option<SchemaRef<'s>>,
    ) -> Result<Option<Id>> {
        let schema = schema.or_else(|| self.schema_by_type([dest, origin]));
        let present = |id: &Id| !self.graph.is_null(*id);
        let Some(first) = dest.iter().chain(origin.iter()).copied().find(present) else {
            return self.walk_map(dest, origin, schema);
        };
        let kind = self.graph.kind(first);
        for id in [dest, origin].into_iter().flatten().filter(present) {
            let other = self.graph.kind(id);
            if other != kind {
                return Err(wrong_kind(kind, other));
            }
        }
        match kind {
            Kind::Map => self.walk_map(dest, origin, schema),
            Kind::Seq => match schema.filter(|s| s.merges_list()) {
                Some(schema) => self.walk_merged_list(dest, origin, schema),
                None => Ok(origin.or(dest)),
            },
            Kind::Scalar => Ok(origin.or(dest)),
        }
    }

    /// The schema of the first map among `ids` whose `apiVersion` and
    /// `kind` the schema knows: how kyaml finds a schema where the field
    /// path gives none.
    fn schema_by_type(&self, ids: [Option<Id>; 2]) -> Option<SchemaRef<'s>> {
        ids.into_iter().flatten().find_map(|id| {
            let text_of = |name| {
                self.graph
                    .field(id, name)
                    .filter(|&v| !self.graph.is_nil_or_empty(v))
                    .map(|v| self.graph.text(v))
            };
            let api_version = text_of("apiVersion")?;
            let kind = text_of("kind")?;
            if api_version.is_empty() || kind.is_empty() {
                return None;
            }
            self.schema.for_type(&api_version, &kind)
        })
    }

    fn walk_map(
        &mut self,
        dest: Option<Id>,
        origin: Option<Id>,
        schema: Option<SchemaRef<'s>>,
    ) -> Result<Option<Id>> {
        let Some(dest) = self.visit_map(dest, origin)? else {
            return Ok(None);
        };
        for name in self.field_names(dest, origin) {
            let field_schema = schema.and_then(|s| s.field(&name));
            let dest_value = self.graph.field(dest, &name);
            let origin_value = origin.and_then(|o| self.graph.field(o, &name));
            let merged = self
                .walk(dest_value, origin_value, field_schema)
                .map_err(|e| within(e, &name))?;
            self.graph.set_field(dest, &name, merged);
        }
        Ok(Some(dest))
    }

    /// The fields of both maps, sorted (the order kyaml visits them in).
    fn field_names(&self, dest: Id, origin: Option<Id>) -> Vec<String> {
        let mut names: Vec<&str> = Vec::new();
        for id in std::iter::once(dest).chain(origin) {
            if let Node::Map(entries) = self.graph.node(id) {
                names.extend(entries.iter().map(|(k, _)| k.as_str()));
            }
        }
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(str::to_string).collect()
    }

    /// Decides which map the fields merge into: the object's (merge), the
    /// patch's (replace, or nothing to merge into), or none (delete).
    fn visit_map(&mut self, dest: Option<Id>, origin: Option<Id>) -> Result<Option<Id>> {
        if dest.is_none_or(|d| self.graph.is_null(d)) {
            // kyaml ignores a bad directive here.
            if self.directive(origin).ok() == Some(Directive::Delete) {
                return Ok(None);
            }
            if origin.is_none() && dest.is_some() {
                // An explicit null in the object, untouched by the patch.
                return Ok(Some(self.graph.push(Node::Null { keep: true })));
            }
            return Ok(origin);
        }
        if origin.is_some_and(|o| self.graph.is_null(o)) {
            return Ok(None);
        }
        Ok(match self.directive(origin)? {
            Directive::Delete => None,
            Directive::Replace => origin,
            Directive::Merge => dest,
        })
    }

    /// Reads and removes the `$patch` directive of a patch map or list (in a
    /// list it is an element of its own, `{$patch: ...}`).
    fn directive(&mut self, origin: Option<Id>) -> Result<Directive> {
        let Some(origin) = origin else {
            return Ok(Directive::Merge);
        };
        match self.graph.kind(origin) {
            Kind::Map => {
                let Some(value) = self.graph.field(origin, DIRECTIVE_KEY) else {
                    return Ok(Directive::Merge);
                };
                let directive = parse_directive(&self.graph.text(value))?;
                self.graph.set_field(origin, DIRECTIVE_KEY, None);
                Ok(directive)
            }
            Kind::Seq => {
                let holder = self
                    .graph
                    .items(origin)
                    .iter()
                    .copied()
                    .find(|&item| self.graph.field(item, DIRECTIVE_KEY).is_some());
                let Some(holder) = holder else {
                    return Ok(Directive::Merge);
                };
                // An element with other fields is an element, not a directive.
                if matches!(self.graph.node(holder), Node::Map(entries) if entries.len() > 1) {
                    return Ok(Directive::Merge);
                }
                let text = match self.graph.field(holder, DIRECTIVE_KEY) {
                    Some(value) => self.graph.text(value).into_owned(),
                    None => return Ok(Directive::Merge),
                };
                let directive = parse_directive(&text)?;
                let keys = [DIRECTIVE_KEY.to_string()];
                self.graph.edit_items(origin, |g, items| {
                    g.set_element(items, None, &keys, &[text])
                })?;
                Ok(directive)
            }
            Kind::Scalar => Err(Error::new(format!(
                "no implemented strategic merge patch strategy for '{}'",
                self.graph.text(origin)
            ))),
        }
    }

    /// Merges a list whose schema says `merge`, element by element.
    fn walk_merged_list(
        &mut self,
        dest: Option<Id>,
        origin: Option<Id>,
        schema: SchemaRef<'s>,
    ) -> Result<Option<Id>> {
        let Some(dest) = self.visit_merged_list(dest, origin)? else {
            return Ok(None);
        };
        let keys = schema.merge_keys();
        let values = self.element_values(dest, origin, keys);
        if !values.is_empty() || !keys.is_empty() {
            return self.merge_elements(values, keys, dest, origin, schema);
        }
        // A list of scalars (finalizers): the values are their own keys.
        let values = self.scalar_values(dest, origin);
        self.merge_elements(values, &[String::new()], dest, origin, schema)
    }

    fn visit_merged_list(&mut self, dest: Option<Id>, origin: Option<Id>) -> Result<Option<Id>> {
        if dest.is_none_or(|d| self.graph.is_null(d)) {
            return Ok(origin);
        }
        if origin.is_some_and(|o| self.graph.is_null(o)) {
            return Ok(None);
        }
        Ok(match self.directive(origin)? {
            Directive::Delete => None,
            Directive::Replace => origin,
            Directive::Merge => dest,
        })
    }

    /// Each element's merge-key texts, the patch's elements first, without
    /// repeats.
    fn element_values(&self, dest: Id, origin: Option<Id>, keys: &[String]) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        for list in origin.into_iter().chain(Some(dest)) {
            for &item in self.graph.items(list) {
                let values: Vec<String> =
                    keys.iter().map(|k| self.graph.key_text(item, k)).collect();
                if !values.is_empty() && !out.contains(&values) {
                    out.push(values);
                }
            }
        }
        out
    }

    fn scalar_values(&self, dest: Id, origin: Option<Id>) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        for list in origin.into_iter().chain(Some(dest)) {
            for &item in self.graph.items(list) {
                let text = self.graph.text(item);
                if !out.iter().any(|v| v[0] == text) {
                    out.push(vec![text.into_owned()]);
                }
            }
        }
        out
    }

    /// kyaml's element merge: each key tuple's elements from both lists
    /// merge into a new list in tuple order; then the object's remaining
    /// elements are folded in, replacing the matching ones. Returns the new
    /// list (or `dest` when there was nothing to merge).
    fn merge_elements(
        &mut self,
        mut values_list: Vec<Vec<String>>,
        keys: &[String],
        dest: Id,
        origin: Option<Id>,
        schema: SchemaRef<'s>,
    ) -> Result<Option<Id>> {
        let element_schema = schema.elements();
        if keys.len() > 1 {
            merge_values(&mut values_list);
        }
        let mut merged: Vec<Id> = Vec::new();
        let mut last_keys: Vec<String> = Vec::new();
        for values in values_list.iter().filter(|v| !v.is_empty()) {
            let (valid_keys, valid_values) = validate_keys(&values_list, values, keys);
            let (find_keys, find_values) = validate_keys(
                std::slice::from_ref(&valid_values),
                &valid_values,
                &valid_keys,
            );
            let dest_elem = self.graph.find_element(dest, &find_keys, &find_values)?;
            let origin_elem = match origin {
                Some(o) => self.graph.find_element(o, &find_keys, &find_values)?,
                None => None,
            };
            let value = self
                .walk(dest_elem, origin_elem, element_schema)
                .map_err(|e| within(e, &element_label(&valid_keys, &valid_values)))?;
            let mut removed = false;
            for (key, key_value) in valid_keys.iter().zip(&valid_values) {
                match value {
                    Some(v) if !self.graph.is_null(v) && !self.graph.is_empty_map(v) => {
                        if self.graph.field(v, key).is_none() && !key_value.is_empty() {
                            self.restore_key(v, key, key_value)?;
                        }
                    }
                    _ => {
                        self.graph.edit_items(dest, |g, items| {
                            g.set_element(items, None, &valid_keys, &valid_values)
                        })?;
                        removed = true;
                    }
                }
            }
            if let (false, Some(v)) = (removed, value) {
                self.graph
                    .set_element(&mut merged, Some(v), &valid_keys, &valid_values)?;
            }
            last_keys = valid_keys;
        }
        if values_list.is_empty() {
            return Ok(Some(dest));
        }
        let rest = self.graph.items(dest).to_vec();
        self.fold_in(&mut merged, &rest, &last_keys)?;
        Ok(Some(self.graph.push(Node::Seq(merged))))
    }

    /// Gives a merged element back the merge key its match was found by.
    fn restore_key(&mut self, elem: Id, key: &str, value: &str) -> Result<()> {
        let kind = self.graph.kind(elem);
        if key.is_empty() {
            // A scalar keeps its text, which is its key.
            return match kind {
                Kind::Scalar => Ok(()),
                other => Err(wrong_kind(Kind::Scalar, other)),
            };
        }
        if kind != Kind::Map {
            return Err(wrong_kind(Kind::Map, kind));
        }
        let node = self
            .graph
            .push(Node::Scalar(Value::String(value.to_string())));
        self.graph.set_field(elem, key, Some(node));
        Ok(())
    }

    /// Folds the object's list elements into `merged`: each replaces the
    /// elements matching its keys, or is appended (kyaml's
    /// `appendListNode`, with its handling of elements lacking a key).
    fn fold_in(&self, merged: &mut Vec<Id>, rest: &[Id], keys: &[String]) -> Result<()> {
        let Some(first_key) = keys.first() else {
            return Err(Error::new(
                "strategic merge patch: list merged without merge keys",
            ));
        };
        for &elem in rest {
            if first_key.is_empty() {
                let text = [self.graph.text(elem).into_owned()];
                self.graph.set_element(merged, Some(elem), keys, &text)?;
                continue;
            }
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                match self.graph.element_field(elem, key)? {
                    Some(v) => values.push(self.graph.text(v).into_owned()),
                    None => merged.push(elem),
                }
            }
            if keys.len() > 1 {
                self.graph.set_element(merged, None, keys, &values)?;
            }
            self.graph.set_element(merged, Some(elem), keys, &values)?;
        }
        Ok(())
    }
}

fn parse_directive(text: &str) -> Result<Directive> {
    match text {
        "merge" => Ok(Directive::Merge),
        "replace" => Ok(Directive::Replace),
        "delete" => Ok(Directive::Delete),
        other => Err(Error::new(format!("unknown patch strategy '{other}'"))),
    }
}

/// Unifies key tuples that agree where both have a value (a port with and
/// one without a protocol), as kyaml does for multi-key lists.
fn merge_values(values_list: &mut [Vec<String>]) {
    for i in 0..values_list.len() {
        let first = values_list[i].clone();
        for j in 0..values_list.len() {
            if let Some(unified) = unify(&first, &values_list[j]) {
                values_list[i] = unified.clone();
                values_list[j] = unified;
            }
        }
    }
}

/// Two tuples unify when they share a value and differ only where one is
/// empty.
fn unify(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut shared = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            shared = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else {
            out.push(if x.is_empty() { y.clone() } else { x.clone() });
        }
    }
    shared.then_some(out)
}

/// Drops the keys no tuple in `values_list` has a value for (all keys stay
/// when none has one), with `values` cut to match.
fn validate_keys(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let valid: Vec<bool> = (0..keys.len())
        .map(|i| {
            values_list
                .iter()
                .any(|v| v.get(i).is_some_and(|s| !s.is_empty()))
        })
        .collect();
    if !valid.contains(&true) {
        return (keys.to_vec(), values.to_vec());
    }
    let kept_keys = keys
        .iter()
        .zip(&valid)
        .filter(|(_, ok)| **ok)
        .map(|(k, _)| k.clone())
        .collect();
    let kept_values = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || valid.get(*i) == Some(&true))
        .map(|(_, v)| v.clone())
        .collect();
    (kept_keys, kept_values)
}

/// `[name=web]`, naming a list element in error messages.
fn element_label(keys: &[String], values: &[String]) -> String {
    let pairs: Vec<String> = keys
        .iter()
        .zip(values)
        .map(|(k, v)| {
            if k.is_empty() {
                v.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("[{}]", pairs.join(","))
}

/// Prefixes an error's field path with the field it happened under.
fn within(mut e: Error, step: &str) -> Error {
    e.field = Some(match e.field.take() {
        None => step.to_string(),
        Some(rest) if rest.starts_with('[') => format!("{step}{rest}"),
        Some(rest) => format!("{step}.{rest}"),
    });
    e
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod oracle_tests;
