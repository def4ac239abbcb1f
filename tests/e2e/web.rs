//! `skiff serve` end to end: the real binary on a loopback port (0 = any free one) answering
//! with the real agent (embedding model and qdrant-edge store from disk, chat models on a
//! llama.cpp server on loopback). OpenAI's client against /v1/chat/completions (plain and
//! streamed), an SSE client reading /api/ask/stream to the end, the chat page in headless
//! Chromium, a bounded burst of concurrent questions, and SIGTERM with an answer in flight.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::common::*;
use crate::remote::LlamaServer;

const CHAT_MODEL: &str = "gguf/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
const TOKEN: &str = "web-e2e-token";
/// Direct questions from knowledge/questions.jsonl (q02, q12, q24) and the page that answers.
const WEIGHT: (&str, &str) = ("How much does the Tern 4 weigh?", "products/tern-4.md");
const DESK: (&str, &str) = (
    "When is the front desk staffed at the Austin office?",
    "offices/austin.md",
);
const SRE: (&str, &str) = ("Who runs the SRE team?", "company/org-chart.md");

/// `skiff serve` child process; killed on drop if still running.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(config: &Path, data: &Path, extra_env: &[(&str, &str)]) -> Self {
        let mut cmd = bin();
        cmd.arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .arg("serve")
            .env("SKIFF_WEB_TOKEN", TOKEN)
            .env("SKIFF__SERVER__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .strip_prefix("listening on ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
            .to_string();
        assert!(line.contains("bearer token required"), "{line}");
        Served { child, base }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file: planner, extractor and synthesizer on the llama.cpp server (the remote
/// path, priced per token); embedder and store as shipped.
pub fn write_config(dir: &Path, server: &LlamaServer) -> PathBuf {
    write_config_with(dir, server, "")
}

/// [`write_config`] plus `extra` TOML (more sections) at the end.
pub fn write_config_with(dir: &Path, server: &LlamaServer, extra: &str) -> PathBuf {
    let models = config(Path::new("/tmp")).models.dir;
    let text = format!(
        "[models]\ndir = {models:?}\n\n\
         [models.remote.llama]\nbase_url = {:?}\nmodel = \"qwen\"\ntimeout_secs = 600\n\
         input_usd_per_mtok = 0.1\noutput_usd_per_mtok = 0.2\n\n\
         [roles]\nplanner = \"llama\"\nextractor = \"llama\"\nsynthesizer = \"llama\"\n\n\
         [server]\nmax_in_flight = 2\nrate_per_minute = 100\n{extra}",
        server.base_url
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap()
}

async fn ask_json(base: &str, question: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{base}/api/ask"))
        .bearer_auth(TOKEN)
        .json(&json!({ "question": question }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn metrics(base: &str) -> String {
    http()
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// (event, data) pairs of a finished SSE body.
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter_map(|frame| {
            let mut name = "message".to_string();
            let mut data = Vec::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().into();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.trim_start().to_string());
                }
            }
            (!data.is_empty()).then(|| (name, data.join("\n")))
        })
        .collect()
}

/// A whole answer as `skiff ask --json` gives it: text, and when it answered, citations that
/// carry their passage. (Whether the 1.5B picks the right line is the eval's business: see
/// tests/e2e/agent.rs and `skiff eval`; here the transport is under test.)
fn assert_answer(answer: &Value) {
    let text = serde_json::to_string_pretty(answer).unwrap();
    assert!(
        !answer["answer"].as_str().unwrap().trim().is_empty(),
        "{text}"
    );
    let citations = answer["citations"].as_array().unwrap();
    if answer["answered"] == true {
        assert!(!citations.is_empty(), "{text}");
    }
    for c in citations {
        assert!(!c["text"].as_str().unwrap().is_empty(), "{text}");
        assert!(
            knowledge().join(c["source"].as_str().unwrap()).exists(),
            "{text}"
        );
    }
    assert!(!answer["steps"].as_array().unwrap().is_empty(), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_over_http_sse_openai_and_the_page() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &llama);
    let served = Served::start(&cfg, data.path(), &[]);
    let base = served.base.clone();
    // Without Slack's signing secret there is no Slack endpoint.
    let slack = http()
        .post(format!("{base}/slack/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(slack.status(), 404);

    // OpenAI's own client, plain: skiff is a "model" that answers with sources.
    let openai = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{base}/v1"))
            .with_api_key(TOKEN),
    );
    let request = CreateChatCompletionRequestArgs::default()
        .model("skiff")
        .messages(vec![ChatCompletionRequestMessage::from(
            ChatCompletionRequestUserMessage::from(WEIGHT.0),
        )])
        .build()
        .unwrap();
    let response = openai.chat().create(request).await.unwrap();
    let content = response.choices[0].message.content.clone().unwrap();
    assert!(content.contains("Sources:\n["), "{content}");
    assert!(content.contains(WEIGHT.1), "{content}");
    assert!(response.usage.unwrap().prompt_tokens > 0);

    // Streamed, with the conversation so far: chunks, then the end of the stream.
    let request = CreateChatCompletionRequestArgs::default()
        .model("skiff")
        .messages(vec![
            ChatCompletionRequestMessage::from(ChatCompletionRequestUserMessage::from(WEIGHT.0)),
            ChatCompletionRequestMessage::from(ChatCompletionRequestAssistantMessage::from(
                content.as_str(),
            )),
            ChatCompletionRequestMessage::from(ChatCompletionRequestUserMessage::from(SRE.0)),
        ])
        .stream(true)
        .build()
        .unwrap();
    let mut stream = openai.chat().create_stream(request).await.unwrap();
    let mut streamed = String::new();
    let mut finished = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content {
                streamed.push_str(&text);
            }
            finished |= choice.finish_reason.is_some();
        }
    }
    assert!(finished, "no finish_reason: {streamed}");
    assert!(
        streamed.contains("Sources:\n[") || streamed.contains("The wiki does not say"),
        "{streamed}"
    );

    // skiff's own SSE stream, read to the end.
    let response = http()
        .post(format!("{base}/api/ask/stream"))
        .bearer_auth(TOKEN)
        .json(&json!({ "question": DESK.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    for (before, after) in [
        ("route", "plan"),
        ("plan", "step_started"),
        ("step_started", "step_finished"),
        ("step_finished", "token"),
        ("token", "done"),
    ] {
        let b = names.iter().position(|n| *n == before);
        let a = names.iter().position(|n| *n == after);
        assert!(
            b.is_some() && a.is_some() && b < a,
            "{before} before {after}: {names:?}"
        );
    }
    assert_eq!(names.last(), Some(&"done"), "{body}");
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_answer(&done);
    assert_eq!(done["question"], DESK.0);

    // The chat page in a real browser: token form, steps, answer, a citation's passage.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-chat.png");
    let node_modules = std::env::var("SKIFF_NODE_MODULES")
        .unwrap_or_else(|_| "/var/tmp/skiff-peers/node/node_modules".into());
    let out = Command::new("node")
        .arg(repo().join("tests/browser/chat.mjs"))
        .args(["--url", &format!("{base}/"), "--token", TOKEN])
        .args(["--question", WEIGHT.0, "--screenshot"])
        .arg(&shot)
        .env("SKIFF_NODE_MODULES", node_modules)
        .output()
        .expect("node (scripts/fetch-browser.sh installs the browser bits)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert!(page["steps_ok"].as_u64().unwrap() >= 1, "{page}");
    assert!(page["citations"].as_u64().unwrap() >= 1, "{page}");
    assert!(!page["answer"].as_str().unwrap().is_empty(), "{page}");
    assert!(!page["passage"].as_str().unwrap().is_empty(), "{page}");
    assert!(page["ledger_rows"].as_u64().unwrap() >= 1, "{page}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    eprintln!("screenshot of the chat page: {}", shot.display());

    // A bounded burst: 4 questions at once with server.max_in_flight = 2. Each is answered or
    // cleanly refused (503 busy); memory is printed (bench serve reports figures).
    let rss_before = served.rss_kib();
    let burst = [WEIGHT, SRE, DESK, WEIGHT].map(|(q, _)| {
        let base = base.clone();
        tokio::spawn(async move { ask_json(&base, q).await })
    });
    let mut answered = 0;
    for handle in burst {
        let (status, body) = handle.await.unwrap();
        match status {
            200 => answered += 1,
            503 => assert_eq!(body["error"]["code"], "busy", "{body}"),
            other => panic!("status {other}: {body}"),
        }
    }
    assert!(answered >= 2, "{answered} answered");
    eprintln!(
        "burst: {answered}/4 answered; RSS {} -> {} MiB",
        rss_before / 1024,
        served.rss_kib() / 1024
    );

    // Metrics saw all of it, by role.
    let metrics = metrics(&base).await;
    for needle in [
        "skiff_http_requests_total{route=\"/v1/chat/completions\",method=\"POST\",status=\"200\"} 2",
        "skiff_model_tokens_total{role=\"synthesizer\",direction=\"out\"}",
        "skiff_asks_in_flight 0",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    drop(served);
}

/// Per-identity access over real HTTP: each named token reads its identity's acl groups. A
/// caller without the `hr` group never gets the restricted page — not in the search steps, the
/// answer, the citations or the ledger, not through the OpenAI endpoint — while one with it does.
#[tokio::test(flavor = "multi_thread")]
async fn acl_follows_the_token_on_the_api_and_the_openai_endpoint() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_with(
        dir.path(),
        &llama,
        "\n[agent]\nroute = \"direct\"\n\n[access.identities]\n\"web:alice\" = [\"hr\"]\n",
    );
    let served = Served::start(
        &cfg,
        data.path(),
        &[
            (
                "SKIFF_WEB_TOKENS",
                "alice=alice-token-123,bob=bob-token-456",
            ),
            // With Slack's secrets set, `serve` also answers Slack's Events API.
            ("SKIFF_SLACK_SIGNING_SECRET", "slack-secret-e2e"),
            ("SKIFF_SLACK_BOT_TOKEN", "xoxb-e2e"),
        ],
    );
    let challenge = json!({ "type": "url_verification", "challenge": "c-42" }).to_string();
    let slack_event = |secret: &str| {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        http()
            .post(format!("{}/slack/events", served.base))
            .header("x-slack-request-timestamp", &ts)
            .header(
                "x-slack-signature",
                skiff::frontends::slack::signature(secret, &ts, challenge.as_bytes()),
            )
            .body(challenge.clone())
            .send()
    };
    let verified = slack_event("slack-secret-e2e").await.unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(verified.json::<Value>().await.unwrap()["challenge"], "c-42");
    assert_eq!(slack_event("forged").await.unwrap().status(), 401);
    let question = "What is the salary band midpoint for an L4 Senior Engineer?";
    let ask_as = |token: &'static str| {
        let base = served.base.clone();
        async move {
            let response = http()
                .post(format!("{base}/api/ask"))
                .bearer_auth(token)
                .json(&json!({ "question": question }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let retrieved = |answer: &Value| -> Vec<String> {
        answer["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["output"]["hits"].as_array().cloned().unwrap_or_default())
            .map(|h| h["source"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let bob = ask_as("bob-token-456").await;
    let all = bob.to_string();
    assert!(
        !all.contains("salary-bands"),
        "bob reached the hr page: {all}"
    );
    assert!(
        !all.contains("184,000"),
        "bob got the hr page's figures: {all}"
    );
    assert!(!retrieved(&bob).is_empty(), "bob still gets public hits");

    let alice = ask_as("alice-token-123").await;
    assert!(
        retrieved(&alice).contains(&"hr/salary-bands.md".to_string()),
        "alice (hr) retrieves the page: {:?}",
        retrieved(&alice)
    );

    let openai = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", served.base))
            .with_api_key("bob-token-456"),
    );
    let request = CreateChatCompletionRequestArgs::default()
        .model("skiff")
        .messages(vec![ChatCompletionRequestMessage::from(
            ChatCompletionRequestUserMessage::from(question),
        )])
        .build()
        .unwrap();
    let response = openai.chat().create(request).await.unwrap();
    let content = response.choices[0].message.content.clone().unwrap();
    assert!(
        !content.contains("salary-bands") && !content.contains("184,000"),
        "{content}"
    );
    drop(served);
}

/// Failure and recovery without a restart: the model server goes away mid-run (a clear 502
/// naming the model, not a hang or a 500), comes back on the same port (answers again, same
/// `serve` process); then `serve` is killed with -9 while an answer is in flight, and a new
/// `serve` on the same data dir opens the store and answers.
#[tokio::test(flavor = "multi_thread")]
async fn model_server_outage_and_kill_9_recover() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let port = llama.port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_with(dir.path(), &llama, "\n[agent]\nroute = \"direct\"\n");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("timeout_secs = 600", "timeout_secs = 90"),
    )
    .unwrap();
    let served = Served::start(&cfg, data.path(), &[]);
    let (status, body) = ask_json(&served.base, WEIGHT.0).await;
    assert_eq!(status, 200, "{body}");

    drop(llama);
    let started = Instant::now();
    let (status, body) = ask_json(&served.base, WEIGHT.0).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "model_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "the outage hung the answer"
    );
    eprintln!(
        "model server down: 502 in {:?}: {message}",
        started.elapsed()
    );

    let llama = LlamaServer::start_on(CHAT_MODEL, 2, port);
    let (status, body) = ask_json(&served.base, WEIGHT.0).await;
    assert_eq!(status, 200, "after the model server came back: {body}");

    // kill -9 with an answer in flight, then a fresh serve on the same store.
    let base = served.base.clone();
    let in_flight = tokio::spawn(async move { ask_json(&base, SRE.0).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut served = served;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let (status, _) = in_flight.await.unwrap_or((0, Value::Null));
    assert_ne!(status, 200, "the answer could not have finished");
    let again = Served::start(&cfg, data.path(), &[]);
    let (status, body) = ask_json(&again.base, DESK.0).await;
    assert_eq!(status, 200, "after kill -9: {body}");
    drop(again);
    drop(llama);
}

/// `skiff eval --out` writes the report and chart; `serve` shows them at /eval (data behind the
/// token), checked over HTTP and in the browser.
#[tokio::test(flavor = "multi_thread")]
async fn eval_report_is_written_and_shown_at_eval() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &llama);
    let out_dir = data.path().join("eval");
    let questions = knowledge().join("questions.jsonl");
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(data.path())
        .arg("eval")
        .arg(&questions)
        .args(["--ids", "q12,q51", "--json", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let printed: Value = serde_json::from_str(&ok(&out)).unwrap();
    let summary = &printed["summary"];
    assert_eq!(summary["questions"], 2, "{summary}");
    // Under each question's progress line, why its answer is what it is: q51 asks about a
    // model no page names, refused by code with that note.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines()
            .any(|l| l.trim_start().starts_with("note: no passage names Tern 5")),
        "{log}"
    );
    for key in [
        "retrieval_recall",
        "citation_precision",
        "by_route",
        "tokens_in",
    ] {
        assert!(!summary[key].is_null(), "{key} missing: {summary}");
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["complete"], true);
    assert_eq!(&report["summary"], summary);
    let svg = std::fs::read_to_string(out_dir.join("chart.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("unanswerable"),
        "{svg}"
    );

    let served = Served::start(&cfg, data.path(), &[]);
    let response = http()
        .get(format!("{}/api/eval", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = http()
        .get(format!("{}/api/eval", served.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["report"]["scores"].as_array().unwrap().len(), 2);
    assert_eq!(body["chart_svg"].as_str().unwrap(), svg);

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-eval.png");
    let node_modules = std::env::var("SKIFF_NODE_MODULES")
        .unwrap_or_else(|_| "/var/tmp/skiff-peers/node/node_modules".into());
    let out = Command::new("node")
        .arg(repo().join("tests/browser/eval.mjs"))
        .args(["--url", &format!("{}/eval", served.base), "--token", TOKEN])
        .args(["--rows", "2", "--screenshot"])
        .arg(&shot)
        .env("SKIFF_NODE_MODULES", node_modules)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "eval page failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert!(
        page["headline"].as_str().unwrap().contains("correct"),
        "{page}"
    );
    assert!(page["groups"].as_u64().unwrap() >= 2, "{page}");
    drop(served);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_answer_in_flight_finish_and_refuses_new_ones() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &llama);
    let mut served = Served::start(
        &cfg,
        data.path(),
        &[("SKIFF__SERVER__SHUTDOWN_GRACE_SECS", "300")],
    );
    let base = served.base.clone();
    let in_flight = tokio::spawn({
        let base = base.clone();
        async move { ask_json(&base, SRE.0).await }
    });
    // Wait until the answer is being worked on.
    let started = Instant::now();
    loop {
        let metrics = metrics(&base).await;
        if metrics.contains("skiff_asks_in_flight 1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = served.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // New questions are refused: the listener is closed (or, on a kept-alive connection, 503).
    match http()
        .post(format!("{base}/api/ask"))
        .bearer_auth(TOKEN)
        .json(&json!({ "question": WEIGHT.0 }))
        .send()
        .await
    {
        Err(e) => assert!(e.is_connect(), "{e}"),
        Ok(r) => assert_eq!(r.status(), 503),
    }
    let (status, answer) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_answer(&answer);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(code) = served.child.try_wait().unwrap() {
            assert!(code.success(), "serve exited with {code}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
