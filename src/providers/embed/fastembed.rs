//! fastembed adapter: a local ONNX sentence-embedding model (mean pooling, L2-normalised), with
//! ONNX Runtime loaded from a shared library on disk. No hub access.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::{EmbedError, Embedder};
use crate::config::{EmbedConfig, EmbedFiles};
use crate::ingest::chunker::TokenCounter;

pub struct FastEmbedder {
    name: String,
    dim: usize,
    batch_size: usize,
    model: Arc<Mutex<TextEmbedding>>,
    counter: HfTokenCounter,
}

/// Token counts from the model's own tokenizer.json, without special tokens or truncation.
pub struct HfTokenCounter(tokenizers::Tokenizer);

impl HfTokenCounter {
    pub fn from_file(path: &Path) -> Result<Self, EmbedError> {
        let mut tok = tokenizers::Tokenizer::from_file(path).map_err(|e| EmbedError::Load {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        tok.with_truncation(None).map_err(|e| EmbedError::Load {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        tok.with_padding(None);
        Ok(Self(tok))
    }
}

impl TokenCounter for HfTokenCounter {
    fn count(&self, text: &str) -> usize {
        // Encoding only fails on pathological input; a char-based estimate keeps chunking going.
        self.0
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or_else(|_| text.chars().count().div_ceil(3))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| EmbedError::Load {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

impl FastEmbedder {
    /// Loads ONNX Runtime and the model; blocking (call from a blocking thread or at start).
    pub fn load(files: &EmbedFiles, cfg: &EmbedConfig) -> Result<Self, EmbedError> {
        let load_err = |path: &Path, message: String| EmbedError::Load {
            path: path.display().to_string(),
            message,
        };
        let env = ort_environment(&files.onnxruntime)?;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(&files.tokenizer)?,
            config_file: read(&files.config)?,
            special_tokens_map_file: read(&files.special_tokens_map)?,
            tokenizer_config_file: read(&files.tokenizer_config)?,
        };
        let dim = hidden_size(&tokenizer_files.config_file)
            .ok_or_else(|| load_err(&files.config, "no hidden_size in config.json".into()))?;
        let model = UserDefinedEmbeddingModel::new(read(&files.onnx)?, tokenizer_files)
            .with_pooling(Pooling::Mean);
        let threads = if cfg.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            cfg.threads
        };
        let options = InitOptionsUserDefined::new()
            .with_environment(env)
            .with_max_length(cfg.max_length)
            .with_intra_threads(threads);
        let embedding = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| load_err(&files.onnx, e.to_string()))?;
        let name = files
            .onnx
            .parent()
            .and_then(Path::file_name)
            .map_or_else(|| "embedding".to_string(), |n| n.to_string_lossy().into());
        Ok(Self {
            name,
            dim,
            batch_size: cfg.batch_size,
            model: Arc::new(Mutex::new(embedding)),
            counter: HfTokenCounter::from_file(&files.tokenizer)?,
        })
    }
}

/// ONNX Runtime allows one environment per process: the first model load creates it from the
/// configured library and later loads (tests, re-opened apps) share it.
fn ort_environment(library: &Path) -> Result<ort::environment::Environment, EmbedError> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        ort::init_from(library)
            .map_err(|e| e.to_string())?
            .with_name("skiff")
            .build()
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|message| EmbedError::Load {
        path: library.display().to_string(),
        message,
    })
}

fn hidden_size(config_json: &[u8]) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_slice(config_json).ok()?;
    v.get("hidden_size")?.as_u64().map(|n| n as usize)
}

#[async_trait]
impl Embedder for FastEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn tokens(&self) -> &dyn TokenCounter {
        &self.counter
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = Arc::clone(&self.model);
        let batch = self.batch_size;
        tokio::task::spawn_blocking(move || {
            let mut model = model
                .lock()
                .map_err(|_| EmbedError::Worker("embedding model lock poisoned".into()))?;
            model
                .embed(&texts, Some(batch))
                .map_err(|e| EmbedError::Inference(e.to_string()))
        })
        .await
        .map_err(|e| EmbedError::Worker(e.to_string()))?
    }
}
