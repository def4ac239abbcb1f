//! `skiff store ...`: vector store maintenance (copy between the embedded store and a Qdrant
//! server; where the store is and how much it holds).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use skiff::app;
use skiff::config::{Config, StoreBackend};
use skiff::frontends::cli;
use skiff::ingest::indexer::Progress;
use skiff::providers::store::migrate;

use super::print_json;

#[derive(Subcommand)]
pub enum Command {
    /// Copy every point (payload, vectors, sync state) from the other backend into this one,
    /// without re-embedding. Safe to re-run: points are overwritten, never duplicated.
    Migrate {
        /// Target backend: `qdrant` copies the embedded store (store.data_dir) into
        /// [store.qdrant]; `edge` copies the server collection into the embedded store.
        #[arg(long, value_enum)]
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

pub async fn run(what: Command, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    match what {
        Command::Migrate { to, batch, json } => migrate_to(config, to, batch, json, shutdown).await,
        Command::Info { json } => info(config, json).await,
    }
}

async fn info(config: Config, json: bool) -> Result<ExitCode> {
    let store = app::open_store(&config, None).await?;
    let count = store.count().await?;
    let location = app::store_location(&config);
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

async fn migrate_to(
    config: Config,
    to: StoreBackend,
    batch: usize,
    json: bool,
    shutdown: CancellationToken,
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
        _ = shutdown.cancelled() => {
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
        print_json(&report)?;
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
