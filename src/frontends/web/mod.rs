//! `skiff serve`: the internal web chat (page at `/`), its JSON and SSE API (`/api`), an
//! OpenAI-compatible API (`/v1`), `/healthz` and Prometheus `/metrics`, all on one axum router.
//!
//! Access: a bearer token (from the env variable `server.token_env`) guards every route that
//! reads the wiki or the metrics; the page's static files carry no data and, with /healthz, stay
//! open so a browser can load the page and ask for the token. Ask routes are rate-limited per
//! token (or client address), bounded in number, timed out, and cancelled when the client goes.

mod api;
mod eval;
mod limits;
pub mod metrics;
mod openai;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub use super::http::ApiError;
use super::http::{BindError, Mounted, same_secret};
use super::{Context, ModelLoadError};
use crate::agent::{AgentError, Answer, Answerer, AskRequest, Turn};
use crate::app::App;
use crate::config::{AccessConfig, ServerConfig};
use crate::ingest::indexer::NoProgress;
use crate::providers::store::Access;
use limits::RateLimiter;
use metrics::Metrics;

/// The name skiff answers to as an OpenAI "model".
pub const MODEL_ID: &str = "skiff";

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(
        "server.listen = {0} is not a loopback address and {1} is not set: refusing to serve \
         the wiki without a token (set {1}, or server.allow_open = true)"
    )]
    OpenToNetwork(String, String),
    #[error("{0}: {1}")]
    Tokens(String, String),
    #[error("server: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Model(#[from] ModelLoadError),
}

// By hand, not `#[from]`: the message already shows the cause, and a `source` would print it
// twice in the CLI's error chain.
impl From<std::io::Error> for WebError {
    fn from(e: std::io::Error) -> Self {
        WebError::Io(e)
    }
}

/// Everything the handlers share.
pub struct WebState {
    pub answerer: Arc<dyn Answerer>,
    pub config: ServerConfig,
    /// Accepted bearer tokens and who each one is; empty = open (loopback only unless allowed).
    tokens: Vec<WebToken>,
    /// Identities' extra acl groups (`[access.identities]`).
    identities: AccessConfig,
    rate: RateLimiter,
    in_flight: Arc<Semaphore>,
    pub metrics: Metrics,
    draining: AtomicBool,
    /// Parent of every answer's cancellation token: cancelled when the shutdown grace ends.
    stop_answers: CancellationToken,
    /// Where `/eval` reads the latest `skiff eval --out` report.
    pub eval_dir: Option<PathBuf>,
}

impl WebState {
    pub fn new(answerer: Arc<dyn Answerer>, config: ServerConfig, token: Option<String>) -> Self {
        let tokens = token
            .filter(|t| !t.trim().is_empty())
            .map(|token| WebToken {
                identity: "web".into(),
                token,
            })
            .into_iter()
            .collect();
        Self {
            answerer,
            tokens,
            identities: AccessConfig::default(),
            rate: RateLimiter::new(config.rate_per_minute),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            stop_answers: CancellationToken::new(),
            eval_dir: None,
            config,
        }
    }

    /// Named tokens (identity `web:<name>` each) and the identities' acl groups.
    pub fn with_identities(mut self, named: Vec<WebToken>, identities: AccessConfig) -> Self {
        self.tokens.extend(named);
        self.identities = identities;
        self
    }

    /// Who a request without a token is (open servers only).
    fn anonymous(&self) -> Caller {
        self.caller("web")
    }

    fn caller(&self, identity: &str) -> Caller {
        Caller {
            identity: identity.to_string(),
            access: Access::Groups(self.identities.groups_for(identity, &self.config.groups)),
        }
    }

    /// `/eval` shows the report `skiff eval --out DIR` wrote there.
    pub fn with_eval_dir(mut self, dir: PathBuf) -> Self {
        self.eval_dir = Some(dir);
        self
    }

    /// New answers are refused from now on (in-flight ones go on).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// A slot for one answer, or 503 when `server.max_in_flight` answers are running.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if self.is_draining() {
            return Err(ApiError::shutting_down());
        }
        Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| ApiError::busy(self.config.max_in_flight))
    }

    fn request(&self, caller: &Caller, question: String, history: Vec<Turn>) -> AskRequest {
        let mut request = AskRequest::new(question, caller.access.clone());
        request.history = history;
        request
    }

    /// Runs one answer under the request timeout; `cancel` is a child of the server's.
    async fn answer(
        &self,
        request: AskRequest,
        observer: &dyn crate::agent::Observer,
        cancel: CancellationToken,
    ) -> Result<Answer, ApiError> {
        let _gauge = self.metrics.ask_started();
        let limit = Duration::from_secs(self.config.request_timeout_secs);
        let result = tokio::time::timeout(
            limit,
            self.answerer.answer(request, observer, cancel.clone()),
        )
        .await;
        let outcome = match result {
            Ok(Ok(answer)) => {
                self.metrics.answer(&answer);
                Ok(answer)
            }
            Ok(Err(AgentError::Cancelled)) if self.stop_answers.is_cancelled() => {
                Err(ApiError::shutting_down())
            }
            Ok(Err(e)) => Err(ApiError::from_agent(e)),
            Err(_) => {
                cancel.cancel();
                Err(ApiError::timeout(limit.as_secs()))
            }
        };
        if let Err(e) = &outcome {
            self.metrics.ask_failed(e.code);
        }
        outcome
    }
}

/// The whole HTTP surface; tests drive it with `oneshot`.
pub fn router(state: Arc<WebState>) -> Router {
    let asks = Router::new()
        .route("/api/ask", post(api::ask))
        .route(
            "/api/ask/stream",
            get(api::ask_stream_get).post(api::ask_stream),
        )
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            rate_limit,
        ));
    let guarded = Router::new()
        .merge(asks)
        .route("/v1/models", get(openai::models))
        .route("/metrics", get(metrics_text))
        .route("/api/eval", get(eval::data))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), auth));
    Router::new()
        .route("/", get(api::page_html))
        .route("/app.js", get(api::page_js))
        .route("/style.css", get(api::page_css))
        .route("/eval", get(eval::page_html))
        .route("/eval.js", get(eval::page_js))
        .route("/healthz", get(healthz))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), measure))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn healthz(State(state): State<Arc<WebState>>) -> Response {
    if state.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "draining" })),
        )
            .into_response()
    } else {
        axum::Json(serde_json::json!({ "status": "ok" })).into_response()
    }
}

async fn metrics_text(State(state): State<Arc<WebState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts every request by route and status, with its latency (to the response head: a
/// stream's duration is the time to its first byte).
async fn measure(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// One accepted bearer token and the identity it stands for.
#[derive(Clone)]
pub struct WebToken {
    pub identity: String,
    pub token: String,
}

/// Who is asking, as established by [`auth`]: read by every handler that answers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: String,
    pub access: Access,
}

/// Parses `name=token` pairs (one per line or comma-separated) into `web:<name>` identities.
pub fn named_tokens(raw: &str, var: &str) -> Result<Vec<WebToken>, WebError> {
    let mut out: Vec<WebToken> = Vec::new();
    for item in raw
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some((name, token)) = item.split_once('=') else {
            return Err(WebError::Tokens(
                var.to_string(),
                "expected name=token".into(),
            ));
        };
        let (name, token) = (name.trim(), token.trim());
        if name.is_empty() || token.len() < 8 {
            return Err(WebError::Tokens(
                var.to_string(),
                format!("{name:?}: needs a name and a token of at least 8 characters"),
            ));
        }
        if out.iter().any(|t| t.token == token) {
            return Err(WebError::Tokens(
                var.to_string(),
                format!("{name:?}: token used twice"),
            ));
        }
        out.push(WebToken {
            identity: format!("web:{name}"),
            token: token.to_string(),
        });
    }
    Ok(out)
}

async fn auth(State(state): State<Arc<WebState>>, mut request: Request, next: Next) -> Response {
    let caller = if state.tokens.is_empty() {
        state.anonymous()
    } else {
        match bearer(request.headers()) {
            // Every token is compared (in constant time), so timing tells nothing either.
            Some(given) => {
                let found = state
                    .tokens
                    .iter()
                    .filter(|t| same_secret(given, &t.token))
                    .map(|t| t.identity.clone())
                    .next_back();
                match found {
                    Some(identity) => state.caller(&identity),
                    None => {
                        return ApiError::unauthorized("the bearer token is wrong").into_response();
                    }
                }
            }
            None => {
                return ApiError::unauthorized(
                    "this server needs a bearer token (Authorization: Bearer ...)",
                )
                .into_response();
            }
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Per-client question rate: the token when there is one, else the peer address.
async fn rate_limit(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    if state.is_draining() {
        return ApiError::shutting_down().into_response();
    }
    let client = match bearer(request.headers()) {
        Some(token) => format!("token:{}", limits::fingerprint(token)),
        None => request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| format!("addr:{}", c.0.ip()))
            .unwrap_or_else(|| "addr:unknown".into()),
    };
    if let Err(wait) = state.rate.check(&client, Instant::now()) {
        return ApiError::rate_limited(wait).into_response();
    }
    next.run(request).await
}

/// Refuses to serve without any token on a non-loopback address unless `server.allow_open`.
pub fn check_open(
    config: &ServerConfig,
    addr: SocketAddr,
    has_token: bool,
) -> Result<(), WebError> {
    if !has_token && !addr.ip().is_loopback() && !config.allow_open {
        return Err(WebError::OpenToNetwork(
            addr.to_string(),
            config.token_env.clone(),
        ));
    }
    Ok(())
}

/// The shared token from the configured env variable, if set.
pub fn token_for(config: &ServerConfig) -> Option<String> {
    std::env::var(&config.token_env)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// What `skiff serve` runs beside the web routes: wiki folders to sync in the background after
/// start, and routes mounted on the same listener (Slack's Events API).
#[derive(Default)]
pub struct Extras {
    pub ingest: Vec<PathBuf>,
    pub mounted: Vec<Mounted>,
}

/// `skiff serve`: loads every role's model (so the first question is not slow and a broken
/// model fails now), optionally syncs wiki folders in the background, then serves the web
/// routes and the mounted ones on `listener` until `shutdown`; in-flight answers get
/// `server.shutdown_grace_secs` to finish.
pub async fn serve(
    ctx: Context,
    listener: TcpListener,
    shutdown: CancellationToken,
    extras: Extras,
) -> Result<(), WebError> {
    let Extras { ingest, mounted } = extras;
    let config = ctx.config().server.clone();
    let addr = listener.local_addr()?;
    let token = token_for(&config);
    let named = match std::env::var(&config.tokens_env) {
        Ok(raw) => named_tokens(&raw, &config.tokens_env)?,
        Err(_) => Vec::new(),
    };
    check_open(&config, addr, token.is_some() || !named.is_empty())?;
    ctx.load_models().await?;
    let eval_dir = ctx.config().store.data_dir.join("eval");
    let state = Arc::new(
        WebState::new(ctx.answerer(), config, token)
            .with_identities(named, ctx.identities())
            .with_eval_dir(eval_dir),
    );
    if !ingest.is_empty() {
        tokio::spawn(ingest_in_background(
            Arc::clone(ctx.app()),
            Arc::clone(&state),
            ingest,
            shutdown.clone(),
        ));
    }
    run(listener, state, mounted, shutdown).await
}

/// Serves `state` on `listener` until `shutdown`, then drains (see [`serve`]).
pub async fn run(
    listener: TcpListener,
    state: Arc<WebState>,
    mounted: Vec<Mounted>,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    let local = listener.local_addr()?;
    let open = if !state.tokens.is_empty() {
        "bearer token required"
    } else {
        "no token (loopback only)"
    };
    // Tests and scripts read this line to find the port.
    println!("listening on http://{local} ({open})");
    eprintln!("skiff serve: chat page at http://{local}/ ; Ctrl-C to stop");
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let draining = Arc::clone(&state);
    let signal = shutdown.clone();
    let mut app = router(Arc::clone(&state));
    let mut background = Vec::new();
    for m in mounted {
        app = app.merge(m.router);
        background.push(m.tasks);
    }
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        signal.cancelled().await;
        draining.start_draining();
        eprintln!("skiff serve: stopping; new questions are refused, answers in progress finish");
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        r = &mut server => return r.map_err(WebError::Io),
        _ = shutdown.cancelled() => {}
    }
    if tokio::time::timeout(grace, &mut server).await.is_err() {
        eprintln!(
            "skiff serve: answers still running after {}s (server.shutdown_grace_secs); cancelling them",
            grace.as_secs()
        );
        state.stop_answers.cancel();
        // Cancelled answers end at once; connections still open after that are dropped.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut server).await;
    }
    for tasks in background {
        tasks.wait(grace).await;
    }
    eprintln!("skiff serve: stopped");
    Ok(())
}

async fn ingest_in_background(
    app: Arc<App>,
    state: Arc<WebState>,
    roots: Vec<PathBuf>,
    shutdown: CancellationToken,
) {
    for root in roots {
        let root = match crate::ingest::sync::canonical_root(&root) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("skiff serve: ingest {}: {e}", root.display());
                state.metrics.ingest_failed();
                continue;
            }
        };
        eprintln!("skiff serve: syncing {} in the background", root.display());
        match app.ingest(&root, &NoProgress, shutdown.child_token()).await {
            Ok(report) => {
                eprintln!(
                    "skiff serve: {}: {} added, {} changed, {} deleted, {} unchanged, {} chunks written",
                    root.display(),
                    report.added,
                    report.changed,
                    report.deleted,
                    report.unchanged,
                    report.chunks_written
                );
                state.metrics.ingest(&report);
            }
            Err(e) => {
                eprintln!("skiff serve: ingest {}: {e}", root.display());
                state.metrics.ingest_failed();
            }
        }
    }
}
