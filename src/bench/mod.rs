//! `skiff bench`: performance figures printed, not asserted (shared machines are noisy).
//! `ingest`: chunks/s of a full ingest of a generated wiki and search latency p50/p99 over it.
//! [`all`]: every figure next to its peer, in one run.

pub mod all;
pub mod print;

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::ingest::indexer::Progress;
use crate::ingest::sync;
use crate::providers::store::Access;
use crate::stats::{mean, percentile};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::indexer::IngestError),
    #[error(transparent)]
    Scan(#[from] crate::ingest::sync::ScanError),
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    #[error(transparent)]
    Store(#[from] crate::providers::store::StoreError),
}

// By hand, not `#[from]`: the message already shows the cause, and a `source` would print it
// twice in the CLI's error chain.
impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        BenchError::Io(e)
    }
}

#[derive(Debug, Serialize)]
pub struct IngestBench {
    pub files: usize,
    pub chunks: usize,
    pub ingest_seconds: f64,
    pub chunks_per_second: f64,
    pub queries: usize,
    pub search_p50_ms: f64,
    pub search_p99_ms: f64,
    pub embed_model: String,
    pub store: String,
}

const TOPICS: &[&str] = &[
    "expense reports",
    "VPN access",
    "release trains",
    "badge readers",
    "laptop refresh",
    "incident reviews",
    "database failover",
    "office parking",
    "security training",
    "field tablets",
    "battery recalls",
    "travel booking",
];
const VERBS: &[&str] = &[
    "requires",
    "needs",
    "is approved by",
    "is tracked in",
    "escalates to",
    "is documented in",
];

/// Writes a wiki of Markdown pages; about six chunks per page at the default chunk size.
pub fn generate_wiki(root: &Path, pages: usize) -> std::io::Result<()> {
    for i in 0..pages {
        let topic = TOPICS[i % TOPICS.len()];
        let dir = root.join(format!("team-{:02}", i % 40));
        std::fs::create_dir_all(&dir)?;
        let mut page = format!("---\ntitle: {topic} note {i}\n---\n# {topic} note {i}\n");
        for s in 0..6 {
            page.push_str(&format!("\n## Section {s} of note {i}\n\n"));
            for k in 0..4 {
                let verb = VERBS[(i + s + k) % VERBS.len()];
                page.push_str(&format!(
                    "Step {k} of the {topic} procedure {verb} ticket PL-{i}{s}{k} and must be \
                     finished within {} business days by the on-call owner. ",
                    (i + k) % 9 + 1
                ));
            }
            page.push('\n');
        }
        std::fs::write(dir.join(format!("note-{i:05}.md")), page)?;
    }
    Ok(())
}

/// The `n`th benchmark query (topics of the synthetic wiki) through the real search path,
/// as an ordinary user.
async fn bench_search(app: &App, n: usize) -> Result<Vec<crate::search::Hit>, BenchError> {
    let topic = TOPICS[n % TOPICS.len()];
    let query = format!("who approves step {} of the {topic} procedure", n % 9);
    Ok(crate::search::search(
        app.embedder.as_ref(),
        app.store.as_ref(),
        &query,
        app.config.search.k,
        app.config.search.prefetch,
        Access::Groups(Vec::new()),
    )
    .await?)
}

pub async fn ingest_bench(
    app: &App,
    wiki: &Path,
    queries: usize,
    progress: &dyn Progress,
) -> Result<IngestBench, BenchError> {
    let root = sync::canonical_root(wiki)?;
    let report = app
        .ingest(&root, progress, CancellationToken::new())
        .await?;
    let mut latencies = Vec::with_capacity(queries);
    for q in 0..queries {
        let t = Instant::now();
        let hits = bench_search(app, q).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        if hits.is_empty() {
            return Err(BenchError::Io(std::io::Error::other(
                "search returned no hits",
            )));
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(IngestBench {
        files: report.added + report.changed,
        chunks: report.chunks_written,
        ingest_seconds: report.seconds,
        chunks_per_second: report.chunks_per_second,
        queries,
        search_p50_ms: percentile(&latencies, 0.50),
        search_p99_ms: percentile(&latencies, 0.99),
        embed_model: app.embedder.name().to_string(),
        store: app.store.name().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_read_in_mib() {
        let status = "Name:\tpython\nVmHWM:\t 2200000 kB\nVmRSS:\t  1048576 kB\n";
        assert_eq!(status_field_mib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_field_mib(status, "VmHWM:"), Some(2148));
        assert_eq!(status_field_mib(status, "VmSwap:"), None);
        assert_eq!(
            process_rss_mib(std::process::id()).map(|m| m > 0).ok(),
            Some(true)
        );
    }

    #[test]
    fn generated_wiki_has_the_requested_pages() {
        let dir = tempfile::tempdir().unwrap();
        generate_wiki(dir.path(), 7).unwrap();
        let n = walkdir::WalkDir::new(dir.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .count();
        assert_eq!(n, 7);
    }
}

/// Local chat adapter vs llama.cpp on the same GGUF and thread count.
#[derive(Debug, Serialize)]
pub struct LlmBench {
    pub model: String,
    pub file: String,
    pub threads: usize,
    pub runs: usize,
    pub prompt_tokens: u32,
    pub local_prompt_tps: f64,
    pub local_decode_tps: f64,
    pub peer_prompt_tps: Option<f64>,
    pub peer_decode_tps: Option<f64>,
    /// skiff's resident memory with the model loaded, after the timed runs.
    pub local_rss_mib: u64,
    /// The llama.cpp server process's (Python, llama.cpp and the model), after its runs.
    pub peer_rss_mib: Option<u64>,
    /// local / llama.cpp
    pub prompt_ratio: Option<f64>,
    pub decode_ratio: Option<f64>,
    pub peer_note: Option<String>,
}

/// A prompt of a few hundred tokens that asks for a long answer; `run` varies its first line so
/// neither engine's prefix cache can skip the prompt.
pub fn bench_prompt(run: usize) -> Vec<crate::providers::llm::ChatMessage> {
    use crate::providers::llm::ChatMessage;
    let mut context = String::new();
    for i in 0..12 {
        context.push_str(&format!(
            "Section {i}: the Orbit field scanner team reviewed battery tests, pricing, display \
             brightness, drop ratings and shipping schedules for region {i}, and agreed on the \
             next steps with the support and sales teams. "
        ));
    }
    vec![
        ChatMessage::system(format!("Run {run}. You write detailed summaries.")),
        ChatMessage::user(format!(
            "{context}\n\nWrite a long, detailed summary of the notes above, section by section."
        )),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum LlmBenchError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Llm(#[from] crate::providers::llm::LlmError),
    #[error("bench llm: {0}")]
    Other(String),
}

/// Times the local adapter, then llama.cpp on the same file and thread count.
pub async fn llm_bench(
    config: &crate::config::Config,
    model: &str,
    runs: usize,
    max_tokens: u32,
    peer_python: &Path,
) -> Result<LlmBench, LlmBenchError> {
    use crate::providers::llm::{self, ChatRequest};
    let (spec, local) = local_spec(config, model)?;
    let path = config.models.dir.join(&local.file);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let runs = runs.max(1);
    let chat = llm::connect(&spec).await?;
    // Warm-up, then timed runs, each with a prompt the prefix cache has not seen.
    chat.chat(ChatRequest::new(bench_prompt(0), 4)).await?;
    let (mut p, mut d, mut prompt_tokens) = (Vec::new(), Vec::new(), 0);
    for run in 1..=runs {
        let r = chat
            .chat(ChatRequest::new(bench_prompt(run), max_tokens))
            .await?;
        prompt_tokens = r.usage.prompt_tokens;
        p.push(f64::from(r.timing.prompt_tokens_per_second.unwrap_or(0.0)));
        d.push(f64::from(r.timing.decode_tokens_per_second.unwrap_or(0.0)));
    }
    let local_rss_mib = rss_mib();
    drop(chat);
    let (local_prompt, local_decode) = (mean(p.iter().copied()), mean(d.iter().copied()));

    let peer = async {
        let server = llm::llamacpp::LlamaCppServer::start(peer_python, &path, threads).await?;
        server.timed_completion(&bench_prompt(0), 4).await?;
        let (mut p, mut d) = (Vec::new(), Vec::new());
        for run in 1..=runs {
            let t = server
                .timed_completion(&bench_prompt(run), max_tokens)
                .await?;
            p.push(t.prompt_tps);
            d.push(t.decode_tps);
        }
        let rss = server.pid().and_then(|pid| process_rss_mib(pid).ok());
        Ok::<_, crate::providers::llm::LlmError>((
            mean(p.iter().copied()),
            mean(d.iter().copied()),
            rss,
        ))
    };
    let (peer_prompt, peer_decode, peer_rss_mib, peer_note) = match peer.await {
        Ok((a, b, rss)) => (Some(a), Some(b), rss, None),
        Err(e) => (None, None, None, Some(e.to_string())),
    };
    Ok(LlmBench {
        model: model.to_string(),
        file: path.display().to_string(),
        threads,
        runs,
        prompt_tokens,
        local_prompt_tps: local_prompt,
        local_decode_tps: local_decode,
        peer_prompt_tps: peer_prompt,
        peer_decode_tps: peer_decode,
        local_rss_mib,
        peer_rss_mib,
        prompt_ratio: peer_prompt.filter(|x| *x > 0.0).map(|x| local_prompt / x),
        decode_ratio: peer_decode.filter(|x| *x > 0.0).map(|x| local_decode / x),
        peer_note,
    })
}

/// The model `name` under [models.local], as the benchmarks load it, with its settings.
fn local_spec<'c>(
    config: &'c crate::config::Config,
    name: &str,
) -> Result<
    (
        crate::config::ModelSpec,
        &'c crate::config::LocalModelConfig,
    ),
    LlmBenchError,
> {
    let local =
        config.models.local.get(name).ok_or_else(|| {
            LlmBenchError::Other(format!("no model {name:?} under [models.local]"))
        })?;
    let spec = crate::config::ModelSpec::Local {
        name: name.to_string(),
        path: config.models.dir.join(&local.file),
        config: local.clone(),
    };
    Ok((spec, local))
}

/// `skiff bench cache`: what the local engine's prefix cache saves, and what it keeps in memory.
#[derive(Debug, Serialize)]
pub struct CacheBench {
    pub model: String,
    /// `models.local.NAME.prefix_cache`: finished sequences kept (0 = off).
    pub prefix_cache: usize,
    /// Tokens of the planner prompt's system part, which every call shares.
    pub shared_prompt_tokens: u32,
    pub calls: Vec<CacheCall>,
    /// Wall time of the first call (nothing cached yet) and the median of the others.
    pub first_ms: u64,
    pub later_p50_ms: u64,
    pub rss_start_mib: u64,
    pub rss_end_mib: u64,
    /// Resident memory added per call over the second half of the calls: about 0 once the
    /// cache is full and evicting, the size of a sequence's KV cache when nothing is evicted.
    pub growth_mib_per_call: f64,
}

#[derive(Debug, Serialize)]
pub struct CacheCall {
    pub prompt_tokens: u32,
    pub ms: u64,
    pub rss_mib: u64,
}

/// Loads `model` and sends `calls` planner prompts for different questions (one token each, so
/// the time is the prefill): the system part is the same text every time, as it is for every
/// question a server answers.
pub async fn cache_bench(
    config: &crate::config::Config,
    model: &str,
    calls: usize,
) -> Result<CacheBench, LlmBenchError> {
    use crate::providers::llm::{self, ChatRequest};
    let (spec, local) = local_spec(config, model)?;
    let chat = llm::connect(&spec).await?;
    let rss_start_mib = rss_mib();
    let mut out = Vec::new();
    let mut system = String::new();
    for i in 0..calls.max(2) {
        let question = format!(
            "Question {i}: how does item {i} compare with item {} on weight and price?",
            i + 1
        );
        let pages = format!("- Item {i} (catalogue/item-{i}.md): weighs {i}0 g at {i}9 USD");
        let messages = crate::prompts::Plan {
            max_facts: crate::agent::slots::MAX_FACTS,
            today: "2026-01-01",
            history: "",
            pages: &pages,
            question: &question,
        }
        .messages()
        .map_err(|e| LlmBenchError::Other(e.to_string()))?;
        if i == 0 {
            system = messages
                .first()
                .map(|m| m.content.clone())
                .unwrap_or_default();
        }
        let t0 = Instant::now();
        let r = chat.chat(ChatRequest::new(messages, 1)).await?;
        out.push(CacheCall {
            prompt_tokens: r.usage.prompt_tokens,
            ms: t0.elapsed().as_millis() as u64,
            rss_mib: rss_mib(),
        });
    }
    let rss_end_mib = rss_mib();
    // Counted last, so that the timed calls found nothing of it cached.
    let shared_prompt_tokens = chat
        .chat(ChatRequest::new(vec![llm::ChatMessage::system(system)], 1))
        .await?
        .usage
        .prompt_tokens;
    let mut later: Vec<u64> = out[1..].iter().map(|c| c.ms).collect();
    later.sort_unstable();
    let half = &out[out.len() / 2..];
    let growth = match (half.first(), half.last()) {
        (Some(a), Some(b)) if half.len() > 1 => {
            (b.rss_mib as f64 - a.rss_mib as f64) / (half.len() - 1) as f64
        }
        _ => 0.0,
    };
    Ok(CacheBench {
        model: model.to_string(),
        prefix_cache: local.prefix_cache,
        shared_prompt_tokens,
        first_ms: out[0].ms,
        later_p50_ms: percentile(&later, 0.5),
        rss_start_mib,
        rss_end_mib,
        growth_mib_per_call: growth,
        calls: out,
    })
}

/// `skiff bench ask`: wall time of whole answers and where it went, per role.
#[derive(Debug, Serialize)]
pub struct AskBench {
    pub question: String,
    pub runs: usize,
    pub route: String,
    pub wall_ms: Vec<u64>,
    pub p50_ms: u64,
    /// Mean milliseconds per run spent in each role ("tool" = search/compare/calculate).
    pub role_ms: std::collections::BTreeMap<String, f64>,
    pub tokens_in: f64,
    pub tokens_out: f64,
    pub cost_usd: f64,
    pub api_equivalent_usd: f64,
    /// Whether the last run's answer cited the evidence (a sanity check, not a score).
    pub last_answer: String,
}

pub async fn ask_bench(
    app: &App,
    question: &str,
    runs: usize,
    cancel: CancellationToken,
) -> Result<AskBench, BenchError> {
    use crate::agent::{self, AskRequest, Silent};
    let runs = runs.max(1);
    let mut wall = Vec::new();
    let mut role_ms: std::collections::BTreeMap<String, f64> = Default::default();
    let (mut tin, mut tout, mut cost, mut api) = (0.0, 0.0, 0.0, 0.0);
    let mut route = String::new();
    let mut last = String::new();
    for run in 0..runs {
        let answer = agent::ask(
            app,
            AskRequest::new(question, Access::All),
            &Silent,
            cancel.clone(),
        )
        .await?;
        eprintln!("run {}/{runs}: {} ms", run + 1, answer.ledger.wall_ms);
        wall.push(answer.ledger.wall_ms);
        for (role, t) in &answer.ledger.by_role {
            *role_ms.entry(role.clone()).or_default() += t.latency_ms as f64 / runs as f64;
        }
        tin += answer.ledger.tokens_in as f64 / runs as f64;
        tout += answer.ledger.tokens_out as f64 / runs as f64;
        cost += answer.ledger.total_cost_usd / runs as f64;
        api += answer.ledger.api_equivalent_usd / runs as f64;
        route = format!("{:?}", answer.route.kind).to_lowercase();
        last = answer.answer;
    }
    let mut sorted = wall.clone();
    sorted.sort_unstable();
    Ok(AskBench {
        question: question.to_string(),
        runs,
        route,
        p50_ms: sorted[(sorted.len() - 1) / 2],
        wall_ms: wall,
        role_ms,
        tokens_in: tin,
        tokens_out: tout,
        cost_usd: cost,
        api_equivalent_usd: api,
        last_answer: last,
    })
}

/// `skiff bench serve`: bursts of concurrent `POST /api/ask` on loopback against an in-process
/// server; how many were answered or refused, latency, and the process's memory.
#[derive(Debug, Serialize)]
pub struct ServeBench {
    pub concurrency: usize,
    pub rounds: usize,
    pub max_in_flight: usize,
    pub requests: usize,
    pub answered: usize,
    /// 503 busy / 429 rate-limited: refused cleanly, nothing started.
    pub refused: usize,
    /// Anything else (5xx other than busy, transport errors).
    pub failed: usize,
    pub answered_p50_ms: u64,
    pub answered_p95_ms: u64,
    pub answered_p99_ms: u64,
    pub requests_per_minute: f64,
    /// Resident memory (MiB) before the first round and after each round.
    pub rss_mib: Vec<u64>,
    /// Highest resident memory of the process so far (VmHWM).
    pub peak_rss_mib: u64,
}

/// A line of /proc/self/status in MiB (0 where /proc is missing).
fn status_mib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_field_mib(&s, field))
        .unwrap_or(0)
}

/// The `field` line ("VmRSS:", in kB) of a /proc/PID/status text, in MiB.
fn status_field_mib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib / 1024)
}

/// Resident set size of another process (the llama.cpp peer) in MiB.
fn process_rss_mib(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field_mib(&status, "VmRSS:").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("/proc/{pid}/status has no VmRSS line"),
        )
    })
}

/// Peak resident set size of this process in MiB.
pub fn peak_rss_mib() -> u64 {
    status_mib("VmHWM:")
}

/// `skiff bench load`: searches (query embedding + hybrid store query) from `concurrency`
/// clients at once for `seconds`, as fast as they are answered.
#[derive(Debug, Serialize)]
pub struct LoadBench {
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: usize,
    pub errors: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mib: u64,
    pub chunks_in_store: u64,
}

pub async fn search_load(
    app: std::sync::Arc<App>,
    concurrency: usize,
    seconds: f64,
    cancel: CancellationToken,
) -> Result<LoadBench, BenchError> {
    let chunks_in_store = app.store.count().await?;
    let deadline = Instant::now() + std::time::Duration::from_secs_f64(seconds.max(0.1));
    let started = Instant::now();
    let clients = (0..concurrency.max(1)).map(|c| {
        let app = std::sync::Arc::clone(&app);
        let cancel = cancel.clone();
        async move {
            let (mut lat, mut errors, mut n) = (Vec::new(), 0usize, c);
            while Instant::now() < deadline && !cancel.is_cancelled() {
                let t = Instant::now();
                let result = bench_search(&app, n).await;
                n += concurrency;
                match result {
                    Ok(_) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }
    });
    let results = futures::future::join_all(clients).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    let errors = results.iter().map(|(_, e)| e).sum();
    lat.sort_by(f64::total_cmp);
    Ok(LoadBench {
        concurrency: concurrency.max(1),
        seconds: elapsed,
        requests: lat.len() + errors,
        errors,
        requests_per_second: lat.len() as f64 / elapsed.max(1e-9),
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        peak_rss_mib: peak_rss_mib(),
        chunks_in_store,
    })
}

/// Resident set size of this process in MiB (0 where /proc is missing).
pub fn rss_mib() -> u64 {
    status_mib("VmRSS:")
}

pub async fn serve_bench(
    app: std::sync::Arc<App>,
    questions: &[String],
    concurrency: usize,
    rounds: usize,
    cancel: CancellationToken,
) -> Result<ServeBench, BenchError> {
    use crate::frontends::web::{WebState, router};
    let mut server = app.config.server.clone();
    server.rate_per_minute = 0;
    let max_in_flight = server.max_in_flight;
    let answerer: std::sync::Arc<dyn crate::agent::Answerer> = app;
    let state = std::sync::Arc::new(WebState::new(answerer, server, None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = cancel.child_token();
    let serving = tokio::spawn({
        let stop = stop.clone();
        async move {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        }
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/ask");
    let (concurrency, rounds) = (concurrency.max(1), rounds.max(1));
    let mut rss = vec![rss_mib()];
    let (mut answered, mut refused, mut failed) = (Vec::new(), 0, 0);
    let started = Instant::now();
    for round in 0..rounds {
        let burst = (0..concurrency).map(|i| {
            let q = questions
                .get((round * concurrency + i) % questions.len().max(1))
                .cloned()
                .unwrap_or_default();
            let (client, url) = (client.clone(), url.clone());
            async move {
                let t = Instant::now();
                let status = client
                    .post(&url)
                    .json(&serde_json::json!({ "question": q }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                (status, t.elapsed().as_millis() as u64)
            }
        });
        let results = tokio::select! {
            r = futures::future::join_all(burst) => r,
            _ = cancel.cancelled() => break,
        };
        for (status, ms) in results {
            match status {
                Ok(200) => answered.push(ms),
                Ok(503) | Ok(429) => refused += 1,
                _ => failed += 1,
            }
        }
        rss.push(rss_mib());
        eprintln!(
            "round {}/{rounds}: {} answered, {refused} refused, {failed} failed so far; RSS {} MiB",
            round + 1,
            answered.len(),
            rss.last().copied().unwrap_or(0)
        );
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    stop.cancel();
    let _ = serving.await;
    answered.sort_unstable();
    Ok(ServeBench {
        concurrency,
        rounds,
        max_in_flight,
        requests: answered.len() + refused + failed,
        answered: answered.len(),
        refused,
        failed,
        answered_p50_ms: percentile(&answered, 0.5),
        answered_p95_ms: percentile(&answered, 0.95),
        answered_p99_ms: percentile(&answered, 0.99),
        requests_per_minute: if minutes > 0.0 {
            answered.len() as f64 / minutes
        } else {
            0.0
        },
        rss_mib: rss,
        peak_rss_mib: peak_rss_mib(),
    })
}
