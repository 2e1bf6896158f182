//! `configMapGenerator` and `secretGenerator`: ConfigMaps and Secrets made
//! from literals, files and env files, combined with a base's object of the
//! same id (`behavior: merge|replace`), and named with kustomize's content
//! hash suffix.
//!
//! What kustomize v5 does, and so what this does:
//! - Sources are read in the order env files (`envs`, then the legacy
//!   `env`), literals, files; a key seen twice is an error.
//! - Keys are not validated beyond that (kustomize's field validator
//!   accepts any key), so `export X` or `bad key` become keys as written.
//! - Env files: one `KEY=VALUE` per line; leading whitespace, blank lines
//!   and `#` comments are skipped; the value is taken verbatim (no quote
//!   removal, no trimming). A bare `KEY` gives an empty value: kustomize v5
//!   does not look the key up in the environment, and neither does gyro,
//!   which keeps rendering independent of the process environment.
//! - Literals: `key=value`, the value split at the first `=`; one pair of
//!   matching surrounding quotes is removed.
//! - Files: `path` (key = base name) or `key=path`, read from inside the
//!   kustomization's directory only (kustomize's default load restrictor).
//!   Non-UTF-8 content goes to a ConfigMap's `binaryData`.
//! - Secret values, and `binaryData`, are base64 wrapped at 70 columns,
//!   with a newline after every line once the encoding is 70 or more long.

use std::collections::BTreeMap;

use serde_json::Map;
use sha2::{Digest, Sha256};

use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::resource::{Behavior, Resource, get_path};
use crate::fs::{self, Fs};
use crate::{Error, Result, Value};

/// What a generator entry makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorKind {
    ConfigMap,
    Secret,
}

impl GeneratorKind {
    pub fn kind(self) -> &'static str {
        match self {
            GeneratorKind::ConfigMap => "ConfigMap",
            GeneratorKind::Secret => "Secret",
        }
    }

    /// The kustomization field that lists such generators.
    pub fn field(self) -> &'static str {
        match self {
            GeneratorKind::ConfigMap => "configMapGenerator",
            GeneratorKind::Secret => "secretGenerator",
        }
    }
}

/// A key and its raw value (file contents may be any bytes).
type Pair = (String, Vec<u8>);

/// A ConfigMap (kind = "ConfigMap") or Secret (kind = "Secret") from one
/// generator entry, read relative to the kustomization directory `dir` (a
/// tree path). `global` is the kustomization's generatorOptions.
/// `kustomization_file` is used as Resource.file and in errors.
pub fn generate(
    fs: &dyn Fs,
    dir: &str,
    kustomization_file: &str,
    kind: GeneratorKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
) -> Result<Resource> {
    let context = |e: Error| {
        let e = e.in_file(kustomization_file).at_field(kind.field());
        if args.name.is_empty() {
            e
        } else {
            e.for_object(format!("{}/{}", kind.kind(), args.name))
        }
    };
    if args.name.is_empty() {
        // kustomize says "configmap" for Secrets too.
        return Err(context(Error::new("a configmap must have a name")));
    }
    let opts = Options::merged(args.options.as_ref(), global);
    let pairs = load_pairs(fs, dir, args).map_err(context)?;
    let obj = make_object(kind, args, &opts, pairs).map_err(context)?;
    let mut r = Resource::new(obj, kustomization_file);
    r.needs_hash = !opts.disable_name_suffix_hash;
    r.behavior = behavior(&args.behavior);
    Ok(r)
}

/// kustomize treats an unknown behavior like an absent one.
fn behavior(s: &str) -> Behavior {
    match s {
        "create" => Behavior::Create,
        "replace" => Behavior::Replace,
        "merge" => Behavior::Merge,
        _ => Behavior::Unspecified,
    }
}

/// An entry's options with the kustomization's `generatorOptions` folded
/// in: the entry's own labels and annotations win, the flags are or-ed.
#[derive(Debug, Default)]
struct Options {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    disable_name_suffix_hash: bool,
    immutable: bool,
}

impl Options {
    fn merged(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> Options {
        let mut o = Options::default();
        for opts in [local, global].into_iter().flatten() {
            for (k, v) in &opts.labels {
                o.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &opts.annotations {
                o.annotations.entry(k.clone()).or_insert_with(|| v.clone());
            }
            o.disable_name_suffix_hash |= opts.disable_name_suffix_hash;
            o.immutable |= opts.immutable;
        }
        o
    }
}

fn load_pairs(fs: &dyn Fs, dir: &str, args: &GeneratorArgs) -> Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    let env_files = args
        .envs
        .iter()
        .chain(std::iter::once(&args.env).filter(|e| !e.is_empty()));
    for path in env_files {
        let content = read_in_dir(fs, dir, path).map_err(|e| e.at_field("envs"))?;
        let more = parse_env_file(&content)
            .map_err(|e| e.in_file(fs::join(dir, path).unwrap_or_else(|_| path.clone())))?;
        pairs.extend(more);
    }
    for literal in &args.literals {
        pairs.push(parse_literal(literal).map_err(|e| e.at_field("literals"))?);
    }
    for source in &args.files {
        let (key, path) = parse_file_source(source).map_err(|e| e.at_field("files"))?;
        let content = read_in_dir(fs, dir, path).map_err(|e| e.at_field("files"))?;
        pairs.push((key, content));
    }
    Ok(pairs)
}

/// Reads `rel` from inside `dir`, refusing paths that leave it, as
/// kustomize's default load restrictor does.
fn read_in_dir(fs: &dyn Fs, dir: &str, rel: &str) -> Result<Vec<u8>> {
    if rel.starts_with("http://") || rel.starts_with("https://") {
        return Err(Error::new(format!(
            "'{rel}': remote files are not supported (gyro renders without network access)"
        )));
    }
    let outside = || {
        Error::new(format!(
            "security; file '{rel}' is not in or below '{}'",
            fs::display(dir)
        ))
    };
    if rel.starts_with('/') {
        return Err(outside());
    }
    let path = fs::join(dir, rel).map_err(|_| outside())?;
    let inside = dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        return Err(outside());
    }
    if fs.is_dir(&path) {
        return Err(Error::new(format!("'{path}' must resolve to a file")));
    }
    fs.read(&path)
}

/// `key=value`; one pair of matching quotes around the value is dropped.
fn parse_literal(source: &str) -> Result<Pair> {
    match source.split_once('=') {
        Some((key, value)) if !key.is_empty() => {
            Ok((key.to_string(), unquote(value).as_bytes().to_vec()))
        }
        _ => Err(Error::new(format!(
            "invalid literal source {source}, expected key=value"
        ))),
    }
}

fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `path` (the key is the base name) or `key=path`.
fn parse_file_source(source: &str) -> Result<(String, &str)> {
    let Some((key, path)) = source.split_once('=') else {
        return Ok((base_name(source).to_string(), source));
    };
    if path.contains('=') {
        Err(Error::new(format!(
            "source {source:?} key name or file path contains '='"
        )))
    } else if key.is_empty() {
        Err(Error::new(format!(
            "missing key name for file path {path:?} in source {source:?}"
        )))
    } else if path.is_empty() {
        Err(Error::new(format!(
            "missing file path for key name {key:?} in source {source:?}"
        )))
    } else {
        Ok((key.to_string(), path))
    }
}

/// The last element of a `/` path, ignoring trailing slashes (Go's
/// `path.Base`).
fn base_name(p: &str) -> &str {
    if p.is_empty() {
        return ".";
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// The longest line kustomize's line scanner accepts; at a longer line it
/// stops reading the file without an error, and so does this.
const MAX_ENV_LINE: usize = 64 * 1024 - 1;

fn parse_env_file(content: &[u8]) -> Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    let mut rest = content;
    let mut number = 0usize;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        if line.len() > MAX_ENV_LINE {
            break;
        }
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(mut text) = std::str::from_utf8(line) else {
            return Err(Error::new(format!(
                "line {} has invalid utf8 bytes",
                number + 1
            )));
        };
        if number == 0 {
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        number += 1;
        let text = text.trim_start();
        if text.starts_with('#') {
            continue;
        }
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        if key.is_empty() {
            continue;
        }
        pairs.push((key.to_string(), value.as_bytes().to_vec()));
    }
    Ok(pairs)
}

fn make_object(
    kind: GeneratorKind,
    args: &GeneratorArgs,
    opts: &Options,
    pairs: Vec<Pair>,
) -> Result<Value> {
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, value) in pairs {
        if data.contains_key(&key) || binary.contains_key(&key) {
            return Err(Error::new(format!(
                "configmap {} illegally repeats the key `{key}`",
                args.name
            )));
        }
        match kind {
            GeneratorKind::Secret => {
                data.insert(key, Value::String(base64_wrapped(&value)));
            }
            GeneratorKind::ConfigMap => match String::from_utf8(value) {
                Ok(text) => {
                    data.insert(key, Value::String(text));
                }
                Err(e) => {
                    binary.insert(key, Value::String(base64_wrapped(e.as_bytes())));
                }
            },
        }
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    for (field, map) in [("labels", &opts.labels), ("annotations", &opts.annotations)] {
        if !map.is_empty() {
            metadata.insert(field.into(), string_map(map));
        }
    }

    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.kind().into()));
    obj.insert("metadata".into(), Value::Object(metadata));
    if kind == GeneratorKind::Secret {
        let type_ = if args.type_.is_empty() {
            "Opaque"
        } else {
            &args.type_
        };
        obj.insert("type".into(), Value::String(type_.to_string()));
        // A generated Secret always has `data`, even when empty.
        obj.insert("data".into(), Value::Object(data));
    } else if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if opts.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    Ok(Value::Object(obj))
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 in kustomize's layout: lines of 70, each ending in a newline,
/// once the encoding reaches 70 characters.
fn base64_wrapped(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    // Base64 is ASCII, so byte chunks are whole characters.
    for line in encoded.as_bytes().chunks(LINE) {
        out.extend(line.iter().map(|&b| char::from(b)));
        out.push('\n');
    }
    out
}

/// Applies a generated resource with behavior merge/replace onto an
/// existing resource of the same id from a base (kustomize semantics: merge
/// data keys, labels, annotations; replace swaps contents) — keeps the
/// existing resource's bookkeeping as kustomize does.
///
/// The result is the generated object, with the existing object's labels
/// and annotations under its own, the existing name and namespace, and for
/// `merge` the existing `data` and `binaryData` under its own (a base
/// Secret's `stringData` is encoded into its `data` first). Everything else
/// of the existing object (a Secret's `type`, `immutable`, other metadata)
/// is dropped, as in kustomize. The id history, prefixes, suffixes and
/// behavior stay the existing resource's; the hash suffix is kept only when
/// both wanted one.
pub fn merge_into(existing: &mut Resource, generated: Resource) -> Result<()> {
    let merge = match generated.behavior {
        Behavior::Merge => true,
        Behavior::Replace => false,
        other => {
            let name = match other {
                Behavior::Create => "create",
                _ => "unspecified",
            };
            return Err(Error::new(format!(
                "id {} exists; can not use behavior: '{name}', behavior must be merge or replace",
                existing.cur_id()
            ))
            .in_file(generated.file.clone())
            .for_object(existing.describe()));
        }
    };
    let old = &existing.obj;
    let mut obj = generated.obj;
    for field in ["labels", "annotations"] {
        let path = ["metadata", field];
        let merged = merge_over(string_entries(get_path(old, &path)), get_path(&obj, &path));
        set_or_remove(&mut obj, &path, merged);
    }
    for field in ["name", "namespace"] {
        let path = ["metadata", field];
        let value = get_path(old, &path).map(scalar_text).unwrap_or_default();
        if value.is_empty() {
            set_or_remove(&mut obj, &path, Map::new());
        } else {
            super::resource::set_path(&mut obj, &path, Value::String(value));
        }
    }
    if merge {
        let is_secret =
            str_field(&obj, "apiVersion") == "v1" && str_field(&obj, "kind") == "Secret";
        let old_data = if is_secret {
            secret_data_with_string_data(old).map_err(|e| e.for_object(existing.describe()))?
        } else {
            string_entries(get_path(old, &["data"]))
        };
        let data = merge_over(old_data, get_path(&obj, &["data"]));
        set_or_remove(&mut obj, &["data"], data);
        let binary = merge_over(
            string_entries(get_path(old, &["binaryData"])),
            get_path(&obj, &["binaryData"]),
        );
        set_or_remove(&mut obj, &["binaryData"], binary);
    }
    existing.obj = obj;
    existing.needs_hash &= generated.needs_hash;
    Ok(())
}

fn str_field<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The text of a YAML scalar as kustomize reads map values: null and
/// non-scalars read as empty.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A map's entries with their values as text; a non-map reads as empty.
fn string_entries(v: Option<&Value>) -> Map<String, Value> {
    merge_over(Map::new(), v)
}

/// `base` with the entries of map `over` (as text) put over it.
fn merge_over(mut base: Map<String, Value>, over: Option<&Value>) -> Map<String, Value> {
    if let Some(Value::Object(m)) = over {
        for (k, v) in m {
            base.insert(k.clone(), Value::String(scalar_text(v)));
        }
    }
    base
}

/// Sets a map at `path`, or removes the field when the map is empty (as
/// kustomize drops empty labels, annotations and data).
fn set_or_remove(obj: &mut Value, path: &[&str], map: Map<String, Value>) {
    if !map.is_empty() {
        super::resource::set_path(obj, path, Value::Object(map));
        return;
    }
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = Some(obj);
    for key in init {
        cur = cur.and_then(|v| v.get_mut(*key));
    }
    if let Some(Value::Object(m)) = cur {
        m.remove(*last);
    }
}

/// A base Secret's `data` with its `stringData` encoded in (winning), the
/// way the API server would store it.
fn secret_data_with_string_data(old: &Value) -> Result<Map<String, Value>> {
    let mut data = string_entries(get_path(old, &["data"]));
    if let Some(Value::Object(string_data)) = old.get("stringData") {
        for (k, v) in string_data {
            if v.is_object() || v.is_array() {
                return Err(
                    Error::new(format!("stringData value for key {k:?} must be a scalar"))
                        .at_field("stringData"),
                );
            }
            let encoded = base64_wrapped(scalar_text(v).as_bytes());
            data.insert(k.clone(), Value::String(encoded));
        }
    }
    Ok(data)
}

/// The content hash suffix kustomize appends (e.g. "-5b4ktgc4fh"), for a
/// ConfigMap or Secret object.
///
/// kustomize hashes a small JSON document: the kind, an empty name (its
/// lookup of the name never finds it), `data`, and `binaryData` (ConfigMaps)
/// or `type` and `stringData` (Secrets). The JSON is Go's: sorted keys,
/// HTML-safe escapes, numbers as float64.
pub fn hash_suffix(obj: &Value) -> Result<String> {
    let kind = str_field(obj, "kind");
    let (extra, is_secret) = match kind {
        "ConfigMap" => ("binaryData", false),
        "Secret" => ("stringData", true),
        _ => {
            return Err(Error::new(format!(
                "cannot compute a name hash for kind '{kind}' (only ConfigMap and Secret)"
            ))
            .for_object(super::resource::describe(obj)));
        }
    };
    let extra = obj.get(extra).filter(|v| v.is_object()).map(|v| (extra, v));
    // Written directly, keys in the order Go sorts them: binaryData, data,
    // kind, name, stringData, type.
    let mut json = String::from("{");
    if let Some(("binaryData", v)) = extra {
        json.push_str("\"binaryData\":");
        go_json(v, &mut json);
        json.push(',');
    }
    json.push_str("\"data\":");
    hash_field(obj.get("data"), &mut json);
    json.push_str(",\"kind\":");
    go_string(kind, &mut json);
    json.push_str(",\"name\":\"\"");
    if let Some(("stringData", v)) = extra {
        json.push_str(",\"stringData\":");
        go_json(v, &mut json);
    }
    if is_secret {
        json.push_str(",\"type\":");
        hash_field(obj.get("type"), &mut json);
    }
    json.push('}');

    let digest = Sha256::digest(json.as_bytes());
    let mut suffix = String::with_capacity(11);
    suffix.push('-');
    for b in digest.iter().take(5) {
        for nibble in [b >> 4, b & 15] {
            // kustomize's alphabet: hex with some digits and letters
            // swapped for others, so the result never spells words.
            suffix.push(match nibble {
                0 => 'g',
                1 => 'h',
                3 => 'k',
                10 => 'm',
                14 => 't',
                n => char::from_digit(u32::from(n), 16).unwrap_or('0'),
            });
        }
    }
    Ok(suffix)
}

/// A field as kustomize feeds it to the hash: maps as they are, scalars as
/// their text, missing or null as "", lists (never valid here) as null.
fn hash_field(v: Option<&Value>, out: &mut String) {
    match v {
        Some(v @ Value::Object(_)) => go_json(v, out),
        Some(Value::Array(_)) => out.push_str("null"),
        Some(scalar) => go_string(&scalar_text(scalar), out),
        None => out.push_str("\"\""),
    }
}

/// Serializes like Go's `encoding/json.Marshal` of decoded JSON.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            // serde_json's map is ordered by byte-wise key, as Go sorts.
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(item, out);
            }
            out.push('}');
        }
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float64 JSON form: shortest digits, plain notation within
/// [1e-6, 1e21), else exponent form like `1e+21` or `1e-7`.
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp:0>2}"),
        _ => s,
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Running the real kustomize on small trees, for the oracle tests of
    //! this and the sibling transformer modules.

    use std::path::Path;

    use crate::Value;

    /// Writes `files` (path, bytes) under `root`.
    pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
        for (path, content) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
    }

    /// `kustomize build root/dir`: the objects, or the error text.
    pub fn build(root: &Path, dir: &str) -> Result<Vec<Value>, String> {
        let text = testkit::tools::kustomize_build(&root.join(dir))?;
        Ok(serde_saphyr::from_multiple::<Value>(&text)
            .unwrap()
            .into_iter()
            .filter(|v| !v.is_null())
            .collect())
    }

    /// The object of `objs` with this kind and name.
    pub fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
        objs.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in {objs:#?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{build, find, write_tree};
    use super::*;
    use crate::fs::DiskFs;
    use crate::kustomize::Kustomization;

    fn read_kustomization(root: &std::path::Path, dir: &str) -> Kustomization {
        let text = std::fs::read_to_string(root.join(dir).join("kustomization.yaml")).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    /// Every generator entry of `dir`'s kustomization, as gyro makes them.
    fn generate_all(root: &std::path::Path, dir: &str) -> Result<Vec<Resource>> {
        let k = read_kustomization(root, dir);
        let fs = DiskFs::new(root);
        let file = format!("{dir}/kustomization.yaml");
        let global = k.generator_options.as_ref();
        let entries = k
            .config_map_generator
            .iter()
            .map(|a| (GeneratorKind::ConfigMap, a))
            .chain(
                k.secret_generator
                    .iter()
                    .map(|a| (GeneratorKind::Secret, a)),
            );
        entries
            .map(|(kind, args)| generate(&fs, dir, &file, kind, args, global))
            .collect()
    }

    /// Names the objects as kustomize does at the end of a build.
    fn finish(resources: Vec<Resource>) -> Vec<Value> {
        resources
            .into_iter()
            .map(|mut r| {
                if r.needs_hash {
                    let name = format!("{}{}", r.name(), hash_suffix(&r.obj).unwrap());
                    r.set_name(&name);
                }
                r.obj
            })
            .collect()
    }

    fn assert_same_objects(ours: &[Value], theirs: &[Value]) {
        assert_eq!(
            ours.len(),
            theirs.len(),
            "ours: {ours:#?}\ntheirs: {theirs:#?}"
        );
        for o in ours {
            let name = o["metadata"]["name"].as_str().unwrap();
            let t = find(theirs, o["kind"].as_str().unwrap(), name);
            assert_eq!(o, t, "object {name} differs");
        }
    }

    #[test]
    fn generated_objects_and_hashes_match_kustomize() {
        let tmp = tempfile::tempdir().unwrap();
        let long_line = format!("LONG={}\nAFTER=1\n", "x".repeat(70_000));
        let binary: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let long_text = "line of text\n".repeat(20);
        write_tree(
            tmp.path(),
            &[
                (
                    "app/kustomization.yaml",
                    br#"
generatorOptions:
  labels: {team: a, shared: global}
  annotations: {note: global}
configMapGenerator:
- name: literals
  literals:
  - plain=value
  - 'dq="quoted value"'
  - "sq='single'"
  - mixed="half'
  - eq=a=b=c
  - empty=
  - 'spaces= padded '
  - 'html=<a href="x">&amp;</a>'
  - "ctl=tab\there\u2028sep\u0001\bbell\fff"
  - "unicode=h\u00e9llo w\u00f6rld \u2603"
  - "multi=line one\nline two\n"
  - "num=12"
  - "bool=true"
  options:
    labels: {shared: local}
    annotations: {extra: x}
- name: envs
  namespace: ns1
  envs: [a.env, crlf.env]
  env: legacy.env
- name: files
  files: [text.txt, renamed.txt=text.txt, data/bin.dat, sub/long.txt]
  options:
    immutable: true
- name: nohash
  literals: [k=v]
  options:
    disableNameSuffixHash: true
- name: empty
- name: longline
  envs: [long.env]
secretGenerator:
- name: sec
  literals: [user=admin, "pass=s3cr=t"]
  files: [data/bin.dat, sub/long.txt]
- name: tls
  type: kubernetes.io/tls
  files: [tls.crt=text.txt, tls.key=text.txt]
  options:
    disableNameSuffixHash: true
- name: emptysec
- name: envsec
  envs: [a.env]
"#,
                ),
                (
                    "app/a.env",
                    "\u{feff}# comment\n\n   \t# indented comment\nA=1\n  B=two words \nexport C=3\nBARE\nQ=\"quoted\"\n=novalue\nURL=http://x/?a=b\n"
                        .as_bytes(),
                ),
                ("app/crlf.env", b"X=1\r\nY=2\r\n"),
                ("app/legacy.env", b"L=legacy"),
                ("app/text.txt", b"hello\nworld\n"),
                ("app/data/bin.dat", &binary),
                ("app/sub/long.txt", long_text.as_bytes()),
                ("app/long.env", long_line.as_bytes()),
            ],
        );
        let theirs = build(tmp.path(), "app").unwrap();
        let ours = finish(generate_all(tmp.path(), "app").unwrap());
        assert_same_objects(&ours, &theirs);
    }

    #[test]
    fn hashes_match_kustomize_for_small_variations() {
        // Many one-key objects: each differs in one byte or one field.
        let tmp = tempfile::tempdir().unwrap();
        let mut k = String::from("configMapGenerator:\n");
        let values = ["", "a", "b", "ab", "0", "1.5", "x y", "\\\\", "\\\"", "é"];
        for (i, v) in values.iter().enumerate() {
            k.push_str(&format!("- name: c{i}\n  literals: [\"k{i}={v}\"]\n"));
        }
        k.push_str("secretGenerator:\n");
        for (i, v) in values.iter().enumerate() {
            k.push_str(&format!(
                "- name: s{i}\n  literals: [\"k={v}\"]\n  type: t{i}\n"
            ));
        }
        write_tree(tmp.path(), &[("k/kustomization.yaml", k.as_bytes())]);
        let theirs = build(tmp.path(), "k").unwrap();
        let ours = finish(generate_all(tmp.path(), "k").unwrap());
        assert_same_objects(&ours, &theirs);
    }

    #[test]
    fn merge_and_replace_match_kustomize() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(
            tmp.path(),
            &[
                (
                    "base/kustomization.yaml",
                    br#"
resources: [cm.yaml]
configMapGenerator:
- name: gen
  literals: [a=1, b=2]
  options:
    labels: {l1: base}
    annotations: {an1: base}
- name: gen2
  literals: [a=1]
secretGenerator:
- name: sec
  type: kubernetes.io/tls
  literals: [a=1]
  options:
    immutable: true
- name: nohash
  literals: [a=1]
  options:
    disableNameSuffixHash: true
"#,
                ),
                (
                    "base/cm.yaml",
                    br#"apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
  labels: {pl: x, shared: base}
  annotations: {pa: z}
  finalizers: [f]
data:
  k1: v1
  k2: v2
binaryData:
  bk: AAAA
immutable: true
---
apiVersion: v1
kind: Secret
metadata:
  name: plainsec
type: kubernetes.io/tls
data:
  d1: MQ==
stringData:
  s1: hello
  d1: over
  long: "0123456789012345678901234567890123456789012345678901234567890123456789"
"#,
                ),
                (
                    "overlay/kustomization.yaml",
                    br#"
resources: [../base]
configMapGenerator:
- name: plain
  behavior: merge
  literals: [k2=new, k3=v3]
  options:
    labels: {shared: ov}
- name: gen
  behavior: replace
  literals: [c=3]
  options:
    annotations: {an2: ov}
- name: gen2
  behavior: merge
  options:
    disableNameSuffixHash: true
secretGenerator:
- name: sec
  behavior: merge
  literals: [b=2]
- name: plainsec
  behavior: merge
  literals: [x=2]
- name: nohash
  behavior: merge
  literals: [b=2]
"#,
                ),
            ],
        );
        let mut base = generate_all(tmp.path(), "base").unwrap();
        let plain = std::fs::read_to_string(tmp.path().join("base/cm.yaml")).unwrap();
        for obj in serde_saphyr::from_multiple::<Value>(&plain).unwrap() {
            base.push(Resource::new(obj, "base/cm.yaml"));
        }
        for generated in generate_all(tmp.path(), "overlay").unwrap() {
            let id = generated.cur_id();
            let existing = base.iter_mut().find(|r| r.cur_id().same_as(&id)).unwrap();
            merge_into(existing, generated).unwrap();
        }
        let theirs = build(tmp.path(), "overlay").unwrap();
        assert_same_objects(&finish(base), &theirs);
    }

    #[test]
    fn merge_refuses_create_behavior() {
        let mut existing = Resource::new(
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            "x",
        );
        let mut generated = existing.clone();
        generated.behavior = Behavior::Create;
        let err = merge_into(&mut existing, generated).unwrap_err();
        assert!(
            err.message.contains("behavior must be merge or replace"),
            "{err}"
        );
    }

    #[test]
    fn bad_entries_fail_like_kustomize() {
        let cases: &[(&str, &str)] = &[
            (
                "- name: a\n  literals: [x=1, x=2]",
                "illegally repeats the key `x`",
            ),
            (
                "- name: a\n  literals: [x=1]\n  files: [x=f.txt]",
                "illegally repeats the key `x`",
            ),
            ("- literals: [x=1]", "must have a name"),
            ("- name: a\n  literals: [x]", "invalid literal source x"),
            ("- name: a\n  literals: ['=x']", "invalid literal source =x"),
            ("- name: a\n  files: [../other/f.txt]", "is not in or below"),
            ("- name: a\n  files: [/etc/hostname]", "is not in or below"),
            ("- name: a\n  files: [sub]", "must resolve to a file"),
            ("- name: a\n  files: [missing.txt]", "no such file"),
            ("- name: a\n  files: [k==f.txt]", "contains '='"),
            ("- name: a\n  files: [=f.txt]", "missing key name"),
            ("- name: a\n  files: [k=]", "missing file path"),
            ("- name: a\n  envs: [bad.env]", "invalid utf8"),
        ];
        for (entry, message) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let k = format!("configMapGenerator:\n{entry}\n");
            write_tree(
                tmp.path(),
                &[
                    ("app/kustomization.yaml", k.as_bytes()),
                    ("app/f.txt", b"x"),
                    ("app/sub/g.txt", b"x"),
                    ("app/bad.env", b"A=\xff\n"),
                    ("other/f.txt", b"x"),
                ],
            );
            assert!(
                build(tmp.path(), "app").is_err(),
                "kustomize accepted {entry}"
            );
            let err = generate_all(tmp.path(), "app").unwrap_err();
            assert!(err.to_string().contains(message), "{entry}: {err}");
            // The kustomization, or the source file when that is at fault.
            assert!(
                err.file.as_deref().is_some_and(|f| f.starts_with("app/")),
                "{entry}: {err}"
            );
        }
    }

    #[test]
    fn go_json_matches_encoding_json() {
        let v = serde_json::json!({"b": [1, 2.5, 1e21, 1e-7, 0.000001, -0.0, 123456789012345678u64], "a": "<&>\u{2028}\u{7f}\u{1}\"\\", "c": null, "d": true});
        let mut s = String::new();
        go_json(&v, &mut s);
        assert_eq!(
            s,
            r#"{"a":"\u003c\u0026\u003e\u2028\u007f\u0001\"\\","b":[1,2.5,1e+21,1e-7,0.000001,-0,123456789012345680],"c":null,"d":true}"#
                .replace("\\u007f", "\u{7f}")
        );
    }

    #[test]
    fn base64_wraps_like_kustomize() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64_wrapped(&[0u8; 51]).len(), 68);
        // 52 bytes encode to exactly 72 characters: two lines.
        let w = base64_wrapped(&[0u8; 52]);
        assert_eq!(w, format!("{}\n==\n", "A".repeat(70)));
    }
}
