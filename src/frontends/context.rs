//! What every front end (web, Slack, Telegram) is built from: the app, as the agent that
//! answers and the settings each front end reads, with the steps they share at start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::agent::Answerer;
use crate::app::App;
use crate::config::{AccessConfig, Config, ModelRole};

/// A role's model failed to load at start.
#[derive(Debug, thiserror::Error)]
#[error("loading the {role} model: {message}")]
pub struct ModelLoadError {
    pub role: &'static str,
    pub message: String,
}

/// The app a front end serves. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    app: Arc<App>,
}

impl Context {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    pub fn config(&self) -> &Config {
        &self.app.config
    }

    /// The agent, as front ends call it.
    pub fn answerer(&self) -> Arc<dyn Answerer> {
        Arc::clone(&self.app) as Arc<dyn Answerer>
    }

    /// Extra acl groups of named identities (`[access.identities]`).
    pub fn identities(&self) -> AccessConfig {
        self.app.config.access.clone()
    }

    /// Where a front end keeps its conversations (one file each).
    pub fn memory_dir(&self, front_end: &str) -> PathBuf {
        crate::app::conversations_dir(&self.app.config, front_end)
    }

    /// How long answers in progress get to finish after shutdown is asked for.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.app.config.server.shutdown_grace_secs)
    }

    /// Loads every role's model now, so a broken model fails at start and the first question
    /// is not slow (a model shared by roles is loaded once), then warms the local models'
    /// prompt caches with each role's system prompt in the background. Front ends call it
    /// after their own checks, which are quick.
    pub async fn load_models(&self) -> Result<(), ModelLoadError> {
        for role in [
            ModelRole::Planner,
            ModelRole::Extractor,
            ModelRole::Synthesizer,
        ] {
            self.app.model(role).await.map_err(|e| ModelLoadError {
                role: role.as_str(),
                message: e.to_string(),
            })?;
        }
        // In the background: a question that comes meanwhile is answered, only slower.
        let app = Arc::clone(&self.app);
        tokio::spawn(async move { crate::agent::warm_prompt_caches(&app).await });
        Ok(())
    }
}
