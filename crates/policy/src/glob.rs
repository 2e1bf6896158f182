//! Glob matching with the semantics of `github.com/gobwas/glob`, which
//! Argo CD uses for every pattern in an AppProject: `*` matches any run of
//! characters except the separators given, `**` any run at all, `?` one
//! character (not a separator), `[abc]`, `[a-z]` and `[!abc]` one character
//! of (or not of) a set, `{a,b}` one of the alternatives, `\` escapes.
//!
//! A pattern that does not compile (an unclosed `[` or `{`) matches
//! nothing, as Argo CD's `glob.Match` returns false when compiling fails.

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(char),
    /// `*`: anything but a separator.
    Star,
    /// `**`: anything.
    Super,
    /// `?`: one character, not a separator.
    Single,
    /// `[...]`: (negated?) ranges, inclusive.
    Class(bool, Vec<(char, char)>),
    /// `{a,b}`: alternatives.
    Alternatives(Vec<Vec<Node>>),
}

/// Whether `text` matches `pattern`; `separators` are the characters `*`
/// and `?` do not cross (`/` for repository URLs, none elsewhere).
pub fn matches(pattern: &str, text: &str, separators: &[char]) -> bool {
    let chars: Vec<char> = pattern.chars().collect();
    let Some((nodes, rest)) = parse(&chars, false) else {
        return false;
    };
    if !rest.is_empty() {
        return false;
    }
    let text: Vec<char> = text.chars().collect();
    match_nodes(&nodes, &text, separators)
}

/// Argo CD's `globMatch`: `*` alone matches everything, and with
/// `negation` a leading `!` inverts the match.
pub fn argo_match(pattern: &str, text: &str, negation: bool, separators: &[char]) -> bool {
    if negation && let Some(rest) = pattern.strip_prefix('!') {
        return !matches(rest, text, separators);
    }
    pattern == "*" || matches(pattern, text, separators)
}

/// Whether a pattern denies (starts with `!`).
pub fn is_deny(pattern: &str) -> bool {
    pattern.starts_with('!')
}

/// Parses up to the end, or (inside braces) up to an unescaped `,` or
/// `}`, which is left in the returned rest. `None`: malformed.
fn parse(mut p: &[char], in_braces: bool) -> Option<(Vec<Node>, &[char])> {
    let mut nodes = Vec::new();
    while let Some(&c) = p.first() {
        match c {
            ',' | '}' if in_braces => return Some((nodes, p)),
            '\\' => {
                nodes.push(Node::Literal(*p.get(1)?));
                p = &p[2..];
            }
            '*' if p.get(1) == Some(&'*') => {
                nodes.push(Node::Super);
                p = &p[2..];
            }
            '*' => {
                nodes.push(Node::Star);
                p = &p[1..];
            }
            '?' => {
                nodes.push(Node::Single);
                p = &p[1..];
            }
            '[' => {
                let end = p.iter().position(|&c| c == ']')?;
                let mut body = &p[1..end];
                let negated = body.first() == Some(&'!');
                if negated {
                    body = &body[1..];
                }
                let mut ranges = Vec::new();
                let mut i = 0;
                while i < body.len() {
                    if body.get(i + 1) == Some(&'-') && i + 2 < body.len() {
                        ranges.push((body[i], body[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((body[i], body[i]));
                        i += 1;
                    }
                }
                nodes.push(Node::Class(negated, ranges));
                p = &p[end + 1..];
            }
            '{' => {
                let mut alternatives = Vec::new();
                let mut rest = &p[1..];
                loop {
                    let (alt, after) = parse(rest, true)?;
                    alternatives.push(alt);
                    match after.first() {
                        Some(',') => rest = &after[1..],
                        Some('}') => {
                            rest = &after[1..];
                            break;
                        }
                        _ => return None,
                    }
                }
                nodes.push(Node::Alternatives(alternatives));
                p = rest;
            }
            c => {
                nodes.push(Node::Literal(c));
                p = &p[1..];
            }
        }
    }
    if in_braces {
        // An unclosed brace.
        return None;
    }
    Some((nodes, p))
}

fn match_nodes(nodes: &[Node], text: &[char], separators: &[char]) -> bool {
    let Some((node, rest)) = nodes.split_first() else {
        return text.is_empty();
    };
    let one = |ok: bool| ok && !text.is_empty() && match_nodes(rest, &text[1..], separators);
    match node {
        Node::Literal(c) => one(text.first() == Some(c)),
        Node::Single => one(text.first().is_some_and(|c| !separators.contains(c))),
        Node::Class(negated, ranges) => one(text
            .first()
            .is_some_and(|c| ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)),
        Node::Star => {
            for i in 0..=text.len() {
                if match_nodes(rest, &text[i..], separators) {
                    return true;
                }
                if text.get(i).is_none_or(|c| separators.contains(c)) {
                    return false;
                }
            }
            false
        }
        Node::Super => (0..=text.len()).any(|i| match_nodes(rest, &text[i..], separators)),
        Node::Alternatives(alternatives) => alternatives.iter().any(|alt| {
            let mut joined = alt.clone();
            joined.extend_from_slice(rest);
            match_nodes(&joined, text, separators)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_gobwas_does() {
        let cases: &[(&str, &str, &[char], bool)] = &[
            ("*", "anything/at/all", &['/'], false),
            ("*", "anything", &['/'], true),
            (
                "https://github.com/org/*",
                "https://github.com/org/repo",
                &['/'],
                true,
            ),
            (
                "https://github.com/org/*",
                "https://github.com/org/team/repo",
                &['/'],
                false,
            ),
            (
                "https://github.com/org/**",
                "https://github.com/org/team/repo",
                &['/'],
                true,
            ),
            ("team-*", "team-a", &[], true),
            ("team-*", "team-a/b", &[], true),
            ("team-*", "other", &[], false),
            ("te?m", "team", &[], true),
            ("te?m", "tem", &[], false),
            ("a?c", "a/c", &['/'], false),
            ("[ab]-x", "b-x", &[], true),
            ("[ab]-x", "c-x", &[], false),
            ("[!ab]-x", "c-x", &[], true),
            ("[a-c]z", "bz", &[], true),
            ("{prod,staging}-*", "staging-eu", &[], true),
            ("{prod,staging}-*", "dev-eu", &[], false),
            ("{a{b,c},d}", "ac", &[], true),
            ("\\*", "*", &[], true),
            ("\\*", "x", &[], false),
            ("", "", &[], true),
            ("", "x", &[], false),
            ("[unclosed", "[unclosed", &[], false),
            ("{unclosed", "{unclosed", &[], false),
            ("apps", "apps", &[], true),
            ("*.k8s.io", "rbac.authorization.k8s.io", &[], true),
        ];
        for (pattern, text, separators, want) in cases {
            assert_eq!(
                matches(pattern, text, separators),
                *want,
                "{pattern:?} ~ {text:?} (separators {separators:?})"
            );
        }
    }

    #[test]
    fn argo_match_special_cases_star_and_negation() {
        assert!(argo_match("*", "https://a/b/c", false, &['/']));
        assert!(argo_match("!prod", "dev", true, &[]));
        assert!(!argo_match("!prod", "prod", true, &[]));
        assert!(
            !argo_match("!prod", "dev", false, &[]),
            "negation off: a literal !"
        );
        assert!(argo_match("!prod", "!prod", false, &[]));
    }
}
