//! The API's error: an HTTP status and a message meant for a person. The
//! body has Argo CD's (grpc-gateway) shape, `{"error", "code", "message"}`,
//! so clients written for Argo CD read it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong (malformed body, bad field).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no credentials, or credentials that are wrong, expired or
    /// revoked.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: authenticated, but RBAC does not allow it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the object exists, or changed under the request.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 429: too many attempts (login rate limit).
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
    }

    /// 500: gyro's own failure. Kept for what truly is the server's fault
    /// (the API server unreachable, say); a client's input never ends here.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The gRPC code Argo CD's gateway puts beside the message.
    fn grpc_code(&self) -> u16 {
        match self.status {
            StatusCode::BAD_REQUEST => 3,
            StatusCode::NOT_FOUND => 5,
            StatusCode::CONFLICT => 6,
            StatusCode::FORBIDDEN => 7,
            StatusCode::TOO_MANY_REQUESTS => 8,
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 13,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.message,
            "code": self.grpc_code(),
            "message": self.message,
        });
        (self.status, Json(body)).into_response()
    }
}
