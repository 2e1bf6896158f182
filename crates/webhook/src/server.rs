//! The HTTP edge: `POST /api/webhook` on an axum router. It reads the body
//! up to a limit, calls [`crate::parse_event`] with the current secrets, hands
//! accepted pushes to a callback and answers with a short text. It never
//! answers 500: every failure is the client's and gets a 4xx naming it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use tokio::sync::watch;

use crate::{Event, Push, Rejection, Secrets, parse_event};

/// Argo CD's default body limit (`webhook.maxPayloadSizeMB: 50`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 50 * 1024 * 1024;

/// What the receiver calls for every accepted push. It runs on the request
/// task, so it should only hand the push over (send it on a channel,
/// enqueue refreshes) and return.
pub type OnPush = Arc<dyn Fn(Push) + Send + Sync>;

/// The receiver's configuration: the secrets (a watch channel, so the owner
/// can reload them from the Secret while the server runs), the push
/// callback and the body limit.
#[derive(Clone)]
pub struct WebhookState {
    secrets: watch::Receiver<Secrets>,
    on_push: OnPush,
    max_body_bytes: usize,
}

impl WebhookState {
    /// A receiver reading secrets from `secrets` and passing pushes to
    /// `on_push`, with the default 50 MiB body limit.
    pub fn new(secrets: watch::Receiver<Secrets>, on_push: OnPush) -> WebhookState {
        WebhookState {
            secrets,
            on_push,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Sets the largest body accepted, in bytes; larger requests get 413.
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> WebhookState {
        self.max_body_bytes = max_body_bytes;
        self
    }
}

/// A router serving `POST /api/webhook` (other methods get 405).
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/api/webhook", post(receive))
        .with_state(state)
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(&headers, body, state.max_body_bytes).await {
        Ok(body) => body,
        Err(rejection) => return reject(&rejection),
    };
    // Clone out of the watch so no lock is held while parsing.
    let secrets = state.secrets.borrow().clone();
    match parse_event(&headers, &body, &secrets) {
        Ok(Event::Push(push)) => {
            let repo = push.repo_urls.first().cloned().unwrap_or_default();
            let git_ref = push.git_ref.clone().unwrap_or_default();
            let message = format!("{} push of {git_ref} to {repo} accepted\n", push.provider);
            tracing::info!(
                provider = %push.provider,
                repo,
                git_ref,
                after = push.after.as_deref().unwrap_or(""),
                changed_files = push.changed_files.len(),
                outcome = "accepted",
                "webhook push received"
            );
            (state.on_push)(push);
            text(StatusCode::OK, message)
        }
        Ok(Event::Ignored { provider, event }) => {
            tracing::info!(%provider, event, outcome = "ignored", "webhook event ignored");
            text(
                StatusCode::OK,
                format!("{provider} event {event:?} ignored: only push events trigger a refresh\n"),
            )
        }
        Err(rejection) => reject(&rejection),
    }
}

/// Reads the body, stopping as soon as it passes `limit` so an oversized
/// request never sits in memory whole.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        // The connection failed mid-body: nobody is likely to read the
        // answer, but it must still not be a 500.
        let chunk = chunk.map_err(|e| Rejection::UnreadableBody {
            error: e.to_string(),
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(Rejection::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn reject(rejection: &Rejection) -> Response {
    let status = rejection.status();
    let provider = rejection.provider().map(|p| p.to_string());
    tracing::warn!(
        provider = provider.as_deref().unwrap_or("unknown"),
        status = status.as_u16(),
        outcome = "rejected",
        "webhook request rejected: {rejection}"
    );
    text(status, format!("{rejection}\n"))
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
