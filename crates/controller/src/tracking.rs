//! How gyro marks the objects an Application manages and recognises them
//! again: Argo CD's resource tracking methods.
//!
//! - `label` (Argo CD v2's default, gyro's): `app.kubernetes.io/instance:
//!   <instance>`. Cheap to watch (the API server filters by label), but the
//!   label is not unique: Helm charts set it to their release name.
//! - `annotation` (Argo CD v3's default): `argocd.argoproj.io/tracking-id:
//!   <instance>:<group>/<kind>:<namespace>/<name>`. An object copied from
//!   another (same annotation, different identity) is not claimed.
//! - `annotation+label`: the annotation decides, the label is also written
//!   (for tools that select by it).
//!
//! The instance is the Application's name, or `<namespace>_<name>` for an
//! Application outside the controller's namespace (as Argo CD names them).

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

/// The label of label tracking.
pub const TRACKING_LABEL: &str = "app.kubernetes.io/instance";
/// The annotation of annotation tracking.
pub const TRACKING_ID_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";

/// `application.resourceTrackingMethod` in `argocd-cm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackingMethod {
    #[default]
    Label,
    Annotation,
    AnnotationAndLabel,
}

impl FromStr for TrackingMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "label" => Ok(Self::Label),
            "annotation" => Ok(Self::Annotation),
            "annotation+label" => Ok(Self::AnnotationAndLabel),
            other => Err(format!(
                "unknown resource tracking method {other:?} (expected label, annotation or annotation+label)"
            )),
        }
    }
}

impl fmt::Display for TrackingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Label => "label",
            Self::Annotation => "annotation",
            Self::AnnotationAndLabel => "annotation+label",
        })
    }
}

impl TrackingMethod {
    /// The label selector a watch of managed objects can use: only label
    /// tracking lets the API server filter.
    pub fn selector(self) -> Option<&'static str> {
        match self {
            Self::Label => Some(TRACKING_LABEL),
            Self::Annotation | Self::AnnotationAndLabel => None,
        }
    }

    /// Marks `obj` as managed by `instance`.
    pub fn track(self, obj: &mut Value, instance: &str) {
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        if self != Self::Annotation {
            set(obj, "labels", TRACKING_LABEL, instance.to_string());
        }
        if self != Self::Label {
            let id = tracking_id(obj, instance);
            set(obj, "annotations", TRACKING_ID_ANNOTATION, id);
        }
    }

    /// The instance that manages `obj`, if any.
    pub fn instance_of(self, obj: &Value) -> Option<String> {
        let meta = obj.get("metadata")?;
        match self {
            Self::Label => meta
                .get("labels")?
                .get(TRACKING_LABEL)?
                .as_str()
                .map(str::to_string),
            Self::Annotation | Self::AnnotationAndLabel => {
                let id = meta.get("annotations")?.get(TRACKING_ID_ANNOTATION)?;
                let (instance, _) = id.as_str()?.split_once(':')?;
                // Only an annotation that names this very object counts.
                (tracking_id(obj, instance) == id.as_str()?).then(|| instance.to_string())
            }
        }
    }
}

/// The Application instance name Argo CD uses in tracking marks.
pub fn instance_name(app_namespace: &str, app_name: &str, controller_namespace: &str) -> String {
    if app_namespace == controller_namespace || app_namespace.is_empty() {
        app_name.to_string()
    } else {
        format!("{app_namespace}_{app_name}")
    }
}

/// The Application (namespace, name) an instance name stands for: the
/// inverse of [`instance_name`] (namespace names cannot contain `_`).
pub fn application_of(instance: &str, controller_namespace: &str) -> (String, String) {
    match instance.split_once('_') {
        Some((ns, name)) => (ns.to_string(), name.to_string()),
        None => (controller_namespace.to_string(), instance.to_string()),
    }
}

/// `<instance>:<group>/<kind>:<namespace>/<name>`.
fn tracking_id(obj: &Value, instance: &str) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let api_version = s(obj.get("apiVersion"));
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    let meta = obj.get("metadata");
    format!(
        "{instance}:{group}/{}:{}/{}",
        s(obj.get("kind")),
        s(meta.and_then(|m| m.get("namespace"))),
        s(meta.and_then(|m| m.get("name"))),
    )
}

fn set(obj: &mut Value, map: &str, key: &str, value: String) {
    let meta = &mut obj["metadata"];
    if !meta.get(map).is_some_and(Value::is_object) {
        meta[map] = json!({});
    }
    meta[map][key] = Value::String(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(ns: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns, "labels": {"a": "b"}}})
    }

    #[test]
    fn label_tracking_sets_and_reads_the_instance_label() {
        let mut obj = cm("shop");
        TrackingMethod::Label.track(&mut obj, "web");
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"a": "b", TRACKING_LABEL: "web"})
        );
        assert!(obj["metadata"].get("annotations").is_none());
        assert_eq!(
            TrackingMethod::Label.instance_of(&obj).as_deref(),
            Some("web")
        );
        let mut bare = json!({"kind": "ConfigMap"});
        TrackingMethod::Label.track(&mut bare, "web");
        assert_eq!(bare["metadata"]["labels"][TRACKING_LABEL], "web");
    }

    #[test]
    fn annotation_tracking_names_the_object_and_ignores_copies() {
        let mut obj = cm("shop");
        TrackingMethod::Annotation.track(&mut obj, "web");
        assert_eq!(
            obj["metadata"]["annotations"][TRACKING_ID_ANNOTATION],
            "web:/ConfigMap:shop/c"
        );
        assert!(obj["metadata"]["labels"].get(TRACKING_LABEL).is_none());
        assert_eq!(
            TrackingMethod::Annotation.instance_of(&obj).as_deref(),
            Some("web")
        );
        // The same annotation on an object of another name is a copy.
        let mut copy = obj.clone();
        copy["metadata"]["name"] = json!("copy");
        assert_eq!(TrackingMethod::Annotation.instance_of(&copy), None);
        // Label tracking does not read annotations.
        assert_eq!(TrackingMethod::Label.instance_of(&obj), None);

        let mut role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}});
        TrackingMethod::AnnotationAndLabel.track(&mut role, "web");
        assert_eq!(
            role["metadata"]["annotations"][TRACKING_ID_ANNOTATION],
            "web:rbac.authorization.k8s.io/ClusterRole:/r"
        );
        assert_eq!(role["metadata"]["labels"][TRACKING_LABEL], "web");
    }

    #[test]
    fn methods_parse_as_argocd_cm_writes_them() {
        assert_eq!("".parse(), Ok(TrackingMethod::Label));
        assert_eq!("annotation".parse(), Ok(TrackingMethod::Annotation));
        assert_eq!(
            "annotation+label".parse(),
            Ok(TrackingMethod::AnnotationAndLabel)
        );
        assert!(
            "labels"
                .parse::<TrackingMethod>()
                .unwrap_err()
                .contains("labels")
        );
    }

    #[test]
    fn instance_names_round_trip() {
        assert_eq!(instance_name("argocd", "web", "argocd"), "web");
        assert_eq!(instance_name("team-a", "web", "argocd"), "team-a_web");
        assert_eq!(
            application_of("web", "argocd"),
            ("argocd".into(), "web".into())
        );
        assert_eq!(
            application_of("team-a_web", "argocd"),
            ("team-a".into(), "web".into())
        );
    }
}
