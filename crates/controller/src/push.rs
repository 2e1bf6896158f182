//! What a Git push does to the controller: the webhook endpoint
//! (`POST /api/webhook`, from the `webhook` crate) hands each accepted push
//! here; the resolved revisions of that repository are forgotten and every
//! Application whose source the push may change is reconciled at once
//! (Argo CD's webhook refresh). The secrets that check the requests come
//! from the watched `argocd-secret`.

use std::sync::Arc;
use std::time::Duration;

use api::Application;
use kube::runtime::reflector::Store;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::{Context, Trigger};

/// The Applications a push concerns, as (namespace, name): any source with
/// the pushed repository and a `targetRevision` the push moves, unless the
/// `manifest-generate-paths` annotation names paths the push did not touch.
pub fn concerned<'a>(
    push: &webhook::Push,
    apps: impl IntoIterator<Item = &'a Application>,
) -> Vec<(String, String)> {
    apps.into_iter()
        .filter(|app| concerns(push, app))
        .filter_map(key)
        .collect()
}

fn concerns(push: &webhook::Push, app: &Application) -> bool {
    let sources = app.spec.effective_sources();
    let touched = sources
        .iter()
        .any(|s| push.touches(&s.repo_url, s.target_revision.as_deref().unwrap_or("")));
    let paths: Vec<&str> = sources
        .iter()
        .map(|s| s.path.as_deref().unwrap_or(""))
        .collect();
    let wanted = app
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(webhook::MANIFEST_GENERATE_PATHS))
        .map(|a| webhook::refresh_paths(a, &paths))
        .unwrap_or_default();
    touched && push.changes_paths(&wanted)
}

/// How long the Applications a push concerns but whose own directory it
/// did not touch wait behind those whose directory it did.
pub const UNTOUCHED_DELAY: Duration = Duration::from_millis(1000);

/// Handles one push: forget the repository's resolutions, wake the
/// Applications it concerns. When the push lists changed files and some of
/// the Applications have their source directory among them, those go first
/// and the others (which usually only move to the new revision) follow
/// [`UNTOUCHED_DELAY`] later, so a change to one app of a thousand on a repo
/// is not queued behind the other 999.
pub fn on_push(ctx: &Arc<Context>, apps: &[Store<Application>], push: &webhook::Push) {
    ctx.forget_revisions(|url| push.repo_urls.iter().any(|u| webhook::same_repo(u, url)));
    crate::appset::on_push(ctx, push);
    let states: Vec<Arc<Application>> = apps.iter().flat_map(|s| s.state()).collect();
    let concerned: Vec<&Application> = states
        .iter()
        .map(|a| &**a)
        .filter(|app| concerns(push, app))
        .collect();
    let (first, later): (Vec<&Application>, Vec<&Application>) = concerned
        .into_iter()
        .partition(|app| touches_own_directory(push, app));
    let (first, later) = if first.is_empty() {
        (later, Vec::new())
    } else {
        (first, later)
    };
    info!(
        repo = push.repo_urls.first().map(String::as_str).unwrap_or(""),
        git_ref = push.git_ref.as_deref().unwrap_or(""),
        applications = first.len() + later.len(),
        touched = first.len(),
        "push received"
    );
    for app in first.iter().filter_map(|a| key(a)) {
        ctx.request(app, Trigger::Push);
    }
    let later: Vec<(String, String)> = later.iter().filter_map(|a| key(a)).collect();
    if !later.is_empty() {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(UNTOUCHED_DELAY).await;
            for app in later {
                ctx.request(app, Trigger::Push);
            }
        });
    }
}

fn key(app: &Application) -> Option<(String, String)> {
    Some((app.metadata.namespace.clone()?, app.metadata.name.clone()?))
}

/// Whether the push lists a changed file under one of the Application's
/// source directories.
fn touches_own_directory(push: &webhook::Push, app: &Application) -> bool {
    let sources = app.spec.effective_sources();
    let paths: Vec<&str> = sources
        .iter()
        .map(|s| s.path.as_deref().unwrap_or(""))
        .collect();
    !push.changed_files.is_empty() && push.changes_paths(&webhook::refresh_paths(".", &paths))
}

/// The webhook's router (`POST /api/webhook`), its pushes handed to
/// [`on_push`].
pub fn router(ctx: Arc<Context>, apps: Vec<Store<Application>>) -> axum::Router {
    let on_push: webhook::OnPush = {
        let ctx = ctx.clone();
        Arc::new(move |push: webhook::Push| on_push(&ctx, &apps, &push))
    };
    webhook::router(webhook::WebhookState::new(
        ctx.settings.webhook_secrets(),
        on_push,
    ))
}

/// Serves `POST /api/webhook` on `listener` until the process ends.
pub async fn serve(ctx: Arc<Context>, apps: Vec<Store<Application>>, listener: TcpListener) {
    let router = router(ctx, apps);
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    info!(%addr, "serving the Git webhook at /api/webhook");
    if let Err(e) = axum::serve(listener, router).await {
        warn!(%addr, error = %e, "the webhook server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(name: &str, repo: &str, revision: &str, annotation: Option<&str>) -> Application {
        let mut meta = json!({"name": name, "namespace": "argocd"});
        if let Some(paths) = annotation {
            meta["annotations"] = json!({webhook::MANIFEST_GENERATE_PATHS: paths});
        }
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
            "spec": {"project": "default",
                     "source": {"repoURL": repo, "targetRevision": revision, "path": "apps/web"},
                     "destination": {"server": "https://kubernetes.default.svc"}}
        }))
        .unwrap()
    }

    #[test]
    fn apps_whose_directory_changed_are_told_first() {
        let mut push = github_push();
        let web = app("web", "https://github.com/shop/config", "main", None);
        let mut db = web.clone();
        db.spec.source.as_mut().unwrap().path = Some("apps/db".into());
        assert!(touches_own_directory(&push, &web));
        assert!(!touches_own_directory(&push, &db));
        push.changed_files.clear();
        assert!(!touches_own_directory(&push, &web));
    }

    fn github_push() -> webhook::Push {
        webhook::Push {
            provider: webhook::Provider::GitHub,
            repo_urls: vec!["https://github.com/shop/config".into()],
            git_ref: Some("refs/heads/main".into()),
            branch_or_tag: Some("main".into()),
            default_branch: Some("main".into()),
            before: None,
            after: Some("a".repeat(40)),
            changed_files: vec!["apps/web/deployment.yaml".into()],
        }
    }

    #[test]
    fn a_push_concerns_apps_on_that_repo_and_branch_whose_paths_changed() {
        let push = github_push();
        let apps = [
            app("same", "https://github.com/shop/config.git", "main", None),
            app("head", "git@github.com:shop/config.git", "HEAD", None),
            app(
                "other-branch",
                "https://github.com/shop/config",
                "release",
                None,
            ),
            app("other-repo", "https://github.com/shop/other", "main", None),
            app(
                "paths-hit",
                "https://github.com/shop/config",
                "main",
                Some("."),
            ),
            app(
                "paths-miss",
                "https://github.com/shop/config",
                "main",
                Some("/shared"),
            ),
        ];
        let names: Vec<String> = concerned(&push, &apps)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(names, ["same", "head", "paths-hit"]);
    }
}
