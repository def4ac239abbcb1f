//! The chat-model port: chat, streamed chat and schema-constrained structured output, with
//! token counts and timing on every call. Adapters: [`local`] (mistral.rs in-process, GGUF) and
//! [`remote`] (any OpenAI-compatible endpoint through async-openai).

pub mod gguf;
pub mod llamacpp;
pub mod local;
pub mod partial;
pub mod remote;

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A JSON schema the decoder must follow (local: grammar-constrained; remote: response_format).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    pub name: String,
    pub schema: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
    /// 0 = greedy (the default: extraction and planning want repeatable output).
    pub temperature: f32,
    pub schema: Option<OutputSchema>,
}

impl ChatRequest {
    pub fn new(messages: Vec<ChatMessage>, max_tokens: u32) -> Self {
        Self {
            messages,
            max_tokens,
            temperature: 0.0,
            schema: None,
        }
    }

    pub fn with_schema(mut self, schema: OutputSchema) -> Self {
        self.schema = Some(schema);
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timing {
    pub total: Duration,
    /// Prompt processing speed where the backend reports it.
    pub prompt_tokens_per_second: Option<f32>,
    /// Generation speed where the backend reports it (else derived from total time).
    pub decode_tokens_per_second: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    Stop,
    /// Hit `max_tokens`: the text is probably cut short.
    Length,
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatResponse {
    pub text: String,
    pub model: String,
    pub usage: Usage,
    pub timing: Timing,
    pub finish: Finish,
}

/// One piece of a streamed answer; the last one carries usage and timing.
#[derive(Debug, Clone)]
pub enum ChatDelta {
    Text(String),
    Done {
        usage: Usage,
        timing: Timing,
        finish: Finish,
    },
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatDelta, LlmError>> + Send>>;

#[derive(Debug, Error)]
pub enum LlmError {
    /// Worth retrying: timeouts, connection refused, 429, 5xx, a full queue.
    #[error("{model}: temporarily unavailable: {message}")]
    Transient { model: String, message: String },
    /// Retrying will not help: bad request, auth, unknown model.
    #[error("{model}: {message}")]
    Permanent { model: String, message: String },
    #[error("{model}: the prompt ({tokens} tokens) does not fit the context window")]
    ContextTooLong { model: String, tokens: u32 },
    /// The model answered but not with what was asked (e.g. JSON that does not parse);
    /// the partial text is kept for the retry prompt and for debugging.
    #[error("{model}: unusable output: {message}")]
    InvalidOutput {
        model: String,
        message: String,
        partial: String,
    },
    #[error("cannot load model {model}: {message}")]
    Load { model: String, message: String },
}

impl LlmError {
    pub fn is_transient(&self) -> bool {
        matches!(self, LlmError::Transient { .. })
    }
}

#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The configured model name (as the ledger and errors show it).
    fn name(&self) -> &str;
    /// Whether the model runs in-process on this machine (priced by CPU time) or remotely.
    fn is_local(&self) -> bool;
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError>;
    /// Streams the answer; dropping the stream cancels generation.
    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError>;
}

/// The JSON schema of `T` as the decoders want it (schemars, draft 2020-12).
pub fn schema_of<T: schemars::JsonSchema>(name: &str) -> OutputSchema {
    let schema = schemars::schema_for!(T);
    OutputSchema {
        name: name.to_string(),
        schema: schema.to_value(),
    }
}

/// Asks for output constrained to `T`'s schema and parses it. The adapters constrain decoding,
/// so a parse failure means the model stopped early (length) or the backend ignored the schema.
pub async fn structured<T>(
    model: &dyn ChatModel,
    mut request: ChatRequest,
    schema: OutputSchema,
) -> Result<(T, ChatResponse), LlmError>
where
    T: DeserializeOwned,
{
    request.schema = Some(schema);
    let response = model.chat(request).await?;
    parse_json(&response).map(|value| (value, response))
}

/// Parses a response's text as JSON of type `T`, naming the model and keeping the text.
pub fn parse_json<T: DeserializeOwned>(response: &ChatResponse) -> Result<T, LlmError> {
    serde_json::from_str(response.text.trim()).map_err(|e| LlmError::InvalidOutput {
        model: response.model.clone(),
        message: if response.finish == Finish::Length {
            format!("output cut off at the token limit ({e})")
        } else {
            format!("not the requested JSON: {e}")
        },
        partial: response.text.clone(),
    })
}

/// Connects to the model a role is mapped to: loads a local GGUF or sets up a remote client.
pub async fn connect(
    spec: &crate::config::ModelSpec,
) -> Result<std::sync::Arc<dyn ChatModel>, LlmError> {
    use crate::config::ModelSpec;
    match spec {
        ModelSpec::Local { name, path, config } => {
            let options = local::LocalOptions {
                max_concurrent: config.max_concurrent,
                queue: config.queue,
                timeout: Duration::from_secs(config.timeout_secs),
                prefix_cache: config.prefix_cache,
            };
            Ok(std::sync::Arc::new(
                local::LocalModel::load(name, path, options).await?,
            ))
        }
        ModelSpec::Remote { name, config } => {
            let api_key = match &config.api_key_env {
                Some(var) => std::env::var(var).map_err(|_| LlmError::Load {
                    model: name.clone(),
                    message: format!(
                        "models.remote.{name}.api_key_env names {var}, which is not set"
                    ),
                })?,
                None => String::new(),
            };
            let options = remote::RemoteOptions {
                base_url: config.base_url.clone(),
                model: config.model.clone(),
                api_key,
                timeout: Duration::from_secs(config.timeout_secs.unwrap_or(120)),
            };
            Ok(std::sync::Arc::new(remote::RemoteModel::new(
                name, options,
            )?))
        }
    }
}

#[cfg(test)]
pub mod fake {
    //! A scripted model for unit tests of logic around models (never for end-to-end paths).

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;

    pub enum MockTurn {
        Text(String),
        Error(LlmError),
    }

    pub struct ScriptedModel {
        pub turns: Mutex<VecDeque<MockTurn>>,
        pub seen: Mutex<Vec<ChatRequest>>,
    }

    impl ScriptedModel {
        pub fn new(turns: Vec<MockTurn>) -> Self {
            Self {
                turns: Mutex::new(turns.into()),
                seen: Mutex::new(Vec::new()),
            }
        }

        /// The last message of the `n`th request the model was sent (0-based): what a repair
        /// or correction round told it.
        pub fn last_message(&self, n: usize) -> String {
            let seen = self.seen.lock().unwrap();
            seen[n].messages.last().unwrap().content.clone()
        }
    }

    #[async_trait]
    impl ChatModel for ScriptedModel {
        fn name(&self) -> &str {
            "scripted"
        }
        fn is_local(&self) -> bool {
            true
        }
        async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
            self.seen.lock().unwrap().push(request);
            match self.turns.lock().unwrap().pop_front() {
                Some(MockTurn::Text(text)) => Ok(ChatResponse {
                    text,
                    model: "scripted".into(),
                    usage: Usage::default(),
                    timing: Timing::default(),
                    finish: Finish::Stop,
                }),
                Some(MockTurn::Error(e)) => Err(e),
                None => Err(LlmError::Permanent {
                    model: "scripted".into(),
                    message: "script exhausted".into(),
                }),
            }
        }
        async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
            let response = self.chat(request).await?;
            let items = vec![
                Ok(ChatDelta::Text(response.text)),
                Ok(ChatDelta::Done {
                    usage: response.usage,
                    timing: response.timing,
                    finish: response.finish,
                }),
            ];
            Ok(Box::pin(futures::stream::iter(items)))
        }
    }
}
