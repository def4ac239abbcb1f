//! Telegram: `skiff telegram`, a long-polling bot (teloxide) over the same agent as `skiff ask`.
//! Only allowlisted users (or members of allowlisted group chats) get answers; anyone else gets
//! one polite refusal and nothing more. Private messages are questions; in groups only
//! mentions, replies to the bot and commands are. Each chat has its own memory (/reset).

pub mod format;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide::dispatching::UpdateHandler;
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{
    ChatAction, LinkPreviewOptions, Me, MessageEntityKind, ParseMode, ReplyParameters,
};
use teloxide::update_listeners::Polling;
use tokio_util::sync::CancellationToken;

use super::memory::Conversations;
use super::tasks::Tasks;
use super::{Context, ModelLoadError};
use crate::agent::{Answerer, AskRequest, Silent};
use crate::config::{AccessConfig, TelegramConfig};
use crate::providers::store::Access;

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("telegram: environment variable {0} (telegram.token_env) is not set")]
    MissingToken(String),
    #[error("telegram.api_url = {0}: not a URL")]
    BadUrl(String),
    #[error("telegram: {0}")]
    Api(String),
    #[error(transparent)]
    Model(#[from] ModelLoadError),
}

const HELP: &str = "Ask me about the company wiki and I answer with numbered sources.\n\
/ask QUESTION — ask (in groups, or just mention me)\n\
/sources — the last answer's sources in full\n\
/reset — forget this conversation\n\
/help — this text";

const REFUSAL: &str = "Sorry, I only answer for people my operators have allowed. \
Ask them to add your Telegram user id";

pub struct TelegramState {
    answerer: Arc<dyn Answerer>,
    access: Access,
    identities: AccessConfig,
    allow_users: HashSet<u64>,
    allow_chats: HashSet<i64>,
    refused: Mutex<HashSet<u64>>,
    memory: Conversations,
    tasks: Tasks,
    cancel: CancellationToken,
    message_chars: usize,
}

impl TelegramState {
    /// `identities` is `[access.identities]` (keys `telegram:<user id>` give a user acl groups
    /// beyond `telegram.groups`); a required argument so no caller can leave it out.
    pub fn new(
        answerer: Arc<dyn Answerer>,
        config: &TelegramConfig,
        identities: AccessConfig,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            answerer,
            access: Access::Groups(config.groups.clone()),
            identities,
            allow_users: config.allow_users.iter().map(|u| *u as u64).collect(),
            allow_chats: config.allow_chats.iter().copied().collect(),
            refused: Mutex::new(HashSet::new()),
            memory: Conversations::default(),
            tasks: Tasks::default(),
            cancel,
            message_chars: config.message_chars.clamp(64, format::LIMIT),
        }
    }

    /// The front end's groups plus those of the `telegram:<user id>` identity.
    pub fn access_for(&self, user: Option<u64>) -> Access {
        match (&self.access, user) {
            (Access::Groups(base), Some(user)) => Access::Groups(
                self.identities
                    .groups_for(&format!("telegram:{user}"), base),
            ),
            (access, _) => access.clone(),
        }
    }

    /// Keeps conversations in `dir` too (they survive restarts).
    pub fn with_memory_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.memory = Conversations::persistent(dir);
        self
    }

    fn allowed(&self, user: Option<u64>, chat: i64) -> bool {
        user.is_some_and(|u| self.allow_users.contains(&u)) || self.allow_chats.contains(&chat)
    }

    /// True the first time this user is refused.
    fn first_refusal(&self, user: u64) -> bool {
        self.refused
            .lock()
            .map(|mut r| r.insert(user))
            .unwrap_or(false)
    }
}

/// What a message asks of the bot.
#[derive(Debug, PartialEq)]
pub enum Intent {
    Help,
    Sources,
    Reset,
    Ask(String),
    /// Not addressed to the bot (group chatter), or nothing to do.
    Ignore,
}

/// Reads a message: commands anywhere (`/ask@bot q` too), plain text in private chats, and in
/// groups only text that mentions the bot or replies to it.
pub fn intent(msg: &Message, me: &Me) -> Intent {
    let Some(text) = msg.text() else {
        return Intent::Ignore;
    };
    let text = text.trim();
    if let Some(command) = text.strip_prefix('/') {
        let (word, rest) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        let (name, target) = word.split_once('@').unwrap_or((word, ""));
        if !target.is_empty() && !target.eq_ignore_ascii_case(me.username()) {
            return Intent::Ignore;
        }
        return match name.to_ascii_lowercase().as_str() {
            "start" | "help" => Intent::Help,
            "sources" => Intent::Sources,
            "reset" => Intent::Reset,
            "ask" if rest.trim().is_empty() => Intent::Help,
            "ask" => Intent::Ask(rest.trim().to_string()),
            _ => Intent::Help,
        };
    }
    let mention = me.mention();
    let mentioned = msg.parse_entities().unwrap_or_default().iter().any(|e| {
        matches!(e.kind(), MessageEntityKind::Mention) && e.text().eq_ignore_ascii_case(&mention)
    });
    let replied_to_me = msg
        .reply_to_message()
        .and_then(|m| m.from.as_ref())
        .is_some_and(|u| u.id == me.id);
    if !msg.chat.is_private() && !mentioned && !replied_to_me {
        return Intent::Ignore;
    }
    let question = remove_ignore_case(text, &mention);
    if question.is_empty() {
        Intent::Help
    } else {
        Intent::Ask(question)
    }
}

fn remove_ignore_case(text: &str, needle: &str) -> String {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    let mut out = String::new();
    let mut at = 0;
    if !needle.is_empty() && lower.len() == text.len() {
        while let Some(i) = lower[at..].find(&needle) {
            out.push_str(&text[at..at + i]);
            at += i + needle.len();
        }
    }
    out.push_str(&text[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn send(
    bot: &Bot,
    msg: &Message,
    text: String,
    markdown: bool,
    chars: usize,
) -> Result<(), teloxide::RequestError> {
    for (i, part) in format::split(&text, chars).into_iter().enumerate() {
        let mut request =
            bot.send_message(msg.chat.id, part)
                .link_preview_options(LinkPreviewOptions {
                    is_disabled: true,
                    url: None,
                    prefer_small_media: false,
                    prefer_large_media: false,
                    show_above_text: false,
                });
        if markdown {
            request = request.parse_mode(ParseMode::MarkdownV2);
        }
        if i == 0 {
            request = request
                .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply());
        }
        if msg.is_topic_message
            && let Some(thread) = msg.thread_id
        {
            request = request.message_thread_id(thread);
        }
        request.await?;
    }
    Ok(())
}

async fn on_message(
    bot: Bot,
    me: Me,
    msg: Message,
    state: Arc<TelegramState>,
) -> Result<(), HandlerError> {
    let intent = intent(&msg, &me);
    if intent == Intent::Ignore {
        return Ok(());
    }
    let user = msg.from.as_ref().map(|u| u.id.0);
    if !state.allowed(user, msg.chat.id.0) {
        if let Some(user) = user
            && state.first_refusal(user)
        {
            let text = format::escape(&format!("{REFUSAL} ({user})."));
            send(&bot, &msg, text, true, state.message_chars).await?;
        }
        return Ok(());
    }
    let key = msg.chat.id.0.to_string();
    match intent {
        Intent::Help | Intent::Ignore => {
            send(&bot, &msg, format::escape(HELP), true, state.message_chars).await?;
        }
        Intent::Reset => {
            state.memory.reset(&key);
            let text = format::escape("Conversation forgotten.");
            send(&bot, &msg, text, true, state.message_chars).await?;
        }
        Intent::Sources => {
            let text = format::sources(&state.memory.last_sources(&key));
            send(&bot, &msg, text, true, state.message_chars).await?;
        }
        Intent::Ask(question) => {
            // Answers take a while: off the dispatcher, so other chats (and this chat's
            // commands) go on meanwhile.
            let worker = Arc::clone(&state);
            state.tasks.spawn(async move {
                if let Err(e) = worker.answer(&bot, &msg, key, question).await {
                    tracing::warn!(error = %e, "telegram reply failed");
                }
            });
        }
    }
    Ok(())
}

impl TelegramState {
    async fn answer(
        &self,
        bot: &Bot,
        msg: &Message,
        key: String,
        question: String,
    ) -> Result<(), teloxide::RequestError> {
        let user = msg.from.as_ref().map(|u| u.id.0);
        let mut request = AskRequest::new(question.clone(), self.access_for(user));
        request.history = self.memory.history(&key);
        let work = self
            .answerer
            .answer(request, &Silent, self.cancel.child_token());
        let mut work = std::pin::pin!(work);
        // "typing…" lasts 5 s on Telegram's side: renew it while the answer is being written.
        let result = loop {
            let _ = bot.send_chat_action(msg.chat.id, ChatAction::Typing).await;
            tokio::select! {
                r = &mut work => break r,
                _ = tokio::time::sleep(Duration::from_secs(4)) => {}
            }
        };
        match result {
            Ok(answer) => {
                let text = format::answer(&answer);
                self.memory.remember(&key, question, &answer);
                if let Err(e) = send(bot, msg, text, true, self.message_chars).await {
                    // A formatting rejection should not lose the answer: send it plain.
                    tracing::warn!(error = %e, "MarkdownV2 reply refused; sending plain text");
                    send(bot, msg, answer.answer, false, self.message_chars).await?;
                }
            }
            Err(e) => {
                let text = format::escape(&format!("Sorry, I could not answer that: {e}"));
                send(bot, msg, text, true, self.message_chars).await?;
            }
        }
        Ok(())
    }
}

/// The Bot API a bot polls for updates: the bot token (from `telegram.token_env`) and
/// `telegram.api_url`.
pub struct BotApi {
    bot: Bot,
    url: String,
}

impl BotApi {
    /// Reads the token from the environment; nothing is sent until [`run`] polls.
    pub fn from_config(config: &TelegramConfig) -> Result<BotApi, TelegramError> {
        let token = std::env::var(&config.token_env)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| TelegramError::MissingToken(config.token_env.clone()))?;
        let url = reqwest::Url::parse(config.api_url.trim_end_matches('/'))
            .map_err(|_| TelegramError::BadUrl(config.api_url.clone()))?;
        Ok(BotApi {
            bot: Bot::new(token).set_api_url(url),
            url: config.api_url.clone(),
        })
    }
}

/// `skiff telegram`: loads the models, polls `api` until `shutdown`, then lets answers in
/// progress finish (bounded by `server.shutdown_grace_secs`).
pub async fn run(
    ctx: Context,
    api: BotApi,
    shutdown: CancellationToken,
) -> Result<(), TelegramError> {
    let config = ctx.config().telegram.clone();
    let grace = ctx.grace();
    if config.allow_users.is_empty() && config.allow_chats.is_empty() {
        eprintln!(
            "skiff telegram: telegram.allow_users and allow_chats are empty: everyone gets the refusal"
        );
    }
    ctx.load_models().await?;
    let state = Arc::new(
        TelegramState::new(
            ctx.answerer(),
            &config,
            ctx.identities(),
            shutdown.child_token(),
        )
        .with_memory_dir(ctx.memory_dir("telegram")),
    );
    let BotApi { bot, url } = api;
    let handler: UpdateHandler<HandlerError> = Update::filter_message().endpoint(on_message);
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![Arc::clone(&state)])
        .default_handler(|_| async {})
        .error_handler(LoggingErrorHandler::with_custom_text(
            "telegram handler error",
        ))
        .build();
    let stop = dispatcher.shutdown_token();
    let listener = Polling::builder(bot)
        .timeout(Duration::from_secs(10))
        .build();
    let mut polling = tokio::spawn(async move {
        dispatcher
            .try_dispatch_with_listener(
                listener,
                LoggingErrorHandler::with_custom_text("telegram polling error"),
            )
            .await
    });
    eprintln!("skiff telegram: polling {url}; Ctrl-C to stop");
    tokio::select! {
        r = &mut polling => {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(TelegramError::Api(format!("getMe failed: {e}"))),
                Err(e) => return Err(TelegramError::Api(e.to_string())),
            }
        }
        _ = shutdown.cancelled() => {
            match stop.shutdown() {
                Ok(done) => {
                    if tokio::time::timeout(Duration::from_secs(20), done).await.is_err() {
                        polling.abort();
                    }
                }
                Err(_) => polling.abort(),
            }
        }
    }
    eprintln!(
        "skiff telegram: stopping; {} answer(s) in progress get {}s",
        state.tasks.running(),
        grace.as_secs()
    );
    state.tasks.wait(grace).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> Me {
        serde_json::from_value(json!({
            "id": 777, "is_bot": true, "first_name": "Skiff", "username": "skiff_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        }))
        .unwrap()
    }

    fn message(chat: serde_json::Value, text: &str, extra: serde_json::Value) -> Message {
        let mut m = json!({
            "message_id": 10, "date": 1_700_000_000, "chat": chat,
            "from": { "id": 42, "is_bot": false, "first_name": "Ann" }, "text": text,
        });
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(m).unwrap()
    }

    fn private(text: &str) -> Message {
        message(
            json!({ "id": 42, "type": "private", "first_name": "Ann" }),
            text,
            json!({}),
        )
    }

    fn group(text: &str, extra: serde_json::Value) -> Message {
        message(
            json!({ "id": -100, "type": "supergroup", "title": "G" }),
            text,
            extra,
        )
    }

    #[test]
    fn private_text_is_a_question_and_commands_are_understood() {
        let me = me();
        assert_eq!(
            intent(&private("How heavy is the Orbit 4?"), &me),
            Intent::Ask("How heavy is the Orbit 4?".into())
        );
        assert_eq!(intent(&private("/start"), &me), Intent::Help);
        assert_eq!(intent(&private("/help"), &me), Intent::Help);
        assert_eq!(intent(&private("/sources"), &me), Intent::Sources);
        assert_eq!(intent(&private("/reset"), &me), Intent::Reset);
        assert_eq!(
            intent(&private("/ask What is the VPN port?"), &me),
            Intent::Ask("What is the VPN port?".into())
        );
        assert_eq!(
            intent(&private("/ask@skiff_bot vpn?"), &me),
            Intent::Ask("vpn?".into())
        );
        assert_eq!(intent(&private("/ask@other_bot vpn?"), &me), Intent::Ignore);
        assert_eq!(intent(&private("/ask"), &me), Intent::Help);
    }

    #[test]
    fn in_groups_only_mentions_replies_and_commands_count() {
        let me = me();
        assert_eq!(
            intent(&group("lunch anyone?", json!({})), &me),
            Intent::Ignore
        );
        let mention = group(
            "@skiff_bot who runs SRE?",
            json!({ "entities": [{ "type": "mention", "offset": 0, "length": 10 }] }),
        );
        assert_eq!(intent(&mention, &me), Intent::Ask("who runs SRE?".into()));
        let reply = group(
            "and the Orbit 3?",
            json!({ "reply_to_message": {
                "message_id": 9, "date": 1_700_000_000,
                "chat": { "id": -100, "type": "supergroup", "title": "G" },
                "from": { "id": 777, "is_bot": true, "first_name": "Skiff", "username": "skiff_bot" },
                "text": "The Orbit 4 weighs 1,210 g."
            }}),
        );
        assert_eq!(intent(&reply, &me), Intent::Ask("and the Orbit 3?".into()));
        assert_eq!(
            intent(&group("/ask vpn port?", json!({})), &me),
            Intent::Ask("vpn port?".into())
        );
    }

    #[test]
    fn allowlist_by_user_or_chat_and_one_refusal_per_user() {
        use crate::frontends::Never;
        let config = TelegramConfig {
            allow_users: vec![42],
            allow_chats: vec![-100],
            ..TelegramConfig::default()
        };
        let s = TelegramState::new(
            Arc::new(Never),
            &config,
            AccessConfig::default(),
            CancellationToken::new(),
        );
        assert!(s.allowed(Some(42), 42));
        assert!(s.allowed(Some(7), -100), "members of an allowed group");
        assert!(!s.allowed(Some(7), 7));
        assert!(!s.allowed(None, 7));
        assert!(s.first_refusal(7));
        assert!(!s.first_refusal(7));

        // Each user reads the bot's groups plus their identity's.
        let config = TelegramConfig {
            groups: vec!["staff".into()],
            ..config
        };
        let mut ids = crate::config::AccessConfig::default();
        ids.identities
            .insert("telegram:42".into(), vec!["hr".into()]);
        let s = TelegramState::new(Arc::new(Never), &config, ids, CancellationToken::new());
        let groups = |g: &[&str]| Access::Groups(g.iter().map(|s| s.to_string()).collect());
        assert_eq!(s.access_for(Some(42)), groups(&["staff", "hr"]));
        assert_eq!(s.access_for(Some(7)), groups(&["staff"]));
        assert_eq!(s.access_for(None), groups(&["staff"]));
    }
}
