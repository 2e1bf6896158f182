//! Desired-versus-live comparison for gyro's controller.
//!
//! The question this crate answers is "would applying the desired object
//! change the live one?", without false drift from fields the API server
//! defaults or owns. It does not list those fields: [`predict()`] asks the API
//! server for a server-side-apply dry run of the desired object as field
//! manager `gyro`, which returns what the live object would become, with
//! every default filled in exactly as the server fills it. [`diff()`] then
//! compares that prediction with the live object after [`normalize()`]
//! (status and server-owned metadata dropped) and after the Application's
//! `ignoreDifferences` ([`IgnoreRules`]) are taken out of both sides.
//!
//! - [`diff()`], [`normalize()`], [`IgnoreRules`], [`fieldsv1`], [`path`]: pure,
//!   no I/O; unit-tested beside the code.
//! - [`predict()`], [`fetch_live`]: the only I/O, one discovery lookup and one
//!   request each; tested against the real API server in `tests/`.
//!
//! Not here: reading live objects from a watch cache (the controller's
//! cluster cache does that; [`fetch_live`] is a convenience for the CLI and
//! tests), applying (the sync engine), health.

pub mod compare;
pub mod fieldsv1;
pub mod ignore;
pub mod jq;
pub mod normalize;
pub mod path;
pub mod predict;

use std::fmt;

use serde_json::Value;

pub use compare::{ResourceDiff, diff};
pub use ignore::{IgnoreDifference, IgnoreRules};
pub use normalize::{normalize, normalize_in_place};
pub use predict::{FIELD_MANAGER, fetch_live, predict, predict_as};

/// Errors of rule compilation and of the API calls, each naming the rule
/// or the object concerned (`object` is an [`ObjectRef`] as displayed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{rule}: jsonPointers entry {pointer:?} is not an RFC 6901 JSON pointer (it must be empty or start with '/', and '~' must be followed by 0 or 1)"
    )]
    InvalidPointer { rule: String, pointer: String },
    #[error("{rule}: jqPathExpressions entry {expression:?} does not compile: {message}")]
    InvalidJq {
        rule: String,
        expression: String,
        message: String,
    },
    #[error(
        "desired object has no {field}; every object needs apiVersion, kind and metadata.name: {object}"
    )]
    NotAnObject { field: &'static str, object: String },
    #[error("{object}: the API server does not serve this kind (is its CRD installed?): {source}")]
    Discovery {
        object: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{object}: the kind is namespaced but the object has no metadata.namespace")]
    MissingNamespace { object: String },
    #[error("{object}: server-side apply dry run as field manager {manager:?} failed: {source}")]
    DryRun {
        object: String,
        manager: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{object}: the API server's answer does not serialize back to JSON: {source}")]
    Unserializable {
        object: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{object}: reading the live object failed: {source}")]
    Get {
        object: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// Which object a value is: what ignore rules match on and errors name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    /// API group (`""` for the core group).
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    /// `""` for cluster-scoped objects (or a namespaced one not yet given a
    /// namespace).
    pub namespace: String,
}

impl ObjectRef {
    /// The identity of `obj`, or `None` without `apiVersion` and `kind`.
    pub fn of(obj: &Value) -> Option<ObjectRef> {
        let api_version = obj.get("apiVersion")?.as_str()?;
        let kind = obj.get("kind")?.as_str()?;
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let meta = |f: &str| {
            obj.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(ObjectRef {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            name: meta("name"),
            namespace: meta("namespace"),
        })
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{} ", self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        write!(f, "{}", self.name)
    }
}
