//! What the HTTP front ends (web, Slack) share: one JSON error shape for every route, OpenAI's
//! (`{"error": {"message", "type", "code"}}`), so both the page and OpenAI clients can read it
//! (a user's mistake is a 4xx, never a 500); and the secret comparison behind every token and
//! signature check; and binding the address a front end listens on.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::agent::AgentError;

/// Compares in time independent of where the strings differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A front end's configured address could not be listened on.
#[derive(Debug, thiserror::Error)]
#[error("{key} = {addr}: cannot listen: {error}")]
pub struct BindError {
    pub key: &'static str,
    pub addr: String,
    pub error: std::io::Error,
}

/// Listens on the address the setting `key` (e.g. "server.listen") configures. The commands
/// bind before they build anything else, so a port in use fails at once; the front ends take
/// the bound listener (tests pass one on port 0).
pub async fn bind(key: &'static str, addr: &str) -> Result<tokio::net::TcpListener, BindError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| BindError {
            key,
            addr: addr.to_string(),
            error,
        })
}

/// Routes served beside the web chat on the same listener (Slack's Events API in
/// `skiff serve`), with the answers they started in the background, which the server waits for
/// (up to its grace period) when it stops.
pub struct Mounted {
    pub router: axum::Router,
    pub tasks: std::sync::Arc<super::tasks::Tasks>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn busy(max: usize) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "{max} answers are already in progress (server.max_in_flight); try again shortly"
            ),
        );
        e.retry_after = Some(5);
        e
    }

    pub fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
    }

    pub fn rate_limited(wait: Duration) -> Self {
        let secs = wait.as_secs().max(1);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many questions (server.rate_per_minute); retry in {secs}s"),
        );
        e.retry_after = Some(secs);
        e
    }

    pub fn timeout(secs: u64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("no answer within {secs}s (server.request_timeout_secs)"),
        )
    }

    pub fn from_agent(e: AgentError) -> Self {
        match e {
            AgentError::EmptyQuestion | AgentError::QuestionTooLong(_) => {
                Self::bad_request(e.to_string())
            }
            AgentError::Cancelled => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cancelled",
                "the answer was cancelled",
            ),
            AgentError::Model { .. } => {
                tracing::warn!(error = %e, "model failed");
                Self::new(StatusCode::BAD_GATEWAY, "model_error", e.to_string())
            }
            AgentError::Search(_) => {
                tracing::warn!(error = %e, "search failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "search_unavailable",
                    format!("the wiki cannot be searched right now: {e}"),
                )
            }
            AgentError::Prompt(_) => {
                tracing::error!(error = %e, "answer failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }

    /// A malformed or oversized JSON body, said plainly (axum's text names the field and line).
    pub fn from_json(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "invalid_request",
        };
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        Self::new(status, code, rejection.body_text())
    }

    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "message": self.message, "type": self.kind(), "code": self.code } })
    }

    fn kind(&self) -> &'static str {
        if self.status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(same_secret("", ""));
        assert!(!same_secret("s3cret", "s3creT"));
        assert!(
            !same_secret("s3cret", "s3cre"),
            "a prefix is not the secret"
        );
        assert!(!same_secret("s3cre", "s3cret"));
    }

    #[test]
    fn rate_limits_and_busy_say_when_to_come_back() {
        let limited = ApiError::rate_limited(Duration::from_millis(200)).into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "1");
        let busy = ApiError::busy(4).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
        let bad = ApiError::bad_request("no question");
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.body()["error"]["type"], "invalid_request_error");
    }
}
