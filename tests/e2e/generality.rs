//! Nothing in the product is tuned to the sample wiki: its product, company, people and place
//! names (and the seed question's figures and wording) appear in no source file, prompt or
//! tool manifest. skiff is pointed at wikis nobody here has seen; a rule or example that only
//! helps knowledge/ is a defect. Test data under tests/ may use them.

use std::path::{Path, PathBuf};

/// Names and phrases that exist only because of the sample wiki in knowledge/.
const SAMPLE_WIKI_WORDS: &[&str] = &[
    "tern",
    "perch",
    "petrel",
    "skua",
    "gannet",
    "kestrel",
    "heron",
    "austin",
    "portland",
    "tromsø",
    "tromso",
    "norway",
    "oregon",
    "luma",
    "optronics",
    "okafor",
    "lindqvist",
    "wireguard",
    "max_wal_senders",
    "oslo",
];
const SAMPLE_WIKI_PHRASES: &[&str] = &["tern-", "1,299", "1,149", "985 g", "last year's model"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_sample_wiki_word_in_src_prompts_or_tools() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The words really are the sample wiki's (so this test cannot pass by checking nothing).
    let wiki = std::fs::read_to_string(root.join("knowledge/products/lineup.md"))
        .unwrap()
        .to_lowercase();
    assert!(wiki.contains("tern") && wiki.contains("perch"));
    let mut all = Vec::new();
    for dir in ["src", "prompts", "tools"] {
        files(&root.join(dir), &mut all);
    }
    assert!(all.len() > 20, "{} files", all.len());
    let mut found = Vec::new();
    for path in &all {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let words: Vec<&str> = lower
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .collect();
            let hit = SAMPLE_WIKI_WORDS
                .iter()
                .find(|w| words.contains(w))
                .copied()
                .or_else(|| {
                    SAMPLE_WIKI_PHRASES
                        .iter()
                        .find(|p| lower.contains(*p))
                        .copied()
                });
            if let Some(w) = hit {
                found.push(format!("{}:{}: {w:?}", path.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "sample-wiki words in the product:\n{}",
        found.join("\n")
    );
}
