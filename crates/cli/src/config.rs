//! The CLI's config file: the servers it has logged in to and their tokens,
//! in Argo CD's local-config shape (`contexts`, `servers`, `users`,
//! `current-context`), so a file written by `argocd login` reads here too.
//!
//! The file is `$GYRO_CONFIG`, else `--config`, else
//! `~/.config/gyro/config`; it holds bearer tokens, so it is written with
//! mode 0600.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LocalConfig {
    #[serde(default)]
    pub current_context: String,
    #[serde(default)]
    pub contexts: Vec<ContextRef>,
    #[serde(default)]
    pub servers: Vec<Server>,
    #[serde(default)]
    pub users: Vec<User>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRef {
    pub name: String,
    pub server: String,
    pub user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Server {
    pub server: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub plain_text: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_token: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What the current (or named) context resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub context: String,
    pub server: Server,
    pub token: Option<String>,
}

impl LocalConfig {
    /// Parses the file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).with_context(|| format!("{file}: not a gyro config file"))
    }

    /// The file's text.
    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).context("serializing the config file")
    }

    /// The context `name` (the current one when `None`) with its server
    /// and token; `None` when there is no such context.
    pub fn resolve(&self, name: Option<&str>) -> Option<Resolved> {
        let name = name.unwrap_or(&self.current_context);
        let ctx = self.contexts.iter().find(|c| c.name == name)?;
        let server = self
            .servers
            .iter()
            .find(|s| s.server == ctx.server)
            .cloned()
            .unwrap_or_else(|| Server {
                server: ctx.server.clone(),
                ..Server::default()
            });
        let token = self
            .users
            .iter()
            .find(|u| u.name == ctx.user)
            .map(|u| u.auth_token.clone())
            .filter(|t| !t.is_empty());
        Some(Resolved {
            context: ctx.name.clone(),
            server,
            token,
        })
    }

    /// The token stored for `server` (through any context naming it).
    pub fn token_for_server(&self, server: &str) -> Option<String> {
        self.contexts
            .iter()
            .filter(|c| c.server == server)
            .find_map(|c| self.users.iter().find(|u| u.name == c.user))
            .map(|u| u.auth_token.clone())
            .filter(|t| !t.is_empty())
    }

    /// Records a login: the server, its token under a user of the
    /// server's name, and the context `name`, made current.
    pub fn upsert_login(&mut self, name: &str, server: Server, token: &str) {
        let user = server.server.clone();
        upsert(
            &mut self.users,
            |u| u.name == user,
            User {
                name: user.clone(),
                auth_token: token.to_string(),
            },
        );
        upsert(
            &mut self.contexts,
            |c| c.name == name,
            ContextRef {
                name: name.to_string(),
                server: server.server.clone(),
                user,
            },
        );
        let key = server.server.clone();
        upsert(&mut self.servers, |s| s.server == key, server);
        self.current_context = name.to_string();
    }

    /// Forgets the token of the context `name`; false when there is none.
    pub fn remove_token(&mut self, name: &str) -> bool {
        let Some(user) = self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.user.clone())
        else {
            return false;
        };
        match self.users.iter_mut().find(|u| u.name == user) {
            Some(u) => {
                u.auth_token.clear();
                true
            }
            None => false,
        }
    }
}

fn upsert<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool, item: T) {
    match items.iter_mut().find(|i| matches(i)) {
        Some(slot) => *slot = item,
        None => items.push(item),
    }
}

/// Where the config file is: `explicit` (from `--config` or
/// `$GYRO_CONFIG`), else `$XDG_CONFIG_HOME/gyro/config`, else
/// `~/.config/gyro/config`.
pub fn path(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("gyro").join("config"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("cannot find the config file: HOME is not set (use --config or GYRO_CONFIG)")?;
    Ok(PathBuf::from(home)
        .join(".config")
        .join("gyro")
        .join("config"))
}

/// Reads the file; a missing file is an empty config.
pub fn load(path: &Path) -> Result<LocalConfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => LocalConfig::parse(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LocalConfig::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the file (creating its directory), readable by the owner only.
pub fn save(path: &Path, config: &LocalConfig) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = config.to_yaml()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on open: tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LocalConfig {
        let mut c = LocalConfig::default();
        c.upsert_login(
            "prod",
            Server {
                server: "cd.example.com:443".into(),
                insecure: true,
                plain_text: false,
            },
            "tok-1",
        );
        c
    }

    #[test]
    fn round_trip_through_yaml() {
        let c = sample();
        let text = c.to_yaml().unwrap();
        assert!(text.contains("current-context: prod"), "{text}");
        assert!(text.contains("auth-token: tok-1"), "{text}");
        assert_eq!(LocalConfig::parse(&text, "f").unwrap(), c);
    }

    #[test]
    fn reads_an_argocd_written_file() {
        let text = "contexts:\n- name: cd\n  server: cd:443\n  user: cd\ncurrent-context: cd\nprompts-enabled: false\nservers:\n- grpc-web-root-path: \"\"\n  server: cd:443\n  plain-text: true\nusers:\n- auth-token: abc\n  name: cd\n";
        let c = LocalConfig::parse(text, "f").unwrap();
        let r = c.resolve(None).unwrap();
        assert_eq!(r.server.server, "cd:443");
        assert!(r.server.plain_text);
        assert_eq!(r.token.as_deref(), Some("abc"));
    }

    #[test]
    fn login_twice_updates_in_place_and_logout_forgets_the_token() {
        let mut c = sample();
        c.upsert_login(
            "prod",
            Server {
                server: "cd.example.com:443".into(),
                ..Server::default()
            },
            "tok-2",
        );
        assert_eq!(c.contexts.len(), 1);
        assert_eq!(c.users.len(), 1);
        assert_eq!(
            c.token_for_server("cd.example.com:443").as_deref(),
            Some("tok-2")
        );
        assert!(c.remove_token("prod"));
        assert_eq!(c.resolve(None).unwrap().token, None);
        assert!(!c.remove_token("nope"));
    }

    #[test]
    fn unknown_context_resolves_to_none_and_garbage_is_an_error() {
        assert_eq!(sample().resolve(Some("other")), None);
        let err = LocalConfig::parse("- a\n- b\n", "/x/config").unwrap_err();
        assert!(format!("{err:#}").contains("/x/config"));
    }

    #[test]
    fn saved_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("config");
        save(&p, &sample()).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&p).unwrap(), sample());
        assert_eq!(
            load(&dir.path().join("none")).unwrap(),
            LocalConfig::default()
        );
    }
}
