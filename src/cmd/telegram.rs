//! `skiff telegram`: a long-polling bot for the allowlisted users and chats ([telegram]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::config::Config;
use skiff::frontends::Context;

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let ctx = Context::new(Arc::new(App::build(config).await?));
    skiff::frontends::telegram::run(ctx, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
