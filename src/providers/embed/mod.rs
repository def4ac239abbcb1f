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

/// A bag-of-words embedder for unit tests of logic that ranks texts: the same lower-case
/// words point the same way (the real embedder is exercised end to end in tests/e2e).
#[cfg(test)]
pub struct WordBag;

#[cfg(test)]
#[async_trait]
impl Embedder for WordBag {
    fn name(&self) -> &str {
        "words"
    }
    fn dim(&self) -> usize {
        64
    }
    fn tokens(&self) -> &dyn TokenCounter {
        &crate::ingest::chunker::Words
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0; 64];
                for w in t.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
                    if !w.is_empty() {
                        let h = w.bytes().fold(7usize, |h, b| h * 31 + b as usize);
                        v[h % 64] += 1.0;
                    }
                }
                v
            })
            .collect())
    }
}
