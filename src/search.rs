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

/// Reciprocal-rank fusion of ranked hit lists: a chunk scores the sum of 1 / (60 + rank) over
/// the lists it appears in, so a chunk near the top of several lists beats one that tops a
/// single list. The first list wins ties. The fused score replaces the hits' own scores; a
/// single list is returned as it is (its own scores kept), cut to `k`.
pub fn fuse(mut lists: Vec<Vec<Hit>>, k: usize) -> Vec<Hit> {
    const RRF_K: f32 = 60.0;
    if lists.len() == 1 {
        let mut only = lists.remove(0);
        only.truncate(k);
        return only;
    }
    let mut fused: Vec<Hit> = Vec::new();
    for list in lists {
        for (rank, hit) in list.into_iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f32 + 1.0);
            match fused
                .iter_mut()
                .find(|f| f.source == hit.source && f.chunk_index == hit.chunk_index)
            {
                Some(f) => f.score += add,
                None => fused.push(Hit { score: add, ..hit }),
            }
        }
    }
    // Stable: equal scores keep the order of first appearance.
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused.truncate(k);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(source: &str, chunk: u32) -> Hit {
        Hit {
            score: 1.0,
            source: source.into(),
            heading: String::new(),
            text: String::new(),
            title: String::new(),
            chunk_index: chunk,
        }
    }

    fn order(hits: &[Hit]) -> Vec<(String, u32)> {
        hits.iter()
            .map(|h| (h.source.clone(), h.chunk_index))
            .collect()
    }

    #[test]
    fn a_chunk_found_by_both_queries_comes_first() {
        let alone = vec![hit("a.md", 0), hit("b.md", 0), hit("c.md", 2)];
        let with_context = vec![hit("c.md", 2), hit("d.md", 0), hit("a.md", 1)];
        let fused = fuse(vec![alone, with_context], 4);
        assert_eq!(
            order(&fused),
            vec![
                ("c.md".into(), 2),
                ("a.md".into(), 0),
                ("b.md".into(), 0),
                ("d.md".into(), 0)
            ]
        );
        assert!(fused[0].score > fused[1].score);
        // Equal ranks in the two lists: the first list's hit wins the tie.
        assert!((fused[2].score - fused[3].score).abs() < f32::EPSILON);
    }

    #[test]
    fn one_list_keeps_its_order_and_k_cuts() {
        let fused = fuse(
            vec![vec![hit("a.md", 0), hit("b.md", 0), hit("c.md", 0)]],
            2,
        );
        assert_eq!(order(&fused), vec![("a.md".into(), 0), ("b.md".into(), 0)]);
        // Without a second ranking there is nothing to fuse: the store's scores stay.
        assert!(fused.iter().all(|h| h.score == 1.0));
        assert!(fuse(Vec::new(), 3).is_empty());
    }
}
