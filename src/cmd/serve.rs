//! `skiff serve`: the web chat page, its JSON/SSE API and an OpenAI-compatible API
//! ([server]), with Slack's Events API alongside when its signing secret is set.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::config::Config;
use skiff::frontends::{Context, http, slack, web};

#[derive(clap::Args)]
pub struct Args {
    /// Also sync these wiki folders into the store in the background after start (the
    /// embedded store admits one process, so a running server does its own ingest).
    #[arg(long = "ingest")]
    ingest: Vec<PathBuf>,
}

pub async fn run(args: Args, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let listener = http::bind("server.listen", &config.server.listen).await?;
    let ctx = Context::new(Arc::new(App::build(config).await?));
    // Slack's Events API rides along on the same listener when its signing secret is set.
    let extras = web::Extras {
        ingest: args.ingest,
        mounted: slack::mount(&ctx, &shutdown)?.into_iter().collect(),
    };
    web::serve(ctx, listener, shutdown, extras).await?;
    Ok(ExitCode::SUCCESS)
}
