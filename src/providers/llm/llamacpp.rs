//! llama.cpp's server (the xllamacpp wheel) as a measuring peer: started on loopback with a
//! GGUF and thread count, asked for a completion, and read back llama.cpp's own timings.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{ChatMessage, LlmError, Role};

const SCRIPT: &str = include_str!("../../../scripts/llama_server.py");

/// A running llama.cpp server; killed on drop.
pub struct LlamaCppServer {
    child: tokio::process::Child,
    base_url: String,
    http: reqwest::Client,
    _script_dir: tempfile::TempDir,
}

/// llama.cpp's own measurement of one completion.
#[derive(Debug, Clone, Copy)]
pub struct PeerTiming {
    pub prompt_tokens: u32,
    pub prompt_tps: f64,
    pub decode_tps: f64,
}

fn err(message: String) -> LlmError {
    LlmError::Load {
        model: "llama.cpp".into(),
        message,
    }
}

impl LlamaCppServer {
    pub async fn start(python: &Path, gguf: &Path, threads: usize) -> Result<Self, LlmError> {
        if !python.exists() {
            return Err(err(format!(
                "{} not found: run scripts/fetch-peers.sh",
                python.display()
            )));
        }
        let dir = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
        let script = dir.path().join("llama_server.py");
        std::fs::write(&script, SCRIPT).map_err(|e| err(e.to_string()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| err(e.to_string()))?
            .port();
        let mut child = tokio::process::Command::new(python)
            .arg(&script)
            .arg(gguf)
            .arg(port.to_string())
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| err(format!("cannot start {}: {e}", python.display())))?;
        let stdout = child.stdout.take().ok_or_else(|| err("no stdout".into()))?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(120),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .map_err(|_| err("server did not start within 120s".into()))?
        .map_err(|e| err(e.to_string()))?;
        if !line.starts_with("listening") {
            return Err(err(format!("server failed to start: {line:?}")));
        }
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _script_dir: dir,
        };
        for _ in 0..600 {
            let health = server.http.get(format!("{}/health", server.base_url));
            if let Ok(r) = health.send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(err("server never became healthy".into()))
    }

    /// The server's process id (None once it has exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn base_url(&self) -> String {
        format!("{}/v1", self.base_url)
    }

    /// One greedy completion with prompt caching off; returns llama.cpp's timings.
    pub async fn timed_completion(
        &self,
        messages: &[ChatMessage],
        max_tokens: u32,
    ) -> Result<PeerTiming, LlmError> {
        let messages: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                serde_json::json!({"role": role, "content": m.content})
            })
            .collect();
        let body = serde_json::json!({
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "cache_prompt": false,
            "ignore_eos": true,
        });
        let v: serde_json::Value = self
            .http
            .post(format!("{}/v1/chat/completions", self.base_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?
            .json()
            .await
            .map_err(|e| err(e.to_string()))?;
        let t = &v["timings"];
        match (
            t["prompt_n"].as_u64(),
            t["prompt_per_second"].as_f64(),
            t["predicted_per_second"].as_f64(),
        ) {
            (Some(n), Some(p), Some(d)) => Ok(PeerTiming {
                prompt_tokens: n as u32,
                prompt_tps: p,
                decode_tps: d,
            }),
            _ => Err(err(format!("no timings in the answer: {v}"))),
        }
    }
}

impl Drop for LlamaCppServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
