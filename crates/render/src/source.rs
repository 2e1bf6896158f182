//! Argo CD Application sources: the `spec.source` (or one entry of
//! `spec.sources`) of an Application, and how Argo CD's repo server turns it
//! into objects.
//!
//! [`render`] does what Argo CD does for one source in a checked-out tree:
//! - the source's type is the one its option block names (`directory`,
//!   `kustomize`, `helm`, `plugin`; more than one is an error); with none,
//!   the directory decides: a file named like a kustomization makes it
//!   Kustomize, a file ending in `Chart.yaml` makes it Helm (the last such
//!   file in byte order wins, as in Argo CD's discovery), else a directory;
//! - Kustomize sources are built with the Application's `kustomize`
//!   options applied to the root kustomization first, with the effect the
//!   `kustomize edit` commands Argo CD runs would have (see
//!   [`edit_kustomization`]);
//! - every object with an `items` list is replaced by its items.
//!
//! Helm charts and config management plugins are not rendered yet; they are
//! reported as errors. So are Jsonnet files of directory sources.

use std::collections::BTreeMap;

use globset::GlobBuilder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::directory::{self, DirectoryOptions};
use crate::fs::{self, Fs};
use crate::kustomize::kustomization::{
    FILE_NAMES, Image, Label, Patch, PatchOptions, Replica, Selector,
};
use crate::kustomize::{self, BuildOptions, Kustomization};
use crate::{Error, Result, Value};

/// Reads `null` as the default value, as Go's JSON decoding does for the
/// Application's string, bool, list and map fields.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An Argo CD `ApplicationSource`. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(default, rename = "repoURL", deserialize_with = "nullable")]
    pub repo_url: String,
    /// The directory to render, relative to the repository root.
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
    #[serde(default, deserialize_with = "nullable")]
    pub target_revision: String,
    /// A Helm chart name (Helm repository or OCI sources).
    #[serde(default, deserialize_with = "nullable")]
    pub chart: String,
    /// The name under which other sources refer to this one's files.
    #[serde(default, rename = "ref", deserialize_with = "nullable")]
    pub ref_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default)]
    pub directory: Option<DirectoryOptions>,
    #[serde(default)]
    pub kustomize: Option<KustomizeOptions>,
    /// Helm options, kept as given until Helm rendering exists.
    #[serde(default)]
    pub helm: Option<Value>,
    /// Plugin options, kept as given.
    #[serde(default)]
    pub plugin: Option<Value>,
}

/// `spec.source.kustomize` of an Application.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeOptions {
    #[serde(default, deserialize_with = "nullable")]
    pub name_prefix: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name_suffix: String,
    /// `kustomize edit set image` arguments, such as `nginx=nginx:1.27`.
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub force_common_labels: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub force_common_annotations: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(default, deserialize_with = "nullable")]
    pub replicas: Vec<KustomizeReplica>,
    #[serde(default, deserialize_with = "nullable")]
    pub patches: Vec<KustomizePatch>,
    #[serde(default, deserialize_with = "nullable")]
    pub components: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub label_without_selector: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub label_include_templates: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub common_annotations_envsubst: bool,
    /// The kustomize version to use; gyro has one, so this is ignored.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// For Helm charts inflated by kustomize; not used yet.
    #[serde(default, deserialize_with = "nullable")]
    pub kube_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub api_versions: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub ignore_missing_components: bool,
}

/// An entry of `kustomize.replicas`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeReplica {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// An integer, or a string holding one (Kubernetes `IntOrString`).
    #[serde(default)]
    pub count: Value,
}

/// An entry of `kustomize.patches`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizePatch {
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
    #[serde(default, deserialize_with = "nullable")]
    pub patch: String,
    #[serde(default)]
    pub target: Option<KustomizeSelector>,
    #[serde(default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, bool>,
}

/// The `target` of a `kustomize.patches` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeSelector {
    #[serde(default, deserialize_with = "nullable")]
    pub group: String,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(default, deserialize_with = "nullable")]
    pub annotation_selector: String,
    #[serde(default, deserialize_with = "nullable")]
    pub label_selector: String,
}

/// What kind of source a directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    Directory,
    Kustomize,
    Helm,
    Plugin,
}

impl Source {
    /// Reads a source from its value in an Application. Errors name the
    /// failing field, relative to the source.
    pub fn from_value(value: &Value) -> Result<Source> {
        Source::deserialize(value).map_err(|e| {
            let err = Error::new(format!("invalid Application source: {e}"));
            match failing_field(value) {
                Some(field) => err.at_field(field),
                None => err,
            }
        })
    }

    /// The type named by the source's option blocks (Argo CD's
    /// `ExplicitType`): none, one, or an error when several are set.
    pub fn explicit_type(&self) -> Result<Option<SourceType>> {
        let named: Vec<(SourceType, &str)> = [
            (self.kustomize.is_some(), SourceType::Kustomize, "kustomize"),
            (self.helm.is_some(), SourceType::Helm, "helm"),
            (self.directory.is_some(), SourceType::Directory, "directory"),
            (self.plugin.is_some(), SourceType::Plugin, "plugin"),
        ]
        .into_iter()
        .filter(|(set, _, _)| *set)
        .map(|(_, t, field)| (t, field))
        .collect();
        match named.as_slice() {
            [] => Ok(None),
            [(t, _)] => Ok(Some(*t)),
            several => Err(Error::new(format!(
                "a source may set only one of directory, kustomize, helm and plugin; this one sets {}",
                several
                    .iter()
                    .map(|(_, f)| *f)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The field of `value` that stops it from reading as a [`Source`], found
/// by reading its fields one at a time (only done once reading failed).
fn failing_field(value: &Value) -> Option<String> {
    let (key, inner) = failing_key::<Source>(value)?;
    let nested = match key {
        "kustomize" => failing_key::<KustomizeOptions>(inner).map(|(k, v)| {
            let index = match k {
                "replicas" => failing_index::<KustomizeReplica>(v),
                "patches" => failing_index::<KustomizePatch>(v),
                _ => None,
            };
            match index {
                Some(i) => format!("{k}[{i}]"),
                None => k.to_string(),
            }
        }),
        "directory" => failing_key::<DirectoryOptions>(inner).map(|(k, _)| k.to_string()),
        _ => None,
    };
    Some(match nested {
        Some(n) => format!("{key}.{n}"),
        None => key.to_string(),
    })
}

fn failing_key<T: DeserializeOwned>(value: &Value) -> Option<(&str, &Value)> {
    value
        .as_object()?
        .iter()
        .find(|(k, v)| {
            let single = serde_json::Map::from_iter([((*k).clone(), (*v).clone())]);
            T::deserialize(&Value::Object(single)).is_err()
        })
        .map(|(k, v)| (k.as_str(), v))
}

fn failing_index<T: DeserializeOwned>(value: &Value) -> Option<usize> {
    value
        .as_array()?
        .iter()
        .position(|v| T::deserialize(v).is_err())
}

/// The sources of an Argo CD Application object, each with the field it
/// came from: every entry of `spec.sources` when there is one (it wins, as
/// in Argo CD), else `spec.source`.
pub fn application_sources(app: &Value) -> Result<Vec<(String, Source)>> {
    if let Some(kind) = app.get("kind").and_then(Value::as_str)
        && kind != "Application"
    {
        return Err(
            Error::new(format!("expected an Argo CD Application, found a {kind}")).at_field("kind"),
        );
    }
    let spec = app
        .get("spec")
        .ok_or_else(|| Error::new("the Application has no spec").at_field("spec"))?;
    let read = |field: String, v: &Value| match Source::from_value(v) {
        Ok(s) => Ok((field, s)),
        Err(mut e) => {
            e.field = Some(match e.field.take() {
                Some(f) => format!("{field}.{f}"),
                None => field,
            });
            Err(e)
        }
    };
    match (spec.get("sources"), spec.get("source")) {
        (Some(Value::Array(list)), _) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, v)| read(format!("spec.sources[{i}]"), v))
            .collect(),
        (_, Some(v)) if !v.is_null() => Ok(vec![read("spec.source".to_string(), v)?]),
        _ => Err(
            Error::new("the Application has neither spec.source nor spec.sources").at_field("spec"),
        ),
    }
}

/// Values for `$VAR` references in kustomize images and labels (and
/// annotations, with `commonAnnotationsEnvsubst`), like Argo CD's build
/// environment (`ARGOCD_APP_NAME`, ...). Unknown variables expand to "".
pub type Env = BTreeMap<String, String>;

/// The build environment Argo CD gives a source of `app`. `revision` is the
/// commit being rendered, when known.
pub fn app_env(app: &Value, source: &Source, revision: Option<&str>) -> Env {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let mut env = Env::new();
    env.insert(
        "ARGOCD_APP_NAME".into(),
        text(app.pointer("/metadata/name")),
    );
    env.insert(
        "ARGOCD_APP_NAMESPACE".into(),
        text(app.pointer("/spec/destination/namespace")),
    );
    env.insert(
        "ARGOCD_APP_PROJECT_NAME".into(),
        text(app.pointer("/spec/project")),
    );
    env.insert("ARGOCD_APP_SOURCE_REPO_URL".into(), source.repo_url.clone());
    env.insert("ARGOCD_APP_SOURCE_PATH".into(), source.path.clone());
    env.insert(
        "ARGOCD_APP_SOURCE_TARGET_REVISION".into(),
        source.target_revision.clone(),
    );
    if let Some(rev) = revision {
        let short = |n: usize| rev.get(..n).unwrap_or(rev).to_string();
        env.insert("ARGOCD_APP_REVISION".into(), rev.to_string());
        env.insert("ARGOCD_APP_REVISION_SHORT".into(), short(7));
        env.insert("ARGOCD_APP_REVISION_SHORT_8".into(), short(8));
    }
    env
}

/// Expands `$NAME` and `${NAME}` from `env` as Argo CD does (Go's
/// `os.Expand`): `$$` gives `$`, shell-special names (`$1`, `$-`) expand
/// like unknown ones, malformed `${...` is dropped, and a `$` followed by
/// anything else is kept.
pub fn envsubst(s: &str, env: &Env) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 == bytes.len() {
            i += 1;
            continue;
        }
        out.push_str(&s[copied..i]);
        let (name, width) = shell_name(&s[i + 1..]);
        match name {
            Some("$") => out.push('$'),
            Some(name) => out.push_str(env.get(name).map(String::as_str).unwrap_or("")),
            None if width == 0 => out.push('$'),
            None => {}
        }
        i += 1 + width;
        copied = i;
    }
    out.push_str(&s[copied..]);
    out
}

/// The variable name after a `$` and how many bytes it spans; `None` with
/// a width is malformed syntax to drop, `None` with 0 a lone `$`.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let special = |c: u8| b"*#$@!?-0123456789".contains(&c);
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        return match s.find('}') {
            Some(1) => (None, 2),
            Some(end) => (Some(&s[1..end]), end + 1),
            None => (None, 1),
        };
    }
    if special(b[0]) {
        return (Some(&s[..1]), 1);
    }
    let end = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        .unwrap_or(b.len());
    if end == 0 {
        (None, 0)
    } else {
        (Some(&s[..end]), end)
    }
}

/// Renders one source from a checked-out tree: `fs` is the repository
/// root, `source.path` the directory. `$VAR`s in kustomize options expand
/// to "" (use [`render_with_env`] to give them values).
pub fn render(fs: &dyn Fs, source: &Source) -> Result<Vec<Value>> {
    render_with_env(fs, source, &Env::new())
}

/// [`render`] with a build environment (see [`app_env`]).
pub fn render_with_env(fs: &dyn Fs, source: &Source, env: &Env) -> Result<Vec<Value>> {
    if !source.chart.is_empty() {
        return Err(Error::new("Helm charts are not supported yet").at_field("chart"));
    }
    // A source that only lends its files to the others (`ref`, no path)
    // renders nothing of its own.
    if !source.ref_name.is_empty() && source.path.is_empty() {
        return Ok(Vec::new());
    }
    let dir = app_dir(fs, &source.path)?;
    let source_type = match source.explicit_type()? {
        Some(t) => t,
        None => detect(fs, &dir)?,
    };
    match source_type {
        SourceType::Directory => {
            let defaults = DirectoryOptions::default();
            directory::render(fs, &dir, source.directory.as_ref().unwrap_or(&defaults))
        }
        SourceType::Kustomize => {
            let edit = |k: &mut Kustomization| match &source.kustomize {
                Some(opts) => edit_kustomization(k, opts, env, fs, &dir),
                None => Ok(()),
            };
            let built = kustomize::build_with(
                fs,
                &dir,
                BuildOptions {
                    root_edit: Some(&edit),
                },
            )?;
            let mut objects = Vec::with_capacity(built.len());
            directory::flatten_lists(built, &mut objects)?;
            Ok(objects)
        }
        SourceType::Helm => {
            Err(Error::new("Helm charts are not supported yet").in_file(fs::display(&dir)))
        }
        SourceType::Plugin => {
            Err(Error::new("config management plugins are not supported").at_field("plugin"))
        }
    }
}

/// The tree path of the source's directory, checked as Argo CD checks it.
fn app_dir(fs: &dyn Fs, path: &str) -> Result<String> {
    let fail = |what: &str| Err(Error::new(format!("app path '{path}' {what}")).at_field("path"));
    if path.starts_with('/') {
        return fail("is absolute; it must be relative to the repository root");
    }
    let Ok(dir) = fs::join("", path) else {
        return fail("leaves the repository");
    };
    if fs.is_dir(&dir) {
        Ok(dir)
    } else if fs.is_file(&dir) {
        fail("is not a directory")
    } else {
        fail("does not exist")
    }
}

/// The type of the source in `dir` when no option block names one, as Argo
/// CD's discovery finds it.
pub fn detect(fs: &dyn Fs, dir: &str) -> Result<SourceType> {
    let mut found = SourceType::Directory;
    for name in fs.list(dir)? {
        if fs.is_dir(&join_name(dir, &name)) {
            continue;
        }
        if name.ends_with("Chart.yaml") {
            found = SourceType::Helm;
        }
        if FILE_NAMES.contains(&name.as_str()) {
            found = SourceType::Kustomize;
        }
    }
    Ok(found)
}

fn join_name(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Applies an Application's `kustomize` options to the root kustomization
/// `k` of directory `dir`, with the effect of the commands Argo CD runs
/// before `kustomize build`, in its order: `kustomize edit set nameprefix`,
/// `set namesuffix`, `set image`, `set replicas`, `add label`, `add
/// annotation`, `set namespace`, then appending `patches`, then `edit add
/// component`. Errors name the option at fault.
pub fn edit_kustomization(
    k: &mut Kustomization,
    opts: &KustomizeOptions,
    env: &Env,
    fs: &dyn Fs,
    dir: &str,
) -> Result<()> {
    if !opts.name_prefix.is_empty() {
        k.name_prefix.clone_from(&opts.name_prefix);
    }
    if !opts.name_suffix.is_empty() {
        k.name_suffix.clone_from(&opts.name_suffix);
    }
    if !opts.images.is_empty() {
        set_images(k, &opts.images, env)?;
    }
    if !opts.replicas.is_empty() {
        set_replicas(k, &opts.replicas)?;
    }
    if !opts.common_labels.is_empty() {
        let pairs = edit_pairs(&opts.common_labels, Some(env), "label")
            .map_err(|e| e.at_field("kustomize.commonLabels"))?;
        add_labels(k, pairs, opts).map_err(|e| e.at_field("kustomize.commonLabels"))?;
    }
    if !opts.common_annotations.is_empty() {
        let env = opts.common_annotations_envsubst.then_some(env);
        let pairs = edit_pairs(&opts.common_annotations, env, "annotation")
            .map_err(|e| e.at_field("kustomize.commonAnnotations"))?;
        for (key, value) in pairs {
            put(
                &mut k.common_annotations,
                key,
                value,
                opts.force_common_annotations,
                "annotation",
            )
            .map_err(|e| e.at_field("kustomize.commonAnnotations"))?;
        }
    }
    if !opts.namespace.is_empty() {
        k.namespace.clone_from(&opts.namespace);
    }
    k.patches.extend(opts.patches.iter().map(to_patch));
    if !opts.components.is_empty() {
        add_components(k, opts, fs, dir)?;
    }
    Ok(())
}

/// `kustomize edit set image`: each argument replaces the entry of the same
/// name (`*` keeps the old new name, tag or digest), the others stay, and
/// the list ends up sorted by name.
fn set_images(k: &mut Kustomization, args: &[String], env: &Env) -> Result<()> {
    let mut by_name: BTreeMap<String, Image> = BTreeMap::new();
    for (i, arg) in args.iter().enumerate() {
        let image = parse_image_arg(&envsubst(arg, env))
            .map_err(|e| e.at_field(format!("kustomize.images[{i}]")))?;
        by_name.insert(image.name.clone(), image);
    }
    for old in std::mem::take(&mut k.images) {
        match by_name.get_mut(&old.name) {
            Some(new) => {
                for (field, kept) in [
                    (&mut new.new_name, &old.new_name),
                    (&mut new.new_tag, &old.new_tag),
                    (&mut new.digest, &old.digest),
                ] {
                    if *field == "*" {
                        field.clone_from(kept);
                        new.tag_suffix.clear();
                    }
                }
            }
            None => {
                by_name.insert(old.name.clone(), old);
            }
        }
    }
    k.images = by_name
        .into_values()
        .map(|mut image| {
            for field in [&mut image.new_name, &mut image.new_tag, &mut image.digest] {
                if *field == "*" {
                    field.clear();
                    image.tag_suffix.clear();
                }
            }
            image
        })
        .collect();
    Ok(())
}

/// Parses `name=newName:tag@digest`, `name:tag`, `name@digest` and the like.
fn parse_image_arg(arg: &str) -> Result<Image> {
    let (key, value) = match arg.split_once('=') {
        Some((key, value)) => (Some(key), value),
        None => (None, arg),
    };
    let (name, tag, digest) = split_image(value);
    if name == arg {
        return Err(Error::new(format!(
            "invalid image '{arg}': use <image>=<newimage>[:<newtag>][@<digest>], <image>:<newtag>[@<digest>] or <image>@<digest>"
        )));
    }
    let (name, new_name) = match key {
        Some(key) => (key.to_string(), name.to_string()),
        None => (name.to_string(), String::new()),
    };
    Ok(Image {
        name,
        new_name,
        new_tag: tag.to_string(),
        digest: digest.to_string(),
        ..Image::default()
    })
}

/// Splits an image reference into name, tag and digest; a `:` in the
/// registry host (before the first `/`) is not a tag.
fn split_image(image: &str) -> (&str, &str, &str) {
    let skip = match image.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let rest = &image[skip..];
    let at = rest.find('@').map(|i| i + skip);
    let colon = rest.find(':').map(|i| i + skip);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (&image[..a], "", &image[a + 1..]),
        (Some(c), Some(a)) => (&image[..c], &image[c + 1..a], &image[a + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
        (None, Some(_)) => (image, "", ""),
    }
}

/// `kustomize edit set replicas`: each argument replaces the entry of the
/// same name, the others stay, sorted by name.
fn set_replicas(k: &mut Kustomization, replicas: &[KustomizeReplica]) -> Result<()> {
    let mut by_name: BTreeMap<String, Replica> = BTreeMap::new();
    for (i, r) in replicas.iter().enumerate() {
        let field = || format!("kustomize.replicas[{i}]");
        let count = match &r.count {
            // Like Go's zero IntOrString.
            Value::Null => Some(0),
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::new(format!(
                "expected an integer count, found {}",
                serde_json::to_string(&r.count).unwrap_or_default()
            ))
            .at_field(format!("{}.count", field()))
        })?;
        // kustomize reads the argument `name=count` back; a name with `=`
        // does not survive that.
        if r.name.contains('=') {
            return Err(Error::new(format!(
                "invalid replica name '{}': it may not contain '='",
                r.name
            ))
            .at_field(format!("{}.name", field())));
        }
        by_name.insert(
            r.name.clone(),
            Replica {
                name: r.name.clone(),
                count,
            },
        );
    }
    for old in std::mem::take(&mut k.replicas) {
        by_name.entry(old.name.clone()).or_insert(old);
    }
    k.replicas = by_name.into_values().collect();
    Ok(())
}

/// The `key:value` arguments Argo CD passes to `kustomize edit add`, read
/// back as kustomize reads them: split at the first `:`, and one pair of
/// double quotes around the value removed.
fn edit_pairs(
    pairs: &BTreeMap<String, String>,
    env: Option<&Env>,
    kind: &str,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in pairs {
        let value = env.map_or_else(|| value.clone(), |env| envsubst(value, env));
        let arg = format!("{key}:{value}");
        let Some((key, value)) = arg.split_once(':') else {
            continue;
        };
        if key.is_empty() {
            return Err(Error::new(format!(
                "invalid {kind} '{arg}': the key is empty"
            )));
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// Sets `key` unless it is already there and `force` is off.
fn put(
    map: &mut BTreeMap<String, String>,
    key: String,
    value: String,
    force: bool,
    kind: &str,
) -> Result<()> {
    if !force && map.contains_key(&key) {
        return Err(Error::new(format!(
            "{kind} '{key}' is already set in the kustomization; force it to override"
        )));
    }
    map.insert(key, value);
    Ok(())
}

/// `kustomize edit add label [--force] [--without-selector
/// [--include-templates]]`: into `commonLabels`, or (without selector) into
/// the first `labels` entry with the same settings, else a new one.
fn add_labels(
    k: &mut Kustomization,
    pairs: BTreeMap<String, String>,
    opts: &KustomizeOptions,
) -> Result<()> {
    let force = opts.force_common_labels;
    if !opts.label_without_selector {
        if opts.label_include_templates {
            return Err(Error::new(
                "labelIncludeTemplates needs labelWithoutSelector: true",
            ));
        }
        for (key, value) in pairs {
            put(&mut k.common_labels, key, value, force, "label")?;
        }
        return Ok(());
    }
    let templates = opts.label_include_templates;
    for (key, value) in pairs {
        let entry = k
            .labels
            .iter_mut()
            .find(|l| !l.include_selectors && l.include_templates == templates);
        match entry {
            Some(label) => put(&mut label.pairs, key, value, force, "label")?,
            None => k.labels.push(Label {
                pairs: BTreeMap::from([(key, value)]),
                include_selectors: false,
                include_templates: templates,
                ..Label::default()
            }),
        }
    }
    Ok(())
}

fn to_patch(p: &KustomizePatch) -> Patch {
    let option = |name: &str| p.options.get(name).copied().unwrap_or(false);
    Patch {
        path: p.path.clone(),
        patch: p.patch.clone(),
        target: p.target.as_ref().map(|t| Selector {
            group: t.group.clone(),
            version: t.version.clone(),
            kind: t.kind.clone(),
            name: t.name.clone(),
            namespace: t.namespace.clone(),
            annotation_selector: t.annotation_selector.clone(),
            label_selector: t.label_selector.clone(),
        }),
        options: (!p.options.is_empty()).then(|| PatchOptions {
            allow_name_change: option("allowNameChange"),
            allow_kind_change: option("allowKindChange"),
        }),
    }
}

/// `kustomize edit add component`: each entry is a glob relative to `dir`;
/// its matches are appended unless already listed. An entry that matches
/// nothing is an error, unless it is remote, or `ignoreMissingComponents`
/// is set: then Argo CD keeps only entries that exist as written (so
/// remote entries and globs are dropped too).
fn add_components(
    k: &mut Kustomization,
    opts: &KustomizeOptions,
    fs: &dyn Fs,
    dir: &str,
) -> Result<()> {
    let mut found = Vec::new();
    for (i, entry) in opts.components.iter().enumerate() {
        if opts.ignore_missing_components {
            if exists(fs, dir, entry) {
                found.extend(glob(fs, dir, entry));
            }
            continue;
        }
        let matches = glob(fs, dir, entry);
        if !matches.is_empty() {
            found.extend(matches);
        } else if crate::kustomize::is_remote(entry) {
            found.push(entry.clone());
        } else {
            return Err(Error::new(format!("component '{entry}' has no match"))
                .at_field(format!("kustomize.components[{i}]")));
        }
    }
    for c in found {
        if !FILE_NAMES.contains(&c.as_str()) && !k.components.contains(&c) {
            k.components.push(c);
        }
    }
    Ok(())
}

fn exists(fs: &dyn Fs, dir: &str, rel: &str) -> bool {
    fs::join(dir, rel).is_ok_and(|p| fs.is_file(&p) || fs.is_dir(&p))
}

fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Glob` relative to `dir`, as kustomize runs it: matches
/// in byte order per directory, joined and cleaned; hidden matches are left
/// out unless the pattern's last element is itself hidden.
fn glob(fs: &dyn Fs, dir: &str, pattern: &str) -> Vec<String> {
    let mut matches = glob_inner(fs, dir, pattern);
    let hidden = |p: &str| p.rsplit('/').next().is_some_and(|b| b.starts_with('.'));
    if !hidden(pattern) {
        matches.retain(|m| !hidden(m));
    }
    matches
}

fn glob_inner(fs: &dyn Fs, dir: &str, pattern: &str) -> Vec<String> {
    if !has_meta(pattern) {
        return if exists(fs, dir, pattern) {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let (parent, last) = match pattern.rsplit_once('/') {
        Some(("", last)) => ("/", last),
        Some((parent, last)) => (parent, last),
        None => (".", pattern),
    };
    let Ok(matcher) = GlobBuilder::new(last)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
    else {
        return Vec::new();
    };
    let parents = if has_meta(parent) {
        glob_inner(fs, dir, parent)
    } else {
        vec![parent.to_string()]
    };
    let mut out = Vec::new();
    for p in parents {
        let Ok(tree_dir) = fs::join(dir, &p) else {
            continue;
        };
        let Ok(names) = fs.list(&tree_dir) else {
            continue;
        };
        out.extend(
            names
                .iter()
                .filter(|n| matcher.is_match(n.as_str()))
                .map(|n| clean(&format!("{p}/{n}"))),
        );
    }
    out
}

/// Lexically cleans a relative path as Go's `filepath.Clean` does.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use serde_json::json;

    fn opts(v: Value) -> KustomizeOptions {
        serde_json::from_value(v).unwrap()
    }

    fn edit(k: &mut Kustomization, o: Value) -> Result<()> {
        edit_with(k, o, &MemFs::new())
    }

    fn edit_with(k: &mut Kustomization, o: Value, fs: &MemFs) -> Result<()> {
        let mut env = Env::new();
        env.insert("ARGOCD_APP_NAME".into(), "demo".into());
        edit_kustomization(k, &opts(o), &env, fs, "app")
    }

    fn kust(yaml: &str) -> Kustomization {
        let v: Value = serde_saphyr::from_str(yaml).unwrap();
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn source_reads_every_argo_cd_field_and_tolerates_unknown_ones() {
        let s = Source::from_value(&json!({
            "repoURL": "https://git.example/r.git", "path": "apps/x", "targetRevision": "main",
            "ref": "values", "name": "x", "somethingNew": 1,
            "directory": {"recurse": true, "include": "*.yaml", "exclude": null, "jsonnet": {"tlas": []}},
            "kustomize": {
                "namePrefix": "p-", "nameSuffix": "-s", "images": ["a=b:1"],
                "commonLabels": {"a": "b"}, "commonAnnotations": {"c": "d"},
                "forceCommonLabels": true, "forceCommonAnnotations": true, "namespace": "ns",
                "replicas": [{"name": "web", "count": "3"}, {"name": "db", "count": 1}],
                "patches": [{"patch": "x", "target": {"kind": "Deployment", "labelSelector": "a=b"},
                             "options": {"allowNameChange": true}}],
                "components": ["../c"], "labelWithoutSelector": true, "labelIncludeTemplates": true,
                "commonAnnotationsEnvsubst": true, "version": "v5", "kubeVersion": "1.30",
                "apiVersions": ["v1"], "ignoreMissingComponents": true
            },
            "helm": {"values": "a: 1"}, "plugin": null
        }))
        .unwrap();
        assert_eq!(s.repo_url, "https://git.example/r.git");
        assert_eq!(s.ref_name, "values");
        let d = s.directory.unwrap();
        assert!(d.recurse && d.exclude.is_empty());
        let k = s.kustomize.unwrap();
        assert_eq!(k.replicas[0].count, json!("3"));
        assert_eq!(k.patches[0].target.as_ref().unwrap().label_selector, "a=b");
        assert!(k.ignore_missing_components && k.label_include_templates);
        assert_eq!(k.api_versions, ["v1"]);
        assert!(s.helm.is_some() && s.plugin.is_none());
    }

    #[test]
    fn source_errors_name_the_field() {
        let err = Source::from_value(&json!({"path": "x", "kustomize": {"replicas": [
            {"name": "a", "count": 1}, {"name": ["b"]}]}}))
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kustomize.replicas[1]"));
        let err = Source::from_value(&json!({"directory": {"recurse": "yes"}})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("directory.recurse"));
    }

    #[test]
    fn application_sources_prefers_the_sources_list() {
        let app = json!({"kind": "Application", "metadata": {"name": "a"}, "spec": {
            "source": {"path": "one"},
            "sources": [{"path": "two"}, {"ref": "vals", "repoURL": "r"}]}});
        let sources = application_sources(&app).unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].0, "spec.sources[0]");
        assert_eq!(sources[0].1.path, "two");

        let app = json!({"spec": {"source": {"path": "one", "kustomize": {"images": "x"}}}});
        let err = application_sources(&app).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.source.kustomize.images"));
        assert!(application_sources(&json!({"kind": "Deployment"})).is_err());
        assert!(application_sources(&json!({"spec": {}})).is_err());
    }

    #[test]
    fn explicit_type_allows_one_block() {
        let s = Source::from_value(&json!({"kustomize": {}, "directory": {}})).unwrap();
        assert!(
            s.explicit_type()
                .unwrap_err()
                .message
                .contains("kustomize, directory")
        );
        let s = Source::from_value(&json!({"directory": {}})).unwrap();
        assert_eq!(s.explicit_type().unwrap(), Some(SourceType::Directory));
    }

    #[test]
    fn detection_follows_argo_cd_discovery() {
        let mut fs = MemFs::new();
        fs.add("k/kustomization.yaml", "")
            .add("k/Chart.yaml", "")
            .add("h/Chart.yaml", "")
            .add("h2/kustomization.yaml", "")
            .add("h2/myChart.yaml", "")
            .add("d/sub/kustomization.yaml", "")
            .add("d/x.yaml", "");
        assert_eq!(detect(&fs, "k").unwrap(), SourceType::Kustomize);
        assert_eq!(detect(&fs, "h").unwrap(), SourceType::Helm);
        assert_eq!(detect(&fs, "h2").unwrap(), SourceType::Helm);
        assert_eq!(detect(&fs, "d").unwrap(), SourceType::Directory);
    }

    #[test]
    fn render_checks_the_app_path_and_refuses_helm() {
        let mut fs = MemFs::new();
        fs.add("chart/Chart.yaml", "name: x").add("f.yaml", "");
        let src = |v: Value| Source::from_value(&v).unwrap();
        for (path, want) in [
            ("/abs", "absolute"),
            ("../x", "leaves"),
            ("nope", "does not exist"),
            ("f.yaml", "not a directory"),
        ] {
            let err = render(&fs, &src(json!({ "path": path }))).unwrap_err();
            assert!(err.message.contains(want), "{path}: {err}");
            assert_eq!(err.field.as_deref(), Some("path"));
        }
        let err = render(&fs, &src(json!({"path": "chart"}))).unwrap_err();
        assert!(err.message.contains("Helm"), "{err}");
        assert!(render(&fs, &src(json!({"chart": "x"}))).is_err());
        assert!(render(&fs, &src(json!({"ref": "v"}))).unwrap().is_empty());
    }

    #[test]
    fn render_of_a_directory_uses_its_options() {
        let mut fs = MemFs::new();
        fs.add("a/x.yaml", "apiVersion: v1\nkind: A\nmetadata: {name: x}\n")
            .add(
                "a/s/y.yaml",
                "apiVersion: v1\nkind: A\nmetadata: {name: y}\n",
            )
            .add("a/kustomization.yaml", "resources: [x.yaml]\n");
        let s = Source::from_value(&json!({"path": "a/", "directory": {"recurse": true}})).unwrap();
        let objs = render(&fs, &s).unwrap();
        // An explicit directory source reads kustomization.yaml as a plain
        // (and here unrelated) YAML file.
        assert_eq!(objs.len(), 2);
    }

    #[test]
    fn prefix_suffix_and_namespace_replace_what_is_there() {
        let mut k = kust("namePrefix: old-\nnamespace: old\n");
        edit(
            &mut k,
            json!({"namePrefix": "new-", "nameSuffix": "-s", "namespace": "ns"}),
        )
        .unwrap();
        assert_eq!(
            (k.name_prefix.as_str(), k.name_suffix.as_str()),
            ("new-", "-s")
        );
        assert_eq!(k.namespace, "ns");
        let mut k = kust("namePrefix: keep-\n");
        edit(&mut k, json!({"namePrefix": ""})).unwrap();
        assert_eq!(k.name_prefix, "keep-");
    }

    #[test]
    fn set_image_replaces_same_name_entries_and_sorts() {
        let mut k = kust(
            "images:\n- {name: zeta, newTag: '1'}\n- {name: nginx, newName: old, newTag: '1', digest: 'sha256:0'}\n- {name: redis, newName: r, newTag: '6'}\n",
        );
        edit(
            &mut k,
            json!({"images": ["nginx:1.27", "redis=*:7", "alpine@sha256:abc", "reg:5000/x=y:$ARGOCD_APP_NAME", "busybox=bb:*"]}),
        )
        .unwrap();
        let got: Vec<_> = k
            .images
            .iter()
            .map(|i| format!("{}|{}|{}|{}", i.name, i.new_name, i.new_tag, i.digest))
            .collect();
        assert_eq!(
            got,
            [
                "alpine|||sha256:abc",
                "busybox|bb||",
                "nginx||1.27|",
                "redis|r|7|",
                "reg:5000/x|y|demo|",
                "zeta||1|",
            ]
        );
        let err = edit(&mut kust("{}"), json!({"images": ["ok:1", "nginx"]})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kustomize.images[1]"));
    }

    #[test]
    fn split_image_ignores_a_registry_port() {
        assert_eq!(
            split_image("reg:5000/a/b:1@sha256:x"),
            ("reg:5000/a/b", "1", "sha256:x")
        );
        assert_eq!(split_image("a@sha256:x"), ("a", "", "sha256:x"));
        assert_eq!(split_image("a"), ("a", "", ""));
        assert_eq!(split_image("reg:5000/a"), ("reg:5000/a", "", ""));
    }

    #[test]
    fn set_replicas_merges_by_name() {
        let mut k = kust("replicas:\n- {name: web, count: 1}\n- {name: api, count: 2}\n");
        edit(
            &mut k,
            json!({"replicas": [{"name": "web", "count": "5"}, {"name": "db", "count": 0}]}),
        )
        .unwrap();
        let got: Vec<_> = k
            .replicas
            .iter()
            .map(|r| (r.name.as_str(), r.count))
            .collect();
        assert_eq!(got, [("api", 2), ("db", 0), ("web", 5)]);
        let err = edit(
            &mut kust("{}"),
            json!({"replicas": [{"name": "w", "count": "x"}]}),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kustomize.replicas[0].count"));
    }

    #[test]
    fn labels_go_to_common_labels_unless_without_selector() {
        let mut k = kust("commonLabels: {a: '1'}\n");
        let err = edit(&mut k, json!({"commonLabels": {"a": "2"}})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kustomize.commonLabels"));
        edit(&mut k, json!({"commonLabels": {"a": "2", "b": "$ARGOCD_APP_NAME", "c": "\"q\""}, "forceCommonLabels": true}))
            .unwrap();
        assert_eq!(
            k.common_labels,
            BTreeMap::from([
                ("a".into(), "2".into()),
                ("b".into(), "demo".into()),
                ("c".into(), "q".into())
            ])
        );

        let mut k =
            kust("labels:\n- pairs: {x: '1'}\n  includeSelectors: true\n- pairs: {y: '1'}\n");
        edit(
            &mut k,
            json!({"commonLabels": {"z": "1"}, "labelWithoutSelector": true}),
        )
        .unwrap();
        assert_eq!(k.labels.len(), 2);
        assert_eq!(k.labels[1].pairs.len(), 2);
        edit(
            &mut k,
            json!({"commonLabels": {"t": "1", "u": "2"}, "labelWithoutSelector": true, "labelIncludeTemplates": true}),
        )
        .unwrap();
        assert_eq!(k.labels.len(), 3);
        assert!(k.labels[2].include_templates && !k.labels[2].include_selectors);
        assert_eq!(k.labels[2].pairs.len(), 2);
        assert!(
            edit(
                &mut k,
                json!({"commonLabels": {"y": "2"}, "labelWithoutSelector": true})
            )
            .is_err()
        );
        assert!(
            edit(
                &mut k,
                json!({"commonLabels": {"q": "2"}, "labelIncludeTemplates": true})
            )
            .is_err()
        );
        assert!(k.common_labels.is_empty());
    }

    #[test]
    fn annotations_expand_variables_only_when_asked() {
        let mut k = kust("{}");
        edit(
            &mut k,
            json!({"commonAnnotations": {"a": "$ARGOCD_APP_NAME"}}),
        )
        .unwrap();
        assert_eq!(k.common_annotations["a"], "$ARGOCD_APP_NAME");
        edit(
            &mut k,
            json!({"commonAnnotations": {"a": "${ARGOCD_APP_NAME}"}, "commonAnnotationsEnvsubst": true,
                   "forceCommonAnnotations": true}),
        )
        .unwrap();
        assert_eq!(k.common_annotations["a"], "demo");
    }

    #[test]
    fn patches_are_appended() {
        let mut k = kust("patches:\n- path: p.yaml\n");
        edit(
            &mut k,
            json!({"patches": [{"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment"},
                                "options": {"allowKindChange": true}}]}),
        )
        .unwrap();
        assert_eq!(k.patches.len(), 2);
        assert_eq!(k.patches[1].target.as_ref().unwrap().kind, "Deployment");
        let o = k.patches[1].options.as_ref().unwrap();
        assert!(o.allow_kind_change && !o.allow_name_change);
    }

    #[test]
    fn components_must_exist_unless_ignored() {
        let mut fs = MemFs::new();
        fs.add("app/kustomization.yaml", "")
            .add("comp/a/kustomization.yaml", "")
            .add("comp/b/kustomization.yaml", "")
            .add("comp/.h/kustomization.yaml", "");
        let mut k = kust("components: [../comp/a]\n");
        edit_with(
            &mut k,
            json!({"components": ["../comp/a", "../comp/*", "https://x.example/c.git", "../comp/b"]}),
            &fs,
        )
        .unwrap();
        assert_eq!(
            k.components,
            ["../comp/a", "../comp/b", "https://x.example/c.git"]
        );

        let err = edit_with(
            &mut kust("{}"),
            json!({"components": ["../comp/a", "../nope"]}),
            &fs,
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kustomize.components[1]"));

        let mut k = kust("{}");
        edit_with(
            &mut k,
            json!({"components": ["../nope", "./../comp/b", "../comp/*", "https://x.example/c.git"],
                   "ignoreMissingComponents": true}),
            &fs,
        )
        .unwrap();
        assert_eq!(k.components, ["./../comp/b"]);
        // All missing: nothing to add, no error.
        let mut k = kust("{}");
        edit_with(
            &mut k,
            json!({"components": ["../nope"], "ignoreMissingComponents": true}),
            &fs,
        )
        .unwrap();
        assert!(k.components.is_empty());
    }

    #[test]
    fn envsubst_matches_go_os_expand() {
        let env = Env::from([
            ("A".to_string(), "x".to_string()),
            ("A_1".to_string(), "y".to_string()),
        ]);
        for (input, want) in [
            ("plain", "plain"),
            ("$A-${A}", "x-x"),
            ("$A_1.$B.", "y.."),
            ("$$A", "$A"),
            ("cost: 5$", "cost: 5$"),
            ("a$-b", "ab"),
            ("${}x", "x"),
            ("${A", "A"),
            ("$/", "$/"),
            ("${1}$1", ""),
        ] {
            assert_eq!(envsubst(input, &env), want, "{input}");
        }
    }

    #[test]
    fn app_env_has_argo_cd_names() {
        let app = json!({"metadata": {"name": "web"}, "spec": {"project": "p",
            "destination": {"namespace": "prod"}}});
        let s = Source {
            path: "apps/web".into(),
            ..Source::default()
        };
        let env = app_env(&app, &s, Some("0123456789abcdef"));
        assert_eq!(env["ARGOCD_APP_NAME"], "web");
        assert_eq!(env["ARGOCD_APP_NAMESPACE"], "prod");
        assert_eq!(env["ARGOCD_APP_REVISION_SHORT"], "0123456");
        assert_eq!(env["ARGOCD_APP_REVISION_SHORT_8"], "01234567");
        assert_eq!(env["ARGOCD_APP_SOURCE_PATH"], "apps/web");
    }

    #[test]
    fn clean_matches_go() {
        assert_eq!(clean("./a/../b"), "b");
        assert_eq!(clean("../../a/./b/"), "../../a/b");
        assert_eq!(clean("a/.."), ".");
    }
}
