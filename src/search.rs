//! Retrieval: embeds the query and asks the store for a hybrid (dense + keyword) top-k.

use serde::Serialize;

use crate::providers::embed::{EmbedError, Embedder};
use crate::providers::store::{Access, SearchHit, SearchQuery, StoreError, VectorStore};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is empty")]
    EmptyQuery,
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A hit as front ends show it (`skiff search --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub score: f32,
    pub source: String,
    pub heading: String,
    pub text: String,
    pub title: String,
    pub chunk_index: u32,
}

impl From<SearchHit> for Hit {
    fn from(h: SearchHit) -> Self {
        Hit {
            score: h.score,
            source: h.payload.source,
            heading: h.payload.heading,
            text: h.payload.text,
            title: h.payload.title,
            chunk_index: h.payload.chunk_index,
        }
    }
}

pub async fn search(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    query: &str,
    k: usize,
    prefetch: usize,
    access: Access,
) -> Result<Vec<Hit>, SearchError> {
    let query = query.trim();
    if query.is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    let mut vectors = embedder.embed(vec![query.to_string()]).await?;
    let vector = vectors.pop().ok_or_else(|| {
        SearchError::Embed(EmbedError::Inference("no vector for the query".into()))
    })?;
    let hits = store
        .search(SearchQuery {
            vector,
            text: query.to_string(),
            k,
            prefetch: prefetch.max(k),
            access,
        })
        .await?;
    Ok(hits.into_iter().map(Hit::from).collect())
}
