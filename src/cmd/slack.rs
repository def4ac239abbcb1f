//! `skiff slack`: the Events API endpoint on slack.listen, answers in threads ([slack]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::app::App;
use skiff::config::Config;

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let app = Arc::new(App::build(config).await?);
    skiff::frontends::web::preload_models(&app).await?;
    skiff::frontends::slack::run(app, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
