//! Resolving an Application's `targetRevision` against a repository's refs,
//! in the order Argo CD uses. Pure: the refs come from `git ls-remote`.
//!
//! 1. A full commit SHA is taken as it is.
//! 2. An empty revision means `HEAD` (the remote's default branch).
//! 3. A revision that is not itself a version but parses as a semver
//!    constraint (`1.2.*`, `>=1.0.0 <2.0.0`, `~1.2`, `^1.2`, `1.0 - 1.4`,
//!    `a || b`; commas separate terms as spaces do) selects the highest tag
//!    that satisfies it. A tag counts when its name is a version, with an
//!    optional `v` and optional minor and patch parts (`v1.2` is 1.2.0).
//!    Pre-release tags only match constraints that name a pre-release of the
//!    same version (node-semver's rule; Argo CD's Masterminds library is
//!    slightly looser there). When no tag matches, resolution goes on.
//! 4. A ref whose short name (`main`, `v1.0.0`) or full name
//!    (`refs/heads/main`, `refs/pull/1/head`) equals the revision; branches
//!    before tags before other refs. Annotated tags resolve to their commit.
//! 5. Seven or more hex digits are a short SHA, looked up in the mirror.

use nodejs_semver::{Range, Version};

/// One advertised ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Full name: `HEAD`, `refs/heads/main`, `refs/tags/v1.0.0`.
    pub name: String,
    /// The object the ref points at (a tag object for annotated tags).
    pub oid: String,
    /// The commit an annotated tag points at.
    pub peeled: Option<String>,
}

impl RemoteRef {
    /// The commit this ref names.
    pub fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.oid)
    }

    fn short_name(&self) -> &str {
        ["refs/heads/", "refs/tags/", "refs/remotes/", "refs/"]
            .iter()
            .find_map(|p| self.name.strip_prefix(p))
            .unwrap_or(&self.name)
    }
}

/// What `git ls-remote --symref` reported for a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    /// The ref `HEAD` points at (the default branch), e.g. `refs/heads/main`.
    pub head: Option<String>,
    pub refs: Vec<RemoteRef>,
}

impl RemoteRefs {
    /// Parses `git ls-remote --symref` output; `<ref>^{}` lines become the
    /// `peeled` commit of their tag.
    pub fn parse(out: &str) -> Self {
        let mut parsed = RemoteRefs::default();
        for line in out.lines() {
            let Some((left, name)) = line.split_once('\t') else {
                continue;
            };
            if let Some(target) = left.strip_prefix("ref: ") {
                if name == "HEAD" {
                    parsed.head = Some(target.to_string());
                }
            } else if let Some(tag) = name.strip_suffix("^{}") {
                if let Some(r) = parsed.refs.iter_mut().find(|r| r.name == tag) {
                    r.peeled = Some(left.to_string());
                }
            } else {
                parsed.refs.push(RemoteRef {
                    name: name.to_string(),
                    oid: left.to_string(),
                    peeled: None,
                });
            }
        }
        parsed
    }
}

/// How a revision resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A full commit SHA; `via` names the ref it came from, if any.
    Commit { sha: String, via: Option<String> },
    /// Hex digits to look up as an abbreviated commit SHA.
    ShortSha(String),
}

fn is_hex(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_hexdigit())
}

/// A full SHA-1 or SHA-256 object name.
pub fn is_full_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && is_hex(s)
}

/// A tag or revision read as a version the way Argo CD's semver library
/// reads it: an optional `v`, one to three numeric parts, then an optional
/// `-prerelease` and `+build`.
pub fn lenient_version(s: &str) -> Option<Version> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let mut text = (0..3)
        .map(|i| parts.get(i).copied().unwrap_or("0"))
        .collect::<Vec<_>>()
        .join(".");
    if let Some(pre) = pre {
        text.push('-');
        text.push_str(pre);
    }
    if let Some(build) = build {
        text.push('+');
        text.push_str(build);
    }
    Version::parse(&text).ok()
}

/// A revision read as a semver constraint, when it is one and not a plain
/// version (a plain version is a tag name, resolved by name).
pub fn constraint(revision: &str) -> Option<Range> {
    if lenient_version(revision).is_some()
        || !revision.chars().any(|c| c.is_ascii_digit() || c == '*')
    {
        return None;
    }
    Range::parse(revision.replace(',', " ")).ok()
}

/// Resolves `revision` against `refs`; `None` when nothing matches.
pub fn resolve(refs: &RemoteRefs, revision: &str) -> Option<Resolution> {
    let revision = revision.trim();
    if is_full_sha(revision) {
        return Some(Resolution::Commit {
            sha: revision.to_ascii_lowercase(),
            via: None,
        });
    }
    let revision = if revision.is_empty() {
        "HEAD"
    } else {
        revision
    };

    if let Some(range) = constraint(revision) {
        let mut best: Option<(Version, &RemoteRef)> = None;
        for r in refs
            .refs
            .iter()
            .filter(|r| r.name.starts_with("refs/tags/"))
        {
            let Some(v) = lenient_version(r.short_name()) else {
                continue;
            };
            if range.satisfies(&v) && best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, r));
            }
        }
        if let Some((_, r)) = best {
            return Some(commit(r));
        }
    }

    if revision == "HEAD"
        && let Some(r) = refs.refs.iter().find(|r| r.name == "HEAD")
    {
        return Some(Resolution::Commit {
            sha: r.commit().to_string(),
            via: refs.head.clone().or_else(|| Some("HEAD".into())),
        });
    }
    let rank = |r: &RemoteRef| match r.name.as_str() {
        n if n.starts_with("refs/heads/") => 0,
        n if n.starts_with("refs/tags/") => 1,
        _ => 2,
    };
    let found = refs
        .refs
        .iter()
        .filter(|r| r.name != "HEAD" && (r.name == revision || r.short_name() == revision))
        .min_by_key(|r| rank(r));
    if let Some(r) = found {
        return Some(commit(r));
    }
    (revision.len() >= 7 && is_hex(revision))
        .then(|| Resolution::ShortSha(revision.to_ascii_lowercase()))
}

fn commit(r: &RemoteRef) -> Resolution {
    Resolution::Commit {
        sha: r.commit().to_string(),
        via: Some(r.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const T: &str = "3333333333333333333333333333333333333333";

    fn refs(tags: &[(&str, &str)]) -> RemoteRefs {
        let mut out = format!(
            "ref: refs/heads/main\tHEAD\n{A}\tHEAD\n{B}\trefs/heads/dev\n{A}\trefs/heads/main\n"
        );
        for (tag, sha) in tags {
            out.push_str(&format!(
                "{T}\trefs/tags/{tag}\n{sha}\trefs/tags/{tag}^{{}}\n"
            ));
        }
        RemoteRefs::parse(&out)
    }

    fn sha(r: Option<Resolution>) -> String {
        match r {
            Some(Resolution::Commit { sha, .. }) => sha,
            other => panic!("expected a commit, got {other:?}"),
        }
    }

    #[test]
    fn parses_symref_and_peeled_tags() {
        let r = refs(&[("v1.0.0", B)]);
        assert_eq!(r.head.as_deref(), Some("refs/heads/main"));
        let tag = r
            .refs
            .iter()
            .find(|r| r.name == "refs/tags/v1.0.0")
            .unwrap();
        assert_eq!(tag.oid, T);
        assert_eq!(tag.commit(), B);
    }

    #[test]
    fn head_empty_branch_tag_and_full_ref() {
        let r = refs(&[("v1.0.0", B)]);
        assert_eq!(
            resolve(&r, ""),
            Some(Resolution::Commit {
                sha: A.into(),
                via: Some("refs/heads/main".into())
            })
        );
        assert_eq!(sha(resolve(&r, "HEAD")), A);
        assert_eq!(sha(resolve(&r, "dev")), B);
        assert_eq!(sha(resolve(&r, "refs/heads/dev")), B);
        assert_eq!(
            sha(resolve(&r, "v1.0.0")),
            B,
            "annotated tags resolve to their commit"
        );
        assert_eq!(sha(resolve(&r, &B.to_uppercase())), B);
        assert_eq!(resolve(&r, "missing"), None);
        assert_eq!(
            resolve(&r, "abcdef0"),
            Some(Resolution::ShortSha("abcdef0".into()))
        );
        assert_eq!(resolve(&r, "abcdef"), None, "six digits are not a SHA");
    }

    #[test]
    fn branch_wins_over_tag_of_the_same_name() {
        let mut r = refs(&[("dev", A)]);
        r.refs.reverse();
        assert_eq!(sha(resolve(&r, "dev")), B);
    }

    #[test]
    fn semver_constraints_pick_the_highest_matching_tag() {
        let c = |n: u8| format!("{n}").repeat(40);
        let (c1, c2, c3, c4, c5, c6) = (c(1), c(2), c(3), c(4), c(5), c(6));
        let r = refs(&[
            ("v1.0.0", &c1),
            ("v1.2.0", &c2),
            ("1.2.7", &c3),
            ("v1.3", &c4),
            ("v2.0.0-rc.1", &c5),
            ("v2.1.0", &c6),
            ("release-9", &c1),
        ]);
        assert_eq!(sha(resolve(&r, "1.2.*")), c3);
        assert_eq!(sha(resolve(&r, "~1.2")), c3);
        assert_eq!(sha(resolve(&r, "^1.2")), c4, "v1.3 counts as 1.3.0");
        assert_eq!(sha(resolve(&r, ">=1.0.0 <2.0.0")), c4);
        assert_eq!(sha(resolve(&r, ">=1.0.0, <1.2.5")), c2);
        assert_eq!(sha(resolve(&r, "*")), c6, "pre-releases are skipped");
        assert_eq!(sha(resolve(&r, ">=2.0.0-rc.0 <2.0.1")), c5);
        assert_eq!(sha(resolve(&r, "1.0.0 || 2.1.0")), c6);
        assert_eq!(resolve(&r, "^3"), None);
        // A plain version is a tag name, not a constraint.
        assert_eq!(sha(resolve(&r, "v1.0.0")), c1);
        assert_eq!(resolve(&r, "1.0.0"), None);
    }

    #[test]
    fn lenient_versions() {
        assert_eq!(
            lenient_version("v1.2").map(|v| v.to_string()).as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            lenient_version("3").map(|v| v.to_string()).as_deref(),
            Some("3.0.0")
        );
        assert!(lenient_version("v1.2.3-rc.1+b5").is_some());
        assert!(lenient_version("release-1").is_none());
        assert!(lenient_version("1.2.3.4").is_none());
        assert!(constraint("main").is_none());
        assert!(constraint("1.2.3").is_none());
    }
}
