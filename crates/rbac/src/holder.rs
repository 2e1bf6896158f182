//! [`Rbac`]: the current policy, kept up to date by the server from the
//! watched `argocd-rbac-cm` and AppProjects, keeping the last good
//! ConfigMap policy when a new one does not parse.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use api::AppProject;

use crate::policy::{Decision, Policy, PolicyError};

/// The effective policy (ConfigMap plus project roles), shared by request
/// handlers. Updates swap it whole; readers never see half of one.
#[derive(Debug, Default)]
pub struct Rbac {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// From the ConfigMap (or built-in only).
    base: Policy,
    projects: Vec<AppProject>,
    /// `base` with the projects' roles.
    effective: Arc<Policy>,
}

impl Rbac {
    /// A holder starting with `base` and no projects.
    pub fn new(base: Policy) -> Rbac {
        let effective = Arc::new(base.clone());
        Rbac {
            state: RwLock::new(State {
                base,
                projects: Vec::new(),
                effective,
            }),
        }
    }

    /// Replaces the ConfigMap part with the policy `data` (the ConfigMap's
    /// `data`; `None` when the ConfigMap is gone: built-in roles only)
    /// describes. On error the previous policy stays in force.
    pub fn set_config_map(
        &self,
        data: Option<&BTreeMap<String, String>>,
    ) -> Result<(), PolicyError> {
        let base = match data {
            Some(data) => Policy::from_config_map(data)?,
            None => Policy::default(),
        };
        let mut state = self.write();
        state.base = base;
        state.rebuild();
        Ok(())
    }

    /// Replaces the projects whose roles apply; returns the role lines left
    /// out because they break Argo CD's rules (for the server to log).
    pub fn set_projects(&self, projects: Vec<AppProject>) -> Vec<PolicyError> {
        let mut state = self.write();
        state.projects = projects;
        state.rebuild()
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.read().effective.clone()
    }

    /// [`Policy::enforce`] on the policy in force.
    pub fn enforce(
        &self,
        subject: &str,
        groups: &[String],
        resource: &str,
        action: &str,
        object: &str,
    ) -> Decision {
        self.policy()
            .enforce(subject, groups, resource, action, object)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-written
        // (updates assign whole values), so a poisoned lock is still good.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn rebuild(&mut self) -> Vec<PolicyError> {
        let (policy, errors) = self.base.with_projects(&self.projects);
        self.effective = Arc::new(policy);
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(csv: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("policy.csv".to_string(), csv.to_string())])
    }

    #[test]
    fn a_bad_config_map_keeps_the_last_good_policy() {
        let rbac = Rbac::default();
        let sync = |rbac: &Rbac| {
            rbac.enforce("alice", &[], "applications", "sync", "a/b")
                .allowed
        };
        assert!(!sync(&rbac));
        rbac.set_config_map(Some(&cm("p, alice, applications, sync, */*, allow")))
            .unwrap();
        assert!(sync(&rbac));
        let err = rbac
            .set_config_map(Some(&cm("p, alice, applications, sync, */*")))
            .unwrap_err();
        assert_eq!(err.line, 1);
        assert!(sync(&rbac), "the last good policy is kept");
        rbac.set_config_map(None).unwrap();
        assert!(
            !sync(&rbac),
            "without the ConfigMap only the built-in roles apply"
        );
        assert!(
            rbac.enforce("admin", &[], "applications", "sync", "a/b")
                .allowed
        );
    }

    #[test]
    fn projects_survive_a_config_map_change() {
        let rbac = Rbac::default();
        let project: AppProject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "p", "namespace": "argocd"},
            "spec": {"roles": [{"name": "ci", "policies": ["p, proj:p:ci, applications, sync, p/*, allow"]}]}
        }))
        .unwrap();
        assert!(rbac.set_projects(vec![project]).is_empty());
        let ci = |rbac: &Rbac| {
            rbac.enforce("proj:p:ci", &[], "applications", "sync", "p/x")
                .allowed
        };
        assert!(ci(&rbac));
        rbac.set_config_map(Some(&cm("g, bob, role:readonly")))
            .unwrap();
        assert!(ci(&rbac));
    }
}
