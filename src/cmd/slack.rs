//! `skiff slack`: the Events API endpoint on slack.listen, answers in threads ([slack]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::config::Config;
use skiff::frontends::{Context, http, slack};

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let listener = http::bind("slack.listen", &config.slack.listen).await?;
    let ctx = Context::new(Arc::new(App::build(config).await?));
    slack::run(ctx, listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
