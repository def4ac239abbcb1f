//! `skiff bench all`: every performance figure next to its peer, measured in the same run on the
//! same inputs. Ingestion (embed + store) vs Python fastembed + qdrant-client on the same ONNX
//! file and the same chunks; store search p50/p99 at several sizes vs qdrant-client's local mode
//! on the same vectors (dense + BM25, RRF, acl filter); local decode vs llama.cpp on the same
//! GGUF; the seed example end to end on the embedded default vs all roles on llama.cpp's server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{
    AskBench, BenchError, IngestBench, LlmBench, ask_bench, generate_wiki, ingest_bench, llm_bench,
};
use crate::app::App;
use crate::config::{Config, RemoteModelConfig, StoreBackend};
use crate::ingest::indexer::Progress;
use crate::providers::llm::llamacpp::LlamaCppServer;
use crate::providers::store::edge::{EdgeStore, Keywords};
use crate::providers::store::{
    Access, ChunkPayload, ChunkPoint, PUBLIC, SearchQuery, VectorStore, point_id,
};
use crate::stats::percentile;

const PEER_SCRIPT: &str = include_str!("../../scripts/peer_pipeline.py");
/// Queries the Python peer times at `n` points: its local mode scores every point per query in
/// Python (about 0.1 s per 1,000 points), so fewer at larger sizes.
fn peer_queries(n: usize) -> usize {
    (1_000_000 / n.max(1)).clamp(5, 50)
}

#[derive(Debug, Clone, clap::Args)]
pub struct AllOptions {
    /// Chunks of the generated wiki for the ingest comparison.
    #[arg(long, default_value_t = 2000)]
    pub chunks: usize,
    /// Store sizes for the search comparison (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub search_sizes: Vec<usize>,
    /// Queries timed per size (the Python peer times 5-50, fewer at larger sizes).
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// The [models.local] model of the decode comparison.
    #[arg(long, default_value = "qwen-1_5b")]
    pub llm_model: String,
    /// Timed runs per engine in the decode comparison.
    #[arg(long, default_value_t = 2)]
    pub llm_runs: usize,
    /// Tokens generated per run in the decode comparison.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: u32,
    /// Timed runs of the seed example per side (minutes each on 2 cores).
    #[arg(long, default_value_t = 1)]
    pub ask_runs: usize,
    /// Default: the first multi-step question in knowledge/questions.jsonl.
    #[arg(long)]
    pub question: Option<String>,
    /// Parts to leave out (comma-separated): ingest, search, llm, ask.
    #[arg(long, value_delimiter = ',', value_parser = ["ingest", "search", "llm", "ask"])]
    pub skip: Vec<String>,
    /// Python with the peers (scripts/fetch-peers.sh prints it).
    #[arg(long, default_value = "/var/tmp/skiff-peers/venv/bin/python")]
    pub peer_python: PathBuf,
}

impl AllOptions {
    pub fn skips(&self, part: &str) -> bool {
        self.skip.iter().any(|s| s == part)
    }
}

/// One line of the side-by-side table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub figure: String,
    pub skiff: String,
    pub peer: String,
    /// How many times better skiff is (throughput: skiff/peer; latency and memory: peer/skiff).
    pub advantage: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SearchScale {
    pub points: usize,
    pub load_seconds: f64,
    pub queries: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub peer: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize)]
pub struct AllBench {
    pub rows: Vec<Row>,
    pub ingest: Option<IngestBench>,
    pub ingest_peer: Option<serde_json::Value>,
    pub search: Vec<SearchScale>,
    pub llm: Option<LlmBench>,
    pub ask: Option<AskBench>,
    pub ask_peer: Option<AskBench>,
    /// Parts skipped or peers that could not run, with why.
    pub notes: Vec<String>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (a > 0.0 && b > 0.0).then(|| a / b)
}

/// Runs the Python peer (`scripts/peer_pipeline.py`, embedded in the binary) and reads its JSON.
async fn run_peer(python: &Path, args: &[String]) -> Result<serde_json::Value, String> {
    if !python.exists() {
        return Err(format!(
            "{} not found: run scripts/fetch-peers.sh",
            python.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("peer_pipeline.py");
    std::fs::write(&script, PEER_SCRIPT).map_err(|e| e.to_string())?;
    let out = tokio::process::Command::new(python)
        .arg(&script)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "peer printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn io(e: std::io::Error) -> BenchError {
    BenchError::Io(e)
}

fn threads(config: &Config) -> usize {
    if config.embed.threads > 0 {
        config.embed.threads
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Ingest a generated wiki with skiff, then hand the very chunks it stored to the peer.
async fn ingest_part(
    config: &Config,
    opts: &AllOptions,
    progress: &dyn Progress,
    out: &mut AllBench,
) -> Result<(), BenchError> {
    let tmp = tempfile::tempdir().map_err(io)?;
    let wiki = tmp.path().join("wiki");
    generate_wiki(&wiki, opts.chunks.div_ceil(6).max(1)).map_err(io)?;
    let mut cfg = config.clone();
    cfg.store.backend = StoreBackend::Edge;
    cfg.store.data_dir = tmp.path().join("data");
    eprintln!(
        "[bench] ingest: skiff on a generated wiki (~{} chunks)",
        opts.chunks
    );
    let app = App::build(cfg).await?;
    let ib = ingest_bench(&app, &wiki, opts.queries, progress).await?;
    let exchange = tmp.path().join("peer");
    std::fs::create_dir_all(&exchange).map_err(io)?;
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(exchange.join("chunks.jsonl")).map_err(io)?);
    let mut cursor = None;
    loop {
        let page = app.store.export(cursor, 1024).await?;
        for p in page.points {
            let line = serde_json::json!({
                "id": p.id.to_string(),
                "text": p.keyword_text,
                "payload": p.payload,
            });
            writeln!(file, "{line}").map_err(io)?;
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    file.flush().map_err(io)?;
    drop(file);
    drop(app);
    eprintln!(
        "[bench] ingest: the Python peer on the same {} chunks",
        ib.chunks
    );
    let model_dir = config
        .embed_files()
        .map_err(|e| BenchError::Io(std::io::Error::other(e.to_string())))?
        .onnx
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let args = vec![
        "ingest".to_string(),
        exchange.display().to_string(),
        "--model-dir".into(),
        model_dir.display().to_string(),
        "--threads".into(),
        threads(config).to_string(),
        "--batch".into(),
        config.embed.batch_size.to_string(),
    ];
    let peer = run_peer(&opts.peer_python, &args).await;
    let (peer_text, advantage) = match &peer {
        Ok(v) => {
            let cps = v["chunks_per_second"].as_f64().unwrap_or(0.0);
            (
                format!("{cps:.1} (python fastembed + qdrant-client)"),
                ratio(ib.chunks_per_second, cps),
            )
        }
        Err(e) => {
            out.notes.push(format!("ingest peer: {e}"));
            ("–".into(), None)
        }
    };
    out.rows.push(Row {
        figure: format!("ingest chunks/s ({} chunks, embed + store)", ib.chunks),
        skiff: format!("{:.1}", ib.chunks_per_second),
        peer: peer_text,
        advantage,
    });
    out.rows.push(Row {
        figure: format!("search p50 / p99, query embedded ({} chunks)", ib.chunks),
        skiff: format!("{:.1} / {:.1} ms", ib.search_p50_ms, ib.search_p99_ms),
        peer: "–".into(),
        advantage: None,
    });
    out.ingest_peer = peer.ok();
    out.ingest = Some(ib);
    Ok(())
}

/// splitmix64: deterministic pseudo-random numbers for synthetic vectors.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A unit vector of `dim` components.
    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim)
            .map(|_| (self.next() >> 11) as f32 / (1u64 << 53) as f32 - 0.5)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / norm).collect()
    }
}

fn sentence(i: usize) -> String {
    let topic = super::TOPICS[i % super::TOPICS.len()];
    let verb = super::VERBS[(i / 7) % super::VERBS.len()];
    format!(
        "Step {} of the {topic} procedure {verb} ticket PL-{i} within {} days.",
        i % 13,
        i % 9 + 1
    )
}

fn write_f32(w: &mut impl Write, v: &[f32]) -> std::io::Result<()> {
    for x in v {
        w.write_all(&x.to_le_bytes())?;
    }
    Ok(())
}

fn sparse_line(w: &mut impl Write, (i, v): (Vec<u32>, Vec<f32>)) -> std::io::Result<()> {
    writeln!(w, "{}", serde_json::json!({ "i": i, "v": v }))
}

/// Store search at `n` synthetic points (random unit vectors, generated sentences), skiff's
/// embedded store vs qdrant-client's local mode on the very same vectors.
async fn search_part(
    n: usize,
    dim: usize,
    opts: &AllOptions,
    out: &mut AllBench,
) -> Result<(), BenchError> {
    let tmp = tempfile::tempdir().map_err(io)?;
    let keywords = Keywords::new()?;
    let store = EdgeStore::open(&tmp.path().join("store"), Some(dim))?;
    let exchange = tmp.path().join("peer");
    std::fs::create_dir_all(&exchange).map_err(io)?;
    let mut vectors =
        std::io::BufWriter::new(std::fs::File::create(exchange.join("points.f32")).map_err(io)?);
    let mut sparse =
        std::io::BufWriter::new(std::fs::File::create(exchange.join("sparse.jsonl")).map_err(io)?);
    let mut mix = Mix(n as u64);
    eprintln!("[bench] search: loading {n} points into the embedded store");
    let started = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    for i in 0..n {
        let text = sentence(i);
        let vector = mix.unit(dim);
        write_f32(&mut vectors, &vector).map_err(io)?;
        sparse_line(&mut sparse, keywords.document(&text)).map_err(io)?;
        let source = format!("bench/p{i}.md");
        batch.push(ChunkPoint {
            id: point_id("/bench", &source, 0),
            vector,
            keyword_text: text.clone(),
            payload: ChunkPayload {
                root: "/bench".into(),
                source,
                title: format!("p{i}"),
                heading: String::new(),
                text,
                chunk_index: 0,
                chunk_count: 1,
                content_hash: String::new(),
                modified: 0,
                acl: vec![PUBLIC.to_string()],
                tags: Vec::new(),
            },
        });
        if batch.len() == 4096 || i + 1 == n {
            store.upsert(std::mem::take(&mut batch)).await?;
        }
    }
    store.optimize().await?;
    let load_seconds = started.elapsed().as_secs_f64();
    vectors.flush().map_err(io)?;
    sparse.flush().map_err(io)?;
    drop((vectors, sparse));

    let mut qv =
        std::io::BufWriter::new(std::fs::File::create(exchange.join("queries.f32")).map_err(io)?);
    let mut qs = std::io::BufWriter::new(
        std::fs::File::create(exchange.join("queries_sparse.jsonl")).map_err(io)?,
    );
    let mut latencies = Vec::with_capacity(opts.queries);
    for q in 0..opts.queries.max(1) {
        let vector = mix.unit(dim);
        let text = format!(
            "who approves step {} of {} ticket PL-{}",
            q % 13,
            super::TOPICS[q % super::TOPICS.len()],
            (q * 7919) % n.max(1)
        );
        write_f32(&mut qv, &vector).map_err(io)?;
        sparse_line(&mut qs, keywords.query(&text)).map_err(io)?;
        let t = Instant::now();
        store
            .search(SearchQuery {
                vector,
                text,
                k: 5,
                prefetch: 40,
                access: Access::Groups(Vec::new()),
            })
            .await?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    qv.flush().map_err(io)?;
    qs.flush().map_err(io)?;
    drop((qv, qs, store));
    latencies.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));

    eprintln!("[bench] search: the Python peer on the same {n} points");
    let args = vec![
        "search".to_string(),
        exchange.display().to_string(),
        "--dim".into(),
        dim.to_string(),
        "--queries".into(),
        peer_queries(n).min(opts.queries.max(1)).to_string(),
    ];
    let peer = run_peer(&opts.peer_python, &args).await;
    let (peer_text, advantage) = match &peer {
        Ok(v) => {
            let (a, b) = (
                v["p50_ms"].as_f64().unwrap_or(0.0),
                v["p99_ms"].as_f64().unwrap_or(0.0),
            );
            (
                format!("{a:.1} / {b:.1} ms (qdrant-client local mode)"),
                ratio(a, p50),
            )
        }
        Err(e) => {
            out.notes.push(format!("search peer at {n}: {e}"));
            ("–".into(), None)
        }
    };
    out.rows.push(Row {
        figure: format!("store search p50 / p99 at {n} chunks (hybrid, acl filter)"),
        skiff: format!("{p50:.1} / {p99:.1} ms"),
        peer: peer_text,
        advantage,
    });
    out.search.push(SearchScale {
        points: n,
        load_seconds,
        queries: latencies.len(),
        p50_ms: p50,
        p99_ms: p99,
        peer: peer.ok(),
    });
    Ok(())
}

/// The seed example on the configured (embedded default) setup, then with every role on
/// llama.cpp's server over the same GGUF.
async fn ask_part(
    config: &Config,
    opts: &AllOptions,
    cancel: &CancellationToken,
    out: &mut AllBench,
) -> Result<(), BenchError> {
    let Some(question) = opts.question.as_deref() else {
        out.notes
            .push("ask: skipped, no question to time (pass --question)".into());
        return Ok(());
    };
    let app = App::build(config.clone()).await?;
    if app.store.count().await? == 0 {
        out.notes
            .push("ask: skipped, the store is empty (run `skiff ingest knowledge` first)".into());
        return Ok(());
    }
    eprintln!(
        "[bench] ask: {} run(s) on the configured models",
        opts.ask_runs
    );
    let local = ask_bench(&app, question, opts.ask_runs, cancel.clone()).await?;
    drop(app);
    let gguf = config
        .models
        .local
        .get(&config.roles.planner)
        .map(|m| config.models.dir.join(&m.file));
    let peer = match gguf {
        None => Err("the planner is not a local model: no GGUF to hand llama.cpp".to_string()),
        Some(gguf) => {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            match LlamaCppServer::start(&opts.peer_python, &gguf, threads).await {
                Err(e) => Err(e.to_string()),
                Ok(server) => {
                    let mut remote = config.clone();
                    remote.models.remote.insert(
                        "bench-llamacpp".into(),
                        RemoteModelConfig {
                            base_url: server.base_url(),
                            model: "bench".into(),
                            timeout_secs: Some(900),
                            ..RemoteModelConfig::default()
                        },
                    );
                    remote.roles.planner = "bench-llamacpp".into();
                    remote.roles.extractor = "bench-llamacpp".into();
                    remote.roles.synthesizer = "bench-llamacpp".into();
                    eprintln!(
                        "[bench] ask: {} run(s) with every role on llama.cpp",
                        opts.ask_runs
                    );
                    let app = App::build(remote).await?;
                    let r = ask_bench(&app, question, opts.ask_runs, cancel.clone()).await;
                    drop(app);
                    drop(server);
                    r.map_err(|e| e.to_string())
                }
            }
        }
    };
    let (peer_text, advantage) = match &peer {
        Ok(p) => (
            format!(
                "{:.1} s (every role on llama.cpp's server)",
                p.p50_ms as f64 / 1000.0
            ),
            ratio(p.p50_ms as f64, local.p50_ms as f64),
        ),
        Err(e) => {
            out.notes.push(format!("ask peer: {e}"));
            ("–".into(), None)
        }
    };
    out.rows.push(Row {
        figure: format!("seed example end to end, p50 of {}", opts.ask_runs),
        skiff: format!("{:.1} s (embedded default)", local.p50_ms as f64 / 1000.0),
        peer: peer_text,
        advantage,
    });
    out.ask = Some(local);
    out.ask_peer = peer.ok();
    Ok(())
}

pub async fn all_bench(
    config: &Config,
    opts: &AllOptions,
    progress: &dyn Progress,
    cancel: CancellationToken,
) -> Result<AllBench, BenchError> {
    let mut out = AllBench::default();
    let run = |part: &str| !opts.skips(part);
    if run("ingest") {
        ingest_part(config, opts, progress, &mut out).await?;
    }
    if run("search") {
        for &n in &opts.search_sizes {
            if cancel.is_cancelled() {
                break;
            }
            search_part(n, 384, opts, &mut out).await?;
        }
    }
    if run("llm") && !cancel.is_cancelled() {
        eprintln!("[bench] llm: {} vs llama.cpp", opts.llm_model);
        match llm_bench(
            config,
            &opts.llm_model,
            opts.llm_runs,
            opts.max_tokens,
            &opts.peer_python,
        )
        .await
        {
            Ok(b) => {
                let peer =
                    |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.1} (llama.cpp)"));
                out.rows.push(Row {
                    figure: format!("prompt tokens/s ({}, {} threads)", b.model, b.threads),
                    skiff: format!("{:.1}", b.local_prompt_tps),
                    peer: peer(b.peer_prompt_tps),
                    advantage: b.prompt_ratio,
                });
                out.rows.push(Row {
                    figure: format!("decode tokens/s ({}, {} threads)", b.model, b.threads),
                    skiff: format!("{:.1}", b.local_decode_tps),
                    peer: peer(b.peer_decode_tps),
                    advantage: b.decode_ratio,
                });
                out.rows.push(Row {
                    figure: format!("RSS with the model loaded, MiB ({})", b.model),
                    skiff: b.local_rss_mib.to_string(),
                    peer: b
                        .peer_rss_mib
                        .map_or("–".to_string(), |m| format!("{m} (llama.cpp server)")),
                    advantage: b
                        .peer_rss_mib
                        .filter(|_| b.local_rss_mib > 0)
                        .map(|m| m as f64 / b.local_rss_mib as f64),
                });
                if let Some(note) = &b.peer_note {
                    out.notes.push(format!("llm peer: {note}"));
                }
                out.llm = Some(b);
            }
            Err(e) => out.notes.push(format!("llm: {e}")),
        }
    }
    if run("ask") && !cancel.is_cancelled() {
        ask_part(config, opts, &cancel, &mut out).await?;
    }
    Ok(out)
}
