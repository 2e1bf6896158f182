//! The `replicas` transformer: sets `spec.replicas` of the workloads named
//! in the kustomization, as kustomize v5 does.
//!
//! An entry names a resource by its exact name, current or any earlier one
//! (so an overlay can use the base's name before a prefix was added); the
//! namespace is not considered, so every workload of that name is set. Only
//! the kinds of the field specs (the `replicas` list of
//! [`TransformerConfig`]: Deployment, StatefulSet, ReplicaSet,
//! ReplicationController, any group) are touched,
//! and `spec.replicas` is created where missing. An entry that matches no
//! resource is an error. A count of 0 is set like any other.

use super::builtins::TransformerConfig;
use super::fieldspec::{FieldSpec, Leaf, split_path, visit};
use super::images::ensure_scalar;
use super::kustomization::Replica;
use super::resource::ResMap;
use crate::{Error, Result, Value};

/// kustomize's replicas transformer with the built-in field specs.
pub fn apply(resmap: &mut ResMap, replicas: &[Replica]) -> Result<()> {
    apply_with_specs(resmap, replicas, &TransformerConfig::builtin().replicas)
}

/// The replicas transformer with explicit field specs (the built-in ones
/// plus any from the kustomization's `configurations`).
pub fn apply_with_specs(
    resmap: &mut ResMap,
    replicas: &[Replica],
    specs: &[FieldSpec],
) -> Result<()> {
    let paths: Vec<_> = specs.iter().map(|s| split_path(&s.path)).collect();
    for replica in replicas {
        let mut found = false;
        for (spec, path) in specs.iter().zip(&paths) {
            let selector = spec.gvk();
            for r in resmap.iter_mut() {
                let named = r
                    .all_ids()
                    .iter()
                    .any(|id| id.name == replica.name && selector.selects(&id.gvk));
                if !named {
                    continue;
                }
                found = true;
                // Matching may go by an earlier kind; the field spec still
                // has to fit the object as it is now.
                if !spec.applies_to(r) {
                    continue;
                }
                visit(
                    &mut r.obj,
                    path,
                    spec.create.then_some(Leaf::Scalar),
                    &mut |v| {
                        ensure_scalar(v)?;
                        *v = Value::from(replica.count);
                        Ok(())
                    },
                )
                .map_err(|e| e.for_object(r.describe()).at_field(spec.path.clone()))?;
            }
        }
        if !found {
            let kinds: Vec<String> = specs.iter().map(|s| gvk_string(&s.gvk())).collect();
            return Err(Error::new(format!(
                "resource with name {} does not match a config with the following GVK [{}]",
                replica.name,
                kinds.join(" ")
            ))
            .at_field("replicas"));
        }
    }
    Ok(())
}

/// `Kind.version.group` with kustomize's placeholders for empty parts.
fn gvk_string(gvk: &super::resource::Gvk) -> String {
    let or = |s: &str, empty: &'static str| {
        if s.is_empty() {
            empty.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}.{}.{}",
        or(&gvk.kind, "[noKind]"),
        or(&gvk.version, "[noVer]"),
        or(&gvk.group, "[noGrp]")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::Kustomization;
    use crate::kustomize::generators::testutil::{build, write_tree};
    use crate::kustomize::resource::Resource;

    const RESOURCES: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: d, namespace: other}
spec: null
---
apiVersion: example.com/v1
kind: Deployment
metadata: {name: d, namespace: x}
spec:
  replicas: 5
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec: {replicas: 2}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  replicas: {weird: map}
---
apiVersion: example.com/v1
kind: Scaled
metadata: {name: d}
spec: {}
"#;

    /// Builds a base (with a name prefix) and an overlay with `replicas`,
    /// and compares with what gyro makes of the prefixed base objects.
    fn compare(replicas_yaml: &str) -> Result<(), String> {
        let tmp = tempfile::tempdir().unwrap();
        let overlay = format!("resources: [base]\n{replicas_yaml}");
        write_tree(
            tmp.path(),
            &[
                (
                    "base/kustomization.yaml",
                    b"resources: [r.yaml]\nnamePrefix: p-\n",
                ),
                ("base/r.yaml", RESOURCES.as_bytes()),
                ("kustomization.yaml", overlay.as_bytes()),
            ],
        );
        let theirs = build(tmp.path(), "");
        let kust: Kustomization = serde_saphyr::from_str(&overlay).unwrap();
        let mut resmap = ResMap::new();
        for obj in serde_saphyr::from_multiple::<Value>(RESOURCES).unwrap() {
            let mut r = Resource::new(obj, "base/r.yaml");
            r.store_previous_id();
            let name = format!("p-{}", r.name());
            r.set_name(&name);
            resmap.append(r).unwrap();
        }
        let ours = apply(&mut resmap, &kust.replicas);
        match (ours, theirs) {
            (Ok(()), Ok(theirs)) => {
                let find = |r: &Resource| {
                    theirs
                        .iter()
                        .find(|o| {
                            o["kind"] == r.kind()
                                && o["apiVersion"] == r.obj["apiVersion"]
                                && o["metadata"]["name"] == r.name()
                        })
                        .cloned()
                };
                assert_eq!(resmap.len(), theirs.len());
                for r in resmap.iter() {
                    assert_eq!(Some(&r.obj), find(r).as_ref(), "{replicas_yaml}");
                }
                Ok(())
            }
            (Err(ours), Err(theirs)) => {
                assert!(
                    theirs.contains(&ours.message),
                    "ours: {ours}\ntheirs: {theirs}"
                );
                Err(ours.message)
            }
            (ours, theirs) => panic!("{replicas_yaml}: ours {ours:?}, kustomize {theirs:?}"),
        }
    }

    #[test]
    fn sets_counts_by_original_or_current_name() {
        compare("replicas:\n- name: d\n  count: 0\n- name: p-rc\n  count: 3\n").unwrap();
        compare("replicas:\n- name: d\n  count: 2\n- name: d\n  count: 4\n").unwrap();
    }

    #[test]
    fn unmatched_name_fails_like_kustomize() {
        let err = compare("replicas:\n- name: nope\n  count: 1\n").unwrap_err();
        assert!(
            err.contains("[Deployment.[noVer].[noGrp] StatefulSet"),
            "{err}"
        );
        // Only a kind outside the field specs has that name.
        let mut resmap = ResMap::new();
        let obj =
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
        resmap.append(Resource::new(obj, "s.yaml")).unwrap();
        let replica = Replica {
            name: "s".into(),
            count: 1,
        };
        assert!(apply(&mut resmap, &[replica]).is_err());
    }

    #[test]
    fn map_in_place_of_the_count_is_an_error() {
        let err = compare("replicas:\n- name: rs\n  count: 7\n").unwrap_err();
        assert!(
            err.contains("expected ScalarNode but got MappingNode"),
            "{err}"
        );
    }

    #[test]
    fn scalar_spec_is_an_error() {
        let mut resmap = ResMap::new();
        let obj = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": "x"});
        resmap.append(Resource::new(obj, "d.yaml")).unwrap();
        let err = apply(
            &mut resmap,
            &[Replica {
                name: "d".into(),
                count: 1,
            }],
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec/replicas"));
    }
}
