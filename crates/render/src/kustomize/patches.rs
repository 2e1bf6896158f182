//! Patches: `patches` (strategic merge or JSON 6902, chosen by content),
//! `patchesStrategicMerge` and `patchesJson6902`.
//!
//! A strategic-merge patch without a `target` patches the one object whose
//! id (kind, name, namespace, by any name it has had) matches the patch's;
//! with a `target`, it patches every selected object. The patched object
//! keeps its name, namespace and kind unless the patch entry's `options`
//! allow a change.

use super::build::objects_from_documents;
use super::json6902::{self, Operation};
use super::kustomization::{Patch, PatchOptions};
use super::resource::{ResMap, Resource};
use super::selector;
use crate::schema::Schema;
use crate::{Error, Result, Value, smp, yaml};

/// One `patches` entry with its text already read.
pub fn apply(
    resmap: &mut ResMap,
    p: &Patch,
    text: &str,
    file: &str,
    schema: &Schema,
) -> Result<()> {
    let options = p.options.clone().unwrap_or_default();
    match parse_patch(text, file)? {
        Parsed::Json(ops) => {
            let Some(target) = &p.target else {
                return Err(Error::new("a JSON 6902 patch needs a 'target'"));
            };
            let selected = selector::select(resmap, target)?;
            let mut renamed = false;
            for i in selected {
                let r = &mut resmap.resources[i];
                r.store_previous_id();
                renamed |= apply_json6902(r, &ops)?;
            }
            if renamed {
                resmap.check_unique_ids()?;
            }
            Ok(())
        }
        Parsed::Strategic(patches) => match &p.target {
            Some(target) => {
                if patches.len() > 1 {
                    return Err(Error::new(
                        "several strategic-merge patches in one 'patches' entry cannot share a 'target'",
                    ));
                }
                let Some(patch) = patches.into_iter().next() else {
                    return Ok(());
                };
                let selected = selector::select(resmap, target)?;
                apply_smp_to(resmap, &selected, &patch, &options, schema)
            }
            None => {
                for patch in patches {
                    strategic_merge_one(resmap, &patch, &options, schema)?;
                }
                Ok(())
            }
        },
    }
}

/// A `patchesStrategicMerge` entry: every document patches the object with
/// its id.
pub fn strategic_merge_by_id(
    resmap: &mut ResMap,
    text: &str,
    file: &str,
    schema: &Schema,
) -> Result<()> {
    let docs = yaml::parse_documents(text, file)?;
    let patches = objects_from_documents(docs, file)?;
    if patches.is_empty() {
        return Err(Error::new("patch appears to be empty").in_file(file));
    }
    for patch in patches {
        strategic_merge_one(resmap, &patch, &PatchOptions::default(), schema)?;
    }
    Ok(())
}

/// A `patchesJson6902` entry: `target` (with a name) and operations.
pub fn json6902_legacy(resmap: &mut ResMap, p: &Patch, text: &str, file: &str) -> Result<()> {
    let Some(target) = &p.target else {
        return Err(Error::new("must specify a target for the patch"));
    };
    if target.name.is_empty() {
        return Err(Error::new("must specify the target name").at_field("target.name"));
    }
    let ops = parse_json6902(text, file)?;
    if ops.is_empty() {
        return Err(Error::new("patch appears to be empty").in_file(file));
    }
    let mut renamed = false;
    for i in selector::select(resmap, target)? {
        renamed |= apply_json6902(&mut resmap.resources[i], &ops)?;
    }
    if renamed {
        resmap.check_unique_ids()?;
    }
    Ok(())
}

enum Parsed {
    Json(Vec<Operation>),
    Strategic(Vec<Resource>),
}

/// Decides what kind of patch a text is: a list of operations is JSON
/// 6902, objects are strategic merge patches.
fn parse_patch(text: &str, file: &str) -> Result<Parsed> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return Ok(Parsed::Json(parse_json6902(text, file)?));
    }
    let docs = yaml::parse_documents(text, file)?;
    if docs.len() == 1 && docs[0].is_array() {
        return Ok(Parsed::Json(ops_from_value(docs[0].clone(), file)?));
    }
    let patches = objects_from_documents(docs, file).map_err(|e| {
        Error::new(format!(
            "unable to parse the patch as a strategic merge or JSON 6902 patch: {}",
            e.message
        ))
        .in_file(file)
    })?;
    Ok(Parsed::Strategic(patches))
}

fn parse_json6902(text: &str, file: &str) -> Result<Vec<Operation>> {
    let value = yaml::parse_value(text, file)?;
    ops_from_value(value, file)
}

fn ops_from_value(value: Value, file: &str) -> Result<Vec<Operation>> {
    json6902::parse(&value).map_err(|e| e.in_file(file))
}

/// Applies JSON patch operations as kustomize does: the object it patches
/// carries kustomize's internal annotations when it has build bookkeeping,
/// so `metadata.annotations` exists for the patch to add to; afterwards the
/// annotations are written back (an empty map disappears). Returns whether
/// the object's id changed.
fn apply_json6902(r: &mut Resource, ops: &[Operation]) -> Result<bool> {
    let describe = r.describe();
    let before = (
        r.name().to_string(),
        r.namespace().to_string(),
        r.kind().to_string(),
        r.str_at(&["apiVersion"]).to_string(),
    );
    if r.has_build_annotations()
        && let Some(Value::Object(meta)) = r.obj.get_mut("metadata")
        && !meta.get("annotations").is_some_and(Value::is_object)
    {
        meta.insert("annotations".to_string(), Value::Object(Default::default()));
    }
    json6902::apply(&mut r.obj, ops).map_err(|e| e.for_object(describe))?;
    super::resource::normalize_annotations(&mut r.obj);
    Ok(before.0 != r.name()
        || before.1 != r.namespace()
        || before.2 != r.kind()
        || before.3 != r.str_at(&["apiVersion"]))
}

/// Applies a strategic merge patch to the one object with the patch's id.
fn strategic_merge_one(
    resmap: &mut ResMap,
    patch: &Resource,
    options: &PatchOptions,
    schema: &Schema,
) -> Result<()> {
    let id = patch.orig_id();
    let found = resmap.find_by_any_id(&id);
    match found.as_slice() {
        [i] => apply_smp_to(resmap, &[*i], patch, options, schema),
        [] => Err(Error::new(format!(
            "no resource matches strategic merge patch {id}; failed to find unique target for patch"
        ))),
        _ => Err(Error::new(format!(
            "multiple resources match strategic merge patch {id}; failed to find unique target for patch"
        ))),
    }
}

/// Applies `patch` to each selected object; objects the patch deletes
/// (`$patch: delete`) leave the build.
fn apply_smp_to(
    resmap: &mut ResMap,
    selected: &[usize],
    patch: &Resource,
    options: &PatchOptions,
    schema: &Schema,
) -> Result<()> {
    let mut deleted = Vec::new();
    for &i in selected {
        let r = &mut resmap.resources[i];
        let (name, ns, kind) = (
            r.name().to_string(),
            r.namespace().to_string(),
            r.kind().to_string(),
        );
        if options.allow_name_change || options.allow_kind_change {
            r.store_previous_id();
        }
        // The patch takes the target's apiVersion, so a patch written for
        // another version of the kind does not change it.
        let mut p = patch.obj.clone();
        if let (Value::Object(pm), Some(av)) = (&mut p, r.obj.get("apiVersion").cloned()) {
            pm.insert("apiVersion".to_string(), av);
        }
        let describe = r.describe();
        let outcome = smp::apply(&mut r.obj, &p, schema).map_err(|e| e.for_object(describe))?;
        if outcome == smp::Applied::Deleted || r.obj.as_object().is_none_or(|m| m.is_empty()) {
            deleted.push(i);
            continue;
        }
        if !options.allow_kind_change {
            super::resource::set_path(&mut r.obj, &["kind"], Value::String(kind));
        }
        if !options.allow_name_change {
            r.set_name(&name);
        }
        if ns.is_empty() {
            if let Some(Value::Object(meta)) = r.obj.get_mut("metadata") {
                meta.remove("namespace");
            }
        } else {
            r.set_namespace(&ns);
        }
    }
    if options.allow_name_change || options.allow_kind_change {
        resmap.check_unique_ids()?;
    }
    if !deleted.is_empty() {
        let mut i = 0;
        resmap.resources.retain(|_| {
            let keep = !deleted.contains(&i);
            i += 1;
            keep
        });
    }
    Ok(())
}
