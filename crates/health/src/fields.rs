//! Typed reads of a live object's fields, with errors that name the object
//! and the field. gitops-engine converts an object to its typed Go struct
//! first and reports a failed conversion; reading field by field gives the
//! same outcome (a wrong type is an error, a missing field its zero value)
//! with a more precise message.

use serde_json::Value;

/// A built-in check could not read a field it needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    #[error("{kind} {name}: field {field} is {found}, expected {expected}")]
    FieldType {
        kind: String,
        name: String,
        field: String,
        expected: &'static str,
        found: String,
    },
    #[error("{kind} {name}: field {field}: {reason}")]
    FieldValue {
        kind: String,
        name: String,
        field: String,
        reason: String,
    },
}

/// The object's `metadata.name`, or `""`.
pub(crate) fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `pointer` as a JSON pointer (`/status/replicas`) shown as a dotted path.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn kind(obj: &Value) -> String {
    obj.get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_string()
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

pub(crate) fn type_error(
    obj: &Value,
    field: &str,
    expected: &'static str,
    found: &Value,
) -> HealthError {
    HealthError::FieldType {
        kind: kind(obj),
        name: name(obj).to_string(),
        field: dotted(field),
        expected,
        found: describe(found),
    }
}

/// `field` is shown as given (`status.health.status`).
pub(crate) fn value_error(obj: &Value, field: &str, reason: impl Into<String>) -> HealthError {
    HealthError::FieldValue {
        kind: kind(obj),
        name: name(obj).to_string(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// A field that is absent or `null` counts as unset, like an omitted field
/// in Go.
fn present<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer).filter(|v| !v.is_null())
}

/// An integer field of `obj` (`None` when unset).
pub(crate) fn opt_int(obj: &Value, pointer: &str) -> Result<Option<i64>, HealthError> {
    match present(obj, pointer) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| type_error(obj, pointer, "an integer", v)),
    }
}

/// An integer field of `obj`, 0 when unset.
pub(crate) fn int(obj: &Value, pointer: &str) -> Result<i64, HealthError> {
    Ok(opt_int(obj, pointer)?.unwrap_or(0))
}

/// An integer field of `item` (an element inside `obj`), 0 when unset;
/// errors name `obj`.
pub(crate) fn int_in(obj: &Value, item: &Value, pointer: &str) -> Result<i64, HealthError> {
    match present(item, pointer) {
        None => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| type_error(obj, pointer, "an integer", v)),
    }
}

/// A string field of `obj`, `""` when unset.
pub(crate) fn string<'a>(obj: &'a Value, pointer: &str) -> Result<&'a str, HealthError> {
    str_in(obj, obj, pointer)
}

/// A string field of `item` (an element inside `obj`), `""` when unset;
/// errors name `obj`.
pub(crate) fn str_in<'a>(
    obj: &Value,
    item: &'a Value,
    pointer: &str,
) -> Result<&'a str, HealthError> {
    match present(item, pointer) {
        None => Ok(""),
        Some(v) => v
            .as_str()
            .ok_or_else(|| type_error(obj, pointer, "a string", v)),
    }
}

/// A boolean field of `obj`, false when unset.
pub(crate) fn boolean(obj: &Value, pointer: &str) -> Result<bool, HealthError> {
    match present(obj, pointer) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| type_error(obj, pointer, "a boolean", v)),
    }
}

/// An array field of `obj`, empty when unset.
pub(crate) fn array<'a>(obj: &'a Value, pointer: &str) -> Result<&'a [Value], HealthError> {
    match present(obj, pointer) {
        None => Ok(&[]),
        Some(v) => v
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| type_error(obj, pointer, "an array", v)),
    }
}

/// Whether `obj` has `pointer` set to anything but `null`.
pub(crate) fn is_set(obj: &Value, pointer: &str) -> bool {
    present(obj, pointer).is_some()
}

/// One entry of `status.conditions` (or a similar list).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Condition<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// The conditions listed at `pointer`, in order.
pub(crate) fn conditions<'a>(
    obj: &'a Value,
    pointer: &str,
) -> Result<Vec<Condition<'a>>, HealthError> {
    array(obj, pointer)?
        .iter()
        .map(|c| condition(obj, c))
        .collect()
}

/// One condition object read field by field.
pub(crate) fn condition<'a>(obj: &Value, c: &'a Value) -> Result<Condition<'a>, HealthError> {
    Ok(Condition {
        type_: str_in(obj, c, "/type")?,
        status: str_in(obj, c, "/status")?,
        reason: str_in(obj, c, "/reason")?,
        message: str_in(obj, c, "/message")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_type_names_object_and_field() {
        let obj = json!({"kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": "two"}});
        let err = int(&obj, "/status/replicas").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deployment web: field status.replicas is the string \"two\", expected an integer"
        );
        assert_eq!(int(&obj, "/status/readyReplicas").unwrap(), 0);
        assert_eq!(opt_int(&json!({"a": null}), "/a").unwrap(), None);
    }
}
