//! `GET /api/v1/stream/applications`: a server-sent event stream of
//! Application changes, as Argo CD's watch API sends them: each event is
//! `data: {"result":{"type":"ADDED|MODIFIED|DELETED","application":{...}}}`;
//! the current Applications come first as `ADDED`. Filters: `name`,
//! `selector`, `projects`, `appNamespace`; Applications the caller may not
//! `get` are left out.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use api::Application;
use axum::Router;
use axum::extract::State as AxumState;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use kube::runtime::watcher;
use serde_json::json;

use crate::applications::ListFilter;
use crate::extract::Query;
use crate::{ApiError, Principal, State};

pub fn routes() -> Router<Arc<State>> {
    Router::new().route("/api/v1/stream/applications", get(stream))
}

/// What one watcher event becomes: the (type, Application) pairs to send,
/// given the names already sent (updated).
pub fn translate(
    event: watcher::Event<Application>,
    seen: &mut HashSet<String>,
) -> Vec<(&'static str, Application)> {
    let key = |a: &Application| {
        format!(
            "{}/{}",
            a.metadata.namespace.as_deref().unwrap_or(""),
            a.metadata.name.as_deref().unwrap_or("")
        )
    };
    match event {
        watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
        watcher::Event::InitApply(app) | watcher::Event::Apply(app) => {
            let kind = if seen.insert(key(&app)) {
                "ADDED"
            } else {
                "MODIFIED"
            };
            vec![(kind, app)]
        }
        watcher::Event::Delete(app) => {
            seen.remove(&key(&app));
            vec![("DELETED", app)]
        }
    }
}

async fn stream(
    AxumState(state): AxumState<Arc<State>>,
    principal: Principal,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = ListFilter::from_pairs(pairs);
    let ns = state.app_namespace(filter.app_namespace.as_deref());
    crate::applications::check_name("appNamespace", &ns)?;
    let mut config = watcher::Config::default();
    if let Some(selector) = &filter.selector {
        config = config.labels(selector);
    }
    if let Some(name) = &filter.name {
        config = config.fields(&format!("metadata.name={name}"));
    }
    let apps = state.apps(&ns);
    // A bad selector fails the first list: answer it as a 400 now rather
    // than as a stream that ends at once.
    let mut check = kube::api::ListParams::default().limit(1);
    if let Some(selector) = &filter.selector {
        check = check.labels(selector);
    }
    apps.list_metadata(&check).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 400 => {
            ApiError::bad_request(format!("selector: {}", s.message))
        }
        e => crate::applications::kube_error(e),
    })?;
    let mut seen = HashSet::new();
    let events = watcher(apps, config)
        .filter_map(move |event| {
            let out = match event {
                Ok(event) => translate(event, &mut seen),
                Err(e) => {
                    tracing::debug!(error = %e, "application stream: watch error, retrying");
                    Vec::new()
                }
            };
            let out: Vec<Result<Event, Infallible>> = out
                .into_iter()
                .filter(|(_, app)| filter.keeps(app))
                .filter(|(_, app)| {
                    state.allowed(&principal, "applications", "get", &state.object_of(app))
                })
                .filter_map(|(kind, app)| {
                    let data = json!({"result": {"type": kind, "application": app}});
                    Event::default().json_data(data).ok().map(Ok)
                })
                .collect();
            futures::future::ready(Some(futures::stream::iter(out)))
        })
        .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": "default", "destination": {}}
        }))
        .unwrap()
    }

    #[test]
    fn first_sight_is_added_then_modified_then_deleted() {
        let mut seen = HashSet::new();
        let kinds =
            |v: Vec<(&'static str, Application)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            kinds(translate(watcher::Event::InitApply(app("a")), &mut seen)),
            ["ADDED"]
        );
        assert!(translate(watcher::Event::InitDone, &mut seen).is_empty());
        assert_eq!(
            kinds(translate(watcher::Event::Apply(app("a")), &mut seen)),
            ["MODIFIED"]
        );
        assert_eq!(
            kinds(translate(watcher::Event::Delete(app("a")), &mut seen)),
            ["DELETED"]
        );
        assert_eq!(
            kinds(translate(watcher::Event::Apply(app("a")), &mut seen)),
            ["ADDED"]
        );
    }
}
