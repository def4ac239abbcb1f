//! Query-biased snippets: for each page a first search found, the one sentence (or table
//! row) of its passages that bears most on the question, for the planner's page list. The
//! planner names the things a question only describes ("the current model", "our newest
//! site") by the wiki's own names, and the sentence that says which is which is rarely the
//! first line of a passage.
//!
//! A sentence's score is the sum, over the question's words it contains, of the word's
//! rarity among all candidate sentences (inverse sentence frequency). Words every passage
//! uses ("the", "of") weigh next to nothing without any word list, in any language that
//! separates words with spaces or punctuation.

use std::collections::{BTreeMap, BTreeSet};

use super::synthesize::split_sentences;

/// The lower-case words of a text, with an English possessive "'s" dropped ("year's" is
/// "year").
fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| {
            let w = w
                .trim_matches(|c: char| c == '\'' || c == '’')
                .to_lowercase();
            w.strip_suffix("'s")
                .or_else(|| w.strip_suffix("’s"))
                .map(str::to_string)
                .unwrap_or(w)
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The sentences and table rows of a passage, trimmed, without empty ones and without table
/// separator rows.
fn sentences(text: &str) -> Vec<&str> {
    split_sentences(text)
        .into_iter()
        .map(str::trim)
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .collect()
}

/// For each page (in the order given), the sentence of its passages that shares the most
/// rare words with the question; None for a page where no sentence shares a word.
pub fn best_sentences<'a>(question: &str, pages: &[Vec<&'a str>]) -> Vec<Option<&'a str>> {
    let asked = words(question);
    let candidates: Vec<Vec<(&str, BTreeSet<String>)>> = pages
        .iter()
        .map(|passages| {
            passages
                .iter()
                .flat_map(|p| sentences(p))
                .map(|s| (s, words(s)))
                .collect()
        })
        .collect();
    let total = candidates.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    let mut frequency: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, ws) in candidates.iter().flatten() {
        for w in ws.iter().filter(|w| asked.contains(*w)) {
            *frequency.entry(w.as_str()).or_default() += 1;
        }
    }
    let weight = |w: &str| (total / frequency.get(w).copied().unwrap_or(1) as f64).ln();
    candidates
        .iter()
        .map(|sentences| {
            let mut best: Option<(&str, f64)> = None;
            for (s, ws) in sentences {
                let score: f64 = ws
                    .iter()
                    .filter(|w| asked.contains(*w))
                    .map(|w| weight(w))
                    .sum();
                if score > 0.0 && best.is_none_or(|(_, b)| score > b) {
                    best = Some((s, score));
                }
            }
            best.map(|(s, _)| s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_with_the_rare_question_words_wins() {
        let pages = vec![
            vec![
                "Orbit 7 is our newest drone. It went on sale in May.\n\n| Spec | Orbit 7 |\n|---|---|\n| Range | 9 km |",
            ],
            vec!["The Orbit 6 is the older one of the two. The range of the Orbit 6 is 7 km."],
            vec!["The office is the place of the team."],
        ];
        let best = best_sentences("What is the range of the older drone?", &pages);
        // "drone" and "range" are rarer than "the", which every sentence has.
        assert_eq!(best[0], Some("Orbit 7 is our newest drone."));
        assert_eq!(best[1], Some("The Orbit 6 is the older one of the two."));
        // Only common words shared: still the best there is, but never a page's empty line.
        assert_eq!(best[2], Some("The office is the place of the team."));
    }

    #[test]
    fn table_rows_are_sentences_and_separator_rows_are_not() {
        let s = sentences("| Spec | X |\n|---|---|\n| Weight | 2.5 kg |\nIt is 2.5 kg. Light!");
        assert_eq!(
            s,
            [
                "| Spec | X |",
                "| Weight | 2.5 kg |",
                "It is 2.5 kg.",
                "Light!"
            ]
        );
    }

    #[test]
    fn a_page_sharing_no_word_has_no_snippet() {
        let best = best_sentences("battery", &[vec!["Nothing here."], vec![]]);
        assert_eq!(best, [None, None]);
    }

    #[test]
    fn possessives_match_their_noun() {
        assert!(words("Next year's plan").contains("year"));
        assert!(words("the team’s budget").contains("team"));
        assert!(words("'quoted'").contains("quoted"));
    }
}
