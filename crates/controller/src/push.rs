//! What a Git push does to the controller: the webhook endpoint
//! (`POST /api/webhook`, from the `webhook` crate) hands each accepted push
//! here; the resolved revisions of that repository are forgotten and every
//! Application whose source the push may change is reconciled at once
//! (Argo CD's webhook refresh). The secrets that check the requests come
//! from the watched `argocd-secret`.

use std::sync::Arc;

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
        .filter(|app| {
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
        })
        .filter_map(|app| Some((app.metadata.namespace.clone()?, app.metadata.name.clone()?)))
        .collect()
}

/// Handles one push: forget the repository's resolutions, wake the
/// Applications it concerns.
pub fn on_push(ctx: &Context, apps: &[Store<Application>], push: &webhook::Push) {
    ctx.forget_revisions(|url| push.repo_urls.iter().any(|u| webhook::same_repo(u, url)));
    let states: Vec<Arc<Application>> = apps.iter().flat_map(|s| s.state()).collect();
    let concerned = concerned(push, states.iter().map(|a| &**a));
    info!(
        repo = push.repo_urls.first().map(String::as_str).unwrap_or(""),
        git_ref = push.git_ref.as_deref().unwrap_or(""),
        applications = concerned.len(),
        "push received"
    );
    for app in concerned {
        ctx.request(app, Trigger::Push);
    }
}

/// Serves `POST /api/webhook` on `listener` until the process ends.
pub async fn serve(ctx: Arc<Context>, apps: Vec<Store<Application>>, listener: TcpListener) {
    let on_push: webhook::OnPush = {
        let ctx = ctx.clone();
        Arc::new(move |push: webhook::Push| on_push(&ctx, &apps, &push))
    };
    let state = webhook::WebhookState::new(ctx.settings.webhook_secrets(), on_push);
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    info!(%addr, "serving the Git webhook at /api/webhook");
    if let Err(e) = axum::serve(listener, webhook::router(state)).await {
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
    fn a_push_concerns_apps_on_that_repo_and_branch_whose_paths_changed() {
        let push = webhook::Push {
            provider: webhook::Provider::GitHub,
            repo_urls: vec!["https://github.com/shop/config".into()],
            git_ref: Some("refs/heads/main".into()),
            branch_or_tag: Some("main".into()),
            default_branch: Some("main".into()),
            before: None,
            after: Some("a".repeat(40)),
            changed_files: vec!["apps/web/deployment.yaml".into()],
        };
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
