//! The Events API endpoint: signatures checked first, retries recognised, questions answered
//! in the background.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::agent::{AskRequest, Silent};
use crate::frontends::http::{ApiError, same_secret};
use crate::providers::store::Access;

use super::*;

pub fn router(state: Arc<SlackState>) -> Router {
    Router::new()
        .route("/slack/events", post(events))
        .with_state(state)
}

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` under the signing secret.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks the request came from Slack, recently.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(given)) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    ) else {
        return Err(ApiError::unauthorized("missing Slack signature headers"));
    };
    let Ok(at) = ts.parse::<i64>() else {
        return Err(ApiError::unauthorized("bad X-Slack-Request-Timestamp"));
    };
    // abs_diff: a hostile timestamp (i64::MIN) must not overflow.
    if now.abs_diff(at) > MAX_AGE_SECS {
        return Err(ApiError::unauthorized(
            "request timestamp is more than 5 minutes off (replayed?)",
        ));
    }
    if !same_secret(given, &signature(secret, ts, body)) {
        return Err(ApiError::unauthorized("Slack signature does not match"));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub(super) enum Envelope {
    #[serde(rename = "url_verification")]
    UrlVerification { challenge: String },
    #[serde(rename = "event_callback")]
    EventCallback { event_id: String, event: Box<Event> },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub(super) struct Event {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) channel: Option<String>,
    #[serde(default)]
    pub(super) channel_type: Option<String>,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) ts: Option<String>,
    #[serde(default)]
    pub(super) thread_ts: Option<String>,
    #[serde(default)]
    pub(super) bot_id: Option<String>,
    #[serde(default)]
    pub(super) subtype: Option<String>,
    /// Who wrote it: their `slack:<user>` identity decides the acl groups they read.
    #[serde(default)]
    pub(super) user: Option<String>,
}

/// A question the bot should answer: mentions in channels, and direct messages (not its own).
pub(super) fn question_of(event: &Event) -> Option<(String, String, String)> {
    let wanted = match event.kind.as_str() {
        "app_mention" => true,
        "message" => {
            event.channel_type.as_deref() == Some("im")
                && event.bot_id.is_none()
                && event.subtype.is_none()
        }
        _ => false,
    };
    if !wanted || event.bot_id.is_some() {
        return None;
    }
    let channel = event.channel.clone()?;
    let ts = event.ts.clone()?;
    let thread = event.thread_ts.clone().unwrap_or(ts);
    let text = strip_mentions(event.text.as_deref().unwrap_or_default());
    (!text.is_empty()).then_some((channel, thread, text))
}

/// Removes `<@U123>` mention tokens.
pub(super) fn strip_mentions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) async fn events(
    State(state): State<Arc<SlackState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = verify(&state.secret, &headers, &body, now_secs()) {
        return e.into_response();
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return ApiError::bad_request(format!("not a Slack event: {e}")).into_response(),
    };
    match envelope {
        Envelope::UrlVerification { challenge } => {
            axum::Json(json!({ "challenge": challenge })).into_response()
        }
        Envelope::EventCallback { event_id, event } => {
            if !state.first_time(&event_id) {
                tracing::info!(event_id, "slack retry of a known event: ignored");
                return StatusCode::OK.into_response();
            }
            if let Some((channel, thread, question)) = question_of(&event) {
                let worker = Arc::clone(&state);
                state.tasks.spawn(async move {
                    // Looked up in the task: Slack wants the event acknowledged at once.
                    let access = worker.access_for(event.user.as_deref()).await;
                    worker.answer(channel, thread, question, access).await;
                });
            }
            StatusCode::OK.into_response()
        }
        Envelope::Other => StatusCode::OK.into_response(),
    }
}

impl SlackState {
    /// The front end's groups plus those of the `slack:<user>` identity and of every
    /// `slack-group:<id>` identity whose Slack user group has the user as a member.
    pub async fn access_for(&self, user: Option<&str>) -> Access {
        let (Access::Groups(base), Some(user)) = (&self.access, user) else {
            return self.access.clone();
        };
        let mut groups = self.identities.groups_for(&format!("slack:{user}"), base);
        let by_usergroup = self
            .identities
            .identities
            .keys()
            .any(|k| k.starts_with("slack-group:"));
        if by_usergroup {
            for id in self.usergroups_of(user).await {
                groups = self
                    .identities
                    .groups_for(&format!("slack-group:{id}"), &groups);
            }
        }
        Access::Groups(groups)
    }

    /// The user groups `user` belongs to, from a list read at most every
    /// `slack.usergroups_refresh_secs`. When Slack cannot be read the last list stands; with
    /// none yet, the user gets no group-based access (closed, not open).
    async fn usergroups_of(&self, user: &str) -> Vec<String> {
        let mut cache = self.usergroups.lock().await;
        let stale = cache
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= self.usergroups_refresh);
        if stale {
            match self.api.usergroups().await {
                Ok(members) => *cache = Some((Instant::now(), members)),
                Err(e) => tracing::warn!(error = %e, "cannot read the Slack user groups"),
            }
        }
        cache
            .as_ref()
            .and_then(|(_, members)| members.get(user).cloned())
            .unwrap_or_default()
    }

    async fn answer(&self, channel: String, thread: String, question: String, access: Access) {
        let key = format!("{channel}:{thread}");
        let mut request = AskRequest::new(question.clone(), access);
        request.history = self.memory.history(&key);
        let message = match self
            .answerer
            .answer(request, &Silent, self.cancel.child_token())
            .await
        {
            Ok(answer) => {
                let message = message(&channel, &thread, &answer);
                self.memory.remember(&key, question, &answer);
                message
            }
            Err(e) => {
                tracing::warn!(error = %e, "slack answer failed");
                json!({
                    "channel": channel,
                    "thread_ts": thread,
                    "text": format!("Sorry, I could not answer that: {}", escape(&e.to_string())),
                })
            }
        };
        if let Err(e) = self.api.post_message(&message).await {
            tracing::warn!(error = %e, "slack reply failed");
        }
    }
}
