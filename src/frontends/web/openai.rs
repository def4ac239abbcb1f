//! skiff as an OpenAI-compatible "model": `GET /v1/models` and `POST /v1/chat/completions`
//! (streaming and not). The last user message is the question, earlier user/assistant pairs
//! are the conversation; the sources are appended to the answer as a numbered list. Sampling
//! parameters (temperature, max_tokens, ...) are accepted and ignored: the agent sets its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{MAX_HISTORY, Outcome, check_question, spawn_answer, sse};
use super::{ApiError, Caller, MODEL_ID, WebState};
use crate::agent::{Answer, Turn};

#[derive(Debug, Deserialize)]
pub struct ChatBody {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Message {
    fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// The question (last user message) and the conversation before it (user turns paired with
/// the assistant reply that followed; system and tool messages are not part of it).
fn conversation(messages: &[Message]) -> Result<(String, Vec<Turn>), ApiError> {
    let Some(last) = messages.last() else {
        return Err(ApiError::bad_request("messages is empty"));
    };
    if last.role != "user" {
        return Err(ApiError::bad_request(format!(
            "the last message must be the user's question (its role is {:?})",
            last.role
        )));
    }
    let mut history = Vec::new();
    let mut pending: Option<String> = None;
    for m in &messages[..messages.len() - 1] {
        match m.role.as_str() {
            "user" => pending = Some(m.text()),
            "assistant" => {
                if let Some(question) = pending.take() {
                    history.push(Turn {
                        question,
                        answer: m.text(),
                    });
                }
            }
            "system" | "developer" | "tool" | "function" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown message role {other:?} (use system, user or assistant)"
                )));
            }
        }
    }
    if history.len() > MAX_HISTORY {
        history.drain(..history.len() - MAX_HISTORY);
    }
    Ok((last.text(), history))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "chatcmpl-{nanos:x}{:04x}",
        NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// The answer followed by its sources, as a chat client shows it.
pub fn content(answer: &Answer) -> String {
    let mut out = answer.answer.trim_end().to_string();
    if !answer.citations.is_empty() {
        out.push_str("\n\nSources:");
        for c in &answer.citations {
            let heading = if c.heading.is_empty() {
                String::new()
            } else {
                format!(" — {}", c.heading)
            };
            out.push_str(&format!("\n[{}] {}{heading} ({})", c.n, c.title, c.source));
        }
    }
    out
}

fn usage(answer: &Answer) -> Value {
    json!({
        "prompt_tokens": answer.ledger.tokens_in,
        "completion_tokens": answer.ledger.tokens_out,
        "total_tokens": answer.ledger.tokens_in + answer.ledger.tokens_out,
    })
}

pub async fn models() -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{ "id": MODEL_ID, "object": "model", "created": 0, "owned_by": "skiff" }],
    }))
}

pub async fn chat_completions(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<ChatBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    if let Some(model) = body.model.as_deref()
        && model != MODEL_ID
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("model {model:?} does not exist here; use \"{MODEL_ID}\""),
        ));
    }
    let (question, history) = conversation(&body.messages)?;
    check_question(&question)?;
    let id = completion_id();
    let created = now_secs();
    let (progress, done, guard) = spawn_answer(state, &caller, question, history)?;
    if !body.stream {
        // Progress is not shown here; the guard cancels the work if the client goes away.
        let _guard = guard;
        drop(progress);
        let answer = match done.await {
            Ok(Outcome::Done(a)) => a,
            Ok(Outcome::Failed(e)) => return Err(e),
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the answer task ended without a result",
                ));
            }
        };
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content(&answer) },
                "finish_reason": "stop",
            }],
            "usage": usage(&answer),
        }))
        .into_response());
    }
    let chunk = move |delta: Value, finish: Option<&str>| {
        Event::default().data(
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL_ID,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
            .to_string(),
        )
    };
    let first = chunk(json!({ "role": "assistant", "content": "" }), None);
    // Progress events carry no content; the checked answer and its sources come at the end
    // (the draft the synthesizer streams may still lose invented citations).
    let waiting = progress.filter_map(|_| async { None::<Event> });
    let tail = futures::stream::once(async move {
        let _guard = guard;
        let events: Vec<Event> = match done.await {
            Ok(Outcome::Done(answer)) => vec![
                chunk(json!({ "content": content(&answer) }), None),
                chunk(json!({}), Some("stop")),
                Event::default().data("[DONE]"),
            ],
            Ok(Outcome::Failed(e)) => vec![
                Event::default().data(e.body().to_string()),
                Event::default().data("[DONE]"),
            ],
            Err(_) => vec![Event::default().data("[DONE]")],
        };
        futures::stream::iter(events)
    })
    .flatten();
    Ok(sse(futures::stream::once(async move { first })
        .chain(waiting)
        .chain(tail)))
}
