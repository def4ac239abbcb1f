//! `skiff search QUERY`: hybrid (dense + keyword) search over the ingested wiki.

use std::process::ExitCode;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::config::Config;
use skiff::frontends::cli;

use super::AccessArgs;

#[derive(clap::Args)]
pub struct Args {
    query: String,
    /// Number of hits (default: search.k).
    #[arg(short)]
    k: Option<usize>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    access: AccessArgs,
}

pub async fn run(args: Args, config: Config, _shutdown: CancellationToken) -> Result<ExitCode> {
    let access = args.access.access(&config);
    let app = App::build(config).await?;
    let k = args.k.unwrap_or(app.config.search.k);
    let hits = skiff::search::search(
        app.embedder.as_ref(),
        app.store.as_ref(),
        &args.query,
        k,
        app.config.search.prefetch,
        access,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::json!({ "hits": hits }));
    } else {
        cli::print_hits(&hits, app.config.search.snippet_chars);
    }
    Ok(ExitCode::SUCCESS)
}
