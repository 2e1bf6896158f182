//! `syncPolicy.applicationsSync`: which of create, update and delete the
//! controller may do to generated Applications, and the plan that follows
//! from the generated and the existing ones.

use std::collections::BTreeSet;

use api::Application;

/// Argo CD's application sync policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Create missing Applications; never change or delete one.
    CreateOnly,
    /// Create and update; never delete.
    CreateUpdate,
    /// Create and delete; never update.
    CreateDelete,
    /// Create, update and delete (the default).
    #[default]
    Sync,
}

impl Policy {
    /// Reads `applicationsSync`; absent or empty is `sync`.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "sync" => Ok(Self::Sync),
            "create-only" => Ok(Self::CreateOnly),
            "create-update" => Ok(Self::CreateUpdate),
            "create-delete" => Ok(Self::CreateDelete),
            other => Err(format!(
                "unknown policy {other:?} (create-only, create-update, create-delete, sync)"
            )),
        }
    }

    pub fn allows_update(self) -> bool {
        matches!(self, Self::CreateUpdate | Self::Sync)
    }

    pub fn allows_delete(self) -> bool {
        matches!(self, Self::CreateDelete | Self::Sync)
    }
}

/// What to do to bring the owned Applications to the generated ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub create: Vec<Application>,
    pub update: Vec<Application>,
    /// Names of owned Applications no longer generated.
    pub delete: Vec<String>,
    /// Names left as they are because the policy forbids the change.
    pub kept: Vec<String>,
}

/// Plans the writes: `existing` are the names of the Applications the set
/// owns now.
pub fn plan(policy: Policy, desired: Vec<Application>, existing: &BTreeSet<String>) -> Plan {
    let mut out = Plan::default();
    let mut wanted = BTreeSet::new();
    for app in desired {
        let name = app.metadata.name.clone().unwrap_or_default();
        wanted.insert(name.clone());
        if !existing.contains(&name) {
            out.create.push(app);
        } else if policy.allows_update() {
            out.update.push(app);
        } else {
            out.kept.push(name);
        }
    }
    for name in existing.difference(&wanted) {
        if policy.allows_delete() {
            out.delete.push(name.clone());
        } else {
            out.kept.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> Application {
        Application::new(name, Default::default())
    }

    fn names(apps: &[Application]) -> Vec<String> {
        apps.iter()
            .filter_map(|a| a.metadata.name.clone())
            .collect()
    }

    #[test]
    fn each_policy_allows_its_writes() {
        let existing: BTreeSet<String> = ["a".to_string(), "gone".to_string()].into();
        let desired = || vec![app("a"), app("new")];
        let sync = plan(Policy::Sync, desired(), &existing);
        assert_eq!(
            (
                names(&sync.create),
                names(&sync.update),
                sync.delete.clone()
            ),
            (
                vec!["new".into()],
                vec!["a".into()],
                vec!["gone".to_string()]
            )
        );
        let cu = plan(Policy::CreateUpdate, desired(), &existing);
        assert_eq!(
            (cu.delete.len(), cu.update.len(), cu.kept.clone()),
            (0, 1, vec!["gone".to_string()])
        );
        let cd = plan(Policy::CreateDelete, desired(), &existing);
        assert_eq!(
            (cd.update.len(), cd.delete.len(), cd.kept.clone()),
            (0, 1, vec!["a".to_string()])
        );
        let co = plan(Policy::CreateOnly, desired(), &existing);
        assert_eq!(
            (co.create.len(), co.update.len(), co.delete.len()),
            (1, 0, 0)
        );
        assert_eq!(Policy::parse(None), Ok(Policy::Sync));
        assert!(Policy::parse(Some("everything")).is_err());
    }
}
