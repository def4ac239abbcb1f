//! mistral.rs adapter: a GGUF model loaded once, in-process, on the CPU. Tokenizer and chat
//! template come from the GGUF itself (no hub). Generation runs on mistral.rs's own engine
//! thread; requests wait in a bounded queue, and a dropped or timed-out request is cancelled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use mistralrs::{
    Constraint, GgufModelBuilder, Model, RequestBuilder, Response, StopTokens, TextMessageRole,
    TokenSource,
};
use tokio::sync::{Semaphore, mpsc};

use super::gguf::{self, SUPPORTED_ARCHITECTURES};
use super::{ChatDelta, ChatModel, ChatRequest, ChatResponse, ChatStream, Finish, LlmError, Role};
use super::{Timing, Usage};

/// How a local model is run.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Sequences mistral.rs decodes together.
    pub max_concurrent: usize,
    /// Requests admitted at once (running + waiting); more are refused as busy.
    pub queue: usize,
    /// Upper bound on one request, queue wait included.
    pub timeout: Duration,
    /// Finished sequences whose KV cache is kept for prompts that start the same way (0 = off).
    /// Bounded by the mistralrs-core patch in scripts/patches/ (unpatched, CPU caches were
    /// never evicted).
    pub prefix_cache: usize,
}

pub struct LocalModel {
    name: String,
    model: Arc<Model>,
    stop_ids: Vec<u32>,
    queue: Arc<Semaphore>,
    timeout: Duration,
}

impl LocalModel {
    /// Checks the file, then loads it (blocking work runs off the async runtime).
    pub async fn load(name: &str, path: &Path, options: LocalOptions) -> Result<Self, LlmError> {
        let load_err = |message: String| LlmError::Load {
            model: format!("{name} ({})", path.display()),
            message,
        };
        let header_path = path.to_path_buf();
        let info = tokio::task::spawn_blocking(move || gguf::read_info(&header_path))
            .await
            .map_err(|e| load_err(e.to_string()))?
            .map_err(|e| load_err(e.to_string()))?;
        if !SUPPORTED_ARCHITECTURES.contains(&info.architecture.as_str()) {
            return Err(load_err(format!(
                "architecture `{}` is not supported by the local runtime (supported: {})",
                info.architecture,
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }
        if !info.has_chat_template {
            return Err(load_err(
                "the GGUF has no chat template (a base model?); use an instruct model".into(),
            ));
        }
        let abs: PathBuf = path
            .canonicalize()
            .map_err(|e| load_err(format!("cannot open: {e}")))?;
        let (Some(dir), Some(file)) = (abs.parent(), abs.file_name()) else {
            return Err(load_err("not a file path".into()));
        };
        let dir = dir.display().to_string();
        let file = file.to_string_lossy().into_owned();
        let handle = tokio::runtime::Handle::current();
        let seqs = options.max_concurrent.max(1);
        let prefix_cache = (options.prefix_cache > 0).then_some(options.prefix_cache);
        // mistral.rs's build() does synchronous file I/O; keep it off the runtime's workers.
        let model = tokio::task::spawn_blocking(move || {
            handle.block_on(
                GgufModelBuilder::new(dir, vec![file])
                    .with_force_cpu()
                    .with_token_source(TokenSource::None)
                    .with_max_num_seqs(seqs)
                    .with_prefix_cache_n(prefix_cache)
                    .build(),
            )
        })
        .await
        .map_err(|e| load_err(format!("loader crashed: {e}")))?
        .map_err(|e| load_err(format!("{e:#}")))?;
        Ok(Self {
            name: name.to_string(),
            model: Arc::new(model),
            stop_ids: info.stop_token_ids,
            queue: Arc::new(Semaphore::new(options.queue.max(1))),
            timeout: options.timeout,
        })
    }

    fn request(&self, req: &ChatRequest) -> RequestBuilder {
        let mut b = RequestBuilder::new();
        for m in &req.messages {
            let role = match m.role {
                Role::System => TextMessageRole::System,
                Role::User => TextMessageRole::User,
                Role::Assistant => TextMessageRole::Assistant,
            };
            b = b.add_message(role, &m.content);
        }
        // Explicit stop ids: after a constrained JSON value the grammar allows only EOS, but
        // chat models end their turn with another token; without this they run to max_len.
        b = b
            .set_sampler_max_len(req.max_tokens.max(1) as usize)
            .set_sampler_stop_toks(StopTokens::Ids(self.stop_ids.clone()));
        if req.temperature > 0.0 {
            b = b.set_sampler_temperature(f64::from(req.temperature));
        }
        if let Some(schema) = &req.schema {
            // Compact JSON only: with flexible whitespace a model that "wants" a token the
            // grammar forbids can emit spaces until max_len instead of a value.
            let mut schema = schema.schema.clone();
            if let Some(obj) = schema.as_object_mut() {
                obj.insert(
                    "x-guidance".into(),
                    serde_json::json!({ "whitespace_flexible": false }),
                );
            }
            b = b.set_constraint(Constraint::JsonSchema(schema));
        }
        b
    }

    fn busy(&self) -> LlmError {
        LlmError::Transient {
            model: self.name.clone(),
            message: "the local model's queue is full; try again shortly".into(),
        }
    }
}

fn finish_of(reason: Option<&str>) -> Finish {
    match reason {
        Some("stop") => Finish::Stop,
        Some("length") => Finish::Length,
        _ => Finish::Other,
    }
}

#[async_trait]
impl ChatModel for LocalModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        let timeout = self.timeout;
        let collect = async {
            let mut stream = self.chat_stream(request).await?;
            let mut text = String::new();
            while let Some(delta) = stream.next().await {
                match delta? {
                    ChatDelta::Text(t) => text.push_str(&t),
                    ChatDelta::Done {
                        usage,
                        timing,
                        finish,
                    } => {
                        return Ok(ChatResponse {
                            text,
                            model: self.name.clone(),
                            usage,
                            timing: Timing {
                                total: started.elapsed(),
                                ..timing
                            },
                            finish,
                        });
                    }
                }
            }
            Err(LlmError::Transient {
                model: self.name.clone(),
                message: "generation ended without a final message".into(),
            })
        };
        // Dropping the stream on timeout cancels the sequence inside the engine.
        tokio::time::timeout(timeout, collect)
            .await
            .map_err(|_| LlmError::Transient {
                model: self.name.clone(),
                message: format!("no answer within {}s", timeout.as_secs()),
            })?
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let permit = Arc::clone(&self.queue)
            .try_acquire_owned()
            .map_err(|_| self.busy())?;
        let builder = self.request(&request);
        let model = Arc::clone(&self.model);
        let name = self.name.clone();
        let (tx, rx) = mpsc::channel::<Result<ChatDelta, LlmError>>(64);
        // The task ends when generation ends or the receiver is dropped (which cancels it).
        tokio::spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let err = |message: String| LlmError::Transient {
                model: name.clone(),
                message,
            };
            let mut stream = match model.stream_chat_request(builder).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx
                        .send(Err(LlmError::Permanent {
                            model: name.clone(),
                            message: e.to_string(),
                        }))
                        .await;
                    return;
                }
            };
            let mut finish = Finish::Other;
            while let Some(response) = stream.next().await {
                let item = match response {
                    Response::Chunk(chunk) => {
                        let text: String = chunk
                            .choices
                            .iter()
                            .filter_map(|c| c.delta.content.clone())
                            .collect();
                        if let Some(reason) = chunk
                            .choices
                            .iter()
                            .find_map(|c| c.finish_reason.as_deref())
                        {
                            finish = finish_of(Some(reason));
                        }
                        if !text.is_empty() && tx.send(Ok(ChatDelta::Text(text))).await.is_err() {
                            return;
                        }
                        match chunk.usage {
                            Some(u) => Ok(ChatDelta::Done {
                                usage: Usage {
                                    prompt_tokens: u.prompt_tokens as u32,
                                    completion_tokens: u.completion_tokens as u32,
                                },
                                timing: Timing {
                                    total: started.elapsed(),
                                    prompt_tokens_per_second: Some(u.avg_prompt_tok_per_sec),
                                    decode_tokens_per_second: Some(u.avg_compl_tok_per_sec),
                                },
                                finish,
                            }),
                            None => continue,
                        }
                    }
                    Response::ModelError(message, _) => Err(err(message)),
                    Response::InternalError(e) => Err(err(e.to_string())),
                    Response::ValidationError(e) => Err(LlmError::Permanent {
                        model: name.clone(),
                        message: e.to_string(),
                    }),
                    _ => continue,
                };
                let last = matches!(item, Ok(ChatDelta::Done { .. }) | Err(_));
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(Box::pin(tokio_stream_from(rx)))
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
