//! Router tests with `oneshot` and a scripted answerer: every route, auth, limits, errors,
//! SSE framing, disconnect cancellation. The real agent behind real HTTP is in tests/e2e/web.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::*;
use crate::agent::executor::{StepReport, StepStatus};
use crate::agent::plan::{Plan, Step};
use crate::agent::router::{Route, RouteKind};
use crate::agent::synthesize::Citation;
use crate::agent::{Observer, PlanReport, PlanSource};

const TOKEN: &str = "test-token-123";

#[derive(Default)]
struct Scripted {
    delay: Duration,
    calls: AtomicUsize,
    cancelled: AtomicBool,
    /// The access of every request, in order.
    seen: std::sync::Mutex<Vec<crate::providers::store::Access>>,
}

#[async_trait::async_trait]
impl Answerer for Scripted {
    async fn answer(
        &self,
        request: AskRequest,
        observer: &dyn Observer,
        cancel: CancellationToken,
    ) -> Result<Answer, AgentError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(request.access.clone());
        }
        // Work that is dropped before it ends (timeout, client gone) counts as cancelled, as
        // for the real agent, whose model calls stop when their futures are dropped.
        let unfinished = Unfinished(&self.cancelled);
        let route = Route {
            kind: RouteKind::Direct,
            reason: "scripted".into(),
        };
        observer.route(&route);
        let plan = Plan {
            steps: vec![Step {
                id: "s1".into(),
                tool: "search".into(),
                args: json!({ "query": request.question }),
                depends_on: vec![],
            }],
        };
        observer.plan(&plan, PlanSource::Router);
        observer.step_started("s1", "search");
        tokio::select! {
            _ = tokio::time::sleep(self.delay) => {}
            _ = cancel.cancelled() => {
                self.cancelled.store(true, Ordering::SeqCst);
                return Err(AgentError::Cancelled);
            }
        }
        let report = StepReport {
            id: "s1".into(),
            tool: "search".into(),
            status: StepStatus::Ok,
            output: None,
            error: None,
            latency_ms: 3,
        };
        observer.step_finished(&report);
        let text = format!(
            "Orbit 4 lasts 20 hours [1] (turns before: {}).",
            request.history.len()
        );
        observer.token(&text);
        let mut ledger = crate::agent::ledger::LedgerReport::default();
        ledger.by_role.insert(
            "synthesizer".into(),
            crate::agent::ledger::RoleTotals {
                calls: 1,
                latency_ms: 1500,
                tokens_in: 100,
                tokens_out: 20,
                cost_usd: 0.001,
            },
        );
        ledger.tokens_in = 100;
        ledger.tokens_out = 20;
        std::mem::forget(unfinished);
        Ok(Answer {
            question: request.question,
            answer: text,
            answered: true,
            citations: vec![Citation {
                n: 1,
                source: "products/orbit-4.md".into(),
                heading: "Specs".into(),
                title: "Orbit 4".into(),
                text: "Battery: 20 hours".into(),
            }],
            route,
            plan: PlanReport {
                source: PlanSource::Router,
                steps: plan.steps,
                problems: vec![],
            },
            steps: vec![report],
            ledger,
            notes: vec![],
        })
    }
}

struct Unfinished<'a>(&'a AtomicBool);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        rate_per_minute: 0,
        ..ServerConfig::default()
    }
}

fn state_with(answerer: Arc<Scripted>, config: ServerConfig) -> Arc<WebState> {
    Arc::new(WebState::new(answerer, config, Some(TOKEN.into())))
}

fn app(config: ServerConfig) -> (Arc<Scripted>, Arc<WebState>, Router) {
    let answerer = Arc::new(Scripted::default());
    let state = state_with(Arc::clone(&answerer), config);
    (answerer, Arc::clone(&state), router(state))
}

fn post(uri: &str, body: Value) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, header::HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// (event name, data) pairs of an SSE body.
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter_map(|frame| {
            let mut name = String::from("message");
            let mut data = Vec::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d).to_string());
                }
            }
            (!data.is_empty()).then(|| (name, data.join("\n")))
        })
        .collect()
}

#[tokio::test]
async fn page_and_health_are_open_everything_else_needs_the_token() {
    let (_, _, r) = app(config());
    let (status, headers, body) = send(&r, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.contains("app.js"), "{body}");
    for (path, kind) in [("/app.js", "text/javascript"), ("/style.css", "text/css")] {
        let (status, headers, _) = send(&r, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
    let (status, _, body) = send(&r, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"status":"ok"}"#)
    );

    for (method, path) in [
        ("POST", "/api/ask"),
        ("POST", "/api/ask/stream"),
        ("GET", "/api/ask/stream?question=x"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/metrics"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"question":"hi"}"#))
            .unwrap();
        let (status, headers, body) = send(&r, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(error_code(&body), "unauthorized");
        let wrong = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer nope")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&r, wrong).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn ask_returns_the_answer_as_ask_json_does() {
    let (answerer, _, r) = app(config());
    let (status, _, body) = send(
        &r,
        post(
            "/api/ask",
            json!({ "question": "How long does the Orbit 4 last?",
                    "history": [{ "question": "hi", "answer": "hello" }] }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["question"], "How long does the Orbit 4 last?");
    assert!(v["answer"].as_str().unwrap().contains("turns before: 1"));
    assert_eq!(v["citations"][0]["n"], 1);
    assert_eq!(v["citations"][0]["text"], "Battery: 20 hours");
    assert_eq!(v["route"]["kind"], "direct");
    assert_eq!(v["steps"][0]["status"], "ok");
    assert!(v["ledger"]["by_role"]["synthesizer"].is_object());
    assert_eq!(answerer.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let (answerer, _, r) = app(ServerConfig {
        max_body_bytes: 2048,
        ..config()
    });
    let long = "x".repeat(crate::agent::MAX_QUESTION_CHARS + 1);
    let history: Vec<Value> = (0..51)
        .map(|_| json!({"question": "q", "answer": "a"}))
        .collect();
    let cases = [
        (
            post("/api/ask", json!({ "question": "  " })),
            400,
            "invalid_request",
        ),
        (
            post("/api/ask", json!({ "question": long })),
            400,
            "invalid_request",
        ),
        (
            post("/api/ask", json!({ "q": "typo" })),
            422,
            "invalid_request",
        ),
        (
            post("/api/ask", json!({ "question": "x", "history": history })),
            400,
            "invalid_request",
        ),
        (
            post("/api/ask", json!({ "question": "y".repeat(4000) })),
            413,
            "body_too_large",
        ),
        (
            post("/api/ask/stream", json!({ "question": "" })),
            400,
            "invalid_request",
        ),
        (get("/api/ask/stream"), 400, "invalid_request"),
        (
            post("/v1/chat/completions", json!({ "messages": [] })),
            400,
            "invalid_request",
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "messages": [{ "role": "assistant", "content": "x" }] }),
            ),
            400,
            "invalid_request",
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": "gpt-4", "messages": [{ "role": "user", "content": "x" }] }),
            ),
            404,
            "model_not_found",
        ),
        (get("/nope"), 404, "not_found"),
        (get("/api/ask"), 405, "method_not_allowed"),
    ];
    for (request, status, code) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (got, _, body) = send(&r, request).await;
        assert_eq!(got.as_u16(), status, "{what}: {body}");
        assert_eq!(error_code(&body), code, "{what}: {body}");
    }
    let not_json = Request::post("/api/ask")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, body) = send(&r, not_json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let no_type = Request::post("/api/ask")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(r#"{"question":"x"}"#))
        .unwrap();
    let (status, _, body) = send(&r, no_type).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&body), "unsupported_media_type");
    assert_eq!(
        answerer.calls.load(Ordering::SeqCst),
        0,
        "nothing reached the agent"
    );
}

#[tokio::test]
async fn stream_sends_progress_then_the_answer() {
    let (_, _, r) = app(config());
    let (status, headers, body) = send(
        &r,
        post("/api/ask/stream", json!({ "question": "Orbit 4 battery?" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "route",
            "plan",
            "step_started",
            "step_finished",
            "token",
            "done"
        ],
        "{body}"
    );
    let plan: Value = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(plan["source"], "router");
    assert_eq!(plan["steps"][0]["tool"], "search");
    let done: Value = serde_json::from_str(&events[5].1).unwrap();
    assert_eq!(done["citations"][0]["title"], "Orbit 4");

    let (status, _, body) = send(&r, get("/api/ask/stream?question=Orbit%204%20battery%3F")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sse_events(&body).last().unwrap().0, "done");
}

#[tokio::test]
async fn openai_routes_answer_with_sources() {
    let (_, _, r) = app(config());
    let (status, _, body) = send(&r, get("/v1/models")).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"][0]["id"], MODEL_ID);

    let messages = json!([
        { "role": "system", "content": "be nice" },
        { "role": "user", "content": "hi" },
        { "role": "assistant", "content": "hello" },
        { "role": "user", "content": [{ "type": "text", "text": "Orbit 4 battery?" }] },
    ]);
    let (status, _, body) = send(
        &r,
        post(
            "/v1/chat/completions",
            json!({ "model": "skiff", "messages": messages, "temperature": 0.2 }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("turns before: 1"), "{content}");
    assert!(
        content.contains("Sources:\n[1] Orbit 4 — Specs (products/orbit-4.md)"),
        "{content}"
    );
    assert_eq!(v["usage"]["total_tokens"], 120);

    let (status, _, body) = send(
        &r,
        post(
            "/v1/chat/completions",
            json!({ "messages": messages, "stream": true }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let data: Vec<String> = sse_events(&body).into_iter().map(|(_, d)| d).collect();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("[1] Orbit 4"), "{text}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn rate_limit_is_per_token() {
    let (_, _, r) = app(ServerConfig {
        rate_per_minute: 2,
        ..config()
    });
    for _ in 0..2 {
        assert_eq!(
            send(&r, post("/api/ask", json!({ "question": "q" })))
                .await
                .0,
            StatusCode::OK
        );
    }
    let (status, headers, body) = send(&r, post("/api/ask", json!({ "question": "q" }))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(&body), "rate_limited");
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Reading the metrics is not a question.
    assert_eq!(send(&r, get("/metrics")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn too_many_answers_at_once_are_refused_and_slow_ones_time_out() {
    let answerer = Arc::new(Scripted {
        delay: Duration::from_secs(30),
        ..Scripted::default()
    });
    let state = state_with(
        Arc::clone(&answerer),
        ServerConfig {
            max_in_flight: 1,
            request_timeout_secs: 1,
            ..config()
        },
    );
    let r = router(state);
    let first = tokio::spawn({
        let r = r.clone();
        async move { send(&r, post("/api/ask", json!({ "question": "slow" }))).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, headers, body) = send(&r, post("/api/ask", json!({ "question": "second" }))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_code(&body), "busy");
    assert!(headers.contains_key(header::RETRY_AFTER));
    let (status, _, body) = first.await.unwrap();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(error_code(&body), "timeout");
    assert!(
        answerer.cancelled.load(Ordering::SeqCst),
        "the timed-out work was cancelled"
    );
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_its_answer() {
    let answerer = Arc::new(Scripted {
        delay: Duration::from_secs(30),
        ..Scripted::default()
    });
    let state = state_with(Arc::clone(&answerer), config());
    let r = router(Arc::clone(&state));
    let response = r
        .oneshot(post("/api/ask/stream", json!({ "question": "slow" })))
        .await
        .unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(frame.data_ref().unwrap()).into_owned();
    assert!(first.contains("event: route"), "{first}");
    drop(body);
    for _ in 0..50 {
        if answerer.cancelled.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answerer.cancelled.load(Ordering::SeqCst));
    // The slot is free again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        state.in_flight.available_permits(),
        state.config.max_in_flight
    );
}

#[tokio::test]
async fn draining_refuses_new_questions() {
    let (answerer, state, r) = app(config());
    state.start_draining();
    let (status, _, body) = send(&r, post("/api/ask", json!({ "question": "q" }))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "shutting_down");
    let (status, _, _) = send(&r, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answerer.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn metrics_count_requests_answers_and_tokens_by_role() {
    let (_, _, r) = app(config());
    send(&r, post("/api/ask", json!({ "question": "q" }))).await;
    send(&r, post("/api/ask", json!({ "question": "" }))).await;
    let (status, headers, text) = send(&r, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for line in [
        r#"skiff_http_requests_total{route="/api/ask",method="POST",status="200"} 1"#,
        r#"skiff_http_requests_total{route="/api/ask",method="POST",status="400"} 1"#,
        r#"skiff_http_request_duration_seconds_count{route="/api/ask"} 2"#,
        r#"skiff_answers_total{outcome="answered"} 1"#,
        r#"skiff_model_tokens_total{role="synthesizer",direction="in"} 100"#,
        r#"skiff_model_tokens_total{role="synthesizer",direction="out"} 20"#,
        r#"skiff_model_cost_usd_total{role="synthesizer"} 0.001"#,
        "skiff_asks_in_flight 0",
        "# TYPE skiff_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    // Every sample belongs to a declared family.
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for sample in text.lines().filter(|l| !l.starts_with('#')) {
        let name = sample.split(['{', ' ']).next().unwrap();
        assert!(
            families.iter().any(|f| name.starts_with(f)),
            "{name} has no # TYPE"
        );
    }
}

#[test]
fn token_is_required_off_loopback() {
    let cfg = ServerConfig {
        token_env: "SKIFF_TEST_NO_SUCH_TOKEN_VAR".into(),
        ..ServerConfig::default()
    };
    let lan: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    assert!(token_for(&cfg).is_none());
    let err = check_open(&cfg, lan, false).unwrap_err().to_string();
    assert!(err.contains("SKIFF_TEST_NO_SUCH_TOKEN_VAR"), "{err}");
    check_open(&cfg, local, false).unwrap();
    check_open(&cfg, lan, true).unwrap();
    let open = ServerConfig {
        allow_open: true,
        ..cfg
    };
    check_open(&open, lan, false).unwrap();
}

#[tokio::test]
async fn eval_page_is_open_and_its_data_needs_the_token_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let answerer = Arc::new(Scripted::default());
    let state = Arc::new(
        WebState::new(answerer, config(), Some(TOKEN.into()))
            .with_eval_dir(dir.path().join("eval")),
    );
    let r = router(state);
    let (status, _, body) = send(&r, Request::get("/eval").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("eval.js"), "{body}");
    let (status, _, _) = send(&r, Request::get("/eval.js").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(&r, Request::get("/api/eval").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _, body) = send(&r, get("/api/eval")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "no_report");
    assert!(body.contains("--out"), "{body}");

    let summary = crate::eval::summarize(&[], 0);
    let report = crate::eval::Report {
        file: "knowledge/questions.jsonl".into(),
        written_at: 1_700_000_000,
        complete: true,
        summary,
        scores: vec![json!({"id": "q01", "kind": "single", "correct": true})],
    };
    crate::eval::write_report(&dir.path().join("eval"), &report).unwrap();
    let (status, _, body) = send(&r, get("/api/eval")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["report"]["file"], "knowledge/questions.jsonl");
    assert_eq!(v["report"]["scores"][0]["id"], "q01");
    assert!(v["chart_svg"].as_str().unwrap().starts_with("<svg"));
}

/// Each named token is its own identity, with its own acl groups on every answering route.
#[tokio::test]
async fn each_token_reads_its_identitys_groups_on_every_route() {
    use crate::config::AccessConfig;
    use crate::providers::store::Access;
    let answerer = Arc::new(Scripted::default());
    let named = named_tokens("alice=alice-token-1, bob=bob-token-22", "SKIFF_WEB_TOKENS").unwrap();
    let mut identities = AccessConfig::default();
    identities
        .identities
        .insert("web:alice".into(), vec!["hr".into()]);
    let cfg = ServerConfig {
        groups: vec!["staff".into()],
        ..config()
    };
    let state = Arc::new(
        WebState::new(
            Arc::clone(&answerer) as Arc<dyn Answerer>,
            cfg,
            Some(TOKEN.into()),
        )
        .with_identities(named, identities),
    );
    let r = router(state);
    let as_token = |token: &str, uri: &str, body: Value| {
        Request::post(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let ask = json!({ "question": "What are the salary bands?" });
    let chat =
        json!({ "model": "skiff", "messages": [{ "role": "user", "content": "Salary bands?" }] });
    for (token, uri, body) in [
        ("alice-token-1", "/api/ask", &ask),
        ("bob-token-22", "/api/ask", &ask),
        (TOKEN, "/api/ask", &ask),
        ("alice-token-1", "/v1/chat/completions", &chat),
        ("bob-token-22", "/v1/chat/completions", &chat),
        ("bob-token-22", "/api/ask/stream", &ask),
    ] {
        let (status, _, body) = send(&r, as_token(token, uri, body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    let (status, _, _) = send(&r, as_token("carol-token-333", "/api/ask", ask.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let groups = |g: &[&str]| Access::Groups(g.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        *answerer.seen.lock().unwrap(),
        vec![
            groups(&["staff", "hr"]),
            groups(&["staff"]),
            groups(&["staff"]),
            groups(&["staff", "hr"]),
            groups(&["staff"]),
            groups(&["staff"]),
        ]
    );
}

#[test]
fn named_tokens_are_parsed_and_bad_ones_named() {
    let t = named_tokens("alice=aaaaaaaa\n bob = bbbbbbbb ,", "V").unwrap();
    let ids: Vec<&str> = t.iter().map(|t| t.identity.as_str()).collect();
    assert_eq!(ids, ["web:alice", "web:bob"]);
    for bad in ["alice", "=aaaaaaaa", "alice=short", "a=aaaaaaaa,b=aaaaaaaa"] {
        let err = named_tokens(bad, "SKIFF_WEB_TOKENS")
            .err()
            .expect(bad)
            .to_string();
        assert!(err.contains("SKIFF_WEB_TOKENS"), "{bad}: {err}");
    }
}
