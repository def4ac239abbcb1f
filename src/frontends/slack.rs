//! Slack: the Events API on `POST /slack/events` (its own `skiff slack` listener, or mounted
//! into `skiff serve` when the signing secret is set). Every request's v0 signature is checked
//! (HMAC-SHA256 of the signing secret; timestamps older than 5 minutes refused) before anything
//! else; events are acknowledged at once and answered in the background, always in the thread,
//! through the Web API's `chat.postMessage`. Retries are recognised by event_id and do no work.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::http::{ApiError, Mounted, same_secret};
use super::memory::Conversations;
use super::tasks::Tasks;
use crate::agent::executor::clip;
use crate::agent::{Answer, Answerer, AskRequest, Silent};
use crate::app::App;
use crate::config::{AccessConfig, SlackConfig};
use crate::providers::store::Access;

/// Requests signed longer ago than this are refused (Slack's own advice: replay protection).
const MAX_AGE_SECS: u64 = 5 * 60;
/// Event ids remembered for deduplication.
const SEEN: usize = 10_000;
/// Slack's limit for one section block's text.
const BLOCK_CHARS: usize = 2900;

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("slack: environment variable {0} (slack.{1}) is not set")]
    MissingSecret(String, &'static str),
    #[error("slack.listen = {addr}: cannot listen: {error}")]
    Bind { addr: String, error: std::io::Error },
    #[error("slack: {0}")]
    Io(std::io::Error),
    #[error("slack: {0}")]
    Http(String),
}

// By hand, not `#[from]`: the message already shows the cause, and a `source` would print it
// twice in the CLI's error chain.
impl From<std::io::Error> for SlackError {
    fn from(e: std::io::Error) -> Self {
        SlackError::Io(e)
    }
}

/// The Web API calls the bot makes.
pub struct WebApi {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl WebApi {
    pub fn new(base: &str, token: String) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SlackError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// `chat.postMessage`; one retry after Slack's Retry-After on 429 or a 5xx.
    pub async fn post_message(&self, body: &Value) -> Result<(), SlackError> {
        let url = format!("{}/chat.postMessage", self.base);
        for attempt in 0..2 {
            let response = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await
                .map_err(|e| SlackError::Http(format!("chat.postMessage: {e}")))?;
            let status = response.status();
            if (status.as_u16() == 429 || status.is_server_error()) && attempt == 0 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let reply: Value = response
                .json()
                .await
                .map_err(|e| SlackError::Http(format!("chat.postMessage ({status}): {e}")))?;
            if reply["ok"] != true {
                return Err(SlackError::Http(format!(
                    "chat.postMessage: {}",
                    reply["error"].as_str().unwrap_or("not ok")
                )));
            }
            return Ok(());
        }
        Err(SlackError::Http(
            "chat.postMessage: gave up after a retry".into(),
        ))
    }
}

impl WebApi {
    /// `usergroups.list` with members (scope usergroups:read): user id -> the ids of the user
    /// groups they belong to.
    pub async fn usergroups(&self) -> Result<HashMap<String, Vec<String>>, SlackError> {
        let url = format!("{}/usergroups.list?include_users=true", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| SlackError::Http(format!("usergroups.list: {e}")))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|e| SlackError::Http(format!("usergroups.list ({status}): {e}")))?;
        if reply["ok"] != true {
            return Err(SlackError::Http(format!(
                "usergroups.list: {}",
                reply["error"].as_str().unwrap_or("not ok")
            )));
        }
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for group in reply["usergroups"].as_array().into_iter().flatten() {
            let Some(id) = group["id"].as_str() else {
                continue;
            };
            for user in group["users"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                members
                    .entry(user.to_string())
                    .or_default()
                    .push(id.to_string());
            }
        }
        Ok(members)
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

pub fn router(state: Arc<SlackState>) -> Router {
    Router::new()
        .route("/slack/events", post(events))
        .with_state(state)
}

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` under the signing secret.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks the request came from Slack, recently.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(given)) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    ) else {
        return Err(ApiError::unauthorized("missing Slack signature headers"));
    };
    let Ok(at) = ts.parse::<i64>() else {
        return Err(ApiError::unauthorized("bad X-Slack-Request-Timestamp"));
    };
    // abs_diff: a hostile timestamp (i64::MIN) must not overflow.
    if now.abs_diff(at) > MAX_AGE_SECS {
        return Err(ApiError::unauthorized(
            "request timestamp is more than 5 minutes off (replayed?)",
        ));
    }
    if !same_secret(given, &signature(secret, ts, body)) {
        return Err(ApiError::unauthorized("Slack signature does not match"));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Envelope {
    #[serde(rename = "url_verification")]
    UrlVerification { challenge: String },
    #[serde(rename = "event_callback")]
    EventCallback { event_id: String, event: Box<Event> },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    /// Who wrote it: their `slack:<user>` identity decides the acl groups they read.
    #[serde(default)]
    user: Option<String>,
}

/// A question the bot should answer: mentions in channels, and direct messages (not its own).
fn question_of(event: &Event) -> Option<(String, String, String)> {
    let wanted = match event.kind.as_str() {
        "app_mention" => true,
        "message" => {
            event.channel_type.as_deref() == Some("im")
                && event.bot_id.is_none()
                && event.subtype.is_none()
        }
        _ => false,
    };
    if !wanted || event.bot_id.is_some() {
        return None;
    }
    let channel = event.channel.clone()?;
    let ts = event.ts.clone()?;
    let thread = event.thread_ts.clone().unwrap_or(ts);
    let text = strip_mentions(event.text.as_deref().unwrap_or_default());
    (!text.is_empty()).then_some((channel, thread, text))
}

/// Removes `<@U123>` mention tokens.
fn strip_mentions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn events(State(state): State<Arc<SlackState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = verify(&state.secret, &headers, &body, now_secs()) {
        return e.into_response();
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return ApiError::bad_request(format!("not a Slack event: {e}")).into_response(),
    };
    match envelope {
        Envelope::UrlVerification { challenge } => {
            axum::Json(json!({ "challenge": challenge })).into_response()
        }
        Envelope::EventCallback { event_id, event } => {
            if !state.first_time(&event_id) {
                tracing::info!(event_id, "slack retry of a known event: ignored");
                return StatusCode::OK.into_response();
            }
            if let Some((channel, thread, question)) = question_of(&event) {
                let worker = Arc::clone(&state);
                state.tasks.spawn(async move {
                    // Looked up in the task: Slack wants the event acknowledged at once.
                    let access = worker.access_for(event.user.as_deref()).await;
                    worker.answer(channel, thread, question, access).await;
                });
            }
            StatusCode::OK.into_response()
        }
        Envelope::Other => StatusCode::OK.into_response(),
    }
}

impl SlackState {
    /// The front end's groups plus those of the `slack:<user>` identity and of every
    /// `slack-group:<id>` identity whose Slack user group has the user as a member.
    pub async fn access_for(&self, user: Option<&str>) -> Access {
        let (Access::Groups(base), Some(user)) = (&self.access, user) else {
            return self.access.clone();
        };
        let mut groups = self.identities.groups_for(&format!("slack:{user}"), base);
        let by_usergroup = self
            .identities
            .identities
            .keys()
            .any(|k| k.starts_with("slack-group:"));
        if by_usergroup {
            for id in self.usergroups_of(user).await {
                groups = self
                    .identities
                    .groups_for(&format!("slack-group:{id}"), &groups);
            }
        }
        Access::Groups(groups)
    }

    /// The user groups `user` belongs to, from a list read at most every
    /// `slack.usergroups_refresh_secs`. When Slack cannot be read the last list stands; with
    /// none yet, the user gets no group-based access (closed, not open).
    async fn usergroups_of(&self, user: &str) -> Vec<String> {
        let mut cache = self.usergroups.lock().await;
        let stale = cache
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= self.usergroups_refresh);
        if stale {
            match self.api.usergroups().await {
                Ok(members) => *cache = Some((Instant::now(), members)),
                Err(e) => tracing::warn!(error = %e, "cannot read the Slack user groups"),
            }
        }
        cache
            .as_ref()
            .and_then(|(_, members)| members.get(user).cloned())
            .unwrap_or_default()
    }

    async fn answer(&self, channel: String, thread: String, question: String, access: Access) {
        let key = format!("{channel}:{thread}");
        let mut request = AskRequest::new(question.clone(), access);
        request.history = self.memory.history(&key);
        let message = match self
            .answerer
            .answer(request, &Silent, self.cancel.child_token())
            .await
        {
            Ok(answer) => {
                let message = message(&channel, &thread, &answer);
                self.memory.remember(&key, question, &answer);
                message
            }
            Err(e) => {
                tracing::warn!(error = %e, "slack answer failed");
                json!({
                    "channel": channel,
                    "thread_ts": thread,
                    "text": format!("Sorry, I could not answer that: {}", escape(&e.to_string())),
                })
            }
        };
        if let Err(e) = self.api.post_message(&message).await {
            tracing::warn!(error = %e, "slack reply failed");
        }
    }
}

/// Slack's three control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The reply: the answer as mrkdwn, then a sources block, in the question's thread.
pub fn message(channel: &str, thread: &str, answer: &Answer) -> Value {
    let text = escape(answer.answer.trim());
    let sources: Vec<String> = answer
        .citations
        .iter()
        .map(|c| {
            let heading = if c.heading.is_empty() {
                String::new()
            } else {
                format!(" — {}", escape(&c.heading))
            };
            format!(
                "[{}] *{}*{heading} (`{}`)",
                c.n,
                escape(&c.title),
                escape(&c.source)
            )
        })
        .collect();
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": clip(&text, BLOCK_CHARS) },
    })];
    let mut fallback = text.clone();
    if !sources.is_empty() {
        let list = format!("*Sources*\n{}", sources.join("\n"));
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": clip(&list, BLOCK_CHARS) }],
        }));
        fallback = format!("{fallback}\n\n{list}");
    }
    json!({
        "channel": channel,
        "thread_ts": thread,
        "text": clip(&fallback, 39_000),
        "blocks": blocks,
        "unfurl_links": false,
    })
}

/// The app's Slack front end: `[slack]`, users' groups from `[access.identities]`, thread
/// conversations under the data folder, secrets from the environment.
fn state_for(app: &Arc<App>, shutdown: &CancellationToken) -> Result<SlackState, SlackError> {
    let memory = crate::app::conversations_dir(&app.config, "slack");
    let answerer: Arc<dyn Answerer> = Arc::clone(app) as Arc<dyn Answerer>;
    Ok(
        SlackState::from_env(answerer, &app.config.slack, shutdown.child_token())?
            .with_memory_dir(memory)
            .with_identities(app.config.access.clone()),
    )
}

/// Slack's Events API for `skiff serve` to serve beside the web chat, when its signing secret
/// is set (its own signature check); `None` when it is not.
pub fn mount(app: &Arc<App>, shutdown: &CancellationToken) -> Result<Option<Mounted>, SlackError> {
    let secret = std::env::var(&app.config.slack.signing_secret_env).unwrap_or_default();
    if secret.trim().is_empty() {
        return Ok(None);
    }
    let state = Arc::new(state_for(app, shutdown)?);
    eprintln!("skiff serve: Slack events at POST /slack/events");
    Ok(Some(Mounted {
        tasks: Arc::clone(&state.tasks),
        router: router(state),
    }))
}

/// `skiff slack`: the Events API endpoint on `slack.listen` until `shutdown`; answers in
/// progress then get `server.shutdown_grace_secs` to be posted.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) -> Result<(), SlackError> {
    let config = app.config.slack.clone();
    let grace = Duration::from_secs(app.config.server.shutdown_grace_secs);
    let state = Arc::new(state_for(&app, &shutdown)?);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|error| SlackError::Bind {
            addr: config.listen.clone(),
            error,
        })?;
    println!("listening on http://{}", listener.local_addr()?);
    eprintln!("skiff slack: Events API at POST /slack/events ; Ctrl-C to stop");
    let signal = shutdown.clone();
    axum::serve(listener, router(Arc::clone(&state)))
        .with_graceful_shutdown(async move { signal.cancelled().await })
        .await?;
    eprintln!(
        "skiff slack: stopping; answers in progress get {}s",
        grace.as_secs()
    );
    state.tasks.wait(grace).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, ts: i64, body: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-request-timestamp", ts.to_string().parse().unwrap());
        h.insert(
            "x-slack-signature",
            signature(secret, &ts.to_string(), body.as_bytes())
                .parse()
                .unwrap(),
        );
        h
    }

    #[test]
    fn signature_matches_slacks_documented_example() {
        // From Slack's "Verifying requests from Slack" guide.
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            signature(
                "8f742231b10e8888abcd99yyyzzz85a5",
                "1531420618",
                body.as_bytes()
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn forged_stale_and_unsigned_requests_are_refused() {
        let now = 1_700_000_000;
        let body = r#"{"type":"url_verification","challenge":"c"}"#;
        assert!(verify("s3cret", &signed("s3cret", now, body), body.as_bytes(), now).is_ok());
        let forged = verify("s3cret", &signed("other", now, body), body.as_bytes(), now);
        assert_eq!(forged.unwrap_err().status, StatusCode::UNAUTHORIZED);
        let tampered = verify("s3cret", &signed("s3cret", now, body), b"{}", now);
        assert!(tampered.is_err());
        let stale = verify(
            "s3cret",
            &signed("s3cret", now - 301, body),
            body.as_bytes(),
            now,
        );
        assert!(stale.unwrap_err().message.contains("5 minutes"));
        assert!(verify("s3cret", &HeaderMap::new(), body.as_bytes(), now).is_err());
    }

    #[test]
    fn questions_are_mentions_and_direct_messages_in_their_thread() {
        let event = |v: Value| serde_json::from_value::<Event>(v).unwrap();
        let (ch, thread, q) = question_of(&event(json!({
            "type": "app_mention", "channel": "C1", "ts": "1.5",
            "text": "<@U0BOT> How much does the Orbit 4 weigh?"
        })))
        .unwrap();
        assert_eq!((ch.as_str(), thread.as_str()), ("C1", "1.5"));
        assert_eq!(q, "How much does the Orbit 4 weigh?");
        let (_, thread, _) = question_of(&event(json!({
            "type": "app_mention", "channel": "C1", "ts": "2.0", "thread_ts": "1.5", "text": "<@U0BOT> and the Orbit 3?"
        })))
        .unwrap();
        assert_eq!(thread, "1.5", "follow-ups stay in the thread");
        assert!(question_of(&event(json!({
            "type": "message", "channel_type": "im", "channel": "D1", "ts": "3.0", "text": "hi there"
        })))
        .is_some());
        for ignored in [
            json!({ "type": "message", "channel_type": "channel", "channel": "C1", "ts": "1", "text": "chatter" }),
            json!({ "type": "message", "channel_type": "im", "channel": "D1", "ts": "1", "text": "x", "bot_id": "B1" }),
            json!({ "type": "message", "channel_type": "im", "channel": "D1", "ts": "1", "text": "x", "subtype": "message_changed" }),
            json!({ "type": "app_mention", "channel": "C1", "ts": "1", "text": "<@U0BOT>" }),
        ] {
            assert!(question_of(&event(ignored.clone())).is_none(), "{ignored}");
        }
    }

    #[test]
    fn replies_escape_text_and_list_sources() {
        let answer = Answer {
            question: "q".into(),
            answer: "Use <b> & stay [1].".into(),
            answered: true,
            citations: vec![crate::agent::synthesize::Citation {
                n: 1,
                source: "howto/vpn.md".into(),
                heading: "Setup".into(),
                title: "VPN".into(),
                text: "passage".into(),
            }],
            route: crate::agent::router::Route {
                kind: crate::agent::router::RouteKind::Direct,
                reason: "test".into(),
            },
            plan: crate::agent::PlanReport {
                source: crate::agent::PlanSource::Router,
                steps: vec![],
                problems: vec![],
            },
            steps: vec![],
            ledger: Default::default(),
            notes: vec![],
        };
        let m = message("C1", "1.5", &answer);
        assert_eq!(m["thread_ts"], "1.5");
        assert_eq!(
            m["blocks"][0]["text"]["text"],
            "Use &lt;b&gt; &amp; stay [1]."
        );
        let sources = m["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(sources, "*Sources*\n[1] *VPN* — Setup (`howto/vpn.md`)");
        assert!(m["text"].as_str().unwrap().contains("howto/vpn.md"));
    }

    #[test]
    fn mentions_are_stripped() {
        assert_eq!(strip_mentions("<@U1> hi <@U2|bob>  there"), "hi there");
        assert_eq!(strip_mentions("broken <@U1"), "broken <@U1");
    }

    #[tokio::test]
    async fn each_user_reads_their_identitys_groups() {
        use crate::frontends::Never;
        let config = SlackConfig {
            groups: vec!["staff".into()],
            ..SlackConfig::default()
        };
        let mut ids = AccessConfig::default();
        ids.identities.insert("slack:U42".into(), vec!["hr".into()]);
        let s = SlackState::new(
            Arc::new(Never),
            &config,
            "secret".into(),
            "xoxb".into(),
            CancellationToken::new(),
        )
        .unwrap()
        .with_identities(ids);
        let groups = |g: &[&str]| Access::Groups(g.iter().map(|s| s.to_string()).collect());
        assert_eq!(s.access_for(Some("U42")).await, groups(&["staff", "hr"]));
        assert_eq!(s.access_for(Some("U7")).await, groups(&["staff"]));
        assert_eq!(s.access_for(None).await, groups(&["staff"]));
        let e: Event = serde_json::from_value(json!({
            "type": "app_mention", "channel": "C1", "ts": "1.2", "user": "U42", "text": "<@B> hi"
        }))
        .unwrap();
        assert_eq!(e.user.as_deref(), Some("U42"));
    }

    /// A Web API stub on loopback serving `usergroups.list`; counts the calls, and answers
    /// `ok: false` once `fail` is set.
    async fn usergroups_stub(
        fail: Arc<std::sync::atomic::AtomicBool>,
        calls: Arc<std::sync::atomic::AtomicUsize>,
    ) -> String {
        use std::sync::atomic::Ordering;
        let app = Router::new().route(
            "/usergroups.list",
            axum::routing::get(move |headers: HeaderMap| {
                let (fail, calls) = (Arc::clone(&fail), Arc::clone(&calls));
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let authed = headers.get("authorization").and_then(|v| v.to_str().ok())
                        == Some("Bearer xoxb-test");
                    if fail.load(Ordering::SeqCst) || !authed {
                        return axum::Json(json!({"ok": false, "error": "missing_scope"}));
                    }
                    axum::Json(json!({"ok": true, "usergroups": [
                        {"id": "S1", "handle": "people-team", "users": ["U7", "U8"]},
                        {"id": "S2", "handle": "finance", "users": ["U8"]},
                        {"id": "S3", "handle": "no-members"}
                    ]}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn slack_user_groups_grant_their_identitys_groups_and_fail_closed() {
        use crate::frontends::Never;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let fail = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let state = |api_url: String, refresh: u64| {
            let config = SlackConfig {
                api_url,
                usergroups_refresh_secs: refresh,
                ..SlackConfig::default()
            };
            let mut ids = AccessConfig::default();
            ids.identities
                .insert("slack-group:S1".into(), vec!["hr".into()]);
            ids.identities
                .insert("slack-group:S2".into(), vec!["finance".into()]);
            ids.identities
                .insert("slack:U8".into(), vec!["exec".into()]);
            SlackState::new(
                Arc::new(Never),
                &config,
                "secret".into(),
                "xoxb-test".into(),
                CancellationToken::new(),
            )
            .unwrap()
            .with_identities(ids)
        };
        let groups = |g: &[&str]| Access::Groups(g.iter().map(|s| s.to_string()).collect());
        let api = usergroups_stub(Arc::clone(&fail), Arc::clone(&calls)).await;
        let s = state(api.clone(), 300);
        assert_eq!(s.access_for(Some("U7")).await, groups(&["hr"]));
        assert_eq!(
            s.access_for(Some("U8")).await,
            groups(&["exec", "hr", "finance"])
        );
        assert_eq!(s.access_for(Some("U9")).await, groups(&[]));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the list is read once per refresh"
        );
        // Slack failing after a good read: the last list stands.
        let s = state(api.clone(), 0);
        assert_eq!(s.access_for(Some("U7")).await, groups(&["hr"]));
        fail.store(true, Ordering::SeqCst);
        assert_eq!(s.access_for(Some("U7")).await, groups(&["hr"]));
        // Never read: nobody gets group-based access.
        let s = state(api, 300);
        assert_eq!(s.access_for(Some("U7")).await, groups(&[]));
        // Nobody configured by user group: Slack is not asked at all.
        let before = calls.load(Ordering::SeqCst);
        let plain = SlackState::new(
            Arc::new(Never),
            &SlackConfig::default(),
            "secret".into(),
            "xoxb-test".into(),
            CancellationToken::new(),
        )
        .unwrap();
        assert_eq!(plain.access_for(Some("U7")).await, groups(&[]));
        assert_eq!(calls.load(Ordering::SeqCst), before);
    }
}
