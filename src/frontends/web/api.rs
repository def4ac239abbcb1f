//! The chat page's files and skiff's own API: `POST /api/ask` (the answer as `skiff ask --json`
//! prints it) and `/api/ask/stream` (Server-Sent Events: route, status, plan, step_started,
//! step_finished, token, then done with the whole answer, or error).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::Stream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{ApiError, Caller, WebState};
use crate::agent::executor::StepReport;
use crate::agent::plan::Plan;
use crate::agent::router::Route;
use crate::agent::{Answer, Observer, PlanSource, Turn};

const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/app.js");
const PAGE_CSS: &str = include_str!("page/style.css");

/// Earlier turns accepted with one question (the agent reads only the last few).
pub const MAX_HISTORY: usize = 50;

pub(super) fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:",
                ),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn page_html() -> Response {
    asset(PAGE_HTML, "text/html; charset=utf-8")
}

pub async fn page_js() -> Response {
    asset(PAGE_JS, "text/javascript; charset=utf-8")
}

pub async fn page_css() -> Response {
    asset(PAGE_CSS, "text/css; charset=utf-8")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    question: String,
    #[serde(default)]
    history: Vec<Turn>,
}

/// The agent's own checks, made before any work starts so a stream can answer 400.
pub fn check_question(question: &str) -> Result<(), ApiError> {
    use crate::agent::{AgentError, MAX_QUESTION_CHARS};
    let chars = question.trim().chars().count();
    if chars == 0 {
        return Err(ApiError::from_agent(AgentError::EmptyQuestion));
    }
    if chars > MAX_QUESTION_CHARS {
        return Err(ApiError::from_agent(AgentError::QuestionTooLong(chars)));
    }
    Ok(())
}

impl AskBody {
    fn checked(self) -> Result<(String, Vec<Turn>), ApiError> {
        if self.history.len() > MAX_HISTORY {
            return Err(ApiError::bad_request(format!(
                "history has {} turns; at most {MAX_HISTORY}",
                self.history.len()
            )));
        }
        Ok((self.question, self.history))
    }
}

pub async fn ask(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AskBody>, JsonRejection>,
) -> Result<Json<Answer>, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    let (question, history) = body.checked()?;
    check_question(&question)?;
    let _slot = state.admit()?;
    // Dropped (client gone, server stopping) -> the answer's work is cancelled.
    let cancel = state.stop_answers.child_token();
    let _guard = cancel.clone().drop_guard();
    let request = state.request(&caller, question, history);
    let answer = state.answer(request, &crate::agent::Silent, cancel).await?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskQuery {
    question: String,
}

pub async fn ask_stream_get(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<AskQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    stream_answer(state, &caller, q.question, Vec::new())
}

pub async fn ask_stream(
    State(state): State<Arc<WebState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AskBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(ApiError::from_json)?;
    let (question, history) = body.checked()?;
    stream_answer(state, &caller, question, history)
}

/// A progress event on its way to the client.
pub enum Progress {
    Route(Route),
    Status(String),
    Plan(Plan, PlanSource),
    StepStarted(String, String),
    StepFinished(StepReport),
    Token(String),
}

/// Forwards the agent's progress into a channel; a gone receiver is ignored (the answer is
/// being cancelled anyway). The draft streams as `token` events; the settled text is sent only
/// when no draft was (e.g. no evidence, so no model ran); `done` carries the checked answer.
pub struct ChannelObserver {
    tx: mpsc::UnboundedSender<Progress>,
    drafted: std::sync::atomic::AtomicBool,
}

impl ChannelObserver {
    pub fn new(tx: mpsc::UnboundedSender<Progress>) -> Self {
        Self {
            tx,
            drafted: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Observer for ChannelObserver {
    fn route(&self, route: &Route) {
        let _ = self.tx.send(Progress::Route(route.clone()));
    }
    fn status(&self, message: &str) {
        let _ = self.tx.send(Progress::Status(message.to_string()));
    }
    fn plan(&self, plan: &Plan, source: PlanSource) {
        let _ = self.tx.send(Progress::Plan(plan.clone(), source));
    }
    fn step_started(&self, id: &str, tool: &str) {
        let _ = self
            .tx
            .send(Progress::StepStarted(id.to_string(), tool.to_string()));
    }
    fn step_finished(&self, report: &StepReport) {
        let _ = self.tx.send(Progress::StepFinished(report.clone()));
    }
    fn draft(&self, text: &str) {
        self.drafted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.tx.send(Progress::Token(text.to_string()));
    }
    fn token(&self, text: &str) {
        if !self.drafted.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = self.tx.send(Progress::Token(text.to_string()));
        }
    }
}

/// What a streamed answer ends with.
pub enum Outcome {
    Done(Box<Answer>),
    Failed(ApiError),
}

/// Starts one answer in its own task and returns its progress as a stream. Dropping the stream
/// (client disconnected) cancels the answer's work; the slot is held until the task ends.
pub fn spawn_answer(
    state: Arc<WebState>,
    caller: &Caller,
    question: String,
    history: Vec<Turn>,
) -> Result<
    (
        UnboundedReceiverStream<Progress>,
        tokio::sync::oneshot::Receiver<Outcome>,
        tokio_util::sync::DropGuard,
    ),
    ApiError,
> {
    check_question(&question)?;
    let slot = state.admit()?;
    let cancel = state.stop_answers.child_token();
    let guard = cancel.clone().drop_guard();
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let request = state.request(caller, question, history);
    tokio::spawn(async move {
        let _slot = slot;
        let observer = ChannelObserver::new(tx);
        let outcome = match state.answer(request, &observer, cancel).await {
            Ok(answer) => Outcome::Done(Box::new(answer)),
            Err(e) => Outcome::Failed(e),
        };
        // Dropping the observer closes the progress stream before the outcome is read.
        drop(observer);
        let _ = done_tx.send(outcome);
    });
    Ok((UnboundedReceiverStream::new(rx), done_rx, guard))
}

#[derive(Serialize)]
struct PlanEvent<'a> {
    source: PlanSource,
    steps: &'a [crate::agent::plan::Step],
}

fn event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

fn progress_event(p: Progress) -> Event {
    match p {
        Progress::Route(r) => event("route", &r),
        Progress::Status(m) => event("status", &serde_json::json!({ "message": m })),
        Progress::Plan(plan, source) => event(
            "plan",
            &PlanEvent {
                source,
                steps: &plan.steps,
            },
        ),
        Progress::StepStarted(id, tool) => event(
            "step_started",
            &serde_json::json!({ "id": id, "tool": tool }),
        ),
        Progress::StepFinished(report) => event("step_finished", &report),
        Progress::Token(text) => event("token", &serde_json::json!({ "text": text })),
    }
}

fn stream_answer(
    state: Arc<WebState>,
    caller: &Caller,
    question: String,
    history: Vec<Turn>,
) -> Result<Response, ApiError> {
    let (progress, done, guard) = spawn_answer(state, caller, question, history)?;
    let events = progress
        .map(progress_event)
        .chain(futures::stream::once(async move {
            let _guard = guard;
            match done.await {
                Ok(Outcome::Done(answer)) => event("done", &answer),
                Ok(Outcome::Failed(e)) => event("error", &e.body()),
                Err(_) => event(
                    "error",
                    &ApiError::new(
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the answer task ended without a result",
                    )
                    .body(),
                ),
            }
        }));
    Ok(sse(events))
}

pub fn sse(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    let mut response = Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response();
    // Proxies (nginx) must not buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
