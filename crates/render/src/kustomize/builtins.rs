//! kustomize's transformer configuration: which fields of which kinds each
//! built-in transformer touches (labels, annotations, names, namespaces,
//! images, replicas, vars) and which fields refer to other objects by name.
//!
//! The defaults are data (`builtins.txt` beside this file, parsed once);
//! a kustomization's `configurations:` files and `crds:` schemas extend
//! them with kustomize's merge rules. Lists are kept in kustomize's order
//! (sorted by kind the way it sorts them), because the order in which
//! references are rewritten can show in the output.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::fieldspec::FieldSpec;
use super::resource::Gvk;
use crate::{Error, Result, Value};

/// One referred kind and the fields (of other kinds) that name objects of
/// that kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameBackReference {
    /// The kind being referred to; empty parts match anything.
    pub gvk: Gvk,
    /// Where referrers hold the name.
    pub referrers: Vec<FieldSpec>,
}

/// The field specs every built-in transformer works from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    /// `commonLabels`, and `labels` entries with `includeSelectors`:
    /// selectors plus every place `template_labels` reaches.
    pub common_labels: Vec<FieldSpec>,
    /// Extra places for every `labels` entry (user configuration only).
    pub labels: Vec<FieldSpec>,
    /// `labels` entries with `includeTemplates`: metadata and pod templates.
    pub template_labels: Vec<FieldSpec>,
    /// What a `labels` entry without `includeSelectors` always writes to.
    /// Not a key of kustomize's configuration files, so never merged.
    pub metadata_labels: Vec<FieldSpec>,
    /// `labels` entries with `includeVolumeClaimTemplates`.
    pub volume_claim_template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackReference>,
    pub var_reference: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
}

/// The kustomization-file keys of the field-spec lists, with accessors, so
/// merging and sorting treat every list alike.
type ListAccess = fn(&mut TransformerConfig) -> &mut Vec<FieldSpec>;
const LISTS: [(&str, ListAccess); 11] = [
    ("namePrefix", |c| &mut c.name_prefix),
    ("nameSuffix", |c| &mut c.name_suffix),
    ("namespace", |c| &mut c.namespace),
    ("commonLabels", |c| &mut c.common_labels),
    ("labels", |c| &mut c.labels),
    ("templateLabels", |c| &mut c.template_labels),
    ("volumeClaimTemplateLabels", |c| {
        &mut c.volume_claim_template_labels
    }),
    ("commonAnnotations", |c| &mut c.common_annotations),
    ("varReference", |c| &mut c.var_reference),
    ("images", |c| &mut c.images),
    ("replicas", |c| &mut c.replicas),
];

impl TransformerConfig {
    /// kustomize's defaults.
    pub fn builtin() -> &'static TransformerConfig {
        static BUILTIN: OnceLock<TransformerConfig> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The data is compiled in and checked by the unit tests, so a
            // failure here is a bug in gyro, not in the user's input.
            parse_builtins(include_str!("builtins.txt"))
                .unwrap_or_else(|e| panic!("builtins.txt: {e}"))
        })
    }

    /// This configuration with `other` added, as kustomize merges the
    /// configurations of the kustomizations it combines: specs already
    /// present (the new spec's kind selects the old one, same path) are
    /// kept once, and it is an error for them to disagree on `create`.
    pub fn merged(&self, other: &TransformerConfig) -> Result<TransformerConfig> {
        // Every level of a build merges its configuration, usually the
        // defaults into the defaults: nothing to do then.
        if self == other {
            return Ok(self.clone());
        }
        let mut out = self.clone();
        let mut theirs = other.clone();
        for (key, list) in LISTS {
            merge_field_specs(list(&mut out), list(&mut theirs))
                .map_err(|e| prefix(e, &format!("failed to merge {key} field specs")))?;
        }
        for nbr in theirs.name_reference {
            merge_back_reference(&mut out.name_reference, nbr)
                .map_err(|e| prefix(e, "failed to merge nameReference field specs"))?;
        }
        out.sort();
        Ok(out)
    }

    /// Merges one `configurations:` file (a transformer-config document
    /// with keys `nameReference`, `commonLabels`, `namePrefix`, ...).
    pub fn merged_with(&self, doc: &Value) -> Result<TransformerConfig> {
        self.merged(&from_document(doc)?)
    }

    /// Merges what a `crds:` file says through its OpenAPI extensions
    /// (`x-kubernetes-object-ref-kind` and friends) about the custom kinds
    /// it defines. `docs` are the file's YAML documents; like kustomize,
    /// only the first is read.
    pub fn merged_with_crds(&self, docs: &[Value]) -> Result<TransformerConfig> {
        match docs.first() {
            Some(doc) => self.merged(&crds::config_from_definitions(doc)?),
            None => Ok(self.clone()),
        }
    }

    /// kustomize sorts every list after loading and merging (and only the
    /// outer list of name references, whose referrers keep file order).
    fn sort(&mut self) {
        for (_, list) in LISTS {
            sort_field_specs(list(self));
        }
        self.name_reference.sort_by_cached_key(|n| sort_key(&n.gvk));
    }
}

/// Adds `incoming` specs to `into` the way kustomize does: a spec is
/// already there when its kind selects an existing one's and the paths
/// are equal; then both must agree on `create`.
pub fn merge_field_specs(into: &mut Vec<FieldSpec>, incoming: &[FieldSpec]) -> Result<()> {
    // An empty part of the incoming spec's kind matches anything.
    let selects = |fs: &FieldSpec, x: &FieldSpec| {
        (fs.group.is_empty() || fs.group == x.group)
            && (fs.version.is_empty() || fs.version == x.version)
            && (fs.kind.is_empty() || fs.kind == x.kind)
    };
    for fs in incoming {
        match into.iter().find(|x| x.path == fs.path && selects(fs, x)) {
            Some(x) if x.create != fs.create => {
                return Err(Error::new(format!(
                    "conflicting fieldspecs: path '{}' for {} is given with create {} and with create {}",
                    fs.path,
                    describe_gvk(&fs.gvk()),
                    x.create,
                    fs.create
                )));
            }
            Some(_) => {}
            None => into.push(fs.clone()),
        }
    }
    Ok(())
}

/// Merges the referrers of `nbr` into every entry for the same referred
/// kind, or appends it when there is none.
fn merge_back_reference(into: &mut Vec<NameBackReference>, nbr: NameBackReference) -> Result<()> {
    let mut found = false;
    for existing in into.iter_mut().filter(|e| e.gvk == nbr.gvk) {
        merge_field_specs(&mut existing.referrers, &nbr.referrers)?;
        found = true;
    }
    if !found {
        into.push(nbr);
    }
    Ok(())
}

fn prefix(e: Error, context: &str) -> Error {
    Error {
        message: format!("{context}: {}", e.message),
        ..e
    }
}

fn describe_gvk(gvk: &Gvk) -> String {
    format!(
        "{}.{}.{}",
        or(&gvk.kind, "[noKind]"),
        or(&gvk.version, "[noVer]"),
        or(&gvk.group, "[noGrp]")
    )
}

/// `s`, or `none` when `s` is empty.
fn or<'a>(s: &'a str, none: &'a str) -> &'a str {
    if s.is_empty() { none } else { s }
}

/// Stable sort by kustomize's kind order. kustomize's own sort is not
/// stable, so specs of one kind may be visited in another order there;
/// they write different fields, so the result is the same.
fn sort_field_specs(list: &mut [FieldSpec]) {
    list.sort_by_cached_key(|fs| sort_key(&fs.gvk()));
}

/// kustomize's order of kinds: a few well-known kinds first (in a fixed
/// order), webhook configurations last, the rest in between, ties broken
/// by `group_version_kind` with `~` standing for empty parts.
fn sort_key(gvk: &Gvk) -> (i64, String) {
    (
        super::sort::default_rank(&gvk.kind),
        super::sort::gvk_sort_string(gvk),
    )
}

/// A transformer-config document, as kustomize reads it (strictly:
/// unknown keys are errors). Absent and null lists are empty.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigDoc {
    name_prefix: Option<Vec<FieldSpec>>,
    name_suffix: Option<Vec<FieldSpec>>,
    namespace: Option<Vec<FieldSpec>>,
    common_labels: Option<Vec<FieldSpec>>,
    labels: Option<Vec<FieldSpec>>,
    template_labels: Option<Vec<FieldSpec>>,
    volume_claim_template_labels: Option<Vec<FieldSpec>>,
    common_annotations: Option<Vec<FieldSpec>>,
    name_reference: Option<Vec<BackReferenceDoc>>,
    var_reference: Option<Vec<FieldSpec>>,
    images: Option<Vec<FieldSpec>>,
    replicas: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackReferenceDoc {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default, rename = "fieldSpecs")]
    field_specs: Option<Vec<FieldSpec>>,
}

/// Reads a `configurations:` document (sorted, as kustomize does on load).
fn from_document(doc: &Value) -> Result<TransformerConfig> {
    if doc.is_null() {
        return Ok(TransformerConfig::default());
    }
    let d = ConfigDoc::deserialize(doc)
        .map_err(|e| Error::new(format!("invalid transformer configuration: {e}")))?;
    let mut out = TransformerConfig {
        name_prefix: d.name_prefix.unwrap_or_default(),
        name_suffix: d.name_suffix.unwrap_or_default(),
        namespace: d.namespace.unwrap_or_default(),
        common_labels: d.common_labels.unwrap_or_default(),
        labels: d.labels.unwrap_or_default(),
        template_labels: d.template_labels.unwrap_or_default(),
        metadata_labels: Vec::new(),
        volume_claim_template_labels: d.volume_claim_template_labels.unwrap_or_default(),
        common_annotations: d.common_annotations.unwrap_or_default(),
        name_reference: d
            .name_reference
            .unwrap_or_default()
            .into_iter()
            .map(|n| NameBackReference {
                gvk: Gvk {
                    group: n.group,
                    version: n.version,
                    kind: n.kind,
                },
                referrers: n.field_specs.unwrap_or_default(),
            })
            .collect(),
        var_reference: d.var_reference.unwrap_or_default(),
        images: d.images.unwrap_or_default(),
        replicas: d.replicas.unwrap_or_default(),
    };
    out.sort();
    Ok(out)
}

/// Parses `builtins.txt` (its format is described at its top).
fn parse_builtins(text: &str) -> Result<TransformerConfig, String> {
    let mut lists: HashMap<String, Vec<FieldSpec>> = HashMap::new();
    let mut sets: HashMap<String, Vec<(Gvk, String)>> = HashMap::new();
    let mut name_reference: Vec<NameBackReference> = Vec::new();
    // Where spec lines go: a named list, or the last back reference.
    let mut current: Option<Option<String>> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |msg: String| format!("line {}: {msg}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(match head.split_once(' ') {
                Some(("nameReference", gvk)) => {
                    name_reference.push(NameBackReference {
                        gvk: parse_gvk(gvk),
                        referrers: Vec::new(),
                    });
                    None
                }
                Some(_) => return Err(at(format!("bad section [{head}]"))),
                None => {
                    lists.entry(head.to_string()).or_default();
                    Some(head.to_string())
                }
            });
            continue;
        }
        if let Some(def) = line.strip_prefix('%')
            && let Some((name, members)) = def.split_once(" = ")
        {
            let mut set = Vec::new();
            for member in members.split(',') {
                let Some((gvk, prefix)) = member.trim().split_once(' ') else {
                    return Err(at(format!("bad set member '{member}'")));
                };
                set.push((parse_gvk(gvk), prefix.to_string()));
            }
            sets.insert(name.to_string(), set);
            continue;
        }
        let mut specs = Vec::new();
        if let Some(source) = line.strip_prefix('<') {
            let Some(list) = lists.get(source) else {
                return Err(at(format!("unknown list '{source}'")));
            };
            specs.extend(list.iter().cloned());
        } else {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let create = match fields.get(2) {
                None => false,
                Some(&"create") if fields.len() == 3 => true,
                Some(_) => return Err(at("expected `GVK PATH [create]`".to_string())),
            };
            let (Some(gvk), Some(path)) = (fields.first(), fields.get(1)) else {
                return Err(at("expected `GVK PATH [create]`".to_string()));
            };
            if let Some(set) = gvk.strip_prefix('%') {
                let Some(members) = sets.get(set) else {
                    return Err(at(format!("unknown set '{set}'")));
                };
                for (gvk, prefix) in members {
                    specs.push(spec(gvk, format!("{prefix}/{path}"), create));
                }
            } else {
                specs.push(spec(&parse_gvk(gvk), path.to_string(), create));
            }
        }
        match &current {
            Some(Some(list)) => lists.entry(list.clone()).or_default().extend(specs),
            Some(None) => {
                if let Some(nbr) = name_reference.last_mut() {
                    nbr.referrers.extend(specs);
                }
            }
            None => return Err(at("field spec outside a section".to_string())),
        }
    }
    let mut config = TransformerConfig {
        name_reference,
        metadata_labels: vec![FieldSpec {
            path: "metadata/labels".to_string(),
            create: true,
            ..FieldSpec::default()
        }],
        ..TransformerConfig::default()
    };
    for (key, list) in LISTS {
        *list(&mut config) = lists.remove(key).unwrap_or_default();
    }
    if let Some(unknown) = lists.keys().next() {
        return Err(format!("unknown list [{unknown}]"));
    }
    config.sort();
    Ok(config)
}

/// `Kind`, `Kind.version`, `Kind@group`, `Kind.version@group`; `*` is any
/// kind.
fn parse_gvk(s: &str) -> Gvk {
    let (kv, group) = s.split_once('@').unwrap_or((s, ""));
    let (kind, version) = kv.split_once('.').unwrap_or((kv, ""));
    Gvk {
        group: group.to_string(),
        version: version.to_string(),
        kind: if kind == "*" {
            String::new()
        } else {
            kind.to_string()
        },
    }
}

fn spec(gvk: &Gvk, path: String, create: bool) -> FieldSpec {
    FieldSpec {
        group: gvk.group.clone(),
        version: gvk.version.clone(),
        kind: gvk.kind.clone(),
        path,
        create,
    }
}

/// Transformer configuration from a `crds:` file: OpenAPI definitions
/// keyed by type name, whose properties carry kustomize's extensions.
mod crds {
    use super::{NameBackReference, TransformerConfig, merge_back_reference, merge_field_specs};
    use crate::kustomize::fieldspec::FieldSpec;
    use crate::kustomize::resource::Gvk;
    use crate::{Error, Result, Value};

    const ANNOTATION: &str = "x-kubernetes-annotation";
    const LABEL_SELECTOR: &str = "x-kubernetes-label-selector";
    const IDENTITY: &str = "x-kubernetes-identity";
    const REF_VERSION: &str = "x-kubernetes-object-ref-api-version";
    const REF_KIND: &str = "x-kubernetes-object-ref-kind";
    const REF_NAME_KEY: &str = "x-kubernetes-object-ref-name-key";

    /// Nested `$ref`s deeper than this are taken as a cycle.
    const MAX_DEPTH: usize = 64;

    pub(super) fn config_from_definitions(doc: &Value) -> Result<TransformerConfig> {
        let defs = match doc {
            Value::Null => return Ok(TransformerConfig::default()),
            Value::Object(defs) => defs,
            _ => {
                return Err(Error::new(
                    "unable to parse open API definition: expected a map of type names to definitions",
                ));
            }
        };
        let mut out = TransformerConfig::default();
        for (name, def) in defs {
            let props = properties(def);
            let looks_like_object = ["kind", "apiVersion", "metadata"]
                .iter()
                .all(|k| props.is_some_and(|p| p.contains_key(*k)));
            if !looks_like_object {
                continue;
            }
            let gvk = Gvk {
                kind: name.rsplit('.').next().unwrap_or(name).to_string(),
                ..Gvk::default()
            };
            let mut one = TransformerConfig::default();
            let mut path = Vec::new();
            load(&mut one, &gvk, defs, name, &mut path)?;
            out = out.merged(&one)?;
        }
        Ok(out)
    }

    /// The `properties` of a definition's schema. Go's JSON decoding finds
    /// the `Schema` field whatever the key's case.
    fn properties(def: &Value) -> Option<&serde_json::Map<String, Value>> {
        let def = def.as_object()?;
        let schema = def.get("Schema").or_else(|| {
            def.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("schema"))
                .map(|(_, v)| v)
        })?;
        schema.get("properties")?.as_object()
    }

    fn load(
        config: &mut TransformerConfig,
        gvk: &Gvk,
        defs: &serde_json::Map<String, Value>,
        type_name: &str,
        path: &mut Vec<String>,
    ) -> Result<()> {
        if path.len() > MAX_DEPTH {
            return Err(Error::new(format!(
                "open API definition '{type_name}' nests too deeply (a $ref cycle?)"
            )));
        }
        let Some(props) = defs.get(type_name).and_then(properties) else {
            return Ok(());
        };
        for (prop, schema) in props {
            path.push(prop.clone());
            let ext = |key: &str| schema.get(key).and_then(Value::as_str);
            let here = || FieldSpec {
                group: String::new(),
                version: String::new(),
                kind: gvk.kind.clone(),
                path: path.join("/"),
                create: false,
            };
            if ext(ANNOTATION).is_some() {
                merge_field_specs(&mut config.common_annotations, &[here()])?;
            }
            if ext(LABEL_SELECTOR).is_some() {
                merge_field_specs(&mut config.common_labels, &[here()])?;
            }
            if ext(IDENTITY).is_some() {
                merge_field_specs(&mut config.name_prefix, &[here()])?;
            }
            if let (Some(version), Some(kind)) = (ext(REF_VERSION), ext(REF_KIND)) {
                let mut referrer = here();
                referrer.path.push('/');
                referrer.path.push_str(ext(REF_NAME_KEY).unwrap_or("name"));
                let nbr = NameBackReference {
                    gvk: Gvk {
                        group: String::new(),
                        version: version.to_string(),
                        kind: kind.to_string(),
                    },
                    referrers: vec![referrer],
                };
                merge_back_reference(&mut config.name_reference, nbr)?;
            }
            if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
                load(config, gvk, defs, target, path)?;
            }
            path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fs(kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            kind: kind.to_string(),
            path: path.to_string(),
            create,
            ..FieldSpec::default()
        }
    }

    #[test]
    fn builtin_data_parses() {
        let c = TransformerConfig::builtin();
        assert_eq!(c.name_prefix, vec![fs("", "metadata/name", false)]);
        assert_eq!(c.common_labels.len(), 22 + 9 + 1);
        assert_eq!(c.template_labels.len(), 9);
        assert_eq!(c.common_annotations.len(), 9);
        assert_eq!(c.var_reference.len(), 56 + 7 + 9);
        assert_eq!(c.images.len(), 7);
        assert!(c.labels.is_empty());
        let kinds: Vec<&str> = c
            .name_reference
            .iter()
            .map(|n| n.gvk.kind.as_str())
            .collect();
        // kustomize's order: its well-known kinds first, then by group.
        assert_eq!(
            kinds,
            [
                "StorageClass",
                "ServiceAccount",
                "Role",
                "ClusterRole",
                "ConfigMap",
                "Secret",
                "Service",
                "PriorityClass",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "Deployment",
                "StatefulSet",
                "ValidatingAdmissionPolicy",
                "IngressClass",
                "ReplicaSet",
                "ReplicationController",
            ]
        );
        let secret = c
            .name_reference
            .iter()
            .find(|n| n.gvk.kind == "Secret")
            .unwrap();
        assert_eq!(secret.referrers.len(), 8 * 7 + 14);
        // Referrers keep file order.
        assert_eq!(secret.referrers[0].kind, "Pod");
        assert_eq!(secret.referrers[0].version, "v1");
        assert_eq!(secret.referrers[0].path, "spec/volumes/secret/secretName");
        assert_eq!(secret.referrers[1].kind, "PodTemplate");
        assert!(
            secret.referrers.iter().any(|r| r.kind == "Ingress"
                && r.path.contains(r"nginx.ingress.kubernetes.io\/auth-secret"))
        );
    }

    #[test]
    fn merge_dedups_and_detects_conflicts() {
        let base = TransformerConfig::builtin();
        let doc = json!({
            "commonLabels": [
                {"path": "spec/selector", "kind": "Service", "version": "v1", "create": true},
                {"path": "spec/mySelector", "kind": "MyKind"}
            ],
            "nameReference": [
                {"kind": "Secret", "version": "v1", "fieldSpecs": [{"path": "spec/secret", "kind": "MyKind"}]},
                {"kind": "Bee", "version": "v1beta1", "fieldSpecs": [{"path": "spec/beeRef/name", "kind": "MyKind"}]}
            ]
        });
        let merged = base.merged_with(&doc).unwrap();
        assert_eq!(merged.common_labels.len(), base.common_labels.len() + 1);
        let secret = merged
            .name_reference
            .iter()
            .find(|n| n.gvk.kind == "Secret")
            .unwrap();
        assert_eq!(secret.referrers.last().unwrap().path, "spec/secret");
        assert!(merged.name_reference.iter().any(|n| n.gvk.kind == "Bee"));

        // A kind-less spec with an existing path is already there...
        let same = base
            .merged_with(
                &json!({"commonAnnotations": [{"path": "metadata/annotations", "create": true}]}),
            )
            .unwrap();
        assert_eq!(same.common_annotations, base.common_annotations);
        // ...and must agree on `create`.
        let err = base
            .merged_with(&json!({"commonAnnotations": [{"path": "metadata/annotations"}]}))
            .unwrap_err();
        assert!(err.message.contains("conflicting fieldspecs"), "{err}");

        let err = base.merged_with(&json!({"nameRef": []})).unwrap_err();
        assert!(err.message.contains("nameRef"), "{err}");
        assert_eq!(base.merged_with(&Value::Null).unwrap(), *base);
    }

    #[test]
    fn crd_definitions_add_references() {
        let doc = json!({
            "example.com/v1.MyKind": {"Schema": {"properties": {
                "apiVersion": {}, "kind": {}, "metadata": {},
                "spec": {"$ref": "example.com/v1.MyKindSpec"}
            }}},
            "example.com/v1.MyKindSpec": {"Schema": {"properties": {
                "secretRef": {
                    "x-kubernetes-object-ref-api-version": "v1",
                    "x-kubernetes-object-ref-kind": "Secret"
                },
                "beeName": {
                    "x-kubernetes-object-ref-api-version": "v1beta1",
                    "x-kubernetes-object-ref-kind": "Bee",
                    "x-kubernetes-object-ref-name-key": "beeName"
                },
                "selector": {"x-kubernetes-label-selector": ""},
                "notes": {"x-kubernetes-annotation": ""}
            }}}
        });
        let merged = TransformerConfig::builtin()
            .merged_with_crds(&[doc])
            .unwrap();
        let secret = merged
            .name_reference
            .iter()
            .find(|n| n.gvk.kind == "Secret")
            .unwrap();
        assert_eq!(
            *secret.referrers.last().unwrap(),
            fs("MyKind", "spec/secretRef/name", false)
        );
        let bee = merged
            .name_reference
            .iter()
            .find(|n| n.gvk.kind == "Bee")
            .unwrap();
        assert_eq!(
            bee.referrers,
            vec![fs("MyKind", "spec/beeName/beeName", false)]
        );
        assert!(
            merged
                .common_labels
                .contains(&fs("MyKind", "spec/selector", false))
        );
        assert!(
            merged
                .common_annotations
                .contains(&fs("MyKind", "spec/notes", false))
        );
    }
}
