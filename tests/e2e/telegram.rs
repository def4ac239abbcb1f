//! `skiff telegram` end to end: the real binary's teloxide client long-polls a Bot API stub on
//! loopback; a simulated allowlisted user asks the seed question and gets the answer with its
//! sources (split at the configured message size), a stranger gets one refusal and nothing
//! else, /sources, /reset and SIGTERM; killed with -9 mid-conversation, a restarted bot resumes
//! the conversation from its files.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::common::*;
use crate::remote::LlamaServer;
use crate::web::write_config_with;

const CHAT_MODEL: &str = "gguf/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
const TOKEN: &str = "123456:TEST-token";
const SEED: &str = "Compare the battery life and price of last year's model to the new one";
const ALLOWED: i64 = 42;
const STRANGER: i64 = 99;
/// Allowlisted, and `[access.identities] "telegram:77" = ["hr"]` lets them read the hr page.
const HR_USER: i64 = 77;
const PART: usize = 300;

#[derive(Default)]
struct Stub {
    updates: Mutex<Vec<Value>>,
    /// Like Telegram: getUpdates with offset N confirms every update below N for good.
    confirmed: Mutex<i64>,
    arrived: Notify,
    /// (method, body) of everything the bot sent.
    calls: Mutex<Vec<(String, Value)>>,
}

impl Stub {
    fn push(&self, user: i64, text: &str) -> i64 {
        let mut updates = self.updates.lock().unwrap();
        let id = updates.len() as i64 + 1;
        updates.push(json!({
            "update_id": id,
            "message": {
                "message_id": 100 + id, "date": 1_700_000_000,
                "chat": { "id": user, "type": "private", "first_name": "U" },
                "from": { "id": user, "is_bot": false, "first_name": "U" },
                "text": text,
            }
        }));
        self.arrived.notify_waiters();
        100 + id
    }

    fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, b)| m == "sendmessage" && b["chat_id"] == chat)
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn count(&self, method: &str, chat: i64) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, b)| *m == method.to_ascii_lowercase() && b["chat_id"] == chat)
            .count()
    }
}

async fn bot_api(
    State(stub): State<Arc<Stub>>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if bot != format!("bot{TOKEN}") {
        return Json(json!({ "ok": false, "error_code": 401, "description": "Unauthorized" }));
    }
    // teloxide names methods in either case (GetMe / getMe).
    let method = method.to_ascii_lowercase();
    let result = match method.as_str() {
        "getme" => json!({
            "id": 777, "is_bot": true, "first_name": "Skiff", "username": "skiff_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        }),
        "getwebhookinfo" => {
            json!({ "url": "", "has_custom_certificate": false, "pending_update_count": 0 })
        }
        "getupdates" => {
            let offset = {
                let mut confirmed = stub.confirmed.lock().unwrap();
                *confirmed = (*confirmed).max(body["offset"].as_i64().unwrap_or(0));
                *confirmed
            };
            let wait = body["timeout"].as_u64().unwrap_or(0).min(2);
            let deadline = Instant::now() + Duration::from_secs(wait);
            loop {
                let notified = stub.arrived.notified();
                let pending: Vec<Value> = stub
                    .updates
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                    .cloned()
                    .collect();
                if !pending.is_empty() || Instant::now() >= deadline {
                    break Value::Array(pending);
                }
                let _ = tokio::time::timeout_at(deadline.into(), notified).await;
            }
        }
        "sendmessage" => {
            stub.calls
                .lock()
                .unwrap()
                .push((method.clone(), body.clone()));
            json!({
                "message_id": 5000, "date": 1_700_000_001,
                "chat": { "id": body["chat_id"], "type": "private", "first_name": "U" },
                "text": body["text"],
            })
        }
        _ => {
            stub.calls.lock().unwrap().push((method.clone(), body));
            json!(true)
        }
    };
    Json(json!({ "ok": true, "result": result }))
}

async fn start_stub() -> (String, Arc<Stub>) {
    let stub = Arc::new(Stub::default());
    let app = axum::Router::new()
        .route("/{bot}/{method}", post(bot_api))
        .with_state(Arc::clone(&stub));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), stub)
}

async fn wait_until(what: &str, limit: Duration, done: impl FnMut() -> bool) {
    assert!(waited(limit, done).await, "timed out waiting for {what}");
}

/// Whether `done` came true within `limit`.
async fn waited(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    true
}

struct Bot(Child);

impl Bot {
    /// Sends `signal` (e.g. "-TERM", "-KILL") and waits for the process to end.
    fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        self.0.wait().unwrap()
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_bot_answers_allowlisted_users_and_refuses_others_once() {
    let data = knowledge_store().lock().await;
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_with(
        dir.path(),
        &llama,
        &format!(
            "\n[telegram]\nallow_users = [{ALLOWED}, {HR_USER}]\nmessage_chars = {PART}\n\
             \n[access.identities]\n\"telegram:{HR_USER}\" = [\"hr\"]\n"
        ),
    );
    let (api, stub) = start_stub().await;
    let mut bot = Bot(bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(data.path())
        .arg("telegram")
        .env("SKIFF_TELEGRAM_TOKEN", TOKEN)
        .env("SKIFF__TELEGRAM__API_URL", &api)
        .spawn()
        .unwrap());

    stub.push(ALLOWED, "/start");
    wait_until("the help text", Duration::from_secs(120), || {
        !stub.sent_to(ALLOWED).is_empty()
    })
    .await;
    assert!(
        stub.sent_to(ALLOWED)[0]["text"]
            .as_str()
            .unwrap()
            .contains("/sources")
    );

    // A stranger: one polite refusal, then silence.
    stub.push(STRANGER, "hello?");
    stub.push(STRANGER, "What is the VPN port?");

    // The seed question, from the allowlisted user.
    let asked = stub.push(ALLOWED, SEED);
    wait_until("the answer's sources", Duration::from_secs(900), || {
        stub.sent_to(ALLOWED)
            .iter()
            .any(|m| m["text"].as_str().unwrap_or_default().contains("Sources"))
    })
    .await;
    let replies = stub.sent_to(ALLOWED);
    let answer: Vec<&Value> = replies[1..].iter().collect();
    let text: String = answer
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("telegram answer ({} parts):\n{text}", answer.len());
    assert_eq!(
        answer[0]["reply_parameters"]["message_id"], asked,
        "{:?}",
        answer[0]
    );
    for m in &answer {
        assert_eq!(m["parse_mode"], "MarkdownV2");
        assert!(m["text"].as_str().unwrap().chars().count() <= PART, "{m}");
    }
    for page in ["products/tern-3.md", "products/tern-4.md"] {
        assert!(text.contains(page), "{page} not among the sources:\n{text}");
    }
    assert!(
        stub.count("sendChatAction", ALLOWED) >= 1,
        "no typing indicator"
    );

    // /sources: every passage in full, split at the configured size.
    let before = stub.sent_to(ALLOWED).len();
    stub.push(ALLOWED, "/sources");
    wait_until("the sources", Duration::from_secs(60), || {
        stub.sent_to(ALLOWED).len() >= before + 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sources = &stub.sent_to(ALLOWED)[before..];
    assert!(
        sources.len() >= 2,
        "a long message arrives split: {sources:?}"
    );
    assert!(
        sources
            .iter()
            .all(|m| m["text"].as_str().unwrap().chars().count() <= PART)
    );
    assert!(
        sources[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("*Sources of the last answer*")
    );

    stub.push(ALLOWED, "/reset");
    let before = stub.sent_to(ALLOWED).len();
    wait_until("the reset", Duration::from_secs(60), || {
        stub.sent_to(ALLOWED).len() > before
    })
    .await;
    assert!(
        stub.sent_to(ALLOWED).last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("forgotten")
    );

    // The identity's groups reach the bot: the hr user reads the restricted page (its figures
    // or its citation; neither exists anywhere else in the wiki).
    stub.push(
        HR_USER,
        "What is the salary band midpoint for an L4 Senior Engineer?",
    );
    wait_until("the hr user's answer", Duration::from_secs(600), || {
        !stub.sent_to(HR_USER).is_empty()
    })
    .await;
    // A long answer arrives in parts, sent back to back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hr_answer = texts(&stub, HR_USER).join("\n");
    assert!(
        hr_answer.contains("salary-bands") || hr_answer.contains("184,000"),
        "the telegram:{HR_USER} identity did not unlock hr/salary-bands.md:\n{hr_answer}"
    );

    let refusals = stub.sent_to(STRANGER);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0]["text"].as_str().unwrap().contains("Sorry"));
    assert_eq!(stub.count("sendChatAction", STRANGER), 0);

    // SIGTERM: polling stops and the process exits cleanly.
    let pid = bot.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = bot.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "telegram did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_bot(cfg: &std::path::Path, data: &std::path::Path, api: &str) -> Bot {
    Bot(bin()
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(data)
        .arg("telegram")
        .env("SKIFF_TELEGRAM_TOKEN", TOKEN)
        .env("SKIFF__TELEGRAM__API_URL", api)
        .spawn()
        .unwrap())
}

fn texts(stub: &Stub, chat: i64) -> Vec<String> {
    stub.sent_to(chat)
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// kill -9 while an answer is being written: the conversation files are intact, and a new bot
/// on the same data dir resumes the conversation (/sources still shows the last answer's
/// sources, a follow-up is answered with the earlier turn in memory).
#[tokio::test(flavor = "multi_thread")]
async fn telegram_conversation_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let store = knowledge_store().lock().await;
    // A copy of the shared store so this test's conversations stay its own.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(store.path().join("store"))
        .arg(data.path())
        .status()
        .unwrap();
    assert!(copied.success());
    drop(store);
    let llama = LlamaServer::start(CHAT_MODEL, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_with(
        dir.path(),
        &llama,
        &format!("\n[telegram]\nallow_users = [{ALLOWED}]\n"),
    );
    let (api, stub) = start_stub().await;
    let mut bot = spawn_bot(&cfg, data.path(), &api);

    stub.push(ALLOWED, "What is the bastion host's SSH port?");
    wait_until("the first answer", Duration::from_secs(600), || {
        texts(&stub, ALLOWED).iter().any(|t| t.contains("Sources"))
    })
    .await;
    let first = texts(&stub, ALLOWED).join("\n");
    assert!(first.contains("howto/ssh-keys.md"), "{first}");

    // A second question; once the bot shows it is working on it, kill -9.
    let typing = stub.count("sendChatAction", ALLOWED);
    stub.push(ALLOWED, "What about the certificate lifetime?");
    wait_until(
        "typing for the second question",
        Duration::from_secs(120),
        || stub.count("sendChatAction", ALLOWED) > typing,
    )
    .await;
    bot.signal("-KILL");
    let conversations = data.path().join("conversations/telegram");
    let files: Vec<_> = std::fs::read_dir(&conversations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap())
        .expect("the conversation file is whole JSON after kill -9");
    assert_eq!(
        saved["turns"][0]["question"],
        "What is the bastion host's SSH port?"
    );

    // A new bot on the same data dir: the conversation is still there.
    let before = texts(&stub, ALLOWED).len();
    let mut bot = spawn_bot(&cfg, data.path(), &api);
    stub.push(ALLOWED, "/sources");
    wait_until(
        "/sources after the restart",
        Duration::from_secs(120),
        || {
            texts(&stub, ALLOWED)[before..]
                .iter()
                .any(|t| t.starts_with("*Sources of the last answer*"))
        },
    )
    .await;
    let sources = texts(&stub, ALLOWED)[before..].join("\n");
    assert!(sources.contains("ssh"), "{sources}");

    let before = texts(&stub, ALLOWED).len();
    stub.push(ALLOWED, "And how long does the certificate last?");
    let answered = waited(Duration::from_secs(600), || {
        texts(&stub, ALLOWED)[before..]
            .iter()
            .any(|t| t.contains("Sources"))
    })
    .await;
    assert!(
        answered,
        "no answer with sources to the follow-up; the bot sent: {:?}",
        &texts(&stub, ALLOWED)[before..]
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let questions: Vec<&str> = saved["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["question"].as_str().unwrap())
        .collect();
    assert_eq!(
        questions.first(),
        Some(&"What is the bastion host's SSH port?"),
        "{questions:?}"
    );
    assert_eq!(
        questions.last(),
        Some(&"And how long does the certificate last?"),
        "{questions:?}"
    );
    let reply = texts(&stub, ALLOWED)[before..].join("\n");
    eprintln!("follow-up after the restart:\n{reply}");
    assert!(reply.contains("howto/ssh-keys.md"), "{reply}");
    assert!(bot.signal("-TERM").success());
}
