//! Project role tokens: recorded in the AppProject, in
//! `spec.roles[].jwtTokens` and `status.jwtTokensByRole`, as Argo CD
//! does; a token no longer listed there is revoked.

use api::{AppProject, JwtToken};

use crate::AuthError;

/// Every token recorded for `role` (spec and status; Argo CD keeps both).
pub fn tokens_of(project: &AppProject, role: &str) -> Vec<JwtToken> {
    let mut tokens: Vec<JwtToken> = project
        .spec
        .roles
        .iter()
        .flatten()
        .filter(|r| r.name == role)
        .flat_map(|r| r.jwt_tokens.iter().flatten().cloned())
        .collect();
    if let Some(status) = &project.status
        && let Some(by_role) = &status.jwt_tokens_by_role
        && let Some(listed) = by_role.get(role)
    {
        tokens.extend(listed.items.iter().flatten().cloned());
    }
    tokens
}

/// Whether a token with `id` issued at `iat` is listed for `role`.
/// Argo CD matches on the id when the token has one, else on `iat`.
pub fn is_listed(project: &AppProject, role: &str, id: &str, iat: i64) -> bool {
    tokens_of(project, role).iter().any(|t| match &t.id {
        Some(listed) if !listed.is_empty() => listed == id,
        _ => t.iat == iat,
    })
}

fn project_name(project: &AppProject) -> &str {
    project.metadata.name.as_deref().unwrap_or("")
}

/// Records `token` for `role` in spec and status.
pub fn add_token(project: &mut AppProject, role: &str, token: JwtToken) -> Result<(), AuthError> {
    let name = project_name(project).to_string();
    let existing = tokens_of(project, role);
    if let Some(id) = &token.id
        && existing.iter().any(|t| t.id.as_ref() == Some(id))
    {
        return Err(AuthError::Conflict(format!(
            "project {name} role {role} already has a token with id {id:?}"
        )));
    }
    if existing.iter().any(|t| t.iat == token.iat) {
        return Err(AuthError::Conflict(format!(
            "project {name} role {role} already has a token issued at {}; try again in a second",
            token.iat
        )));
    }
    let spec_role = project
        .spec
        .roles
        .iter_mut()
        .flatten()
        .find(|r| r.name == role)
        .ok_or_else(|| AuthError::NotFound(format!("project {name} has no role {role:?}")))?;
    spec_role
        .jwt_tokens
        .get_or_insert_with(Vec::new)
        .push(token.clone());
    project
        .status
        .get_or_insert_with(Default::default)
        .jwt_tokens_by_role
        .get_or_insert_with(Default::default)
        .entry(role.to_string())
        .or_default()
        .items
        .get_or_insert_with(Vec::new)
        .push(token);
    Ok(())
}

/// Removes `role`'s token issued at `iat` from spec and status.
pub fn remove_token(project: &mut AppProject, role: &str, iat: i64) -> Result<(), AuthError> {
    let name = project_name(project).to_string();
    if !project.spec.roles.iter().flatten().any(|r| r.name == role) {
        return Err(AuthError::NotFound(format!(
            "project {name} has no role {role:?}"
        )));
    }
    if !tokens_of(project, role).iter().any(|t| t.iat == iat) {
        return Err(AuthError::NotFound(format!(
            "project {name} role {role} has no token issued at {iat}"
        )));
    }
    for r in project.spec.roles.iter_mut().flatten() {
        if r.name == role
            && let Some(tokens) = &mut r.jwt_tokens
        {
            tokens.retain(|t| t.iat != iat);
        }
    }
    if let Some(status) = &mut project.status
        && let Some(by_role) = &mut status.jwt_tokens_by_role
        && let Some(listed) = by_role.get_mut(role)
        && let Some(items) = &mut listed.items
    {
        items.retain(|t| t.iat != iat);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{AppProjectSpec, ProjectRole};

    fn project() -> AppProject {
        let mut p = AppProject::new(
            "shop",
            AppProjectSpec {
                roles: Some(vec![ProjectRole {
                    name: "ci".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        );
        p.metadata.namespace = Some("argocd".into());
        p
    }

    fn token(iat: i64, id: Option<&str>) -> JwtToken {
        JwtToken {
            iat,
            exp: None,
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn added_tokens_are_listed_in_spec_and_status() {
        let mut p = project();
        add_token(&mut p, "ci", token(100, Some("build"))).unwrap();
        assert!(is_listed(&p, "ci", "build", 100));
        assert!(!is_listed(&p, "ci", "other", 100));
        assert_eq!(
            p.spec.roles.as_ref().unwrap()[0]
                .jwt_tokens
                .as_ref()
                .unwrap()
                .len(),
            1
        );
        let status = p
            .status
            .as_ref()
            .unwrap()
            .jwt_tokens_by_role
            .as_ref()
            .unwrap();
        assert_eq!(status["ci"].items.as_ref().unwrap()[0].iat, 100);
    }

    #[test]
    fn tokens_without_id_match_on_iat() {
        let mut p = project();
        add_token(&mut p, "ci", token(100, None)).unwrap();
        assert!(is_listed(&p, "ci", "whatever", 100));
        assert!(!is_listed(&p, "ci", "whatever", 101));
    }

    #[test]
    fn removal_unlists() {
        let mut p = project();
        add_token(&mut p, "ci", token(100, Some("a"))).unwrap();
        add_token(&mut p, "ci", token(200, Some("b"))).unwrap();
        remove_token(&mut p, "ci", 100).unwrap();
        assert!(!is_listed(&p, "ci", "a", 100));
        assert!(is_listed(&p, "ci", "b", 200));
        assert_eq!(remove_token(&mut p, "ci", 100).unwrap_err().status(), 404);
    }

    #[test]
    fn unknown_roles_and_duplicates_are_refused() {
        let mut p = project();
        assert_eq!(
            add_token(&mut p, "nope", token(1, None))
                .unwrap_err()
                .status(),
            404
        );
        add_token(&mut p, "ci", token(1, Some("x"))).unwrap();
        assert_eq!(
            add_token(&mut p, "ci", token(2, Some("x")))
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            add_token(&mut p, "ci", token(1, Some("y")))
                .unwrap_err()
                .status(),
            409
        );
    }
}
