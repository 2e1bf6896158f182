//! `GET /metrics` (Prometheus text, no login, as Argo CD) from the
//! controller's registry, and the middleware that records every API
//! request's method, matched route, status and latency there.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State as AxumState};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::State;

pub fn routes() -> Router<Arc<State>> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(AxumState(state): AxumState<Arc<State>>) -> Response {
    (
        [(CONTENT_TYPE, controller::metrics::CONTENT_TYPE)],
        state.controller.metrics.encode(),
    )
        .into_response()
}

/// Records one request (route patterns, not paths, so series stay few;
/// unmatched paths are `unmatched`).
pub async fn record(AxumState(state): AxumState<Arc<State>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let response = next.run(req).await;
    state.controller.metrics.api_request(
        &method,
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}
