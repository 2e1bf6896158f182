//! Project roles: `AppProject.spec.roles[]`, each with `policies` lines for
//! the subject `proj:<project>:<role>` and `groups` bound to that subject.
//! As Argo CD, a role's line must name its own role as the subject, a
//! project-scoped resource, and an object inside the project.

use api::AppProject;

use crate::line;
use crate::policy::{Origin, Policy, PolicyError};

/// The resources a project role may grant.
const PROJECT_RESOURCES: &[&str] = &[
    "applications",
    "applicationsets",
    "repositories",
    "clusters",
    "logs",
    "exec",
    "projects",
];

/// The subject of a project role: `proj:<project>:<role>`.
pub fn project_subject(project: &str, role: &str) -> String {
    format!("proj:{project}:{role}")
}

/// Every problem in `project`'s roles (empty: all good). The API server
/// rejects such a project with 400; [`Policy::with_projects`] skips the bad
/// lines of one that is already in the cluster.
pub fn validate_project(project: &AppProject) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    lines_of(project, &mut errors);
    errors
}

impl Policy {
    /// This policy plus the roles of `projects`. Lines that break Argo
    /// CD's rules for project roles are left out and returned.
    pub fn with_projects(&self, projects: &[AppProject]) -> (Policy, Vec<PolicyError>) {
        let mut policy = self.clone();
        let mut errors = Vec::new();
        for project in projects {
            for (fields, origin) in lines_of(project, &mut errors) {
                if let Err(message) = policy.add_line(&fields, origin.clone()) {
                    errors.push(PolicyError {
                        location: origin.source,
                        line: origin.line,
                        message,
                    });
                }
            }
        }
        (policy, errors)
    }
}

/// The valid lines of `project`'s roles (`p` lines and a `g` line per
/// group), recording the invalid ones in `errors`.
fn lines_of(project: &AppProject, errors: &mut Vec<PolicyError>) -> Vec<(Vec<String>, Origin)> {
    let name = project.metadata.name.as_deref().unwrap_or_default();
    let mut lines = Vec::new();
    let mut seen = Vec::new();
    for (index, role) in project.spec.roles.iter().flatten().enumerate() {
        let location = format!("AppProject {name} role {}", role.name);
        let mut error = |line: usize, message: String| {
            errors.push(PolicyError {
                location: location.clone(),
                line,
                message,
            })
        };
        if let Err(message) = check_role_name(&role.name) {
            error(index + 1, message);
            continue;
        }
        if seen.contains(&role.name.as_str()) {
            error(index + 1, format!("role {:?} is defined twice", role.name));
            continue;
        }
        seen.push(role.name.as_str());
        let subject = project_subject(name, &role.name);
        for (index, text) in role.policies.iter().flatten().enumerate() {
            let number = index + 1;
            match check_policy(name, &subject, text) {
                Ok(fields) => lines.push((
                    fields,
                    Origin {
                        source: format!("{location} policies"),
                        line: number,
                        text: text.trim().to_string(),
                    },
                )),
                Err(message) => error(number, message),
            }
        }
        for (index, group) in role.groups.iter().flatten().enumerate() {
            let group = group.trim();
            if group.is_empty() {
                error(index + 1, "a group name is empty".to_string());
                continue;
            }
            lines.push((
                vec!["g".to_string(), group.to_string(), subject.clone()],
                Origin {
                    source: format!("{location} groups"),
                    line: index + 1,
                    text: format!("g, {group}, {subject}"),
                },
            ));
        }
    }
    lines
}

/// Argo CD's role name rule: letters, digits, `-` and `_`, starting and
/// ending with a letter or digit.
fn check_role_name(name: &str) -> Result<(), String> {
    let inner_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let ends_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if inner_ok && ends_ok {
        Ok(())
    } else {
        Err(format!(
            "role name {name:?} must be letters, digits, '-' and '_', starting and ending with a letter or digit"
        ))
    }
}

/// One `policies` line, checked as Argo CD checks it; its fields on success.
fn check_policy(project: &str, subject: &str, text: &str) -> Result<Vec<String>, String> {
    let lines = line::split(text).map_err(|(_, message)| message)?;
    let [line] = lines.as_slice() else {
        return Err(
            "a policy is one line: p, subject, resource, action, object, allow|deny".into(),
        );
    };
    let fields = &line.fields;
    if fields.len() != 6 || fields[0] != "p" {
        return Err(format!(
            "{text:?} is not of the form p, {subject}, <resource>, <action>, {project}/<object>, allow|deny"
        ));
    }
    if fields[1] != subject {
        return Err(format!(
            "the subject must be {subject:?}, not {:?}",
            fields[1]
        ));
    }
    let resource = fields[2].as_str();
    if !PROJECT_RESOURCES.contains(&resource) {
        return Err(format!(
            "a project role may grant {}, not {resource:?}",
            PROJECT_RESOURCES.join(", ")
        ));
    }
    if fields[3].is_empty() {
        return Err("the action is empty".into());
    }
    let object = fields[4].as_str();
    if !object_in_project(project, resource, object) {
        return Err(format!(
            "object {object:?} is outside project {project:?}: it must be {project}/<name>, {project}/<namespace>/<name> or {project}/*"
        ));
    }
    if fields[5] != "allow" && fields[5] != "deny" {
        return Err(format!("the effect is {:?}, not allow or deny", fields[5]));
    }
    Ok(fields.clone())
}

/// `<project>/<name>` or `<project>/<namespace>/<name>` where the parts are
/// word characters, `-`, `.` or `*` (Argo CD's check), or the project
/// itself for the `projects` resource.
fn object_in_project(project: &str, resource: &str, object: &str) -> bool {
    if resource == "projects" && object == project {
        return true;
    }
    let Some(rest) = object
        .strip_prefix(project)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{AppProjectSpec, ProjectRole};

    fn project(name: &str, roles: Vec<ProjectRole>) -> AppProject {
        let mut project = AppProject::new(
            name,
            AppProjectSpec {
                roles: Some(roles),
                ..Default::default()
            },
        );
        project.metadata.namespace = Some("argocd".into());
        project
    }

    fn role(name: &str, policies: &[&str], groups: &[&str]) -> ProjectRole {
        ProjectRole {
            name: name.into(),
            policies: Some(policies.iter().map(|p| p.to_string()).collect()),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn policy_lines_are_checked_as_argo_cd() {
        let subject = "proj:team-a:ci";
        let cases = [
            (
                "p, proj:team-a:ci, applications, sync, team-a/*, allow",
                Ok(()),
            ),
            (
                "p, proj:team-a:ci, applications, get, team-a/guestbook, allow",
                Ok(()),
            ),
            (
                "p, proj:team-a:ci, applications, get, team-a/apps/guestbook, deny",
                Ok(()),
            ),
            ("p, proj:team-a:ci, projects, get, team-a, allow", Ok(())),
            ("p, proj:team-a:ci, logs, get, team-a/*, allow", Ok(())),
            (
                "p, proj:team-a:ci, applications, sync, team-b/*, allow",
                Err("object \"team-b/*\" is outside project \"team-a\""),
            ),
            (
                "p, proj:team-a:ci, applications, sync, */*, allow",
                Err("object \"*/*\" is outside project \"team-a\""),
            ),
            (
                "p, proj:team-a:ci, applications, sync, team-a-evil/*, allow",
                Err("object \"team-a-evil/*\" is outside project \"team-a\""),
            ),
            (
                "p, proj:team-a:ci, applications, sync, team-a/a/b/c, allow",
                Err("object \"team-a/a/b/c\" is outside project \"team-a\""),
            ),
            (
                "p, proj:team-a:other, applications, sync, team-a/*, allow",
                Err("the subject must be \"proj:team-a:ci\", not \"proj:team-a:other\""),
            ),
            (
                "p, proj:team-a:ci, accounts, update, team-a/*, allow",
                Err("a project role may grant applications"),
            ),
            (
                "p, proj:team-a:ci, applications, sync, team-a/*, maybe",
                Err("the effect is \"maybe\", not allow or deny"),
            ),
            (
                "g, someone, proj:team-a:ci",
                Err("is not of the form p, proj:team-a:ci"),
            ),
            (
                "p, proj:team-a:ci, applications, sync",
                Err("is not of the form"),
            ),
        ];
        for (text, want) in cases {
            let got = check_policy("team-a", subject, text);
            match want {
                Ok(()) => assert!(got.is_ok(), "{text}: {got:?}"),
                Err(want) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(want), "{text}: {err}");
                }
            }
        }
    }

    #[test]
    fn role_names_follow_argo_cd() {
        for good in ["ci", "ci-role", "a_b", "r2"] {
            assert!(check_role_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-ci", "ci-", "c i", "ci:x", "ci/x"] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn project_roles_grant_within_their_project() {
        let projects = [project(
            "team-a",
            vec![role(
                "ci",
                &[
                    "p, proj:team-a:ci, applications, sync, team-a/*, allow",
                    "p, proj:team-a:ci, applications, get, team-a/*, allow",
                    "p, proj:team-a:ci, applications, sync, team-a/prod-*, deny",
                    "p, proj:team-a:ci, applications, delete, */*, allow",
                ],
                &["team-a-devs"],
            )],
        )];
        let (policy, errors) = Policy::default().with_projects(&projects);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].location, "AppProject team-a role ci");
        assert_eq!(errors[0].line, 4);
        assert!(
            errors[0].message.contains("outside project"),
            "{}",
            errors[0]
        );

        let none: Vec<String> = vec![];
        let devs = vec!["team-a-devs".to_string()];
        let cases: [(&str, &[String], &str, &str, bool); 8] = [
            ("proj:team-a:ci", &none, "sync", "team-a/web", true),
            ("proj:team-a:ci", &none, "get", "team-a/apps/web", true),
            ("proj:team-a:ci", &none, "sync", "team-a/prod-web", false),
            ("proj:team-a:ci", &none, "sync", "team-b/web", false),
            // The rejected line grants nothing.
            ("proj:team-a:ci", &none, "delete", "team-b/web", false),
            ("alice", &devs, "sync", "team-a/web", true),
            ("alice", &devs, "sync", "team-b/web", false),
            ("alice", &none, "sync", "team-a/web", false),
        ];
        for (subject, groups, action, object, want) in cases {
            let decision = policy.enforce(subject, groups, "applications", action, object);
            assert_eq!(
                decision.allowed, want,
                "{subject} {groups:?} {action} {object}: {}",
                decision.reason
            );
        }
        let decision = policy.enforce("alice", &devs, "applications", "sync", "team-a/web");
        assert_eq!(
            decision.reason,
            "allowed for team-a-devs by AppProject team-a role ci policies line 1: p, proj:team-a:ci, applications, sync, team-a/*, allow"
        );
    }

    #[test]
    fn validate_project_reports_every_problem() {
        let p = project(
            "team-a",
            vec![
                role(
                    "ci",
                    &["p, proj:team-a:ci, applications, get, team-b/*, allow"],
                    &[""],
                ),
                role("ci", &[], &[]),
                role("bad name", &[], &[]),
            ],
        );
        let errors: Vec<String> = validate_project(&p).iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].starts_with(
            "AppProject team-a role ci line 1: object \"team-b/*\" is outside project"
        ));
        assert_eq!(
            errors[1],
            "AppProject team-a role ci line 1: a group name is empty"
        );
        assert_eq!(
            errors[2],
            "AppProject team-a role ci line 2: role \"ci\" is defined twice"
        );
        assert!(
            errors[3].starts_with("AppProject team-a role bad name line 3: role name \"bad name\"")
        );
    }
}
