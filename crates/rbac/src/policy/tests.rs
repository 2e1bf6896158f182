//! Table tests for the policy language and its enforcement.

use super::*;

/// (subject, groups, resource, action, object, allowed)
type Case<'a> = (&'a str, &'a [&'a str], &'a str, &'a str, &'a str, bool);

fn check(policy: &Policy, cases: &[Case]) {
    for (subject, groups, resource, action, object, want) in cases {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let decision = policy.enforce(subject, &groups, resource, action, object);
        assert_eq!(
            decision.allowed, *want,
            "{subject} {groups:?}: {resource}, {action}, {object}: {}",
            decision.reason
        );
    }
}

fn parse(csv: &str) -> Policy {
    Policy::parse(csv, None, &[]).unwrap()
}

#[test]
fn builtin_roles() {
    let policy = Policy::default();
    check(
        &policy,
        &[
            // admin holds role:admin, which inherits role:readonly.
            (
                "admin",
                &[],
                "applications",
                "sync",
                "default/guestbook",
                true,
            ),
            (
                "admin",
                &[],
                "applications",
                "get",
                "default/guestbook",
                true,
            ),
            (
                "admin",
                &[],
                "applications",
                "delete",
                "default/apps/guestbook",
                true,
            ),
            (
                "admin",
                &[],
                "applications",
                "action/apps/Deployment/restart",
                "p/a",
                true,
            ),
            (
                "admin",
                &[],
                "applications",
                "update/apps/Deployment/ns/web",
                "p/a",
                true,
            ),
            (
                "admin",
                &[],
                "clusters",
                "create",
                "https://kubernetes.default.svc",
                true,
            ),
            ("admin", &[], "projects", "delete", "team-a", true),
            ("admin", &[], "accounts", "update", "alice", true),
            ("admin", &[], "exec", "create", "p/a", true),
            // Nothing in the built-in policy allows deleting an account.
            ("admin", &[], "accounts", "delete", "alice", false),
            // Anyone else has nothing without policy.default.
            (
                "alice",
                &[],
                "applications",
                "get",
                "default/guestbook",
                false,
            ),
            // A group bound to a built-in role.
            (
                "alice",
                &["role:readonly"],
                "applications",
                "get",
                "p/a",
                true,
            ),
        ],
    );
    let readonly = parse("g, viewer, role:readonly\ng, ops, role:admin");
    check(
        &readonly,
        &[
            ("viewer", &[], "applications", "get", "p/a", true),
            ("viewer", &[], "applicationsets", "get", "p/a", true),
            ("viewer", &[], "clusters", "get", "https://x", true),
            ("viewer", &[], "repositories", "get", "https://git/x", true),
            ("viewer", &[], "projects", "get", "p", true),
            ("viewer", &[], "logs", "get", "p/a", true),
            ("viewer", &[], "applications", "sync", "p/a", false),
            ("viewer", &[], "applications", "create", "p/a", false),
            ("viewer", &[], "clusters", "delete", "https://x", false),
            ("viewer", &[], "exec", "create", "p/a", false),
            ("alice", &["ops"], "applications", "sync", "p/a", true),
        ],
    );
}

#[test]
fn default_role_applies_to_everyone() {
    let policy = Policy::parse("", Some("role:readonly"), &[]).unwrap();
    check(
        &policy,
        &[
            ("anyone", &[], "applications", "get", "p/a", true),
            ("anyone", &[], "applications", "sync", "p/a", false),
            ("proj:p:ci", &[], "projects", "get", "p", true),
        ],
    );
    let decision = policy.enforce("anyone", &[], "applications", "get", "p/a");
    assert_eq!(
        decision.reason,
        "allowed for role:readonly by builtin-policy.csv line 4: p, role:readonly, applications, get, */*, allow"
    );
    // An empty default is no default.
    let policy = Policy::parse("", Some(" "), &[]).unwrap();
    assert_eq!(policy.default_role(), None);
}

#[test]
fn rule_forms() {
    let policy = parse(
        "\
p, role:dev, applications, sync, team-a/*, allow
p, role:dev, applications, get, */*, allow
p, role:dev, applications, action/apps/Deployment/restart, team-a/*, allow
p, role:dev, applications, update/*, team-a/*, allow
p, alice, clusters, get, https://kubernetes.default.svc, allow
p, role:ns, applications, *, team-a/apps-ns/*, allow
p, role:all, *, get, *, allow
p, role:multi, applications, \"{get,sync}\", \"{team-a,team-b}/*\", allow
g, alice, role:dev
g, carol, role:ns
g, dave, role:all
g, erin, role:multi
g, role:lead, role:dev
g, frank, role:lead
",
    );
    check(
        &policy,
        &[
            (
                "alice",
                &[],
                "applications",
                "sync",
                "team-a/guestbook",
                true,
            ),
            (
                "alice",
                &[],
                "applications",
                "sync",
                "team-a/apps-ns/guestbook",
                true,
            ),
            (
                "alice",
                &[],
                "applications",
                "sync",
                "team-b/guestbook",
                false,
            ),
            (
                "alice",
                &[],
                "applications",
                "get",
                "team-b/guestbook",
                true,
            ),
            (
                "alice",
                &[],
                "applications",
                "delete",
                "team-a/guestbook",
                false,
            ),
            (
                "alice",
                &[],
                "applications",
                "action/apps/Deployment/restart",
                "team-a/g",
                true,
            ),
            (
                "alice",
                &[],
                "applications",
                "action/apps/StatefulSet/restart",
                "team-a/g",
                false,
            ),
            (
                "alice",
                &[],
                "applications",
                "update/apps/Deployment/ns/web",
                "team-a/g",
                true,
            ),
            ("alice", &[], "applications", "update", "team-a/g", false),
            (
                "alice",
                &[],
                "clusters",
                "get",
                "https://kubernetes.default.svc",
                true,
            ),
            ("alice", &[], "clusters", "get", "https://other", false),
            // The application-namespace form.
            (
                "carol",
                &[],
                "applications",
                "delete",
                "team-a/apps-ns/guestbook",
                true,
            ),
            (
                "carol",
                &[],
                "applications",
                "delete",
                "team-a/other-ns/guestbook",
                false,
            ),
            (
                "carol",
                &[],
                "applications",
                "delete",
                "team-a/guestbook",
                false,
            ),
            // `*` resource.
            ("dave", &[], "repositories", "get", "https://git/x", true),
            (
                "dave",
                &[],
                "repositories",
                "create",
                "https://git/x",
                false,
            ),
            // Alternatives.
            ("erin", &[], "applications", "sync", "team-b/x", true),
            ("erin", &[], "applications", "delete", "team-b/x", false),
            ("erin", &[], "applications", "sync", "team-c/x", false),
            // Roles inherit roles.
            ("frank", &[], "applications", "sync", "team-a/x", true),
            // A group claim naming a role-bearing group.
            ("zed", &["alice"], "applications", "sync", "team-a/x", true),
            // Subjects are exact, not globs.
            ("alice2", &[], "applications", "get", "team-a/x", false),
        ],
    );
    let decision = policy.enforce("frank", &[], "applications", "sync", "team-a/x");
    assert_eq!(
        decision.rule.unwrap(),
        Origin {
            source: "policy.csv".into(),
            line: 1,
            text: "p, role:dev, applications, sync, team-a/*, allow".into()
        }
    );
}

#[test]
fn deny_wins_within_a_subject() {
    let policy = parse(
        "\
p, role:dev, applications, *, team-a/*, allow
p, role:dev, applications, delete, team-a/prod-*, deny
p, alice, applications, sync, team-a/frozen, deny
g, alice, role:dev
g, devs, role:dev
",
    );
    check(
        &policy,
        &[
            ("alice", &[], "applications", "delete", "team-a/web", true),
            (
                "alice",
                &[],
                "applications",
                "delete",
                "team-a/prod-web",
                false,
            ),
            ("alice", &[], "applications", "sync", "team-a/frozen", false),
            ("alice", &[], "applications", "sync", "team-a/web", true),
            (
                "bob",
                &["devs"],
                "applications",
                "delete",
                "team-a/prod-web",
                false,
            ),
        ],
    );
    let decision = policy.enforce("alice", &[], "applications", "delete", "team-a/prod-web");
    assert_eq!(
        decision.reason,
        "applications, delete, team-a/prod-web denied for alice by policy.csv line 2: p, role:dev, applications, delete, team-a/prod-*, deny"
    );
}

#[test]
fn subject_groups_and_default_role_are_asked_separately_as_argo_cd() {
    // Argo CD enforces the default role, the subject and each group one
    // at a time and allows when any of them allows: a deny for the user
    // does not take away what a group of theirs is granted.
    let policy = Policy::parse(
        "\
p, alice, applications, sync, team-a/*, deny
p, role:dev, applications, sync, team-a/*, allow
g, devs, role:dev
",
        Some("role:readonly"),
        &[],
    )
    .unwrap();
    check(
        &policy,
        &[
            ("alice", &[], "applications", "sync", "team-a/x", false),
            ("alice", &["devs"], "applications", "sync", "team-a/x", true),
            ("alice", &[], "applications", "get", "team-a/x", true),
        ],
    );
}

#[test]
fn nothing_matching_is_denied_with_the_request_named() {
    let policy = Policy::parse("", Some("role:none"), &[]).unwrap();
    let decision = policy.enforce(
        "alice",
        &["devs".into(), "ops".into()],
        "applications",
        "sync",
        "team-a/guestbook",
    );
    assert!(!decision.allowed);
    assert_eq!(decision.rule, None);
    assert_eq!(
        decision.reason,
        "no rule allows applications, sync, team-a/guestbook (sub: alice, groups: [devs, ops], default role: role:none)"
    );
}

#[test]
fn project_subjects_ignore_groups() {
    let policy = parse("g, devs, role:admin");
    let groups = vec!["devs".to_string()];
    assert!(
        !policy
            .enforce("proj:p:ci", &groups, "applications", "sync", "p/a")
            .allowed
    );
    assert!(
        policy
            .enforce("bob", &groups, "applications", "sync", "p/a")
            .allowed
    );
}

#[test]
fn role_cycles_end() {
    let policy = parse("g, a, b\ng, b, a\np, b, applications, get, */*, allow");
    assert!(
        policy
            .enforce("a", &[], "applications", "get", "p/x")
            .allowed
    );
    assert!(
        !policy
            .enforce("a", &[], "applications", "sync", "p/x")
            .allowed
    );
}

#[test]
fn argo_cd_documentation_examples() {
    // The argocd-rbac-cm examples of Argo CD's RBAC page.
    let policy = Policy::parse(
        "\
p, role:org-admin, applications, *, */*, allow
p, role:org-admin, clusters, get, *, allow
p, role:org-admin, repositories, get, *, allow
p, role:org-admin, repositories, create, *, allow
p, role:org-admin, repositories, update, *, allow
p, role:org-admin, repositories, delete, *, allow
p, role:org-admin, projects, get, *, allow
p, role:org-admin, projects, create, *, allow
p, role:org-admin, projects, update, *, allow
p, role:org-admin, projects, delete, *, allow
p, role:org-admin, logs, get, *, allow
p, role:org-admin, exec, create, */*, allow

g, your-github-org:your-team, role:org-admin

p, role:staging-db-admin, applications, create, staging-db-project/*, allow
p, role:staging-db-admin, applications, delete, staging-db-project/*, allow
p, role:staging-db-admin, applications, get, staging-db-project/*, allow
p, role:staging-db-admin, applications, override, staging-db-project/*, allow
p, role:staging-db-admin, applications, sync, staging-db-project/*, allow
p, role:staging-db-admin, applications, update, staging-db-project/*, allow
p, role:staging-db-admin, logs, get, staging-db-project/*, allow
p, role:staging-db-admin, projects, get, staging-db-project, allow
g, db-admins, role:staging-db-admin

p, example-user, applications, action/apps/Deployment/restart, default/prod-app, allow
p, example-user, applications, delete/*/Pod/*/*, default/prod-app, allow
p, example-user, applications, update/*, default/prod-app, allow
p, example-user, applications, update/*/Pod/*, default/prod-app, deny
",
        Some("role:readonly"),
        &[],
    )
    .unwrap();
    let team: &[&str] = &["your-github-org:your-team"];
    let dbas: &[&str] = &["db-admins"];
    check(
        &policy,
        &[
            ("someone", team, "applications", "delete", "any/app", true),
            (
                "someone",
                team,
                "repositories",
                "create",
                "https://git/x",
                true,
            ),
            ("someone", team, "clusters", "delete", "https://x", false),
            ("someone", team, "exec", "create", "any/app", true),
            ("someone", &[], "applications", "get", "any/app", true),
            ("someone", &[], "applications", "sync", "any/app", false),
            (
                "dba",
                dbas,
                "applications",
                "sync",
                "staging-db-project/db",
                true,
            ),
            (
                "dba",
                dbas,
                "applications",
                "sync",
                "prod-db-project/db",
                false,
            ),
            ("dba", dbas, "projects", "get", "staging-db-project", true),
            (
                "dba",
                dbas,
                "projects",
                "update",
                "staging-db-project",
                false,
            ),
            (
                "example-user",
                &[],
                "applications",
                "action/apps/Deployment/restart",
                "default/prod-app",
                true,
            ),
            (
                "example-user",
                &[],
                "applications",
                "delete/v1/Pod/ns/web-0",
                "default/prod-app",
                true,
            ),
            (
                "example-user",
                &[],
                "applications",
                "delete/apps/Deployment/ns/web",
                "default/prod-app",
                false,
            ),
            (
                "example-user",
                &[],
                "applications",
                "update/apps/Deployment/ns/web",
                "default/prod-app",
                true,
            ),
            (
                "example-user",
                &[],
                "applications",
                "update/v1/Pod/ns/web-0",
                "default/prod-app",
                false,
            ),
        ],
    );
}

#[test]
fn bad_lines_name_the_line_and_the_problem() {
    let cases = [
        (
            "p, role:dev, applications, sync, team-a/*",
            1,
            "a p line has 6 fields (p, subject, resource, action, object, allow|deny), this one has 5",
        ),
        (
            "\np, role:dev, applications, sync, team-a/*, yes",
            2,
            "the effect is \"yes\", not allow or deny",
        ),
        (
            "p, role:dev, application, sync, team-a/*, allow",
            1,
            "unknown resource \"application\"",
        ),
        (
            "p, , applications, sync, team-a/*, allow",
            1,
            "the subject is empty",
        ),
        (
            "p, role:dev, applications, , team-a/*, allow",
            1,
            "the action is empty",
        ),
        (
            "p, role:dev, applications, sync, team-[a/*, allow",
            1,
            "invalid glob \"team-[a/*\"",
        ),
        (
            "g, alice",
            1,
            "a g line has 3 fields (g, user or group, role), this one has 2",
        ),
        ("g, alice, ", 1, "the role is empty"),
        (
            "# c\nx, alice, role:dev",
            2,
            "a line starts with p (a permission) or g (a role binding), not \"x\"",
        ),
        ("g, \"alice, role:dev", 1, "a quoted field is not closed"),
    ];
    for (csv, line, message) in cases {
        let err = Policy::parse(csv, None, &[]).unwrap_err();
        assert_eq!(err.location, "policy.csv", "{csv}");
        assert_eq!(err.line, line, "{csv}: {err}");
        assert!(err.message.starts_with(message), "{csv}: {err}");
    }
}

#[test]
fn scopes_default_to_groups() {
    assert_eq!(Policy::default().scopes(), ["groups"]);
    let policy = Policy::parse("", None, &["email".into()]).unwrap();
    assert_eq!(policy.scopes(), ["email"]);
}
