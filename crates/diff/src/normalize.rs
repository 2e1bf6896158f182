//! Normalization: dropping what the API server owns, so that the predicted
//! and the live object compare equal when nothing but the server touched
//! them.
//!
//! This is deliberately short. Defaulted fields (`dnsPolicy`, a Service's
//! `clusterIP`, `ports[].protocol`, ...) are not listed here: the
//! server-side-apply dry run puts them into the predicted object exactly as
//! they are in the live one, so they never differ.

use serde_json::Value;

/// `metadata` fields the API server writes on every object and no manifest
/// sets: they differ between a dry run and the stored object, or are
/// bookkeeping, never desired state.
pub const SERVER_OWNED_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
];

/// Drops `status` and [`SERVER_OWNED_METADATA`], and empty `metadata` maps
/// (`annotations: {}` and an absent `annotations` mean the same).
pub fn normalize(obj: &Value) -> Value {
    let mut out = obj.clone();
    normalize_in_place(&mut out);
    out
}

/// [`normalize`] without the copy.
pub fn normalize_in_place(obj: &mut Value) {
    let Value::Object(map) = obj else {
        return;
    };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for field in SERVER_OWNED_METADATA {
            meta.remove(*field);
        }
        meta.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_server_owned_fields_and_status() {
        let live = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "c",
                "namespace": "n",
                "uid": "1",
                "resourceVersion": "2",
                "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "gyro"}],
                "annotations": {},
                "labels": {"a": "b"}
            },
            "data": {"k": "v"},
            "status": {"phase": "x"}
        });
        assert_eq!(
            normalize(&live),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "n", "labels": {"a": "b"}},
                "data": {"k": "v"}
            })
        );
    }

    #[test]
    fn keeps_desired_state_in_metadata_and_spec() {
        let obj = json!({"metadata": {"name": "x", "finalizers": ["f"]}, "spec": {"status": 1}});
        assert_eq!(normalize(&obj), obj);
    }
}
