//! Which lines of a passage the extractor is shown: the ones about the fields (and a table's
//! header), so long passages cost fewer prompt tokens.

use crate::ingest::chunker::is_separator_row;

use super::*;

/// The lines of a passage that bear on the fields: its first line (where it is from), table
/// header rows, and every line with a word of a field's name or unit (or, where none has one,
/// of a field's description). A small model on a CPU reads a few lines many times faster than
/// a whole passage (prompt processing dominates its time); values are still verified against
/// the whole passage. A passage with no such line, or a short one, is kept whole.
pub fn focus(text: &str, fields: &[FieldSpec]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 3 {
        return text.to_string();
    }
    let names = field_words(fields, false);
    let described = field_words(fields, true);
    let Some(keep) = lines_with(&lines, &names).or_else(|| lines_with(&lines, &described)) else {
        return text.to_string();
    };
    lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| *l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which lines to keep: the first, table header rows and lines with one of `words` (whole
/// words: "life" must not pick "| Peer key lifetime | 180 days |"); None when no line past
/// the first has one.
pub(super) fn lines_with(lines: &[&str], words: &[String]) -> Option<Vec<bool>> {
    let mut keep = vec![false; lines.len()];
    keep[0] = true;
    let mut found = false;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let lower = line.to_lowercase();
        let line_words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.iter().any(|w| line_words.contains(&w.as_str())) {
            keep[i] = true;
            found = true;
        }
        if line.trim_start().starts_with('|')
            && lines.get(i + 1).is_some_and(|n| is_separator_row(n))
        {
            keep[i] = true;
        }
    }
    found.then_some(keep)
}

/// Lower-case words (3+ letters) of the fields' names and units, or of their descriptions,
/// without English function words and without the proper names a description mentions.
pub(super) fn field_words(fields: &[FieldSpec], descriptions: bool) -> Vec<String> {
    const FUNCTION_WORDS: &[&str] = &[
        "the", "and", "for", "with", "from", "per", "its", "what", "how", "much", "many", "this",
        "that", "these", "those", "are", "was", "were", "has", "have", "which", "who", "when",
        "where", "any", "all", "each", "value", "number",
    ];
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if w.len() >= 3
            && !w.chars().all(|c| c.is_ascii_digit())
            && !FUNCTION_WORDS.contains(&w.as_str())
            && !words.contains(&w)
        {
            words.push(w);
        }
    };
    for f in fields {
        if descriptions {
            f.description
                .split_whitespace()
                .filter(|w| !w.starts_with(char::is_uppercase))
                .for_each(&mut add);
        } else {
            f.name
                .split(|c: char| !c.is_alphanumeric())
                .for_each(&mut add);
            if let Some(u) = &f.unit {
                add(u);
            }
        }
    }
    words
}
