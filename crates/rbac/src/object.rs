//! How requests name their object and how a denial reads, as Argo CD.

/// The RBAC object of an Application (or ApplicationSet): `<project>/<name>`
/// in the control plane namespace, `<project>/<namespace>/<name>` in any
/// other (Argo CD's `RBACName`).
pub fn app_object(project: &str, namespace: &str, name: &str, control_plane: &str) -> String {
    if namespace.is_empty() || namespace == control_plane {
        format!("{project}/{name}")
    } else {
        format!("{project}/{namespace}/{name}")
    }
}

/// Argo CD's message for a denied request:
/// `permission denied: applications, sync, team-a/guestbook, sub: alice`.
pub fn permission_denied(resource: &str, action: &str, object: &str, subject: &str) -> String {
    format!("permission denied: {resource}, {action}, {object}, sub: {subject}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_objects_carry_the_namespace_outside_the_control_plane() {
        let cases = [
            ("team-a", "argocd", "web", "team-a/web"),
            ("team-a", "", "web", "team-a/web"),
            ("team-a", "apps", "web", "team-a/apps/web"),
        ];
        for (project, namespace, name, want) in cases {
            assert_eq!(app_object(project, namespace, name, "argocd"), want);
        }
    }

    #[test]
    fn denials_read_as_argo_cd() {
        assert_eq!(
            permission_denied("applications", "sync", "team-a/guestbook", "alice"),
            "permission denied: applications, sync, team-a/guestbook, sub: alice"
        );
    }
}
