//! Custom health checks configured as in Argo CD's `argocd-cm` ConfigMap:
//!
//! - one key per check: `resource.customizations.health.<group>_<kind>`
//!   (core kinds: `resource.customizations.health.<kind>`), value the Lua
//!   script;
//! - the older single key `resource.customizations`, a YAML map from
//!   `<group>/<kind>` (or `<kind>` for core kinds) to settings, of which
//!   `health.lua` is the script.
//!
//! Group and kind may contain `*` wildcards (`*.crossplane.io`, `*`). An
//! exact group and kind wins over a wildcard match; per-key entries win over
//! the same group and kind in the YAML form. A custom check replaces the
//! built-in one for its kind.

use crate::lua::{self, Limits, LuaError};
use crate::{HealthStatus, group_kind};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

const HEALTH_PREFIX: &str = "resource.customizations.health.";
const CUSTOMIZATIONS: &str = "resource.customizations";

/// A malformed `argocd-cm` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("argocd-cm key {key}: {reason}")]
    Key { key: String, reason: String },
}

/// One custom check: the group and kind it applies to and its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCheck {
    pub group: String,
    pub kind: String,
    pub script: String,
}

impl CustomCheck {
    /// Runs the check against `obj` with `limits`.
    pub fn run_with(&self, obj: &Value, limits: Limits) -> Result<HealthStatus, LuaError> {
        let name = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        };
        lua::run(&name, &self.script, obj, limits)
    }
}

/// The custom checks in force, with the limits their scripts run under.
#[derive(Debug, Clone, Default)]
pub struct CustomHealthChecks {
    // Keyed by (group, kind) so a later entry for the same pair replaces
    // an earlier one.
    checks: BTreeMap<(String, String), CustomCheck>,
    limits: Limits,
}

#[derive(Deserialize)]
struct Customization {
    #[serde(rename = "health.lua")]
    health_lua: Option<String>,
}

impl CustomHealthChecks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The checks configured in `argocd-cm`'s `data` (other keys are ignored).
    pub fn from_argocd_cm(data: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut checks = Self::new();
        if let Some(yaml) = data.get(CUSTOMIZATIONS) {
            let parsed: BTreeMap<String, Customization> =
                serde_saphyr::from_str(yaml).map_err(|e| ConfigError::Key {
                    key: CUSTOMIZATIONS.to_string(),
                    reason: format!("not a map of <group>/<kind> to settings: {e}"),
                })?;
            for (key, customization) in parsed {
                if let Some(script) = customization.health_lua {
                    let (group, kind) = key.rsplit_once('/').unwrap_or(("", &key));
                    checks.insert(group, kind, script);
                }
            }
        }
        for (key, script) in data {
            let Some(group_kind) = key.strip_prefix(HEALTH_PREFIX) else {
                continue;
            };
            let (group, kind) = group_kind.rsplit_once('_').unwrap_or(("", group_kind));
            if kind.is_empty() {
                return Err(ConfigError::Key {
                    key: key.clone(),
                    reason: "expected resource.customizations.health.<group>_<kind>".into(),
                });
            }
            checks.insert(group, kind, script.clone());
        }
        Ok(checks)
    }

    /// Adds (or replaces) the check for `group`/`kind`.
    pub fn insert(&mut self, group: &str, kind: &str, script: impl Into<String>) -> &mut Self {
        let check = CustomCheck {
            group: group.to_string(),
            kind: kind.to_string(),
            script: script.into(),
        };
        self.checks
            .insert((group.to_string(), kind.to_string()), check);
        self
    }

    /// Sets the limits every script runs under.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// The limits every script runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The check for `group`/`kind`: an exact entry, else the first
    /// wildcard entry that matches (in key order, so the choice is stable).
    pub fn find(&self, group: &str, kind: &str) -> Option<&CustomCheck> {
        self.checks
            .get(&(group.to_string(), kind.to_string()))
            .or_else(|| {
                self.checks
                    .values()
                    .find(|c| glob(&c.group, group) && glob(&c.kind, kind))
            })
    }

    /// Runs the check for `obj`'s group and kind, if there is one.
    pub fn health(&self, obj: &Value) -> Option<Result<HealthStatus, LuaError>> {
        let (group, kind) = group_kind(obj);
        self.find(group, kind).map(|c| c.run_with(obj, self.limits))
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of
/// characters (Argo CD's glob on customization keys).
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all: the prefix must be the whole text.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::fixture;
    use crate::{HealthStatusCode::*, resource_health};
    use serde_json::json;

    fn cert_manager_script() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/lua/cert-manager.io_Certificate.lua");
        std::fs::read_to_string(path).unwrap()
    }

    fn cm(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cert_manager_certificate_check_from_argocd_cm() {
        let script = cert_manager_script();
        let checks = CustomHealthChecks::from_argocd_cm(&cm(&[(
            "resource.customizations.health.cert-manager.io_Certificate",
            &script,
        )]))
        .unwrap();
        for (name, status, message) in [
            (
                "certificate-ready.yaml",
                Healthy,
                "Certificate is up to date and has not expired",
            ),
            (
                "certificate-failed.yaml",
                Degraded,
                "Issuing certificate as Secret does not exist",
            ),
            (
                "certificate-issuing.yaml",
                Progressing,
                "Issuing certificate as Secret was previously issued by Issuer.cert-manager.io/old",
            ),
            (
                "certificate-new.yaml",
                Progressing,
                "Waiting for certificate",
            ),
        ] {
            let obj = fixture::load(name);
            assert_eq!(
                resource_health(&obj, &checks),
                Some(HealthStatus::new(status, message)),
                "{name}"
            );
        }
        // Without the check a Certificate has no health at all.
        let obj = fixture::load("certificate-ready.yaml");
        assert_eq!(resource_health(&obj, &CustomHealthChecks::new()), None);
    }

    #[test]
    fn yaml_form_and_per_key_form_with_per_key_winning() {
        let yaml = r#"
cert-manager.io/Certificate:
  health.lua: |
    return {status = "Suspended", message = "from yaml"}
  ignoreDifferences: |
    jsonPointers: [/spec/duration]
PersistentVolumeClaim:
  health.lua: |
    return {status = "Degraded", message = "core kind from yaml"}
apps/Deployment:
  actions: "{}"
"#;
        let only_yaml =
            CustomHealthChecks::from_argocd_cm(&cm(&[("resource.customizations", yaml)])).unwrap();
        let cert = fixture::load("certificate-ready.yaml");
        assert_eq!(
            resource_health(&cert, &only_yaml),
            Some(HealthStatus::new(Suspended, "from yaml"))
        );
        let pvc = fixture::load("pvc-bound.yaml");
        assert_eq!(
            resource_health(&pvc, &only_yaml),
            Some(HealthStatus::new(Degraded, "core kind from yaml"))
        );
        assert!(only_yaml.find("apps", "Deployment").is_none());

        let both = CustomHealthChecks::from_argocd_cm(&cm(&[
            ("resource.customizations", yaml),
            (
                "resource.customizations.health.cert-manager.io_Certificate",
                &cert_manager_script(),
            ),
            (
                "resource.customizations.health.PersistentVolumeClaim",
                "return {status = 'Missing'}",
            ),
            ("url", "https://argocd.example.com"),
        ]))
        .unwrap();
        assert_eq!(resource_health(&cert, &both).unwrap().status, Healthy);
        assert_eq!(resource_health(&pvc, &both).unwrap().status, Missing);
    }

    #[test]
    fn custom_check_overrides_builtin() {
        let mut checks = CustomHealthChecks::new();
        checks.insert(
            "apps",
            "Deployment",
            r#"
            local hs = {status = "Healthy", message = "custom says fine"}
            if obj.spec.paused then hs.status = "Degraded" end
            return hs
            "#,
        );
        let paused = fixture::load("deployment-paused.yaml");
        assert_eq!(
            resource_health(&paused, &checks),
            Some(HealthStatus::new(Degraded, "custom says fine"))
        );
    }

    #[test]
    fn failing_or_runaway_script_is_unknown_with_the_reason() {
        let mut checks = CustomHealthChecks::new().with_limits(Limits {
            instructions: 100_000,
            ..Limits::default()
        });
        checks.insert("example.com", "Loop", "while true do end");
        checks.insert("example.com", "Broken", "return obj.status.phase");
        let health = resource_health(
            &json!({"apiVersion": "example.com/v1", "kind": "Loop"}),
            &checks,
        )
        .unwrap();
        assert_eq!(
            health,
            HealthStatus::new(
                Unknown,
                "health check for example.com/Loop: stopped after 100000 instructions"
            )
        );
        let health = resource_health(
            &json!({"apiVersion": "example.com/v1", "kind": "Broken"}),
            &checks,
        )
        .unwrap();
        assert_eq!(health.status, Unknown);
        assert!(
            health
                .message
                .contains("attempt to index field 'status' (a nil value)"),
            "{}",
            health.message
        );
    }

    #[test]
    fn wildcards_match_when_no_exact_entry() {
        let checks = CustomHealthChecks::from_argocd_cm(&cm(&[
            (
                "resource.customizations.health.*.crossplane.io_*",
                "return {status = 'Progressing', message = 'any crossplane'}",
            ),
            (
                "resource.customizations.health.ec2.aws.crossplane.io_VPC",
                "return {status = 'Healthy', message = 'vpc'}",
            ),
        ]))
        .unwrap();
        let vpc = json!({"apiVersion": "ec2.aws.crossplane.io/v1beta1", "kind": "VPC"});
        let subnet = json!({"apiVersion": "ec2.aws.crossplane.io/v1beta1", "kind": "Subnet"});
        let other = json!({"apiVersion": "example.com/v1", "kind": "VPC"});
        assert_eq!(resource_health(&vpc, &checks).unwrap().message, "vpc");
        assert_eq!(
            resource_health(&subnet, &checks).unwrap().message,
            "any crossplane"
        );
        assert_eq!(resource_health(&other, &checks), None);
    }

    #[test]
    fn glob_matching() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("*.io", "cert-manager.io"));
        assert!(!glob("*.io", "cert-manager.com"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(!glob("ab*b", "ab"));
        assert!(glob("Deployment", "Deployment"));
        assert!(!glob("Deployment", "Deployments"));
    }

    #[test]
    fn malformed_configuration_names_the_key() {
        let err =
            CustomHealthChecks::from_argocd_cm(&cm(&[("resource.customizations", "- a list")]))
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("argocd-cm key resource.customizations: not a map"),
            "{err}"
        );
        let err = CustomHealthChecks::from_argocd_cm(&cm(&[(
            "resource.customizations.health.example.com_",
            "x",
        )]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "argocd-cm key resource.customizations.health.example.com_: expected resource.customizations.health.<group>_<kind>"
        );
    }
}
