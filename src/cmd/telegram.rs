//! `skiff telegram`: a long-polling bot for the allowlisted users and chats ([telegram]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::config::Config;
use skiff::frontends::{Context, telegram};

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let api = telegram::BotApi::from_config(&config.telegram)?;
    let ctx = Context::new(Arc::new(App::build(config).await?));
    telegram::run(ctx, api, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
