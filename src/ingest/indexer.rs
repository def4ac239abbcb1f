//! Carries out a sync [`Plan`]: loads and chunks the files to (re)index, embeds the chunks in
//! batches, writes each file's points and then removes its stale ones, so that a crash at any
//! point leaves the store in a state the next run detects and repairs.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::chunker::{Chunk, ChunkLimits, chunk_document};
use super::loader::{self, Document};
use super::sync::{Plan, Problem, ScanError, ScannedFile};
use crate::providers::embed::{EmbedError, Embedder};
use crate::providers::store::{
    ChunkPayload, ChunkPoint, PUBLIC, StoreError, VectorStore, point_id,
};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("chunking worker failed: {0}")]
    Worker(String),
}

/// Receives progress; the CLI draws a bar, tests ignore it.
pub trait Progress: Send + Sync {
    fn start(&self, total_chunks: u64);
    fn advance(&self, chunks: u64);
    fn finish(&self);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestReport {
    pub added: usize,
    pub changed: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub problems: Vec<Problem>,
    pub chunks_written: usize,
    pub seconds: f64,
    pub chunks_per_second: f64,
    /// True when the run stopped early on a shutdown signal (the next run finishes the job).
    pub cancelled: bool,
}

impl IngestReport {
    pub fn merge(&mut self, other: IngestReport) {
        self.added += other.added;
        self.changed += other.changed;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.problems.extend(other.problems);
        self.chunks_written += other.chunks_written;
        self.seconds += other.seconds;
        self.update_rate();
        self.cancelled |= other.cancelled;
    }

    fn update_rate(&mut self) {
        self.chunks_per_second = if self.seconds > 0.0 {
            self.chunks_written as f64 / self.seconds
        } else {
            0.0
        };
    }
}

/// A file ready to embed: its chunks and the payload fields they share.
struct FileJob {
    file: ScannedFile,
    doc: Document,
    chunks: Vec<Chunk>,
}

pub struct Indexer<'a> {
    pub embedder: &'a dyn Embedder,
    pub store: &'a dyn VectorStore,
    pub limits: ChunkLimits,
    pub batch_size: usize,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
}

impl Indexer<'_> {
    pub async fn run(&self, plan: Plan) -> Result<IngestReport, IngestError> {
        let started = Instant::now();
        let mut report = IngestReport {
            deleted: plan.deleted.len(),
            unchanged: plan.unchanged.len(),
            skipped: plan.skipped.len(),
            problems: plan.problems.clone(),
            ..IngestReport::default()
        };
        let root = plan.root.clone();
        let existing = plan.existing;

        let stale: Vec<Uuid> = plan
            .deleted
            .iter()
            .filter_map(|s| existing.get(s))
            .flat_map(|state| state.points.iter().map(|p| p.0))
            .collect();
        if !stale.is_empty() {
            self.store.delete(stale).await?;
        }

        let files: Vec<ScannedFile> = plan.added.into_iter().chain(plan.changed).collect();
        let (jobs, load_problems) = self.prepare(files).await?;
        // A changed file that no longer loads: drop its old chunks, report it.
        for problem in &load_problems {
            if let Some(state) = existing.get(&problem.source) {
                let ids = state.points.iter().map(|p| p.0).collect();
                self.store.delete(ids).await?;
                report.deleted += 1;
            }
        }
        let changed = jobs
            .iter()
            .filter(|j| existing.contains_key(&j.file.source))
            .count();
        report.changed = changed;
        report.added = jobs.len() - changed;
        report.problems.extend(load_problems);

        let total: usize = jobs.iter().map(|j| j.chunks.len()).sum();
        self.progress.start(total as u64);
        // Points (with their job number) wait for a batch; embedded points collect per job
        // and go to the store once the whole file is embedded. Jobs finish in order.
        let mut pending: Vec<(usize, ChunkPoint)> = Vec::new();
        let mut embedded: Vec<Vec<ChunkPoint>> = jobs
            .iter()
            .map(|j| Vec::with_capacity(j.chunks.len()))
            .collect();
        let mut next_to_write = 0;
        for (job_no, job) in jobs.iter().enumerate() {
            pending.extend(
                job.chunks
                    .iter()
                    .map(|c| (job_no, point_for(&root, job, c))),
            );
            let last_job = job_no + 1 == jobs.len();
            while pending.len() >= self.batch_size || (last_job && !pending.is_empty()) {
                if self.cancel.is_cancelled() {
                    report.cancelled = true;
                    break;
                }
                let take = pending.len().min(self.batch_size);
                let batch: Vec<(usize, ChunkPoint)> = pending.drain(..take).collect();
                let texts = batch.iter().map(|(_, p)| p.keyword_text.clone()).collect();
                let vectors = self.embedder.embed(texts).await?;
                for (vector, (owner, mut point)) in vectors.into_iter().zip(batch) {
                    point.vector = vector;
                    embedded[owner].push(point);
                }
                self.progress.advance(take as u64);
                while next_to_write < jobs.len()
                    && embedded[next_to_write].len() == jobs[next_to_write].chunks.len()
                {
                    let points = std::mem::take(&mut embedded[next_to_write]);
                    report.chunks_written += points.len();
                    self.write_file(&jobs[next_to_write].file.source, points, &existing)
                        .await?;
                    next_to_write += 1;
                }
            }
            if report.cancelled {
                break;
            }
        }
        self.progress.finish();
        if report.chunks_written > 0 || report.deleted > 0 {
            self.store.optimize().await?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        report.update_rate();
        Ok(report)
    }

    /// Loads and chunks files on a blocking thread (parsing and tokenizing are CPU work).
    async fn prepare(
        &self,
        files: Vec<ScannedFile>,
    ) -> Result<(Vec<FileJob>, Vec<Problem>), IngestError> {
        let limits = self.limits;
        let counter = self.embedder.tokens();
        // The token counter is borrowed, so run in place when it is cheap; block_in_place
        // keeps the runtime's other tasks moving on a multi-threaded runtime.
        let work = || {
            let mut jobs = Vec::new();
            let mut problems = Vec::new();
            for file in files {
                let stem = file
                    .path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                match loader::load(&file.bytes, file.format, &stem) {
                    Ok(doc) => {
                        let chunks = chunk_document(&doc, limits, counter);
                        jobs.push(FileJob { file, doc, chunks });
                    }
                    Err(e) => problems.push(Problem {
                        source: file.source,
                        reason: e.to_string(),
                    }),
                }
            }
            (jobs, problems)
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => Ok(tokio::task::block_in_place(work)),
            _ => Ok(work()),
        }
    }

    async fn write_file(
        &self,
        source: &str,
        points: Vec<ChunkPoint>,
        existing: &std::collections::BTreeMap<String, crate::providers::store::SourceState>,
    ) -> Result<(), IngestError> {
        let new_ids: HashSet<Uuid> = points.iter().map(|p| p.id).collect();
        self.store.upsert(points).await?;
        if let Some(state) = existing.get(source) {
            let stale: Vec<Uuid> = state
                .points
                .iter()
                .map(|p| p.0)
                .filter(|id| !new_ids.contains(id))
                .collect();
            if !stale.is_empty() {
                self.store.delete(stale).await?;
            }
        }
        Ok(())
    }
}

fn point_for(root: &str, job: &FileJob, chunk: &Chunk) -> ChunkPoint {
    let acl = if job.doc.acl.is_empty() {
        vec![PUBLIC.to_string()]
    } else {
        job.doc.acl.clone()
    };
    ChunkPoint {
        id: point_id(root, &job.file.source, chunk.index as u32),
        vector: Vec::new(),
        keyword_text: chunk.embedding_text(),
        payload: ChunkPayload {
            root: root.to_string(),
            source: job.file.source.clone(),
            title: job.doc.title.clone(),
            heading: chunk.heading(),
            text: chunk.text.clone(),
            chunk_index: chunk.index as u32,
            chunk_count: job.chunks.len() as u32,
            content_hash: job.file.hash.clone(),
            modified: job.file.modified,
            acl,
            tags: job.doc.tags.clone(),
        },
    }
}
