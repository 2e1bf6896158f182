//! Paths into JSON objects: RFC 6901 JSON pointers, and the reading,
//! removing and writing of values at a path that every ignore rule shares.

use std::fmt;

use serde_json::Value;

/// One step of a [`Path`]: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A concrete location in one JSON value. Displayed as a JSON pointer
/// (`/spec/template/spec/containers/0/image`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<Segment>);

impl Path {
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub(crate) fn child(&self, seg: Segment) -> Path {
        let mut segs = self.0.clone();
        segs.push(seg);
        Path(segs)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for seg in &self.0 {
            match seg {
                Segment::Key(k) => write!(f, "/{}", k.replace('~', "~0").replace('/', "~1"))?,
                Segment::Index(i) => write!(f, "/{i}")?,
            }
        }
        Ok(())
    }
}

/// The reference tokens of an RFC 6901 pointer, unescaped. `None` when the
/// text is not a pointer (it must be empty or start with `/`, and `~` must
/// be followed by `0` or `1`).
pub fn parse_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return None,
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        })
        .collect()
}

/// Resolves pointer tokens against `value`: the concrete path when every
/// step exists (tokens on arrays must be indices), else `None`. Argo CD
/// ignores pointers that do not resolve, and so do we.
pub fn resolve_tokens(value: &Value, tokens: &[String]) -> Option<Path> {
    let mut cur = value;
    let mut segs = Vec::with_capacity(tokens.len());
    for token in tokens {
        match cur {
            Value::Object(map) => {
                cur = map.get(token)?;
                segs.push(Segment::Key(token.clone()));
            }
            Value::Array(items) => {
                // RFC 6901: no leading zeros, no signs.
                if token.len() > 1 && token.starts_with('0') {
                    return None;
                }
                let i: usize = token.parse().ok()?;
                cur = items.get(i)?;
                segs.push(Segment::Index(i));
            }
            _ => return None,
        }
    }
    Some(Path(segs))
}

pub fn get<'a>(value: &'a Value, path: &Path) -> Option<&'a Value> {
    let mut cur = value;
    for seg in &path.0 {
        cur = match (seg, cur) {
            (Segment::Key(k), Value::Object(map)) => map.get(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn get_mut<'a>(value: &'a mut Value, segs: &[Segment]) -> Option<&'a mut Value> {
    let mut cur = value;
    for seg in segs {
        cur = match (seg, cur) {
            (Segment::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes every path (a missing one is skipped). Paths are removed from the
/// last to the first so that removing an array element never shifts the
/// index of another path still to be removed. The empty path (the whole
/// object) is never removed: no rule may make an object vanish.
pub fn remove_all(value: &mut Value, paths: &[Path]) {
    let mut sorted: Vec<&Path> = paths.iter().filter(|p| !p.0.is_empty()).collect();
    sorted.sort();
    sorted.dedup();
    for path in sorted.into_iter().rev() {
        let Some((last, parent)) = path.0.split_last() else {
            continue;
        };
        match (last, get_mut(value, parent)) {
            (Segment::Key(k), Some(Value::Object(map))) => {
                map.remove(k);
            }
            (Segment::Index(i), Some(Value::Array(items))) if *i < items.len() => {
                items.remove(*i);
            }
            _ => {}
        }
    }
}

/// Writes `new` at `path`, creating missing objects and arrays on the way.
/// A final array index inserts (clamped to the end) rather than overwrites:
/// callers restore items they removed before, and the items around them
/// must stay. Returns false, writing nothing, when the path crosses a
/// scalar or a missing array item.
pub fn set(value: &mut Value, path: &Path, new: Value) -> bool {
    let Some((last, parent)) = path.0.split_last() else {
        *value = new;
        return true;
    };
    let mut cur = value;
    for (n, seg) in parent.iter().enumerate() {
        let empty = match path.0[n + 1] {
            Segment::Key(_) => Value::Object(Default::default()),
            Segment::Index(_) => Value::Array(Vec::new()),
        };
        cur = match (seg, cur) {
            (Segment::Key(k), Value::Object(map)) => map.entry(k.clone()).or_insert(empty),
            (Segment::Index(i), Value::Array(items)) if *i <= items.len() => {
                if *i == items.len() {
                    items.push(empty);
                }
                &mut items[*i]
            }
            _ => return false,
        };
    }
    match (last, cur) {
        (Segment::Key(k), Value::Object(map)) => {
            map.insert(k.clone(), new);
            true
        }
        (Segment::Index(i), Value::Array(items)) => {
            items.insert((*i).min(items.len()), new);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_escapes_round_trip() {
        let tokens = parse_pointer("/metadata/annotations/a~1b~0c").unwrap();
        assert_eq!(tokens, ["metadata", "annotations", "a/b~c"]);
        let v = json!({"metadata": {"annotations": {"a/b~c": "x"}}});
        let p = resolve_tokens(&v, &tokens).unwrap();
        assert_eq!(p.to_string(), "/metadata/annotations/a~1b~0c");
        assert_eq!(parse_pointer("spec"), None);
        assert_eq!(parse_pointer("/a~2"), None);
    }

    #[test]
    fn missing_and_malformed_indices_do_not_resolve() {
        let v = json!({"a": [1, 2]});
        let t = |s| parse_pointer(s).unwrap();
        assert!(resolve_tokens(&v, &t("/a/1")).is_some());
        assert!(resolve_tokens(&v, &t("/a/2")).is_none());
        assert!(resolve_tokens(&v, &t("/a/01")).is_none());
        assert!(resolve_tokens(&v, &t("/a/-")).is_none());
        assert!(resolve_tokens(&v, &t("/b/c")).is_none());
    }

    #[test]
    fn remove_all_keeps_indices_valid() {
        let mut v = json!({"a": [0, 1, 2, 3]});
        let p = |i| Path(vec![Segment::Key("a".into()), Segment::Index(i)]);
        remove_all(&mut v, &[p(1), p(3), p(9)]);
        assert_eq!(v, json!({"a": [0, 2]}));
    }

    #[test]
    fn set_creates_parents() {
        let mut v = json!({});
        let p = Path(vec![
            Segment::Key("spec".into()),
            Segment::Key("xs".into()),
            Segment::Index(0),
            Segment::Key("name".into()),
        ]);
        assert!(set(&mut v, &p, json!("n")));
        assert_eq!(v, json!({"spec": {"xs": [{"name": "n"}]}}));
        let xs = |tail: &[Segment]| {
            let mut segs = vec![Segment::Key("spec".into()), Segment::Key("xs".into())];
            segs.extend_from_slice(tail);
            Path(segs)
        };
        // A final index inserts, clamped to the end.
        assert!(set(&mut v, &xs(&[Segment::Index(5)]), json!(1)));
        assert!(set(&mut v, &xs(&[Segment::Index(0)]), json!(0)));
        assert_eq!(v, json!({"spec": {"xs": [0, {"name": "n"}, 1]}}));
        // Through a scalar, or a missing item in the middle: nothing written.
        assert!(!set(
            &mut v,
            &xs(&[Segment::Index(0), Segment::Key("a".into())]),
            json!(1)
        ));
        assert!(!set(
            &mut v,
            &xs(&[Segment::Index(9), Segment::Key("a".into())]),
            json!(1)
        ));
        assert_eq!(v, json!({"spec": {"xs": [0, {"name": "n"}, 1]}}));
    }
}
