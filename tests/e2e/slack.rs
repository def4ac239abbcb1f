//! `skiff slack` end to end: the real binary answering signed Events API requests with the real
//! agent (chat model on a llama.cpp server on loopback), replying in the thread through a Slack
//! Web API stub on loopback; forged, stale, unsigned, malformed and replayed requests refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use skiff::frontends::slack::signature;

use crate::common::*;
use crate::remote::LlamaServer;
use crate::web::write_config;

const CHAT_MODEL: &str = "gguf/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
const SECRET: &str = "slack-signing-secret-e2e";
const BOT_TOKEN: &str = "xoxb-e2e-token";

type Posts = Arc<Mutex<Vec<(String, Value)>>>;

/// Slack's Web API as far as the bot uses it: records chat.postMessage calls.
async fn web_api_stub() -> (String, Posts) {
    async fn post_message(
        State(posts): State<Posts>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        posts.lock().unwrap().push((auth, body));
        Json(json!({ "ok": true, "ts": "9999.0001" }))
    }
    let posts: Posts = Arc::default();
    let app = axum::Router::new()
        .route("/api/chat.postMessage", post(post_message))
        .with_state(Arc::clone(&posts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api"), posts)
}

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn send(base: &str, body: &Value, secret: &str, ts: i64) -> (u16, String) {
    let body = body.to_string();
    let response = reqwest::Client::new()
        .post(format!("{base}/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header(
            "x-slack-signature",
            signature(secret, &ts.to_string(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn mention(event_id: &str, ts: &str, thread: Option<&str>, text: &str) -> Value {
    let mut event = json!({
        "type": "app_mention", "user": "U123", "channel": "C42", "ts": ts,
        "text": format!("<@U0SKIFF> {text}"),
    });
    if let Some(t) = thread {
        event["thread_ts"] = json!(t);
    }
    json!({ "type": "event_callback", "team_id": "T1", "event_id": event_id, "event": event })
}

async fn wait_for_posts(posts: &Posts, n: usize) {
    let started = Instant::now();
    while posts.lock().unwrap().len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no reply posted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_events_are_verified_and_answered_in_the_thread() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &llama);
    let (api, posts) = web_api_stub().await;
    let mut child = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(data.path())
        .arg("slack")
        .env("SKIFF_SLACK_SIGNING_SECRET", SECRET)
        .env("SKIFF_SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SKIFF__SLACK__API_URL", &api)
        .env("SKIFF__SLACK__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _bot = Bot(child);
    let base = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("slack did not start: {line:?}"))
        .trim()
        .to_string();

    // Slack's URL check.
    let challenge = json!({ "type": "url_verification", "token": "x", "challenge": "abc123" });
    let (status, body) = send(&base, &challenge, SECRET, now()).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["challenge"],
        "abc123"
    );

    // Forged, stale, unsigned and malformed requests do no work.
    let question = mention(
        "Ev1",
        "1700000000.000100",
        None,
        "How much does the Tern 4 weigh?",
    );
    assert_eq!(send(&base, &question, "not-the-secret", now()).await.0, 401);
    assert_eq!(send(&base, &question, SECRET, now() - 600).await.0, 401);
    let unsigned = reqwest::Client::new()
        .post(format!("{base}/slack/events"))
        .body(question.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let ts = now();
    let garbage = "{not json";
    let malformed = reqwest::Client::new()
        .post(format!("{base}/slack/events"))
        .header("x-slack-request-timestamp", ts.to_string())
        .header(
            "x-slack-signature",
            signature(SECRET, &ts.to_string(), garbage.as_bytes()),
        )
        .body(garbage)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // A mention: acknowledged before the answer exists, answered in its thread.
    let (status, _) = send(&base, &question, SECRET, now()).await;
    assert_eq!(status, 200);
    assert!(posts.lock().unwrap().is_empty(), "answered before the ack");
    // Slack retries the same event: acknowledged, no second answer.
    assert_eq!(send(&base, &question, SECRET, now()).await.0, 200);
    wait_for_posts(&posts, 1).await;
    {
        let posted = posts.lock().unwrap();
        let (auth, reply) = &posted[0];
        assert_eq!(auth, &format!("Bearer {BOT_TOKEN}"));
        assert_eq!(reply["channel"], "C42");
        assert_eq!(reply["thread_ts"], "1700000000.000100");
        let text = reply["text"].as_str().unwrap();
        assert!(text.contains("*Sources*"), "{reply}");
        assert!(text.contains("products/tern-4.md"), "{reply}");
        assert_eq!(reply["blocks"][0]["type"], "section");
    }

    // A follow-up in the thread stays in the thread (with the thread's memory).
    let follow_up = mention(
        "Ev2",
        "1700000050.000200",
        Some("1700000000.000100"),
        "And the Tern 3?",
    );
    assert_eq!(send(&base, &follow_up, SECRET, now()).await.0, 200);
    wait_for_posts(&posts, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let posted = posts.lock().unwrap();
    assert_eq!(posted.len(), 2, "the retried event was answered twice");
    assert_eq!(posted[1].1["thread_ts"], "1700000000.000100");
    assert!(!posted[1].1["text"].as_str().unwrap().is_empty());
    eprintln!("follow-up reply: {}", posted[1].1["text"]);
}
