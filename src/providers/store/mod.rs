//! The vector-store port: chunks with dense vectors and a keyword (BM25) index, hybrid search
//! with an access filter applied inside the store. Adapters: [`edge`] (embedded qdrant-edge) and
//! [`qdrant`] (a Qdrant server or cluster over gRPC). [`migrate`] copies one into the other.

pub mod edge;
pub mod qdrant;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// The acl value stored on pages that everyone may read.
pub const PUBLIC: &str = "*";
/// Names of the two vectors every chunk point has, in both backends (a migration copies them
/// as they are).
pub(crate) const DENSE: &str = "dense";
pub(crate) const SPARSE: &str = "bm25";
/// Points written per store operation.
pub(crate) const WRITE_BATCH: usize = 256;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no vector store at {path} yet: run `skiff ingest` (or `skiff store migrate`) first")]
    Empty { path: String },
    #[error("cannot open the vector store at {path}: {message}")]
    Open { path: String, message: String },
    #[error(
        "the store at {path} holds {found}-d vectors but the embedding model makes {expected}-d; \
         use another store.data_dir or delete it and ingest again"
    )]
    Dimension {
        path: String,
        found: usize,
        expected: usize,
    },
    #[error("vector store {op} failed: {message}")]
    Op { op: &'static str, message: String },
    #[error("a stored point has a malformed payload: {0}")]
    Payload(String),
}

impl StoreError {
    pub fn op(op: &'static str, e: impl std::fmt::Display) -> Self {
        StoreError::Op {
            op,
            message: e.to_string(),
        }
    }
}

/// Everything stored with a chunk. `acl` holds [`PUBLIC`] for pages without restrictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    /// Canonical path of the ingested root folder: the scope of incremental sync.
    pub root: String,
    /// Path relative to the root, with `/` separators.
    pub source: String,
    pub title: String,
    /// Heading path joined with " > ".
    pub heading: String,
    pub text: String,
    pub chunk_index: u32,
    /// Chunks the file had when this one was written: lets sync see half-written files.
    pub chunk_count: u32,
    pub content_hash: String,
    /// Modification time of the file, seconds since the Unix epoch.
    pub modified: i64,
    pub acl: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl ChunkPayload {
    /// What the keyword (BM25) index reads: the heading path, then the passage. The same text
    /// is embedded, so a migrated store can rebuild its keyword vectors from the payload alone.
    pub fn keyword_text(&self) -> String {
        format!("{}\n{}", self.heading, self.text)
    }
}

#[derive(Debug, Clone)]
pub struct ChunkPoint {
    pub id: Uuid,
    pub vector: Vec<f32>,
    /// Text for the keyword index (heading path + chunk text).
    pub keyword_text: String,
    pub payload: ChunkPayload,
}

/// What the store holds of one source file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceState {
    /// (point id, chunk index, content hash, chunk count) of every stored chunk.
    pub points: Vec<(Uuid, u32, String, u32)>,
}

impl SourceState {
    /// True when every chunk of a file with `hash` is stored and nothing else is.
    pub fn is_complete(&self, hash: &str) -> bool {
        let Some(&(_, _, _, count)) = self.points.first() else {
            return false;
        };
        let mut seen = vec![false; count as usize];
        for (_, index, h, c) in &self.points {
            if h != hash || *c != count {
                return false;
            }
            match seen.get_mut(*index as usize) {
                Some(s) if !*s => *s = true,
                _ => return false,
            }
        }
        seen.iter().all(|s| *s)
    }
}

/// The sync fields ([`VectorStore::sources`]) of one stored point, added to `out`.
pub(crate) fn add_source_entry(
    out: &mut BTreeMap<String, SourceState>,
    id: Uuid,
    payload: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), StoreError> {
    let source = payload.get("source").and_then(|v| v.as_str());
    let index = payload.get("chunk_index").and_then(|v| v.as_u64());
    let hash = payload.get("content_hash").and_then(|v| v.as_str());
    let count = payload.get("chunk_count").and_then(|v| v.as_u64());
    let (Some(source), Some(index), Some(hash), Some(count)) = (source, index, hash, count) else {
        return Err(StoreError::Payload(format!("point {id}")));
    };
    out.entry(source.to_string()).or_default().points.push((
        id,
        index as u32,
        hash.to_string(),
        count as u32,
    ));
    Ok(())
}

/// Who is asking: decides which acl groups a query may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Operators (CLI on the store's own machine with `--all-groups`): every page.
    All,
    /// Public pages plus pages whose acl names one of these groups.
    Groups(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub vector: Vec<f32>,
    /// Raw query text for the keyword retriever.
    pub text: String,
    pub k: usize,
    /// Candidates from each retriever before fusion.
    pub prefetch: usize,
    pub access: Access,
}

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub id: Uuid,
    pub score: f32,
    pub payload: ChunkPayload,
}

/// One page of [`VectorStore::export`]: points with their dense vectors, in id order.
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    pub points: Vec<ChunkPoint>,
    /// Where the next page starts; `None` after the last one.
    pub next: Option<Uuid>,
}

#[async_trait]
pub trait VectorStore: Send + Sync {
    fn name(&self) -> &str;
    /// Writes (or overwrites) points; durable when it returns.
    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), StoreError>;
    async fn delete(&self, ids: Vec<Uuid>) -> Result<(), StoreError>;
    /// What is stored per source under `root`.
    async fn sources(&self, root: &str) -> Result<BTreeMap<String, SourceState>, StoreError>;
    /// Hybrid search: dense + keyword, fused by reciprocal rank, filtered by access.
    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError>;
    async fn count(&self) -> Result<u64, StoreError>;
    /// Index and compact after bulk writes (HNSW build, segment merge). Safe to skip.
    async fn optimize(&self) -> Result<(), StoreError>;
    /// Every point with its payload and dense vector, `limit` at a time, starting at `from`
    /// (a previous page's `next`). Lets a store be copied without re-embedding.
    async fn export(&self, from: Option<Uuid>, limit: usize) -> Result<ExportPage, StoreError>;
}

/// What [`migrate`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MigrateReport {
    pub points: u64,
    pub pages: u64,
    /// Points the target holds afterwards (it may have held others before).
    pub target_count: u64,
}

/// Copies every point (payload, dense vector; keyword vectors are rebuilt from the payload) of
/// `from` into `to`. Ids are kept, so running it again overwrites instead of duplicating, and
/// the sync state (which lives in the payloads) comes along: `ingest` against the target sees
/// the files as already stored. `progress` gets the running count after each page.
pub async fn migrate(
    from: &dyn VectorStore,
    to: &dyn VectorStore,
    page_size: usize,
    mut progress: impl FnMut(u64),
) -> Result<MigrateReport, StoreError> {
    let mut report = MigrateReport::default();
    let mut cursor = None;
    loop {
        let page = from.export(cursor, page_size.max(1)).await?;
        let n = page.points.len() as u64;
        if n > 0 {
            to.upsert(page.points).await?;
            report.points += n;
            report.pages += 1;
            progress(report.points);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    to.optimize().await?;
    report.target_count = to.count().await?;
    Ok(report)
}

/// Deterministic point id of a chunk: the same file and position always map to the same id,
/// so re-ingesting overwrites instead of duplicating.
pub fn point_id(root: &str, source: &str, index: u32) -> Uuid {
    let key = format!("{root}\u{0}{source}\u{0}{index}");
    Uuid::new_v5(&Uuid::NAMESPACE_URL, key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_deterministic_and_distinct() {
        assert_eq!(point_id("/w", "a.md", 0), point_id("/w", "a.md", 0));
        assert_ne!(point_id("/w", "a.md", 0), point_id("/w", "a.md", 1));
        assert_ne!(point_id("/w", "a.md", 0), point_id("/v", "a.md", 0));
    }

    #[test]
    fn completeness_needs_every_index_once_with_the_same_hash() {
        let p = |i, h: &str, c| (Uuid::nil(), i, h.to_string(), c);
        let full = SourceState {
            points: vec![p(1, "h", 2), p(0, "h", 2)],
        };
        assert!(full.is_complete("h"));
        assert!(!full.is_complete("other"));
        let partial = SourceState {
            points: vec![p(0, "h", 2)],
        };
        assert!(!partial.is_complete("h"));
        let mixed = SourceState {
            points: vec![p(0, "h", 2), p(1, "old", 3), p(2, "old", 3)],
        };
        assert!(!mixed.is_complete("h"));
        assert!(!SourceState::default().is_complete("h"));
    }
}
