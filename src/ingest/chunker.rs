//! Splits a [`Document`] into chunks along its heading structure, each bounded in tokens of the
//! embedding model's tokenizer (heading path included), with a little overlap inside a section;
//! tables stay whole where they fit and otherwise split by rows with their header repeated.

use super::loader::{BlockKind, Document};

/// Counts tokens the way the embedding model will see them.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the document, from 0: part of the point id.
    pub index: usize,
    pub heading_path: Vec<String>,
    pub text: String,
}

impl Chunk {
    pub fn heading(&self) -> String {
        self.heading_path.join(" > ")
    }

    /// What gets embedded: the heading path gives the passage its context.
    pub fn embedding_text(&self) -> String {
        format!("{}\n{}", self.heading(), self.text)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

/// Raised whenever a change to this module or to the loader changes the chunks of an
/// unchanged file, so the next ingest re-chunks every file (see `ChunkLimits::recipe`).
pub const CHUNKER_VERSION: u32 = 1;

impl ChunkLimits {
    /// What a file's chunks depend on besides its bytes: part of its sync hash.
    pub fn recipe(&self) -> String {
        format!(
            "chunker {CHUNKER_VERSION}, {} tokens, {} overlap",
            self.max_tokens, self.overlap_tokens
        )
    }
}

/// Smallest text budget left for a chunk whatever the heading length.
const MIN_BUDGET: usize = 16;

pub fn chunk_document(
    doc: &Document,
    limits: ChunkLimits,
    tokens: &dyn TokenCounter,
) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for section in &doc.sections {
        let heading = section.heading_path.join(" > ");
        // +1 for the newline between heading and text.
        let budget = limits
            .max_tokens
            .saturating_sub(tokens.count(&heading) + 1)
            .max(MIN_BUDGET);
        let mut pieces: Vec<(String, usize)> = Vec::new();
        for block in &section.blocks {
            let n = tokens.count(&block.text);
            if n <= budget {
                pieces.push((block.text.clone(), n));
            } else if block.kind == BlockKind::Table {
                pieces.extend(split_table(&block.text, budget, tokens));
            } else {
                // Leave room for the overlap that will lead each piece after the first.
                let piece_budget = budget.saturating_sub(limits.overlap_tokens).max(MIN_BUDGET);
                pieces.extend(split_text(&block.text, piece_budget, tokens));
            }
        }
        let mut current: Vec<String> = Vec::new();
        let mut used = 0usize;
        for (text, n) in pieces {
            if !current.is_empty() && used + n > budget {
                let done = current.join("\n\n");
                let overlap = tail_tokens(&done, limits.overlap_tokens, tokens);
                chunks.push(Chunk {
                    index: chunks.len(),
                    heading_path: section.heading_path.clone(),
                    text: done,
                });
                current.clear();
                used = 0;
                if let Some((tail, tn)) = overlap.filter(|(_, tn)| tn + n <= budget) {
                    current.push(tail);
                    used = tn;
                }
            }
            current.push(text);
            used += n;
        }
        if !current.is_empty() {
            chunks.push(Chunk {
                index: chunks.len(),
                heading_path: section.heading_path.clone(),
                text: current.join("\n\n"),
            });
        }
    }
    chunks
}

/// The last whole words of `text` that fit in `max` tokens, prefixed with an ellipsis.
fn tail_tokens(text: &str, max: usize, tokens: &dyn TokenCounter) -> Option<(String, usize)> {
    if max == 0 {
        return None;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut used = 1; // the ellipsis
    let mut start = words.len();
    while start > 0 {
        let n = tokens.count(words[start - 1]);
        if used + n > max {
            break;
        }
        used += n;
        start -= 1;
    }
    (start < words.len()).then(|| (format!("… {}", words[start..].join(" ")), used))
}

/// Splits an oversized table into row groups, each under the header rows.
fn split_table(text: &str, budget: usize, tokens: &dyn TokenCounter) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let header_len = if lines.get(1).is_some_and(|l| is_separator_row(l)) {
        2
    } else {
        1
    };
    if lines.len() <= header_len {
        return split_text(text, budget, tokens);
    }
    let header = lines[..header_len].join("\n");
    let header_n = tokens.count(&header);
    if header_n * 2 > budget {
        return split_text(text, budget, tokens);
    }
    let mut out = Vec::new();
    let mut rows: Vec<&str> = Vec::new();
    let mut used = header_n;
    for row in &lines[header_len..] {
        let n = tokens.count(row);
        if header_n + n > budget {
            // A single giant row: flush and fall back to splitting its text.
            if !rows.is_empty() {
                out.push((format!("{header}\n{}", rows.join("\n")), used));
                rows.clear();
                used = header_n;
            }
            out.extend(split_text(row, budget, tokens));
            continue;
        }
        if used + n > budget && !rows.is_empty() {
            out.push((format!("{header}\n{}", rows.join("\n")), used));
            rows.clear();
            used = header_n;
        }
        rows.push(row);
        used += n;
    }
    if !rows.is_empty() {
        out.push((format!("{header}\n{}", rows.join("\n")), used));
    }
    // Every row was too big to sit under the header (found by fuzzing): keep the header's own
    // words as a piece, or they would be in no chunk at all.
    if !out.iter().any(|(text, _)| text.starts_with(&header)) {
        out.insert(0, (header, header_n));
    }
    out
}

/// A Markdown table's separator row ("|---|:--:|"); tables read by code (`tools::records`,
/// the extractor's focus) use the same test.
pub fn is_separator_row(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// Splits prose into pieces under `budget` tokens: by lines, then sentences, then words.
fn split_text(text: &str, budget: usize, tokens: &dyn TokenCounter) -> Vec<(String, usize)> {
    let mut units: Vec<(String, usize)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let n = tokens.count(line);
        if n <= budget {
            units.push((line.to_string(), n));
            continue;
        }
        for sentence in sentences(line) {
            let n = tokens.count(sentence);
            if n <= budget {
                units.push((sentence.to_string(), n));
            } else {
                units.extend(split_words(sentence, budget, tokens));
            }
        }
    }
    // Re-pack the units greedily so pieces are as full as the budget allows.
    let mut out: Vec<(String, usize)> = Vec::new();
    for (unit, n) in units {
        match out.last_mut() {
            Some((text, used)) if *used + n <= budget => {
                text.push('\n');
                text.push_str(&unit);
                *used += n;
            }
            _ => out.push((unit, n)),
        }
    }
    out
}

fn sentences(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if matches!(b, b'.' | b'!' | b'?' | b';')
            && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())
        {
            out.push(line[start..=i].trim());
            start = i + 1;
        }
    }
    if start < line.len() {
        out.push(line[start..].trim());
    }
    out.retain(|s| !s.is_empty());
    out
}

fn split_words(text: &str, budget: usize, tokens: &dyn TokenCounter) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for word in text.split_whitespace() {
        // A single "word" over budget (a long URL, base64) is cut by characters.
        let n = tokens.count(word);
        let parts: Vec<(String, usize)> = if n > budget {
            let chars: Vec<char> = word.chars().collect();
            let per = (chars.len() * budget / n.max(1)).max(1);
            chars
                .chunks(per)
                .map(|c| {
                    let s: String = c.iter().collect();
                    let n = tokens.count(&s);
                    (s, n)
                })
                .collect()
        } else {
            vec![(word.to_string(), n)]
        };
        for (part, n) in parts {
            if used + n > budget && !current.is_empty() {
                out.push((std::mem::take(&mut current), used));
                used = 0;
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&part);
            used += n;
        }
    }
    if !current.is_empty() {
        out.push((current, used));
    }
    out
}

/// One token per whitespace-separated word: enough for tests of logic that counts tokens.
#[cfg(test)]
pub(crate) struct Words;

#[cfg(test)]
impl TokenCounter for Words {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::loader::{Block, Section};

    fn doc(blocks: Vec<(BlockKind, &str)>) -> Document {
        Document {
            title: "T".into(),
            tags: vec![],
            acl: vec![],
            sections: vec![Section {
                heading_path: vec!["Orbit 4".into(), "Pricing".into()],
                blocks: blocks
                    .into_iter()
                    .map(|(kind, t)| Block {
                        kind,
                        text: t.into(),
                    })
                    .collect(),
            }],
        }
    }

    fn limits(max: usize, overlap: usize) -> ChunkLimits {
        ChunkLimits {
            max_tokens: max,
            overlap_tokens: overlap,
        }
    }

    fn words(n: usize, tag: &str) -> String {
        (0..n)
            .map(|i| format!("{tag}{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn small_section_is_one_chunk_with_heading_path() {
        let d = doc(vec![(BlockKind::Prose, "It costs $2,450.")]);
        let c = chunk_document(&d, limits(64, 8), &Words);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].heading(), "Orbit 4 > Pricing");
        assert_eq!(c[0].embedding_text(), "Orbit 4 > Pricing\nIt costs $2,450.");
    }

    #[test]
    fn every_chunk_fits_the_budget_heading_included_and_overlaps() {
        let text = words(300, "w");
        let d = doc(vec![(BlockKind::Prose, &text)]);
        let c = chunk_document(&d, limits(50, 6), &Words);
        assert!(c.len() >= 7, "{}", c.len());
        for (i, chunk) in c.iter().enumerate() {
            assert_eq!(chunk.index, i);
            assert!(Words.count(&chunk.embedding_text()) <= 50, "{chunk:?}");
        }
        // The second chunk starts with the tail of the first.
        let last_of_first = c[0].text.split_whitespace().last().unwrap();
        assert!(c[1].text.starts_with('…'));
        assert!(c[1].text.contains(last_of_first));
        // Nothing is lost: every word appears somewhere.
        let all: String = c
            .iter()
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
            .join(" ");
        for i in 0..300 {
            assert!(all.contains(&format!("w{i} ")) || all.ends_with(&format!("w{i}")));
        }
    }

    #[test]
    fn table_that_fits_stays_whole_even_next_to_prose() {
        let table = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |";
        let prose = words(30, "p");
        let d = doc(vec![(BlockKind::Prose, &prose), (BlockKind::Table, table)]);
        let c = chunk_document(&d, limits(40, 0), &Words);
        assert!(c.iter().any(|c| c.text.contains(table)), "{c:?}");
    }

    #[test]
    fn oversized_table_splits_by_rows_with_header_repeated() {
        let mut table = String::from("| model | hours |\n|---|---|");
        for i in 0..40 {
            table.push_str(&format!("\n| m{i} | {i} |"));
        }
        let d = doc(vec![(BlockKind::Table, &table)]);
        let c = chunk_document(&d, limits(40, 5), &Words);
        assert!(c.len() > 1);
        for chunk in &c {
            assert!(chunk.text.contains("| model | hours |"), "{}", chunk.text);
            assert!(Words.count(&chunk.embedding_text()) <= 40);
        }
        for i in 0..40 {
            assert!(
                c.iter()
                    .any(|ch| ch.text.contains(&format!("| m{i} | {i} |")))
            );
        }
    }

    #[test]
    fn giant_word_is_cut() {
        struct Chars;
        impl TokenCounter for Chars {
            fn count(&self, text: &str) -> usize {
                text.chars().count().div_ceil(4)
            }
        }
        let blob = "x".repeat(4000);
        let d = doc(vec![(BlockKind::Prose, &blob)]);
        let c = chunk_document(&d, limits(64, 0), &Chars);
        assert!(c.len() > 10);
        for chunk in &c {
            assert!(Chars.count(&chunk.embedding_text()) <= 64);
        }
    }

    #[test]
    fn sentence_split() {
        assert_eq!(
            sentences("One. Two! v1.2 is out? Yes"),
            vec!["One.", "Two!", "v1.2 is out?", "Yes"]
        );
    }
}
