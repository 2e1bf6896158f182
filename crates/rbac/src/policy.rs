//! A parsed policy and its enforcement: Argo CD's casbin model
//! (`g(r.sub, p.sub) && match(r.res, p.res) && match(r.act, p.act) &&
//! match(r.obj, p.obj)`, effect "some allow and no deny"), evaluated by
//! hand.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use crate::RESOURCES;
use crate::line;
use crate::pattern::{MatchMode, Pattern};

/// `allow` or `deny`, the last field of a `p` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Where a line came from: its source (`builtin-policy.csv`,
/// `policy.csv`, `policy.overlay.csv`, `AppProject team-a role ci`),
/// 1-based line number, and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub source: String,
    pub line: usize,
    pub text: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.source, self.line, self.text)
    }
}

/// A line of policy that cannot be used, with where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location} line {line}: {message}")]
pub struct PolicyError {
    /// The ConfigMap key or project role the line is in.
    pub location: String,
    /// 1-based line number (for a project role: the index in `policies`
    /// or `groups`, 1-based).
    pub line: usize,
    pub message: String,
}

/// The answer to one request, with the reason a user can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `allowed by policy.csv line 3: p, role:dev, ...`, `denied by ...`,
    /// or `no rule allows ...`.
    pub reason: String,
    /// The line that decided, if one did.
    pub rule: Option<Origin>,
}

#[derive(Clone, Debug)]
struct Rule {
    subject: String,
    resource: Pattern,
    action: Pattern,
    object: Pattern,
    effect: Effect,
    origin: Origin,
}

#[derive(Clone, Debug)]
struct Grant {
    member: String,
    role: String,
}

/// A complete policy: the built-in lines, the ConfigMap's lines, project
/// roles, the default role and the token claims that carry groups.
#[derive(Clone, Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    grants: Vec<Grant>,
    default_role: Option<String>,
    scopes: Vec<String>,
    mode: MatchMode,
}

const BUILTIN: &str = include_str!("builtin-policy.csv");
const BUILTIN_SOURCE: &str = "builtin-policy.csv";

/// Casbin's default limit on role inheritance depth.
const MAX_ROLE_DEPTH: usize = 10;

impl Default for Policy {
    /// Only the built-in roles, no default role, groups from `groups`.
    fn default() -> Self {
        Policy::builtin(None, crate::DEFAULT_SCOPES, MatchMode::Glob)
    }
}

impl Policy {
    /// The built-in policy plus `csv` (the `policy.csv` key), with
    /// `policy.default` and `scopes` as given. Empty `scopes`: `[groups]`.
    pub fn parse(
        csv: &str,
        default_role: Option<&str>,
        scopes: &[String],
    ) -> Result<Policy, PolicyError> {
        let mut policy = Policy::builtin(default_role, scopes, MatchMode::Glob);
        policy.add_csv("policy.csv", csv)?;
        Ok(policy)
    }

    pub(crate) fn builtin(
        default_role: Option<&str>,
        scopes: &[impl AsRef<str>],
        mode: MatchMode,
    ) -> Policy {
        let mut scopes: Vec<String> = scopes.iter().map(|s| s.as_ref().to_string()).collect();
        if scopes.is_empty() {
            scopes = crate::DEFAULT_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        let mut policy = Policy {
            rules: Vec::new(),
            grants: Vec::new(),
            default_role: default_role
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            scopes,
            mode: MatchMode::Glob,
        };
        // The built-in lines are globs whatever the mode; they are tested.
        #[allow(clippy::expect_used)]
        policy
            .add_csv(BUILTIN_SOURCE, BUILTIN)
            .expect("the built-in policy parses");
        policy.mode = mode;
        policy
    }

    /// Adds the lines of `text`, which came from `source` (named in
    /// errors and decisions). Nothing is added when a line is bad.
    pub(crate) fn add_csv(&mut self, source: &str, text: &str) -> Result<(), PolicyError> {
        let error = |line: usize, message: String| PolicyError {
            location: source.to_string(),
            line,
            message,
        };
        let lines = line::split(text).map_err(|(line, message)| error(line, message))?;
        let mut rules = Vec::new();
        let mut grants = Vec::new();
        for raw in lines {
            let origin = Origin {
                source: source.to_string(),
                line: raw.number,
                text: raw.text.clone(),
            };
            match parse_line(&raw.fields, self.mode) {
                Ok(Parsed::Rule(mut rule)) => {
                    rule.origin = origin;
                    rules.push(*rule);
                }
                Ok(Parsed::Grant(grant)) => grants.push(grant),
                Err(message) => return Err(error(raw.number, message)),
            }
        }
        self.rules.extend(rules);
        self.grants.extend(grants);
        Ok(())
    }

    /// Adds one already validated line (a project role's).
    pub(crate) fn add_line(&mut self, fields: &[String], origin: Origin) -> Result<(), String> {
        match parse_line(fields, self.mode)? {
            Parsed::Rule(mut rule) => {
                rule.origin = origin;
                self.rules.push(*rule);
            }
            Parsed::Grant(grant) => self.grants.push(grant),
        }
        Ok(())
    }

    /// `policy.default`: the role everyone has.
    pub fn default_role(&self) -> Option<&str> {
        self.default_role.as_deref()
    }

    /// `scopes`: the token claims whose values are the caller's groups.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `subject` may do `action` on `resource` `object`, given the
    /// caller's `groups` (the values of the [`scopes`](Self::scopes) claims).
    ///
    /// As Argo CD, the default role, the subject and each group are
    /// asked in turn, each with the roles `g` lines give it; within one of
    /// them a matching `deny` line wins over any `allow`, and the request
    /// is allowed when one of them allows it. A project role subject
    /// (`proj:<project>:<role>`) is asked alone, without groups. Nothing
    /// matching: denied.
    pub fn enforce(
        &self,
        subject: &str,
        groups: &[String],
        resource: &str,
        action: &str,
        object: &str,
    ) -> Decision {
        let mut asked: Vec<&str> = Vec::new();
        if let Some(role) = &self.default_role {
            asked.push(role);
        }
        asked.push(subject);
        if !subject.starts_with("proj:") {
            asked.extend(groups.iter().map(String::as_str));
        }
        let mut denied: Option<(&str, &Rule)> = None;
        for who in asked {
            match self.evaluate(who, resource, action, object) {
                Some(rule) if rule.effect == Effect::Allow => {
                    return Decision {
                        allowed: true,
                        reason: format!("allowed for {who} by {}", rule.origin),
                        rule: Some(rule.origin.clone()),
                    };
                }
                Some(rule) => {
                    denied.get_or_insert((who, rule));
                }
                None => {}
            }
        }
        let request = format!("{resource}, {action}, {object}");
        match denied {
            Some((who, rule)) => Decision {
                allowed: false,
                reason: format!("{request} denied for {who} by {}", rule.origin),
                rule: Some(rule.origin.clone()),
            },
            None => {
                let mut whom = format!("sub: {subject}");
                if !groups.is_empty() && !subject.starts_with("proj:") {
                    whom.push_str(&format!(", groups: [{}]", groups.join(", ")));
                }
                if let Some(role) = &self.default_role {
                    whom.push_str(&format!(", default role: {role}"));
                }
                Decision {
                    allowed: false,
                    reason: format!("no rule allows {request} ({whom})"),
                    rule: None,
                }
            }
        }
    }

    /// The deciding rule for one subject with its roles: the first
    /// matching `deny` line, else the first matching `allow` line.
    fn evaluate(&self, subject: &str, resource: &str, action: &str, object: &str) -> Option<&Rule> {
        let roles = self.roles_of(subject);
        let mut allowed = None;
        for rule in &self.rules {
            if roles.contains(rule.subject.as_str())
                && rule.resource.matches(resource)
                && rule.action.matches(action)
                && rule.object.matches(object)
            {
                match rule.effect {
                    Effect::Deny => return Some(rule),
                    Effect::Allow => {
                        allowed.get_or_insert(rule);
                    }
                }
            }
        }
        allowed
    }

    /// `subject` and every role it holds through `g` lines, transitively.
    fn roles_of<'a>(&'a self, subject: &'a str) -> BTreeSet<&'a str> {
        let mut roles = BTreeSet::from([subject]);
        let mut queue = VecDeque::from([(subject, 0)]);
        while let Some((who, depth)) = queue.pop_front() {
            if depth >= MAX_ROLE_DEPTH {
                continue;
            }
            for grant in self.grants.iter().filter(|g| g.member == who) {
                if roles.insert(grant.role.as_str()) {
                    queue.push_back((grant.role.as_str(), depth + 1));
                }
            }
        }
        roles
    }
}

enum Parsed {
    Rule(Box<Rule>),
    Grant(Grant),
}

fn parse_line(fields: &[String], mode: MatchMode) -> Result<Parsed, String> {
    let empty = |name: &str| format!("the {name} is empty");
    match fields.first().map(String::as_str) {
        Some("p") => {
            if fields.len() != 6 {
                return Err(format!(
                    "a p line has 6 fields (p, subject, resource, action, object, allow|deny), this one has {}",
                    fields.len()
                ));
            }
            let names = ["subject", "resource", "action", "object", "effect"];
            for (field, name) in fields[1..].iter().zip(names) {
                if field.is_empty() {
                    return Err(empty(name));
                }
            }
            let resource = &fields[2];
            if mode == MatchMode::Glob
                && !resource.contains(['*', '?', '[', '{'])
                && !RESOURCES.contains(&resource.as_str())
            {
                return Err(format!(
                    "unknown resource {resource:?}; Argo CD's resources are {}",
                    RESOURCES.join(", ")
                ));
            }
            let effect = match fields[5].as_str() {
                "allow" => Effect::Allow,
                "deny" => Effect::Deny,
                other => return Err(format!("the effect is {other:?}, not allow or deny")),
            };
            Ok(Parsed::Rule(Box::new(Rule {
                subject: fields[1].clone(),
                resource: Pattern::new(resource, mode)?,
                action: Pattern::new(&fields[3], mode)?,
                object: Pattern::new(&fields[4], mode)?,
                effect,
                origin: Origin {
                    source: String::new(),
                    line: 0,
                    text: String::new(),
                },
            })))
        }
        Some("g") => {
            if fields.len() != 3 {
                return Err(format!(
                    "a g line has 3 fields (g, user or group, role), this one has {}",
                    fields.len()
                ));
            }
            if fields[1].is_empty() {
                return Err(empty("user or group"));
            }
            if fields[2].is_empty() {
                return Err(empty("role"));
            }
            Ok(Parsed::Grant(Grant {
                member: fields[1].clone(),
                role: fields[2].clone(),
            }))
        }
        Some(other) => Err(format!(
            "a line starts with p (a permission) or g (a role binding), not {other:?}"
        )),
        None => Err("an empty line".to_string()),
    }
}

#[cfg(test)]
mod tests;
