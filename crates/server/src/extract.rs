//! Request extractors that answer a bad request with an [`ApiError`] in
//! Argo CD's JSON shape (axum's own rejections are plain text).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body; malformed JSON or a wrong field is a 400 naming it.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(ApiError::new(
                // 413 stays 413; everything else about the body is a 400.
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    rejection.status()
                } else {
                    axum::http::StatusCode::BAD_REQUEST
                },
                format!("invalid request body: {}", rejection.body_text()),
            )),
        }
    }
}

/// Query parameters; a malformed one is a 400 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
    }
}

/// A path parameter; one that does not decode is a 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

/// `?upsert=true`: a create that replaces what is there instead of
/// answering 409 (applications, repositories, clusters).
#[derive(Debug, Default, serde::Deserialize)]
pub struct UpsertQuery {
    pub upsert: Option<bool>,
}
