//! qdrant-edge adapter: an embedded shard on disk with a dense vector, a BM25 sparse vector
//! (IDF applied by the store) and keyword indexes on `root`, `source` and `acl`. qdrant-edge is
//! synchronous, so every call runs on a blocking thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::NotNan;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, Fusion, JsonPath, Match,
    Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStruct, PrefetchBuilder, QueryEnum, QueryRequestBuilder, ScoringQuery,
    ScrollRequestBuilder, UpdateOperation, Vector, VectorInternal, VectorStructInternal, Vectors,
    WithPayloadInterface, WithVector,
};
use uuid::Uuid;

use super::{
    Access, ChunkPayload, ChunkPoint, DENSE, ExportPage, PUBLIC, SPARSE, SearchHit, SearchQuery,
    SourceState, StoreError, VectorStore, WRITE_BATCH, add_source_entry,
};

/// Classic reciprocal-rank-fusion constant.
const RRF_K: usize = 60;
const SCROLL_PAGE: usize = 1024;
/// BM25 length normalisation: about the length of a chunk in words.
const AVG_CHUNK_WORDS: f64 = 120.0;

pub struct EdgeStore {
    shard: Arc<EdgeShard>,
    bm25: Arc<EdgeBm25>,
    path: PathBuf,
}

fn key(name: &str) -> Result<JsonPath, StoreError> {
    name.parse::<JsonPath>()
        .map_err(|_| StoreError::op("payload key", name))
}

fn open_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl EdgeStore {
    /// Opens the shard at `path`. With `dim`, creates it when missing and checks the stored
    /// vector size; without, the shard must exist. Blocking.
    pub fn open(path: &Path, dim: Option<usize>) -> Result<Self, StoreError> {
        let exists = path.join("edge_config.json").exists();
        let shard = match (exists, dim) {
            (true, _) => EdgeShard::load(path, None).map_err(|e| {
                let msg = e.to_string();
                if msg.contains("WouldBlock") {
                    open_err(
                        path,
                        "the store is in use by another skiff process (ingest or serve); \
                         wait for it to finish or stop it",
                    )
                } else {
                    open_err(path, msg)
                }
            })?,
            (false, None) => {
                return Err(StoreError::Empty {
                    path: path.display().to_string(),
                });
            }
            (false, Some(dim)) => Self::create(path, dim)?,
        };
        if let Some(expected) = dim {
            let found = shard.config().vectors.get(DENSE).map(|v| v.size);
            if found != Some(expected) {
                return Err(StoreError::Dimension {
                    path: path.display().to_string(),
                    found: found.unwrap_or(0),
                    expected,
                });
            }
        }
        let bm25 = keyword_encoder().map_err(|e| open_err(path, e))?;
        Ok(Self {
            shard: Arc::new(shard),
            bm25: Arc::new(bm25),
            path: path.to_path_buf(),
        })
    }

    fn create(path: &Path, dim: usize) -> Result<EdgeShard, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| open_err(path, e))?;
        let config = EdgeConfig::builder()
            .vector(
                DENSE,
                EdgeVectorParams::builder(dim, Distance::Cosine).build(),
            )
            .sparse_vector(
                SPARSE,
                EdgeSparseVectorParams::builder()
                    .modifier(Modifier::Idf)
                    .build(),
            )
            .build();
        let shard = EdgeShard::new(path, config).map_err(|e| open_err(path, e))?;
        for field in ["root", "source", "acl"] {
            shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: key(field)?,
                        field_schema: Some(PayloadFieldSchema::FieldType(
                            PayloadSchemaType::Keyword,
                        )),
                    }),
                ))
                .map_err(|e| open_err(path, e))?;
        }
        shard.flush().map_err(|e| open_err(path, e))?;
        Ok(shard)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&EdgeShard, &EdgeBm25) -> Result<T, StoreError> + Send + 'static,
    {
        let shard = Arc::clone(&self.shard);
        let bm25 = Arc::clone(&self.bm25);
        tokio::task::spawn_blocking(move || f(&shard, &bm25))
            .await
            .map_err(|e| StoreError::op(op, e))?
    }
}

/// The BM25 encoder both adapters use for the keyword vectors (the Qdrant server adapter too,
/// so that a migrated store scores keywords exactly like the embedded one).
pub(super) fn keyword_encoder() -> Result<EdgeBm25, String> {
    EdgeBm25::new(EdgeBm25Config {
        avg_len: NotNan::new(AVG_CHUNK_WORDS).map_err(|e| e.to_string())?,
        ..EdgeBm25Config::default()
    })
    .map_err(|e| e.to_string())
}

/// A keyword vector as (indices, values).
pub(super) fn keyword_vector(bm25: &EdgeBm25, text: &str, query: bool) -> (Vec<u32>, Vec<f32>) {
    let v = if query {
        bm25.embed_query(text)
    } else {
        bm25.embed_document(text)
    };
    (v.indices, v.values)
}

/// The keyword (BM25) vectors both stores index, as plain (indices, values): lets a benchmark
/// hand a peer exactly the vectors skiff stores.
pub struct Keywords {
    bm25: EdgeBm25,
}

impl Keywords {
    pub fn new() -> Result<Self, StoreError> {
        Ok(Self {
            bm25: keyword_encoder().map_err(|e| StoreError::op("keyword encoder", e))?,
        })
    }

    pub fn document(&self, text: &str) -> (Vec<u32>, Vec<f32>) {
        keyword_vector(&self.bm25, text, false)
    }

    pub fn query(&self, text: &str) -> (Vec<u32>, Vec<f32>) {
        keyword_vector(&self.bm25, text, true)
    }
}

fn payload_of(
    id: Uuid,
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<ChunkPayload, StoreError> {
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| StoreError::Payload(format!("point {id}: {e}")))
}

fn match_keyword(field: &str, value: &str) -> Result<Condition, StoreError> {
    Ok(Condition::Field(FieldCondition::new_match(
        key(field)?,
        Match::from(value.to_string()),
    )))
}

fn access_filter(access: &Access) -> Result<Option<Filter>, StoreError> {
    match access {
        Access::All => Ok(None),
        Access::Groups(groups) => {
            let mut allowed = vec![PUBLIC.to_string()];
            allowed.extend(groups.iter().cloned());
            Ok(Some(Filter::new_must(Condition::Field(
                FieldCondition::new_match(key("acl")?, Match::from(allowed)),
            ))))
        }
    }
}

fn nearest(using: &str, vector: VectorInternal) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(vector, using)))
}

fn uuid_of(id: &PointId) -> Result<Uuid, StoreError> {
    match id {
        PointId::Uuid(u) => Ok(*u),
        PointId::NumId(n) => Err(StoreError::Payload(format!(
            "point {n} has a numeric id; this store was not written by skiff"
        ))),
    }
}

#[async_trait]
impl VectorStore for EdgeStore {
    fn name(&self) -> &str {
        "qdrant-edge"
    }

    async fn upsert(&self, points: Vec<ChunkPoint>) -> Result<(), StoreError> {
        self.blocking("upsert", move |shard, bm25| {
            for batch in points.chunks(WRITE_BATCH) {
                let mut structs = Vec::with_capacity(batch.len());
                for p in batch {
                    let payload = serde_json::to_value(&p.payload)
                        .map_err(|e| StoreError::op("upsert", e))?;
                    if !payload.is_object() {
                        return Err(StoreError::op("upsert", "payload is not an object"));
                    }
                    let vectors = Vectors::new_named([
                        (DENSE, Vector::new_dense(p.vector.clone())),
                        (SPARSE, Vector::from(bm25.embed_document(&p.keyword_text))),
                    ]);
                    structs.push(PointStruct::new(PointId::Uuid(p.id), vectors, payload).into());
                }
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::UpsertPoints(PointInsertOperations::PointsList(structs)),
                    ))
                    .map_err(|e| StoreError::op("upsert", e))?;
            }
            // The WAL already survives a killed process; flushing also covers power loss.
            shard.flush().map_err(|e| StoreError::op("flush", e))
        })
        .await
    }

    async fn delete(&self, ids: Vec<Uuid>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.blocking("delete", move |shard, _| {
            for batch in ids.chunks(WRITE_BATCH) {
                let ids = batch.iter().map(|u| PointId::Uuid(*u)).collect();
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::DeletePoints { ids },
                    ))
                    .map_err(|e| StoreError::op("delete", e))?;
            }
            shard.flush().map_err(|e| StoreError::op("flush", e))
        })
        .await
    }

    async fn sources(&self, root: &str) -> Result<BTreeMap<String, SourceState>, StoreError> {
        let root = root.to_string();
        self.blocking("scroll", move |shard, _| {
            let filter = Filter::new_must(match_keyword("root", &root)?);
            let fields = ["source", "chunk_index", "content_hash", "chunk_count"]
                .iter()
                .map(|f| key(f))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out: BTreeMap<String, SourceState> = BTreeMap::new();
            let mut offset = None;
            loop {
                let mut req = ScrollRequestBuilder::new()
                    .limit(SCROLL_PAGE)
                    .filter(filter.clone())
                    .with_payload(WithPayloadInterface::Fields(fields.clone()));
                if let Some(o) = offset.take() {
                    req = req.offset(o);
                }
                let (records, next) = shard
                    .scroll(req.build())
                    .map_err(|e| StoreError::op("scroll", e))?;
                for r in records {
                    let id = uuid_of(&r.id)?;
                    let p = r.payload.map(|p| p.0).unwrap_or_default();
                    add_source_entry(&mut out, id, &p)?;
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => break,
                }
            }
            Ok(out)
        })
        .await
    }

    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        self.blocking("search", move |shard, bm25| {
            let sparse = bm25.embed_query(&query.text);
            let mut req = QueryRequestBuilder::new(query.k)
                .add_prefetch(
                    PrefetchBuilder::new(query.prefetch)
                        .query(nearest(DENSE, VectorInternal::from(query.vector)))
                        .build(),
                )
                .add_prefetch(
                    PrefetchBuilder::new(query.prefetch)
                        .query(nearest(SPARSE, VectorInternal::from(sparse)))
                        .build(),
                )
                .query(ScoringQuery::Fusion(Fusion::Rrf {
                    k: RRF_K,
                    weights: None,
                }))
                .with_payload(WithPayloadInterface::Bool(true));
            // Enforced inside the store: the filter is merged into both prefetches.
            if let Some(filter) = access_filter(&query.access)? {
                req = req.filter(filter);
            }
            let points = shard
                .query(req.build())
                .map_err(|e| StoreError::op("search", e))?;
            points
                .into_iter()
                .map(|p| {
                    let id = uuid_of(&p.id)?;
                    let payload = payload_of(id, p.payload.map(|p| p.0).unwrap_or_default())?;
                    Ok(SearchHit {
                        id,
                        score: p.score,
                        payload,
                    })
                })
                .collect()
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking("count", |shard, _| {
            shard
                .count(CountRequest {
                    filter: None,
                    exact: true,
                })
                .map(|n| n as u64)
                .map_err(|e| StoreError::op("count", e))
        })
        .await
    }

    async fn optimize(&self) -> Result<(), StoreError> {
        self.blocking("optimize", |shard, _| {
            shard
                .optimize()
                .map(|_| ())
                .map_err(|e| StoreError::op("optimize", e))?;
            shard.flush().map_err(|e| StoreError::op("flush", e))
        })
        .await
    }

    async fn export(&self, from: Option<Uuid>, limit: usize) -> Result<ExportPage, StoreError> {
        self.blocking("export", move |shard, _| {
            let mut req = ScrollRequestBuilder::new()
                .limit(limit.max(1))
                .with_payload(WithPayloadInterface::Bool(true))
                .with_vector(WithVector::Selector(vec![DENSE.to_string()]));
            if let Some(from) = from {
                req = req.offset(PointId::Uuid(from));
            }
            let (records, next) = shard
                .scroll(req.build())
                .map_err(|e| StoreError::op("export", e))?;
            let mut points = Vec::with_capacity(records.len());
            for r in records {
                let id = uuid_of(&r.id)?;
                let vector = match r.vector {
                    Some(VectorStructInternal::Named(mut named)) => match named.remove(DENSE) {
                        Some(VectorInternal::Dense(v)) => v,
                        _ => {
                            return Err(StoreError::Payload(format!(
                                "point {id}: no dense vector"
                            )));
                        }
                    },
                    Some(VectorStructInternal::Single(v)) => v,
                    _ => return Err(StoreError::Payload(format!("point {id}: no dense vector"))),
                };
                let payload = payload_of(id, r.payload.map(|p| p.0).unwrap_or_default())?;
                points.push(ChunkPoint {
                    id,
                    vector,
                    keyword_text: payload.keyword_text(),
                    payload,
                });
            }
            let next = next.as_ref().map(uuid_of).transpose()?;
            Ok(ExportPage { points, next })
        })
        .await
    }
}
