//! The Kubernetes OpenAPI schema, reduced to what rendering reads: which
//! kinds are cluster-scoped, and for each field its schema, patch strategy
//! and merge keys (what strategic merge patches follow).
//!
//! The built-in data (`schema/k8s.json` and `schema/k8s-scopes.json`, made
//! by `scripts/gen-k8s-schema`) is the schema kustomize v5.8.2 itself
//! embeds: Kubernetes v1.21.2 plus kyaml's fixed scope table. A newer
//! Kubernetes schema would make gyro merge lists that kustomize replaces
//! and scope kinds that kustomize namespaces, so the output would no longer
//! match `kustomize build`.
//!
//! Lookups follow kyaml's `openapi.ResourceSchema`: a field resolves through
//! `properties`, then `additionalProperties`, following `$ref`s (a `$ref`
//! replaces the schema it sits in, extensions included); list items are
//! reachable only from a schema whose `type` is exactly `array`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use crate::kustomize::Gvk;
use crate::{Error, Result, Value};

/// The Kubernetes release the built-in schema describes; the only value
/// kustomize accepts in a kustomization's `openapi: {version: ...}`.
pub const BUILTIN_KUBERNETES_VERSION: &str = "v1.21.2";

const BUILTIN_DATA: &str = include_str!("schema/k8s.json");
const BUILTIN_SCOPES: &str = include_str!("schema/k8s-scopes.json");

const PATCH_STRATEGY: &str = "x-kubernetes-patch-strategy";
const MERGE_KEY: &str = "x-kubernetes-patch-merge-key";
const MAP_KEYS: &str = "x-kubernetes-list-map-keys";
const GVK_EXTENSION: &str = "x-kubernetes-group-version-kind";

type NodeId = u32;

/// Where a schema reference leads: `None` when it names no definition
/// (kyaml then has no schema for the field, not even its neighbours').
type Link = Option<NodeId>;

#[derive(Debug, Default)]
struct Node {
    /// The definition's name, for definitions (not inline schemas).
    name: Option<Box<str>>,
    properties: HashMap<Box<str>, Link>,
    additional: Option<Link>,
    /// Present only when `type` is `array` and `items` a single schema.
    items: Option<Link>,
    strategy: Option<Box<str>>,
    /// `x-kubernetes-list-map-keys`, else the merge key; kept only beside
    /// a patch strategy, because kyaml reads them only there.
    merge_keys: Vec<String>,
}

/// Scope per kind, then per `apiVersion`: `true` when namespaced.
type ScopeTable = HashMap<String, Vec<(String, bool)>>;

/// The built-in scope tables, loaded apart from the definitions because
/// every build asks for scopes and few need the definitions.
#[derive(Debug, Default)]
struct BuiltinScopes {
    /// kyaml's precomputed table, consulted before any schema.
    fixed: ScopeTable,
    /// The built-in schema's own.
    schema: ScopeTable,
}

fn builtin_scopes() -> &'static BuiltinScopes {
    static SCOPES: OnceLock<BuiltinScopes> = OnceLock::new();
    SCOPES.get_or_init(|| {
        // The data is compiled in and checked by this module's tests.
        let data: Value =
            serde_json::from_str(BUILTIN_SCOPES).expect("the embedded scope table is valid JSON");
        let mut scopes = BuiltinScopes::default();
        read_scope_lists(&data["fixedScopes"], &mut scopes.fixed);
        read_scope_lists(&data["scopes"], &mut scopes.schema);
        scopes
    })
}

/// A schema: built in ([`Schema::builtin`]) or from a kustomization's
/// `openapi: {path: ...}` document ([`Schema::from_openapi_doc`]).
#[derive(Debug, Default)]
pub struct Schema {
    nodes: Vec<Node>,
    by_kind: HashMap<String, Vec<(String, NodeId)>>,
    scopes: ScopeTable,
}

/// One source of definitions for [`Schema::from_layers`].
#[derive(Debug, Clone, Copy)]
pub enum Layer<'a> {
    /// The built-in Kubernetes schema.
    Builtin,
    /// An OpenAPI v2 document (`definitions`, and `paths` for scopes).
    Document(&'a Value),
}

/// A schema for one field or object, tied to its [`Schema`].
#[derive(Debug, Clone, Copy)]
pub struct SchemaRef<'a> {
    schema: &'a Schema,
    id: NodeId,
}

impl Schema {
    /// The built-in schema, parsed on first use.
    pub fn builtin() -> &'static Schema {
        static BUILTIN: OnceLock<Schema> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The data is compiled in and checked by this module's tests.
            Schema::from_layers(&[Layer::Builtin]).expect("the embedded Kubernetes schema is valid")
        })
    }

    /// The schema kustomize uses when the root kustomization names
    /// `openapi: {path: FILE}`: that document's definitions alone (the
    /// built-in Kubernetes ones are not consulted), plus kustomize's own
    /// Kustomization definitions and its fixed scope table.
    pub fn from_openapi_doc(doc: &Value) -> Result<Schema> {
        Schema::from_layers(&[Layer::Document(doc)])
    }

    /// Definitions from several sources, a later one replacing an earlier
    /// one's definition of the same name, as kyaml's global schema grows
    /// when a custom document and the built-in one are both loaded.
    ///
    /// kustomize uses the first `openapi: {path: ...}` it meets (the root
    /// kustomization's, else the first base's in load order) for the whole
    /// build. It adds the built-in schema on top of that document
    /// (`[Document, Builtin]`) when a resource whose kind fails
    /// [`has_fixed_scope`] was loaded before the document was read, and
    /// under it (`[Builtin, Document]`) when a strategic merge ran before.
    pub fn from_layers(layers: &[Layer<'_>]) -> Result<Schema> {
        let data: Value = serde_json::from_str(BUILTIN_DATA)
            .map_err(|e| Error::new(format!("embedded Kubernetes schema: {e}")))?;
        let mut defs: BTreeMap<&str, &Value> = BTreeMap::new();
        let mut gvk_sources: Vec<&serde_json::Map<String, Value>> = Vec::new();
        let mut schema = Schema::default();
        for layer in layers {
            let (definitions, file) = match layer {
                Layer::Builtin => {
                    for (kind, versions) in &builtin_scopes().schema {
                        for (api_version, namespaced) in versions {
                            set_scope(&mut schema.scopes, api_version, kind, *namespaced, true);
                        }
                    }
                    (data.get("definitions"), "built-in schema")
                }
                Layer::Document(doc) => {
                    read_paths(doc.get("paths"), &mut schema.scopes)?;
                    (doc.get("definitions"), "openapi document")
                }
            };
            let definitions = match definitions {
                None | Some(Value::Null) => continue,
                Some(Value::Object(map)) => map,
                Some(_) => {
                    return Err(Error::new("definitions must be a map of schemas")
                        .in_file(file)
                        .at_field("definitions"));
                }
            };
            defs.extend(definitions.iter().map(|(k, v)| (k.as_str(), v)));
            gvk_sources.push(definitions);
        }
        if let Some(Value::Object(kust)) = data.get("kustomizeDefinitions") {
            defs.extend(kust.iter().map(|(k, v)| (k.as_str(), v)));
            gvk_sources.push(kust);
        }

        let mut builder = Builder::new(&defs);
        for (name, def) in &defs {
            let id = builder.def_ids[name];
            let mut node = builder.node(def);
            node.name = Some((*name).into());
            builder.nodes[id as usize] = node;
        }
        schema.nodes = builder.nodes;
        for definitions in gvk_sources {
            for (name, def) in definitions {
                let Some(id) = builder.def_ids.get(name.as_str()) else {
                    continue;
                };
                for (api_version, kind) in gvks_of(def) {
                    let versions = schema.by_kind.entry(kind).or_default();
                    match versions.iter_mut().find(|(av, _)| *av == api_version) {
                        Some(entry) => entry.1 = *id,
                        None => versions.push((api_version, *id)),
                    }
                }
            }
        }
        Ok(schema)
    }

    /// The definition for objects of `gvk`, if the schema has one.
    pub fn for_gvk(&self, gvk: &Gvk) -> Option<SchemaRef<'_>> {
        let id = find_version(self.by_kind.get(&gvk.kind)?, |av| api_version_is(av, gvk))?;
        Some(self.at(id))
    }

    /// The definition for an `apiVersion` and `kind` as written in an object.
    pub fn for_type(&self, api_version: &str, kind: &str) -> Option<SchemaRef<'_>> {
        let id = find_version(self.by_kind.get(kind)?, |av| av == api_version)?;
        Some(self.at(id))
    }

    /// The schema at a field path of objects of `gvk`; `"[]"` steps into
    /// list items, as in kyaml's `Lookup`.
    pub fn lookup(&self, gvk: &Gvk, path: &[&str]) -> Option<SchemaRef<'_>> {
        path.iter().try_fold(self.for_gvk(gvk)?, |s, step| {
            if *step == "[]" {
                s.elements()
            } else {
                s.field(step)
            }
        })
    }

    /// Whether kustomize counts objects of `gvk` as cluster-scoped: only
    /// when the schema in use says so; unknown kinds are namespaced.
    pub fn is_cluster_scoped(&self, gvk: &Gvk) -> bool {
        cluster_scoped(&builtin_scopes().fixed, &self.scopes, gvk)
    }

    fn at(&self, id: NodeId) -> SchemaRef<'_> {
        SchemaRef { schema: self, id }
    }
}

impl<'a> SchemaRef<'a> {
    fn node(self) -> &'a Node {
        &self.schema.nodes[self.id as usize]
    }

    /// The schema of field `name` (or of any key, for a map type).
    pub fn field(self, name: &str) -> Option<SchemaRef<'a>> {
        let node = self.node();
        let link = match node.properties.get(name) {
            Some(link) => *link,
            None => node.additional?,
        };
        Some(self.schema.at(link?))
    }

    /// The schema of list items, for an array schema.
    pub fn elements(self) -> Option<SchemaRef<'a>> {
        Some(self.schema.at(self.node().items??))
    }

    /// `x-kubernetes-patch-strategy`, such as `merge` or `merge,retainKeys`.
    pub fn patch_strategy(self) -> Option<&'a str> {
        self.node().strategy.as_deref()
    }

    /// Whether a list with this schema is merged element by element.
    pub fn merges_list(self) -> bool {
        self.patch_strategy()
            .is_some_and(|s| s.split(',').any(|part| part == "merge"))
    }

    /// The keys that identify list elements when merging (empty for lists
    /// of scalars, and for fields without a patch strategy).
    pub fn merge_keys(self) -> &'a [String] {
        &self.node().merge_keys
    }

    /// The definition name, such as `io.k8s.api.core.v1.Container`, when
    /// this schema is a named definition.
    pub fn definition(self) -> Option<&'a str> {
        self.node().name.as_deref()
    }
}

/// Whether objects of `gvk` are cluster-scoped, per the built-in schema.
/// Unknown kinds are namespaced.
pub fn is_cluster_scoped(gvk: &Gvk) -> bool {
    let scopes = builtin_scopes();
    cluster_scoped(&scopes.fixed, &scopes.schema, gvk)
}

/// Whether kyaml knows the scope of `gvk` from its fixed table, without
/// consulting any schema (see [`Schema::from_layers`] for why that matters).
pub fn has_fixed_scope(gvk: &Gvk) -> bool {
    builtin_scopes()
        .fixed
        .get(&gvk.kind)
        .and_then(|versions| find_version(versions, |av| api_version_is(av, gvk)))
        .is_some()
}

/// Looks `gvk` up in kyaml's fixed table, then in a schema's scopes.
fn cluster_scoped(fixed: &ScopeTable, schema: &ScopeTable, gvk: &Gvk) -> bool {
    let lookup = |table: &ScopeTable| {
        let versions = table.get(&gvk.kind)?;
        find_version(versions, |av| api_version_is(av, gvk))
    };
    lookup(fixed).or_else(|| lookup(schema)) == Some(false)
}

/// Builds schema nodes from definitions: every definition gets its node id
/// first, so `$ref`s resolve whatever the order.
struct Builder<'d> {
    defs: &'d BTreeMap<&'d str, &'d Value>,
    def_ids: HashMap<&'d str, NodeId>,
    nodes: Vec<Node>,
}

impl<'d> Builder<'d> {
    fn new(defs: &'d BTreeMap<&'d str, &'d Value>) -> Self {
        let def_ids = defs.keys().zip(0..).map(|(name, id)| (*name, id)).collect();
        let nodes = defs.keys().map(|_| Node::default()).collect();
        Builder {
            defs,
            def_ids,
            nodes,
        }
    }

    /// The node a schema occurring as a field, value or item type stands
    /// for: the definition its `$ref` leads to, else a node of its own.
    fn link(&mut self, schema: &Value) -> Link {
        match schema.get("$ref") {
            Some(reference) => self.resolve(reference.as_str()?),
            None => {
                let node = self.node(schema);
                let id = NodeId::try_from(self.nodes.len()).ok()?;
                self.nodes.push(node);
                Some(id)
            }
        }
    }

    /// Follows a chain of `$ref`s to a definition with content of its own.
    fn resolve(&self, reference: &str) -> Link {
        let mut name = definition_name(reference)?;
        for _ in 0..=self.defs.len() {
            let def = self.defs.get(name.as_str())?;
            match def.get("$ref") {
                Some(next) => name = definition_name(next.as_str()?)?,
                None => return self.def_ids.get(name.as_str()).copied(),
            }
        }
        None
    }

    fn node(&mut self, schema: &Value) -> Node {
        let mut node = Node::default();
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, prop) in props {
                let link = self.link(prop);
                node.properties.insert(name.as_str().into(), link);
            }
        }
        if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
            node.additional = Some(self.link(extra));
        }
        let is_array = match schema.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(ts)) => ts.len() == 1 && ts[0] == "array",
            _ => false,
        };
        if is_array && let Some(items @ Value::Object(_)) = schema.get("items") {
            node.items = Some(self.link(items));
        }
        if let Some(strategy) = schema.get(PATCH_STRATEGY).and_then(Value::as_str) {
            node.strategy = Some(strategy.into());
            node.merge_keys = match (schema.get(MAP_KEYS), schema.get(MERGE_KEY)) {
                (Some(Value::Array(keys)), _) => keys
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect(),
                (_, Some(Value::String(key))) => vec![key.clone()],
                _ => Vec::new(),
            };
        }
        node
    }
}

/// The definition a local `$ref` (`#/definitions/NAME`) names.
fn definition_name(reference: &str) -> Option<String> {
    let name = reference.strip_prefix("#/definitions/")?;
    Some(name.replace("~1", "/").replace("~0", "~"))
}

/// The `(apiVersion, kind)`s a definition serves.
fn gvks_of(def: &Value) -> Vec<(String, String)> {
    match def.get(GVK_EXTENSION) {
        Some(Value::Array(list)) => list.iter().filter_map(type_of_gvk).collect(),
        _ => Vec::new(),
    }
}

/// `(apiVersion, kind)` of an `x-kubernetes-group-version-kind` entry.
fn type_of_gvk(gvk: &Value) -> Option<(String, String)> {
    let s = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("");
    let (group, version, kind) = (s("group"), s("version"), s("kind"));
    if kind.is_empty() {
        return None;
    }
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some((api_version, kind.to_string()))
}

/// Reads `{"namespaced": ["apps/v1 Deployment", ...], "cluster": [...]}`.
fn read_scope_lists(lists: &Value, table: &mut ScopeTable) {
    for (list, namespaced) in [("namespaced", true), ("cluster", false)] {
        let Some(Value::Array(entries)) = lists.get(list) else {
            continue;
        };
        for entry in entries.iter().filter_map(Value::as_str) {
            if let Some((api_version, kind)) = entry.split_once(' ') {
                set_scope(table, api_version, kind, namespaced, true);
            }
        }
    }
}

/// kyaml's rule for a document's scopes: a kind is namespaced if any of
/// its GET paths has a namespace parameter, cluster-scoped otherwise.
fn read_paths(paths: Option<&Value>, table: &mut ScopeTable) -> Result<()> {
    let paths = match paths {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(paths)) => paths,
        Some(_) => {
            return Err(Error::new("paths must be a map")
                .in_file("openapi document")
                .at_field("paths"));
        }
    };
    for (path, item) in paths {
        let Some(gvk) = item.get("get").and_then(|get| get.get(GVK_EXTENSION)) else {
            continue;
        };
        let Some((api_version, kind)) = type_of_gvk(gvk) else {
            continue;
        };
        let namespaced = path.contains("namespaces/{namespace}");
        set_scope(table, &api_version, &kind, namespaced, namespaced);
    }
    Ok(())
}

fn set_scope(
    table: &mut ScopeTable,
    api_version: &str,
    kind: &str,
    namespaced: bool,
    overwrite: bool,
) {
    let versions = table.entry(kind.to_string()).or_default();
    match versions.iter_mut().find(|(av, _)| av == api_version) {
        Some(entry) if overwrite => entry.1 = namespaced,
        Some(_) => {}
        None => versions.push((api_version.to_string(), namespaced)),
    }
}

fn find_version<T: Copy>(versions: &[(String, T)], matches: impl Fn(&str) -> bool) -> Option<T> {
    versions.iter().find(|(av, _)| matches(av)).map(|(_, v)| *v)
}

/// Whether `api_version` is `gvk`'s group and version, without building
/// the string.
fn api_version_is(api_version: &str, gvk: &Gvk) -> bool {
    if gvk.group.is_empty() {
        return api_version == gvk.version;
    }
    api_version
        .strip_prefix(gvk.group.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|version| version == gvk.version)
}

#[cfg(test)]
mod tests;
