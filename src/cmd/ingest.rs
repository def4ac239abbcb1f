//! `skiff ingest PATH...`: sync wiki folders into the vector store (only changed files are
//! re-embedded).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::{self, App};
use skiff::config::Config;
use skiff::frontends::cli;
use skiff::ingest::indexer::IngestReport;
use skiff::ingest::sync;
use skiff::providers::store::StoreError;

use super::show;

#[derive(clap::Args)]
pub struct Args {
    /// Wiki folders (Markdown, HTML, plain text).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print what would be added, replaced and deleted; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let roots = args
        .paths
        .iter()
        .map(|p| sync::canonical_root(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.dry_run {
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
            let recipe = app::sync_recipe(&config);
            let plan = sync::plan(root, existing, config.ingest.max_file_bytes, &recipe)?;
            cli::print_plan(&plan);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let app = App::build(config).await?;
    let progress = cli::TerminalProgress::new("ingest");
    let mut total = IngestReport::default();
    for root in &roots {
        total.merge(app.ingest(root, &progress, shutdown.clone()).await?);
        if shutdown.is_cancelled() {
            break;
        }
    }
    show(args.json, &total, cli::print_report)?;
    Ok(if total.cancelled {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
