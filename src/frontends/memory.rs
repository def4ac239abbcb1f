//! Per-conversation memory for the chat bots: the last turns and sources of each conversation
//! (a Telegram chat, a Slack thread), bounded in turns and conversations, forgotten when idle.
//! With a folder ([`Conversations::persistent`]) every conversation is also a JSON file there,
//! replaced atomically after each turn: a restart (or a kill -9) resumes conversations, and
//! several replicas sharing the folder share them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Where conversations are kept across restarts (None = memory only).
    dir: Option<PathBuf>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Conversation {
    key: String,
    turns: Vec<Turn>,
    sources: Vec<Citation>,
    /// Last turn, seconds since the Unix epoch.
    at: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Conversation {
    fn idle(&self) -> bool {
        now().saturating_sub(self.at) >= IDLE.as_secs()
    }
}

impl Conversations {
    /// Memory that also lives in `dir` (created on first write), one file per conversation.
    pub fn persistent(dir: PathBuf) -> Self {
        Self {
            inner: Mutex::default(),
            dir: Some(dir),
        }
    }

    fn file(&self, key: &str) -> Option<PathBuf> {
        let digest = Sha256::digest(key.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.as_ref().map(|d| d.join(format!("{name}.json")))
    }

    /// The conversation from memory, else from its file (a restart, another replica).
    fn load(&self, map: &mut HashMap<String, Conversation>, key: &str) {
        if map.contains_key(key) {
            return;
        }
        let Some(path) = self.file(key) else { return };
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        match serde_json::from_slice::<Conversation>(&bytes) {
            Ok(c) if c.key == key => {
                map.insert(key.to_string(), c);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                "{}: unreadable conversation ({e}); starting afresh",
                path.display()
            ),
        }
    }

    fn save(&self, c: &Conversation) {
        let Some(path) = self.file(&c.key) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = path.with_extension("json.tmp");
            let bytes = serde_json::to_vec(c).map_err(std::io::Error::other)?;
            let mut file = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut file, &bytes)?;
            // On disk before it replaces the old file: a crash leaves one or the other whole.
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!("cannot keep the conversation in {}: {e}", path.display());
        }
    }

    pub fn history(&self, key: &str) -> Vec<Turn> {
        let Ok(mut map) = self.inner.lock() else {
            return Vec::new();
        };
        self.load(&mut map, key);
        map.get(key)
            .filter(|c| !c.idle())
            .map(|c| c.turns.clone())
            .unwrap_or_default()
    }

    /// The sources of the conversation's last answer.
    pub fn last_sources(&self, key: &str) -> Vec<Citation> {
        let Ok(mut map) = self.inner.lock() else {
            return Vec::new();
        };
        self.load(&mut map, key);
        map.get(key).map(|c| c.sources.clone()).unwrap_or_default()
    }

    pub fn push(&self, key: &str, turn: Turn, sources: Vec<Citation>) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        self.load(&mut map, key);
        if map.len() >= MAX_CONVERSATIONS && !map.contains_key(key) {
            map.retain(|_, c| !c.idle());
            if map.len() >= MAX_CONVERSATIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let c = map.entry(key.to_string()).or_insert(Conversation {
            key: key.to_string(),
            turns: Vec::new(),
            sources: Vec::new(),
            at: now(),
        });
        if c.idle() {
            c.turns.clear();
        }
        c.turns.push(turn);
        if c.turns.len() > MAX_TURNS {
            c.turns.remove(0);
        }
        c.sources = sources;
        c.at = now();
        let snapshot = c.clone();
        drop(map);
        self.save(&snapshot);
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
        if let Some(path) = self.file(key)
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot forget {}: {e}", path.display());
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

    #[test]
    fn persistent_memory_survives_a_restart_and_reset_forgets_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let m = Conversations::persistent(dir.path().join("conv"));
        m.push("telegram:42", turn("q1"), Vec::new());
        m.push("telegram:42", turn("q2"), Vec::new());
        m.push("slack:C1:1.2", turn("other"), Vec::new());
        drop(m);
        let files = std::fs::read_dir(dir.path().join("conv")).unwrap().count();
        assert_eq!(files, 2, "one file per conversation, no temporaries left");

        let again = Conversations::persistent(dir.path().join("conv"));
        let h = again.history("telegram:42");
        assert_eq!(
            h.iter().map(|t| t.question.as_str()).collect::<Vec<_>>(),
            ["q1", "q2"]
        );
        again.push("telegram:42", turn("q3"), Vec::new());
        assert_eq!(again.history("telegram:42").len(), 3);
        again.reset("telegram:42");
        assert!(again.history("telegram:42").is_empty());
        let third = Conversations::persistent(dir.path().join("conv"));
        assert!(
            third.history("telegram:42").is_empty(),
            "reset removed the file"
        );
        assert_eq!(third.history("slack:C1:1.2").len(), 1);
    }

    #[test]
    fn a_corrupt_conversation_file_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let m = Conversations::persistent(dir.path().to_path_buf());
        m.push("k", turn("q1"), Vec::new());
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, b"{ half a file").unwrap();
        let m = Conversations::persistent(dir.path().to_path_buf());
        assert!(m.history("k").is_empty());
        m.push("k", turn("q2"), Vec::new());
        assert_eq!(m.history("k").len(), 1);
    }
}
