//! JSON 6902 patches with the semantics `kustomize build` gives them.
//!
//! kustomize applies JSON patches with a Go library whose rules are looser
//! than RFC 6902 in a few places that real repositories rely on, so gyro
//! follows that library rather than the RFC (the `json-patch` crate is
//! strict, which would reject patches kustomize accepts):
//! - `replace` of a missing object key adds it;
//! - negative array indices count from the end (`-1` is the last element);
//! - `test` of a missing key passes when the operation has no `value`;
//! - `copy` from a missing object key copies `null`.

use crate::{Error, Result, Value};

/// One operation of a patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: String,
    pub path: String,
    pub from: Option<String>,
    /// `None` when the operation has no `value` member at all.
    pub value: Option<Value>,
}

/// Reads a patch from its JSON value: a list of operation objects.
pub fn parse(value: &Value) -> Result<Vec<Operation>> {
    let Value::Array(items) = value else {
        return Err(Error::new("a JSON 6902 patch must be a list of operations"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |f: &str| format!("[{i}].{f}");
            let Value::Object(m) = item else {
                return Err(Error::new("operation must be a map").at_field(format!("[{i}]")));
            };
            let op = m
                .get("op")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::new("operation has no 'op'").at_field(field("op")))?;
            let path = match m.get("path") {
                Some(Value::String(p)) => p.clone(),
                _ => return Err(Error::new("operation has no 'path'").at_field(field("path"))),
            };
            Ok(Operation {
                op: op.to_string(),
                path,
                from: m.get("from").and_then(Value::as_str).map(str::to_string),
                value: m.get("value").cloned(),
            })
        })
        .collect()
}

/// Applies every operation in order; the first failure stops the patch.
pub fn apply(doc: &mut Value, ops: &[Operation]) -> Result<()> {
    for (i, op) in ops.iter().enumerate() {
        apply_one(doc, op).map_err(|e| {
            Error::new(format!(
                "{} operation on path '{}': {}",
                op.op, op.path, e.message
            ))
            .at_field(format!("[{i}]"))
        })?;
    }
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Operation) -> Result<()> {
    let value = || op.value.clone().unwrap_or(Value::Null);
    match op.op.as_str() {
        "add" => add(doc, &op.path, value()),
        "remove" => remove(doc, &op.path).map(|_| ()),
        "replace" => {
            if op.path.is_empty() {
                let v = value();
                if !v.is_object() && !v.is_array() {
                    return Err(Error::new(
                        "value must be an object or array to replace the document",
                    ));
                }
                *doc = v;
                return Ok(());
            }
            let (parent, key) = find_parent(doc, &op.path)?;
            match parent {
                Value::Object(m) => {
                    m.insert(key, value());
                    Ok(())
                }
                Value::Array(a) => {
                    let idx = index(&key, a.len(), false)?;
                    a[idx] = value();
                    Ok(())
                }
                _ => Err(missing()),
            }
        }
        "move" => {
            let from = op
                .from
                .as_deref()
                .ok_or_else(|| Error::new("move needs 'from'"))?;
            let v = remove(doc, from)?;
            add(doc, &op.path, v)
        }
        "copy" => {
            let from = op
                .from
                .as_deref()
                .ok_or_else(|| Error::new("copy needs 'from'"))?;
            let v = get(doc, from)?.cloned().unwrap_or(Value::Null);
            add(doc, &op.path, v)
        }
        "test" => {
            let found = if op.path.is_empty() {
                Some(&*doc)
            } else {
                get(doc, &op.path)?
            };
            let ok = match (found, &op.value) {
                (None | Some(Value::Null), None) => true,
                (Some(v), Some(want)) => v == want,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(Error::new("test failed: the value differs"))
            }
        }
        other => Err(Error::new(format!("unknown operation '{other}'"))),
    }
}

fn missing() -> Error {
    Error::new("the document is missing the path")
}

/// Splits a JSON pointer into unescaped tokens.
fn tokens(path: &str) -> Result<Vec<String>> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Error::new("a JSON pointer must start with '/'"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// An array index as the Go library reads it: decimal, negative counts
/// from the end; `for_add` allows one past the end.
fn index(key: &str, len: usize, for_add: bool) -> Result<usize> {
    let i: i64 = key
        .parse()
        .map_err(|_| Error::new(format!("'{key}' is not an array index")))?;
    let len_i = len as i64;
    let limit = if for_add { len_i + 1 } else { len_i };
    let idx = if i < 0 { i + limit } else { i };
    if idx < 0 || idx >= limit {
        return Err(Error::new(format!(
            "invalid index {i} (array has {len} elements)"
        )));
    }
    Ok(idx as usize)
}

/// The container holding the pointer's last token, and that token.
fn find_parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String)> {
    let mut toks = tokens(path)?;
    let last = toks.pop().unwrap_or_default();
    let mut cur = doc;
    for t in &toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t.as_str()).ok_or_else(missing)?,
            Value::Array(a) => {
                let i = index(t, a.len(), false).map_err(|_| missing())?;
                &mut a[i]
            }
            _ => return Err(missing()),
        };
    }
    if !cur.is_object() && !cur.is_array() {
        return Err(missing());
    }
    Ok((cur, last))
}

fn get<'a>(doc: &'a mut Value, path: &str) -> Result<Option<&'a Value>> {
    let (parent, key) = find_parent(doc, path)?;
    match parent {
        Value::Object(m) => Ok(m.get(&key)),
        Value::Array(a) => {
            let i = index(&key, a.len(), false)?;
            Ok(Some(&a[i]))
        }
        _ => Err(missing()),
    }
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<()> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, key) = find_parent(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(key, value);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(value);
            } else {
                let i = index(&key, a.len(), true)?;
                a.insert(i, value);
            }
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value> {
    let (parent, key) = find_parent(doc, path)?;
    match parent {
        Value::Object(m) => m
            .remove(&key)
            .ok_or_else(|| Error::new(format!("cannot remove missing key '{key}'"))),
        Value::Array(a) => {
            let i = index(&key, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, ops: Value) -> Result<Value> {
        let mut doc = doc;
        apply(&mut doc, &parse(&ops)?)?;
        Ok(doc)
    }

    #[test]
    fn replace_of_a_missing_key_adds_it() {
        let out = run(
            json!({"a": 1}),
            json!([{"op": "replace", "path": "/b", "value": 2}]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": 1, "b": 2}));
    }

    #[test]
    fn negative_indices_count_from_the_end() {
        let out = run(
            json!({"l": [1, 2, 3]}),
            json!([{"op": "remove", "path": "/l/-1"}]),
        )
        .unwrap();
        assert_eq!(out, json!({"l": [1, 2]}));
    }

    #[test]
    fn add_inserts_and_dash_appends() {
        let out = run(
            json!({"l": [1, 3]}),
            json!([{"op": "add", "path": "/l/1", "value": 2}, {"op": "add", "path": "/l/-", "value": 4}]),
        )
        .unwrap();
        assert_eq!(out, json!({"l": [1, 2, 3, 4]}));
    }

    #[test]
    fn failures_name_the_operation() {
        let err = run(json!({"l": [1]}), json!([{"op": "remove", "path": "/l/5"}])).unwrap_err();
        assert!(
            err.to_string().contains("remove operation on path '/l/5'"),
            "{err}"
        );
        let err = run(
            json!({}),
            json!([{"op": "add", "path": "/a/b", "value": 1}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing the path"), "{err}");
        assert!(
            run(
                json!({"a": 1}),
                json!([{"op": "test", "path": "/a", "value": 2}])
            )
            .is_err()
        );
    }

    #[test]
    fn move_and_copy() {
        let out = run(
            json!({"a": {"x": 1}, "b": {}}),
            json!([{"op": "copy", "from": "/a/x", "path": "/b/y"}, {"op": "move", "from": "/a/x", "path": "/b/x"}]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": {}, "b": {"x": 1, "y": 1}}));
    }
}
