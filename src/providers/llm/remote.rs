//! async-openai adapter: any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server,
//! mistral.rs server, Ollama). async-openai retries 429/5xx/connection failures with backoff
//! (3 tries, honouring Retry-After); everything else fails at once with a clear error.

use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
    FinishReason, ResponseFormat, ResponseFormatJsonSchema,
};
use async_trait::async_trait;
use futures::StreamExt;

use super::{ChatDelta, ChatModel, ChatRequest, ChatResponse, ChatStream, Finish, LlmError, Role};
use super::{Timing, Usage};

#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Base URL including the version prefix, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// Model name the server expects.
    pub model: String,
    /// API key (from the env variable named in config); empty for servers without auth.
    pub api_key: String,
    /// Upper bound on one request, retries included.
    pub timeout: Duration,
}

pub struct RemoteModel {
    name: String,
    model: String,
    base_url: String,
    client: Client<OpenAIConfig>,
    timeout: Duration,
}

impl RemoteModel {
    pub fn new(name: &str, options: RemoteOptions) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(options.timeout)
            .build()
            .map_err(|e| LlmError::Load {
                model: name.to_string(),
                message: e.to_string(),
            })?;
        let config = OpenAIConfig::new()
            .with_api_base(options.base_url.trim_end_matches('/'))
            .with_api_key(options.api_key);
        Ok(Self {
            name: name.to_string(),
            model: options.model,
            base_url: options.base_url,
            client: Client::with_config(config).with_http_client(http),
            timeout: options.timeout,
        })
    }

    fn request(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<CreateChatCompletionRequest, LlmError> {
        if req.messages.is_empty() {
            return Err(self.permanent("a chat request needs at least one message".into()));
        }
        let messages: Vec<ChatCompletionRequestMessage> = req
            .messages
            .iter()
            .map(|m| match m.role {
                Role::System => ChatCompletionRequestSystemMessage::from(m.content.clone()).into(),
                Role::User => ChatCompletionRequestUserMessage::from(m.content.clone()).into(),
                Role::Assistant => {
                    ChatCompletionRequestAssistantMessage::from(m.content.clone()).into()
                }
            })
            .collect();
        let mut args = CreateChatCompletionRequestArgs::default();
        args.model(self.model.clone())
            .messages(messages)
            .temperature(req.temperature)
            .max_completion_tokens(req.max_tokens);
        if let Some(schema) = &req.schema {
            args.response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    name: schema.name.clone(),
                    schema: schema.schema.clone(),
                    strict: Some(true),
                    description: None,
                },
            });
        }
        if stream {
            args.stream(true)
                .stream_options(ChatCompletionStreamOptions {
                    include_usage: Some(true),
                    include_obfuscation: None,
                });
        }
        args.build()
            .map_err(|e| self.permanent(format!("invalid request: {e}")))
    }

    fn permanent(&self, message: String) -> LlmError {
        LlmError::Permanent {
            model: self.name.clone(),
            message,
        }
    }

    fn timed_out(&self) -> LlmError {
        LlmError::Transient {
            model: self.name.clone(),
            message: format!(
                "{} did not answer within {}s",
                self.base_url,
                self.timeout.as_secs()
            ),
        }
    }

    /// Sorts SDK errors into transient (retry later), context-too-long and permanent.
    fn classify(&self, e: OpenAIError) -> LlmError {
        let name = self.name.clone();
        match e {
            OpenAIError::Reqwest(e) if e.is_timeout() => self.timed_out(),
            OpenAIError::Reqwest(e) if e.is_connect() || e.is_request() => LlmError::Transient {
                model: name,
                message: format!("cannot reach {}: {e}", self.base_url),
            },
            OpenAIError::ApiError(r) => {
                let status = r.status_code.as_u16();
                let message = format!("HTTP {status}: {}", r.api_error.message);
                if matches!(status, 408 | 429 | 500..=599)
                    && r.api_error.r#type.as_deref() != Some("insufficient_quota")
                {
                    LlmError::Transient {
                        model: name,
                        message,
                    }
                } else if is_context_error(&r.api_error.message) {
                    LlmError::ContextTooLong {
                        model: name,
                        tokens: 0,
                    }
                } else {
                    LlmError::Permanent {
                        model: name,
                        message,
                    }
                }
            }
            // llama.cpp reports errors with a numeric `code`, which the SDK cannot parse:
            // read the message from the body ourselves.
            OpenAIError::JSONDeserialize(_, body) => match error_message(&body) {
                Some(message) if is_context_error(&message) => LlmError::ContextTooLong {
                    model: name,
                    tokens: 0,
                },
                Some(message) => LlmError::Permanent {
                    model: name,
                    message,
                },
                None => LlmError::InvalidOutput {
                    model: name,
                    message: format!(
                        "{} answered with something that is not an OpenAI-compatible response",
                        self.base_url
                    ),
                    partial: body.chars().take(500).collect(),
                },
            },
            OpenAIError::StreamError(e) => LlmError::Transient {
                model: name,
                message: format!("stream broke: {e}"),
            },
            other => LlmError::Permanent {
                model: name,
                message: other.to_string(),
            },
        }
    }
}

fn is_context_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("context length")
        || m.contains("context window")
        || m.contains("exceeds the available context")
}

fn error_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?;
    e.get("message")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .or_else(|| e.as_str().map(str::to_string))
}

fn finish_of(reason: Option<&FinishReason>) -> Finish {
    match reason {
        Some(FinishReason::Stop) => Finish::Stop,
        Some(FinishReason::Length) => Finish::Length,
        _ => Finish::Other,
    }
}

fn timing(total: Duration, completion_tokens: u32) -> Timing {
    let secs = total.as_secs_f32();
    Timing {
        total,
        prompt_tokens_per_second: None,
        decode_tokens_per_second: (secs > 0.0 && completion_tokens > 0)
            .then(|| completion_tokens as f32 / secs),
    }
}

#[async_trait]
impl ChatModel for RemoteModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_local(&self) -> bool {
        false
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let req = self.request(&request, false)?;
        let started = Instant::now();
        let response = tokio::time::timeout(self.timeout, self.client.chat().create(req))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.classify(e))?;
        let choice =
            response
                .choices
                .into_iter()
                .next()
                .ok_or_else(|| LlmError::InvalidOutput {
                    model: self.name.clone(),
                    message: "the response has no choices".into(),
                    partial: String::new(),
                })?;
        let usage = response
            .usage
            .map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            })
            .unwrap_or_default();
        Ok(ChatResponse {
            text: choice.message.content.unwrap_or_default(),
            model: self.name.clone(),
            usage,
            timing: timing(started.elapsed(), usage.completion_tokens),
            finish: finish_of(choice.finish_reason.as_ref()),
        })
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let req = self.request(&request, true)?;
        let started = Instant::now();
        let stream = tokio::time::timeout(self.timeout, self.client.chat().create_stream(req))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.classify(e))?;
        let name = self.name.clone();
        let base_url = self.base_url.clone();
        // Map SDK chunks to our deltas; the final usage chunk (or the end) yields Done.
        let state = (stream, Usage::default(), Finish::Other, false);
        let out = futures::stream::unfold(state, move |(mut s, mut usage, mut finish, done)| {
            let name = name.clone();
            let base_url = base_url.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    match s.next().await {
                        Some(Ok(chunk)) => {
                            if let Some(u) = chunk.usage {
                                usage = Usage {
                                    prompt_tokens: u.prompt_tokens,
                                    completion_tokens: u.completion_tokens,
                                };
                            }
                            let mut text = String::new();
                            for c in chunk.choices {
                                if let Some(t) = c.delta.content {
                                    text.push_str(&t);
                                }
                                if c.finish_reason.is_some() {
                                    finish = finish_of(c.finish_reason.as_ref());
                                }
                            }
                            if !text.is_empty() {
                                return Some((
                                    Ok(ChatDelta::Text(text)),
                                    (s, usage, finish, false),
                                ));
                            }
                        }
                        Some(Err(e)) => {
                            let err = LlmError::Transient {
                                model: name,
                                message: format!("stream from {base_url} broke: {e}"),
                            };
                            return Some((Err(err), (s, usage, finish, true)));
                        }
                        None => {
                            let done = ChatDelta::Done {
                                usage,
                                timing: timing(started.elapsed(), usage.completion_tokens),
                                finish,
                            };
                            return Some((Ok(done), (s, usage, finish, true)));
                        }
                    }
                }
            }
        });
        Ok(Box::pin(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_error_bodies_are_read() {
        let body =
            r#"{"error":{"code":400,"message":"bad schema","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("bad schema"));
        assert_eq!(error_message("<html>oops</html>"), None);
        assert!(is_context_error(
            "the request exceeds the available context size"
        ));
    }
}
