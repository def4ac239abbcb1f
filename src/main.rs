//! The `skiff` command line: parses flags, loads the config and runs one command (src/cmd/,
//! one file each). Errors end here, as one readable message and a non-zero exit code.

mod cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use skiff::config::Config;

/// The config file read when `--config` is not given; it may be missing (compiled-in defaults
/// then apply), while a file named with `--config` must exist.
const DEFAULT_CONFIG: &str = "config.toml";

#[derive(Parser)]
#[command(
    name = "skiff",
    version,
    about = "Agentic RAG assistant over your internal wiki"
)]
struct Cli {
    /// Config file [default: config.toml, which may be missing: compiled-in defaults apply].
    #[arg(long, global = true)]
    config: Option<PathBuf>,
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
    Ingest(cmd::ingest::Args),
    /// Hybrid (dense + keyword) search over the ingested wiki.
    Search(cmd::search::Args),
    /// Ask a question; without one, start an interactive chat that remembers earlier turns.
    Ask(cmd::ask::Args),
    /// Answer every question of a JSONL set (id, question, expected_facts: lists of accepted
    /// spellings, expected_sources, kind: single|multi-step|unanswerable) and score the answers.
    Eval(cmd::eval::Args),
    /// Run a prompt-injection attack set (JSONL: id, kind acl|tool|citation|instruction,
    /// question, as, forbid) and report the attack success rate per kind. Exits 1 when an
    /// attack got through the tool allowlist or the ACL, or could not be judged.
    Redteam(cmd::redteam::Args),
    /// Serve the web chat page, its JSON/SSE API and an OpenAI-compatible API ([server]).
    Serve(cmd::serve::Args),
    /// Answer in Slack: the Events API endpoint on slack.listen, replies in threads ([slack]).
    Slack,
    /// Answer in Telegram: a long-polling bot for the allowlisted users and chats ([telegram]).
    Telegram,
    /// Vector store maintenance: copy between the embedded store and a Qdrant server.
    Store {
        #[command(subcommand)]
        what: cmd::store::Command,
    },
    /// Print performance figures (not asserted anywhere).
    Bench {
        #[command(subcommand)]
        what: cmd::bench::Command,
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
    let (path, explicit) = match &cli.config {
        Some(path) => (path.as_path(), true),
        None => (Path::new(DEFAULT_CONFIG), false),
    };
    let mut config = Config::load(path, explicit, std::env::vars())?.config;
    if let Some(dir) = cli.data_dir {
        config.store.data_dir = dir;
    }
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    match cli.command {
        Command::Ingest(args) => cmd::ingest::run(args, config, shutdown).await,
        Command::Search(args) => cmd::search::run(args, config, shutdown).await,
        Command::Ask(args) => cmd::ask::run(args, config, shutdown).await,
        Command::Eval(args) => cmd::eval::run(args, config, shutdown).await,
        Command::Redteam(args) => cmd::redteam::run(args, config, shutdown).await,
        Command::Serve(args) => cmd::serve::run(args, config, shutdown).await,
        Command::Slack => cmd::slack::run(config, shutdown).await,
        Command::Telegram => cmd::telegram::run(config, shutdown).await,
        Command::Store { what } => cmd::store::run(what, config, shutdown).await,
        Command::Bench { what } => cmd::bench::run(what, config, shutdown).await,
    }
}

/// Ctrl-C or SIGTERM asks long work to stop at the next safe point; a second one exits now.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("stopping: finishing the work in progress (press Ctrl-C again to exit now)");
        shutdown.cancel();
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
