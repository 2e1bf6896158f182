//! jq path expressions (`jqPathExpressions`), compiled once with jaq and
//! evaluated to the concrete paths they select.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data::JustLut};
use jaq_json::Val;
use serde_json::Value;

use crate::path::{Path, Segment};

type Filter = jaq_core::Filter<JustLut<Val>>;

/// Paths selected by one expression beyond this count are an error, so an
/// expression that generates without end (`repeat(.)`) cannot hang a
/// refresh. No real object has this many fields.
const MAX_PATHS: usize = 100_000;

/// One compiled `jqPathExpressions` entry.
pub struct JqPath {
    source: String,
    filter: Filter,
}

impl std::fmt::Debug for JqPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JqPath").field(&self.source).finish()
    }
}

impl JqPath {
    /// Compiles `expr` (gojq syntax as Argo CD accepts it; jaq implements
    /// the same language for path expressions). The error text is jaq's.
    pub fn compile(expr: &str) -> Result<JqPath, String> {
        // `path(f)` turns the expression into the paths it selects, which
        // both ignoring (remove them) and RespectIgnoreDifferences (copy
        // them from live) need.
        let code = format!("path({expr})");
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(
                &arena,
                File {
                    code: code.as_str(),
                    path: (),
                },
            )
            .map_err(|errs| {
                errs.into_iter()
                    .map(|(_, e)| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                errs.into_iter()
                    .flat_map(|(_, es)| es.into_iter().map(|(name, _)| format!("undefined {name}")))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        Ok(JqPath {
            source: expr.to_string(),
            filter,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The paths the expression selects in `value`. A runtime error (such
    /// as iterating over a missing field) selects nothing, as a failing
    /// `del(...)` changes nothing in Argo CD.
    pub fn paths(&self, value: &Value) -> Result<Vec<Path>, String> {
        let input: Val = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        let ctx = Ctx::<JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for item in self.filter.id.run((ctx, input)) {
            if out.len() >= MAX_PATHS {
                return Err(format!("selects more than {MAX_PATHS} paths"));
            }
            let path = item.map_err(|e| format!("{e:?}"))?;
            out.push(to_path(&path).ok_or_else(|| format!("path(...) gave a non-path {path}"))?);
        }
        Ok(out)
    }
}

fn to_path(v: &Val) -> Option<Path> {
    let Val::Arr(items) = v else {
        return None;
    };
    items
        .iter()
        .map(|seg| match seg {
            Val::TStr(b) | Val::BStr(b) => {
                Some(Segment::Key(String::from_utf8_lossy(b).into_owned()))
            }
            Val::Num(n) => n
                .as_isize()
                .and_then(|i| usize::try_from(i).ok())
                .map(Segment::Index),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strs(paths: Vec<Path>) -> Vec<String> {
        paths.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn selects_list_items_by_field() {
        let jq = JqPath::compile(
            r#".spec.template.spec.initContainers[] | select(.name == "injected")"#,
        )
        .unwrap();
        let v = json!({"spec": {"template": {"spec": {"initContainers": [
            {"name": "app-init"}, {"name": "injected"}
        ]}}}});
        assert_eq!(
            strs(jq.paths(&v).unwrap()),
            ["/spec/template/spec/initContainers/1"]
        );
    }

    #[test]
    fn runtime_errors_and_missing_fields() {
        let jq = JqPath::compile(".spec.a[]").unwrap();
        // Iterating over null is an error in jq.
        assert!(jq.paths(&json!({})).is_err());
        let missing = JqPath::compile(".metadata.labels.x").unwrap();
        // A missing key still has a path (jq yields it); removing it is a no-op.
        assert_eq!(
            strs(missing.paths(&json!({})).unwrap()),
            ["/metadata/labels/x"]
        );
    }

    #[test]
    fn std_functions_are_available() {
        // `to_entries` builds new values, so it is not a path expression:
        // it compiles, and fails (selects nothing) when run, as in jq.
        let jq =
            JqPath::compile(r#".data | to_entries[] | select(.key | startswith("x"))"#).unwrap();
        assert!(jq.paths(&json!({"data": {"xa": "1"}})).is_err());
        let keys = JqPath::compile(r#".data | .[keys[] | select(startswith("x"))]"#).unwrap();
        assert_eq!(
            strs(keys.paths(&json!({"data": {"xa": "1", "b": "2"}})).unwrap()),
            ["/data/xa"]
        );
    }

    #[test]
    fn regex_test_selects_like_gojq() {
        let jq =
            JqPath::compile(r#".spec.containers[] | select(.name | test("^istio-"))"#).unwrap();
        let v = json!({"spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}, {"name": "istio-init"}]}});
        assert_eq!(
            strs(jq.paths(&v).unwrap()),
            ["/spec/containers/1", "/spec/containers/2"]
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(JqPath::compile(".spec[").is_err());
        assert!(JqPath::compile("nosuchfn").is_err());
    }

    #[test]
    fn compiled_paths_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<JqPath>();
    }
}
