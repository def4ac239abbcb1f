//! Slack: the Events API on `POST /slack/events` (its own `skiff slack` listener, or mounted
//! into `skiff serve` when the signing secret is set). Every request's v0 signature is checked
//! (HMAC-SHA256 of the signing secret; timestamps older than 5 minutes refused) before anything
//! else; events are acknowledged at once and answered in the background, always in the thread,
//! through the Web API's `chat.postMessage`. Retries are recognised by event_id and do no work.

mod api;
mod events;
mod format;

pub use api::WebApi;
pub use events::{router, signature, verify};
pub use format::{escape, message};

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::http::Mounted;
use super::memory::Conversations;
use super::tasks::Tasks;
use super::{Context, ModelLoadError};
use crate::agent::Answerer;
use crate::config::{AccessConfig, SlackConfig};
use crate::providers::store::Access;

/// Requests signed longer ago than this are refused (Slack's own advice: replay protection).
const MAX_AGE_SECS: u64 = 5 * 60;
/// Event ids remembered for deduplication.
const SEEN: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("slack: environment variable {0} (slack.{1}) is not set")]
    MissingSecret(String, &'static str),
    #[error("slack: {0}")]
    Io(std::io::Error),
    #[error("slack: {0}")]
    Http(String),
    #[error(transparent)]
    Model(#[from] ModelLoadError),
}

// By hand, not `#[from]`: the message already shows the cause, and a `source` would print it
// twice in the CLI's error chain.
impl From<std::io::Error> for SlackError {
    fn from(e: std::io::Error) -> Self {
        SlackError::Io(e)
    }
}

/// Slack user groups as last read: when, and user id -> group ids.
type UserGroups = Option<(Instant, HashMap<String, Vec<String>>)>;

pub struct SlackState {
    answerer: Arc<dyn Answerer>,
    secret: String,
    api: WebApi,
    access: Access,
    identities: AccessConfig,
    usergroups: tokio::sync::Mutex<UserGroups>,
    usergroups_refresh: Duration,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    memory: Conversations,
    pub tasks: Arc<Tasks>,
    cancel: CancellationToken,
}

impl SlackState {
    pub fn new(
        answerer: Arc<dyn Answerer>,
        config: &SlackConfig,
        secret: String,
        bot_token: String,
        cancel: CancellationToken,
    ) -> Result<Self, SlackError> {
        Ok(Self {
            answerer,
            secret,
            api: WebApi::new(&config.api_url, bot_token)?,
            access: Access::Groups(config.groups.clone()),
            identities: AccessConfig::default(),
            usergroups: tokio::sync::Mutex::new(None),
            usergroups_refresh: Duration::from_secs(config.usergroups_refresh_secs),
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
            memory: Conversations::default(),
            tasks: Arc::default(),
            cancel,
        })
    }

    /// Per-user acl groups (`[access.identities]`, keys `slack:<user id>` and
    /// `slack-group:<user group id>`).
    pub fn with_identities(mut self, identities: AccessConfig) -> Self {
        self.identities = identities;
        self
    }

    /// Keeps thread conversations in `dir` too (they survive restarts; replicas can share it).
    pub fn with_memory_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.memory = Conversations::persistent(dir);
        self
    }

    /// Reads the signing secret and bot token from the configured env variables.
    pub fn from_env(
        answerer: Arc<dyn Answerer>,
        config: &SlackConfig,
        cancel: CancellationToken,
    ) -> Result<Self, SlackError> {
        let var = |name: &str, key: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| SlackError::MissingSecret(name.to_string(), key))
        };
        let secret = var(&config.signing_secret_env, "signing_secret_env")?;
        let token = var(&config.bot_token_env, "bot_token_env")?;
        Self::new(answerer, config, secret, token, cancel)
    }

    /// True the first time an event id is seen.
    fn first_time(&self, event_id: &str) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        let (set, order) = &mut *seen;
        if !set.insert(event_id.to_string()) {
            return false;
        }
        order.push_back(event_id.to_string());
        if order.len() > SEEN
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

/// The app's Slack front end: `[slack]`, users' groups from `[access.identities]`, thread
/// conversations under the data folder, secrets from the environment.
fn state_for(ctx: &Context, shutdown: &CancellationToken) -> Result<SlackState, SlackError> {
    Ok(
        SlackState::from_env(ctx.answerer(), &ctx.config().slack, shutdown.child_token())?
            .with_memory_dir(ctx.memory_dir("slack"))
            .with_identities(ctx.identities()),
    )
}

/// Slack's Events API for `skiff serve` to serve beside the web chat, when its signing secret
/// is set (its own signature check); `None` when it is not.
pub fn mount(ctx: &Context, shutdown: &CancellationToken) -> Result<Option<Mounted>, SlackError> {
    let secret = std::env::var(&ctx.config().slack.signing_secret_env).unwrap_or_default();
    if secret.trim().is_empty() {
        return Ok(None);
    }
    let state = Arc::new(state_for(ctx, shutdown)?);
    eprintln!("skiff serve: Slack events at POST /slack/events");
    Ok(Some(Mounted {
        tasks: Arc::clone(&state.tasks),
        router: router(state),
    }))
}

/// `skiff slack`: loads the models, then serves the Events API endpoint on `listener` (bound to
/// `slack.listen`) until `shutdown`; answers in progress then get `server.shutdown_grace_secs`
/// to be posted.
pub async fn run(
    ctx: Context,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), SlackError> {
    let state = Arc::new(state_for(&ctx, &shutdown)?);
    ctx.load_models().await?;
    println!("listening on http://{}", listener.local_addr()?);
    eprintln!("skiff slack: Events API at POST /slack/events ; Ctrl-C to stop");
    let signal = shutdown.clone();
    axum::serve(listener, router(Arc::clone(&state)))
        .with_graceful_shutdown(async move { signal.cancelled().await })
        .await?;
    let grace = ctx.grace();
    eprintln!(
        "skiff slack: stopping; answers in progress get {}s",
        grace.as_secs()
    );
    state.tasks.wait(grace).await;
    Ok(())
}

#[cfg(test)]
mod tests;
