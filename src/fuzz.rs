//! Property-based fuzzing (proptest) of everything that reads untrusted input: the loaders
//! (Markdown with front matter, HTML, text), the chunker, config parsing, plan validation and the
//! Slack signature check. Seeds come from the sample wiki; inputs are wiki pages with random
//! edits and arbitrary text. A failure is shrunk and saved by proptest under
//! `proptest-regressions/` (kept in git, replayed first on every run).
//!
//! `cargo test` runs each target with proptest's default case count; `scripts/fuzz.sh` runs them
//! longer (PROPTEST_CASES) within a time bound.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;

use crate::agent::plan::{Plan, Step, validate};
use crate::frontends::slack::{signature, verify};
use crate::ingest::chunker::{ChunkLimits, TokenCounter, chunk_document};
use crate::ingest::loader::{Format, load};

/// The sample wiki's pages: realistic seeds to mutate.
fn seeds() -> &'static Vec<(String, Format)> {
    static SEEDS: OnceLock<Vec<(String, Format)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
            let path = entry.path();
            if let (Some(format), Ok(text)) = (Format::of(path), std::fs::read_to_string(path)) {
                out.push((text, format));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    })
}

/// Snippets that tend to break parsers: front matter fences, tags, tables, odd whitespace.
const SHARDS: &[&str] = &[
    "---\n",
    "---",
    "\n---\ntitle: [\n---\n",
    "acl: [hr",
    "acl: hr\n",
    "tags: {a: b}\n",
    "# ",
    "\n## ",
    "######## x\n",
    "| a | b |\n|---|---|\n| 1 |\n",
    "```\n",
    "~~~",
    "<h1>",
    "</h1>",
    "<table><tr><td>",
    "<script>alert(1)</script>",
    "<!--",
    "&amp;&#x0;",
    "\u{feff}",
    "\r\n",
    "\t",
    "\u{202e}",
    "é",
    "🚀",
    "\\",
    "\"",
    "'",
    "<",
    ">",
    "[x](y)",
    "![i](j)",
    "    code\n",
    "> quote\n",
    "- item\n",
    "1. item\n",
    "\n\n\n",
];

/// A seed page with a few random edits (insert a shard, cut a range, duplicate a range).
fn mutated_page() -> impl Strategy<Value = (String, Format)> {
    let n = seeds().len().max(1);
    (
        0..n,
        prop::collection::vec((any::<u16>(), 0..SHARDS.len(), 0u8..3), 0..8),
    )
        .prop_map(|(i, edits)| {
            let (text, format) = seeds()
                .get(i)
                .cloned()
                .unwrap_or_else(|| ("# x\n".to_string(), Format::Markdown));
            let mut chars: Vec<char> = text.chars().collect();
            for (at, shard, op) in edits {
                let pos = if chars.is_empty() {
                    0
                } else {
                    at as usize % (chars.len() + 1)
                };
                match op {
                    0 => {
                        let s: Vec<char> = SHARDS[shard].chars().collect();
                        chars.splice(pos..pos, s);
                    }
                    1 => {
                        let end = (pos + shard * 7).min(chars.len());
                        chars.drain(pos..end);
                    }
                    _ => {
                        let end = (pos + shard * 5).min(chars.len());
                        let copy: Vec<char> = chars[pos..end].to_vec();
                        chars.splice(pos..pos, copy);
                    }
                }
            }
            (chars.into_iter().collect(), format)
        })
}

fn any_format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Markdown),
        Just(Format::Html),
        Just(Format::Text)
    ]
}

struct Words;

impl TokenCounter for Words {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

proptest! {
    /// Any bytes, any format: a document or a clean error, never a panic.
    #[test]
    fn loaders_take_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048), format in any_format()) {
        let _ = load(&bytes, format, "page");
    }

    /// Any text (valid UTF-8, so the parsers themselves run), shards of markup mixed in.
    #[test]
    fn loaders_take_arbitrary_text(
        parts in prop::collection::vec(prop_oneof!["\\PC{0,40}", prop::sample::select(SHARDS).prop_map(str::to_string)], 0..40),
        format in any_format(),
    ) {
        let text = parts.concat();
        if let Ok(doc) = load(text.as_bytes(), format, "page") {
            prop_assert!(doc.sections.iter().any(|s| !s.blocks.is_empty()));
        }
    }

    /// Mutated real pages: loaded documents are well formed, and chunking them respects the
    /// limits, numbers chunks in order and loses no words of the document.
    #[test]
    fn mutated_pages_load_and_chunk_within_limits(
        (text, format) in mutated_page(),
        max in 32usize..300,
        overlap in 0usize..32,
    ) {
        let Ok(doc) = load(text.as_bytes(), format, "page") else { return Ok(()) };
        prop_assert!(!doc.title.trim().is_empty() || doc.title.is_empty());
        for g in &doc.acl {
            prop_assert!(!g.trim().is_empty(), "empty acl group from {text:?}");
        }
        let limits = ChunkLimits { max_tokens: max, overlap_tokens: overlap.min(max / 2) };
        let chunks = chunk_document(&doc, limits, &Words);
        for (i, c) in chunks.iter().enumerate() {
            prop_assert_eq!(c.index, i);
            prop_assert!(!c.text.trim().is_empty(), "empty chunk");
            let budget = max.saturating_sub(Words.count(&c.heading()) + 1).max(16);
            prop_assert!(
                Words.count(&c.text) <= budget,
                "chunk of {} words over the budget {budget}", Words.count(&c.text)
            );
        }
        let chunked: std::collections::HashSet<&str> =
            chunks.iter().flat_map(|c| c.text.split_whitespace()).collect();
        for section in &doc.sections {
            for block in &section.blocks {
                for word in block.text.split_whitespace() {
                    prop_assert!(chunked.contains(word), "lost word {word:?}");
                }
            }
        }
    }

    /// Config files of random keys and values: a config or an error naming something.
    #[test]
    fn config_parsing_never_panics(
        section in prop::sample::select(vec!["store", "store.qdrant", "models", "embed", "ingest",
            "search", "roles", "agent", "costs", "server", "telegram", "slack", "access",
            "access.identities", "nope"]),
        key in "[a-z_]{1,16}",
        value in prop_oneof![
            Just("1".to_string()), Just("-1".to_string()), Just("0".to_string()),
            Just("true".to_string()), Just("\"\"".to_string()), Just("[]".to_string()),
            Just("[\"a\", 1]".to_string()), Just("{}".to_string()), Just("1e999".to_string()),
            Just("18446744073709551616".to_string()), "\"[ -~]{0,12}\"",
        ],
        junk in "[ -~\n]{0,40}",
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("config.toml");
        for text in [format!("[{section}]\n{key} = {value}\n"), junk.clone()] {
            std::fs::write(&path, &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Err(e) = crate::config::Config::load(&path, true, Vec::new()) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
        let env = vec![(format!("SKIFF__{}__{}", section.to_uppercase(), key.to_uppercase()), value)];
        let _ = crate::config::Config::load(&dir.path().join("missing.toml"), false, env);
    }

    /// Plans as a model might write them: valid ones come out acyclic and bounded, with known
    /// tools; everything else is a PlanError, never a panic.
    #[test]
    fn plan_validation_never_panics(
        steps in prop::collection::vec((
            "[a-z0-9.]{0,4}",
            prop::sample::select(vec!["search", "extract", "compare", "calculate", "shell", ""]),
            prop_oneof![
                Just(serde_json::json!({"query": "battery"})),
                Just(serde_json::json!({"passages": "$s1", "fields": [{"name": "price", "kind": "money", "unit": "USD"}]})),
                Just(serde_json::json!({"left": "$s1", "right": "$s2"})),
                Just(serde_json::json!({"expression": "$s1.price - 2"})),
                Just(serde_json::json!(null)),
                Just(serde_json::json!({"query": 7})),
                "[ -~]{0,20}".prop_map(serde_json::Value::String),
            ],
            prop::collection::vec("[a-z0-9]{0,3}", 0..3),
        ), 0..10),
        max_steps in 0usize..10,
    ) {
        let plan = Plan {
            steps: steps
                .into_iter()
                .map(|(id, tool, args, depends_on)| Step { id, tool: tool.to_string(), args, depends_on })
                .collect(),
        };
        if let Ok(valid) = validate(&plan, max_steps) {
            prop_assert!(!valid.steps.is_empty() && valid.steps.len() <= max_steps);
            // Dependencies point backwards: the plan is a DAG in order.
            for (i, s) in valid.steps.iter().enumerate() {
                for d in &s.depends_on {
                    let j = valid.steps.iter().position(|t| &t.id == d);
                    prop_assert!(j.is_some_and(|j| j < i), "{} depends on {d}", s.id);
                }
            }
        }
    }

    /// The signature check: the right signature over any body passes, any change fails, and
    /// hostile headers (huge, negative, non-numeric timestamps) are refusals, not panics.
    #[test]
    fn slack_signature_check(
        secret in "[a-z0-9]{1,32}",
        body in prop::collection::vec(any::<u8>(), 0..512),
        ts in prop_oneof![any::<i64>().prop_map(|t| t.to_string()), "[ -~]{0,20}"],
        flip in any::<prop::sample::Index>(),
        now in any::<i64>(),
    ) {
        use axum::http::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        let good = signature(&secret, &ts, &body);
        if let (Ok(t), Ok(s)) = (HeaderValue::from_str(&ts), HeaderValue::from_str(&good)) {
            headers.insert("x-slack-request-timestamp", t);
            headers.insert("x-slack-signature", s);
        }
        let result = verify(&secret, &headers, &body, now);
        let fresh = ts.parse::<i64>().is_ok_and(|t| t.abs_diff(now) <= 300);
        prop_assert_eq!(result.is_ok(), fresh && headers.len() == 2);
        if fresh && !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            prop_assert!(verify(&secret, &headers, &tampered, now).is_err());
        }
    }
}
