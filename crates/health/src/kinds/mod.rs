//! Built-in health checks, one module per kind, as gitops-engine's
//! `health_*.go`. Each module's `health` takes the live object and returns
//! its status; [`builtin_health`] picks the module by API group and kind.
//!
//! Kinds not listed here have no built-in health (`None`): gitops-engine has
//! no generic `status.conditions` rule, so a custom resource gets health only
//! from a custom check (see [`crate::CustomHealthChecks`]).

pub mod apiservice;
pub mod application;
pub mod crd;
pub mod daemonset;
pub mod deployment;
pub mod hpa;
pub mod ingress;
pub mod job;
pub mod pod;
pub mod pvc;
pub mod replicaset;
pub mod service;
pub mod statefulset;
pub mod workflow;

use crate::{HealthError, HealthStatus};
use serde_json::Value;

/// The built-in health of `obj`, or `None` when its kind has none.
pub fn builtin_health(obj: &Value) -> Result<Option<HealthStatus>, HealthError> {
    let check: fn(&Value) -> Result<HealthStatus, HealthError> = match crate::group_kind(obj) {
        ("apps", "Deployment") => deployment::health,
        ("apps", "StatefulSet") => statefulset::health,
        ("apps", "ReplicaSet") => replicaset::health,
        ("apps", "DaemonSet") => daemonset::health,
        ("extensions" | "networking.k8s.io", "Ingress") => ingress::health,
        ("argoproj.io", "Workflow") => workflow::health,
        ("argoproj.io", "Application") => application::health,
        ("apiregistration.k8s.io", "APIService") => apiservice::health,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::health,
        ("", "Service") => service::health,
        ("", "PersistentVolumeClaim") => pvc::health,
        ("", "Pod") => pod::health,
        ("batch", "Job") => job::health,
        ("autoscaling", "HorizontalPodAutoscaler") => hpa::health,
        _ => return Ok(None),
    };
    check(obj).map(Some)
}

/// Fixture support for the per-kind tests: `testdata/<name>` read as YAML.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::{HealthStatus, HealthStatusCode};
    use serde_json::Value;

    pub fn load(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    }

    /// Asserts the built-in health of each fixture (through the public
    /// entry point, so dispatch by group and kind is covered too).
    pub fn check(cases: &[(&str, HealthStatusCode, &str)]) {
        for (name, status, message) in cases {
            let obj = load(name);
            let got = crate::resource_health(&obj, &crate::CustomHealthChecks::default());
            assert_eq!(
                got,
                Some(HealthStatus::new(*status, *message)),
                "fixture {name}"
            );
        }
    }
}
