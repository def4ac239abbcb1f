//! The embedding port: text in, dense vectors out. Adapters: [`fastembed`] (ONNX, local files).

pub mod fastembed;

use async_trait::async_trait;
use thiserror::Error;

use crate::ingest::chunker::TokenCounter;

#[derive(Debug, Error)]
pub enum EmbedError {
    #[error("cannot load the embedding model from {path}: {message}")]
    Load { path: String, message: String },
    #[error("embedding failed: {0}")]
    Inference(String),
    #[error("embedding worker stopped: {0}")]
    Worker(String),
}

#[async_trait]
pub trait Embedder: Send + Sync {
    /// Model name, for reports and the store's metadata.
    fn name(&self) -> &str;
    fn dim(&self) -> usize;
    /// Counts tokens as this model's tokenizer does (used to size chunks).
    fn tokens(&self) -> &dyn TokenCounter;
    /// Embeds texts, in order. Runs off the async runtime.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError>;
}
