//! Wiring: builds every backend once from the config and hands them out as trait objects.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, ConfigError, StoreBackend};
use crate::ingest::chunker::ChunkLimits;
use crate::providers::embed::fastembed::FastEmbedder;
use crate::providers::embed::{EmbedError, Embedder};
use crate::providers::store::edge::EdgeStore;
use crate::providers::store::{StoreError, VectorStore};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct App {
    pub config: Config,
    pub embedder: Arc<dyn Embedder>,
    pub store: Arc<dyn VectorStore>,
}

impl App {
    /// Loads the embedding model and opens (or creates) the store; blocking work runs off the
    /// async runtime.
    pub async fn build(config: Config) -> Result<App, AppError> {
        let files = config.embed_files()?;
        let embed_cfg = config.embed.clone();
        let embedder = tokio::task::spawn_blocking(move || FastEmbedder::load(&files, &embed_cfg))
            .await
            .map_err(|e| EmbedError::Worker(e.to_string()))??;
        let store = open_store(&config, Some(embedder.dim())).await?;
        Ok(App {
            config,
            embedder: Arc::new(embedder),
            store,
        })
    }

    pub fn chunk_limits(&self) -> ChunkLimits {
        ChunkLimits {
            max_tokens: self.config.ingest.chunk_tokens,
            overlap_tokens: self.config.ingest.overlap_tokens,
        }
    }
}

/// Where the embedded store lives.
pub fn store_path(config: &Config) -> PathBuf {
    config
        .store
        .data_dir
        .join("store")
        .join(&config.store.collection)
}

/// Opens the configured store. With `dim` it is created when missing and must match that
/// vector size; without, it must already exist (`Ok(None)` when it does not).
pub async fn open_store(
    config: &Config,
    dim: Option<usize>,
) -> Result<Arc<dyn VectorStore>, StoreError> {
    match config.store.backend {
        StoreBackend::Edge => {
            let path = store_path(config);
            let store = tokio::task::spawn_blocking(move || EdgeStore::open(&path, dim))
                .await
                .map_err(|e| StoreError::op("open", e))??;
            Ok(Arc::new(store))
        }
    }
}
