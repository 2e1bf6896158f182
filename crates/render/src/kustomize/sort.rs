//! Output order. Without `sortOptions`, `kustomize build` uses its legacy
//! order: kinds in a fixed order (Namespaces, then quotas, storage classes,
//! CRDs, service accounts, RBAC, ConfigMaps, Secrets, Services, ...,
//! webhook configurations last), then by group/version/kind and by
//! namespace and name. `sortOptions.order: fifo` keeps the input order.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::kustomization::SortOptions;
use super::resource::{Gvk, ResId, ResMap};
use crate::{Error, Result};

pub(super) const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

pub(super) const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts the build output as the root kustomization's `sortOptions` ask.
pub fn apply(resmap: &mut ResMap, options: Option<&SortOptions>) -> Result<()> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (owned(&ORDER_FIRST), owned(&ORDER_LAST)),
        Some(o) => match o.order.as_str() {
            "fifo" => {
                if o.legacy_sort_options.is_some() {
                    return Err(Error::new(
                        "'sortOptions.legacySortOptions' is set but the sort order is 'fifo', not 'legacy'",
                    )
                    .at_field("sortOptions"));
                }
                return Ok(());
            }
            "legacy" => match &o.legacy_sort_options {
                Some(l) => (l.order_first.clone(), l.order_last.clone()),
                None => (owned(&ORDER_FIRST), owned(&ORDER_LAST)),
            },
            other => {
                return Err(Error::new(format!(
                    "'sortOptions.order' must be fifo or legacy, not '{other}'"
                ))
                .at_field("sortOptions.order"));
            }
        },
    };
    let mut rank: HashMap<&str, i64> = HashMap::new();
    let n = first.len() as i64;
    for (i, k) in first.iter().enumerate() {
        rank.insert(k, i as i64 - n);
    }
    for (i, k) in last.iter().enumerate() {
        rank.insert(k, 1 + i as i64);
    }
    // Keys are built once per object, not once per comparison.
    let mut keyed: Vec<(Key, _)> = std::mem::take(&mut resmap.resources)
        .into_iter()
        .map(|r| (Key::new(r.cur_id(), &rank), r))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| a.cmp(b));
    resmap.resources = keyed.into_iter().map(|(_, r)| r).collect();
    Ok(())
}

/// What the legacy order compares: the kind's rank, the group/version/kind
/// string, and the id string.
struct Key {
    id: ResId,
    rank: i64,
    gvk: String,
    id_string: String,
}

impl Key {
    fn new(id: ResId, rank: &HashMap<&str, i64>) -> Key {
        Key {
            rank: rank.get(id.gvk.kind.as_str()).copied().unwrap_or(0),
            gvk: gvk_sort_string(&id.gvk),
            id_string: id_sort_string(&id),
            id,
        }
    }

    fn cmp(&self, other: &Key) -> Ordering {
        let (a, b) = (&self.id, &other.id);
        if a.gvk != b.gvk {
            if self.rank != other.rank {
                return self.rank.cmp(&other.rank);
            }
            // Namespaces of the core group sort after other groups' kinds
            // named Namespace: kustomize's rule, kept for identical output.
            if a.gvk.kind == "Namespace"
                && b.gvk.kind == "Namespace"
                && (a.gvk.group.is_empty() || b.gvk.group.is_empty())
            {
                return other.gvk.cmp(&self.gvk);
            }
            return self.gvk.cmp(&other.gvk);
        }
        self.id_string.cmp(&other.id_string)
    }
}

/// A kind's place in the default legacy order: negative for the kinds
/// listed first, positive for those listed last, 0 for the rest.
pub(super) fn default_rank(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        i as i64 - ORDER_FIRST.len() as i64
    } else if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        i as i64 + 1
    } else {
        0
    }
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn or<'a>(s: &'a str, empty: &'a str) -> &'a str {
    if s.is_empty() { empty } else { s }
}

pub(super) fn gvk_sort_string(g: &Gvk) -> String {
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

fn id_sort_string(id: &ResId) -> String {
    format!(
        "{}.{}.{}|{}|{}",
        or(&id.gvk.kind, "[noKind]"),
        or(&id.gvk.version, "[noVer]"),
        or(&id.gvk.group, "[noGrp]"),
        or(&id.namespace, "~X"),
        or(&id.name, "~N")
    )
}
