//! The build itself: loading kustomizations, accumulating their resources,
//! components and generators, and running the transformers in kustomize's
//! order.
//!
//! Each kustomization directory is a "target". A target accumulates its
//! `resources` (files, and other targets built on their own first), then
//! runs its generators, then its `components` (which work on the resources
//! accumulated so far), then its transformers. The root target then adds
//! content hashes, fixes name references, resolves vars, drops local-only
//! objects and sorts.

use super::builtins::TransformerConfig;
use super::kustomization::{FILE_NAMES, Kustomization, Var};
use super::resource::{Behavior, Origin, ResMap, Resource, normalize_annotations};
use super::{
    generators, images, nameref, patches, replacements, replicas, sort, transformers, vars,
};
use crate::fs::{self, Fs};
use crate::schema::Schema;
use crate::{Error, Result, Value, yaml};

use super::BuildOptions;

/// Annotation that keeps an object out of the build output.
const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";

/// What a target hands to the target that includes it.
struct Accumulated {
    resmap: ResMap,
    /// The transformer configuration when `configurations` or `crds`
    /// extended the built-in one (kept as `None` otherwise: the built-in
    /// table is large, and most builds never change it).
    config: Option<TransformerConfig>,
    vars: Vec<Var>,
}

impl Accumulated {
    fn new() -> Accumulated {
        Accumulated {
            resmap: ResMap::new(),
            config: None,
            vars: Vec::new(),
        }
    }

    fn config(&self) -> &TransformerConfig {
        self.config
            .as_ref()
            .unwrap_or_else(|| TransformerConfig::builtin())
    }

    /// Takes in what a sub-target accumulated (kustomize's
    /// MergeAccumulator): its resources, its transformer config and vars.
    fn absorb(&mut self, other: Accumulated) -> Result<()> {
        self.resmap.append_all(other.resmap)?;
        if let Some(theirs) = &other.config {
            self.config = Some(self.config().merged(theirs)?);
        }
        merge_vars(&mut self.vars, other.vars)
    }
}

fn merge_vars(into: &mut Vec<Var>, more: Vec<Var>) -> Result<()> {
    for v in more {
        if into.iter().any(|x| x.name == v.name) {
            return Err(
                Error::new(format!("var '{}' already encountered", v.name)).at_field("vars")
            );
        }
        into.push(v);
    }
    Ok(())
}

/// Loads and walks the tree.
pub(super) struct Builder<'a> {
    fs: &'a dyn Fs,
    opts: BuildOptions<'a>,
    /// Directories and files of the targets being built, outermost first
    /// (to find cycles).
    stack: Vec<(String, String)>,
    /// The schema from the root's `openapi: {path: ...}`, if it names one;
    /// otherwise the built-in Kubernetes schema is used.
    custom_schema: Option<Schema>,
    /// The root kustomization's directory: origins are relative to it.
    root_dir: String,
    /// The root asks for `buildMetadata`: objects carry their origin
    /// through the build, as kustomize's annotations do.
    track_origin: bool,
    /// The root asks for `transformerAnnotations`.
    track_transformers: bool,
}

/// A kustomization file read from `dir`.
pub(super) struct Loaded {
    pub dir: String,
    pub file: String,
    pub kust: Kustomization,
}

/// Finds and parses the kustomization file in `dir`.
pub(super) fn load_kustomization(fs: &dyn Fs, dir: &str) -> Result<Loaded> {
    let found: Vec<&str> = FILE_NAMES
        .iter()
        .copied()
        .filter(|n| fs.is_file(&join_file(dir, n)))
        .collect();
    let name = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::new(format!(
                "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
                fs::display(dir)
            )));
        }
        _ => {
            return Err(Error::new(format!(
                "found multiple kustomization files ({}); keep one",
                found.join(", ")
            ))
            .in_file(fs::display(dir)));
        }
    };
    let file = join_file(dir, name);
    let text = fs.read_to_string(&file)?;
    let value = yaml::parse_value(&text, &file)?;
    let mut kust = parse_kustomization(value).map_err(|e| e.in_file(file.clone()))?;
    fix_legacy_fields(&mut kust);
    if kust.kind != "Kustomization" && kust.kind != "Component" {
        return Err(Error::new(format!(
            "kind '{}' is not Kustomization or Component",
            kust.kind
        ))
        .in_file(file)
        .at_field("kind"));
    }
    Ok(Loaded {
        dir: dir.to_string(),
        file,
        kust,
    })
}

fn parse_kustomization(value: Value) -> Result<Kustomization> {
    if value.is_null() || value.as_object().is_some_and(|m| m.is_empty()) {
        return Err(Error::new("kustomization file is empty"));
    }
    if !value.is_object() {
        return Err(Error::new("kustomization file must hold a map of fields"));
    }
    // The path names the entry at fault (`images[1].newTagg`), which
    // serde_json's own message does not.
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let e = Error::new(format!("invalid Kustomization: {}", e.inner()));
        if path.is_empty() || path == "." {
            e
        } else {
            e.at_field(path)
        }
    })
}

/// kustomize's own upgrades of deprecated fields, done on every read.
fn fix_legacy_fields(k: &mut Kustomization) {
    if k.kind.is_empty() {
        k.kind = "Kustomization".to_string();
    }
    let bases = std::mem::take(&mut k.bases);
    k.resources.extend(bases);
    let tags = std::mem::take(&mut k.image_tags);
    k.images.extend(tags);
    for g in k
        .config_map_generator
        .iter_mut()
        .chain(k.secret_generator.iter_mut())
    {
        if !g.env.is_empty() {
            let env = std::mem::take(&mut g.env);
            g.envs.push(env);
        }
    }
}

/// `dir/name` for a file in a tree directory.
fn join_file(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether a `resources` or `components` entry is a remote target (Git or
/// HTTP).
pub fn is_remote(path: &str) -> bool {
    path.contains("://")
        || path.starts_with("git@")
        || path.starts_with("github.com/")
        || path.starts_with("gitlab.com/")
        || path.starts_with("bitbucket.org/")
}

impl<'a> Builder<'a> {
    pub(super) fn new(fs: &'a dyn Fs, opts: BuildOptions<'a>) -> Builder<'a> {
        Builder {
            fs,
            opts,
            stack: Vec::new(),
            custom_schema: None,
            root_dir: String::new(),
            track_origin: false,
            track_transformers: false,
        }
    }

    /// Builds the root target in `dir`: everything `kustomize build` does.
    pub(super) fn build(mut self, dir: &str) -> Result<ResMap> {
        let mut root = load_kustomization(self.fs, dir)?;
        if let Some(edit) = self.opts.root_edit {
            edit(&mut root.kust).map_err(|e| e.in_file(root.file.clone()))?;
        }
        if root.kust.kind == "Component" {
            return Err(Error::new(format!(
                "'{}' is a Component: a Component can only be used from a kustomization's 'components'",
                fs::display(dir)
            ))
            .in_file(root.file.clone()));
        }
        self.custom_schema = self.openapi_schema(&root)?;
        self.root_dir = root.dir.clone();
        self.track_origin = !root.kust.build_metadata.is_empty();
        self.track_transformers = root
            .kust
            .build_metadata
            .iter()
            .any(|o| o == "transformerAnnotations");
        let build_metadata = root.kust.build_metadata.clone();
        let sort_options = root.kust.sort_options.clone();
        let file = root.file.clone();
        let acc = self.accumulate_target(&root, Accumulated::new())?;
        let Accumulated {
            mut resmap,
            config,
            vars,
        } = acc;
        let config: std::borrow::Cow<'_, TransformerConfig> = match config {
            Some(c) => std::borrow::Cow::Owned(c),
            None => std::borrow::Cow::Borrowed(TransformerConfig::builtin()),
        };

        add_hashes(&mut resmap)?;
        nameref::fix(&mut resmap, &config)?;
        vars::resolve(&mut resmap, &vars, &config.var_reference)?;
        resmap.resources.retain(|r| !is_local_config(r));
        sort::apply(&mut resmap, sort_options.as_ref()).map_err(|e| e.in_file(file.clone()))?;
        for r in resmap.iter_mut() {
            normalize_annotations(&mut r.obj);
        }
        transformers::build_metadata(&mut resmap, &build_metadata).map_err(|e| e.in_file(file))?;
        Ok(resmap)
    }

    /// The schema named by a kustomization's `openapi: {path: ...}`.
    fn openapi_schema(&self, t: &Loaded) -> Result<Option<Schema>> {
        let Some(path) = t.kust.openapi.get("path") else {
            return Ok(None);
        };
        let file = self.file_in(t, path, "openapi.path")?;
        let text = self.fs.read_to_string(&file)?;
        let doc = yaml::parse_value(&text, &file)?;
        Schema::from_openapi_doc(&doc)
            .map(Some)
            .map_err(|e| e.in_file(file))
    }

    /// The schema patches use.
    fn schema(&self) -> &Schema {
        self.custom_schema
            .as_ref()
            .unwrap_or_else(|| Schema::builtin())
    }

    /// A file named in a kustomization: it must be inside the
    /// kustomization's directory (kustomize's default load restriction).
    fn file_in(&self, t: &Loaded, rel: &str, field: &str) -> Result<String> {
        if rel.starts_with('/') {
            return Err(Error::new(format!(
                "absolute path '{rel}' is not allowed; use a path relative to the kustomization"
            ))
            .in_file(t.file.clone())
            .at_field(field));
        }
        let path = fs::join(&t.dir, rel).map_err(|e| e.at_field(field))?;
        let inside = t.dir.is_empty() || path == t.dir || path.starts_with(&format!("{}/", t.dir));
        if !inside {
            return Err(Error::new(format!(
                "security: file '{rel}' is not in or below '{}'",
                fs::display(&t.dir)
            ))
            .in_file(t.file.clone())
            .at_field(field));
        }
        Ok(path)
    }

    /// Enters target `t`; fails when it is already being built (a cycle),
    /// naming the kustomization whose entry closes the loop.
    fn enter(&mut self, t: &Loaded) -> Result<()> {
        if self.stack.iter().any(|(d, _)| *d == t.dir) {
            let mut chain: Vec<&str> = self.stack.iter().map(|(d, _)| fs::display(d)).collect();
            chain.push(fs::display(&t.dir));
            let includer = self.stack.last().map_or(t.file.clone(), |(_, f)| f.clone());
            return Err(Error::new(format!(
                "cycle detected: {} includes itself ({})",
                fs::display(&t.dir),
                chain.join(" -> ")
            ))
            .in_file(includer));
        }
        self.stack.push((t.dir.clone(), t.file.clone()));
        Ok(())
    }

    fn leave(&mut self) {
        self.stack.pop();
    }

    /// Accumulates target `t` on top of `acc` (empty for resources, the
    /// including target's state for components).
    fn accumulate_target(&mut self, t: &Loaded, mut acc: Accumulated) -> Result<Accumulated> {
        self.enter(t)?;
        let result = self.accumulate_target_inner(t, &mut acc);
        self.leave();
        result.map(|()| acc)
    }

    fn accumulate_target_inner(&mut self, t: &Loaded, acc: &mut Accumulated) -> Result<()> {
        let k = &t.kust;
        refuse_unsupported(t)?;
        for entry in &k.resources {
            self.accumulate_resource(t, entry, acc)?;
        }
        for path in &k.configurations {
            let file = self.file_in(t, path, "configurations")?;
            let text = self.fs.read_to_string(&file)?;
            let doc = yaml::parse_value(&text, &file)?;
            acc.config = Some(
                acc.config()
                    .merged_with(&doc)
                    .map_err(|e| e.in_file(file))?,
            );
        }
        for path in &k.crds {
            let file = self.file_in(t, path, "crds")?;
            let text = self.fs.read_to_string(&file)?;
            let docs = yaml::parse_documents(&text, &file)?;
            acc.config = Some(
                acc.config()
                    .merged_with_crds(&docs)
                    .map_err(|e| e.in_file(file))?,
            );
        }
        self.run_generators(t, acc)?;
        for entry in &k.components {
            let dir = fs::join(&t.dir, entry).map_err(|e| e.in_file(t.file.clone()))?;
            if !self.fs.is_dir(&dir) {
                return Err(
                    Error::new(format!("component '{entry}' is not a directory"))
                        .in_file(t.file.clone())
                        .at_field("components"),
                );
            }
            let comp = load_kustomization(self.fs, &dir)?;
            if comp.kust.kind != "Component" {
                return Err(Error::new(format!(
                    "expected kind 'Component' for path '{}' but got '{}'",
                    fs::display(&dir),
                    comp.kust.kind
                ))
                .in_file(comp.file.clone())
                .at_field("kind"));
            }
            let taken = std::mem::replace(acc, Accumulated::new());
            *acc = self.accumulate_target(&comp, taken)?;
        }
        self.run_transformers(t, acc)?;
        merge_vars(&mut acc.vars, k.vars.clone()).map_err(|e| e.in_file(t.file.clone()))
    }

    /// One `resources` entry: a file of objects, or a directory holding
    /// another kustomization.
    fn accumulate_resource(
        &mut self,
        t: &Loaded,
        entry: &str,
        acc: &mut Accumulated,
    ) -> Result<()> {
        if is_remote(entry) {
            return Err(Error::new(format!(
                "remote resource '{entry}' is not supported yet: gyro renders from the checked-out tree only; vendor the base into the repository"
            ))
            .in_file(t.file.clone())
            .at_field("resources"));
        }
        let path =
            fs::join(&t.dir, entry).map_err(|e| e.in_file(t.file.clone()).at_field("resources"))?;
        if self.fs.is_file(&path) {
            let file = self.file_in(t, entry, "resources")?;
            let origin = self
                .track_origin
                .then(|| Origin::File(relative(&self.root_dir, &file)));
            let mut loaded = load_resources(self.fs, &file)?;
            for r in &mut loaded {
                r.origin.clone_from(&origin);
            }
            acc.resmap.append_many(loaded)?;
            return Ok(());
        }
        if self.fs.is_dir(&path) {
            let sub = load_kustomization(self.fs, &path).map_err(|e| e.in_file(t.file.clone()))?;
            if sub.kust.kind == "Component" {
                return Err(Error::new(format!(
                    "'{entry}' is a Component; list it under 'components', not 'resources'"
                ))
                .in_file(t.file.clone())
                .at_field("resources"));
            }
            let sub_acc = self.accumulate_target(&sub, Accumulated::new())?;
            return acc.absorb(sub_acc).map_err(|e| e.in_file(t.file.clone()));
        }
        Err(Error::new(format!(
            "resource '{entry}' not found: no such file or directory"
        ))
        .in_file(t.file.clone())
        .at_field("resources"))
    }

    fn run_generators(&self, t: &Loaded, acc: &mut Accumulated) -> Result<()> {
        let k = &t.kust;
        let global = k.generator_options.as_ref();
        let entries = k
            .config_map_generator
            .iter()
            .map(|a| (generators::GeneratorKind::ConfigMap, a))
            .chain(
                k.secret_generator
                    .iter()
                    .map(|a| (generators::GeneratorKind::Secret, a)),
            );
        for (kind, args) in entries {
            let mut r = generators::generate(self.fs, &t.dir, &t.file, kind, args, global)?;
            if self.track_origin {
                r.origin = Some(self.builtin_origin(
                    t,
                    match kind {
                        generators::GeneratorKind::ConfigMap => "ConfigMapGenerator",
                        generators::GeneratorKind::Secret => "SecretGenerator",
                    },
                ));
            }
            absorb_generated(&mut acc.resmap, r).map_err(|e| e.in_file(t.file.clone()))?;
        }
        Ok(())
    }

    fn builtin_origin(&self, t: &Loaded, kind: &'static str) -> Origin {
        Origin::Builtin {
            configured_in: relative(&self.root_dir, &t.file),
            kind,
        }
    }

    /// Records, for `transformerAnnotations`, that a transformer of `t`
    /// ran over every object present.
    fn ran(&self, t: &Loaded, resmap: &mut ResMap, kind: &'static str) {
        if self.track_transformers {
            let origin = self.builtin_origin(t, kind);
            for r in resmap.iter_mut() {
                r.transformations.push(origin.clone());
            }
        }
    }

    fn run_transformers(&self, t: &Loaded, acc: &mut Accumulated) -> Result<()> {
        let k = &t.kust;
        let in_file = |e: Error| e.in_file(t.file.clone());
        let config = acc
            .config
            .as_ref()
            .unwrap_or_else(|| TransformerConfig::builtin());
        let resmap = &mut acc.resmap;
        let schema = self.schema();
        for (i, entry) in k.patches_strategic_merge.iter().enumerate() {
            let field = format!("patchesStrategicMerge[{i}]");
            let (text, file) = self.patch_text(t, entry, "", &field, true)?;
            patches::strategic_merge_by_id(resmap, &text, &file, schema).map_err(in_file)?;
        }
        if !k.patches_strategic_merge.is_empty() {
            self.ran(t, resmap, "PatchStrategicMergeTransformer");
        }
        for (i, p) in k.patches.iter().enumerate() {
            let field = format!("patches[{i}]");
            let (text, file) = self.patch_text(t, &p.path, &p.patch, &field, false)?;
            patches::apply(resmap, p, &text, &file, schema)
                .map_err(|e| e.within_field(field.clone()))
                .map_err(in_file)?;
            self.ran(t, resmap, "PatchTransformer");
        }
        if !k.namespace.is_empty() {
            transformers::namespace(resmap, &k.namespace, &config.namespace).map_err(in_file)?;
            self.ran(t, resmap, "NamespaceTransformer");
        }
        if !k.name_prefix.is_empty() {
            transformers::prefix_suffix(resmap, &k.name_prefix, "", &config.name_prefix)
                .map_err(in_file)?;
            self.ran(t, resmap, "PrefixTransformer");
        }
        if !k.name_suffix.is_empty() {
            transformers::prefix_suffix(resmap, "", &k.name_suffix, &config.name_suffix)
                .map_err(in_file)?;
            self.ran(t, resmap, "SuffixTransformer");
        }
        for label in &k.labels {
            let specs = transformers::label_field_specs(label, config).map_err(in_file)?;
            transformers::labels(resmap, &label.pairs, &specs).map_err(in_file)?;
            self.ran(t, resmap, "LabelTransformer");
        }
        if !k.labels.is_empty() || !k.common_labels.is_empty() {
            transformers::labels(resmap, &k.common_labels, &config.common_labels)
                .map_err(in_file)?;
            self.ran(t, resmap, "LabelTransformer");
        }
        if !k.common_annotations.is_empty() {
            transformers::labels_or_annotations(
                resmap,
                &k.common_annotations,
                &config.common_annotations,
            )
            .map_err(in_file)?;
            self.ran(t, resmap, "AnnotationsTransformer");
        }
        for (i, p) in k.patches_json6902.iter().enumerate() {
            let field = format!("patchesJson6902[{i}]");
            let (text, file) = self.patch_text(t, &p.path, &p.patch, &field, false)?;
            patches::json6902_legacy(resmap, p, &text, &file)
                .map_err(|e| e.within_field(field.clone()))
                .map_err(in_file)?;
            self.ran(t, resmap, "PatchJson6902Transformer");
        }
        for r in &k.replicas {
            replicas::apply_with_specs(resmap, std::slice::from_ref(r), &config.replicas)
                .map_err(in_file)?;
            self.ran(t, resmap, "ReplicaCountTransformer");
        }
        for image in &k.images {
            images::apply_with_specs(resmap, std::slice::from_ref(image), &config.images)
                .map_err(in_file)?;
            self.ran(t, resmap, "ImageTagTransformer");
        }
        if !k.replacements.is_empty() {
            let loaded = replacements::load(self.fs, &t.dir, &t.file, &k.replacements)?;
            replacements::apply(resmap, &loaded).map_err(in_file)?;
            self.ran(t, resmap, "ReplacementTransformer");
        }
        Ok(())
    }

    /// The text of a patch given inline or by `path`. For
    /// `patchesStrategicMerge`, an entry is a file name when such a file
    /// exists and inline YAML otherwise.
    fn patch_text(
        &self,
        t: &Loaded,
        path: &str,
        inline: &str,
        field: &str,
        psm: bool,
    ) -> Result<(String, String)> {
        if psm {
            let candidate = fs::join(&t.dir, path).ok();
            if let Some(c) = candidate.filter(|c| !path.contains('\n') && self.fs.is_file(c)) {
                let file = self.file_in(t, path, field)?;
                let _ = c;
                return Ok((self.fs.read_to_string(&file)?, file));
            }
            if !path.contains('\n') && !path.contains(':') {
                return Err(Error::new(format!("patch file '{path}' not found"))
                    .in_file(t.file.clone())
                    .at_field(field));
            }
            return Ok((path.to_string(), t.file.clone()));
        }
        match (path.is_empty(), inline.trim().is_empty()) {
            (true, true) => Err(Error::new("must specify one of patch and path")
                .in_file(t.file.clone())
                .at_field(field)),
            (false, false) => Err(Error::new("patch and path can't be set at the same time")
                .in_file(t.file.clone())
                .at_field(field)),
            (false, true) => {
                let file = self.file_in(t, path, field)?;
                Ok((self.fs.read_to_string(&file)?, file))
            }
            (true, false) => Ok((inline.trim().to_string(), t.file.clone())),
        }
    }
}

/// Reads the objects in one resource file: every document, `List`s
/// flattened, each checked for a kind and a name.
pub(super) fn load_resources(fs: &dyn Fs, file: &str) -> Result<Vec<Resource>> {
    let text = fs.read_to_string(file)?;
    let docs = yaml::parse_documents(&text, file)?;
    objects_from_documents(docs, file)
}

/// Turns parsed documents into resources as kustomize's resource factory
/// does: `*List` kinds with `items` are inlined, and every object needs a
/// kind and (unless a list) a name.
pub(super) fn objects_from_documents(docs: Vec<Value>, file: &str) -> Result<Vec<Resource>> {
    let mut out = Vec::with_capacity(docs.len());
    let mut queue: std::collections::VecDeque<Value> = docs.into();
    while let Some(doc) = queue.pop_front() {
        if doc.is_null() || doc.as_object().is_some_and(|m| m.is_empty()) {
            continue;
        }
        let Some(map) = doc.as_object() else {
            return Err(
                Error::new("expected a Kubernetes object (a map), found a list or scalar")
                    .in_file(file),
            );
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Err(Error::new("missing kind in object")
                .in_file(file)
                .at_field("kind"));
        }
        if kind.ends_with("List")
            && let Some(items) = map.get("items")
        {
            match items {
                Value::Array(items) => {
                    for item in items.iter().rev() {
                        queue.push_front(item.clone());
                    }
                    continue;
                }
                Value::Null => continue,
                _ => {
                    return Err(Error::new(format!("expected array in {kind}/items"))
                        .in_file(file)
                        .at_field("items"));
                }
            }
        }
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if name.is_empty() && !kind.ends_with("List") {
            return Err(
                Error::new(format!("missing metadata.name in {kind} object"))
                    .in_file(file)
                    .at_field("metadata.name"),
            );
        }
        out.push(Resource::new(doc, file));
    }
    Ok(out)
}

/// Adds a generated object: appended, or merged into / replacing one of
/// the same id according to its behaviour.
fn absorb_generated(resmap: &mut ResMap, r: Resource) -> Result<()> {
    let id = r.cur_id();
    let matches = resmap.find_by_any_id(&id);
    match matches.as_slice() {
        [] => match r.behavior {
            Behavior::Merge | Behavior::Replace => Err(Error::new(format!(
                "generator for {id}: no such object to merge or replace (behavior needs one from a base)"
            ))),
            _ => resmap.append(r),
        },
        [i] => match r.behavior {
            Behavior::Merge | Behavior::Replace => {
                let existing = &mut resmap.resources[*i];
                generators::merge_into(existing, r)
            }
            _ => Err(Error::new(format!(
                "generator for {id}: an object with this id already exists; use behavior merge or replace"
            ))),
        },
        _ => Err(Error::new(format!(
            "generator for {id}: several objects could accept the merge"
        ))),
    }
}

/// Appends content hashes to generated ConfigMaps and Secrets.
fn add_hashes(resmap: &mut ResMap) -> Result<()> {
    for r in resmap.iter_mut() {
        if r.needs_hash {
            let h = generators::hash_suffix(&r.obj).map_err(|e| e.for_object(r.describe()))?;
            r.store_previous_id();
            let name = format!("{}{h}", r.name());
            r.set_name(&name);
        }
    }
    Ok(())
}

fn is_local_config(r: &Resource) -> bool {
    r.obj
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LOCAL_CONFIG))
        .and_then(Value::as_str)
        .is_some_and(|v| v != "false")
}

/// `path` (a tree path) relative to directory `from`, with `..` where
/// needed: how kustomize writes origins.
fn relative(from: &str, path: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// Fields gyro does not render (yet), refused by name rather than ignored
/// so a build never silently differs from `kustomize build`.
fn refuse_unsupported(t: &Loaded) -> Result<()> {
    let k = &t.kust;
    let refuse = |field: &str, why: &str| {
        Err(Error::new(format!("'{field}' is not supported: {why}"))
            .in_file(t.file.clone())
            .at_field(field.to_string()))
    };
    if !k.helm_charts.is_empty()
        || !k.helm_chart_inflation_generator.is_empty()
        || k.helm_globals.is_some()
    {
        return refuse(
            "helmCharts",
            "render the chart as a Helm source instead (Helm support is a separate renderer)",
        );
    }
    for (field, list) in [
        ("generators", &k.generators),
        ("transformers", &k.transformers),
        ("validators", &k.validators),
    ] {
        if !list.is_empty() {
            return refuse(
                field,
                "kustomize plugins (exec, KRM functions and built-in plugin configs) are not run by gyro",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::fs::MemFs;

    const DEPLOYMENT: &str =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n";

    fn err(files: &[(&str, &str)], dir: &str) -> crate::Error {
        let mut fs = MemFs::new();
        for (path, text) in files {
            fs.add(path, *text);
        }
        super::super::build(&fs, dir).unwrap_err()
    }

    #[test]
    fn an_unknown_field_is_named_with_its_entry() {
        let e = err(
            &[
                ("base/d.yaml", DEPLOYMENT),
                (
                    "base/kustomization.yaml",
                    "resources: [d.yaml]\nimages:\n- name: x\n  newTagg: 1\n",
                ),
            ],
            "base",
        );
        assert_eq!(e.file.as_deref(), Some("base/kustomization.yaml"));
        assert_eq!(e.field.as_deref(), Some("images[0].newTagg"));
    }

    #[test]
    fn a_failing_patch_names_the_entry_the_operation_and_the_object() {
        let e = err(
            &[
                ("base/d.yaml", DEPLOYMENT),
                ("base/kustomization.yaml", "resources: [d.yaml]\n"),
                (
                    "ov/kustomization.yaml",
                    "resources: [../base]\npatches:\n- target: {kind: Deployment}\n  patch: '[{\"op\": \"replace\", \"path\": \"/spec/x/y\", \"value\": 1}]'\n",
                ),
            ],
            "ov",
        );
        assert_eq!(e.file.as_deref(), Some("ov/kustomization.yaml"));
        assert_eq!(e.object.as_deref(), Some("Deployment/web"));
        assert_eq!(e.field.as_deref(), Some("patches[0][0]"));
    }

    #[test]
    fn broken_yaml_in_a_base_names_the_file_and_line() {
        let e = err(
            &[
                (
                    "base/d.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
                ),
                ("base/kustomization.yaml", "resources: [d.yaml]\n"),
                ("ov/kustomization.yaml", "resources: [../base]\n"),
            ],
            "ov",
        );
        assert_eq!(e.file.as_deref(), Some("base/d.yaml"));
        assert!(e.to_string().contains("line 4"), "{e}");
    }

    #[test]
    fn a_missing_resource_and_a_cycle_name_the_kustomization() {
        let e = err(&[("a/kustomization.yaml", "resources: [../nope]\n")], "a");
        assert_eq!(e.file.as_deref(), Some("a/kustomization.yaml"));
        assert_eq!(e.field.as_deref(), Some("resources"));
        let e = err(
            &[
                ("a/kustomization.yaml", "resources: [../b]\n"),
                ("b/kustomization.yaml", "resources: [../a]\n"),
            ],
            "a",
        );
        assert!(e.message.contains("cycle"), "{e}");
        assert_eq!(e.file.as_deref(), Some("b/kustomization.yaml"));
    }

    #[test]
    fn plugins_and_remote_bases_are_refused_by_name() {
        let e = err(&[("k/kustomization.yaml", "transformers: [t.yaml]\n")], "k");
        assert_eq!(e.field.as_deref(), Some("transformers"));
        let e = err(
            &[(
                "k/kustomization.yaml",
                "resources: [github.com/org/repo//base?ref=v1]\n",
            )],
            "k",
        );
        assert!(e.message.contains("remote resource"), "{e}");
    }
}
