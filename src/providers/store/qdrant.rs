//! Qdrant server / cluster adapter over gRPC (qdrant-client). Same layout as the embedded store:
//! a named dense vector, a named BM25 keyword vector (encoded here with the same encoder as
//! qdrant-edge, so scores match after `store migrate`), keyword payload indexes on root, source
//! and acl. Hybrid search is one server-side query: two prefetches fused by RRF, with the acl
//! filter applied inside both prefetches and the fusion.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_output::Vector as VectorOut;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, Fusion, Modifier, NamedVectors,
    PayloadIncludeSelector, PointId, PointStruct, PointsIdsList, PrefetchQueryBuilder, Query,
    QueryPointsBuilder, ScrollPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, Value, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
    VectorsSelector,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use qdrant_edge::bm25_embed::EdgeBm25;
use uuid::Uuid;

use super::edge::{keyword_encoder, keyword_vector};
use super::{
    Access, ChunkPayload, ChunkPoint, DENSE, ExportPage, PUBLIC, SPARSE, SearchHit, SearchQuery,
    SourceState, StoreError, VectorStore, WRITE_BATCH, add_source_entry,
};
use crate::config::QdrantConfig;

const SCROLL_PAGE: u32 = 1024;
/// Attempts for a call that failed with a transient status (unavailable, deadline, overload).
/// Every call this adapter makes is idempotent (upserts and deletes by id), so retrying is safe.
const ATTEMPTS: u32 = 3;

pub struct QdrantStore {
    client: Arc<Qdrant>,
    collection: String,
    url: String,
    bm25: Arc<EdgeBm25>,
}

fn open_err(url: &str, collection: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: format!("{url} (collection {collection})"),
        message: e.to_string(),
    }
}

/// True for errors worth another try: the server is restarting, overloaded or slow.
fn transient(e: &QdrantError) -> bool {
    match e {
        QdrantError::ResponseError { status } => matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Aborted
        ),
        QdrantError::ResourceExhaustedError { .. } => true,
        _ => false,
    }
}

/// Runs `call` up to [`ATTEMPTS`] times while it fails transiently, backing off 0.2 s, 0.8 s.
async fn retry<T, F, Fut>(op: &'static str, mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QdrantError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                let wait = match &e {
                    QdrantError::ResourceExhaustedError {
                        retry_after_seconds,
                        ..
                    } => Duration::from_secs((*retry_after_seconds).min(5)),
                    _ => Duration::from_millis(200 * 4u64.pow(attempt - 1)),
                };
                tracing::warn!("qdrant {op} failed ({e}); retrying in {wait:?}");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(StoreError::op(op, e)),
        }
    }
}

impl QdrantStore {
    /// Connects to `config.url`. With `dim` the collection is created when missing and must
    /// hold vectors of that size; without, it must already exist.
    pub async fn open(
        config: &QdrantConfig,
        collection: &str,
        dim: Option<usize>,
    ) -> Result<Self, StoreError> {
        let url = config.url.clone();
        let api_key = std::env::var(&config.api_key_env)
            .ok()
            .filter(|k| !k.is_empty());
        let client = Qdrant::from_url(&url)
            .api_key(api_key)
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .skip_compatibility_check()
            .build()
            .map_err(|e| open_err(&url, collection, e))?;
        let exists = retry("collection_exists", || client.collection_exists(collection))
            .await
            .map_err(|e| {
                open_err(
                    &url,
                    collection,
                    format!("cannot reach the Qdrant server ({e}); check store.qdrant.url"),
                )
            })?;
        match (exists, dim) {
            (false, None) => {
                return Err(StoreError::Empty {
                    path: format!("{url} (collection {collection})"),
                });
            }
            (false, Some(dim)) => Self::create(&client, config, collection, dim)
                .await
                .map_err(|e| open_err(&url, collection, e))?,
            (true, _) => {}
        }
        if let Some(expected) = dim {
            let found = Self::dense_size(&client, collection)
                .await
                .map_err(|e| open_err(&url, collection, e))?;
            if found != Some(expected) {
                return Err(StoreError::Dimension {
                    path: format!("{url} (collection {collection})"),
                    found: found.unwrap_or(0),
                    expected,
                });
            }
        }
        let bm25 = keyword_encoder().map_err(|e| open_err(&url, collection, e))?;
        Ok(Self {
            client: Arc::new(client),
            collection: collection.to_string(),
            url,
            bm25: Arc::new(bm25),
        })
    }

    async fn create(
        client: &Qdrant,
        config: &QdrantConfig,
        collection: &str,
        dim: usize,
    ) -> Result<(), StoreError> {
        let mut dense = VectorsConfigBuilder::default();
        dense.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(dim as u64, Distance::Cosine),
        );
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(
            SPARSE,
            SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
        );
        let request = CreateCollectionBuilder::new(collection)
            .vectors_config(dense)
            .sparse_vectors_config(sparse)
            .shard_number(config.shards)
            .replication_factor(config.replication_factor)
            .write_consistency_factor(config.write_consistency_factor);
        if let Err(e) = client.create_collection(request).await {
            // Another replica may have created it a moment ago: that is fine.
            if !client.collection_exists(collection).await.unwrap_or(false) {
                return Err(StoreError::op("create collection", e));
            }
        }
        for field in ["root", "source", "acl"] {
            retry("create index", || {
                client.create_field_index(
                    CreateFieldIndexCollectionBuilder::new(collection, field, FieldType::Keyword)
                        .wait(true),
                )
            })
            .await?;
        }
        Ok(())
    }

    async fn dense_size(client: &Qdrant, collection: &str) -> Result<Option<usize>, StoreError> {
        let info = retry("collection info", || client.collection_info(collection)).await?;
        let config = info
            .result
            .and_then(|i| i.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config);
        Ok(match config {
            Some(VectorsConfigKind::ParamsMap(map)) => map.map.get(DENSE).map(|p| p.size as usize),
            _ => None,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn access_filter(access: &Access) -> Option<Filter> {
    match access {
        Access::All => None,
        Access::Groups(groups) => {
            let mut allowed = vec![PUBLIC.to_string()];
            allowed.extend(groups.iter().cloned());
            Some(Filter::must([Condition::matches("acl", allowed)]))
        }
    }
}

fn point_id(id: Uuid) -> PointId {
    PointId::from(id.to_string())
}

fn uuid_of(id: Option<&PointId>) -> Result<Uuid, StoreError> {
    match id.and_then(|p| p.point_id_options.as_ref()) {
        Some(PointIdOptions::Uuid(s)) => {
            Uuid::parse_str(s).map_err(|e| StoreError::Payload(format!("point id {s:?}: {e}")))
        }
        Some(PointIdOptions::Num(n)) => Err(StoreError::Payload(format!(
            "point {n} has a numeric id; this collection was not written by skiff"
        ))),
        None => Err(StoreError::Payload("a point without an id".into())),
    }
}

fn json_of(payload: HashMap<String, Value>) -> serde_json::Map<String, serde_json::Value> {
    payload
        .into_iter()
        .map(|(k, v)| (k, v.into_json()))
        .collect()
}

fn payload_of(id: Uuid, payload: HashMap<String, Value>) -> Result<ChunkPayload, StoreError> {
    serde_json::from_value(serde_json::Value::Object(json_of(payload)))
        .map_err(|e| StoreError::Payload(format!("point {id}: {e}")))
}

#[async_trait]
impl VectorStore for QdrantStore {
    fn name(&self) -> &str {
        "qdrant"
    }

    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), StoreError> {
        for batch in points.chunks(WRITE_BATCH) {
            let mut structs = Vec::with_capacity(batch.len());
            for p in batch {
                let json =
                    serde_json::to_value(&p.payload).map_err(|e| StoreError::op("upsert", e))?;
                let payload = Payload::try_from(json).map_err(|e| StoreError::op("upsert", e))?;
                let (indices, values) = keyword_vector(&self.bm25, &p.keyword_text, false);
                let vectors = NamedVectors::default()
                    .add_vector(DENSE, Vector::new_dense(p.vector.clone()))
                    .add_vector(SPARSE, Vector::new_sparse(indices, values));
                structs.push(PointStruct::new(point_id(p.id), vectors, payload));
            }
            retry("upsert", || {
                self.client.upsert_points(
                    UpsertPointsBuilder::new(&self.collection, structs.clone()).wait(true),
                )
            })
            .await?;
        }
        Ok(())
    }

    async fn delete(&self, ids: Vec<Uuid>) -> Result<(), StoreError> {
        for batch in ids.chunks(WRITE_BATCH) {
            let list: Vec<PointId> = batch.iter().map(|u| point_id(*u)).collect();
            retry("delete", || {
                self.client.delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(PointsIdsList { ids: list.clone() })
                        .wait(true),
                )
            })
            .await?;
        }
        Ok(())
    }

    async fn sources(&self, root: &str) -> Result<BTreeMap<String, SourceState>, StoreError> {
        let filter = Filter::must([Condition::matches("root", root.to_string())]);
        let fields: Vec<String> = ["source", "chunk_index", "content_hash", "chunk_count"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut out: BTreeMap<String, SourceState> = BTreeMap::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut req = ScrollPointsBuilder::new(&self.collection)
                .filter(filter.clone())
                .limit(SCROLL_PAGE)
                .with_payload(PayloadIncludeSelector {
                    fields: fields.clone(),
                })
                .with_vectors(false);
            if let Some(o) = offset.take() {
                req = req.offset(o);
            }
            let page = retry("scroll", || self.client.scroll(req.clone())).await?;
            for r in page.result {
                let id = uuid_of(r.id.as_ref())?;
                let p = json_of(r.payload);
                add_source_entry(&mut out, id, &p)?;
            }
            match page.next_page_offset {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        Ok(out)
    }

    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let (indices, values) = keyword_vector(&self.bm25, &query.text, true);
        let filter = access_filter(&query.access);
        let prefetch = |using: &str, input: VectorInput| {
            let mut p = PrefetchQueryBuilder::default()
                .query(Query::new_nearest(input))
                .using(using)
                .limit(query.prefetch as u64);
            if let Some(f) = &filter {
                p = p.filter(f.clone());
            }
            p
        };
        let mut req = QueryPointsBuilder::new(&self.collection)
            .add_prefetch(prefetch(
                DENSE,
                VectorInput::new_dense(query.vector.clone()),
            ))
            .add_prefetch(prefetch(SPARSE, VectorInput::new_sparse(indices, values)))
            .query(Query::new_fusion(Fusion::Rrf))
            .limit(query.k as u64)
            .with_payload(true);
        if let Some(f) = &filter {
            req = req.filter(f.clone());
        }
        let response = retry("search", || self.client.query(req.clone())).await?;
        response
            .result
            .into_iter()
            .map(|p| {
                let id = uuid_of(p.id.as_ref())?;
                Ok(SearchHit {
                    id,
                    score: p.score,
                    payload: payload_of(id, p.payload)?,
                })
            })
            .collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let response = retry("count", || {
            self.client
                .count(CountPointsBuilder::new(&self.collection).exact(true))
        })
        .await?;
        Ok(response.result.map(|r| r.count).unwrap_or(0))
    }

    async fn optimize(&self) -> Result<(), StoreError> {
        // The server indexes and merges segments on its own.
        Ok(())
    }

    async fn export(&self, from: Option<Uuid>, limit: usize) -> Result<ExportPage, StoreError> {
        let mut req = ScrollPointsBuilder::new(&self.collection)
            .limit(limit.clamp(1, u32::MAX as usize) as u32)
            .with_payload(true)
            .with_vectors(VectorsSelector {
                names: vec![DENSE.to_string()],
            });
        if let Some(from) = from {
            req = req.offset(point_id(from));
        }
        let page = retry("export", || self.client.scroll(req.clone())).await?;
        let mut points = Vec::with_capacity(page.result.len());
        for r in page.result {
            let id = uuid_of(r.id.as_ref())?;
            let vector = match r.vectors.and_then(|v| v.get_vector_by_name(DENSE)) {
                Some(VectorOut::Dense(d)) => d.data,
                _ => return Err(StoreError::Payload(format!("point {id}: no dense vector"))),
            };
            let payload = payload_of(id, r.payload)?;
            points.push(ChunkPoint {
                id,
                vector,
                keyword_text: payload.keyword_text(),
                payload,
            });
        }
        let next = match page.next_page_offset {
            Some(n) => Some(uuid_of(Some(&n))?),
            None => None,
        };
        Ok(ExportPage { points, next })
    }
}
