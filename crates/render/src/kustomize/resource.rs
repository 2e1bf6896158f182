//! Resources as a kustomize build carries them: the object, where it came
//! from, and the build-time bookkeeping kustomize keeps in internal
//! annotations (previous ids, prefixes and suffixes, generator behaviour).

use std::collections::HashSet;
use std::fmt;

use crate::{Error, Result, Value};

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` (`apps/v1`, `v1`) and a kind.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether objects of this kind live outside namespaces, per the
    /// Kubernetes schema (unknown kinds are namespaced, as in kustomize).
    pub fn is_cluster_scoped(&self) -> bool {
        crate::schema::is_cluster_scoped(self)
    }

    /// kustomize's selector semantics: empty fields in `self` match anything.
    pub fn selects(&self, other: &Gvk) -> bool {
        (self.group.is_empty() || self.group == other.group)
            && (self.version.is_empty() || self.version == other.version)
            && (self.kind.is_empty() || self.kind == other.kind)
    }
}

/// A resource's identity: kind plus name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The namespace used to compare ids: `default` for a namespaced object
    /// that names none, `""` for cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Same kind, name and effective namespace.
    pub fn same_as(&self, other: &ResId) -> bool {
        self.gvk == other.gvk
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }
}

impl fmt::Display for ResId {
    /// `Kind.version.group/name.namespace`, kustomize's form, which users
    /// see in its messages too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.gvk.group.is_empty() {
            "[noGrp]"
        } else {
            &self.gvk.group
        };
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(
            f,
            "{}.{}.{}/{}.{}",
            self.gvk.kind, self.gvk.version, group, self.name, ns
        )
    }
}

/// `ns` as ids compare it: `default` for a namespaced kind with none.
fn effective<'a>(ns: &'a str, gvk: &Gvk) -> &'a str {
    if gvk.is_cluster_scoped() {
        ""
    } else if ns.is_empty() {
        "default"
    } else {
        ns
    }
}

/// How a generated ConfigMap/Secret combines with one of the same name
/// from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    #[default]
    Unspecified,
    Create,
    Replace,
    Merge,
}

impl Behavior {
    pub fn parse(s: &str) -> Result<Behavior> {
        Ok(match s {
            "" => Behavior::Unspecified,
            "create" => Behavior::Create,
            "replace" => Behavior::Replace,
            "merge" => Behavior::Merge,
            other => {
                return Err(Error::new(format!(
                    "unknown generator behavior '{other}' (expected create, replace or merge)"
                ))
                .at_field("behavior"));
            }
        })
    }
}

/// One object in a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The object itself.
    pub obj: Value,
    /// The file it was read from (or the kustomization that generated it).
    pub file: String,
    /// Ids it had before renames (prefix/suffix, namespace, hash), oldest
    /// first. kustomize keeps these to rewrite references.
    pub prev_ids: Vec<ResId>,
    /// Name prefixes and suffixes applied so far, outermost last.
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// A generated ConfigMap/Secret that gets a content-hash suffix.
    pub needs_hash: bool,
    /// Generator behaviour for generated objects.
    pub behavior: Behavior,
    /// Where the object came from, for `buildMetadata: [originAnnotations]`.
    pub origin: Option<Origin>,
    /// The transformers that ran over the object, for
    /// `buildMetadata: [transformerAnnotations]`.
    pub transformations: Vec<Origin>,
}

/// Where an object came from, or which transformer touched it, with paths
/// relative to the root kustomization (kustomize's `config.kubernetes.io/origin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from this file.
    File(String),
    /// Made or changed by a built-in generator or transformer configured in
    /// this kustomization file.
    Builtin {
        configured_in: String,
        kind: &'static str,
    },
}

impl Origin {
    /// The YAML text kustomize stores in the annotation.
    pub fn to_yaml(&self) -> String {
        match self {
            Origin::File(path) => format!("path: {path}\n"),
            Origin::Builtin {
                configured_in,
                kind,
            } => format!(
                "configuredIn: {configured_in}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n"
            ),
        }
    }
}

impl Resource {
    pub fn new(obj: Value, file: impl Into<String>) -> Resource {
        Resource {
            obj,
            file: file.into(),
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Unspecified,
            origin: None,
            transformations: Vec::new(),
        }
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.str_at(&["apiVersion"]), self.str_at(&["kind"]))
    }

    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    /// The id as the object is now.
    pub fn cur_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// Whether the object's current id is `id` (same kind, name and
    /// effective namespace). Compares in place: lookups run this for every
    /// object, so it must not allocate.
    pub fn has_cur_id(&self, id: &ResId) -> bool {
        if self.name() != id.name || self.kind() != id.gvk.kind {
            return false;
        }
        let api_version = self.str_at(&["apiVersion"]);
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if group != id.gvk.group || version != id.gvk.version {
            return false;
        }
        let ns = self.namespace();
        ns == id.namespace || effective(ns, &id.gvk) == id.effective_namespace()
    }

    /// Whether the object has had `id` at any time.
    pub fn has_had_id(&self, id: &ResId) -> bool {
        self.has_cur_id(id) || self.prev_ids.iter().any(|p| p.same_as(id))
    }

    /// The id the object had when first loaded.
    pub fn orig_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Every id the object has had, current last.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.cur_id());
        ids
    }

    /// Records the current id before a rename.
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        self.prev_ids.push(id);
    }

    pub fn set_name(&mut self, name: &str) {
        set_path(
            &mut self.obj,
            &["metadata", "name"],
            Value::String(name.to_string()),
        );
    }

    pub fn set_namespace(&mut self, ns: &str) {
        set_path(
            &mut self.obj,
            &["metadata", "namespace"],
            Value::String(ns.to_string()),
        );
    }

    /// `metadata.labels` (or annotations) as a map; empty when absent.
    pub fn labels(&self) -> serde_json::Map<String, Value> {
        self.map_at(&["metadata", "labels"])
    }

    pub fn annotations(&self) -> serde_json::Map<String, Value> {
        self.map_at(&["metadata", "annotations"])
    }

    fn map_at(&self, path: &[&str]) -> serde_json::Map<String, Value> {
        get_path(&self.obj, path)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    pub fn str_at(&self, path: &[&str]) -> &str {
        get_path(&self.obj, path)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Whether kustomize would be carrying internal build annotations on
    /// this object (renames, prefixes, generator bookkeeping, origins).
    /// Some results depend on it: a JSON patch can add to
    /// `metadata.annotations` only when that map exists.
    pub fn has_build_annotations(&self) -> bool {
        !self.prev_ids.is_empty()
            || !self.prefixes.is_empty()
            || !self.suffixes.is_empty()
            || self.needs_hash
            || self.behavior != Behavior::Unspecified
            || self.origin.is_some()
    }

    /// `Kind/namespace/name` or `Kind/name`, for messages.
    pub fn describe(&self) -> String {
        describe(&self.obj)
    }
}

/// `Kind/namespace/name` or `Kind/name` of an object, for messages.
pub fn describe(obj: &Value) -> String {
    let s = |p: &[&str]| get_path(obj, p).and_then(Value::as_str).unwrap_or("");
    let (kind, ns, name) = (
        s(&["kind"]),
        s(&["metadata", "namespace"]),
        s(&["metadata", "name"]),
    );
    let kind = if kind.is_empty() { "<no kind>" } else { kind };
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

/// Rewrites `metadata.annotations` the way kustomize's annotation setter
/// leaves it: every value as a string, and no `annotations` field at all
/// when the map is empty or null. kustomize does this to every object at
/// the end of a build.
pub fn normalize_annotations(obj: &mut Value) {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        return;
    };
    let empty = match meta.get_mut("annotations") {
        None => return,
        Some(Value::Object(m)) => {
            for v in m.values_mut() {
                if !v.is_string() {
                    *v = Value::String(scalar_text(v));
                }
            }
            m.is_empty()
        }
        Some(Value::Null) => true,
        Some(_) => false,
    };
    if empty {
        meta.remove("annotations");
    }
}

/// The text of a scalar as kustomize reads it back as a string.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The value at a path of map keys.
pub fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    Some(cur)
}

/// Sets the value at a path of map keys, creating maps on the way (and
/// replacing non-map values in the way).
pub fn set_path(v: &mut Value, path: &[&str], new: Value) {
    let Some((last, init)) = path.split_last() else {
        *v = new;
        return;
    };
    let mut cur = v;
    for key in init {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(map) = cur else { return };
        cur = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    if let Value::Object(map) = cur {
        map.insert(last.to_string(), new);
    }
}

/// The objects of a build, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResMap {
    pub resources: Vec<Resource>,
}

impl ResMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.resources.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Resource> {
        self.resources.iter_mut()
    }

    /// Adds a resource; fails if one with the same current id is present.
    pub fn append(&mut self, r: Resource) -> Result<()> {
        let id = r.cur_id();
        if let Some(existing) = self.resources.iter().find(|e| e.has_cur_id(&id)) {
            return Err(Error::new(format!(
                "may not add resource with an already registered id: {id} (already loaded from {})",
                existing.file
            ))
            .in_file(r.file.clone()));
        }
        self.resources.push(r);
        Ok(())
    }

    /// Adds every resource of `other`, failing on the first duplicate id.
    pub fn append_all(&mut self, other: ResMap) -> Result<()> {
        self.append_many(other.resources)
    }

    /// Adds resources in order, failing on the first duplicate id. One
    /// hash set serves the whole batch, so adding n objects costs O(n)
    /// rather than the O(n²) of repeated [`ResMap::append`].
    pub fn append_many(&mut self, rs: Vec<Resource>) -> Result<()> {
        if rs.len() < 4 {
            for r in rs {
                self.append(r)?;
            }
            return Ok(());
        }
        // Hashes of the ids present; a repeated hash is checked for real.
        let mut seen: HashSet<u64> = self.resources.iter().map(id_hash).collect();
        self.resources.reserve(rs.len());
        for r in rs {
            if !seen.insert(id_hash(&r)) {
                // `append` confirms the duplicate and names the holder.
                self.append(r)?;
                continue;
            }
            self.resources.push(r);
        }
        Ok(())
    }

    /// Fails when two objects share a current id (after a rename).
    pub fn check_unique_ids(&self) -> Result<()> {
        let mut seen = HashSet::with_capacity(self.resources.len());
        for (i, r) in self.resources.iter().enumerate() {
            let id = r.cur_id();
            if !seen.insert(id_hash(r)) && self.resources[..i].iter().any(|e| e.has_cur_id(&id)) {
                return Err(
                    Error::new(format!("more than one object has the id {}", r.cur_id()))
                        .in_file(r.file.clone()),
                );
            }
        }
        Ok(())
    }

    /// Indices of the resources whose current id matches `id`.
    pub fn find_by_cur_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.has_cur_id(id))
            .map(|(i, _)| i)
            .collect()
    }

    /// Indices of the resources that have had `id` at any time.
    pub fn find_by_any_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.has_had_id(id))
            .map(|(i, _)| i)
            .collect()
    }

    pub fn into_objects(self) -> Vec<Value> {
        self.resources.into_iter().map(|r| r.obj).collect()
    }
}

/// A hash of a resource's current id as ids compare (group, version, kind,
/// name, effective namespace). Equal ids hash equally: `""` and `default`
/// hash alike (they are the same namespace for a namespaced kind, and a
/// cluster-scoped kind has none).
fn id_hash(r: &Resource) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let ns = r.namespace();
    let ns = if ns.is_empty() || ns == "default" || r.gvk().is_cluster_scoped() {
        ""
    } else {
        ns
    };
    (r.str_at(&["apiVersion"]), r.kind(), r.name(), ns).hash(&mut h);
    h.finish()
}
