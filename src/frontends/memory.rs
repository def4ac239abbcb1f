//! Per-conversation memory for the chat bots: the last turns and sources of each conversation
//! (a Telegram chat, a Slack thread), bounded in turns and conversations, forgotten when idle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::agent::Turn;
use crate::agent::synthesize::Citation;

/// Turns kept per conversation (the agent reads `agent.history_turns` of them).
const MAX_TURNS: usize = 10;
/// Conversations kept; the longest idle is forgotten first.
const MAX_CONVERSATIONS: usize = 10_000;
/// A conversation idle this long starts afresh.
const IDLE: Duration = Duration::from_secs(24 * 3600);

#[derive(Default)]
pub struct Conversations {
    inner: Mutex<HashMap<String, Conversation>>,
}

struct Conversation {
    turns: Vec<Turn>,
    sources: Vec<Citation>,
    at: Instant,
}

impl Conversations {
    pub fn history(&self, key: &str) -> Vec<Turn> {
        let Ok(map) = self.inner.lock() else {
            return Vec::new();
        };
        map.get(key)
            .filter(|c| c.at.elapsed() < IDLE)
            .map(|c| c.turns.clone())
            .unwrap_or_default()
    }

    /// The sources of the conversation's last answer.
    pub fn last_sources(&self, key: &str) -> Vec<Citation> {
        let Ok(map) = self.inner.lock() else {
            return Vec::new();
        };
        map.get(key).map(|c| c.sources.clone()).unwrap_or_default()
    }

    pub fn push(&self, key: &str, turn: Turn, sources: Vec<Citation>) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        if map.len() >= MAX_CONVERSATIONS && !map.contains_key(key) {
            map.retain(|_, c| c.at.elapsed() < IDLE);
            if map.len() >= MAX_CONVERSATIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let c = map.entry(key.to_string()).or_insert(Conversation {
            turns: Vec::new(),
            sources: Vec::new(),
            at: Instant::now(),
        });
        if c.at.elapsed() >= IDLE {
            c.turns.clear();
        }
        c.turns.push(turn);
        if c.turns.len() > MAX_TURNS {
            c.turns.remove(0);
        }
        c.sources = sources;
        c.at = Instant::now();
    }

    /// Records a question and its answer (text and sources) as the conversation's latest turn.
    pub fn remember(&self, key: &str, question: String, answer: &crate::agent::Answer) {
        let turn = Turn {
            question,
            answer: answer.answer.clone(),
        };
        self.push(key, turn, answer.citations.clone());
    }

    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(q: &str) -> Turn {
        Turn {
            question: q.into(),
            answer: format!("answer to {q}"),
        }
    }

    #[test]
    fn remembers_per_conversation_bounded_and_resets() {
        let m = Conversations::default();
        for i in 0..12 {
            m.push("a", turn(&format!("q{i}")), Vec::new());
        }
        m.push("b", turn("other"), Vec::new());
        let a = m.history("a");
        assert_eq!(a.len(), MAX_TURNS);
        assert_eq!(a[0].question, "q2");
        assert_eq!(m.history("b").len(), 1);
        m.reset("a");
        assert!(m.history("a").is_empty());
        assert_eq!(m.history("b").len(), 1);
        assert!(m.history("never").is_empty());
    }
}
