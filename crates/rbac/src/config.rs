//! Reading `argocd-rbac-cm`: `policy.csv`, the `policy.<name>.csv`
//! overlays, `policy.default`, `policy.matchMode` and `scopes`.

use std::collections::BTreeMap;

use crate::pattern::MatchMode;
use crate::policy::{Policy, PolicyError};

/// The ConfigMap Argo CD reads its RBAC settings from.
pub const RBAC_CONFIG_MAP: &str = "argocd-rbac-cm";

/// The token claims that carry groups when `scopes` is not set.
pub const DEFAULT_SCOPES: &[&str] = &["groups"];

impl Policy {
    /// The policy an `argocd-rbac-cm` ConfigMap's `data` describes: the
    /// built-in roles, `policy.csv`, then every `policy.<name>.csv` key in
    /// name order (as Argo CD), `policy.default`, `policy.matchMode`
    /// (`glob`, the default, or `regex`) and `scopes` (`[groups, email]`).
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Policy, PolicyError> {
        let setting_error = |key: &str, message: String| PolicyError {
            location: key.to_string(),
            line: 1,
            message,
        };
        let mode = match data.get("policy.matchMode").map(|m| m.trim()) {
            None | Some("") | Some("glob") => MatchMode::Glob,
            Some("regex") => MatchMode::Regex,
            Some(other) => {
                return Err(setting_error(
                    "policy.matchMode",
                    format!("{other:?} is not glob or regex"),
                ));
            }
        };
        let scopes = match data.get("scopes") {
            Some(text) => parse_scopes(text).map_err(|message| setting_error("scopes", message))?,
            None => Vec::new(),
        };
        let default_role = data.get("policy.default").map(String::as_str);
        let mut policy = Policy::builtin(default_role, &scopes, mode);
        if let Some(csv) = data.get("policy.csv") {
            policy.add_csv("policy.csv", csv)?;
        }
        // BTreeMap iterates in key order.
        for (key, csv) in data {
            if key != "policy.csv" && key.starts_with("policy.") && key.ends_with(".csv") {
                policy.add_csv(key, csv)?;
            }
        }
        Ok(policy)
    }
}

/// `scopes: '[groups, email]'`: a YAML flow list of claim names.
fn parse_scopes(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("{text:?} is not a list such as [groups, email]"))?;
    let mut scopes = Vec::new();
    for item in inner.split(',') {
        let item = item.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if item.is_empty() {
            if inner.trim().is_empty() {
                break;
            }
            return Err(format!("{text:?} has an empty claim name"));
        }
        scopes.push(item.to_string());
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn scopes_parse_as_a_list() {
        let cases: [(&str, Result<Vec<&str>, &str>); 5] = [
            ("[groups]", Ok(vec!["groups"])),
            ("[groups, email]", Ok(vec!["groups", "email"])),
            ("['groups', \"roles\"]", Ok(vec!["groups", "roles"])),
            (
                "groups",
                Err("\"groups\" is not a list such as [groups, email]"),
            ),
            (
                "[groups,,email]",
                Err("\"[groups,,email]\" has an empty claim name"),
            ),
        ];
        for (text, want) in cases {
            let got = parse_scopes(text);
            match want {
                Ok(want) => assert_eq!(got.unwrap(), want, "{text}"),
                Err(want) => assert_eq!(got.unwrap_err(), want, "{text}"),
            }
        }
    }

    #[test]
    fn config_map_keys_are_read() {
        let policy = Policy::from_config_map(&data(&[
            ("policy.default", "role:readonly"),
            ("scopes", "[groups, email]"),
            (
                "policy.csv",
                "p, role:dev, applications, sync, team-a/*, allow\ng, alice, role:dev",
            ),
            ("policy.overlay.csv", "g, bob, role:dev"),
            (
                "policy.tenant-b.csv",
                "p, carol, applications, delete, team-b/*, allow",
            ),
            ("unrelated", "p, nonsense"),
        ]))
        .unwrap();
        assert_eq!(policy.default_role(), Some("role:readonly"));
        assert_eq!(policy.scopes(), ["groups", "email"]);
        let check = |sub: &str, act: &str, obj: &str| {
            policy.enforce(sub, &[], "applications", act, obj).allowed
        };
        assert!(check("alice", "sync", "team-a/web"));
        assert!(check("bob", "sync", "team-a/web"));
        assert!(check("carol", "delete", "team-b/web"));
        assert!(!check("carol", "delete", "team-a/web"));
        // policy.default gives everyone read access.
        assert!(check("nobody", "get", "team-z/web"));
        let decision = policy.enforce("bob", &[], "applications", "sync", "team-a/web");
        assert_eq!(
            decision.rule.unwrap().source,
            "policy.csv",
            "the permission is policy.csv's, reached through the overlay's binding"
        );
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let err = Policy::from_config_map(&data(&[
            ("policy.csv", "g, alice, role:dev"),
            (
                "policy.extra.csv",
                "# ok\np, role:dev, applications, sync, team-a/*, permit",
            ),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy.extra.csv line 2: the effect is \"permit\", not allow or deny"
        );
        let err = Policy::from_config_map(&data(&[("policy.matchMode", "fuzzy")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy.matchMode line 1: \"fuzzy\" is not glob or regex"
        );
    }

    #[test]
    fn regex_mode_applies_to_the_configured_lines() {
        let policy = Policy::from_config_map(&data(&[
            ("policy.matchMode", "regex"),
            (
                "policy.csv",
                "p, alice, applications, (get|sync), ^team-(a|b)/.*$, allow",
            ),
        ]))
        .unwrap();
        assert!(
            policy
                .enforce("alice", &[], "applications", "sync", "team-b/x")
                .allowed
        );
        assert!(
            !policy
                .enforce("alice", &[], "applications", "sync", "team-c/x")
                .allowed
        );
        // The built-in lines stay globs.
        assert!(
            policy
                .enforce("admin", &[], "clusters", "delete", "https://x")
                .allowed
        );
    }
}
