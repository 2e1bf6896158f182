//! Local accounts as Argo CD keeps them: declared in `argocd-cm`
//! (`accounts.<name>: apiKey, login`, `accounts.<name>.enabled`, and the
//! built-in `admin` unless `admin.enabled: "false"`), with their secrets in
//! `argocd-secret` (`<name>.password` for admin, `accounts.<name>.password`,
//! `...passwordMtime`, `accounts.<name>.tokens`). Pure: settings in,
//! accounts out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Capability {
    /// Log in with a password.
    Login,
    /// Have API keys generated.
    ApiKey,
}

/// An API key's record in `accounts.<name>.tokens` (Argo CD's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountToken {
    pub id: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds; absent (0) for keys that never expire.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exp: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub enabled: bool,
    pub capabilities: Vec<Capability>,
    /// The bcrypt hash, when a password is set.
    pub password_hash: Option<String>,
    /// When the password last changed, Unix seconds.
    pub password_mtime: Option<i64>,
    pub tokens: Vec<AccountToken>,
}

impl Account {
    pub fn can(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

/// The settings accounts are read from: `argocd-cm`'s data and
/// `argocd-secret`'s (decoded) data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub config: BTreeMap<String, String>,
    pub secret: BTreeMap<String, Vec<u8>>,
}

pub const ADMIN: &str = "admin";

/// The `argocd-secret` keys of `name`'s password, its change time and its
/// API keys.
pub fn secret_keys(name: &str) -> (String, String, String) {
    if name == ADMIN {
        (
            "admin.password".into(),
            "admin.passwordMtime".into(),
            "admin.tokens".into(),
        )
    } else {
        (
            format!("accounts.{name}.password"),
            format!("accounts.{name}.passwordMtime"),
            format!("accounts.{name}.tokens"),
        )
    }
}

impl Settings {
    fn secret_str(&self, key: &str) -> Option<&str> {
        self.secret
            .get(key)
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|s| !s.is_empty())
    }

    /// The HS256 key of session tokens (`server.secretkey`).
    pub fn signing_key(&self) -> Option<&[u8]> {
        self.secret
            .get("server.secretkey")
            .map(Vec::as_slice)
            .filter(|k| !k.is_empty())
    }

    /// Every account, `admin` first, then by name.
    pub fn accounts(&self) -> Vec<Account> {
        let mut names: Vec<&str> = self
            .config
            .keys()
            .filter_map(|k| k.strip_prefix("accounts."))
            // `accounts.<name>` declares; `accounts.<name>.enabled` is a flag.
            .filter(|rest| !rest.ends_with(".enabled"))
            .filter(|name| !name.is_empty() && *name != ADMIN)
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut accounts = vec![self.account_named(ADMIN)];
        accounts.extend(names.into_iter().map(|n| self.account_named(n)));
        accounts
    }

    /// The account `name`, if it exists.
    pub fn account(&self, name: &str) -> Option<Account> {
        if name != ADMIN && !self.config.contains_key(&format!("accounts.{name}")) {
            return None;
        }
        Some(self.account_named(name))
    }

    fn account_named(&self, name: &str) -> Account {
        let (password_key, mtime_key, tokens_key) = secret_keys(name);
        let declared = self.config.get(&format!("accounts.{name}"));
        let capabilities = match declared {
            Some(list) => parse_capabilities(list),
            // The built-in admin logs in unless told otherwise.
            None => vec![Capability::Login],
        };
        let enabled_key = if name == ADMIN {
            "admin.enabled".to_string()
        } else {
            format!("accounts.{name}.enabled")
        };
        let enabled = self
            .config
            .get(&enabled_key)
            .is_none_or(|v| v.trim() != "false");
        let tokens = self
            .secret_str(&tokens_key)
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        Account {
            name: name.to_string(),
            enabled,
            capabilities,
            password_hash: self.secret_str(&password_key).map(str::to_string),
            password_mtime: self
                .secret_str(&mtime_key)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_second()),
            tokens,
        }
    }

    /// `users.session.duration` in seconds (default 24h).
    pub fn session_duration(&self) -> i64 {
        const DEFAULT: i64 = 24 * 3_600;
        match self.config.get("users.session.duration") {
            None => DEFAULT,
            Some(text) => match crate::duration::parse_go_duration(text) {
                Ok(secs) if secs > 0 => secs,
                Ok(_) => DEFAULT,
                Err(e) => {
                    tracing::warn!(error = %e, "argocd-cm users.session.duration is invalid; using 24h");
                    DEFAULT
                }
            },
        }
    }

    /// `passwordPattern`, if set.
    pub fn password_pattern(&self) -> Option<&str> {
        self.config
            .get("passwordPattern")
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }
}

/// `apiKey, login` -> capabilities (unknown words are ignored, as Argo CD
/// logs and skips them).
fn parse_capabilities(list: &str) -> Vec<Capability> {
    let mut caps: Vec<Capability> = list
        .split(',')
        .filter_map(|c| match c.trim() {
            "login" => Some(Capability::Login),
            "apiKey" => Some(Capability::ApiKey),
            _ => None,
        })
        .collect();
    caps.sort();
    caps.dedup();
    caps
}

/// RFC 3339, as Argo CD writes `passwordMtime`.
pub fn format_mtime(unix_seconds: i64) -> String {
    jiff::Timestamp::from_second(unix_seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(config: &[(&str, &str)], secret: &[(&str, &str)]) -> Settings {
        Settings {
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secret: secret
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn admin_exists_and_logs_in_by_default() {
        let s = settings(
            &[],
            &[
                ("admin.password", "$2a$10$hash"),
                ("admin.passwordMtime", "2024-05-01T10:00:00Z"),
            ],
        );
        let admin = s.account("admin").unwrap();
        assert!(admin.enabled);
        assert_eq!(admin.capabilities, vec![Capability::Login]);
        assert_eq!(admin.password_hash.as_deref(), Some("$2a$10$hash"));
        assert_eq!(admin.password_mtime, Some(1_714_557_600));
    }

    #[test]
    fn admin_can_be_disabled() {
        let s = settings(&[("admin.enabled", "false")], &[]);
        assert!(!s.account("admin").unwrap().enabled);
    }

    #[test]
    fn declared_accounts_with_capabilities_and_flags() {
        let s = settings(
            &[
                ("accounts.alice", "apiKey, login"),
                ("accounts.ci", "apiKey"),
                ("accounts.bob", "login"),
                ("accounts.bob.enabled", "false"),
                ("url", "https://gyro.example.com"),
            ],
            &[
                ("accounts.alice.password", "$2a$10$alice"),
                (
                    "accounts.ci.tokens",
                    r#"[{"id":"t1","iat":100},{"id":"t2","iat":200,"exp":300}]"#,
                ),
            ],
        );
        let names: Vec<String> = s.accounts().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["admin", "alice", "bob", "ci"]);
        let alice = s.account("alice").unwrap();
        assert_eq!(
            alice.capabilities,
            vec![Capability::Login, Capability::ApiKey]
        );
        assert!(alice.enabled);
        assert_eq!(alice.password_hash.as_deref(), Some("$2a$10$alice"));
        assert!(!s.account("bob").unwrap().enabled);
        let ci = s.account("ci").unwrap();
        assert!(!ci.can(Capability::Login));
        assert_eq!(
            ci.tokens,
            vec![
                AccountToken {
                    id: "t1".into(),
                    iat: 100,
                    exp: 0
                },
                AccountToken {
                    id: "t2".into(),
                    iat: 200,
                    exp: 300
                },
            ]
        );
        assert_eq!(s.account("mallory"), None);
    }

    #[test]
    fn an_enabled_flag_alone_declares_nothing_extra() {
        let s = settings(
            &[
                ("accounts.alice", "login"),
                ("accounts.alice.enabled", "true"),
            ],
            &[],
        );
        let names: Vec<String> = s.accounts().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["admin", "alice"]);
    }

    #[test]
    fn session_duration_defaults_to_a_day() {
        assert_eq!(settings(&[], &[]).session_duration(), 86_400);
        assert_eq!(
            settings(&[("users.session.duration", "2h")], &[]).session_duration(),
            7_200
        );
        assert_eq!(
            settings(&[("users.session.duration", "soon")], &[]).session_duration(),
            86_400
        );
    }

    #[test]
    fn mtime_round_trips_through_rfc3339() {
        let text = format_mtime(1_714_557_600);
        assert_eq!(text, "2024-05-01T10:00:00Z");
    }
}
