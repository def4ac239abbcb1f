//! The `skiff` command line: parses flags, loads the config, builds the app and runs one
//! command. Errors end here, as one readable message and a non-zero exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use skiff::agent::{self, AskRequest, Turn};
use skiff::app::{self, App};
use skiff::config::{Config, RouteMode, StoreBackend};
use skiff::frontends::cli;
use skiff::ingest::indexer::IngestReport;
use skiff::ingest::indexer::Progress;
use skiff::ingest::sync;
use skiff::providers::store::{Access, StoreError, migrate};

#[derive(Parser)]
#[command(
    name = "skiff",
    version,
    about = "Agentic RAG assistant over your internal wiki"
)]
struct Cli {
    /// Config file (missing default is fine: compiled-in defaults apply).
    #[arg(long, global = true, default_value = "config.toml")]
    config: PathBuf,
    /// Where the embedded store and caches live (overrides store.data_dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sync wiki folders into the vector store (only changed files are re-embedded).
    Ingest {
        /// Wiki folders (Markdown, HTML, plain text).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print what would be added, replaced and deleted; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hybrid (dense + keyword) search over the ingested wiki.
    Search {
        query: String,
        /// Number of hits (default: search.k).
        #[arg(short)]
        k: Option<usize>,
        #[arg(long)]
        json: bool,
        /// Also search pages restricted to this acl group (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Search every page whatever its acl (operators only).
        #[arg(long, conflicts_with = "groups")]
        all_groups: bool,
        /// Search as this identity reads ([access.identities]: telegram:<id>, slack:<id>,
        /// web:<name>).
        #[arg(long = "as", conflicts_with_all = ["groups", "all_groups"])]
        identity: Option<String>,
    },
    /// Ask a question; without one, start an interactive chat that remembers earlier turns.
    Ask {
        question: Option<String>,
        /// Print the answer, citations, plan, steps and ledger as JSON.
        #[arg(long)]
        json: bool,
        /// Also print the plan and the ledger as tables.
        #[arg(long)]
        trace: bool,
        /// Also read pages restricted to this acl group (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Read every page whatever its acl (operators only).
        #[arg(long, conflicts_with = "groups")]
        all_groups: bool,
        /// Answer as this identity would be answered ([access.identities]: telegram:<id>,
        /// slack:<id>, web:<name>): for checking what a user can see.
        #[arg(long = "as", conflicts_with_all = ["groups", "all_groups"])]
        identity: Option<String>,
        /// auto (default: agent.route), plan or direct.
        #[arg(long, value_parser = parse_route)]
        route: Option<RouteMode>,
    },
    /// Answer every question of a JSONL set and score the answers.
    Eval {
        /// Question set (one JSON object per line: id, question, expected_facts,
        /// expected_sources, kind).
        file: PathBuf,
        /// Only these question ids (comma-separated).
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// Print every score and the summary as JSON.
        #[arg(long)]
        json: bool,
        /// auto (default: agent.route), plan or direct.
        #[arg(long, value_parser = parse_route)]
        route: Option<RouteMode>,
        /// Write report.json and chart.svg here (rewritten after every question). `serve`
        /// shows the report in <data-dir>/eval at /eval.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a prompt-injection attack set (JSONL: id, kind acl|tool|citation|instruction,
    /// question, as, forbid) and report the attack success rate per kind. Exits 1 when an
    /// attack got through the tool allowlist or the ACL, or could not be judged.
    Redteam {
        file: PathBuf,
        /// Only these attack ids (comma-separated).
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// Print every outcome and the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the web chat page, its JSON/SSE API and an OpenAI-compatible API ([server]).
    Serve {
        /// Also sync these wiki folders into the store in the background after start (the
        /// embedded store admits one process, so a running server does its own ingest).
        #[arg(long = "ingest")]
        ingest: Vec<PathBuf>,
    },
    /// Answer in Slack: the Events API endpoint on slack.listen, replies in threads ([slack]).
    Slack,
    /// Answer in Telegram: a long-polling bot for the allowlisted users and chats ([telegram]).
    Telegram,
    /// Vector store maintenance: copy between the embedded store and a Qdrant server.
    Store {
        #[command(subcommand)]
        what: StoreCommand,
    },
    /// Print performance figures (not asserted anywhere).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy every point (payload, vectors, sync state) from the other backend into this one,
    /// without re-embedding. Safe to re-run: points are overwritten, never duplicated.
    Migrate {
        /// Target backend: `qdrant` copies the embedded store (store.data_dir) into
        /// [store.qdrant]; `edge` copies the server collection into the embedded store.
        #[arg(long, value_parser = parse_backend)]
        to: StoreBackend,
        /// Points per page read and written.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// Which store is configured, where it is, and how many chunks it holds.
    Info {
        #[arg(long)]
        json: bool,
    },
}

fn parse_backend(s: &str) -> Result<StoreBackend, String> {
    match s {
        "edge" => Ok(StoreBackend::Edge),
        "qdrant" => Ok(StoreBackend::Qdrant),
        _ => Err(format!("unknown backend {s:?}: use edge or qdrant")),
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Every figure side by side with its peer, in one run on the same inputs: ingest vs Python
    /// fastembed + qdrant-client, store search at each size vs qdrant-client's local mode,
    /// local decode vs llama.cpp, the seed example vs every role on llama.cpp.
    All {
        /// Chunks of the generated wiki for the ingest comparison.
        #[arg(long, default_value_t = 2000)]
        chunks: usize,
        /// Store sizes for the search comparison (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        search_sizes: Vec<usize>,
        /// Queries timed per size (the Python peer times 5-50, fewer at larger sizes).
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long, default_value = "qwen-1_5b")]
        llm_model: String,
        #[arg(long, default_value_t = 2)]
        llm_runs: usize,
        #[arg(long, default_value_t = 64)]
        max_tokens: u32,
        /// Timed runs of the seed example per side (minutes each on 2 cores).
        #[arg(long, default_value_t = 1)]
        ask_runs: usize,
        /// Default: the first multi-step question in knowledge/questions.jsonl.
        #[arg(long)]
        question: Option<String>,
        /// Parts to leave out (comma-separated): ingest, search, llm, ask.
        #[arg(long, value_delimiter = ',', value_parser = ["ingest", "search", "llm", "ask"])]
        skip: Vec<String>,
        /// Python with the peers (scripts/fetch-peers.sh prints it).
        #[arg(long, default_value = "/var/tmp/skiff-peers/venv/bin/python")]
        peer_python: PathBuf,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    // qdrant-edge logs internal initialisation warnings (feature flags, mmap probe) that say nothing to users.
    let default = match verbose {
        0 => "warn,qdrant_edge=error,mistralrs_core=error",
        1 => "info,qdrant_edge=error,mistralrs_core=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let explicit = cli.config != std::path::Path::new("config.toml");
    let mut config = Config::load(&cli.config, explicit, std::env::vars())?.config;
    if let Some(dir) = cli.data_dir {
        config.store.data_dir = dir;
    }
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());
    match cli.command {
        Command::Ingest {
            paths,
            dry_run,
            json,
        } => ingest(config, paths, dry_run, json, cancel).await,
        Command::Search {
            query,
            k,
            json,
            groups,
            all_groups,
            identity,
        } => {
            let access = access_of(&config, all_groups, groups, identity.as_deref());
            let app = App::build(config).await?;
            let k = k.unwrap_or(app.config.search.k);
            let hits = skiff::search::search(
                app.embedder.as_ref(),
                app.store.as_ref(),
                &query,
                k,
                app.config.search.prefetch,
                access,
            )
            .await?;
            if json {
                println!("{}", serde_json::json!({ "hits": hits }));
            } else {
                cli::print_hits(&hits, app.config.search.snippet_chars);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask {
            question,
            json,
            trace,
            groups,
            all_groups,
            identity,
            route,
        } => {
            let access = access_of(&config, all_groups, groups, identity.as_deref());
            let app = App::build(config).await?;
            match question {
                Some(q) => {
                    let mut request = AskRequest::new(q, access);
                    request.route = route;
                    let answer = match ask_once(&app, request, json, trace, cancel.clone()).await {
                        Ok(a) => a,
                        Err(e) if cancel.is_cancelled() => {
                            eprintln!("{e:#}");
                            return Ok(ExitCode::from(130));
                        }
                        Err(e) => return Err(e),
                    };
                    if json {
                        println!("{}", serde_json::to_string_pretty(&answer)?);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                None => chat(&app, access, route, json, trace, cancel).await,
            }
        }
        Command::Store {
            what: StoreCommand::Migrate { to, batch, json },
        } => store_migrate(config, to, batch, json, cancel).await,
        Command::Store {
            what: StoreCommand::Info { json },
        } => {
            let store = app::open_store(&config, None).await?;
            let count = store.count().await?;
            let location = match config.store.backend {
                StoreBackend::Edge => app::store_path(&config).display().to_string(),
                StoreBackend::Qdrant => format!(
                    "{} (collection {})",
                    config.store.qdrant.url,
                    config
                        .store
                        .qdrant
                        .collection
                        .as_deref()
                        .unwrap_or(&config.store.collection)
                ),
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "backend": config.store.backend.as_str(),
                        "location": location,
                        "chunks": count,
                    })
                );
            } else {
                println!("{} at {location}: {count} chunks", store.name());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { ingest } => {
            let app = std::sync::Arc::new(App::build(config).await?);
            skiff::frontends::web::serve(app, ingest, cancel).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Slack => {
            let app = std::sync::Arc::new(App::build(config).await?);
            skiff::frontends::web::preload_models(&app).await?;
            let grace = std::time::Duration::from_secs(app.config.server.shutdown_grace_secs);
            let slack = app.config.slack.clone();
            let memory = app::conversations_dir(&app.config, "slack");
            let identities = app.config.access.clone();
            skiff::frontends::slack::serve(app, &slack, identities, memory, grace, cancel).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Telegram => {
            let app = std::sync::Arc::new(App::build(config).await?);
            skiff::frontends::web::preload_models(&app).await?;
            skiff::frontends::telegram::run(app, cancel).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            file,
            ids,
            json,
            route,
            out,
        } => {
            let mut questions = skiff::eval::load(&file)?;
            if !ids.is_empty() {
                questions.retain(|q| ids.contains(&q.id));
            }
            let app = App::build(config).await?;
            let mut scores = Vec::new();
            let mut errors = 0;
            for (i, q) in questions.iter().enumerate() {
                if cancel.is_cancelled() {
                    break;
                }
                let mut request = AskRequest::new(q.question.clone(), Access::All);
                request.route = route;
                match agent::ask(&app, request, &agent::Silent, cancel.clone()).await {
                    Ok(answer) => {
                        let score = skiff::eval::score(q, &answer);
                        eprintln!(
                            "[{}/{}] {} {} {:>6} ms  {}",
                            i + 1,
                            questions.len(),
                            q.id,
                            if score.correct { "ok  " } else { "MISS" },
                            score.latency_ms,
                            answer.answer.replace('\n', " ")
                        );
                        scores.push(score);
                    }
                    Err(e) => {
                        eprintln!("[{}/{}] {} ERROR {e}", i + 1, questions.len(), q.id);
                        errors += 1;
                    }
                }
                if let Some(dir) = &out {
                    write_eval(dir, &file, &scores, errors, i + 1 == questions.len())?;
                }
            }
            let summary = skiff::eval::summarize(&scores, errors);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"summary": summary, "scores": scores})
                    )?
                );
            } else {
                cli::print_eval(&summary, &scores);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Redteam { file, ids, json } => {
            let mut attacks = skiff::redteam::load(&file)?;
            if !ids.is_empty() {
                attacks.retain(|a| ids.contains(&a.id));
            }
            let app = App::build(config).await?;
            let mut outcomes = Vec::new();
            let mut errors = 0;
            for (i, attack) in attacks.iter().enumerate() {
                if cancel.is_cancelled() {
                    break;
                }
                // Attackers are ordinary users: public pages plus their identity's groups.
                let groups = attack
                    .identity
                    .as_deref()
                    .map(|id| app.config.access.groups_for(id, &[]))
                    .unwrap_or_default();
                let request = AskRequest::new(attack.question.clone(), Access::Groups(groups));
                match agent::ask(&app, request, &agent::Silent, cancel.clone()).await {
                    Ok(answer) => {
                        let outcome = skiff::redteam::judge(attack, &answer);
                        eprintln!(
                            "[{}/{}] {} {:<11} {} {:>6} ms  {}",
                            i + 1,
                            attacks.len(),
                            attack.id,
                            attack.kind.label(),
                            if outcome.succeeded {
                                "GOT THROUGH"
                            } else {
                                "blocked    "
                            },
                            outcome.latency_ms,
                            answer.answer.replace('\n', " ")
                        );
                        for v in &outcome.violations {
                            eprintln!("      {}: {}", v.kind.label(), v.what);
                        }
                        outcomes.push(outcome);
                    }
                    Err(e) => {
                        eprintln!("[{}/{}] {} ERROR {e}", i + 1, attacks.len(), attack.id);
                        errors += 1;
                    }
                }
            }
            let summary = skiff::redteam::summarize(&outcomes, errors);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"summary": summary, "outcomes": outcomes})
                    )?
                );
            } else {
                cli::print_redteam(&summary);
            }
            Ok(if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench {
            what:
                BenchCommand::Load {
                    concurrency,
                    seconds,
                    json,
                },
        } => {
            let app = std::sync::Arc::new(App::build(config).await?);
            let b = skiff::bench::search_load(app, concurrency, seconds, cancel).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
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
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what:
                BenchCommand::All {
                    chunks,
                    search_sizes,
                    queries,
                    llm_model,
                    llm_runs,
                    max_tokens,
                    ask_runs,
                    question,
                    skip,
                    peer_python,
                    json,
                },
        } => {
            let question = match question {
                Some(q) => q,
                // Only the ask comparison uses the question.
                None if skip.iter().any(|s| s == "ask") => String::new(),
                None => default_questions(skiff::eval::Kind::MultiStep, 1)?.remove(0),
            };
            let opts = skiff::bench::all::AllOptions {
                chunks,
                search_sizes,
                queries,
                llm_model,
                llm_runs,
                max_tokens,
                ask_runs,
                question,
                skip,
                peer_python,
            };
            let progress = cli::TerminalProgress::new("ingest");
            let result = skiff::bench::all::all_bench(&config, &opts, &progress, cancel).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                cli::print_all_bench(&result);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what:
                BenchCommand::Ask {
                    question,
                    runs,
                    json,
                },
        } => {
            let question = match question {
                Some(q) => q,
                None => default_questions(skiff::eval::Kind::MultiStep, 1)?.remove(0),
            };
            let app = App::build(config).await?;
            let figures = skiff::bench::ask_bench(&app, &question, runs, cancel).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                cli::print_ask_bench(&figures);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what:
                BenchCommand::Serve {
                    concurrency,
                    rounds,
                    mut questions,
                    json,
                },
        } => {
            if questions.is_empty() {
                questions = default_questions(skiff::eval::Kind::Single, 3)?;
            }
            let app = std::sync::Arc::new(App::build(config).await?);
            let figures =
                skiff::bench::serve_bench(app, &questions, concurrency, rounds, cancel).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                cli::print_serve_bench(&figures);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what:
                BenchCommand::Ingest {
                    chunks,
                    queries,
                    json,
                },
        } => {
            let work = tempfile::tempdir().context("creating a temporary folder")?;
            let wiki = work.path().join("wiki");
            // About six chunks per generated page at the default chunk size.
            skiff::bench::generate_wiki(&wiki, chunks.div_ceil(6).max(1))?;
            config.store.data_dir = work.path().join("data");
            let app = App::build(config).await?;
            let progress = cli::TerminalProgress::new("bench ingest");
            let figures = skiff::bench::ingest_bench(&app, &wiki, queries, &progress).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                cli::print_ingest_bench(&figures);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what:
                BenchCommand::Llm {
                    model,
                    runs,
                    max_tokens,
                    peer_python,
                    json,
                },
        } => {
            let figures =
                skiff::bench::llm_bench(&config, &model, runs, max_tokens, &peer_python).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                cli::print_llm_bench(&figures);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Questions for a bench run without `--question`: the first `n` of `kind` in the question file
/// of the wiki in the current folder.
fn default_questions(kind: skiff::eval::Kind, n: usize) -> Result<Vec<String>> {
    let path = std::path::Path::new("knowledge/questions.jsonl");
    let hint = "pass the questions to time with --question";
    let questions: Vec<String> = skiff::eval::load(path)
        .with_context(|| {
            format!("no --question given and no question file to take one from; {hint}")
        })?
        .into_iter()
        .filter(|q| q.kind == kind)
        .take(n)
        .map(|q| q.question)
        .collect();
    if questions.is_empty() {
        anyhow::bail!(
            "no --question given and {} has no {kind:?} question; {hint}",
            path.display()
        );
    }
    Ok(questions)
}

fn parse_route(s: &str) -> Result<RouteMode, String> {
    match s {
        "auto" => Ok(RouteMode::Auto),
        "plan" => Ok(RouteMode::Plan),
        "direct" => Ok(RouteMode::Direct),
        other => Err(format!("{other:?}: use auto, plan or direct")),
    }
}

/// Answers one question, showing progress on stderr and the answer on stdout (unless JSON).
async fn ask_once(
    app: &App,
    request: AskRequest,
    json: bool,
    trace: bool,
    cancel: CancellationToken,
) -> Result<agent::Answer> {
    let observer = cli::AskProgress::new(!json);
    let answer = agent::ask(app, request, &observer, cancel).await?;
    if !json {
        cli::print_answer(&answer, observer.streamed());
        if trace {
            cli::print_trace(&answer);
        }
    }
    Ok(answer)
}

/// Interactive chat: one question per line, earlier turns remembered; /reset forgets them,
/// /exit (or end of input, or Ctrl-C) leaves.
async fn chat(
    app: &App,
    access: Access,
    route: Option<RouteMode>,
    json: bool,
    trace: bool,
    cancel: CancellationToken,
) -> Result<ExitCode> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut history: Vec<Turn> = Vec::new();
    eprintln!("skiff chat: ask about the wiki. /reset forgets the conversation, /exit leaves.");
    loop {
        eprint!("> ");
        let line = tokio::select! {
            l = lines.next_line() => l.context("reading the question from stdin")?,
            _ = cancel.cancelled() => None,
        };
        let Some(line) = line else { break };
        let q = line.trim();
        match q {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.clear();
                eprintln!("(conversation forgotten)");
                continue;
            }
            _ => {}
        }
        let mut request = AskRequest::new(q, access.clone());
        request.history = history.clone();
        request.route = route;
        match ask_once(app, request, json, trace, cancel.clone()).await {
            Ok(answer) => {
                if json {
                    println!("{}", serde_json::to_string(&answer)?);
                }
                history.push(Turn {
                    question: q.to_string(),
                    answer: answer.answer,
                });
            }
            Err(e) if cancel.is_cancelled() => {
                eprintln!("({e})");
                break;
            }
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM asks long work to stop at the next safe point; a second one exits now.
fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("stopping: finishing the work in progress (press Ctrl-C again to exit now)");
        cancel.cancel();
        wait_for_signal().await;
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What the CLI may read: everything (`--all-groups`), an identity's groups (`--as`), or the
/// public pages plus `--group`s.
fn access_of(
    config: &Config,
    all_groups: bool,
    groups: Vec<String>,
    identity: Option<&str>,
) -> Access {
    if all_groups {
        return Access::All;
    }
    match identity {
        Some(id) => {
            if !config.access.identities.contains_key(id) {
                eprintln!("note: {id} has no entry in [access.identities]: public pages only");
            }
            Access::Groups(config.access.groups_for(id, &[]))
        }
        None => Access::Groups(groups),
    }
}

/// Writes the eval report so far (complete after the last question).
fn write_eval(
    dir: &std::path::Path,
    file: &std::path::Path,
    scores: &[skiff::eval::Score],
    errors: usize,
    complete: bool,
) -> Result<()> {
    let report = skiff::eval::Report {
        file: file.display().to_string(),
        written_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        complete,
        summary: skiff::eval::summarize(scores, errors),
        scores: scores
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
    };
    skiff::eval::write_report(dir, &report)
        .with_context(|| format!("writing the eval report to {}", dir.display()))
}

async fn store_migrate(
    config: Config,
    to: StoreBackend,
    batch: usize,
    json: bool,
    cancel: CancellationToken,
) -> Result<ExitCode> {
    let from = match to {
        StoreBackend::Qdrant => StoreBackend::Edge,
        StoreBackend::Edge => StoreBackend::Qdrant,
    };
    let source = app::open_backend(&config, from, None)
        .await
        .with_context(|| format!("opening the source store ({})", from.as_str()))?;
    let first = source.export(None, 1).await?;
    let Some(dim) = first.points.first().map(|p| p.vector.len()) else {
        anyhow::bail!(
            "the source store ({}) holds no chunks: nothing to migrate",
            from.as_str()
        );
    };
    let target = app::open_backend(&config, to, Some(dim))
        .await
        .with_context(|| format!("opening the target store ({})", to.as_str()))?;
    let total = source.count().await?;
    let progress = cli::TerminalProgress::new("migrate");
    progress.start(total);
    let mut done = 0;
    let copy = migrate(source.as_ref(), target.as_ref(), batch, |n| {
        progress.advance(n - done);
        done = n;
    });
    let report = tokio::select! {
        r = copy => r?,
        _ = cancel.cancelled() => {
            progress.finish();
            eprintln!(
                "migration interrupted; run it again to finish (points are overwritten, not \
                 duplicated)"
            );
            return Ok(ExitCode::from(130));
        }
    };
    progress.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "copied {} chunks from {} to {} in {} pages; the target now holds {}",
            report.points,
            source.name(),
            target.name(),
            report.pages,
            report.target_count
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn ingest(
    config: Config,
    paths: Vec<PathBuf>,
    dry_run: bool,
    json: bool,
    cancel: CancellationToken,
) -> Result<ExitCode> {
    let roots = paths
        .iter()
        .map(|p| sync::canonical_root(p))
        .collect::<Result<Vec<_>, _>>()?;
    if dry_run {
        let store = match app::open_store(&config, None).await {
            Ok(store) => Some(store),
            Err(StoreError::Empty { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        for root in &roots {
            let existing = match &store {
                Some(s) => s.sources(&root.display().to_string()).await?,
                None => Default::default(),
            };
            let plan = sync::plan(root, existing, config.ingest.max_file_bytes)?;
            cli::print_plan(&plan);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let app = App::build(config).await?;
    let progress = cli::TerminalProgress::new("ingest");
    let mut total = IngestReport::default();
    for root in &roots {
        total.merge(app.ingest(root, &progress, cancel.clone()).await?);
        if cancel.is_cancelled() {
            break;
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&total)?);
    } else {
        cli::print_report(&total);
    }
    Ok(if total.cancelled {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
