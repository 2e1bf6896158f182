//! What can go wrong in authentication, each kind meaning one HTTP status
//! (see [`AuthError::status`]).

/// An authentication failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Wrong password, unknown or disabled user: one message for all, so
    /// that the answer does not tell which user names exist.
    #[error("Invalid username or password")]
    BadCredentials,
    /// Not a token gyro signed, or not readable as one.
    #[error("invalid session token: {0}")]
    InvalidToken(String),
    /// The token's `exp` has passed.
    #[error("session token has expired; log in again")]
    Expired,
    /// Logged out, deleted, or issued before the account's password changed.
    #[error("session token has been revoked: {0}")]
    Revoked(String),
    /// Too many failed logins for this user or from this address.
    #[error(
        "too many failed login attempts for {subject}; try again in {retry_after_secs} seconds"
    )]
    RateLimited {
        subject: String,
        retry_after_secs: i64,
    },
    /// The request names something invalid (a bad password, a missing
    /// capability, an unknown role).
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this (change another user's password).
    #[error("{0}")]
    Forbidden(String),
    /// No such account, project, role or token.
    #[error("{0}")]
    NotFound(String),
    /// An id already in use.
    #[error("{0}")]
    Conflict(String),
    /// The Kubernetes API failed (unreachable, refused a write).
    #[error("{0}")]
    Cluster(String),
}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadCredentials | Self::InvalidToken(_) | Self::Expired | Self::Revoked(_) => 401,
            Self::RateLimited { .. } => 429,
            Self::BadRequest(_) => 400,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Cluster(_) => 500,
        }
    }

    /// Seconds until a rate-limited caller may try again.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    pub(crate) fn cluster(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Cluster(format!("{what}: {e}"))
    }
}
