//! Choosing resources: patch `target`s and replacement `select`/`reject`.
//!
//! Group, version, kind, name and namespace are regular expressions
//! anchored at both ends; a resource's original name and namespace match as
//! well as its current ones (so a patch in an overlay can name the base
//! object before a prefix was added). Label and annotation selectors use
//! the Kubernetes label-selector syntax.

use regex::Regex;

use super::kustomization::Selector;
use super::resource::{ResMap, Resource};
use crate::{Error, Result, Value};

/// A [`Selector`] ready to match.
#[derive(Debug)]
pub struct Compiled {
    group: Option<Pattern>,
    version: Option<Pattern>,
    kind: Option<Pattern>,
    name: Option<Pattern>,
    namespace: Option<Pattern>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

/// An anchored pattern. Most selectors name one object or kind literally;
/// those compare as strings, which saves compiling a regular expression
/// for every patch.
#[derive(Debug)]
enum Pattern {
    Literal(String),
    Regex(Regex),
}

impl Pattern {
    fn is_match(&self, s: &str) -> bool {
        match self {
            Pattern::Literal(l) => l == s,
            Pattern::Regex(re) => re.is_match(s),
        }
    }
}

fn anchored(field: &str, pattern: &str) -> Result<Option<Pattern>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    // Characters that mean themselves in a regular expression.
    let literal = pattern.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | ':' | '@' | '=' | ',' | '~')
    });
    if literal {
        return Ok(Some(Pattern::Literal(pattern.to_string())));
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(|re| Some(Pattern::Regex(re)))
        .map_err(|e| {
            Error::new(format!("invalid regular expression '{pattern}': {e}")).at_field(field)
        })
}

impl Compiled {
    pub fn new(s: &Selector) -> Result<Compiled> {
        Ok(Compiled {
            group: anchored("group", &s.group)?,
            version: anchored("version", &s.version)?,
            kind: anchored("kind", &s.kind)?,
            name: anchored("name", &s.name)?,
            namespace: anchored("namespace", &s.namespace)?,
            labels: parse_label_selector(&s.label_selector)
                .map_err(|e| e.at_field("labelSelector"))?,
            annotations: parse_label_selector(&s.annotation_selector)
                .map_err(|e| e.at_field("annotationSelector"))?,
        })
    }

    /// Runs for every object and every patch, so it borrows rather than
    /// building ids.
    pub fn matches(&self, r: &Resource) -> bool {
        let ok = |re: &Option<Pattern>, a: &str, b: &str| {
            re.as_ref()
                .is_none_or(|re| re.is_match(a) || re.is_match(b))
        };
        let org = r.prev_ids.first();
        let cur_name = r.name();
        let org_name = org.map_or(cur_name, |o| o.name.as_str());
        if !ok(&self.name, org_name, cur_name) {
            return false;
        }
        let api_version = r.str_at(&["apiVersion"]);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = r.kind();
        if !(ok(&self.group, group, group)
            && ok(&self.version, version, version)
            && ok(&self.kind, kind, kind))
        {
            return false;
        }
        if self.namespace.is_some() {
            let cur = r.cur_id();
            let org = org.cloned().unwrap_or_else(|| cur.clone());
            if !ok(
                &self.namespace,
                org.effective_namespace(),
                cur.effective_namespace(),
            ) {
                return false;
            }
        }
        let meta_map = |key: &str| {
            r.obj
                .get("metadata")
                .and_then(|m| m.get(key))
                .and_then(Value::as_object)
        };
        let empty = serde_json::Map::new();
        self.labels
            .iter()
            .all(|q| q.matches(meta_map("labels").unwrap_or(&empty)))
            && self
                .annotations
                .iter()
                .all(|q| q.matches(meta_map("annotations").unwrap_or(&empty)))
    }
}

/// Indices of the resources `s` selects, in build order.
pub fn select(resmap: &ResMap, s: &Selector) -> Result<Vec<usize>> {
    let c = Compiled::new(s)?;
    Ok(resmap
        .iter()
        .enumerate()
        .filter(|(_, r)| c.matches(r))
        .map(|(i, _)| i)
        .collect())
}

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, map: &serde_json::Map<String, Value>) -> bool {
        let get = |k: &str| map.get(k).and_then(Value::as_str);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => map.contains_key(k),
            Requirement::NotExists(k) => !map.contains_key(k),
        }
    }
}

/// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
fn parse_label_selector(s: &str) -> Result<Vec<Requirement>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        // Split off one requirement: up to a comma that is not inside ( ).
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let part = rest[..end].trim();
        rest = rest.get(end + 1..).unwrap_or("").trim();
        out.push(parse_requirement(part)?);
    }
    Ok(out)
}

fn parse_requirement(part: &str) -> Result<Requirement> {
    let bad = || Error::new(format!("invalid selector requirement '{part}'"));
    let set = |key: &str, list: &str| -> Result<(String, Vec<String>)> {
        let list = list.trim();
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(bad)?;
        Ok((
            key.trim().to_string(),
            inner.split(',').map(|v| v.trim().to_string()).collect(),
        ))
    };
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(key.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            k.trim().to_string(),
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Equals(
            k.trim().to_string(),
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Equals(
            k.trim().to_string(),
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = part.split_once(" notin ") {
        let (k, vs) = set(k, v)?;
        return Ok(Requirement::NotIn(k, vs));
    }
    if let Some((k, v)) = part.split_once(" in ") {
        let (k, vs) = set(k, v)?;
        return Ok(Requirement::In(k, vs));
    }
    if part.contains(char::is_whitespace) || part.is_empty() {
        return Err(bad());
    }
    Ok(Requirement::Exists(part.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_requirement_form() {
        let r = parse_label_selector("a=b, c!=d,e in (x, y),f notin (z),g,!h").unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(
            r[2],
            Requirement::In("e".into(), vec!["x".into(), "y".into()])
        );
        assert_eq!(r[5], Requirement::NotExists("h".into()));
    }
}
