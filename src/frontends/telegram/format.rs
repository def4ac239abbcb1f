//! Telegram message text: MarkdownV2 escaping, the answer with its sources, and splitting at
//! Telegram's 4,096-character limit on line (or word) boundaries, never inside an escape.

use crate::agent::Answer;
use crate::agent::synthesize::Citation;

/// Telegram's limit for one message's text.
pub const LIMIT: usize = 4096;

/// MarkdownV2 escaping is teloxide's: every reserved character, and in code spans the backtick
/// and the backslash.
pub use teloxide::utils::markdown::escape;
use teloxide::utils::markdown::escape_code;

fn source_line(c: &Citation) -> String {
    let heading = if c.heading.is_empty() {
        String::new()
    } else {
        format!(" — {}", escape(&c.heading))
    };
    format!(
        "\\[{}\\] *{}*{heading} `{}`",
        c.n,
        escape(&c.title),
        escape_code(&c.source)
    )
}

/// The answer, then its sources by number and page.
pub fn answer(answer: &Answer) -> String {
    let mut out = escape(answer.answer.trim());
    if !answer.citations.is_empty() {
        out.push_str("\n\n*Sources*");
        for c in &answer.citations {
            out.push('\n');
            out.push_str(&source_line(c));
        }
    }
    out
}

/// `/sources`: every source of the last answer with the passage it was given.
pub fn sources(citations: &[Citation]) -> String {
    if citations.is_empty() {
        return escape("No sources yet: ask a question first.");
    }
    let mut out = String::from("*Sources of the last answer*");
    for c in citations {
        let passage: String = c.text.chars().take(600).collect();
        let more = if c.text.chars().count() > 600 {
            "…"
        } else {
            ""
        };
        out.push_str(&format!(
            "\n\n{}\n{}",
            source_line(c),
            escape(&format!("{}{more}", passage.trim()))
        ));
    }
    out
}

/// Splits escaped text into messages of at most `limit` characters: at paragraph or line
/// breaks where possible, else at spaces, else anywhere but right after an escaping backslash.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let pieces = if line.chars().count() > limit {
            split_line(line, limit)
        } else {
            vec![line.to_string()]
        };
        for piece in pieces {
            let needed = piece.chars().count() + usize::from(!current.is_empty());
            if current.chars().count() + needed > limit && !current.is_empty() {
                parts.push(std::mem::take(&mut current).trim_end().to_string());
            }
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(&piece);
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim_end().to_string());
    }
    parts.retain(|p| !p.trim().is_empty());
    parts
}

fn split_line(line: &str, limit: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while chars.len() - start > limit {
        let window = &chars[start..start + limit];
        let mut cut = window
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|p| *p > limit / 2)
            .map(|p| p + 1)
            .unwrap_or(limit);
        // Never end a piece on an escaping backslash (count the run of backslashes).
        while cut > 1 && {
            let run = window[..cut]
                .iter()
                .rev()
                .take_while(|c| **c == '\\')
                .count();
            run % 2 == 1
        } {
            cut -= 1;
        }
        out.push(chars[start..start + cut].iter().collect());
        start += cut;
    }
    out.push(chars[start..].iter().collect());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_reserved_character() {
        assert_eq!(
            escape("Orbit 4 (2025): $2,450.00 - 19 h! [1] a_b*c`d>e#f+g=h|i{j}k~l\\"),
            "Orbit 4 \\(2025\\): $2,450\\.00 \\- 19 h\\! \\[1\\] a\\_b\\*c\\`d\\>e\\#f\\+g\\=h\\|i\\{j\\}k\\~l\\\\"
        );
    }

    #[test]
    fn long_text_splits_on_lines_within_the_limit() {
        let line = escape("The Orbit 4 lasts 19 hours (per the spec page).");
        let text = vec![line.clone(); 200].join("\n");
        let parts = split(&text, LIMIT);
        assert!(parts.len() >= 3, "{}", parts.len());
        for p in &parts {
            assert!(p.chars().count() <= LIMIT);
            assert!(p.split('\n').all(|l| l == line), "split inside a line");
        }
        assert_eq!(parts.join("\n"), text);
    }

    #[test]
    fn a_huge_line_splits_at_spaces_and_never_after_a_backslash() {
        let text = escape(&"a.b ".repeat(3000));
        let parts = split(&text, 100);
        for p in &parts {
            assert!(p.chars().count() <= 100);
            let trailing = p.chars().rev().take_while(|c| *c == '\\').count();
            assert_eq!(trailing % 2, 0, "{p:?}");
        }
        let rejoined: String = parts.join("\n").replace('\n', "");
        assert_eq!(rejoined.replace(' ', ""), text.replace(' ', ""));
        let nospace = escape(&".".repeat(500));
        for p in split(&nospace, 99) {
            let trailing = p.chars().rev().take_while(|c| *c == '\\').count();
            assert_eq!(trailing % 2, 0, "{p:?}");
        }
    }
}
