//! The `images` transformer: new names, tags and digests for container
//! images, as kustomize v5 sets them.
//!
//! Each `images` entry is applied in turn, in two passes, both skipping
//! CustomResourceDefinitions:
//! 1. every list under a `containers` or `initContainers` key, anywhere in
//!    any object (custom kinds included), has its items' `image` updated;
//! 2. the image field specs (the `images` list of
//!    [`TransformerConfig`]: pod, template and image-volume paths, for every
//!    kind) are updated.
//!
//! A field reached by both passes is updated twice, which only shows with
//! `tagSuffix` (the suffix is appended twice), exactly as in kustomize.
//! `imageTags` (legacy) entries are plain `images` entries appended after
//! the `images` list.
//!
//! Matching: `name` is a regular expression anchored at the start and
//! followed by an optional `:tag` and `@digest`, so `nginx` matches
//! `nginx`, `nginx:1.0` and `nginx@sha256:…` but not `docker.io/nginx`. An
//! invalid expression matches nothing. A null image reads as the empty
//! string (kustomize distinguishes `~`, `null` and an empty value; a
//! [`Value`] cannot).

use std::borrow::Cow;

use regex::Regex;

use super::builtins::TransformerConfig;
use super::fieldspec::{FieldSpec, split_path, visit};
use super::kustomization::Image;
use super::resource::{ResMap, Resource};
use crate::{Error, Result, Value};

/// kustomize's images transformer with the built-in field specs.
pub fn apply(resmap: &mut ResMap, images: &[Image]) -> Result<()> {
    apply_with_specs(resmap, images, &TransformerConfig::builtin().images)
}

/// The images transformer with explicit field specs (the built-in ones plus
/// any from the kustomization's `configurations`). Image fields are never
/// created, whatever `create` says.
pub fn apply_with_specs(resmap: &mut ResMap, images: &[Image], specs: &[FieldSpec]) -> Result<()> {
    let paths: Vec<Vec<String>> = specs.iter().map(|s| split_path(&s.path)).collect();
    for image in images {
        let rule = Rule::new(image);
        // Both passes leave CRDs alone; the first runs over every object
        // before the second starts, as kustomize's two filters do.
        fn targets(resmap: &mut ResMap) -> impl Iterator<Item = &mut Resource> {
            resmap
                .resources
                .iter_mut()
                .filter(|r| r.kind() != "CustomResourceDefinition")
        }
        for r in targets(resmap) {
            legacy_walk(&mut r.obj, &rule).map_err(|e| e.for_object(r.describe()))?;
        }
        for r in targets(resmap) {
            for (spec, path) in specs.iter().zip(&paths) {
                if !spec.applies_to(r) {
                    continue;
                }
                visit(&mut r.obj, path, None, &mut |v| rule.apply(v))
                    .map_err(|e| e.for_object(r.describe()).at_field(spec.path.clone()))?;
            }
        }
    }
    Ok(())
}

/// One `images` entry, ready to match.
struct Rule<'a> {
    image: &'a Image,
    pattern: Option<NamePattern>,
}

/// kustomize matches an image field against the regular expression
/// `^NAME(:TAG)?(@DIGEST)?$`, with NAME inserted as written (so it may hold
/// regex syntax). Nearly every name is plain text, where `.` is the only
/// special character (it matches any one character); those are matched by
/// hand, which keeps a regex compilation per entry off every build.
enum NamePattern {
    Plain(Vec<char>),
    Regex(Regex),
}

impl NamePattern {
    fn new(name: &str) -> Option<NamePattern> {
        let plain = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':'));
        if plain {
            return Some(NamePattern::Plain(name.chars().collect()));
        }
        Regex::new(&format!(
            "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$"
        ))
        .ok()
        .map(NamePattern::Regex)
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            NamePattern::Regex(re) => re.is_match(s),
            NamePattern::Plain(name) => {
                let mut chars = s.chars();
                for &want in name {
                    match chars.next() {
                        Some(c) if want == '.' || c == want => {}
                        _ => return false,
                    }
                }
                tag_and_digest(chars.as_str())
            }
        }
    }
}

/// Whether `rest` is `(:TAG)?(@ALGO:HEX)?` as kustomize's pattern has it.
fn tag_and_digest(rest: &str) -> bool {
    let tag_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '{' | '}' | '-');
    let mut rest = rest;
    if let Some(r) = rest.strip_prefix(':') {
        rest = r.trim_start_matches(tag_char);
    }
    let Some(digest) = rest.strip_prefix('@') else {
        return rest.is_empty();
    };
    // ALGO: alphanumeric runs joined by one of `.+_-`, then `:` and the hex.
    let Some((algo, hex)) = digest.split_once(':') else {
        return false;
    };
    let mut prev_sep = true;
    for c in algo.chars() {
        if c.is_ascii_alphanumeric() {
            prev_sep = false;
        } else if matches!(c, '.' | '+' | '_' | '-') && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    !algo.is_empty() && !prev_sep && hex.chars().all(tag_char)
}

impl<'a> Rule<'a> {
    fn new(image: &'a Image) -> Rule<'a> {
        Rule {
            image,
            pattern: NamePattern::new(&image.name),
        }
    }

    /// Rewrites an image field in place when it matches.
    fn apply(&self, node: &mut Value) -> Result<()> {
        ensure_scalar(node)?;
        let current: Cow<'_, str> = match node {
            Value::String(s) => Cow::Borrowed(s),
            Value::Number(n) => Cow::Owned(n.to_string()),
            Value::Bool(b) => Cow::Owned(b.to_string()),
            _ => Cow::Borrowed(""),
        };
        if let Some(new) = self.rewrite(&current) {
            *node = Value::String(new);
        }
        Ok(())
    }

    fn rewrite(&self, current: &str) -> Option<String> {
        if !self.pattern.as_ref()?.is_match(current) {
            return None;
        }
        let img = self.image;
        let (name, mut tag, mut digest) = split(current);
        let name = if img.new_name.is_empty() {
            name
        } else {
            &img.new_name
        };
        // A new tag or digest replaces both the old tag and digest.
        let suffixed;
        if !img.new_tag.is_empty() || !img.digest.is_empty() {
            tag = &img.new_tag;
            digest = &img.digest;
        } else if !img.tag_suffix.is_empty() {
            suffixed = format!("{tag}{}", img.tag_suffix);
            tag = &suffixed;
            digest = "";
        }
        let mut out = name.to_string();
        if !tag.is_empty() {
            out.push(':');
            out.push_str(tag);
        }
        if !digest.is_empty() {
            out.push('@');
            out.push_str(digest);
        }
        Some(out)
    }
}

fn wrong_kind(expected: &str, got: &str) -> Error {
    Error::new(format!(
        "wrong node kind: expected {expected} but got {got}"
    ))
}

/// kustomize refuses to overwrite a map or list where it sets a scalar.
pub(crate) fn ensure_scalar(v: &Value) -> Result<()> {
    match v {
        Value::Object(_) => Err(wrong_kind("ScalarNode", "MappingNode")),
        Value::Array(_) => Err(wrong_kind("ScalarNode", "SequenceNode")),
        _ => Ok(()),
    }
}

/// Splits an image reference into name, tag and digest. A `:` before the
/// first `/` is a registry port, not a tag.
fn split(image: &str) -> (&str, &str, &str) {
    let from = match image.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let search = &image[from..];
    let at = search.find('@').map(|i| i + from);
    let colon = search.find(':').map(|i| i + from);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (Some(c), Some(a)) if c < a => (&image[..c], &image[c + 1..a], &image[a + 1..]),
        (_, Some(a)) => (&image[..a], "", &image[a + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
    }
}

/// Pass 1: `image` of the items of every `containers`/`initContainers`
/// list, at any depth.
fn legacy_walk(node: &mut Value, rule: &Rule<'_>) -> Result<()> {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                legacy_walk(value, rule)?;
                if key == "containers" || key == "initContainers" {
                    legacy_containers(value, rule).map_err(|e| e.at_field(key.clone()))?;
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                legacy_walk(item, rule)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn legacy_containers(list: &mut Value, rule: &Rule<'_>) -> Result<()> {
    let Value::Array(items) = list else {
        return Ok(());
    };
    for item in items {
        match item {
            Value::Null => {}
            Value::Object(container) => {
                if let Some(image) = container.get_mut("image") {
                    rule.apply(image)?;
                }
            }
            Value::Array(_) => return Err(wrong_kind("MappingNode", "SequenceNode")),
            _ => return Err(wrong_kind("MappingNode", "ScalarNode")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_names_match_as_the_regular_expression_does() {
        let names = [
            "nginx",
            "registry.example.com/app",
            "host:5000/team/app",
            "a.b",
        ];
        let values = [
            "nginx",
            "nginx:1.25",
            "nginx:1.25@sha256:abc123",
            "nginx@sha256:abc123",
            "nginx@sha256",
            "nginx@sha-256:x",
            "nginx@sha--256:x",
            "nginx:{{tag}}",
            "nginx-extra",
            "nginx:1:2",
            "registry.example.com/app:v1",
            "registryXexampleYcom/app",
            "host:5000/team/app@sha256:0f",
            "aXb",
            "a.b.c",
            "",
        ];
        for name in names {
            let plain = super::NamePattern::new(name).unwrap();
            assert!(matches!(plain, super::NamePattern::Plain(_)));
            let re = super::Regex::new(&format!(
                "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$"
            ))
            .unwrap();
            for v in values {
                assert_eq!(
                    plain.is_match(v),
                    re.is_match(v),
                    "name {name:?}, value {v:?}"
                );
            }
        }
    }

    use super::*;
    use crate::kustomize::Kustomization;
    use crate::kustomize::generators::testutil::{build, find, write_tree};

    fn rule(name: &str, new_name: &str, new_tag: &str, digest: &str, suffix: &str) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: new_tag.into(),
            digest: digest.into(),
            tag_suffix: suffix.into(),
        }
    }

    #[test]
    fn split_handles_ports_tags_and_digests() {
        assert_eq!(split("nginx"), ("nginx", "", ""));
        assert_eq!(split("nginx:1.0"), ("nginx", "1.0", ""));
        assert_eq!(split("nginx@sha256:ab"), ("nginx", "", "sha256:ab"));
        assert_eq!(split("nginx:1@sha256:ab"), ("nginx", "1", "sha256:ab"));
        assert_eq!(split("host:5000/x"), ("host:5000/x", "", ""));
        assert_eq!(split("host:5000/x:2"), ("host:5000/x", "2", ""));
        assert_eq!(split("/x:2"), ("/x", "2", ""));
    }

    #[test]
    fn rewrite_rules() {
        let r = rule("nginx", "", "2", "", "");
        let rw = |img: &Image, s: &str| Rule::new(img).rewrite(s);
        assert_eq!(rw(&r, "nginx:1@sha256:x").as_deref(), Some("nginx:2"));
        assert_eq!(rw(&r, "docker.io/nginx"), None);
        assert_eq!(
            rw(&rule("nginx", "", "2", "sha256:d", ""), "nginx").as_deref(),
            Some("nginx:2@sha256:d")
        );
        assert_eq!(
            rw(&rule("nginx", "", "", "", "-x"), "nginx").as_deref(),
            Some("nginx:-x")
        );
        assert_eq!(rw(&rule("[", "", "2", "", ""), "["), None);
    }

    const RESOURCES: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      initContainers: null
      containers:
      - name: a
        image: nginx:1.0
      - name: b
        image: nginx@sha256:abc
      - name: c
      - name: d
        image: docker.io/nginx
      - name: e
        image: localhost:5000/nginx:2
      - name: f
        image: nginx:1.0@sha256:xyz
      - name: g
        image: busybox
      - name: h
        image: registry.example.com/team/app:v1
      volumes:
      - name: v
        image: {reference: "nginx:3"}
      - name: w
        emptyDir: {}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - image: busybox:1
  - image: app:{{.Tag}}
  ephemeralContainers:
  - image: nginx
---
apiVersion: example.com/v1
kind: Foo
metadata: {name: f}
spec:
  deep:
    list:
    - containers:
      - image: nginx:7
      - null
    other:
      image: nginx:8
  containers: []
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - image: nginx
          volumes:
          - image: {reference: nginx}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: foos.example.com}
spec:
  containers:
  - image: nginx
"#;

    fn compare(images_yaml: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let k = format!("resources: [r.yaml]\n{images_yaml}");
        write_tree(
            tmp.path(),
            &[
                ("kustomization.yaml", k.as_bytes()),
                ("r.yaml", RESOURCES.as_bytes()),
            ],
        );
        let theirs = build(tmp.path(), "").unwrap();
        let kust: Kustomization = serde_saphyr::from_str(&k).unwrap();
        let mut resmap = ResMap::new();
        for obj in serde_saphyr::from_multiple::<Value>(RESOURCES).unwrap() {
            resmap.append(Resource::new(obj, "r.yaml")).unwrap();
        }
        let all: Vec<Image> = kust
            .images
            .iter()
            .chain(&kust.image_tags)
            .cloned()
            .collect();
        apply(&mut resmap, &all).unwrap();
        assert_eq!(resmap.len(), theirs.len());
        for r in resmap.iter() {
            assert_eq!(&r.obj, find(&theirs, r.kind(), r.name()), "{images_yaml}");
        }
    }

    #[test]
    fn matches_kustomize_new_tag_name_digest() {
        compare(
            "images:\n- name: nginx\n  newName: my.registry/nginx\n  newTag: \"1.25\"\n- name: localhost:5000/nginx\n  digest: sha256:0123\n",
        );
        compare(
            "images:\n- name: nginx\n  digest: sha256:aa\n- name: busybox\n  newName: bb\n  newTag: t\n  digest: sha256:bb\n",
        );
        compare(
            "images:\n- name: registry.example.com/team/app\n  newName: other/app\n- name: app\n  newTag: v2\n",
        );
    }

    #[test]
    fn matches_kustomize_tag_suffix_and_legacy_image_tags() {
        compare("images:\n- name: nginx\n  tagSuffix: -sfx\n");
        compare(
            "imageTags:\n- name: busybox\n  newTag: \"2\"\nimages:\n- name: nginx\n  newTag: \"3\"\n",
        );
    }

    #[test]
    fn matches_kustomize_regex_names() {
        compare("images:\n- name: \"nginx|busybox\"\n  newTag: x\n");
        compare("images:\n- name: \".*\"\n  newName: all\n");
        compare("images:\n- name: \"[\"\n  newTag: x\n");
    }

    #[test]
    fn scalar_in_the_way_is_an_error() {
        let mut resmap = ResMap::new();
        let obj = serde_json::json!({"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "f"}, "spec": "hello"});
        resmap.append(Resource::new(obj, "f.yaml")).unwrap();
        let err = apply(&mut resmap, &[rule("nginx", "", "2", "", "")]).unwrap_err();
        assert!(err.message.contains("expected a map or list"), "{err}");
        assert_eq!(err.field.as_deref(), Some("spec/containers[]/image"));
    }
}
