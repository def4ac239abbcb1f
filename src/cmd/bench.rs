//! `skiff bench ...`: performance figures, printed and never asserted (the machines running
//! tests are shared and noisy).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::bench::all::AllOptions;
use skiff::bench::print;
use skiff::config::Config;
use skiff::eval::Kind;
use skiff::frontends::cli;

use super::{default_questions, show};

#[derive(Subcommand)]
pub enum Command {
    /// Every figure side by side with its peer, in one run on the same inputs: ingest vs Python
    /// fastembed + qdrant-client, store search at each size vs qdrant-client's local mode,
    /// local decode vs llama.cpp, the seed example vs every role on llama.cpp.
    All {
        #[command(flatten)]
        options: AllOptions,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ingest a generated wiki into a temporary store; print chunks/s and search p50/p99.
    Ingest {
        /// Approximate number of chunks to generate (at least 5,000 for comparable figures).
        #[arg(long, default_value_t = 5000)]
        chunks: usize,
        /// Search queries to time after the ingest.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long)]
        json: bool,
    },
    /// End-to-end latency of one question and the time per role.
    Ask {
        /// Default: the first multi-step question in knowledge/questions.jsonl.
        #[arg(long)]
        question: Option<String>,
        /// Timed runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Bursts of concurrent /api/ask on loopback: answered vs refused, latency, memory.
    Serve {
        /// Questions sent at once per round (server.max_in_flight admits that many).
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Questions to cycle through (repeatable; default: the first three single-fact
        /// questions in knowledge/questions.jsonl).
        #[arg(long = "question")]
        questions: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Search under load: N clients searching at once for S seconds (requests/s, p50/p99,
    /// errors, peak memory) over the configured store (ingest something first).
    Load {
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long)]
        json: bool,
    },
    /// The local engine's prefix cache: planner prompts for different questions (same system
    /// text) one after another; time per call and resident memory after each.
    Cache {
        /// A name under [models.local] (its prefix_cache setting is what is measured).
        #[arg(long, default_value = "qwen-1_5b")]
        model: String,
        /// Calls to make (at least 2).
        #[arg(long, default_value_t = 12)]
        calls: usize,
        #[arg(long)]
        json: bool,
    },
    /// Local chat model (mistral.rs) prompt/decode tokens/s vs llama.cpp on the same GGUF.
    Llm {
        /// A name under [models.local].
        #[arg(long, default_value = "qwen-1_5b")]
        model: String,
        /// Timed runs per engine (after one warm-up).
        #[arg(long, default_value_t = 2)]
        runs: usize,
        /// Tokens generated per run.
        #[arg(long, default_value_t = 64)]
        max_tokens: u32,
        /// Python with xllamacpp (scripts/fetch-peers.sh prints it).
        #[arg(long, default_value = "/var/tmp/skiff-peers/venv/bin/python")]
        peer_python: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(what: Command, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    match what {
        Command::Load {
            concurrency,
            seconds,
            json,
        } => {
            let app = Arc::new(App::build(config).await?);
            let b = skiff::bench::search_load(app, concurrency, seconds, shutdown).await?;
            show(json, &b, |b| {
                println!(
                    "search load: {} clients for {:.1} s over {} chunks: {} requests, {} errors, \
                     {:.1} requests/s, p50 {:.1} ms, p99 {:.1} ms, peak RSS {} MiB",
                    b.concurrency,
                    b.seconds,
                    b.chunks_in_store,
                    b.requests,
                    b.errors,
                    b.requests_per_second,
                    b.p50_ms,
                    b.p99_ms,
                    b.peak_rss_mib
                );
            })?;
        }
        Command::All { mut options, json } => {
            if options.question.is_none() && !options.skips("ask") {
                options.question = default_questions(Kind::MultiStep, 1)?.into_iter().next();
            }
            let opts = options;
            let progress = cli::TerminalProgress::new("ingest");
            let result = skiff::bench::all::all_bench(&config, &opts, &progress, shutdown).await?;
            show(json, &result, print::all)?;
        }
        Command::Ask {
            question,
            runs,
            json,
        } => {
            let question = match question {
                Some(q) => q,
                None => default_questions(Kind::MultiStep, 1)?.remove(0),
            };
            let app = App::build(config).await?;
            let figures = skiff::bench::ask_bench(&app, &question, runs, shutdown).await?;
            show(json, &figures, print::ask)?;
        }
        Command::Serve {
            concurrency,
            rounds,
            mut questions,
            json,
        } => {
            if questions.is_empty() {
                questions = default_questions(Kind::Single, 3)?;
            }
            let app = Arc::new(App::build(config).await?);
            let figures =
                skiff::bench::serve_bench(app, &questions, concurrency, rounds, shutdown).await?;
            show(json, &figures, print::serve)?;
        }
        Command::Ingest {
            chunks,
            queries,
            json,
        } => {
            let mut config = config;
            let work = tempfile::tempdir().context("creating a temporary folder")?;
            let wiki = work.path().join("wiki");
            // About six chunks per generated page at the default chunk size.
            skiff::bench::generate_wiki(&wiki, chunks.div_ceil(6).max(1))?;
            config.store.data_dir = work.path().join("data");
            let app = App::build(config).await?;
            let progress = cli::TerminalProgress::new("bench ingest");
            let figures = skiff::bench::ingest_bench(&app, &wiki, queries, &progress).await?;
            show(json, &figures, print::ingest)?;
        }
        Command::Cache { model, calls, json } => {
            let figures = skiff::bench::cache_bench(&config, &model, calls).await?;
            show(json, &figures, print::cache)?;
        }
        Command::Llm {
            model,
            runs,
            max_tokens,
            peer_python,
            json,
        } => {
            let figures =
                skiff::bench::llm_bench(&config, &model, runs, max_tokens, &peer_python).await?;
            show(json, &figures, print::llm)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
