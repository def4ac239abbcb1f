//! Passages cut to the lines that bear on the question. A small model shown five whole
//! passages often answers from a related line (office hours for a start time, holiday days
//! for sick days) and pays ~25 ms per prompt token on these cores for every line it does not
//! need. The embedder already in the stack ranks each sentence, bullet and table row (read
//! with its column headers) of a passage against the question, and the passage is shown as
//! its closest lines in page order, whatever the page's layout or wording. The citations keep
//! the whole passage: quotes are verified against it, and front ends open it.

use crate::ingest::chunker::is_separator_row;
use crate::providers::embed::Embedder;
use crate::tools::records::{cells, cosine};

use super::check::split_sentences;
use super::evidence::Citation;

/// The candidate lines of a passage: its sentences and bullets, and each table row written
/// as "header: cell | header: cell" (a row whose header is not in the passage as it is).
pub fn lines_of(text: &str) -> Vec<String> {
    labelled_lines(text).into_iter().map(|l| l.0).collect()
}

/// `lines_of`, each table row with its first cell (what the row is about: "A", "Orla Tarn").
fn labelled_lines(text: &str) -> Vec<(String, Option<String>)> {
    let rows: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut i = 0;
    while i < rows.len() {
        let row = rows[i].trim();
        if row.starts_with('|') {
            if rows.get(i + 1).is_some_and(|l| is_separator_row(l)) {
                header = Some(cells(row));
                i += 2;
                continue;
            }
            let values = cells(row);
            let line = match &header {
                Some(h) if h.len() == values.len() => h
                    .iter()
                    .zip(&values)
                    .map(|(h, v)| format!("{h}: {v}"))
                    .collect::<Vec<_>>()
                    .join(" | "),
                _ => values.join(" | "),
            };
            if values.iter().any(|v| !v.is_empty()) {
                out.push((line, values.first().cloned()));
            }
        } else {
            header = None;
            for s in split_sentences(row) {
                let s = s.trim();
                // Headings and fragments ("## Wi-Fi", "Notes:") say nothing on their own.
                if s.split_whitespace().count() >= 3 {
                    out.push((s.to_string(), None));
                }
            }
        }
        i += 1;
    }
    out
}

/// The evidence text with each shown passage cut to its `per` lines closest to `question`
/// (each embedded under its passage's heading, which often names what the line is about),
/// in page order: "[n] title > heading: line" and the other lines below it. A passage of
/// `per` lines or fewer is shown whole. None when `per` is 0 or the embedder fails (the
/// whole passages are shown then).
pub async fn cut_to_lines(
    question: &str,
    shown: &[Citation],
    per: usize,
    embedder: &dyn Embedder,
) -> Option<String> {
    if per == 0 || shown.is_empty() {
        return None;
    }
    let lines: Vec<Vec<(String, Option<String>)>> =
        shown.iter().map(|c| labelled_lines(&c.text)).collect();
    let mut texts = vec![question.to_string()];
    for (c, ls) in shown.iter().zip(&lines) {
        texts.extend(ls.iter().map(|(l, _)| format!("{}: {l}", c.heading)));
    }
    let vectors = match embedder.embed(texts).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "passage lines: embedding failed; whole passages shown");
            return None;
        }
    };
    let (q, mut rest) = vectors.split_first()?;
    let mut out = String::new();
    for (c, ls) in shown.iter().zip(&lines) {
        let (mine, after) = rest.split_at(ls.len().min(rest.len()));
        rest = after;
        // A row the question names by its first cell ("priority A", "at Orla Tarn") is what
        // the question is about, however far its other cells pull its meaning: up to half
        // the lines go to such rows, closest first.
        let named = |i: usize| ls[i].1.as_deref().is_some_and(|l| names_label(question, l));
        let mut ranked: Vec<(usize, f32)> = mine
            .iter()
            .enumerate()
            .map(|(i, v)| (i, cosine(q, v)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (first, rest): (Vec<_>, Vec<_>) = ranked.into_iter().partition(|r| named(r.0));
        let mut ranked: Vec<(usize, f32)> = first.into_iter().take(per.div_ceil(2)).collect();
        let room = per.saturating_sub(ranked.len());
        ranked.extend(rest.into_iter().take(room));
        ranked.sort_by_key(|r| r.0);
        let kept: Vec<&str> = ranked.iter().map(|r| ls[r.0].0.as_str()).collect();
        out.push_str(&c.line_of(&kept.join("\n")));
    }
    Some(out)
}

/// Whether `question` names a table row's first cell `label`: a label of one or two characters
/// ("A", "B2") as a word written the same way, a longer one as words in any case ("Orla
/// Tarn"). A label of digits alone is a figure, not a name.
fn names_label(question: &str, label: &str) -> bool {
    let label = label.trim_matches(|c: char| !c.is_alphanumeric());
    if label.is_empty() || label.chars().all(|c| !c.is_alphabetic()) {
        return false;
    }
    if label.chars().count() <= 2 {
        return question
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == label);
    }
    crate::quantity::contains_words(question, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_carry_their_headers_and_sentences_split() {
        let text = "Visitors sign in at reception. Badges are printed there.\n\n\
                    | Day | Desk hours |\n|-----|-----|\n| Weekdays | 09:00–17:00 |\n| Weekends | Closed |\n\n\
                    ## Notes\n- Parking is free for staff cars.";
        let lines = lines_of(text);
        assert_eq!(
            lines,
            vec![
                "Visitors sign in at reception.",
                "Badges are printed there.",
                "Day: Weekdays | Desk hours: 09:00–17:00",
                "Day: Weekends | Desk hours: Closed",
                "- Parking is free for staff cars.",
            ]
        );
    }

    #[tokio::test]
    async fn a_row_the_question_names_by_its_first_cell_is_kept() {
        let shown = [Citation {
            n: 1,
            source: "p1.md".into(),
            heading: "Response".into(),
            title: "Leaks".into(),
            text: "Crews on site may ask for a higher grade.\n\n\
                   | Grade | When | Crew on site within |\n|---|---|---|\n\
                   | A | Hospital supply or trunk main at risk | 45 minutes |\n\
                   | B | Running water on a road | 3 hours |\n\
                   | C | Small leak, crew on site next day | 2 days |"
                .into(),
        }];
        let embedder = crate::providers::embed::WordBag;
        let question = "For a grade A leak, how quickly must a crew be on site?";
        let text = cut_to_lines(question, &shown, 2, &embedder)
            .await
            .unwrap_or_default();
        assert!(text.contains("Grade: A | When: Hospital supply"), "{text}");
        // Names are matched as written for one or two characters, in any case when longer.
        assert!(names_label("the Grade A row", "A"));
        assert!(!names_label("a leak at a hospital", "A"));
        assert!(names_label("is orla tarn full?", "Orla Tarn"));
        assert!(!names_label("pump 2 is off", "2"));
    }

    #[test]
    fn a_row_without_its_header_is_kept_as_cells() {
        // A chunk that starts inside a table (its header is in the chunk before).
        let lines = lines_of("| Harbour | 4 berths |\n| Quay | 2 berths |");
        assert_eq!(lines, vec!["Harbour | 4 berths", "Quay | 2 berths"]);
    }

    #[tokio::test]
    async fn each_passage_keeps_its_closest_lines_in_page_order() {
        let citation = |n: usize, heading: &str, text: &str| Citation {
            n,
            source: format!("p{n}.md"),
            heading: heading.into(),
            title: format!("Page {n}"),
            text: text.into(),
        };
        let shown = [
            citation(
                1,
                "Illness",
                "Report an absence to your lead. Staff get 8 sick days per year. \
                 The ferry leaves the harbour at noon. A note is needed after three sick days.",
            ),
            citation(2, "Boats", "The ferry leaves the harbour at noon."),
        ];
        let embedder = crate::providers::embed::WordBag;
        let text = cut_to_lines("How many sick days per year?", &shown, 2, &embedder)
            .await
            .unwrap_or_default();
        assert_eq!(
            text,
            "[1] Page 1 > Illness: Staff get 8 sick days per year.\n\
             A note is needed after three sick days.\n\
             [2] Page 2 > Boats: The ferry leaves the harbour at noon.\n"
        );
        // 0 lines per passage: the whole passages are shown.
        assert!(
            cut_to_lines("How many sick days?", &shown, 0, &embedder)
                .await
                .is_none()
        );
    }
}
