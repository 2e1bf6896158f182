//! gyro's Git webhook receiver: `POST /api/webhook`, as Argo CD's API server
//! serves it, so Git hosts can tell gyro about a push instead of waiting for
//! the next poll.
//!
//! The crate has a pure core and a thin HTTP edge:
//! - [`parse`] takes the request headers and body and the configured
//!   [`Secrets`], checks the provider's signature or token, and returns the
//!   [`Push`] (repository URLs, ref, new commit, changed files) or `None` for
//!   events that are not pushes (pings, pull requests...).
//! - [`same_repo`] and [`Push::touches`] decide whether a push concerns an
//!   Application source (`repoURL` + `targetRevision`), the way Argo CD
//!   matches webhook payloads to Applications.
//! - [`router`] serves the endpoint with axum and hands every accepted push
//!   to a callback; it does not know about Applications or the cluster. The
//!   controller owns what a push triggers (a refresh) and where the secrets
//!   come from (the `argocd-secret` Secret).
//!
//! - [`refresh_paths`] and [`Push::changes_paths`] implement Argo CD's
//!   `manifest-generate-paths` annotation: skip Applications whose paths the
//!   push did not touch.
//!
//! Not supported: Azure DevOps service hooks (answered 400), Argo CD's
//! `$secret:key` indirection in secret values, and fetching changed files
//! from the Bitbucket API (Bitbucket payloads carry none).

mod paths;
mod payload;
mod push;
mod repo_url;
mod secrets;
mod server;
mod verify;

#[cfg(test)]
mod tests;

use axum::http::{HeaderMap, StatusCode};

pub use paths::{MANIFEST_GENERATE_PATHS, refresh_paths};
pub use push::{Provider, Push};
pub use repo_url::same_repo;
pub use secrets::Secrets;
pub use server::{DEFAULT_MAX_BODY_BYTES, OnPush, WebhookState, router};

/// Why a webhook request is refused. Each variant maps to one HTTP status
/// ([`Rejection::status`]); the `Display` text is the response body, so it
/// says what was wrong and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No header names a provider gyro understands.
    #[error(
        "unknown webhook event: expected one of the headers X-GitHub-Event, X-Gitlab-Event, \
         X-Gitea-Event, X-Gogs-Event, X-Hook-UUID or X-Event-Key"
    )]
    UnknownEvent,
    /// A provider gyro recognises but does not support.
    #[error("{provider} webhooks are not supported by gyro; rely on polling for this repository")]
    Unsupported {
        /// The provider, e.g. `Azure DevOps`.
        provider: &'static str,
    },
    /// A secret is configured for the provider but the request carries no
    /// signature or token.
    #[error(
        "{provider} webhook rejected: header {header} is missing but `{secret_key}` is configured \
         in argocd-secret; set the same secret in the webhook settings of the Git host"
    )]
    MissingSignature {
        /// The provider.
        provider: Provider,
        /// The header that should have carried the signature or token.
        header: &'static str,
        /// The `argocd-secret` key holding the configured secret.
        secret_key: &'static str,
    },
    /// The signature or token does not match the configured secret.
    #[error(
        "{provider} webhook rejected: header {header} does not match the secret configured as \
         `{secret_key}` in argocd-secret"
    )]
    BadSignature {
        /// The provider.
        provider: Provider,
        /// The header that carried the signature or token.
        header: &'static str,
        /// The `argocd-secret` key holding the configured secret.
        secret_key: &'static str,
    },
    /// The body is not the JSON the provider documents for the event.
    #[error("{provider} {event} payload is malformed: {error}")]
    Malformed {
        /// The provider.
        provider: Provider,
        /// The event named by the provider's event header.
        event: String,
        /// What is wrong, with the JSON path when the parser knows it.
        error: String,
    },
    /// A push payload that names no repository URL, so nothing can match it.
    #[error("{provider} {event} payload names no repository URL (expected {field})")]
    NoRepository {
        /// The provider.
        provider: Provider,
        /// The event named by the provider's event header.
        event: String,
        /// The payload field that should carry the URL.
        field: &'static str,
    },
    /// The body could not be read (the connection broke mid-request).
    #[error("could not read the webhook request body: {error}")]
    UnreadableBody {
        /// The transport error.
        error: String,
    },
    /// The body is larger than the configured limit.
    #[error(
        "webhook payload is larger than {limit} bytes; raise the receiver's body limit if the \
         Git host legitimately sends pushes this large"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl Rejection {
    /// The provider the request came from, when it was recognised.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Rejection::MissingSignature { provider, .. }
            | Rejection::BadSignature { provider, .. }
            | Rejection::Malformed { provider, .. }
            | Rejection::NoRepository { provider, .. } => Some(*provider),
            Rejection::UnknownEvent
            | Rejection::Unsupported { .. }
            | Rejection::UnreadableBody { .. }
            | Rejection::TooLarge { .. } => None,
        }
    }

    /// The HTTP status the rejection is answered with: 401 when a configured
    /// secret's signature is missing, 403 when it does not match, 413 for an
    /// oversized body and 400 for everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MissingSignature { .. } => StatusCode::UNAUTHORIZED,
            Rejection::BadSignature { .. } => StatusCode::FORBIDDEN,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::UnknownEvent
            | Rejection::Unsupported { .. }
            | Rejection::UnreadableBody { .. }
            | Rejection::Malformed { .. }
            | Rejection::NoRepository { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

/// What a verified request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A push (branch or tag update) that may refresh Applications.
    Push(Push),
    /// Another event of a known provider (a ping, a pull request...),
    /// answered 200 and otherwise ignored.
    Ignored {
        /// The provider.
        provider: Provider,
        /// The event name from the provider's event header.
        event: String,
    },
}

/// Parses one webhook request: finds the provider from the headers (in Argo
/// CD's order, so Gitea and Gogs, which also send GitHub's headers, are not
/// mistaken for GitHub), checks the signature or token when the provider's
/// secret is configured, and decodes push payloads.
///
/// Returns `Ok(None)` for events of a known provider that are not pushes.
pub fn parse(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Secrets,
) -> Result<Option<Push>, Rejection> {
    match parse_event(headers, body, secrets)? {
        Event::Push(push) => Ok(Some(push)),
        Event::Ignored { .. } => Ok(None),
    }
}

/// [`parse`], keeping the provider and event name of ignored events (the
/// HTTP handler reports them).
pub fn parse_event(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Secrets,
) -> Result<Event, Rejection> {
    if header(headers, "x-vss-activityid").is_some() {
        return Err(Rejection::Unsupported {
            provider: "Azure DevOps",
        });
    }
    let (provider, event) = identify(headers).ok_or(Rejection::UnknownEvent)?;
    verify::check(provider, headers, body, secrets)?;
    let json = payload::json_body(headers, body).map_err(|error| Rejection::Malformed {
        provider,
        event: event.clone(),
        error,
    })?;
    match payload::decode(provider, &event, &json)? {
        Some(push) => Ok(Event::Push(push)),
        None => Ok(Event::Ignored { provider, event }),
    }
}

/// The provider and event name, from the first event header present. The
/// order is Argo CD's: Gitea and Gogs send `X-GitHub-Event` too, and
/// Bitbucket Cloud sends `X-Event-Key` as Bitbucket Server does but is the
/// only one to send `X-Hook-UUID`.
fn identify(headers: &HeaderMap) -> Option<(Provider, String)> {
    let candidates = [
        ("x-gitea-event", Provider::Gitea),
        ("x-gogs-event", Provider::Gogs),
        ("x-github-event", Provider::GitHub),
        ("x-gitlab-event", Provider::GitLab),
    ];
    for (name, provider) in candidates {
        if let Some(event) = header(headers, name) {
            return Some((provider, event.to_string()));
        }
    }
    let key = header(headers, "x-event-key");
    // Bitbucket Cloud's push is `repo:push`; routing it to the Cloud parser
    // even without X-Hook-UUID gives a clear "missing X-Hook-UUID" answer
    // instead of an unknown Bitbucket Server event.
    if header(headers, "x-hook-uuid").is_some() || key.is_some_and(|k| k.starts_with("repo:push")) {
        return Some((
            Provider::BitbucketCloud,
            key.unwrap_or_default().to_string(),
        ));
    }
    key.map(|k| (Provider::BitbucketServer, k.to_string()))
}

/// A header's value as text, when present, non-empty and printable.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}
