//! Argo CD's directory source: the Kubernetes objects in the `*.yaml`,
//! `*.yml` and `*.json` files of a directory, read the way Argo CD's repo
//! server reads them, so that gyro and Argo CD agree on what an
//! Application holds.
//!
//! The rules Argo CD follows, and so this module:
//! - Files are visited in `filepath.Walk` order: entries of a directory in
//!   byte order, a subdirectory's files where the subdirectory sorts (only
//!   with `recurse: true`). Hidden files and directories are *not* skipped:
//!   Argo CD walks them too (its checkout's `.git` holds no manifests).
//! - A file is a candidate when its name ends in `.yaml`, `.yml`, `.json`
//!   or `.jsonnet` (case-sensitive). `exclude` then drops it and `include`
//!   must match it; both are globs matched against the path relative to the
//!   source directory, where `*` also crosses `/` and `{a,b}` picks
//!   alternatives. A pattern that does not compile matches nothing.
//! - A `.json` file holds exactly one object; anything else is an error.
//! - A YAML file is split on `---` lines. Empty documents are skipped; every
//!   other document must be a map with a `kind`. When the first offending
//!   document comes before any object and the file does not look like a
//!   manifest (it lacks one of `apiVersion:`, `kind:`, `metadata:`), Argo CD
//!   takes it for an unrelated YAML file (a Helm values file, a CI config)
//!   and ignores it; otherwise it is an error naming the file.
//! - An object with an `items` list is replaced by its items (a `List`).

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use crate::fs::Fs;
use crate::source::nullable;
use crate::yaml::parse_documents_yaml11 as parse_documents;
use crate::{Error, Result, Value};

/// `spec.source.directory` of an Argo CD Application.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryOptions {
    /// Also read the files of subdirectories.
    #[serde(default, deserialize_with = "nullable")]
    pub recurse: bool,
    /// Only files whose relative path matches this glob (all when empty).
    #[serde(default, deserialize_with = "nullable")]
    pub include: String,
    /// Files whose relative path matches this glob are left out.
    #[serde(default, deserialize_with = "nullable")]
    pub exclude: String,
    /// Jsonnet settings, kept as given: Jsonnet is not rendered yet.
    #[serde(default)]
    pub jsonnet: Option<Value>,
}

/// Renders the directory `dir` (a tree path, `""` for the root).
pub fn render(fs: &dyn Fs, dir: &str, opts: &DirectoryOptions) -> Result<Vec<Value>> {
    let filter = Filter::new(opts);
    let mut files = Vec::new();
    collect(fs, dir, "", opts.recurse, &filter, &mut files)?;
    let mut objects = Vec::new();
    for (rel, path) in files {
        if rel.ends_with(".jsonnet") {
            return Err(Error::new(
                "Jsonnet files are not supported yet; leave them out with `directory.exclude`",
            )
            .in_file(path));
        }
        let text = fs.read_to_string(&path)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let found = if rel.ends_with(".json") {
            vec![json_object(text).map_err(|e| e.in_file(path.as_str()))?]
        } else {
            yaml_objects(text, &path)?
        };
        flatten_lists(found, &mut objects).map_err(|e| e.in_file(path.as_str()))?;
    }
    Ok(objects)
}

/// Appends `found` to `out`, replacing each list (an object with an `items`
/// array) by its items and dropping empty lists, as Argo CD does with every
/// source's output.
pub(crate) fn flatten_lists(found: Vec<Value>, out: &mut Vec<Value>) -> Result<()> {
    for mut obj in found {
        let is_list = match obj.get("items") {
            Some(Value::Array(_)) => true,
            // Argo CD drops a "null list", one with no items and no body.
            Some(Value::Null) => {
                if obj.get("spec").is_none() && obj.get("status").is_none() {
                    continue;
                }
                false
            }
            _ => false,
        };
        if !is_list {
            out.push(obj);
            continue;
        }
        if let Some(Value::Array(items)) = obj.get_mut("items").map(Value::take) {
            for (i, item) in items.into_iter().enumerate() {
                if !item.is_object() {
                    return Err(
                        Error::new("a list item is not an object").at_field(format!("items[{i}]"))
                    );
                }
                out.push(item);
            }
        }
    }
    Ok(())
}

/// The `include`/`exclude` globs. `None` inside means the pattern did not
/// compile, and then (as in Argo CD) it matches nothing.
struct Filter {
    include: Option<Option<GlobMatcher>>,
    exclude: Option<Option<GlobMatcher>>,
}

impl Filter {
    fn new(opts: &DirectoryOptions) -> Filter {
        let compile = |p: &str| (!p.is_empty()).then(|| compile_glob(p));
        Filter {
            include: compile(&opts.include),
            exclude: compile(&opts.exclude),
        }
    }

    fn wants(&self, rel: &str) -> bool {
        let hit = |m: &Option<GlobMatcher>| m.as_ref().is_some_and(|g| g.is_match(rel));
        if self.exclude.as_ref().is_some_and(hit) {
            return false;
        }
        self.include.as_ref().is_none_or(hit)
    }
}

/// Compiles a glob with Argo CD's meaning: without path separators, where
/// `*` and `**` both match any run of characters, `/` included.
fn compile_glob(pattern: &str) -> Option<GlobMatcher> {
    let glob = GlobBuilder::new(&collapse_stars(pattern))
        .literal_separator(false)
        .backslash_escape(true)
        .empty_alternates(true)
        .build();
    match glob {
        Ok(g) => Some(g.compile_matcher()),
        Err(e) => {
            tracing::warn!("directory glob '{pattern}' does not compile ({e}); it matches nothing");
            None
        }
    }
}

/// Turns every run of unescaped `*` outside a character class into one `*`,
/// since globset gives `**` a directory meaning that Argo CD's globs lack.
fn collapse_stars(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let (mut escaped, mut in_class, mut after_star) = (false, false, false);
    for c in pattern.chars() {
        let free_star = c == '*' && !escaped && !in_class;
        if !(free_star && after_star) {
            out.push(c);
        }
        after_star = free_star;
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '[' {
            in_class = true;
        } else if c == ']' {
            in_class = false;
        }
    }
    out
}

fn is_manifest_name(name: &str) -> bool {
    [".yaml", ".yml", ".json", ".jsonnet"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Collects `(path relative to the source dir, tree path)` of the wanted
/// files below `root/rel`, in walk order.
fn collect(
    fs: &dyn Fs,
    root: &str,
    rel: &str,
    recurse: bool,
    filter: &Filter,
    out: &mut Vec<(String, String)>,
) -> Result<()> {
    let dir = tree_path(root, rel);
    for name in fs.list(&dir)? {
        let child_rel = tree_path(rel, &name);
        let child = tree_path(root, &child_rel);
        if fs.is_dir(&child) {
            if recurse {
                collect(fs, root, &child_rel, recurse, filter, out)?;
            }
        } else if is_manifest_name(&name) && filter.wants(&child_rel) {
            out.push((child_rel, child));
        }
    }
    Ok(())
}

fn tree_path(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// The one object of a `.json` file.
fn json_object(text: &str) -> Result<Value> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let value = match stream.next() {
        None => {
            return Err(Error::new(
                "the file is empty; a .json file must hold one object",
            ));
        }
        Some(Err(e)) => return Err(Error::new(format!("invalid JSON: {e}"))),
        Some(Ok(v)) => v,
    };
    if !text[stream.byte_offset()..].trim().is_empty() {
        return Err(Error::new(
            "the file holds more than one JSON value; a .json file may hold only one object",
        ));
    }
    match object_problem(&value) {
        None => Ok(value),
        Some(problem) => Err(Error::new(format!("not a Kubernetes object: {problem}"))),
    }
}

/// Why a parsed document is not an object Argo CD accepts, if it is not.
fn object_problem(doc: &Value) -> Option<&'static str> {
    match doc {
        Value::Object(map) => match map.get("kind") {
            Some(Value::String(kind)) if !kind.is_empty() => None,
            _ => Some("it has no kind"),
        },
        _ => Some("it is not a map of fields"),
    }
}

/// The objects of a YAML file; see the module doc for which files are
/// ignored and which are errors.
fn yaml_objects(text: &str, file: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    match decode_stream(text, file, &mut objects) {
        Ok(()) => Ok(objects),
        Err(_) if objects.is_empty() && !looks_like_manifest(text) => {
            tracing::debug!("{file}: not a Kubernetes manifest; ignored");
            Ok(Vec::new())
        }
        Err(e) => Err(e.in_file(file)),
    }
}

fn looks_like_manifest(text: &str) -> bool {
    ["apiVersion:", "kind:", "metadata:"]
        .iter()
        .all(|marker| text.contains(marker))
}

/// Decodes the documents of a YAML stream into `objects`, stopping at the
/// first one that fails; those before it stay in `objects`.
///
/// Documents are split on lines that start with `---`, as the Kubernetes
/// YAML reader Argo CD uses splits them, so a broken document does not hide
/// the ones before it.
fn decode_stream(text: &str, file: &str, objects: &mut Vec<Value>) -> Result<()> {
    let (mut start, mut start_line, mut pos) = (0, 0, 0);
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(Error::new(format!(
                    "line {}: only a comment may follow the document separator '---', found '{rest}'",
                    line_no + 1
                )));
            }
            decode_chunk(&text[start..pos], start_line, file, objects)?;
            start = pos + line.len();
            start_line = line_no + 1;
        }
        pos += line.len();
    }
    decode_chunk(&text[start..], start_line, file, objects)
}

/// Decodes one `---`-separated piece that starts on (0-based) `first_line`.
fn decode_chunk(
    chunk: &str,
    first_line: usize,
    file: &str,
    objects: &mut Vec<Value>,
) -> Result<()> {
    if chunk.trim().is_empty() {
        return Ok(());
    }
    let docs = match parse_documents(chunk, file) {
        Ok(docs) => docs,
        // Parse again, shifted to its place in the file, so the error's line
        // number is the file's. Only failures pay for this.
        Err(first) => {
            let shifted = format!("{}{chunk}", "\n".repeat(first_line));
            return Err(parse_documents(&shifted, file).err().unwrap_or(first));
        }
    };
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        if let Some(problem) = object_problem(&doc) {
            return Err(Error::new(format!(
                "the document at line {} is not a Kubernetes object: {problem}",
                first_line + 1
            )));
        }
        objects.push(doc);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ";

    fn cm(name: &str) -> String {
        format!("{CM}{name}\n")
    }

    fn names(objs: &[Value]) -> Vec<&str> {
        objs.iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap_or("?"))
            .collect()
    }

    fn opts(recurse: bool, include: &str, exclude: &str) -> DirectoryOptions {
        DirectoryOptions {
            recurse,
            include: include.into(),
            exclude: exclude.into(),
            jsonnet: None,
        }
    }

    fn tree() -> MemFs {
        let mut fs = MemFs::new();
        fs.add("app/b.yaml", cm("b"))
            .add("app/a.yml", format!("{}---\n{}", cm("a1"), cm("a2")))
            .add(
                "app/c.json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
            )
            .add("app/README.md", "# not a manifest")
            .add("app/sub/d.yaml", cm("d"))
            .add("app/sub/deeper/e.yaml", cm("e"))
            .add("app/z.yaml", cm("z"))
            .add("app/.hidden/h.yaml", cm("h"))
            .add("other/x.yaml", cm("x"));
        fs
    }

    #[test]
    fn reads_yaml_as_argo_cd_does_with_yaml_1_1_booleans() {
        let mut fs = MemFs::new();
        fs.add(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  quoted: \"yes\"\nx-enabled: yes\nx-mode: on\n",
        );
        let objs = render(&fs, "app", &DirectoryOptions::default()).unwrap();
        assert_eq!(objs[0]["x-enabled"], serde_json::json!(true));
        assert_eq!(objs[0]["x-mode"], serde_json::json!(true));
        assert_eq!(objs[0]["data"]["quoted"], serde_json::json!("yes"));
    }

    #[test]
    fn reads_top_level_files_in_walk_order() {
        let objs = render(&tree(), "app", &DirectoryOptions::default()).unwrap();
        assert_eq!(names(&objs), ["a1", "a2", "b", "c", "z"]);
    }

    #[test]
    fn recurse_walks_subdirectories_where_they_sort() {
        let objs = render(&tree(), "app", &opts(true, "", "")).unwrap();
        assert_eq!(names(&objs), ["h", "a1", "a2", "b", "c", "d", "e", "z"]);
    }

    #[test]
    fn include_and_exclude_match_the_relative_path() {
        let fs = tree();
        let only = |include: &str, exclude: &str| {
            let objs = render(&fs, "app", &opts(true, include, exclude)).unwrap();
            names(&objs).join(",")
        };
        // `*` crosses `/`, as in Argo CD.
        assert_eq!(only("*.yaml", ""), "h,b,d,e,z");
        assert_eq!(only("{a.yml,sub/*}", ""), "a1,a2,d,e");
        assert_eq!(only("", "sub/**"), "h,a1,a2,b,c,z");
        assert_eq!(only("**/d.yaml", ""), "d");
        // Exclude wins over include.
        assert_eq!(only("*.yaml", "{z.yaml,.hidden/*}"), "b,d,e");
        // A broken pattern matches nothing.
        assert_eq!(only("{a,{b,c}}", ""), "");
        assert_eq!(only("", "{a,{b,c}}"), "h,a1,a2,b,c,d,e,z");
    }

    #[test]
    fn the_root_directory_works() {
        let mut fs = MemFs::new();
        fs.add("a.yaml", cm("a")).add("sub/b.yaml", cm("b"));
        let objs = render(&fs, "", &opts(true, "", "")).unwrap();
        assert_eq!(names(&objs), ["a", "b"]);
    }

    #[test]
    fn lists_are_flattened_and_empty_documents_skipped() {
        let mut fs = MemFs::new();
        fs.add(
            "l.yaml",
            format!(
                "---\n# just a comment\n---\napiVersion: v1\nkind: List\nitems:\n- {}\n- {}\n---\n\n",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"i1"}}"#,
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"i2"}}"#
            ),
        )
        .add("m.yaml", "apiVersion: v1\nkind: ConfigMapList\nitems: null\n");
        let objs = render(&fs, "", &DirectoryOptions::default()).unwrap();
        assert_eq!(names(&objs), ["i1", "i2"]);
    }

    #[test]
    fn unrelated_yaml_files_are_ignored() {
        let mut fs = MemFs::new();
        fs.add("values.yaml", "replicaCount: 2\nimage:\n  tag: x\n")
            .add("list.yaml", "- a\n- b\n")
            .add("broken-but-unrelated.yaml", "a: [\n")
            .add("ok.yaml", cm("ok"));
        let objs = render(&fs, "", &DirectoryOptions::default()).unwrap();
        assert_eq!(names(&objs), ["ok"]);
    }

    #[test]
    fn documents_without_kind_in_a_manifest_are_errors_naming_the_file() {
        let mut fs = MemFs::new();
        fs.add("dir/a.yaml", format!("{}---\nfoo: bar\n", cm("a")));
        let err = render(&fs, "dir", &DirectoryOptions::default()).unwrap_err();
        assert_eq!(err.file.as_deref(), Some("dir/a.yaml"));
        assert!(err.message.contains("document at line 6"), "{err}");

        let mut fs = MemFs::new();
        fs.add("a.yaml", "apiVersion: v1\nmetadata:\n  labels: {kind: x}\n");
        let err = render(&fs, "", &DirectoryOptions::default()).unwrap_err();
        assert!(err.message.contains("no kind"), "{err}");
        // Without all three markers the same file is taken as unrelated.
        let mut fs = MemFs::new();
        fs.add("a.yaml", "apiVersion: v1\nmetadata:\n  name: x\n");
        assert!(
            render(&fs, "", &DirectoryOptions::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn broken_yaml_in_a_manifest_is_an_error_with_the_file_line() {
        let mut fs = MemFs::new();
        fs.add("a.yaml", format!("{}---\n{CM}[oops\n", cm("a")));
        let err = render(&fs, "", &DirectoryOptions::default()).unwrap_err();
        assert_eq!(err.file.as_deref(), Some("a.yaml"));
        assert!(err.to_string().contains('9'), "{err}");
    }

    #[test]
    fn a_separator_followed_by_content_is_an_error() {
        let mut fs = MemFs::new();
        fs.add("a.yaml", format!("{}--- {{}}\n{}", cm("a"), cm("b")));
        let err = render(&fs, "", &DirectoryOptions::default()).unwrap_err();
        assert!(err.message.contains("line 5"), "{err}");
    }

    #[test]
    fn json_files_hold_exactly_one_object() {
        let bad = [
            ("", "empty"),
            ("{\"kind\": ", "invalid JSON"),
            ("{\"kind\":\"A\"} {\"kind\":\"B\"}", "more than one"),
            ("{\"name\": \"package\"}", "no kind"),
            ("[]", "not a map"),
        ];
        for (text, want) in bad {
            let mut fs = MemFs::new();
            fs.add("x.json", text);
            let err = render(&fs, "", &DirectoryOptions::default()).unwrap_err();
            assert_eq!(err.file.as_deref(), Some("x.json"));
            assert!(err.message.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn jsonnet_files_are_refused_unless_excluded() {
        let mut fs = MemFs::new();
        fs.add("a.jsonnet", "{}").add("b.yaml", cm("b"));
        let err = render(&fs, "", &DirectoryOptions::default()).unwrap_err();
        assert_eq!(err.file.as_deref(), Some("a.jsonnet"));
        let objs = render(&fs, "", &opts(false, "", "*.jsonnet")).unwrap();
        assert_eq!(names(&objs), ["b"]);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let mut fs = MemFs::new();
        fs.add("a.yaml", format!("\u{feff}{}", cm("a")));
        assert_eq!(
            names(&render(&fs, "", &DirectoryOptions::default()).unwrap()),
            ["a"]
        );
    }

    #[test]
    fn collapse_stars_keeps_escapes_and_classes() {
        assert_eq!(collapse_stars("**/a***b"), "*/a*b");
        assert_eq!(collapse_stars(r"\**"), r"\**");
        assert_eq!(collapse_stars("[**]*"), "[**]*");
    }
}
