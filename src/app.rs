//! Wiring: builds every backend once from the config and hands them out as trait objects.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::HashMap;

use crate::config::{Config, ConfigError, ModelRole, StoreBackend};
use tokio_util::sync::CancellationToken;

use crate::ingest::chunker::ChunkLimits;
use crate::ingest::indexer::{Indexer, IngestError, IngestReport, Progress};
use crate::ingest::sync;
use crate::providers::embed::fastembed::FastEmbedder;
use crate::providers::embed::{EmbedError, Embedder};
use crate::providers::llm::{self, ChatModel, LlmError};
use crate::providers::store::edge::EdgeStore;
use crate::providers::store::qdrant::QdrantStore;
use crate::providers::store::{StoreError, VectorStore};
use crate::tools::{Registry, ToolError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Tools(#[from] ToolError),
}

pub struct App {
    pub config: Config,
    pub embedder: Arc<dyn Embedder>,
    pub store: Arc<dyn VectorStore>,
    /// The tools plans may use, their manifests parsed once.
    pub tools: Registry,
    models: Models,
}

/// Chat models by configured name, loaded on first use and shared by every role that maps to
/// the same name (a local model is never loaded twice).
#[derive(Default)]
pub struct Models {
    loaded: tokio::sync::Mutex<HashMap<String, Arc<dyn ChatModel>>>,
}

impl Models {
    pub async fn for_role(
        &self,
        config: &Config,
        role: ModelRole,
    ) -> Result<Arc<dyn ChatModel>, AppError> {
        let spec = config.model_for(role)?;
        let name = match &spec {
            crate::config::ModelSpec::Local { name, .. }
            | crate::config::ModelSpec::Remote { name, .. } => name.clone(),
        };
        // Held across the load so two roles asking at once do not load the model twice.
        let mut loaded = self.loaded.lock().await;
        if let Some(model) = loaded.get(&name) {
            return Ok(Arc::clone(model));
        }
        let model = llm::connect(&spec).await?;
        loaded.insert(name, Arc::clone(&model));
        Ok(model)
    }
}

impl App {
    /// Loads the embedding model and opens (or creates) the store; blocking work runs off the
    /// async runtime.
    pub async fn build(config: Config) -> Result<App, AppError> {
        let tools = Registry::builtin()?;
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
            tools,
            models: Models::default(),
        })
    }

    /// The chat model for a role (loaded on first use).
    pub async fn model(&self, role: ModelRole) -> Result<Arc<dyn ChatModel>, AppError> {
        self.models.for_role(&self.config, role).await
    }

    /// Syncs one wiki folder (canonical path) into the store: plan against what the store
    /// holds (the scan runs on a blocking thread), then index.
    pub async fn ingest(
        &self,
        root: &Path,
        progress: &dyn Progress,
        cancel: CancellationToken,
    ) -> Result<IngestReport, IngestError> {
        let existing = self.store.sources(&root.display().to_string()).await?;
        let max = self.config.ingest.max_file_bytes;
        let scan_root = root.to_path_buf();
        let limits = chunk_limits(&self.config);
        let recipe = sync_recipe(&self.config);
        let plan =
            tokio::task::spawn_blocking(move || sync::plan(&scan_root, existing, max, &recipe))
                .await
                .map_err(|e| IngestError::Worker(e.to_string()))??;
        let indexer = Indexer {
            embedder: self.embedder.as_ref(),
            store: self.store.as_ref(),
            limits,
            batch_size: self.config.embed.batch_size,
            progress,
            cancel,
        };
        indexer.run(plan).await
    }
}

/// Where a chat front end (`telegram`, `slack`) keeps its conversations, one file each.
pub fn conversations_dir(config: &Config, front_end: &str) -> PathBuf {
    config.store.data_dir.join("conversations").join(front_end)
}

/// Where the embedded store lives.
pub fn store_path(config: &Config) -> PathBuf {
    config
        .store
        .data_dir
        .join("store")
        .join(&config.store.collection)
}

/// The collection the Qdrant backend uses (`store.qdrant.collection`, else `store.collection`).
pub fn qdrant_collection(config: &Config) -> &str {
    config
        .store
        .qdrant
        .collection
        .as_deref()
        .unwrap_or(&config.store.collection)
}

/// Where the configured store is, for people: the embedded store's folder or the server's URL
/// and collection.
pub fn store_location(config: &Config) -> String {
    match config.store.backend {
        StoreBackend::Edge => store_path(config).display().to_string(),
        StoreBackend::Qdrant => format!(
            "{} (collection {})",
            config.store.qdrant.url,
            qdrant_collection(config)
        ),
    }
}

/// How `config` chunks files (`ingest.chunk_tokens`, `ingest.overlap_tokens`).
pub fn chunk_limits(config: &Config) -> ChunkLimits {
    ChunkLimits {
        max_tokens: config.ingest.chunk_tokens,
        overlap_tokens: config.ingest.overlap_tokens,
    }
}

/// What a file's chunks and vectors depend on besides its bytes, as a file's sync hash covers
/// it: the chunking (`ChunkLimits::recipe`) and the embedding model and input length. A new
/// chunk size, chunker or embedding model re-chunks and re-embeds every file on the next
/// ingest; a model of the same vector size would otherwise leave unchanged files' vectors
/// from the old model beside new ones from the new.
pub fn sync_recipe(config: &Config) -> String {
    format!(
        "{}, embedder {} up to {} tokens",
        chunk_limits(config).recipe(),
        config.embed.model.display(),
        config.embed.max_length
    )
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
        StoreBackend::Qdrant => {
            let collection = qdrant_collection(config);
            let store = QdrantStore::open(&config.store.qdrant, collection, dim).await?;
            Ok(Arc::new(store))
        }
    }
}

/// Opens the store of `backend` with the rest of `config` (`store migrate` opens both).
pub async fn open_backend(
    config: &Config,
    backend: StoreBackend,
    dim: Option<usize>,
) -> Result<Arc<dyn VectorStore>, StoreError> {
    let mut config = config.clone();
    config.store.backend = backend;
    open_store(&config, dim).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_recipe_names_the_chunking_and_the_embedding_model() {
        let config = Config::default();
        let mut other_model = config.clone();
        other_model.embed.model = "e5-small".into();
        let mut longer = config.clone();
        longer.embed.max_length = 512;
        let mut bigger_chunks = config.clone();
        bigger_chunks.ingest.chunk_tokens += 100;
        let recipe = sync_recipe(&config);
        assert_eq!(recipe, sync_recipe(&config.clone()));
        for changed in [other_model, longer, bigger_chunks] {
            assert_ne!(sync_recipe(&changed), recipe);
        }
    }
}
