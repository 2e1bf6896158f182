//! How the resource, action and object fields of a `p` line match a
//! request: Argo CD's `globOrRegexMatch`.

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;

/// `policy.matchMode` of `argocd-rbac-cm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchMode {
    /// Globs in which `*` also matches `/` (`team-a/*` matches
    /// `team-a/ns/app`), `?`, `[...]` and `{a,b}`: Argo CD's default.
    #[default]
    Glob,
    /// Regular expressions, unanchored as Argo CD's `regexMatch`.
    Regex,
}

/// One compiled field of a `p` line.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    text: String,
    matcher: Matcher,
}

#[derive(Clone, Debug)]
enum Matcher {
    Any,
    Exact,
    Glob(GlobMatcher),
    Regex(Regex),
}

impl Pattern {
    /// Compiles `text`; the error says why it is not a valid pattern.
    pub(crate) fn new(text: &str, mode: MatchMode) -> Result<Pattern, String> {
        let matcher = match mode {
            _ if text == "*" => Matcher::Any,
            MatchMode::Glob if !text.contains(['*', '?', '[', '{', '\\']) => Matcher::Exact,
            MatchMode::Glob => Matcher::Glob(
                GlobBuilder::new(text)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| format!("invalid glob {text:?}: {}", e.kind()))?
                    .compile_matcher(),
            ),
            MatchMode::Regex => Matcher::Regex(
                Regex::new(text)
                    .map_err(|e| format!("invalid regular expression {text:?}: {e}"))?,
            ),
        };
        Ok(Pattern {
            text: text.to_string(),
            matcher,
        })
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        match &self.matcher {
            Matcher::Any => true,
            Matcher::Exact => self.text == value,
            Matcher::Glob(glob) => glob.is_match(value),
            Matcher::Regex(re) => re.is_match(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_argo_cd() {
        let cases = [
            ("*", "anything/at/all", true),
            ("*/*", "team-a/guestbook", true),
            ("*/*", "team-a/ns/guestbook", true),
            ("team-a/*", "team-a/guestbook", true),
            ("team-a/*", "team-a/apps-ns/guestbook", true),
            ("team-a/*", "team-b/guestbook", false),
            ("team-a/*", "team-a", false),
            ("team-a/guestbook", "team-a/guestbook", true),
            ("team-a/guestbook", "team-a/guestbook2", false),
            ("*/apps-ns/*", "team-a/apps-ns/guestbook", true),
            ("*/apps-ns/*", "team-a/other/guestbook", false),
            ("team-?/*", "team-b/x", true),
            ("{team-a,team-b}/*", "team-b/x", true),
            ("{team-a,team-b}/*", "team-c/x", false),
            ("action/*", "action/apps/Deployment/restart", true),
            (
                "action/apps/Deployment/*",
                "action/apps/StatefulSet/restart",
                false,
            ),
            ("update/*", "update", false),
            ("update/*", "update/apps/Deployment/default/web", true),
        ];
        for (pattern, value, want) in cases {
            let p = Pattern::new(pattern, MatchMode::Glob).unwrap();
            assert_eq!(p.matches(value), want, "{pattern} ~ {value}");
        }
    }

    #[test]
    fn regexes_match_unanchored_as_argo_cd() {
        let cases = [
            ("^team-(a|b)/.*$", "team-b/x", true),
            ("^team-(a|b)/.*$", "team-c/x", false),
            ("guest", "team-a/guestbook", true),
        ];
        for (pattern, value, want) in cases {
            let p = Pattern::new(pattern, MatchMode::Regex).unwrap();
            assert_eq!(p.matches(value), want, "{pattern} ~ {value}");
        }
    }

    #[test]
    fn bad_patterns_say_why() {
        let err = Pattern::new("team-[a/*", MatchMode::Glob).unwrap_err();
        assert!(err.contains("invalid glob \"team-[a/*\""), "{err}");
        let err = Pattern::new("team-(a", MatchMode::Regex).unwrap_err();
        assert!(err.contains("invalid regular expression"), "{err}");
    }
}
