//! `GET /api/version`, which needs no login (`GET /api/v1/settings`, the
//! other call a client makes before it logs in, is in [`crate::sso`]).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::State;

pub fn routes() -> Router<Arc<State>> {
    Router::new().route("/api/version", get(version))
}

/// Argo CD's version document.
pub fn version_document() -> Value {
    json!({
        "Version": concat!("v", env!("CARGO_PKG_VERSION")),
        "BuildDate": "",
        "GitCommit": option_env!("GYRO_GIT_COMMIT").unwrap_or(""),
        "Platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

async fn version() -> axum::Json<Value> {
    axum::Json(version_document())
}
