//! Answers as Slack messages: mrkdwn escaped, sources as a context block.

use serde_json::{Value, json};

use crate::agent::Answer;
use crate::tools::step::clip;

/// Slack's limit for one section block's text.
const BLOCK_CHARS: usize = 2900;

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
