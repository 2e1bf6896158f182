//! The node graph a strategic merge works on, and kyaml's list primitives
//! over it.
//!
//! kyaml merges `yaml.Node` pointers: results share nodes with both inputs,
//! fields are overwritten in place, and list elements are matched, replaced
//! and appended by pointer. Which node ends up where decides the output
//! (a list element replaced by `$patch: replace`, for one, is put back by
//! its untouched original), so the nodes here live in an arena, are named
//! by index and are shared the same way.

use std::borrow::Cow;

use crate::{Error, Result, Value};

pub(super) type Id = usize;

#[derive(Debug, Clone)]
pub(super) enum Node {
    /// A null. `keep` marks one a merge must write back rather than read
    /// as "delete this field" (kyaml's persistent null).
    Null {
        keep: bool,
    },
    /// A string, number or boolean.
    Scalar(Value),
    Map(Vec<(String, Id)>),
    Seq(Vec<Id>),
}

impl Default for Node {
    fn default() -> Self {
        Node::Null { keep: false }
    }
}

/// YAML's node kinds; a null is a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar,
    Map,
    Seq,
}

impl Kind {
    fn yaml_name(self) -> &'static str {
        match self {
            Kind::Scalar => "ScalarNode",
            Kind::Map => "MappingNode",
            Kind::Seq => "SequenceNode",
        }
    }
}

/// The error kyaml gives when a node is not of the kind an operation needs.
pub(super) fn wrong_kind(expected: Kind, got: Kind) -> Error {
    Error::new(format!(
        "wrong node kind: expected {} but got {}",
        expected.yaml_name(),
        got.yaml_name()
    ))
}

#[derive(Debug, Default)]
pub(super) struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    /// Moves a value into the graph.
    pub fn add(&mut self, value: Value) -> Id {
        let node = match value {
            Value::Null => Node::Null { keep: false },
            Value::Object(map) => {
                Node::Map(map.into_iter().map(|(k, v)| (k, self.add(v))).collect())
            }
            Value::Array(items) => Node::Seq(items.into_iter().map(|v| self.add(v)).collect()),
            scalar => Node::Scalar(scalar),
        };
        self.push(node)
    }

    pub fn push(&mut self, node: Node) -> Id {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    pub fn kind(&self, id: Id) -> Kind {
        match self.nodes[id] {
            Node::Null { .. } | Node::Scalar(_) => Kind::Scalar,
            Node::Map(_) => Kind::Map,
            Node::Seq(_) => Kind::Seq,
        }
    }

    pub fn is_null(&self, id: Id) -> bool {
        matches!(self.nodes[id], Node::Null { .. })
    }

    pub fn is_empty_map(&self, id: Id) -> bool {
        matches!(&self.nodes[id], Node::Map(entries) if entries.is_empty())
    }

    /// Null, `{}` or `[]`: what kyaml reads as "no value" for a key.
    pub fn is_nil_or_empty(&self, id: Id) -> bool {
        match &self.nodes[id] {
            Node::Null { .. } => true,
            Node::Map(entries) => entries.is_empty(),
            Node::Seq(items) => items.is_empty(),
            Node::Scalar(_) => false,
        }
    }

    /// A node's text as kyaml compares it: a scalar's value, `""` for maps
    /// and lists. Nulls read as `null`, the usual way to write one.
    pub fn text(&self, id: Id) -> Cow<'_, str> {
        match &self.nodes[id] {
            Node::Null { .. } => Cow::Borrowed("null"),
            Node::Scalar(Value::String(s)) => Cow::Borrowed(s),
            Node::Scalar(Value::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Node::Scalar(other) => Cow::Owned(other.to_string()),
            Node::Map(_) | Node::Seq(_) => Cow::Borrowed(""),
        }
    }

    /// The value of field `name`, for a map.
    pub fn field(&self, id: Id, name: &str) -> Option<Id> {
        match &self.nodes[id] {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == name).map(|(_, v)| *v),
            _ => None,
        }
    }

    /// The value of `name` in a list element, which must be a map (or null).
    pub fn element_field(&self, id: Id, name: &str) -> Result<Option<Id>> {
        match self.kind(id) {
            _ if self.is_null(id) => Ok(None),
            Kind::Map => Ok(self.field(id, name)),
            other => Err(wrong_kind(Kind::Map, other)),
        }
    }

    /// The text of `key` in a list element; `""` when absent or empty.
    pub fn key_text(&self, id: Id, key: &str) -> String {
        match self.field(id, key) {
            Some(v) if !self.is_nil_or_empty(v) => self.text(v).into_owned(),
            _ => String::new(),
        }
    }

    /// Sets, replaces or (for no value, or a null not marked to keep)
    /// removes a field. A field that exists keeps its node and takes the
    /// new value's content, as kyaml overwrites nodes in place.
    pub fn set_field(&mut self, map: Id, name: &str, value: Option<Id>) {
        let value = value.filter(|&v| !matches!(self.nodes[v], Node::Null { keep: false }));
        let Node::Map(entries) = &mut self.nodes[map] else {
            return;
        };
        let pos = entries.iter().position(|(k, _)| k == name);
        match (value, pos) {
            (None, Some(i)) => {
                entries.remove(i);
            }
            (None, None) => {}
            (Some(v), None) => entries.push((name.to_string(), v)),
            (Some(v), Some(i)) => {
                let existing = entries[i].1;
                if existing != v {
                    self.nodes[existing] = self.nodes[v].clone();
                }
            }
        }
    }

    /// A list's elements, for a list.
    pub fn items(&self, id: Id) -> &[Id] {
        match &self.nodes[id] {
            Node::Seq(items) => items,
            _ => &[],
        }
    }

    /// Runs `edit` on the elements of list `id`.
    pub fn edit_items<T>(
        &mut self,
        id: Id,
        edit: impl FnOnce(&Graph, &mut Vec<Id>) -> Result<T>,
    ) -> Result<T> {
        let mut items = match &mut self.nodes[id] {
            Node::Seq(items) => std::mem::take(items),
            _ => Vec::new(),
        };
        let out = edit(self, &mut items);
        if let Node::Seq(slot) = &mut self.nodes[id] {
            *slot = items;
        }
        out
    }

    /// Whether `elem` has field `name` (with text `value`, unless `value`
    /// is empty); for `name` `""`, whether the scalar's text is `value`.
    fn field_matches(&self, elem: Id, name: &str, value: &str) -> Result<bool> {
        if self.is_null(elem) {
            return Ok(false);
        }
        let kind = self.kind(elem);
        if name.is_empty() {
            if kind != Kind::Scalar {
                return Err(wrong_kind(Kind::Scalar, kind));
            }
            return Ok(self.text(elem) == value);
        }
        if kind != Kind::Map {
            return Err(wrong_kind(Kind::Map, kind));
        }
        Ok(self
            .field(elem, name)
            .is_some_and(|v| value.is_empty() || self.text(v) == value))
    }

    /// The first element of list `id` whose `keys` have texts `values`
    /// (for the key `""`, whose own text is the value): kyaml's
    /// `ElementList`, where an empty value must match an empty text.
    pub fn find_element(&self, id: Id, keys: &[String], values: &[String]) -> Result<Option<Id>> {
        let Node::Seq(items) = &self.nodes[id] else {
            return Ok(None);
        };
        let first_key = keys.first().map_or("", String::as_str);
        if first_key.is_empty() {
            let value = values.first().map_or("", String::as_str);
            return Ok(items.iter().copied().find(|&i| self.text(i) == value));
        }
        for &item in items {
            if self.kind(item) != Kind::Map || self.is_null(item) {
                continue;
            }
            if keys.len() != values.len() {
                return Err(Error::new(
                    "length of keys must equal length of values when MatchAnyValue is false",
                ));
            }
            let all = keys.iter().zip(values).all(|(k, v)| {
                self.field(item, k)
                    .is_some_and(|f| self.text(f) == v.as_str())
            });
            if all {
                return Ok(Some(item));
            }
        }
        Ok(None)
    }

    /// kyaml's `ElementSetter` on `list`: every element matching `keys` and
    /// `values` is replaced by `element`, or removed when there is none;
    /// without a match `element` is appended. On the way it drops null and
    /// `{}` elements, and, given no values, every element that does not
    /// match.
    pub fn set_element(
        &self,
        list: &mut Vec<Id>,
        element: Option<Id>,
        keys: &[String],
        values: &[String],
    ) -> Result<()> {
        let blank = [String::new()];
        let keys = if keys.is_empty() { &blank[..] } else { keys };
        let mapping_setter = !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
        let mut kept = Vec::with_capacity(list.len() + 1);
        let mut matched_any = false;
        for &elem in list.iter() {
            if self.is_null(elem) || self.is_empty_map(elem) {
                continue;
            }
            if mapping_setter && self.kind(elem) != Kind::Map {
                kept.push(elem);
                continue;
            }
            let mut matched = false;
            for (j, key) in keys.iter().enumerate() {
                if let Some(value) = values.get(j) {
                    matched = self.field_matches(elem, key, value)?;
                }
                if !matched {
                    break;
                }
            }
            if !matched {
                if !values.is_empty() {
                    kept.push(elem);
                }
                continue;
            }
            matched_any = true;
            kept.extend(element);
        }
        *list = kept;
        match element {
            Some(e) if !self.is_null(e) && !matched_any => list.push(e),
            _ => {}
        }
        Ok(())
    }

    /// Moves the value at `root` out of the graph. Nodes shared by several
    /// places are copied for all but their last use.
    pub fn export(&mut self, root: Id) -> Result<Value> {
        let mut uses = vec![0u32; self.nodes.len()];
        // Sharing never builds a cycle; the budget turns one into an error
        // rather than a hang.
        let mut budget = self.nodes.len().saturating_mul(16).saturating_add(4096);
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            budget = budget.checked_sub(1).ok_or_else(|| {
                Error::new("strategic merge patch: the merged object refers to itself")
            })?;
            uses[id] += 1;
            match &self.nodes[id] {
                Node::Map(entries) => stack.extend(entries.iter().map(|(_, v)| *v)),
                Node::Seq(items) => stack.extend(items),
                _ => {}
            }
        }
        Ok(self.build(root, &mut uses))
    }

    fn build(&mut self, id: Id, uses: &mut [u32]) -> Value {
        uses[id] -= 1;
        let node = if uses[id] == 0 {
            std::mem::take(&mut self.nodes[id])
        } else {
            self.nodes[id].clone()
        };
        match node {
            Node::Null { .. } => Value::Null,
            Node::Scalar(v) => v,
            Node::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, self.build(v, uses)))
                    .collect(),
            ),
            Node::Seq(items) => {
                Value::Array(items.into_iter().map(|v| self.build(v, uses)).collect())
            }
        }
    }
}
