//! Kustomize's `replacements`: copy a value from one object's field (or a
//! literal `sourceValue`) into fields of other objects, with kustomize
//! v5's rules for choosing objects, walking field paths and typing values.
//!
//! The rules that matter for identical output:
//! - The source must be exactly one object. It matches on any id it has
//!   had (current or from before a rename), with exact group, version,
//!   kind and name, and namespaces compared with `default` standing for
//!   none.
//! - Targets are chosen with anchored regular expressions against any
//!   of their ids, and label/annotation selectors. A `reject` drops an
//!   object if its id part matches any id, or if its label/annotation part
//!   matches: the two parts reject independently.
//! - Target field paths use kyaml's matcher: `[name=x]` is an *unanchored*
//!   regular expression over every list element (so `[name=app]` also picks
//!   `app-sidecar`), `*` walks every element of a list, numbers index lists,
//!   `[a.b]` is a map key with dots. Source paths use kyaml's getter
//!   instead: `[name=x]` is exact and picks the first match.
//! - A scalar target keeps its type and takes the value's text: an int
//!   copied into a string field becomes a string, a string into an int field
//!   must read as an int (else the build fails, as kustomize's does). A
//!   field created by `create: true` or a `sourceValue` placed whole is typed
//!   by how its text reads in YAML (`"3"` becomes the number 3). A map or
//!   list target is replaced whole. The object's own annotations end as
//!   text, as kustomize leaves them.
//! - A path that runs into a string holding JSON (`data.[cfg.json].a.b`)
//!   edits inside it and writes the JSON back as kustomize does (keys
//!   sorted, Go's escaping). The same inside YAML text is refused, since its
//!   original layout cannot be kept.

use std::borrow::Cow;
use std::fmt::Write as _;

use regex::Regex;

use super::kustomization::{FieldOptions, ReplacementField, ReplacementSource, Selector};
use super::resource::{Gvk, ResId, ResMap, Resource};
use super::selector::Compiled;
use crate::fs::{self, Fs};
use crate::{Error, Result, Value};

/// The field a source or target names when it gives no path.
pub(super) const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// The namespace kustomize records for a cluster-scoped object's earlier
/// ids.
pub(super) const NON_NAMESPACEABLE: &str = "_non_namespaceable_";

// ---------------------------------------------------------------- loading

/// Resolves `path:` entries (relative to the kustomization dir) into inline
/// replacements. A file holds one replacement or a list of them; fields
/// kustomize does not know are ignored there, as kustomize ignores them.
pub fn load(
    fs: &dyn Fs,
    dir: &str,
    kustomization_file: &str,
    fields: &[ReplacementField],
) -> Result<Vec<ReplacementField>> {
    let mut out = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        if field.path.is_empty() {
            out.push(field.clone());
            continue;
        }
        let at = || format!("replacements[{i}].path");
        if field.source.is_some() || !field.targets.is_empty() {
            return Err(Error::new(
                "a replacement gives either `path` or an inline source and targets, not both",
            )
            .in_file(kustomization_file)
            .at_field(at()));
        }
        let file = fs::join(dir, &field.path).map_err(|e| e.at_field(at()))?;
        if !dir.is_empty() && file != dir && !file.starts_with(&format!("{dir}/")) {
            return Err(Error::new(format!(
                "replacement file '{}' is not in or below the kustomization directory",
                field.path
            ))
            .in_file(kustomization_file)
            .at_field(at()));
        }
        let text = fs.read_to_string(&file)?;
        let doc: Value = crate::yaml::parse_value(&text, &file)?;
        match doc {
            Value::Array(items) => {
                for (j, item) in items.into_iter().enumerate() {
                    out.push(
                        lenient_replacement(item)
                            .map_err(|e| e.in_file(file.as_str()).at_field(format!("[{j}]")))?,
                    );
                }
            }
            Value::Object(_) => {
                out.push(lenient_replacement(doc).map_err(|e| e.in_file(file.as_str()))?)
            }
            _ => {
                return Err(
                    Error::new("expected a replacement or a list of replacements")
                        .in_file(file.as_str()),
                );
            }
        }
    }
    Ok(out)
}

/// Reads a replacement from a file, dropping the fields kustomize would
/// not read (its file loading is not strict, unlike the kustomization).
fn lenient_replacement(mut v: Value) -> Result<ReplacementField> {
    const SELECTOR: &[&str] = &[
        "group",
        "version",
        "kind",
        "name",
        "namespace",
        "annotationSelector",
        "labelSelector",
    ];
    const OPTIONS: &[&str] = &["delimiter", "index", "encoding", "create"];
    const SOURCE: &[&str] = &[
        "group",
        "version",
        "kind",
        "name",
        "namespace",
        "fieldPath",
        "options",
    ];
    const TARGET: &[&str] = &["select", "reject", "fieldPaths", "options"];

    fn keep<'a>(v: &'a mut Value, keys: &[&str]) -> Option<&'a mut serde_json::Map<String, Value>> {
        let map = v.as_object_mut()?;
        map.retain(|k, _| keys.contains(&k.as_str()));
        Some(map)
    }
    fn keep_at(map: &mut serde_json::Map<String, Value>, key: &str, keys: &[&str]) {
        if let Some(child) = map.get_mut(key) {
            keep(child, keys);
        }
    }

    if let Some(top) = keep(&mut v, &["source", "sourceValue", "targets"]) {
        if let Some(source) = top.get_mut("source").and_then(|s| keep(s, SOURCE)) {
            keep_at(source, "options", OPTIONS);
        }
        if let Some(Value::Array(targets)) = top.get_mut("targets") {
            for t in targets {
                let Some(t) = keep(t, TARGET) else { continue };
                keep_at(t, "select", SELECTOR);
                keep_at(t, "options", OPTIONS);
                if let Some(Value::Array(rejects)) = t.get_mut("reject") {
                    for r in rejects {
                        keep(r, SELECTOR);
                    }
                }
            }
        }
    }
    serde_json::from_value(v).map_err(|e| Error::new(format!("invalid replacement: {e}")))
}

// ---------------------------------------------------------------- applying

/// Applies the replacements to the resources, in order.
pub fn apply(resmap: &mut ResMap, replacements: &[ReplacementField]) -> Result<()> {
    for (i, r) in replacements.iter().enumerate() {
        apply_one(resmap, r).map_err(|mut e| {
            e.message = format!("replacements[{i}]: {}", e.message);
            e
        })?;
    }
    Ok(())
}

fn apply_one(resmap: &mut ResMap, r: &ReplacementField) -> Result<()> {
    const INCOMPLETE: &str =
        "a replacement needs a source (or sourceValue) and at least one target";
    if r.targets.is_empty() {
        crate::bail!("{INCOMPLETE}");
    }
    let value = match (&r.source, &r.source_value) {
        (None, None) => crate::bail!("{INCOMPLETE}"),
        (Some(_), Some(_)) => crate::bail!("`source` and `sourceValue` are mutually exclusive"),
        (None, Some(text)) => Repl::Scalar {
            tag: Tag::Plain,
            text: text.clone(),
        },
        (Some(source), None) => source_value(resmap, source)?,
    };
    for target in &r.targets {
        let Some(select) = &target.select else {
            crate::bail!("a replacement target must have `select`");
        };
        let matcher = TargetMatcher::new(select, &target.reject)?;
        let default_paths = [DEFAULT_FIELD_PATH.to_string()];
        let paths = if target.field_paths.is_empty() {
            &default_paths[..]
        } else {
            &target.field_paths[..]
        };
        let paths: Vec<(&str, Vec<String>)> = paths
            .iter()
            .map(|p| (p.as_str(), split_field_path(p)))
            .collect();
        for res in resmap.iter_mut() {
            if !matcher.selects(res) {
                continue;
            }
            copy_to_target(&mut res.obj, &value, &paths, target.options.as_ref())
                .map_err(|e| e.for_object(res.describe()))?;
        }
    }
    Ok(())
}

/// Reads the replacement value from the one object the source selects.
fn source_value(resmap: &ResMap, source: &ReplacementSource) -> Result<Repl> {
    let mut found: Option<&Resource> = None;
    for r in resmap.iter() {
        if is_empty_object(&r.obj) || !kustomize_ids(r).iter().any(|id| source_selects(source, id))
        {
            continue;
        }
        if found.is_some() {
            crate::bail!(
                "more than one object matches the replacement source {}",
                describe_source(source)
            );
        }
        found = Some(r);
    }
    let Some(r) = found else {
        crate::bail!(
            "no object matches the replacement source {}",
            describe_source(source)
        );
    };
    let field_path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let node = lookup(&r.obj, &split_field_path(field_path)).map_err(|e| {
        Error::new(format!("cannot read the replacement source: {e}"))
            .for_object(r.describe())
            .at_field(field_path)
    })?;
    let node = match node {
        Some(n) if !is_nil_or_empty(n) => n,
        _ => {
            return Err(Error::new("the replacement source has no value here")
                .for_object(r.describe())
                .at_field(field_path));
        }
    };
    refine_source(source.options.as_ref(), node)
        .map_err(|e| e.for_object(r.describe()).at_field(field_path))
}

/// Applies the source's `delimiter`/`index`: one part of the split text,
/// keeping the source's type.
fn refine_source(options: Option<&FieldOptions>, node: &Value) -> Result<Repl> {
    let Some(opts) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(Repl::of(node));
    };
    let Some((tag, text)) = scalar_of(node) else {
        crate::bail!("the delimiter option can only be used with scalar values");
    };
    let parts: Vec<&str> = text.split(opts.delimiter.as_str()).collect();
    let part = usize::try_from(opts.index).ok().and_then(|i| parts.get(i));
    match part {
        Some(part) => Ok(Repl::Scalar {
            tag,
            text: (*part).to_string(),
        }),
        None => crate::bail!(
            "options.index {} is out of bounds for value {text}",
            opts.index
        ),
    }
}

fn describe_source(s: &ReplacementSource) -> String {
    let or_any = |v: &str| {
        if v.is_empty() {
            "*".to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = format!("{}/{}", or_any(&s.kind), or_any(&s.name));
    if !s.namespace.is_empty() {
        out.push_str(&format!(" in namespace {}", s.namespace));
    }
    if !s.group.is_empty() || !s.version.is_empty() {
        out.push_str(&format!(" ({}/{})", or_any(&s.group), or_any(&s.version)));
    }
    out
}

/// Writes the value into every field the paths name in one target object.
fn copy_to_target(
    obj: &mut Value,
    value: &Repl,
    paths: &[(&str, Vec<String>)],
    opts: Option<&FieldOptions>,
) -> Result<()> {
    let create = opts.is_some_and(|o| o.create);
    for (field_path, parts) in paths {
        let field_path: &str = field_path;
        let annotation = matches!(&parts[..], [m, a, _] if m == "metadata" && a == "annotations");
        if set_in_embedded_json(obj, value, field_path, parts, opts)? {
            continue;
        }
        let mut visit = |node: &mut Value, origin: Origin, detached: bool| -> Result<()> {
            match set_field_value(node, origin, value, opts, annotation) {
                Ok(()) => Ok(()),
                // kyaml only notices a value that does not fit its tag when
                // it reads the object back, which never happens for a copy.
                Err(SetError::Decode(_)) if detached => Ok(()),
                Err(SetError::Decode(m) | SetError::Other(m)) => {
                    Err(Error::new(m).at_field(field_path))
                }
            }
        };
        let mut walker = Walker {
            create,
            field_path,
            visit: &mut visit,
        };
        if walker.walk(obj, parts, false)? == 0 {
            return Err(walker.fail("no such field"));
        }
    }
    annotations_as_text(obj);
    Ok(())
}

/// Rewrites the object's own annotations as text, as kustomize leaves
/// them (for values a replacement of the whole map brought in).
fn annotations_as_text(obj: &mut Value) {
    let Some(Value::Object(annotations)) = obj.pointer_mut("/metadata/annotations") else {
        return;
    };
    for v in annotations.values_mut() {
        if !v.is_string() {
            *v = Value::String(scalar_of(v).map_or_else(String::new, |(_, t)| t.into_owned()));
        }
    }
}

/// kustomize first tries a path as one that runs into a string holding
/// structured text. Returns whether that handled the path.
fn set_in_embedded_json(
    obj: &mut Value,
    value: &Repl,
    field_path: &str,
    parts: &[String],
    opts: Option<&FieldOptions>,
) -> Result<bool> {
    if parts.len() < 2 {
        return Ok(false);
    }
    // The first scalar on the way, found with the getter's rules.
    let mut steps = Vec::new();
    let mut cur: &Value = obj;
    let mut split = None;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match lookup_step(cur, part) {
            Ok(Some((step, next))) => {
                steps.push(step);
                cur = next;
            }
            _ => return Ok(false),
        }
        match cur {
            Value::String(_) => {
                split = Some(i + 1);
                break;
            }
            Value::Object(_) | Value::Array(_) => {}
            _ => return Ok(false),
        }
    }
    let (Some(split), Value::String(text)) = (split, cur) else {
        return Ok(false);
    };
    let mut doc = match serde_saphyr::from_str::<Value>(text) {
        Ok(doc @ (Value::Object(_) | Value::Array(_))) => doc,
        _ => return Ok(false),
    };
    let mut visit = |node: &mut Value, origin: Origin, _detached: bool| -> Result<()> {
        set_field_value(node, origin, value, opts, false)
            .map_err(|(SetError::Decode(m) | SetError::Other(m))| Error::new(m))
    };
    let mut walker = Walker {
        create: opts.is_some_and(|o| o.create),
        field_path,
        visit: &mut visit,
    };
    match walker.walk(&mut doc, &parts[split..], false) {
        Ok(n) if n > 0 => {}
        _ => return Ok(false),
    }
    let first = text.trim_start().chars().next();
    if !matches!(first, Some('{' | '[')) {
        return Err(Error::new(
            "replacing a value inside YAML text held in a string field is not supported \
             (kustomize rewrites that text keeping its layout); hold JSON text there instead",
        )
        .at_field(field_path));
    }
    let pretty = text.contains('\n') && text.contains("  ");
    let new_text = go_json(&doc, pretty);
    let Some(Value::String(slot)) = get_mut_by_steps(obj, &steps) else {
        return Ok(false);
    };
    *slot = new_text;
    Ok(true)
}

// ---------------------------------------------------------------- selection

/// The ids kustomize matches a resource by: the current one as written,
/// then every earlier one with the namespace kustomize records for it
/// (`default` for none) and the current group and version.
pub(super) fn kustomize_ids(r: &Resource) -> Vec<ResId> {
    let cur = r.cur_id();
    let mut ids = Vec::with_capacity(1 + r.prev_ids.len());
    for prev in &r.prev_ids {
        let namespace = if prev.gvk.is_cluster_scoped() {
            NON_NAMESPACEABLE.to_string()
        } else {
            or_default(&prev.namespace).to_string()
        };
        ids.push(ResId {
            gvk: Gvk {
                group: cur.gvk.group.clone(),
                version: cur.gvk.version.clone(),
                kind: prev.gvk.kind.clone(),
            },
            name: prev.name.clone(),
            namespace,
        });
    }
    ids.insert(0, cur);
    ids
}

/// A namespace as kustomize compares it when it ignores scope.
pub(super) fn or_default(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

/// An object with nothing in it, which kustomize passes over.
pub(super) fn is_empty_object(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn source_selects(s: &ReplacementSource, id: &ResId) -> bool {
    let field = |want: &str, have: &str| want.is_empty() || want == have;
    field(&s.name, &id.name)
        && (s.namespace.is_empty() || or_default(&s.namespace) == or_default(&id.namespace))
        && field(&s.group, &id.gvk.group)
        && field(&s.version, &id.gvk.version)
        && field(&s.kind, &id.gvk.kind)
}

/// The id part of a selector: anchored regular expressions.
struct IdPattern {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
}

impl IdPattern {
    fn new(s: &Selector) -> Result<IdPattern> {
        let re = |field: &str, pattern: &str| -> Result<Option<Regex>> {
            if pattern.is_empty() {
                return Ok(None);
            }
            Regex::new(&format!("^(?:{pattern})$"))
                .map(Some)
                .map_err(|e| {
                    Error::new(format!("invalid regular expression '{pattern}': {e}"))
                        .at_field(field)
                })
        };
        Ok(IdPattern {
            group: re("group", &s.group)?,
            version: re("version", &s.version)?,
            kind: re("kind", &s.kind)?,
            name: re("name", &s.name)?,
            namespace: re("namespace", &s.namespace)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.group.is_none()
            && self.version.is_none()
            && self.kind.is_none()
            && self.name.is_none()
            && self.namespace.is_none()
    }

    fn matches(&self, id: &ResId) -> bool {
        let ok = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|re| re.is_match(s));
        ok(&self.group, &id.gvk.group)
            && ok(&self.version, &id.gvk.version)
            && ok(&self.kind, &id.gvk.kind)
            && ok(&self.name, &id.name)
            && ok(&self.namespace, &id.namespace)
    }
}

/// Only the label and annotation selectors of `s`.
fn meta_selector(s: &Selector) -> Result<Option<Compiled>> {
    if s.label_selector.is_empty() && s.annotation_selector.is_empty() {
        return Ok(None);
    }
    Compiled::new(&Selector {
        label_selector: s.label_selector.clone(),
        annotation_selector: s.annotation_selector.clone(),
        ..Selector::default()
    })
    .map(Some)
}

/// A target's `select` and `reject`.
struct TargetMatcher {
    select: IdPattern,
    select_meta: Option<Compiled>,
    reject: Vec<IdPattern>,
    reject_meta: Vec<Compiled>,
}

impl TargetMatcher {
    fn new(select: &Selector, reject: &[Selector]) -> Result<TargetMatcher> {
        let mut m = TargetMatcher {
            select: IdPattern::new(select).map_err(|e| e.at_field("select"))?,
            select_meta: meta_selector(select).map_err(|e| e.at_field("select"))?,
            reject: Vec::new(),
            reject_meta: Vec::new(),
        };
        for r in reject {
            let ids = IdPattern::new(r).map_err(|e| e.at_field("reject"))?;
            if !ids.is_empty() {
                m.reject.push(ids);
            }
            if let Some(meta) = meta_selector(r).map_err(|e| e.at_field("reject"))? {
                m.reject_meta.push(meta);
            }
        }
        Ok(m)
    }

    fn selects(&self, r: &Resource) -> bool {
        if is_empty_object(&r.obj)
            || self.select_meta.as_ref().is_some_and(|m| !m.matches(r))
            || self.reject_meta.iter().any(|m| m.matches(r))
        {
            return false;
        }
        let ids = kustomize_ids(r);
        !self
            .reject
            .iter()
            .any(|p| ids.iter().any(|id| p.matches(id)))
            && ids.iter().any(|id| self.select.matches(id))
    }
}

// ---------------------------------------------------------------- field paths

/// Splits a dotted field path the way kustomize does: `\.` is a literal
/// dot, `[a.b]` is one map key `a.b`, `[name=a.b]` stays one list matcher.
pub(super) fn split_field_path(path: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let mut pieces = path.split('.');
    // A leading dot (`.a.b`) is allowed and ignored.
    if path.starts_with('.') && path.len() > 1 {
        pieces.next();
    }
    for piece in pieces {
        match raw.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => raw.push(piece.to_string()),
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i].starts_with('[') && !raw[i].ends_with(']') {
            let start = i;
            while i + 1 < raw.len() {
                i += 1;
                if raw[i].ends_with(']') {
                    break;
                }
            }
            let joined = raw[start..=i].join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(std::mem::take(&mut raw[i]));
        }
        i += 1;
    }
    out
}

fn is_list_match(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']')
}

/// `[name=value]` to `("name", "value")`; `[=value]` has an empty name.
fn split_list_match(part: &str) -> std::result::Result<(&str, &str), String> {
    let inner = part.strip_prefix('[').unwrap_or(part);
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    inner.split_once('=').ok_or_else(|| {
        format!("list path element '{part}' must be fieldName=fieldValue to match an element")
    })
}

/// A list index as kyaml reads one (Go's `Atoi`, sign allowed).
fn parse_index(part: &str) -> Option<i64> {
    let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// One concrete step into a value, for finding it again mutably.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn get_mut_by_steps<'a>(mut v: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    for step in steps {
        v = match step {
            Step::Key(k) => v.as_object_mut()?.get_mut(k)?,
            Step::Index(i) => v.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(v)
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "a map",
        Value::Array(_) => "a list",
        Value::Null => "null",
        _ => "a scalar",
    }
}

/// One step of kyaml's path getter: exact `[name=value]` (first match),
/// numeric index, `-` for the last element. `Ok(None)` is "not there".
fn lookup_step<'a>(
    node: &'a Value,
    part: &str,
) -> std::result::Result<Option<(Step, &'a Value)>, String> {
    let elements = |node: &'a Value| -> std::result::Result<&'a [Value], String> {
        match node {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(&[]),
            other => Err(format!(
                "'{part}' needs a list but found {}",
                kind_name(other)
            )),
        }
    };
    if let Some(i) = parse_index(part) {
        if i < 0 {
            return Err(format!("array index {i} cannot be negative"));
        }
        let items = elements(node)?;
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        return Ok(items.get(i).map(|v| (Step::Index(i), v)));
    }
    if part == "-" {
        let items = elements(node)?;
        return Ok(items
            .len()
            .checked_sub(1)
            .map(|i| (Step::Index(i), &items[i])));
    }
    if part == "*" {
        return Err("the wildcard '*' cannot be used here".to_string());
    }
    if is_list_match(part) {
        let (key, want) = split_list_match(part)?;
        let items = elements(node)?;
        let hit = items.iter().position(|item| {
            if key.is_empty() {
                scalar_of(item).is_some_and(|(_, text)| text == want)
            } else {
                item.as_object()
                    .and_then(|m| m.get(key))
                    .and_then(scalar_of)
                    .is_some_and(|(_, text)| text == want)
            }
        });
        return Ok(hit.map(|i| (Step::Index(i), &items[i])));
    }
    match node {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(map.get(part).map(|v| (Step::Key(part.to_string()), v))),
        other => Err(format!(
            "'{part}' needs a map but found {}",
            kind_name(other)
        )),
    }
}

/// kyaml's path getter over already split parts (blank parts are skipped).
pub(super) fn lookup<'a>(
    obj: &'a Value,
    parts: &[String],
) -> std::result::Result<Option<&'a Value>, String> {
    let mut cur = obj;
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match lookup_step(cur, part)? {
            Some((_, next)) => cur = next,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// kustomize's "nothing there": null, `{}` or `[]`.
fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// How a matched field came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// It was there.
    Existing,
    /// Made by `create` at the end of the path: a node of the value's kind.
    NewLeaf,
    /// A list element made by `create` for `[=text]`: an untyped scalar
    /// holding the text.
    NewScalar,
}

type Visit<'a> = dyn FnMut(&mut Value, Origin, bool) -> Result<()> + 'a;

/// kyaml's path matcher for replacement targets. Counts the fields it
/// hands to `visit`; `detached` fields live in a throwaway copy (kyaml
/// walks into a parsed copy of a string, or into a null it cannot grow).
struct Walker<'a, 'v> {
    create: bool,
    field_path: &'a str,
    visit: &'a mut Visit<'v>,
}

impl Walker<'_, '_> {
    fn fail(&self, detail: impl std::fmt::Display) -> Error {
        let what = if self.create {
            "find or create"
        } else {
            "find"
        };
        Error::new(format!(
            "unable to {what} the field in the replacement target: {detail}"
        ))
        .at_field(self.field_path)
    }

    fn walk(&mut self, node: &mut Value, parts: &[String], detached: bool) -> Result<usize> {
        let Some((head, rest)) = parts.split_first() else {
            (self.visit)(node, Origin::Existing, detached)?;
            return Ok(1);
        };
        if node.is_null() {
            return self.walk_null(head, parts);
        }
        if let Some(i) = parse_index(head).filter(|i| *i >= 0) {
            self.index(node, i, rest, detached)
        } else if is_list_match(head) {
            self.list_match(node, head, rest, detached)
        } else if head == "*" {
            match node {
                Value::Array(items) => {
                    let mut n = 0;
                    for item in items {
                        n += self.walk(item, rest, detached)?;
                    }
                    Ok(n)
                }
                other => Err(self.fail(format!("'*' needs a list but found {}", kind_name(other)))),
            }
        } else {
            self.field(node, head, rest, detached)
        }
    }

    /// kyaml treats null as an empty map or list; what `create` adds to it
    /// never reaches the output, but the walk (and its errors) go on.
    fn walk_null(&mut self, head: &str, parts: &[String]) -> Result<usize> {
        let scratch = if let Some(i) = parse_index(head).filter(|i| *i >= 0) {
            if i > 0 || !self.create {
                return Err(self.fail(format!("index {i} specified but only 0 elements found")));
            }
            Value::Array(Vec::new())
        } else if head == "*" || !self.create {
            return Ok(0);
        } else if is_list_match(head) {
            Value::Array(Vec::new())
        } else {
            Value::Object(Default::default())
        };
        let mut scratch = scratch;
        self.walk(&mut scratch, parts, true)
    }

    /// Visits `child` if the path ends here, else walks on.
    fn descend(
        &mut self,
        child: &mut Value,
        created: bool,
        rest: &[String],
        detached: bool,
    ) -> Result<usize> {
        if rest.is_empty() {
            let origin = if created {
                Origin::NewLeaf
            } else {
                Origin::Existing
            };
            (self.visit)(child, origin, detached)?;
            return Ok(1);
        }
        self.walk(child, rest, detached)
    }

    fn index(
        &mut self,
        node: &mut Value,
        i: i64,
        rest: &[String],
        detached: bool,
    ) -> Result<usize> {
        let Value::Array(items) = node else {
            return Err(self.fail(format!(
                "index {i} needs a list but found {}",
                kind_name(node)
            )));
        };
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        let created = items.len() == i && self.create;
        if created {
            items.push(placeholder(rest));
        }
        let len = items.len();
        match items.get_mut(i) {
            Some(child) => self.descend(child, created, rest, detached),
            None => Err(self.fail(format!("index {i} specified but only {len} elements found"))),
        }
    }

    fn field(
        &mut self,
        node: &mut Value,
        key: &str,
        rest: &[String],
        detached: bool,
    ) -> Result<usize> {
        let Value::Object(map) = node else {
            return Err(self.fail(format!("'{key}' needs a map but found {}", kind_name(node))));
        };
        if key.is_empty() {
            return Err(self.fail("empty field name"));
        }
        let created = !map.contains_key(key);
        if created && !self.create {
            return Ok(0);
        }
        let child = map.entry(key).or_insert_with(|| placeholder(rest));
        if rest.is_empty() || matches!(child, Value::Object(_) | Value::Array(_)) {
            return self.descend(child, created, rest, detached);
        }
        // A scalar with more path after it: kyaml walks on into a parsed
        // copy of its text, so nothing found there changes the object.
        let mut copy = match child {
            Value::String(text) => serde_saphyr::from_str::<Value>(text)
                .map_err(|e| self.fail(format!("'{key}' holds text that is not YAML: {e}")))?,
            other => other.clone(),
        };
        self.walk(&mut copy, rest, true)
    }

    fn list_match(
        &mut self,
        node: &mut Value,
        part: &str,
        rest: &[String],
        detached: bool,
    ) -> Result<usize> {
        let (key, pattern) = split_list_match(part).map_err(|e| self.fail(e))?;
        let re = Regex::new(pattern)
            .map_err(|e| self.fail(format!("invalid regular expression '{pattern}': {e}")))?;
        let Value::Array(items) = node else {
            return Err(self.fail(format!(
                "'{part}' needs a list but found {}",
                kind_name(node)
            )));
        };
        let mut n = 0;
        for item in items.iter_mut() {
            if key.is_empty() {
                // kyaml hands over the element itself, ignoring any path
                // after a `[=value]`.
                if re.is_match(&match_text(item)) {
                    (self.visit)(item, Origin::Existing, detached)?;
                    n += 1;
                }
            } else if item
                .as_object()
                .and_then(|m| m.get(key))
                .is_some_and(|v| re.is_match(&match_text(v)))
            {
                n += self.walk(item, rest, detached)?;
            }
        }
        if n > 0 || !self.create || !re.is_match(pattern) {
            return Ok(n);
        }
        if key.is_empty() {
            items.push(Value::String(pattern.to_string()));
            let Some(item) = items.last_mut() else {
                return Ok(0);
            };
            (self.visit)(item, Origin::NewScalar, detached)?;
            return Ok(1);
        }
        let value = resolve_plain(pattern).unwrap_or_else(|_| Value::String(pattern.to_string()));
        let mut element = serde_json::Map::new();
        element.insert(key.to_string(), value);
        items.push(Value::Object(element));
        match items.last_mut() {
            Some(item) => self.walk(item, rest, detached),
            None => Ok(0),
        }
    }
}

/// What `create` puts at a missing path part, given the parts after it.
fn placeholder(rest: &[String]) -> Value {
    match rest.first() {
        None => Value::Null,
        Some(next) if is_list_match(next) || parse_index(next).is_some_and(|i| i >= 0) => {
            Value::Array(Vec::new())
        }
        Some(_) => Value::Object(Default::default()),
    }
}

/// The text kyaml matches a list element's field against: its YAML form.
fn match_text(v: &Value) -> Cow<'_, str> {
    match scalar_of(v) {
        Some((_, text)) => text,
        None => Cow::Owned(v.to_string()),
    }
}

// ---------------------------------------------------------------- values

/// A scalar's YAML type, as kyaml tags nodes. `Plain` is an untagged
/// scalar, typed by how its text reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Plain,
    Str,
    Int,
    Float,
    Bool,
    Null,
}

impl Tag {
    fn name(self) -> &'static str {
        match self {
            Tag::Plain => "untyped",
            Tag::Str => "!!str",
            Tag::Int => "!!int",
            Tag::Float => "!!float",
            Tag::Bool => "!!bool",
            Tag::Null => "!!null",
        }
    }
}

/// The value a replacement writes.
#[derive(Debug, Clone)]
enum Repl {
    Scalar { tag: Tag, text: String },
    Tree(Value),
}

impl Repl {
    fn of(v: &Value) -> Repl {
        match scalar_of(v) {
            Some((tag, text)) => Repl::Scalar {
                tag,
                text: text.into_owned(),
            },
            None => Repl::Tree(v.clone()),
        }
    }

    /// The scalar text kyaml copies; a map or list has none.
    fn text(&self) -> &str {
        match self {
            Repl::Scalar { text, .. } => text,
            Repl::Tree(_) => "",
        }
    }

    fn to_value(&self) -> std::result::Result<Value, SetError> {
        match self {
            Repl::Scalar { tag, text } => decode(*tag, text),
            Repl::Tree(v) => Ok(v.clone()),
        }
    }
}

/// A scalar's tag and text; `None` for maps and lists.
fn scalar_of(v: &Value) -> Option<(Tag, Cow<'_, str>)> {
    Some(match v {
        Value::String(s) => (Tag::Str, Cow::Borrowed(s.as_str())),
        Value::Number(n) if n.is_f64() => (Tag::Float, Cow::Owned(n.to_string())),
        Value::Number(n) => (Tag::Int, Cow::Owned(n.to_string())),
        Value::Bool(b) => (Tag::Bool, Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null => (Tag::Null, Cow::Borrowed("null")),
        Value::Object(_) | Value::Array(_) => return None,
    })
}

#[derive(Debug)]
enum SetError {
    /// The text does not read as the field's type: kustomize fails when it
    /// next reads the object.
    Decode(String),
    Other(String),
}

/// kyaml's rule for writing a replacement into one matched field.
/// `as_text` is for an object's own annotations, which kustomize rewrites
/// as the text of their nodes when it drops its bookkeeping annotations at
/// the end of a build (a map or list has no text: `""`).
fn set_field_value(
    target: &mut Value,
    origin: Origin,
    value: &Repl,
    opts: Option<&FieldOptions>,
    as_text: bool,
) -> std::result::Result<(), SetError> {
    let target_scalar: Option<(Tag, Cow<'_, str>)> = match origin {
        Origin::Existing => scalar_of(target),
        Origin::NewLeaf => match value {
            Repl::Tree(_) => None,
            Repl::Scalar { .. } => Some((Tag::Plain, Cow::Borrowed(""))),
        },
        Origin::NewScalar => Some((Tag::Plain, match_text(target))),
    };
    let mut joined = None;
    if let Some(o) = opts.filter(|o| !o.delimiter.is_empty()) {
        let Some((_, text)) = &target_scalar else {
            return Err(SetError::Other(
                "the delimiter option can only be used with scalar values".to_string(),
            ));
        };
        let mut parts: Vec<&str> = text.split(o.delimiter.as_str()).collect();
        let v = value.text();
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        joined = Some(parts.join(&o.delimiter));
    }
    let text = joined.as_deref().unwrap_or(value.text());
    let new = match target_scalar {
        Some(_) if as_text => Value::String(text.to_string()),
        Some((tag, _)) => decode(tag, text)?,
        None if as_text => Value::String(String::new()),
        None => value.to_value()?,
    };
    *target = new;
    Ok(())
}

/// The value a scalar with this tag and text reads back as, or the error
/// kustomize gives when it does not fit the tag.
fn decode(tag: Tag, text: &str) -> std::result::Result<Value, SetError> {
    let mismatch = |found: &str| {
        SetError::Decode(format!(
            "cannot use {found} `{text}` as a {} value",
            tag.name()
        ))
    };
    let (found, value) = match tag {
        Tag::Str => return Ok(Value::String(text.to_string())),
        Tag::Plain => return resolve_plain(text).map_err(SetError::Decode),
        _ => resolve(text, false).map_err(SetError::Decode)?,
    };
    match (tag, found) {
        (Tag::Int, Tag::Int)
        | (Tag::Float, Tag::Int | Tag::Float)
        | (Tag::Bool, Tag::Bool)
        | (Tag::Null, Tag::Null) => Ok(value),
        _ => Err(mismatch(found.name())),
    }
}

/// An untagged scalar's value, as YAML (kyaml's v3 rules) reads its text.
pub(super) fn resolve_plain(text: &str) -> std::result::Result<Value, String> {
    resolve(text, true).map(|(_, v)| v)
}

/// goyaml v3's resolution of a plain scalar: null, bool, int (Go
/// `ParseInt` base 0, `_` ignored), float, timestamps (only when
/// untagged), else string.
fn resolve(text: &str, timestamps: bool) -> std::result::Result<(Tag, Value), String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok((Tag::Null, Value::Null)),
        "true" | "True" | "TRUE" => return Ok((Tag::Bool, Value::Bool(true))),
        "false" | "False" | "FALSE" => return Ok((Tag::Bool, Value::Bool(false))),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(format!("`{text}` is not a number JSON can hold"));
        }
        _ => {}
    }
    let string = || Ok((Tag::Str, Value::String(text.to_string())));
    match text.as_bytes()[0] {
        b'.' => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((Tag::Float, number_from_f64(f))),
            _ => string(),
        },
        b'+' | b'-' | b'0'..=b'9' => {
            if timestamps && let Some(t) = parse_timestamp(text) {
                return Ok((Tag::Str, Value::String(t)));
            }
            let plain = text.replace('_', "");
            if let Some(n) = go_parse_int(&plain) {
                return Ok((Tag::Int, n));
            }
            if is_yaml_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return Ok((Tag::Float, number_from_f64(f)));
            }
            string()
        }
        _ => string(),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: sign, `0x`, `0o`,
/// `0b` and leading-zero octal.
fn go_parse_int(s: &str) -> Option<Value> {
    let (neg, signed, body) = match s.as_bytes().first()? {
        b'-' => (true, true, &s[1..]),
        b'+' => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    let value = if neg {
        -i128::try_from(magnitude).ok()?
    } else {
        i128::try_from(magnitude).ok()?
    };
    if let Ok(i) = i64::try_from(value) {
        return Some(Value::from(i));
    }
    // ParseUint takes no sign.
    if signed {
        return None;
    }
    u64::try_from(value).ok().map(Value::from)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// A float as kustomize's output would carry it: whole numbers print as
/// integers there.
pub(super) fn number_from_f64(f: f64) -> Value {
    const LIMIT: f64 = 9.2e18;
    if f.fract() == 0.0 && f.abs() < LIMIT {
        // The check above keeps the conversion exact.
        return Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// goyaml v3's timestamp forms, as Go's JSON writes the time
/// (RFC 3339, fractional seconds trimmed).
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year: u32 = s[..4].parse().ok()?;
    let mut rest = &s[5..];
    // One or two digits, as Go's layouts `1`, `2`, `15`, `4`, `5` read.
    let num = |rest: &mut &str| -> Option<u32> {
        let n = rest.bytes().take(2).take_while(u8::is_ascii_digit).count();
        let v = rest.get(..n)?.parse().ok()?;
        *rest = &rest[n..];
        Some(v)
    };
    let eat = |rest: &mut &str, c: char| -> Option<()> {
        *rest = rest.strip_prefix(c)?;
        Some(())
    };
    let month = num(&mut rest)?;
    eat(&mut rest, '-')?;
    let day = num(&mut rest)?;
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let Some(sep) = rest.chars().next() else {
        return Some(format!("{date}T00:00:00Z"));
    };
    if !matches!(sep, 'T' | 't' | ' ') {
        return None;
    }
    rest = &rest[1..];
    let hour = num(&mut rest)?;
    eat(&mut rest, ':')?;
    let minute = num(&mut rest)?;
    eat(&mut rest, ':')?;
    let second = num(&mut rest)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut frac = String::new();
    if let Some(after) = rest.strip_prefix(['.', ',']) {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            frac = after[..n.min(9)].trim_end_matches('0').to_string();
            rest = &after[n..];
        }
    }
    let zone = if sep == ' ' {
        if !rest.is_empty() {
            return None;
        }
        "Z".to_string()
    } else if rest == "Z" {
        "Z".to_string()
    } else {
        let zb = rest.as_bytes();
        if zb.len() != 6 || !matches!(zb[0], b'+' | b'-') || zb[3] != b':' {
            return None;
        }
        let hh: u32 = rest[1..3].parse().ok()?;
        let mm: u32 = rest[4..6].parse().ok()?;
        if hh > 24 || mm > 60 {
            return None;
        }
        if hh == 0 && mm == 0 {
            "Z".to_string()
        } else {
            format!("{}{hh:02}:{mm:02}", &rest[..1])
        }
    };
    let frac = if frac.is_empty() {
        frac
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"
    ))
}

// ---------------------------------------------------------------- Go formatting

/// The shortest decimal digits of a finite |f| and the position of the
/// decimal point (`0.d1d2… × 10^point`).
fn shortest_digits(f: f64) -> (String, i32) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

/// Go's `strconv.FormatFloat(f, fmt, -1, 64)` for `fmt` of `f`, `e`, `g`.
pub(super) fn go_format_float(f: f64, fmt: char) -> String {
    let (digits, point) = shortest_digits(f);
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let exp = point - 1;
    let use_e = match fmt {
        'e' => true,
        'g' => !(-4..6).contains(&exp),
        _ => false,
    };
    if use_e {
        let (first, more) = digits.split_at(1);
        let dot = if more.is_empty() {
            String::new()
        } else {
            format!(".{more}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Go's `json.Marshal` (or `MarshalIndent` with two spaces): keys in byte
/// order, `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json(v: &Value, pretty: bool) -> String {
    fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    fn newline(out: &mut String, pretty: bool, depth: usize) {
        if pretty {
            out.push('\n');
            out.push_str(&"  ".repeat(depth));
        }
    }
    fn value(out: &mut String, v: &Value, pretty: bool, depth: usize) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
                Some(f) => {
                    let abs = f.abs();
                    let mut s = go_format_float(
                        f,
                        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                            'e'
                        } else {
                            'f'
                        },
                    );
                    // Go writes e-07 as e-7.
                    if let Some(i) = s.find("e-0") {
                        s.remove(i + 2);
                    }
                    out.push_str(&s);
                }
                None => out.push_str(&n.to_string()),
            },
            Value::String(s) => string(out, s),
            Value::Array(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, pretty, depth + 1);
                    value(out, item, pretty, depth + 1);
                }
                newline(out, pretty, depth);
                out.push(']');
            }
            Value::Object(map) => {
                if map.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, pretty, depth + 1);
                    string(out, k);
                    out.push_str(if pretty { ": " } else { ":" });
                    value(out, item, pretty, depth + 1);
                }
                newline(out, pretty, depth);
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    value(&mut out, v, pretty, 0);
    out
}

/// Running the kustomize binary in tests, shared with the `vars` tests.
#[cfg(test)]
pub(super) mod oracle {

    use crate::Value;
    use crate::kustomize::resource::{ResMap, Resource};

    /// Writes `files` into a temporary directory, which is returned.
    pub fn write(files: &[(&str, &str)]) -> tempfile::TempDir {
        testkit::tools::write_tree(files)
    }

    /// `kustomize build dir`: the objects sorted by [`sorted`], or the error.
    pub fn build(root: &std::path::Path, dir: &str) -> Result<Vec<Value>, String> {
        testkit::tools::kustomize_build(&root.join(dir)).map(|text| sorted(docs(&text)))
    }

    pub fn docs(yaml: &str) -> Vec<Value> {
        serde_saphyr::from_multiple::<Value>(yaml)
            .unwrap()
            .into_iter()
            .filter(|v| !v.is_null())
            .collect()
    }

    pub fn resmap(yaml: &str) -> ResMap {
        let mut rm = ResMap::new();
        for d in docs(yaml) {
            rm.append(Resource::new(d, "res.yaml")).unwrap();
        }
        rm
    }

    /// Whole floats as integers: how they print is the YAML writer's
    /// business, not what these tests compare.
    fn normalize(v: &mut Value) {
        match v {
            Value::Number(n) if n.is_f64() => {
                *v = super::number_from_f64(n.as_f64().unwrap_or_default());
            }
            Value::Array(items) => items.iter_mut().for_each(normalize),
            Value::Object(map) => map.values_mut().for_each(normalize),
            _ => {}
        }
    }

    /// Objects in an order independent of kustomize's sorting.
    pub fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
        objects.iter_mut().for_each(normalize);
        let key = |v: &Value| {
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
        };
        objects.sort_by_key(key);
        objects
    }

    /// Panics naming the first object that differs, both versions shown.
    pub fn assert_same(got: &[Value], want: &[Value], context: &str) {
        for (g, w) in got.iter().zip(want) {
            assert!(
                g == w,
                "{context}: gyro gave\n{}\nkustomize gave\n{}",
                serde_json::to_string_pretty(g).unwrap(),
                serde_json::to_string_pretty(w).unwrap()
            );
        }
        assert_eq!(got.len(), want.len(), "{context}: object counts differ");
    }

    /// Renames like `namePrefix`/`namespace` do, recording the old id.
    pub fn rename(rm: &mut ResMap, prefix: &str, namespace: Option<&str>) {
        for r in rm.iter_mut() {
            r.store_previous_id();
            let name = format!("{prefix}{}", r.name());
            r.set_name(&name);
            if let Some(ns) = namespace
                && !r.gvk().is_cluster_scoped()
            {
                r.set_namespace(ns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::oracle::{self, resmap, sorted};
    use super::*;
    use crate::fs::DiskFs;
    use crate::kustomize::Kustomization;

    /// Builds `res.yaml` with the replacements with kustomize and with
    /// [`apply`]; the objects (or the failure) must agree. `extra` are more
    /// files. Returns gyro's objects (or error) for further checks.
    fn check(
        res: &str,
        replacements: &str,
        extra: &[(&str, &str)],
    ) -> std::result::Result<Vec<Value>, Error> {
        let kustomization = format!("resources: [res.yaml]\nreplacements:\n{replacements}");
        let mut files = vec![
            ("res.yaml", res),
            ("kustomization.yaml", kustomization.as_str()),
        ];
        files.extend_from_slice(extra);
        let tmp = oracle::write(&files);
        let k: Kustomization = serde_saphyr::from_str(&kustomization).unwrap();
        let mut rm = resmap(res);
        let ours = load(
            &DiskFs::new(tmp.path()),
            "",
            "kustomization.yaml",
            &k.replacements,
        )
        .and_then(|reps| apply(&mut rm, &reps))
        .map(|()| sorted(rm.into_objects()));
        {
            match (oracle::build(tmp.path(), "."), &ours) {
                (Ok(want), Ok(got)) => oracle::assert_same(got, &want, replacements),
                (Err(_), Err(_)) => {}
                (Ok(want), Err(e)) => panic!("gyro failed ({e}) where kustomize gave {want:#?}"),
                (Err(e), Ok(got)) => panic!("kustomize failed ({e}) where gyro gave {got:#?}"),
            }
        }
        ours
    }

    const TYPES: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: src
data:
  str3: "3"
  word: abc
  t: "true"
  date: "2001-12-14"
  ver: "1.2.3"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep
  labels:
    a: b
    c: "1"
  annotations:
    strfield: "x"
spec:
  replicas: 2
  f: 2.5
  flag: true
  list: [1, 2]
  map: {q: r}
  args: ["--a", "-jar", "x"]
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.0
      - name: app-sidecar
        image: side:1.0
      - name: other
        image: other:1.0
"#;

    #[test]
    fn scalars_keep_the_target_type_and_new_fields_read_as_yaml() {
        check(
            TYPES,
            r#"
- source: {kind: Deployment, fieldPath: spec.replicas}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [metadata.annotations.strfield, metadata.labels.newint]
    options: {create: true}
- source: {kind: ConfigMap, fieldPath: data.str3}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.template.metadata.labels.created, spec.replicas, spec.f]
    options: {create: true}
- source: {kind: ConfigMap, fieldPath: data.t}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.template.metadata.labels.bool, spec.flag]
    options: {create: true}
- source: {kind: ConfigMap, fieldPath: data.date}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.date, metadata.labels.a]
    options: {create: true}
- sourceValue: ""
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.empty]
    options: {create: true}
- sourceValue: "0x1F"
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.hex, spec.map]
    options: {create: true}
"#,
            &[],
        )
        .unwrap();
    }

    #[test]
    fn annotations_end_as_text() {
        check(
            TYPES,
            // (Labels hold no float here: the value model keeps no
            // float's original text.)
            r#"
- source: {kind: Deployment, fieldPath: metadata.labels}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [metadata.annotations.m]
    options: {create: true}
  - select: {kind: ConfigMap}
    fieldPaths: [metadata.annotations]
    options: {create: true}
- sourceValue: "1.50"
  targets:
  - select: {kind: Deployment}
    fieldPaths: [metadata.annotations.f, spec.template.metadata.annotations.f, metadata.labels.f]
    options: {create: true}
- source: {kind: Deployment, fieldPath: spec.replicas}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [metadata.annotations.r, spec.template.metadata.annotations.r, metadata.labels.r]
    options: {create: true}
"#,
            &[],
        )
        .unwrap();
    }

    #[test]
    fn maps_and_lists_replace_whole_and_empty_scalars() {
        check(
            TYPES,
            r#"
- source: {kind: Deployment, fieldPath: metadata.labels}
  targets:
  - select: {kind: ConfigMap}
    fieldPaths: [data.word, spec.new]
    options: {create: true}
  - select: {kind: Deployment}
    fieldPaths: [spec.list]
- source: {kind: ConfigMap, fieldPath: data.word}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.map]
"#,
            &[],
        )
        .unwrap();
    }

    #[test]
    fn list_matchers_are_unanchored_regexes_and_delimiters_split_the_target() {
        let got = check(
            TYPES,
            r#"
- sourceValue: v2
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=app].image
    options: {delimiter: ":", index: 1}
- sourceValue: pre
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.template.spec.containers.2.image]
    options: {delimiter: ":", index: -1}
- sourceValue: suf
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.template.spec.containers.2.image]
    options: {delimiter: ":", index: 9}
- sourceValue: XX
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.args.[=-jar]
    - spec.template.spec.containers.*.name
"#,
            &[],
        )
        .unwrap();
        let dep = got.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(
            dep["spec"]["template"]["spec"]["containers"][1]["image"],
            "side:v2"
        );
    }

    #[test]
    fn source_options_pick_one_part() {
        check(
            TYPES,
            r#"
- source: {kind: ConfigMap, fieldPath: data.ver, options: {delimiter: ".", index: 1}}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.minor, spec.replicas]
    options: {create: true}
"#,
            &[],
        )
        .unwrap();
        check(
            TYPES,
            r#"
- source: {kind: ConfigMap, fieldPath: data.ver, options: {delimiter: ".", index: 3}}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.minor]
"#,
            &[],
        )
        .unwrap_err();
    }

    #[test]
    fn creating_builds_maps_and_lists_but_not_under_null() {
        check(
            r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
spec:
  a: null
  l: null
  m: {}
  e: []
  s: [x]
"#,
            r#"
- sourceValue: "zz"
  targets:
  - select: {kind: ConfigMap}
    fieldPaths:
    - spec.a.b
    - spec.l.0
    - spec.m.x.y
    - spec.e.0.q
    - spec.e.[name=foo].bar
    - spec.m.z.[=foo]
    - spec.s.1
    - spec.n.[port=80].x
    options: {create: true}
"#,
            &[],
        )
        .unwrap();
    }

    #[test]
    fn type_mismatches_and_missing_fields_fail() {
        for (fp, value) in [
            ("spec.replicas", "abc"),
            ("spec.replicas", "1.5"),
            ("spec.flag", "yes"),
            ("spec.nothere", "x"),
            ("spec.template.spec.containers.5.image", "x"),
            ("metadata.labels.*", "x"),
        ] {
            let err = check(
                TYPES,
                &format!(
                    "- sourceValue: \"{value}\"\n  targets:\n  - select: {{kind: Deployment}}\n    fieldPaths: [\"{fp}\"]\n"
                ),
                &[],
            );
            assert!(err.is_err(), "{fp} <- {value}");
        }
        check(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  n: null\n",
            "- sourceValue: x\n  targets:\n  - select: {kind: ConfigMap}\n    fieldPaths: [data.n]\n",
            &[],
        )
        .unwrap_err();
        check(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  n: null\n",
            "- sourceValue: \"~\"\n  targets:\n  - select: {kind: ConfigMap}\n    fieldPaths: [data.n]\n",
            &[],
        )
        .unwrap();
    }

    #[test]
    fn sources_must_be_exactly_one_object() {
        for source in [
            "{kind: ConfigMap, name: nope}",
            "{version: v1}",
            "{kind: ConfigMap, fieldPath: data.nope}",
        ] {
            let reps = format!(
                "- source: {source}\n  targets:\n  - select: {{kind: Deployment}}\n    fieldPaths: [spec.x]\n    options: {{create: true}}\n"
            );
            check(TYPES, &reps, &[]).unwrap_err();
        }
        let reps = "- source: {kind: ConfigMap, namespace: default, fieldPath: data.word}\n  targets:\n  - select: {name: dep}\n    fieldPaths: [spec.x]\n    options: {create: true}\n";
        check(TYPES, reps, &[]).unwrap();
    }

    #[test]
    fn select_and_reject() {
        let res = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: {tier: web}
data: {k: a}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  namespace: default
  labels: {tier: db}
data: {k: b}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  namespace: other
data: {k: c}
---
apiVersion: v1
kind: Secret
metadata:
  name: s
stringData: {k: s}
"#;
        for target in [
            "{select: {kind: ConfigMap}, reject: [{name: a}], fieldPaths: [data.k]}",
            "{select: {kind: ConfigMap, labelSelector: tier}, fieldPaths: [data.k]}",
            "{select: {namespace: default}, fieldPaths: [data.k]}",
            "{select: {namespace: other|default}, fieldPaths: [data.k]}",
            "{select: {name: '[ab]'}, reject: [{labelSelector: tier=db, name: zzz}], fieldPaths: [data.k]}",
            "{select: {}, reject: [{kind: ConfigMap}], fieldPaths: [stringData.k]}",
            "{select: {version: v1, annotationSelector: '!x'}, reject: [{kind: Secret}, {namespace: other}], fieldPaths: [data.k]}",
        ] {
            let reps = format!("- sourceValue: new\n  targets:\n  - {target}\n");
            check(res, &reps, &[]).unwrap();
        }
    }

    #[test]
    fn renamed_objects_match_by_any_of_their_names() {
        let base = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data: {k: v1}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: t1
  namespace: default
data: {k: x}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: t2
data: {k: x}
"#;
        let cases = [
            (
                "{kind: ConfigMap, name: cm, fieldPath: data.k}",
                "{name: t1}",
            ),
            (
                "{kind: ConfigMap, name: b-cm, fieldPath: data.k}",
                "{name: b-t1}",
            ),
            (
                "{kind: ConfigMap, name: o-b-cm, fieldPath: data.k}",
                "{name: o-b-t.*}",
            ),
            (
                "{kind: ConfigMap, name: cm, namespace: default, fieldPath: data.k}",
                "{namespace: default}",
            ),
            (
                "{kind: ConfigMap, name: cm, namespace: ns1, fieldPath: data.k}",
                "{namespace: ns1}",
            ),
            (
                "{kind: ConfigMap, name: cm, fieldPath: data.k}",
                "{name: t2, namespace: default}",
            ),
        ];
        for (source, select) in cases {
            let overlay = format!(
                "resources: [../base]\nnamePrefix: o-\nnamespace: ns1\nreplacements:\n- source: {source}\n  targets:\n  - select: {select}\n    fieldPaths: [data.k]\n"
            );
            let tmp = oracle::write(&[
                ("base/res.yaml", base),
                (
                    "base/kustomization.yaml",
                    "resources: [res.yaml]\nnamePrefix: b-\n",
                ),
                ("ov/kustomization.yaml", &overlay),
            ]);
            let k: Kustomization = serde_saphyr::from_str(&overlay).unwrap();
            let mut rm = resmap(base);
            oracle::rename(&mut rm, "b-", None);
            oracle::rename(&mut rm, "o-", Some("ns1"));
            let ours = apply(&mut rm, &k.replacements).map(|()| sorted(rm.into_objects()));
            match (oracle::build(tmp.path(), "ov"), ours) {
                (Ok(want), Ok(got)) => {
                    oracle::assert_same(&got, &want, &format!("{source} -> {select}"))
                }
                (Err(_), Err(_)) => {}
                (want, got) => panic!("{source} -> {select}: kustomize {want:?}, gyro {got:?}"),
            }
        }
    }

    #[test]
    fn json_inside_a_string_is_edited_in_place() {
        let res = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  compact: '{"b":{"port":80,"host":"old"},"a":[1,2],"h":"<x>"}'
  pretty: |
    {
      "z": {"host": "old"},
      "list": [{"name": "one", "v": 1}]
    }
  number: "5"
"#;
        let got = check(
            res,
            r#"
- sourceValue: "new.example"
  targets:
  - select: {kind: ConfigMap}
    fieldPaths:
    - data.compact.b.host
    - data.pretty.z.host
    - data.pretty.list.[name=one].v
    - data.compact.b.port
    - data.compact.c
    options: {create: true}
"#,
            &[],
        )
        .unwrap();
        let compact = got[0]["data"]["compact"].as_str().unwrap();
        assert!(compact.contains("new.example"), "{compact}");
        check(res, "- sourceValue: x\n  targets:\n  - select: {kind: ConfigMap}\n    fieldPaths: [data.number.x]\n", &[])
            .unwrap_err();
    }

    #[test]
    fn replacements_load_from_files() {
        let res = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v1\n  j: x\n  i: z\n";
        let one = "source: {kind: ConfigMap, fieldPath: data.k, bogus: 1}\npath: ignored.yaml\ntargets:\n- select: {kind: ConfigMap}\n  fieldPaths: [data.j]\n  bogus2: 3\n";
        let list = "- sourceValue: from-list\n  targets:\n  - select: {kind: ConfigMap}\n    fieldPaths: [data.i]\n";
        let got = check(
            res,
            "- path: one.yaml\n- path: sub/list.yaml\n",
            &[("one.yaml", one), ("sub/list.yaml", list)],
        )
        .unwrap();
        assert_eq!(got[0]["data"]["i"], "from-list");
        check(
            res,
            "- path: one.yaml\n  sourceValue: zz\n",
            &[("one.yaml", one)],
        )
        .unwrap();
        check(
            res,
            "- path: one.yaml\n  targets: [{select: {}}]\n",
            &[("one.yaml", one)],
        )
        .unwrap_err();
        check(res, "- path: missing.yaml\n", &[]).unwrap_err();
        check(res, "- path: s.yaml\n", &[("s.yaml", "just text\n")]).unwrap_err();
        // Like kustomize, files must be in or below the kustomization's
        // directory.
        let mut fs = crate::fs::MemFs::new();
        fs.add("r.yaml", list).add("sub/r.yaml", list);
        let field = |path: &str| ReplacementField {
            path: path.to_string(),
            ..Default::default()
        };
        assert!(load(&fs, "sub", "sub/kustomization.yaml", &[field("../r.yaml")]).is_err());
        assert_eq!(
            load(&fs, "sub", "sub/kustomization.yaml", &[field("r.yaml")])
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn incomplete_replacements_fail() {
        let res = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n";
        for reps in [
            "- sourceValue: zz\n",
            "- sourceValue: zz\n  targets: []\n",
            "- sourceValue: zz\n  targets:\n  - fieldPaths: [data.k]\n",
            "- sourceValue: zz\n  source: {kind: ConfigMap}\n  targets:\n  - select: {}\n",
            "- sourceValue: zz\n  targets:\n  - select: {name: '['}\n",
        ] {
            check(res, reps, &[]).unwrap_err();
        }
    }

    #[test]
    fn field_paths_split_like_kustomize() {
        assert_eq!(split_field_path("a.b.c"), ["a", "b", "c"]);
        assert_eq!(
            split_field_path("metadata.annotations.[a.b/c]"),
            ["metadata", "annotations", "a.b/c"]
        );
        assert_eq!(split_field_path("x.[name=a.b].y"), ["x", "[name=a.b]", "y"]);
        assert_eq!(split_field_path(r"data.a\.b.c"), ["data", "a.b", "c"]);
        assert_eq!(split_field_path(".a.b"), ["a", "b"]);
        assert_eq!(split_field_path("[foo]"), ["[foo]"]);
    }

    #[test]
    fn plain_scalars_resolve_like_goyaml_v3() {
        let r = |s: &str| resolve_plain(s).unwrap();
        assert_eq!(r("010"), Value::from(8));
        assert_eq!(r("08"), Value::from(8));
        assert_eq!(r("0o17"), Value::from(15));
        assert_eq!(r("-0x10"), Value::from(-16));
        assert_eq!(r("1_000"), Value::from(1000));
        assert_eq!(r("+5"), Value::from(5));
        assert_eq!(r("1.5"), serde_json::json!(1.5));
        assert_eq!(r(".5"), serde_json::json!(0.5));
        assert_eq!(r("1e3"), Value::from(1000));
        assert_eq!(r("yes"), Value::from("yes"));
        assert_eq!(r("True"), Value::Bool(true));
        assert_eq!(r("~"), Value::Null);
        assert_eq!(r("1e400"), Value::from("1e400"));
        assert_eq!(r("18446744073709551615"), Value::from(u64::MAX));
        assert_eq!(r("2001-12-14"), Value::from("2001-12-14T00:00:00Z"));
        assert_eq!(
            r("2001-12-14t21:59:43.10-05:00"),
            Value::from("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            r("2001-12-14 21:59:43.10"),
            Value::from("2001-12-14T21:59:43.1Z")
        );
        assert_eq!(r("2001-02-30"), Value::from("2001-02-30"));
        assert!(resolve_plain(".inf").is_err());
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(go_format_float(1e6, 'g'), "1e+06");
        assert_eq!(go_format_float(123456.0, 'g'), "123456");
        assert_eq!(go_format_float(1.5, 'g'), "1.5");
        assert_eq!(go_format_float(0.0001, 'g'), "0.0001");
        assert_eq!(go_format_float(0.00001, 'g'), "1e-05");
        assert_eq!(go_format_float(1e6, 'f'), "1000000");
        assert_eq!(go_format_float(0.001, 'f'), "0.001");
        assert_eq!(go_format_float(-2.5, 'f'), "-2.5");
        assert_eq!(
            go_json(&serde_json::json!({"b": 1e21, "a": 1e-7, "c": 0.5}), false),
            r#"{"a":1e-7,"b":1e+21,"c":0.5}"#
        );
    }
}
