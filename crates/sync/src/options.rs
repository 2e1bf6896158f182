//! Sync options as Argo CD writes them: `Key=value` strings in an
//! Application's `spec.syncPolicy.syncOptions`, and per resource in the
//! `argocd.argoproj.io/sync-options` annotation (comma-separated).

use serde_json::Value;

/// The annotation holding a resource's own sync options.
pub const ANNOTATION: &str = "argocd.argoproj.io/sync-options";

/// How deleted objects' dependents are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Foreground,
    Background,
    Orphan,
}

/// The options that change what a sync does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncOptions {
    /// `CreateNamespace=true`: create the destination namespace first.
    pub create_namespace: bool,
    /// `PruneLast=true`: prune after everything else is applied.
    pub prune_last: bool,
    /// `ApplyOutOfSyncOnly=true`: skip objects already in sync.
    pub apply_out_of_sync_only: bool,
    /// `ServerSideApply=true` (gyro applies server-side by default; `false`
    /// asks for client-side apply as kubectl does it, see
    /// [`crate::client_side`]).
    pub server_side_apply: Option<bool>,
    /// `Replace=true`: replace (create or update) instead of apply.
    pub replace: bool,
    /// `Validate=false`: tell the API server to ignore unknown fields.
    pub validate: bool,
    /// `PrunePropagationPolicy=foreground|background|orphan`.
    pub prune_propagation: Propagation,
    /// `Prune=false` (per resource): never prune this object.
    pub no_prune: bool,
    /// `Delete=false` (per resource): keep it when the Application goes.
    pub no_delete: bool,
}

/// A sync option gyro does not know, or a value it cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync option '{option}': {problem}")]
pub struct OptionError {
    pub option: String,
    pub problem: String,
}

impl SyncOptions {
    /// Reads an Application's `syncOptions` list.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<SyncOptions, OptionError> {
        let mut o = SyncOptions {
            validate: true,
            ..SyncOptions::default()
        };
        for item in items {
            o.set(item.trim())?;
        }
        Ok(o)
    }

    /// These options with a resource's own annotation applied on top.
    pub fn for_object(&self, obj: &Value) -> Result<SyncOptions, OptionError> {
        let mut o = self.clone();
        if let Some(text) = obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(ANNOTATION))
            .and_then(Value::as_str)
        {
            for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                o.set(item)?;
            }
        }
        Ok(o)
    }

    fn set(&mut self, item: &str) -> Result<(), OptionError> {
        let err = |problem: &str| OptionError {
            option: item.to_string(),
            problem: problem.to_string(),
        };
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| err("expected Key=value"))?;
        let flag = || match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(err("expected true or false")),
        };
        match key {
            "CreateNamespace" => self.create_namespace = flag()?,
            "PruneLast" => self.prune_last = flag()?,
            "ApplyOutOfSyncOnly" => self.apply_out_of_sync_only = flag()?,
            "ServerSideApply" => self.server_side_apply = Some(flag()?),
            "Replace" => self.replace = flag()?,
            "Validate" => self.validate = flag()?,
            "Prune" => self.no_prune = !flag()?,
            "Delete" => self.no_delete = !flag()?,
            "PrunePropagationPolicy" => {
                self.prune_propagation = match value {
                    "foreground" => Propagation::Foreground,
                    "background" => Propagation::Background,
                    "orphan" => Propagation::Orphan,
                    _ => return Err(err("expected foreground, background or orphan")),
                }
            }
            // Options gyro accepts for compatibility but that change nothing
            // here: Argo CD UI and operation hints.
            "RespectIgnoreDifferences" | "FailOnSharedResource" | "SkipDryRunOnMissingResource" => {
            }
            _ => return Err(err("unknown sync option")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_argo_cd_options() {
        let o = SyncOptions::parse([
            "CreateNamespace=true",
            "PruneLast=true",
            "PrunePropagationPolicy=background",
            "ApplyOutOfSyncOnly=true",
        ])
        .unwrap();
        assert!(o.create_namespace && o.prune_last && o.apply_out_of_sync_only && o.validate);
        assert_eq!(o.prune_propagation, Propagation::Background);
    }

    #[test]
    fn a_resource_annotation_adds_to_the_app_options() {
        let app = SyncOptions::parse(["CreateNamespace=true"]).unwrap();
        let obj = json!({"metadata": {"annotations": {ANNOTATION: "Prune=false, Validate=false"}}});
        let o = app.for_object(&obj).unwrap();
        assert!(o.no_prune && !o.validate && o.create_namespace);
    }

    #[test]
    fn bad_options_are_named() {
        let e = SyncOptions::parse(["Prune=maybe"]).unwrap_err();
        assert_eq!(e.option, "Prune=maybe");
        let e = SyncOptions::parse(["Frobnicate=true"]).unwrap_err();
        assert!(e.to_string().contains("unknown sync option"), "{e}");
    }
}
