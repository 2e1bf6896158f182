//! Kustomize's legacy `vars`: `$(NAME)` in certain fields (container
//! command, args, env values, labels, annotations, ...) becomes a value
//! read from a field of an object in the build.
//!
//! kustomize binds each var to its object when the kustomization declaring
//! it is built (by any name the object has had, usually the one written in
//! its YAML before `namePrefix` and the like), and reads the value once the
//! whole build is done, after name references are fixed: the value is the
//! object's current one (`metadata.name` with every prefix, for instance).
//! Here both happen at the end; an object is found by any id it has had.
//!
//! A field that is exactly `$(NAME)` takes the var's type (an int stays an
//! int); inside longer text the value is formatted as Go's `%v` does.
//! `$$` is an escaped `$`. `$(NAME)` for an unknown var stays as written.

use std::collections::HashMap;

use super::fieldspec::{FieldSpec, split_path};
use super::kustomization::{Var, VarTarget};
use super::replacements::{
    DEFAULT_FIELD_PATH, NON_NAMESPACEABLE, go_format_float, is_empty_object, kustomize_ids, lookup,
    number_from_f64, or_default, split_field_path,
};
use super::resource::{Gvk, ResId, ResMap, Resource, describe};
use crate::{Error, Result, Value};

/// A var's value, as kustomize reads it from the object.
#[derive(Debug, Clone, PartialEq)]
enum VarValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A map or list: kustomize leaves `$(NAME)` in place for these.
    Other,
}

impl VarValue {
    /// The text as kyaml writes it into a typed node.
    fn node_text(&self) -> Option<String> {
        Some(match self {
            VarValue::Str(s) => s.clone(),
            VarValue::Int(i) => i.to_string(),
            VarValue::Float(f) => go_format_float(*f, 'f'),
            VarValue::Bool(b) => b.to_string(),
            VarValue::Other => return None,
        })
    }

    /// The text Go's `%v` gives, used inside longer strings.
    fn display(&self) -> Option<String> {
        match self {
            VarValue::Float(f) => Some(go_format_float(*f, 'g')),
            other => other.node_text(),
        }
    }

    /// The value a field that is exactly `$(NAME)` becomes.
    fn typed(&self) -> Option<Value> {
        Some(match self {
            VarValue::Str(s) => Value::String(s.clone()),
            VarValue::Int(i) => Value::from(*i),
            VarValue::Float(f) => number_from_f64(*f),
            VarValue::Bool(b) => Value::Bool(*b),
            VarValue::Other => return None,
        })
    }
}

/// Resolves every var to its value from the resources, and substitutes
/// `$(NAME)` in the fields `specs` name: the build's `varReference` field
/// specs (kustomize's defaults merged with any `configurations:` files, as
/// [`super::builtins::TransformerConfig`] holds them). Unresolved `$(X)`
/// stays as is; a var whose objref matches nothing, or several objects, is
/// an error, and so is a var name declared twice.
pub fn resolve(resmap: &mut ResMap, vars: &[Var], specs: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut bound: HashMap<&str, Option<usize>> = HashMap::with_capacity(vars.len());
    for var in vars {
        let object = bind(resmap, var)?;
        if bound.insert(var.name.as_str(), object).is_some() {
            return Err(
                Error::new(format!("var '{}' is declared more than once", var.name))
                    .at_field("vars"),
            );
        }
    }
    // kustomize reads them in name order, so that is which error shows.
    let mut names: Vec<&Var> = vars.iter().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let mut values: HashMap<&str, VarValue> = HashMap::with_capacity(vars.len());
    for var in names {
        let unmapped = || {
            Error::new(format!(
                "var '{}' ({}) cannot be mapped to a field of any object in the build",
                var.name,
                describe_var(var)
            ))
            .at_field("vars")
        };
        let Some(Some(i)) = bound.get(var.name.as_str()) else {
            return Err(unmapped());
        };
        let r = &resmap.resources[*i];
        let value = read_value(r, field_path(var)).map_err(|e| {
            let mut err = unmapped().for_object(r.describe());
            err.message = format!("{}: {e}", err.message);
            err
        })?;
        values.insert(var.name.as_str(), value);
    }
    let specs = field_specs(specs);
    for r in resmap.iter_mut() {
        let gvk = r.gvk();
        for (spec, path, annotations) in &specs {
            let field = |want: &str, have: &str| want.is_empty() || want == have;
            if !(field(&spec.kind, &gvk.kind)
                && field(&spec.group, &gvk.group)
                && field(&spec.version, &gvk.version))
            {
                continue;
            }
            let subst = Subst {
                values: &values,
                as_text: *annotations,
            };
            subst.walk(&mut r.obj, path).map_err(|m| {
                Error::new(m)
                    .for_object(describe(&r.obj))
                    .at_field(spec.path.as_str())
            })?;
        }
    }
    Ok(())
}

fn field_path(var: &Var) -> &str {
    match &var.fieldref {
        Some(f) if !f.field_path.is_empty() => &f.field_path,
        _ => DEFAULT_FIELD_PATH,
    }
}

fn describe_var(var: &Var) -> String {
    let gvk = objref_gvk(&var.objref);
    let mut out = format!(
        "{} {}",
        if gvk.kind.is_empty() {
            "<no kind>"
        } else {
            &gvk.kind
        },
        var.objref.name
    );
    if !gvk.version.is_empty() {
        out = format!("{out}, {}", gvk.api_version());
    }
    if !var.objref.namespace.is_empty() {
        out = format!("{out}, namespace {}", var.objref.namespace);
    }
    format!("{out}, field {}", field_path(var))
}

/// The objref's group/version/kind; `apiVersion` overrides group and
/// version when given.
fn objref_gvk(t: &VarTarget) -> Gvk {
    let mut gvk = Gvk {
        group: t.group.clone(),
        version: t.version.clone(),
        kind: t.kind.clone(),
    };
    if !t.api_version.is_empty() {
        let parts: Vec<&str> = t.api_version.split('/').collect();
        match parts[..] {
            [group, version] => {
                gvk.group = group.to_string();
                gvk.version = version.to_string();
            }
            [version] => gvk.version = version.to_string(),
            _ => {}
        }
    }
    gvk
}

/// The one object a var refers to (`None` when there is none). Group,
/// version, kind and name must be equal to one of the object's ids; the
/// namespace too when the objref gives one (`default` standing for none).
fn bind(resmap: &ResMap, var: &Var) -> Result<Option<usize>> {
    let want = ResId {
        gvk: objref_gvk(&var.objref),
        name: var.objref.name.clone(),
        namespace: var.objref.namespace.clone(),
    };
    let mut found = None;
    let mut count = 0;
    for (i, r) in resmap.iter().enumerate() {
        if !is_empty_object(&r.obj) && refers_to(&want, r) {
            count += 1;
            found.get_or_insert(i);
        }
    }
    if count > 1 {
        return Err(Error::new(format!(
            "var '{}' ({}) matches {count} objects; it must match one",
            var.name,
            describe_var(var)
        ))
        .at_field("vars"));
    }
    Ok(found)
}

fn refers_to(want: &ResId, r: &Resource) -> bool {
    kustomize_ids(r).iter().enumerate().any(|(i, id)| {
        id.name == want.name
            && id.gvk == want.gvk
            && (want.namespace.is_empty() || {
                // The current id knows its scope; earlier ones carry the
                // namespace kustomize recorded.
                let ns = if i == 0 && id.gvk.is_cluster_scoped() {
                    NON_NAMESPACEABLE
                } else {
                    or_default(&id.namespace)
                };
                ns == or_default(&want.namespace)
            })
    })
}

/// Reads a var's field: dotted path, `[0]` indexes, `[name=x]` matchers.
fn read_value(r: &Resource, path: &str) -> std::result::Result<VarValue, String> {
    let mut parts = Vec::new();
    for part in split_field_path(path) {
        split_slice_index(part, &mut parts);
    }
    let node = lookup(&r.obj, &parts)?.ok_or_else(|| format!("no field {path}"))?;
    Ok(match node {
        Value::String(s) => VarValue::Str(s.clone()),
        Value::Bool(b) => VarValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => VarValue::Int(i),
            (None, Some(f)) if n.is_f64() => VarValue::Float(f),
            _ => return Err(format!("{n} at {path} is too large")),
        },
        Value::Null => VarValue::Str("null".to_string()),
        Value::Object(_) | Value::Array(_) => VarValue::Other,
    })
}

/// `ports[0]` is `ports` then `0`.
fn split_slice_index(part: String, out: &mut Vec<String>) {
    if part.ends_with(']')
        && let Some(open) = part.rfind('[')
    {
        let index = &part[open + 1..part.len() - 1];
        if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) {
            if open > 0 {
                out.push(part[..open].to_string());
            }
            out.push(index.to_string());
            return;
        }
    }
    out.push(part);
}

/// Each spec with its split path, and whether it is the object's own
/// annotations.
fn field_specs(specs: &[FieldSpec]) -> Vec<(FieldSpec, Vec<String>, bool)> {
    specs
        .iter()
        .map(|spec| {
            let spec = spec.clone();
            let path = split_path(&spec.path);
            let annotations = path == ["metadata", "annotations"];
            (spec, path, annotations)
        })
        .collect()
}

/// Substitution in the fields of one field spec.
struct Subst<'a> {
    values: &'a HashMap<&'a str, VarValue>,
    /// The object's own annotations: kustomize rewrites them as strings
    /// when it drops its bookkeeping annotations at the end of a build, so
    /// a typed value there ends as its text.
    as_text: bool,
}

impl Subst<'_> {
    /// Walks the spec's path; lists on the way are walked element by
    /// element.
    fn walk(&self, node: &mut Value, path: &[String]) -> std::result::Result<(), String> {
        let Some((head, rest)) = path.split_first() else {
            return self.set(node);
        };
        match node {
            Value::Null => Ok(()),
            Value::Array(items) => items.iter_mut().try_for_each(|item| self.walk(item, path)),
            Value::Object(map) => match map.get_mut(head.as_str()) {
                Some(child) => self.walk(child, rest),
                None => Ok(()),
            },
            _ => Err(format!("expected a list or map before '{head}'")),
        }
    }

    fn set(&self, node: &mut Value) -> std::result::Result<(), String> {
        match node {
            Value::String(_) => self.replace(node),
            Value::Object(map) => {
                for v in map.values_mut() {
                    if v.is_string() {
                        self.replace(v);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    if !item.is_string() {
                        return Err("expected only strings in the list".to_string());
                    }
                    self.replace(item);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn replace(&self, node: &mut Value) {
        let Value::String(s) = node else { return };
        if !s.contains('$') {
            return;
        }
        match expand(s, self.values) {
            Expanded::Text(text) => *node = Value::String(text),
            Expanded::Whole(value) => {
                let new = if self.as_text {
                    value.node_text().map(Value::String)
                } else {
                    value.typed()
                };
                if let Some(new) = new {
                    *node = new;
                }
            }
        }
    }
}

enum Expanded<'a> {
    Text(String),
    /// The whole string was `$(NAME)` of a known var.
    Whole(&'a VarValue),
}

/// kustomize's `$(VAR)` expansion: `$$` is `$`, `$(NAME)` of a known var
/// becomes its value, anything else is kept.
fn expand<'a>(input: &str, values: &'a HashMap<&str, VarValue>) -> Expanded<'a> {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] != b'$' || cursor + 1 >= bytes.len() {
            cursor += 1;
            continue;
        }
        out.extend_from_slice(&bytes[checkpoint..cursor]);
        let rest = &input[cursor + 1..];
        let advance = match bytes[cursor + 1] {
            b'$' => {
                out.push(b'$');
                1
            }
            b'(' => match rest.find(')') {
                Some(close) => {
                    let name = &rest[1..close];
                    let value = values.get(name);
                    let shown = value.and_then(VarValue::display);
                    if cursor == 0 && close + 2 == input.len() {
                        return match (value, shown) {
                            (Some(v), Some(_)) => Expanded::Whole(v),
                            _ => Expanded::Text(input.to_string()),
                        };
                    }
                    match shown {
                        Some(text) => out.extend_from_slice(text.as_bytes()),
                        None => out.extend_from_slice(&bytes[cursor..cursor + close + 2]),
                    }
                    close + 1
                }
                None => {
                    out.extend_from_slice(b"$(");
                    1
                }
            },
            // kustomize copies the one byte after `$` as if it were a
            // character: for a non-ASCII character that garbles the text.
            b => {
                out.push(b'$');
                let mut buf = [0; 4];
                out.extend_from_slice(char::from(b).encode_utf8(&mut buf).as_bytes());
                1
            }
        };
        cursor += advance;
        checkpoint = cursor + 1;
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    Expanded::Text(String::from_utf8(out).unwrap_or_else(|e| binary_text(e.as_bytes())))
}

/// What kustomize's output holds for text that is not UTF-8: its base64,
/// as goyaml writes a `!!binary` value (lines of 70, each ending in a
/// newline, when longer than one line).
fn binary_text(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    const LINE: usize = 70;
    if encoded.len() <= LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for line in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::replacements::oracle::{self, resmap, sorted};
    use super::*;
    use crate::kustomize::Kustomization;
    use crate::kustomize::builtins::TransformerConfig;

    const BASE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: svc
  annotations:
    a.b/c: anno
spec:
  ports:
  - port: 80
    targetPort: "$(PORT)"
  - port: 81
    targetPort: "x-$(PORT)"
  flag: true
  ratio: 1.50
  big: 1000000.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dep
  labels:
    port: "$(PORT)"
    flag: "$(FLAG)"
    mixed: "a$(FLAG)b$(RATIO)c$(BIG)d$(PORT)"
    dollars: "$$$$"
  annotations:
    esc: "$$(PORT) $$ $x $( $(NOPE) $(SVC"
    nm: "$(SVC)"
    an: "$(ANNO)"
    ratio: "$(RATIO)"
    big: "$(BIG)"
    flag: "$(FLAG)"
    mp: "$(MAP)"
    end: "$"
spec:
  template:
    metadata:
      annotations:
        port: "$(PORT)"
        ratio: "$(RATIO)"
    spec:
      containers:
      - name: app
        args: ["$(PORT)", "--svc=$(SVC)", "$(FLAG)", "é$é"]
        command: ["$(BIG)"]
        env:
        - name: X
          value: "$(SVC)"
        - name: "Y"
          value: "$(PORT)"
        volumeMounts:
        - name: v
          mountPath: "/data/$(SVC)"
      volumes:
      - name: v
        nfs:
          server: "$(SVC).local"
          path: /
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  port: "$(PORT)"
  kept: "$$"
"#;

    const BASE_VARS: &str = r#"
resources: [res.yaml]
namePrefix: b-
vars:
- name: PORT
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: "spec.ports[0].port"}
- name: FLAG
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: spec.flag}
- name: RATIO
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: spec.ratio}
- name: BIG
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: spec.big}
- name: ANNO
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: "metadata.annotations.[a.b/c]"}
- name: MAP
  objref: {kind: Service, name: svc, apiVersion: v1}
  fieldref: {fieldPath: spec.ports}
"#;

    /// Builds `ov` (over the base above) with kustomize and with
    /// [`resolve`] after renaming as the two kustomizations do; the objects
    /// (or the failure) must agree.
    fn check(overlay: &str, configuration: Option<&str>) -> std::result::Result<Vec<Value>, Error> {
        let mut files = vec![
            ("base/res.yaml", BASE),
            ("base/kustomization.yaml", BASE_VARS),
            ("ov/kustomization.yaml", overlay),
        ];
        if let Some(cfg) = configuration {
            files.push(("ov/cfg.yaml", cfg));
        }
        let tmp = oracle::write(&files);
        let base: Kustomization = serde_saphyr::from_str(BASE_VARS).unwrap();
        let over: Kustomization = serde_saphyr::from_str(overlay).unwrap();
        let builtin = TransformerConfig::builtin();
        let specs = match configuration {
            Some(c) => {
                let doc: Value = serde_saphyr::from_str(c).unwrap();
                builtin.merged_with(&doc).unwrap().var_reference
            }
            None => builtin.var_reference.clone(),
        };
        let mut rm = resmap(BASE);
        oracle::rename(&mut rm, "b-", None);
        oracle::rename(&mut rm, &over.name_prefix, None);
        let vars: Vec<Var> = base.vars.iter().chain(&over.vars).cloned().collect();
        let ours = resolve(&mut rm, &vars, &specs).map(|()| sorted(rm.into_objects()));
        {
            match (oracle::build(tmp.path(), "ov"), &ours) {
                (Ok(want), Ok(got)) => oracle::assert_same(got, &want, overlay),
                (Err(_), Err(_)) => {}
                (Ok(want), Err(e)) => panic!("gyro failed ({e}) where kustomize gave {want:#?}"),
                (Err(e), Ok(got)) => panic!("kustomize failed ({e}) where gyro gave {got:#?}"),
            }
        }
        ours
    }

    #[test]
    fn vars_resolve_to_current_values_keeping_types() {
        let got = check(
            "resources: [../base]\nnamePrefix: o-\nvars:\n- name: SVC\n  objref: {kind: Service, name: svc, apiVersion: v1}\n",
            None,
        )
        .unwrap();
        let dep = got.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(dep["metadata"]["annotations"]["nm"], "o-b-svc");
        assert_eq!(dep["metadata"]["labels"]["port"], 80);
    }

    #[test]
    fn objrefs_match_any_name_with_exact_kind_and_version() {
        for objref in [
            "{kind: Service, name: o-b-svc, apiVersion: v1}",
            "{kind: Service, name: b-svc, version: v1}",
            "{kind: Service, name: svc, apiVersion: v1, namespace: default}",
        ] {
            check(
                &format!(
                    "resources: [../base]\nnamePrefix: o-\nvars:\n- name: SVC\n  objref: {objref}\n"
                ),
                None,
            )
            .unwrap();
        }
        for objref in [
            "{kind: Service, name: svc}",
            "{name: svc, apiVersion: v1}",
            "{kind: Service, name: svc, apiVersion: v2}",
            "{kind: Service, name: nope, apiVersion: v1}",
            "{kind: Service, name: svc, apiVersion: v1, namespace: foo}",
        ] {
            check(
                &format!(
                    "resources: [../base]\nnamePrefix: o-\nvars:\n- name: SVC\n  objref: {objref}\n"
                ),
                None,
            )
            .unwrap_err();
        }
    }

    #[test]
    fn bad_vars_fail() {
        for vars in [
            // Declared twice, here and in the base.
            "- name: PORT\n  objref: {kind: Service, name: svc, apiVersion: v1}\n",
            "- name: SVC\n  objref: {kind: Service, name: svc, apiVersion: v1}\n- name: SVC\n  objref: {kind: Service, name: svc, apiVersion: v1}\n",
            "- name: SVC\n  objref: {kind: Service, name: svc, apiVersion: v1}\n  fieldref: {fieldPath: spec.nope}\n",
        ] {
            check(&format!("resources: [../base]\nvars:\n{vars}"), None).unwrap_err();
        }
    }

    #[test]
    fn configurations_add_fields_once() {
        let cfg = "varReference:\n- path: data\n  kind: ConfigMap\n- path: metadata/labels\n- path: spec/template/spec/containers/args\n";
        let got = check(
            "resources: [../base]\nconfigurations: [cfg.yaml]\nvars:\n- name: SVC\n  objref: {kind: Service, name: svc, apiVersion: v1}\n",
            Some(cfg),
        )
        .unwrap();
        let cm = got.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
        assert_eq!(cm["data"]["port"], 80);
        assert_eq!(cm["data"]["kept"], "$");
        let dep = got.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(dep["metadata"]["labels"]["dollars"], "$$");
    }

    #[test]
    fn non_string_list_items_fail() {
        let mut rm = resmap(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: [80, \"$(V)\"]\n",
        );
        let var: Var = serde_saphyr::from_str(
            "name: V\nobjref: {kind: Deployment, name: d, apiVersion: apps/v1}\n",
        )
        .unwrap();
        let err =
            resolve(&mut rm, &[var], &TransformerConfig::builtin().var_reference).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("spec/template/spec/containers/args")
        );
    }

    #[test]
    fn expansion_follows_kustomize() {
        let mut values = HashMap::new();
        values.insert("A", VarValue::Str("x".to_string()));
        values.insert("N", VarValue::Int(3));
        values.insert("F", VarValue::Float(0.00001));
        let text = |s: &str| match expand(s, &values) {
            Expanded::Text(t) => t,
            Expanded::Whole(v) => format!("whole {v:?}"),
        };
        assert_eq!(text("$(A)"), "whole Str(\"x\")");
        assert_eq!(text("$(N)"), "whole Int(3)");
        assert_eq!(text("$(B)"), "$(B)");
        assert_eq!(text("a$(A)$(N)$(F)$(B)"), "ax31e-05$(B)");
        assert_eq!(text("$$(A) $$$ $"), "$(A) $$ $");
        assert_eq!(text("$(A"), "$(A");
        assert_eq!(text("x$é"), "eCTDg6k=");
        assert_eq!(binary_text(b"ab"), "YWI=");
        assert_eq!(binary_text(&[b'x'; 60]).lines().count(), 2);
    }
}
