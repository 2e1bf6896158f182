//! The transformers that set metadata across every resource: `namespace`,
//! `namePrefix`/`nameSuffix`, `commonLabels`/`labels`,
//! `commonAnnotations`, and the `buildMetadata` options.

use std::collections::BTreeMap;

use super::builtins::{TransformerConfig, merge_field_specs};
use super::fieldspec::{FieldSpec, Leaf, split_path, visit};
use super::kustomization::Label;
use super::resource::{Gvk, Origin, ResMap, Resource};
use crate::{Error, Result, Value};

/// A field spec with its selector and path split once, not per object.
struct Prepared<'a> {
    spec: &'a FieldSpec,
    gvk: Gvk,
    path: Vec<String>,
}

fn prepare(specs: &[FieldSpec]) -> Vec<Prepared<'_>> {
    specs
        .iter()
        .map(|spec| Prepared {
            spec,
            gvk: spec.gvk(),
            path: spec.segments(),
        })
        .collect()
}

/// Sets `namespace` on every namespaced object and on the fields that name
/// a namespace (RoleBinding subjects named `default`, webhook and
/// APIService service references, ...).
pub fn namespace(resmap: &mut ResMap, ns: &str, specs: &[FieldSpec]) -> Result<()> {
    let specs = prepare(specs);
    let meta_ns = split_path("metadata/namespace");
    for r in resmap.iter_mut() {
        if r.obj.as_object().is_none_or(|m| m.is_empty()) {
            continue;
        }
        r.store_previous_id();
        let gvk = r.gvk();
        let api_version = gvk.api_version();
        let set = &mut |v: &mut Value| {
            *v = Value::String(ns.to_string());
            Ok(())
        };
        if !gvk.is_cluster_scoped() {
            visit(&mut r.obj, &meta_ns, Some(Leaf::Scalar), set)
                .map_err(|e| e.for_object(describe_owned(&r.obj)))?;
        }
        let binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
        if binding {
            set_default_subjects_namespace(&mut r.obj, ns);
        }
        for Prepared {
            spec,
            gvk: sel,
            path,
        } in &specs
        {
            if spec.path == "metadata/namespace"
                || (spec.path == "metadata/name" && api_version != "v1")
                || (binding && spec.path == "subjects/namespace" && is_binding_kind(&spec.kind))
                || !sel.selects(&gvk)
            {
                continue;
            }
            let create = spec.create.then_some(Leaf::Scalar);
            visit(&mut r.obj, path, create, set).map_err(|e| {
                e.for_object(describe_owned(&r.obj))
                    .at_field(spec.path.replace('/', "."))
            })?;
        }
    }
    // Two objects that differed only by namespace now collide.
    let mut seen = std::collections::HashSet::new();
    for r in resmap.iter() {
        let id = r.cur_id();
        let key = (
            id.gvk.clone(),
            id.name.clone(),
            id.effective_namespace().to_string(),
        );
        if !seen.insert(key) {
            return Err(Error::new(format!(
                "namespace transformation produces an id conflict: more than one {id}"
            )));
        }
    }
    Ok(())
}

fn is_binding_kind(kind: &str) -> bool {
    kind == "RoleBinding" || kind == "ClusterRoleBinding"
}

/// kustomize's default for binding subjects: only subjects named
/// `default` get the namespace.
fn set_default_subjects_namespace(obj: &mut Value, ns: &str) {
    let Some(Value::Array(subjects)) = obj.get_mut("subjects") else {
        return;
    };
    for s in subjects {
        if s.get("name").and_then(Value::as_str) == Some("default")
            && let Value::Object(m) = s
        {
            m.insert("namespace".to_string(), Value::String(ns.to_string()));
        }
    }
}

fn describe_owned(obj: &Value) -> String {
    super::resource::describe(obj)
}

/// Kinds whose names a prefix or suffix never changes.
fn skips_prefix(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.group == "apiregistration.k8s.io" && gvk.kind == "APIService")
}

/// Adds `prefix` and `suffix` to names at the field specs' paths
/// (`metadata/name` of every kind but a few, by default), recording the
/// rename so references can follow.
pub fn prefix_suffix(
    resmap: &mut ResMap,
    prefix: &str,
    suffix: &str,
    specs: &[FieldSpec],
) -> Result<()> {
    let specs = prepare(specs);
    for r in resmap.iter_mut() {
        let org = r.orig_id();
        if skips_prefix(&org.gvk) {
            continue;
        }
        for Prepared { spec, gvk, path } in &specs {
            if !gvk.selects(&org.gvk) {
                continue;
            }
            if spec.path == "metadata/name" {
                if !prefix.is_empty() {
                    r.prefixes.push(prefix.to_string());
                }
                if !suffix.is_empty() {
                    r.suffixes.push(suffix.to_string());
                }
                r.store_previous_id();
            }
            let create = spec.create.then_some(Leaf::Scalar);
            visit(&mut r.obj, path, create, &mut |v| {
                let cur = match &*v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                *v = Value::String(format!("{prefix}{cur}{suffix}"));
                Ok(())
            })
            .map_err(|e| {
                e.for_object(super::resource::describe(&r.obj))
                    .at_field(spec.path.replace('/', "."))
            })?;
        }
    }
    Ok(())
}

/// The field specs one `labels` entry writes to.
pub fn label_field_specs(label: &Label, config: &TransformerConfig) -> Result<Vec<FieldSpec>> {
    let mut specs = label.field_specs.clone();
    merge_field_specs(&mut specs, &config.labels)?;
    if label.include_selectors {
        merge_field_specs(&mut specs, &config.common_labels)?;
    } else {
        if label.include_templates {
            merge_field_specs(&mut specs, &config.template_labels)?;
        }
        if label.include_volume_claim_templates {
            merge_field_specs(&mut specs, &config.volume_claim_template_labels)?;
        }
        let metadata = FieldSpec {
            path: "metadata/labels".to_string(),
            create: true,
            ..FieldSpec::default()
        };
        merge_field_specs(&mut specs, std::slice::from_ref(&metadata))?;
    }
    Ok(specs)
}

/// Sets `labels` at the field specs' paths (maps created where allowed).
pub fn labels(
    resmap: &mut ResMap,
    labels: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<()> {
    labels_or_annotations(resmap, labels, specs)
}

/// Sets each entry of `pairs` in the map at each field spec's path.
pub fn labels_or_annotations(
    resmap: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let specs = prepare(specs);
    for r in resmap.iter_mut() {
        set_pairs(r, pairs, &specs)?;
    }
    Ok(())
}

fn set_pairs(
    r: &mut Resource,
    pairs: &BTreeMap<String, String>,
    specs: &[Prepared<'_>],
) -> Result<()> {
    let gvk = r.gvk();
    for Prepared {
        spec,
        gvk: sel,
        path,
    } in specs
    {
        if !sel.selects(&gvk) {
            continue;
        }
        let create = spec.create.then_some(Leaf::Map);
        visit(&mut r.obj, path, create, &mut |v| {
            if v.is_null() {
                *v = Value::Object(Default::default());
            }
            let Value::Object(map) = v else {
                return Err(Error::new("expected a map to set labels or annotations in"));
            };
            for (k, val) in pairs {
                map.insert(k.clone(), Value::String(val.clone()));
            }
            Ok(())
        })
        .map_err(|e| {
            e.for_object(super::resource::describe(&r.obj))
                .at_field(spec.path.replace('/', "."))
        })?;
    }
    Ok(())
}

/// The annotations `buildMetadata` options add.
const ORIGIN: &str = "config.kubernetes.io/origin";
const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

fn set_annotation(obj: &mut Value, key: &str, value: String) {
    let mut map = serde_json::Map::new();
    if let Some(Value::Object(m)) = obj.get("metadata").and_then(|m| m.get("annotations")) {
        map = m.clone();
    }
    map.insert(key.to_string(), Value::String(value));
    super::resource::set_path(obj, &["metadata", "annotations"], Value::Object(map));
}

/// The label `buildMetadata: [managedByLabel]` adds.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// The `buildMetadata` options that change the output.
pub fn build_metadata(resmap: &mut ResMap, options: &[String]) -> Result<()> {
    for opt in options {
        match opt.as_str() {
            "managedByLabel" => {
                let mut pairs = BTreeMap::new();
                pairs.insert(
                    MANAGED_BY.to_string(),
                    format!("kustomize-{}", super::KUSTOMIZE_VERSION),
                );
                let spec = FieldSpec {
                    path: "metadata/labels".to_string(),
                    create: true,
                    ..FieldSpec::default()
                };
                labels_or_annotations(resmap, &pairs, std::slice::from_ref(&spec))?;
            }
            "originAnnotations" => {
                for r in resmap.iter_mut() {
                    if let Some(origin) = r.origin.as_ref().map(Origin::to_yaml) {
                        set_annotation(&mut r.obj, ORIGIN, origin);
                    }
                }
            }
            "transformerAnnotations" => {
                for r in resmap.iter_mut() {
                    if r.transformations.is_empty() {
                        continue;
                    }
                    let mut text = String::new();
                    for t in &r.transformations {
                        for (i, line) in t.to_yaml().lines().enumerate() {
                            text.push_str(if i == 0 { "- " } else { "  " });
                            text.push_str(line);
                            text.push('\n');
                        }
                    }
                    set_annotation(&mut r.obj, TRANSFORMATIONS, text);
                }
            }
            other => {
                return Err(Error::new(format!(
                    "unknown buildMetadata option '{other}' (expected managedByLabel, originAnnotations or transformerAnnotations)"
                ))
                .at_field("buildMetadata"));
            }
        }
    }
    Ok(())
}
