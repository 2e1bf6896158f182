//! Client-side apply, as `kubectl apply` (and so Argo CD's default sync)
//! does it: selected with `ServerSideApply=false`.
//!
//! The applied configuration is stored on the object itself, in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (compact
//! JSON, keys sorted, as kubectl writes it), so that the next apply knows
//! what it set before. A missing object is created with that annotation;
//! an existing one is patched with the three-way patch of
//! [`crate::three_way`] from the annotation, the desired object (with the
//! new annotation) and the live object. An empty patch sends nothing.
//!
//! Differences from kubectl: the field manager is `gyro` (kubectl's is
//! `kubectl-client-side-apply`); the patch carries the live object's
//! `resourceVersion`, so a write that lands between the read and the patch
//! makes the server answer 409 and the patch is computed again from a fresh
//! read (kubectl patches without a precondition and may compute its patch
//! against a stale object), up to [`MAX_ATTEMPTS`] times.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams, ValidationDirective};
use serde_json::{Map, Value};

use crate::apply::FIELD_MANAGER;
use crate::three_way::{self, PatchError, ThreeWayPatch};

/// The annotation holding the configuration applied last.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How many times an apply reads and patches before giving up on
/// conflicting writers (kubectl retries 5 times too).
pub const MAX_ATTEMPTS: usize = 5;

/// How an apply request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The server validates and defaults without persisting.
    pub dry_run: bool,
    /// Unknown fields are rejected (`fieldValidation=Strict`); `false`
    /// (`Validate=false`) has the server drop them (`Ignore`).
    pub validate: bool,
}

/// What a client-side apply did (kubectl's `created`, `configured`,
/// `unchanged`).
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Created,
    /// Patched, with the patch sent.
    Configured(ThreeWayPatch),
    Unchanged,
}

/// Why a client-side apply failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{object}: not a Kubernetes object (metadata.name missing or not a map)")]
    NotAnObject { object: String },
    #[error("{object}: the three-way patch cannot be computed: {source}")]
    Patch {
        object: String,
        #[source]
        source: PatchError,
    },
    #[error("{object}: {action} failed: {source}")]
    Api {
        object: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("{object}: the live object cannot be read as JSON: {source}")]
    Live {
        object: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{object}: still conflicting with other writers after {attempts} attempts")]
    Conflict { object: String, attempts: usize },
}

/// Applies `desired` client-side through `api` (the API for its kind and
/// namespace): reads the live object, then creates or patches it.
pub async fn apply(
    api: &Api<DynamicObject>,
    desired: &Value,
    params: Params,
) -> Result<Applied, Error> {
    apply_from(api, desired, None, params).await
}

/// Like [`apply`], with the live object the caller has already read (such
/// as from a cache): the first patch is computed against it, and on a
/// conflict (it was stale) the object is read again.
pub async fn apply_to_live(
    api: &Api<DynamicObject>,
    desired: &Value,
    live: &Value,
    params: Params,
) -> Result<Applied, Error> {
    apply_from(api, desired, Some(live.clone()), params).await
}

async fn apply_from(
    api: &Api<DynamicObject>,
    desired: &Value,
    mut live: Option<Value>,
    params: Params,
) -> Result<Applied, Error> {
    let object = describe(desired);
    let name = desired
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::NotAnObject {
            object: object.clone(),
        })?;
    let modified = with_last_applied(desired).ok_or_else(|| Error::NotAnObject {
        object: object.clone(),
    })?;
    let api_error = |action, source| Error::Api {
        object: object.clone(),
        action,
        source,
    };
    for attempt in 1..=MAX_ATTEMPTS {
        let current = match live.take() {
            Some(live) => Some(live),
            None => api
                .get_opt(name)
                .await
                .map_err(|e| api_error("reading the live object", e))?
                .map(serde_json::to_value)
                .transpose()
                .map_err(|source| Error::Live {
                    object: object.clone(),
                    source,
                })?,
        };
        let (action, result) = match current {
            None => (
                "create",
                create(api, &modified, params)
                    .await
                    .map(|()| Applied::Created),
            ),
            Some(current) => {
                let patch = patch_for(&modified, &current).map_err(|source| Error::Patch {
                    object: object.clone(),
                    source,
                })?;
                if patch.is_empty() {
                    return Ok(Applied::Unchanged);
                }
                let sent = send_patch(api, name, &patch, &current, params).await;
                ("patch", sent.map(|()| Applied::Configured(patch)))
            }
        };
        match result {
            Ok(applied) => return Ok(applied),
            // 409: a stale resourceVersion, or an object created since we
            // looked; read it again and recompute.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(%object, attempt, reason = %e.reason, "client-side apply conflict, retrying");
            }
            Err(e) => return Err(api_error(action, e)),
        }
    }
    Err(Error::Conflict {
        object,
        attempts: MAX_ATTEMPTS,
    })
}

/// The three-way patch from the live object to `modified` (the desired
/// object with its new annotation), deleting what the live object's
/// annotation lists and `modified` does not.
pub fn patch_for(modified: &Value, current: &Value) -> Result<ThreeWayPatch, PatchError> {
    let record = current
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str);
    // An unreadable record counts as absent (kubectl fails instead): it
    // cannot say what to delete, and the apply replaces it.
    let original: Option<Value> = record.and_then(|text| match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(object = %describe(modified), error = %e, "unreadable {LAST_APPLIED} annotation; nothing is deleted this time");
            None
        }
    });
    three_way::patch(
        original.as_ref(),
        modified,
        current,
        render::schema::Schema::builtin(),
    )
}

/// The desired object with the last-applied annotation set to its own
/// configuration, as kubectl's `GetModifiedConfiguration` builds it: the
/// annotation holds the object without that annotation (an object without
/// annotations is recorded with `"annotations":{}`, as kubectl does).
/// `None` when `desired` or its metadata is not a map.
pub fn with_last_applied(desired: &Value) -> Option<Value> {
    let mut record = desired.as_object()?.clone();
    let metadata = record
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(a) = annotations.as_object_mut() {
        a.remove(LAST_APPLIED);
    }
    let text = go_json(&Value::Object(record.clone()));
    let mut modified = record;
    if let Some(a) = modified
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        a.insert(LAST_APPLIED.to_string(), Value::String(text));
    }
    Some(Value::Object(modified))
}

/// JSON as Go's `encoding/json` encoder writes an unstructured object:
/// compact, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped,
/// followed by a newline (the annotation kubectl writes ends with one).
pub fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(value, &mut out);
    out.push('\n');
    out
}

fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(key, out);
                out.push(':');
                write_go_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

/// A number as kubectl records it: integers (including integral floats,
/// which kubectl's YAML reading turns into integers) as integers, other
/// floats in Go's shortest form (exponent only below 1e-6 or from 1e21).
fn go_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        return format!("{}", f as i64);
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        return match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        };
    }
    format!("{f}")
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Creates the object (with its annotation), with the field validation
/// kube's `PostParams` cannot express.
async fn create(api: &Api<DynamicObject>, modified: &Value, params: Params) -> kube::Result<()> {
    let post = PostParams {
        dry_run: params.dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    let body = serde_json::to_vec(modified).map_err(kube::Error::SerdeError)?;
    let mut request = kube::core::Request::new(api.resource_url())
        .create(&post, body)
        .map_err(kube::Error::BuildRequest)?;
    let uri = format!(
        "{}&fieldValidation={}",
        request.uri(),
        if params.validate { "Strict" } else { "Ignore" }
    );
    *request.uri_mut() = uri.parse().map_err(|e| kube::Error::Service(Box::new(e)))?;
    api.clone()
        .into_client()
        .request::<DynamicObject>(request)
        .await
        .map(|_| ())
}

/// Sends the patch, guarded by the live object's resourceVersion.
async fn send_patch(
    api: &Api<DynamicObject>,
    name: &str,
    patch: &ThreeWayPatch,
    current: &Value,
    params: Params,
) -> kube::Result<()> {
    let mut body = patch.body().clone();
    let version = current
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str);
    if let (Some(version), Some(map)) = (version, body.as_object_mut())
        && let Some(meta) = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
    {
        meta.insert(
            "resourceVersion".to_string(),
            Value::String(version.to_string()),
        );
    }
    let mut pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        dry_run: params.dry_run,
        ..PatchParams::default()
    };
    pp.field_validation = Some(if params.validate {
        ValidationDirective::Strict
    } else {
        ValidationDirective::Ignore
    });
    let patch = match patch {
        ThreeWayPatch::Strategic(_) => Patch::Strategic(body),
        ThreeWayPatch::Merge(_) => Patch::Merge(body),
    };
    api.patch(name, &pp, &patch).await.map(|_| ())
}

/// `Kind/namespace/name` of an object, for messages.
fn describe(obj: &Value) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let meta = obj.get("metadata");
    let ns = s(meta.and_then(|m| m.get("namespace")));
    let name = s(meta.and_then(|m| m.get("name")));
    let kind = s(obj.get("kind"));
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_annotation_is_what_kubectl_writes() {
        // kubectl v1.36.3's annotation for this object, byte for byte.
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n"},
            "data": {"html": "<a href=\"x\">&</a>", "n": "line\n"}});
        let modified = with_last_applied(&desired).unwrap();
        assert_eq!(
            modified["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"data\":{\"html\":\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\",\"n\":\"line\\n\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\",\"namespace\":\"n\"}}\n"
        );
    }

    #[test]
    fn an_old_annotation_is_not_recorded_in_the_new_one() {
        let desired = json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {LAST_APPLIED: "{}", "keep": "me"}}});
        let modified = with_last_applied(&desired).unwrap();
        let text = modified["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap();
        assert_eq!(
            text,
            "{\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"keep\":\"me\"},\"name\":\"c\"}}\n"
        );
        assert_eq!(modified["metadata"]["annotations"]["keep"], "me");
    }

    #[test]
    fn numbers_are_written_as_go_writes_them() {
        let cases = [
            (json!(1), "1"),
            (json!(1.0), "1"),
            (json!(1.5), "1.5"),
            (json!(-3), "-3"),
            (json!(1e21), "1e+21"),
            (json!(1.5e-7), "1.5e-7"),
        ];
        for (value, text) in cases {
            assert_eq!(go_json(&value), format!("{text}\n"), "{value}");
        }
    }
}
