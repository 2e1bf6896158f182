//! Argo CD's `argocd.argoproj.io/manifest-generate-paths` optimisation: an
//! Application that names the paths its manifests come from is refreshed by
//! a push only when the push changed a file under one of them.

use globset::{GlobBuilder, GlobMatcher};

use crate::Push;

/// The Application annotation listing the paths, `;`-separated.
pub const MANIFEST_GENERATE_PATHS: &str = "argocd.argoproj.io/manifest-generate-paths";

/// The repository paths named by a `manifest-generate-paths` value, as Argo
/// CD reads it: entries are separated by `;`; an absolute entry (`/shared`)
/// is relative to the repository root; a relative one (`.`, `../base`) is
/// relative to each source's `path` (one result per source).
pub fn refresh_paths(annotation: &str, source_paths: &[&str]) -> Vec<String> {
    let mut paths = Vec::new();
    for item in annotation
        .split(';')
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        if item.starts_with('/') {
            paths.push(clean(item));
        } else {
            for source in source_paths {
                paths.push(clean(&format!("/{source}/{item}")));
            }
        }
    }
    paths
}

impl Push {
    /// True when the push changed a file under one of `refresh_paths` (from
    /// [`refresh_paths`]), or may have: with no refresh paths (no
    /// annotation) or no changed files listed (Bitbucket, or too many
    /// commits for the payload) the answer is always yes, as in Argo CD.
    /// A path matches a changed file that equals it, lies under it, or
    /// matches it as a glob (`*` and `?` within one path segment).
    pub fn changes_paths(&self, refresh_paths: &[String]) -> bool {
        if self.changed_files.is_empty() || refresh_paths.is_empty() {
            return true;
        }
        let roots: Vec<(String, Option<GlobMatcher>)> = refresh_paths
            .iter()
            .map(|p| {
                let root = clean(p);
                // Go's filepath.Match: `*` and `?` stop at `/`.
                let glob = GlobBuilder::new(&root)
                    .literal_separator(true)
                    .build()
                    .ok()
                    .map(|g| g.compile_matcher())
                    .filter(|_| root.contains(['*', '?', '[']));
                (root, glob)
            })
            .collect();
        self.changed_files.iter().any(|f| {
            let f = clean(f);
            roots.iter().any(|(root, glob)| {
                f == *root
                    || root == "/"
                    || f.strip_prefix(root.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                    || glob.as_ref().is_some_and(|g| g.is_match(&f))
            })
        })
    }
}

/// `path` as an absolute, lexically cleaned path: no empty or `.` segments,
/// `..` applied (never above the root).
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;

    fn push(files: &[&str]) -> Push {
        let mut p = Push::new(Provider::GitHub, Some("refs/heads/main".into()));
        p.changed_files = files.iter().map(|f| f.to_string()).collect();
        p
    }

    #[test]
    fn annotation_entries_resolve_against_the_root_or_each_source_path() {
        assert_eq!(
            refresh_paths(".; ../base;/shared/", &["apps/guestbook/overlays/prod"]),
            [
                "/apps/guestbook/overlays/prod",
                "/apps/guestbook/overlays/base",
                "/shared"
            ]
        );
        assert_eq!(refresh_paths(".", &["a", "b"]), ["/a", "/b"]);
        assert!(refresh_paths(";;", &["a"]).is_empty());
    }

    #[test]
    fn only_changes_under_a_refresh_path_count() {
        let paths = refresh_paths(".;/shared", &["apps/guestbook"]);
        assert!(push(&["apps/guestbook/deployment.yaml"]).changes_paths(&paths));
        assert!(push(&["README.md", "shared/labels.yaml"]).changes_paths(&paths));
        assert!(!push(&["apps/guestbook2/deployment.yaml"]).changes_paths(&paths));
        assert!(!push(&["README.md", "apps/other/x.yaml"]).changes_paths(&paths));
        // A file named exactly like the path counts.
        assert!(push(&["shared"]).changes_paths(&paths));
    }

    #[test]
    fn globs_match_within_a_segment() {
        let paths = refresh_paths("/charts/*/values.yaml", &["x"]);
        assert!(push(&["charts/redis/values.yaml"]).changes_paths(&paths));
        assert!(!push(&["charts/redis/templates/values.yaml"]).changes_paths(&paths));
    }

    #[test]
    fn unknown_changes_or_no_annotation_always_refresh() {
        assert!(push(&[]).changes_paths(&refresh_paths("/only/here", &["x"])));
        assert!(push(&["anything"]).changes_paths(&[]));
        assert!(push(&["anything"]).changes_paths(&refresh_paths("/", &["x"])));
    }
}
