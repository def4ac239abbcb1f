//! The remote adapter against a real OpenAI-compatible server on loopback: llama.cpp's own
//! server (xllamacpp, installed by scripts/fetch-peers.sh) serving a local GGUF, started here.
//! Also: a server that is down, and one that answers garbage.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use skiff::providers::llm::remote::{RemoteModel, RemoteOptions};
use skiff::providers::llm::{
    ChatDelta, ChatMessage, ChatModel, ChatRequest, LlmError, schema_of, structured,
};
use skiff::tools::extract::{ExtractArgs, Extractor, FieldKind, FieldSpec, Passage};

use crate::common::*;

/// llama.cpp server child process; killed on drop.
pub struct LlamaServer {
    child: Child,
    pub base_url: String,
}

impl LlamaServer {
    pub fn start(gguf: &str, threads: usize) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(gguf, threads, port)
    }

    /// On a given port: a server that went away can come back where its clients point.
    pub fn start_on(gguf: &str, threads: usize, port: u16) -> Self {
        let python = std::env::var("SKIFF_PEERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("/var/tmp/skiff-peers"))
            .join("venv/bin/python");
        assert!(
            python.exists(),
            "{} missing: run scripts/fetch-peers.sh",
            python.display()
        );
        let model = config(std::path::Path::new("/tmp")).models.dir.join(gguf);
        let mut child = Command::new(python)
            .arg(repo().join("scripts/llama_server.py"))
            .arg(&model)
            .arg(port.to_string())
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening"), "llama server: {line:?}");
        let server = LlamaServer {
            child,
            base_url: format!("http://127.0.0.1:{port}/v1"),
        };
        server.wait_healthy(port);
        server
    }

    fn wait_healthy(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n");
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(&mut s, &mut body);
                if body.contains("\"ok\"") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("llama server on {port} never became healthy");
    }

    pub fn port(&self) -> u16 {
        self.base_url
            .trim_end_matches("/v1")
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    pub fn model(&self, timeout: Duration) -> RemoteModel {
        RemoteModel::new(
            "llama-cpp",
            RemoteOptions {
                base_url: self.base_url.clone(),
                model: "qwen".into(),
                api_key: String::new(),
                timeout,
            },
        )
        .unwrap()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Capital {
    #[schemars(length(max = 40))]
    country: String,
    #[schemars(length(max = 40))]
    capital: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_adapter_against_llama_cpp_on_loopback() {
    let server = LlamaServer::start("gguf/qwen2.5-coder-0.5b-instruct.gguf", 2);
    let model = server.model(Duration::from_secs(300));
    assert!(!model.is_local());

    // Plain chat with usage.
    let question = || {
        vec![
            ChatMessage::system("Answer in one short sentence."),
            ChatMessage::user("What is the capital of France?"),
        ]
    };
    let r = model.chat(ChatRequest::new(question(), 24)).await.unwrap();
    assert!(r.text.contains("Paris"), "{r:?}");
    assert!(
        r.usage.prompt_tokens > 10 && r.usage.completion_tokens > 0,
        "{r:?}"
    );

    // Streaming ends with usage.
    let mut stream = model
        .chat_stream(ChatRequest::new(question(), 24))
        .await
        .unwrap();
    let (mut text, mut usage) = (String::new(), None);
    while let Some(d) = stream.next().await {
        match d.unwrap() {
            ChatDelta::Text(t) => text.push_str(&t),
            ChatDelta::Done { usage: u, .. } => usage = Some(u),
        }
    }
    assert!(text.contains("Paris"), "{text}");
    assert!(usage.unwrap().completion_tokens > 0);

    // Structured output through response_format json_schema parses into the Rust type.
    let (c, _): (Capital, _) = structured(
        &model,
        ChatRequest::new(question(), 64),
        schema_of::<Capital>("capital"),
    )
    .await
    .unwrap();
    assert_eq!(c.capital, "Paris");
    assert!(c.country.contains("France"), "{}", c.country);

    // The extract tool works the same over the remote path (with the 1.5B extractor model).
    drop(server);
    let server = LlamaServer::start("gguf/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 2);
    let model = server.model(Duration::from_secs(300));
    let tool = Extractor::new(std::sync::Arc::new(server.model(Duration::from_secs(300))));
    let (x, calls) = tool
        .extract(&ExtractArgs {
            passages: vec![Passage {
                id: "P1".into(),
                text: "Tern 4 > Battery\nTern 4 is rated for **19 hours** of typical field use."
                    .into(),
            }],
            fields: vec![FieldSpec {
                name: "battery_hours".into(),
                kind: FieldKind::Number,
                unit: Some("hours".into()),
                description: "battery life".into(),
            }],
            // The value must be stated where the thing is named (it is, in the quote).
            about: Some("Tern 4".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        x.values["battery_hours"].as_ref().map(|v| v.value.as_f64()),
        Some(Some(19.0)),
        "{x:?} {calls:?}"
    );
    assert!(!calls[0].local);

    // A bad request is a permanent error with the server's message.
    let mut bad = ChatRequest::new(question(), 8);
    bad.schema = Some(skiff::providers::llm::OutputSchema {
        name: "bad".into(),
        schema: serde_json::json!({"type": "no-such-type"}),
    });
    let err = model.chat(bad).await.unwrap_err();
    assert!(matches!(err, LlmError::Permanent { .. }), "{err:?}");
}

/// One short chat against `base_url`, expected to fail.
async fn ask_once(base_url: &str) -> LlmError {
    let model = RemoteModel::new(
        "probe",
        RemoteOptions {
            base_url: base_url.to_string(),
            model: "m".into(),
            api_key: String::new(),
            timeout: Duration::from_secs(30),
        },
    )
    .unwrap();
    model
        .chat(ChatRequest::new(vec![ChatMessage::user("hi")], 4))
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_down_is_a_clear_transient_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // dropped: nothing listens there now
    let err = ask_once(&format!("http://127.0.0.1:{port}/v1")).await;
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_answer_is_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let body = "<html>this is not an API</html>";
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    let err = ask_once(&format!("http://{addr}/v1")).await;
    assert!(matches!(err, LlmError::InvalidOutput { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("not an OpenAI-compatible response"),
        "{err}"
    );
}
