//! The answer against its evidence: the synthesizer's draft (verified quotes first), then every
//! citation checked against what was shown.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::quantity;
use crate::tools::step::Evidence;

use super::NOT_IN_WIKI;
use super::evidence::*;

/// The synthesizer's structured answer: the evidence lines it relies on, then the answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Draft {
    pub quotes: Vec<DraftQuote>,
    pub answer: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DraftQuote {
    pub evidence: usize,
    pub quote: String,
}

/// The schema the synthesizer's output is decoded under (quotes first, so the answer is
/// written after the model has copied what supports it).
pub fn draft_schema(evidence: usize) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "quotes": {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "evidence": {"type": "integer", "minimum": 1, "maximum": evidence.max(1)},
                        "quote": {"type": "string", "maxLength": 240}
                    },
                    "required": ["evidence", "quote"]
                }
            },
            "answer": {"type": "string", "maxLength": 700}
        },
        "required": ["quotes", "answer"]
    })
}

/// Turns a draft into the answer text: quotes are verified against the evidence shown (a quote
/// found in another passage counts for that one, and so does a table row assembled from one
/// row's cells and its header); an answer that refuses is a refusal whatever it quoted; with no
/// verified quote and no computed fact the answer is that the wiki does not say, whatever the
/// model wrote; an answer without any citation gets the quotes' evidence numbers. A quote
/// copied from the conversation (`said`: earlier questions and answers) is no evidence, and no
/// invention either: it counts as no quote.
pub fn settle(
    draft: &Draft,
    shown: &[Citation],
    has_facts: bool,
    said: &str,
) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    // Table bars, like markdown emphasis, are not part of what a passage says.
    let flat = |s: &str| crate::tools::extract::flatten(&s.replace('|', ""));
    let said = flat(&quantity::strip_citations(said));
    let mut verified: Vec<(usize, String)> = Vec::new();
    let mut invented = 0;
    for q in &draft.quotes {
        let quote = flat(q.quote.trim_matches(['"', ' ', '.']));
        if quote.len() < 3 {
            continue;
        }
        let holds = |c: &&Citation| {
            let bare = unlabelled(&q.quote, c);
            let flat_bare = flat(bare.trim_matches(['"', ' ', '.']));
            let text = flat(&c.labelled());
            text.contains(&quote)
                || (flat_bare.len() >= 3 && text.contains(&flat_bare))
                || table_quote_holds(&q.quote, &c.text)
                || table_quote_holds(bare, &c.text)
        };
        let stated = shown
            .get(q.evidence.wrapping_sub(1))
            .filter(holds)
            .or_else(|| shown.iter().find(holds));
        let from_conversation = || {
            let bare = flat(&quantity::strip_citations(&q.quote));
            let bare = bare.trim_matches(['"', ' ', '.']);
            bare.len() >= 3 && said.contains(bare)
        };
        match stated {
            Some(c) => verified.push((c.n, q.quote.trim().to_string())),
            None if from_conversation() => notes.push(format!(
                "a quote given for [{}] is from the conversation, not the evidence; not counted",
                q.evidence
            )),
            // Lines of the evidence run together or cut short (a table row glued to the
            // fragment before it): no quote, but no invention either.
            None if copied_in_part(&q.quote, shown) => notes.push(format!(
                "a quote given for [{}] joins or cuts lines of the evidence; not counted",
                q.evidence
            )),
            // The note does not repeat the quote: model text that is in no passage may be
            // injected or invented, and notes are shown to the user.
            None => {
                invented += 1;
                notes.push(format!(
                    "dropped a quote given for [{}]: its {} characters are in no passage shown",
                    q.evidence,
                    q.quote.chars().count()
                ))
            }
        }
    }
    let answer = draft.answer.trim();
    if verified.is_empty() && !has_facts {
        // Small models sometimes skip the quotes but state the right figures: an answer that
        // gave no quote from the evidence and whose every figure is stated by it stands
        // (check() attributes its sentences). An invented quote is never forgiven.
        if invented == 0 && figures_all_stated(answer, shown) {
            notes.push(
                "no quote given; every number in the answer is stated by the evidence".into(),
            );
            return (answer.to_string(), notes);
        }
        return (NOT_IN_WIKI.to_string(), notes);
    }
    let refuses = answer.is_empty()
        || split_sentences(answer)
            .iter()
            .filter(|s| !s.trim().is_empty())
            .all(|s| is_refusal(s));
    if refuses {
        return (NOT_IN_WIKI.to_string(), notes);
    }
    if !answer.contains('[') && !verified.is_empty() {
        // Each sentence cites the passage that states its figures, the quoted passages
        // first: an answer about two things ("the key every 180 days, the certificate after
        // 16 hours") that quoted only one page cites both, not the quoted page for both.
        let quoted = |c: &&Citation| verified.iter().any(|(n, _)| *n == c.n);
        let ordered: Vec<Citation> = shown
            .iter()
            .filter(quoted)
            .chain(shown.iter().filter(|c| !quoted(c)))
            .cloned()
            .collect();
        let (text, added) = attribute(answer, &ordered);
        if !added.is_empty() {
            return (text, notes);
        }
        let mut ns: Vec<usize> = verified.iter().map(|(n, _)| *n).collect();
        ns.dedup();
        let marks: String = ns.iter().map(|n| format!("[{n}]")).collect();
        let body = answer.trim_end_matches(['.', '!']);
        return (format!("{body} {marks}."), notes);
    }
    (answer.to_string(), notes)
}

/// `quote` without the label its passage was shown under ("title > heading:"), or the end of
/// it ("Gate:"), that a model may put before any line it copies, not only before the first
/// one, where the label stands. The quote as given when it starts with no such label.
fn unlabelled<'q>(quote: &'q str, c: &Citation) -> &'q str {
    use crate::tools::extract::flatten;
    let label = flatten(&format!("{} > {}:", c.title, c.heading));
    quote
        .match_indices(':')
        .map(|(i, _)| i)
        .rfind(|&i| label.ends_with(&flatten(&quote[..=i])))
        .map_or(quote, |i| quote[i + 1..].trim_start())
}

/// Whether `quote` is a table row as a model copies one: cells separated by bars or by ": "
/// ("Ostry works | 9,800", "Mass: 412 kg"), each cell in one row of the passage's table or in
/// its header row, at least one of them in the row and not in the header. Cells from two rows
/// never hold.
fn table_quote_holds(quote: &str, passage: &str) -> bool {
    use crate::ingest::chunker::is_separator_row;
    use crate::tools::extract::flatten;
    let cells: Vec<String> = quote
        .replace(": ", "|")
        .split('|')
        .map(|c| flatten(c.trim().trim_matches(['"', '.'])))
        .filter(|c| !c.is_empty())
        .collect();
    if cells.len() < 2 {
        return false;
    }
    let lines: Vec<&str> = passage.lines().filter(|l| l.contains('|')).collect();
    let headers: Vec<String> = lines
        .windows(2)
        .filter(|w| is_separator_row(w[1]))
        .map(|w| flatten(w[0]))
        .collect();
    let cell_in = |line: &str, c: &str| {
        line.split('|').any(|cell| cell.trim() == c) || quantity::contains_words(line, c)
    };
    lines
        .iter()
        .filter(|l| !is_separator_row(l))
        .map(|l| flatten(l))
        .filter(|row| !headers.contains(row))
        .any(|row| {
            let in_header = |c: &String| headers.iter().any(|h| cell_in(h, c));
            cells.iter().any(|c| cell_in(&row, c) && !in_header(c))
                && cells.iter().all(|c| cell_in(&row, c) || in_header(c))
        })
}

/// Whether `quote` is the evidence's own words run together or cut short: at least four in
/// five of its three-word runs are in a passage shown (as written, or its table rows as the
/// model was shown them, "header: cell | header: cell"). A quote of fewer than six words must
/// be found whole.
fn copied_in_part(quote: &str, shown: &[Citation]) -> bool {
    // The words of a text as compared: emphasis, table bars and punctuation around words gone.
    let words_of = |s: &str| -> Vec<String> {
        crate::tools::extract::flatten(&s.replace('|', " "))
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let words = words_of(quote);
    if words.len() < 6 {
        return false;
    }
    let texts: Vec<String> = shown
        .iter()
        .map(|c| {
            let shown_as = super::focus::lines_of(&c.text).join(" ");
            format!(
                " {} ",
                words_of(&format!("{} {shown_as}", c.labelled())).join(" ")
            )
        })
        .collect();
    let runs: Vec<String> = words
        .windows(3)
        .map(|w| format!(" {} ", w.join(" ")))
        .collect();
    let found = runs
        .iter()
        .filter(|r| texts.iter().any(|t| t.contains(r.as_str())))
        .count();
    found * 5 >= runs.len() * 4
}

/// Whether `answer` (not a refusal) gives figures and each is stated by some passage. The
/// number of a name ("Orbit 3") is not a figure, and the name must be in the evidence: a figure
/// of the Orbit 4 cannot answer for a Orbit 5 the wiki never mentions.
pub(super) fn figures_all_stated(answer: &str, shown: &[Citation]) -> bool {
    if answer.is_empty() || is_refusal(answer) {
        return false;
    }
    let answer = quantity::strip_citations(answer);
    let names = quantity::numbered_names(&answer);
    if !names
        .iter()
        .all(|n| shown.iter().any(|c| c.text.contains(n.as_str())))
    {
        return false;
    }
    let rest = quantity::without_numbered_names(&answer);
    let figures: Vec<f64> = quantity::numbers_in(&rest)
        .into_iter()
        .filter(|x| x.abs() >= 1.0)
        .collect();
    let stated: Vec<Vec<f64>> = shown
        .iter()
        .map(|c| quantity::numbers_in(&c.text))
        .collect();
    !figures.is_empty()
        && figures.iter().all(|x| {
            stated
                .iter()
                .flatten()
                .any(|y| quantity::same(*x, *y, quantity::EXACT))
        })
}

/// The checked answer: invalid citation markers removed, citations in order of first use.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub text: String,
    pub citations: Vec<Citation>,
    pub answered: bool,
    pub notes: Vec<String>,
}

/// The numbered names ("Model 5"), codes ("Q3", "ERR7") and years ("in 2027") of the question
/// that no retrieved passage, title or heading names: the wiki has nothing on them, so an
/// answer would be about something else (last year's figure for a quarter or a year no page
/// mentions).
pub fn absent_names(query: &str, evidence: &[Evidence]) -> Vec<String> {
    // A code is one word with a letter and a digit; a numbered name's words hold only one of
    // them, so the two lists never overlap.
    let mut names = quantity::numbered_names(query);
    names.extend(quantity::codes(query));
    names.extend(quantity::years(query));
    names
        .into_iter()
        .filter(|name| {
            !evidence.iter().any(|ev| {
                [&ev.text, &ev.title, &ev.heading]
                    .iter()
                    .any(|t| quantity::contains_words(t, name))
            })
        })
        .collect()
}

/// The refusal for a question about names the wiki does not have, with the pages found nearby
/// (so the asker sees what the wiki does cover).
pub fn names_not_found(absent: &[String], shown: &[Citation]) -> String {
    format!(
        "The wiki does not say: no page found mentions {}.{}",
        absent.join(" or "),
        nearest_pages(shown)
    )
}

/// The years of `query` for which the answer's figures are stated only by passages dated to
/// other years: every passage stating a figure of `answer` mentions a year (in its text,
/// title, heading or page path), and none mentions this one. A tariff page for 2026 is no
/// answer about 2027; a weekly stipend on an undated page answers a question about any year.
/// Empty when the answer states no figure of its own (the question's numbers are not its
/// figures).
pub fn years_not_stated_with(answer: &str, query: &str, shown: &[Citation]) -> Vec<String> {
    let years = quantity::years(query);
    if years.is_empty() {
        return Vec::new();
    }
    let given = quantity::numbers_in(query);
    let plain = quantity::without_numbered_names(&quantity::strip_citations(answer));
    let figures: Vec<f64> = quantity::numbers_in(&plain)
        .into_iter()
        .filter(|x| {
            !given
                .iter()
                .any(|g| quantity::same(*x, *g, quantity::EXACT))
        })
        .collect();
    let stating: Vec<&Citation> = shown
        .iter()
        .filter(|c| {
            let stated = quantity::numbers_in(&c.labelled());
            figures.iter().any(|x| {
                stated
                    .iter()
                    .any(|y| quantity::same(*x, *y, quantity::ROUNDED))
            })
        })
        .collect();
    if stating.is_empty() {
        return Vec::new();
    }
    let dated = |c: &Citation| {
        !quantity::years(&c.labelled()).is_empty()
            || !quantity::years(&c.source.replace(|ch: char| !ch.is_alphanumeric(), " ")).is_empty()
    };
    if !stating.iter().all(|c| dated(c)) {
        return Vec::new();
    }
    years
        .into_iter()
        .filter(|y| !stating.iter().any(|c| names(c, y)))
        .collect()
}

/// The refusal for an answer whose figures are for other years than the question's.
pub fn no_figures_for(years: &[String], shown: &[Citation]) -> String {
    format!(
        "The wiki does not say: no passage found gives figures for {}.{}",
        years.join(" or "),
        nearest_pages(shown)
    )
}

/// The refusal when the evidence found does not support an answer: what was looked at, so the
/// asker can read on from there.
pub fn not_supported(shown: &[Citation]) -> String {
    format!("{NOT_IN_WIKI}{}", nearest_pages(shown))
}

/// " The nearest pages are: A; B; C." (the first three titles of the evidence), or "".
fn nearest_pages(shown: &[Citation]) -> String {
    let mut titles: Vec<&str> = Vec::new();
    for c in shown {
        if !c.title.is_empty() && !titles.contains(&c.title.as_str()) {
            titles.push(&c.title);
        }
    }
    if titles.is_empty() {
        return String::new();
    }
    format!(
        " The nearest pages are: {}.",
        titles.into_iter().take(3).collect::<Vec<_>>().join("; ")
    )
}

/// The figures of `answer` that no passage shown states and `given` (the question and earlier
/// turns) does not either: a number the model made up. A citation marker
/// or a name's number ("Model 4") is no figure; "5:30 pm" is read as 17:30. The result of
/// arithmetic the answer writes out and that holds (`arith::results`) is known.
pub fn invented_figures(answer: &str, shown: &[Citation], given: &str) -> Vec<String> {
    if is_refusal(answer) {
        return Vec::new();
    }
    // Figures of a text with its citation markers and the numbers of names ("Model 5") left
    // out, clock times on the 24-hour clock.
    let plain = |text: &str| quantity::without_numbered_names(&quantity::strip_citations(text));
    let figures = |text: &str| quantity::numbers_in(&twenty_four_hour(&plain(text)));
    let mut stated: Vec<f64> = shown.iter().flat_map(|c| figures(&c.labelled())).collect();
    stated.extend(figures(given));
    // A result the answer computed from its figures ("$169 + $89 = $258"), once the
    // arithmetic holds: its operands are figures of the answer too, checked here like any.
    stated.extend(super::arith::results(&quantity::strip_citations(answer)));
    // A bare figure under 1 is no claim of its own; one with a unit or currency ("$0", "0.4
    // days") is, and must be stated like any other.
    let answer_plain = plain(answer);
    let measured: Vec<f64> = quantity::quantities_in(&answer_plain)
        .into_iter()
        .filter(|q| q.unit.is_some())
        .map(|q| q.value)
        .collect();
    let mut invented: Vec<String> = Vec::new();
    for x in quantity::numbers_in(&twenty_four_hour(&answer_plain)) {
        let bare = !measured
            .iter()
            .any(|y| quantity::same(x, *y, quantity::EXACT));
        let known = (bare && x.abs() < 1.0)
            || stated
                .iter()
                .any(|y| quantity::same(x.abs(), y.abs(), quantity::ROUNDED));
        let shown_as = crate::tools::step::format_number(x);
        if !known && !invented.contains(&shown_as) {
            invented.push(shown_as);
        }
    }
    invented
}

/// Clock times written with "pm" on the 24-hour clock ("5:30 pm" -> "17:30"), so a time the
/// answer converts from "17:30" is read as the passage's.
fn twenty_four_hour(text: &str) -> String {
    let is_pm = |s: &str| {
        let s = s.to_lowercase();
        let s = s.trim_end_matches([',', ';', ')', '.']);
        s == "pm" || s == "p.m"
    };
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let digits = w.len() - w.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let rest = &w[digits..];
        let tail = match rest.strip_prefix(':') {
            Some(m) if m.len() >= 2 && m[..2].bytes().all(|b| b.is_ascii_digit()) => &m[2..],
            _ => rest,
        };
        let pm = (!tail.is_empty() && is_pm(tail))
            || (tail.is_empty() && words.get(i + 1).is_some_and(|n| is_pm(n)));
        match w[..digits].parse::<u32>() {
            Ok(h) if (1..=2).contains(&digits) && (1..12).contains(&h) && pm => {
                out.push(format!("{}{rest}", h + 12));
            }
            _ => out.push((*w).to_string()),
        }
    }
    out.join(" ")
}

/// The question's subjects: its name words (`quantity::names_in`; a numbered name whole) that
/// the title or heading of a passage shown names, i.e. what the wiki files pages and sections
/// under (a place, a product, a team), and the name of a shown section (its heading's last
/// part, two words or more) that the question writes whole ("the front desk" where a page has
/// a "Front desk" section). An answer about one of them must come from a passage that names
/// it: front desk hours are not the support floor's hours on the same page.
pub fn subjects(query: &str, shown: &[Citation]) -> Vec<String> {
    let numbered = quantity::numbered_names(query);
    let mut names: Vec<String> = numbered.iter().map(|n| n.to_lowercase()).collect();
    for w in quantity::names_in(query) {
        let part_of_numbered = names.iter().any(|n| n.split(' ').any(|p| p == w));
        if !w.chars().all(|c| c.is_ascii_digit()) && !part_of_numbered && !names.contains(&w) {
            names.push(w);
        }
    }
    names.retain(|n| {
        shown.iter().any(|c| {
            quantity::contains_words(&c.title, n) || quantity::contains_words(&c.heading, n)
        })
    });
    // One word ("Battery", "Hotels") names a topic more often than a section a question is
    // confined to; two or more written whole in the question do.
    for c in shown {
        let section = c.heading.rsplit(" > ").next().unwrap_or_default().trim();
        let words = section.split_whitespace().count();
        let section = section.to_lowercase();
        if words >= 2 && quantity::contains_words(query, &section) && !names.contains(&section) {
            names.push(section);
        }
    }
    names
}

/// Whether a passage names `subject` in its page, title, heading or text.
fn names(c: &Citation, subject: &str) -> bool {
    quantity::contains_words(&c.labelled(), subject) || quantity::contains_words(&c.source, subject)
}

/// The subjects that no cited passage names: the answer was drawn from passages about
/// something else ("the yard at Brill" answered from another yard's page).
pub fn unnamed_subjects(subjects: &[String], cited: &[Citation]) -> Vec<String> {
    subjects
        .iter()
        .filter(|s| !cited.iter().any(|c| names(c, s)))
        .cloned()
        .collect()
}

/// What the checks found in a drafted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Vetted {
    /// Every figure is stated and every subject is named by a passage it cites.
    Supported,
    /// Figures no passage (nor the question) states.
    Invented(Vec<String>),
    /// Subjects of the question that no passage the answer cites names.
    OffSubject(Vec<String>),
}

/// Checks an answer (not a refusal) against the evidence shown: its figures must be stated
/// there or in `given` (unchecked when None), and the passages it cites must name the
/// question's `subjects`.
pub fn vet(text: &str, shown: &[Citation], given: Option<&str>, subjects: &[String]) -> Vetted {
    if let Some(given) = given {
        let invented = invented_figures(text, shown, given);
        if !invented.is_empty() {
            return Vetted::Invented(invented);
        }
    }
    let checked = check(text, shown);
    if !checked.answered {
        return Vetted::Supported;
    }
    let unnamed = unnamed_subjects(subjects, &checked.citations);
    if unnamed.is_empty() {
        Vetted::Supported
    } else {
        Vetted::OffSubject(unnamed)
    }
}

/// The numbers of the passages shown that name every subject.
pub fn naming_all(subjects: &[String], shown: &[Citation]) -> Vec<usize> {
    shown
        .iter()
        .filter(|c| subjects.iter().all(|s| names(c, s)))
        .map(|c| c.n)
        .collect()
}

pub fn check(text: &str, shown: &[Citation]) -> Checked {
    let mut cited: Vec<usize> = Vec::new();
    let mut notes = Vec::new();
    let out = quantity::replace_citations(text, false, |ns| {
        let valid: Vec<usize> = ns
            .iter()
            .copied()
            .filter(|n| *n >= 1 && *n <= shown.len())
            .collect();
        for n in ns {
            if !valid.contains(n) {
                notes.push(format!("removed citation [{n}]: no such evidence"));
            }
        }
        for n in &valid {
            if !cited.contains(n) {
                cited.push(*n);
            }
        }
        valid.iter().map(|n| format!("[{n}]")).collect()
    });
    let text = tidy_spaces(&out);
    // Unanswered: the refusal sentence comes first, or every sentence is a refusal. A partial
    // answer ("X is 12 weeks. The wiki does not say Y.") is an answer.
    let refused = text.to_lowercase().starts_with("the wiki does not say")
        || split_sentences(&text)
            .iter()
            .filter(|s| !s.trim().is_empty())
            .all(|s| is_refusal(s));
    if refused {
        // A refusal cites nothing: the pages it lists as nearest get no marker.
        return Checked {
            text,
            citations: Vec::new(),
            answered: false,
            notes,
        };
    }
    let (text, added) = attribute(&text, shown);
    for n in added {
        if !cited.contains(&n) {
            cited.push(n);
        }
    }
    if cited.is_empty() {
        notes.push("the answer cites no evidence".into());
    }
    Checked {
        citations: cited
            .iter()
            .filter_map(|n| shown.get(n - 1).cloned())
            .collect(),
        text,
        answered: true,
        notes,
    }
}

pub(super) fn is_refusal(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    [
        "does not say",
        "doesn't say",
        "no information",
        "not mentioned",
        "does not mention",
        "does not cover",
        "not stated",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Sentences the model left uncited get the evidence that states their numbers (or, without
/// numbers, the passage sharing most of their words): a citation is only ever added where the
/// passage really contains what the sentence says.
pub(super) fn attribute(text: &str, shown: &[Citation]) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len() + 16);
    let mut added = Vec::new();
    for sentence in split_sentences(text) {
        let trimmed = sentence.trim_end();
        let has_marker = trimmed.contains('[') && trimmed.contains(']');
        let mut found: Vec<usize> = Vec::new();
        if !has_marker && !trimmed.is_empty() && !is_refusal(trimmed) {
            let numbers: Vec<f64> = quantity::numbers_stated(trimmed)
                .into_iter()
                .filter(|x| x.abs() >= 1.0)
                .collect();
            for x in &numbers {
                if let Some(c) = shown.iter().find(|c| {
                    quantity::numbers_in(&c.text)
                        .iter()
                        .any(|y| quantity::same(*x, *y, quantity::EXACT))
                }) && !found.contains(&c.n)
                {
                    found.push(c.n);
                }
            }
            if numbers.is_empty() {
                let words = content_words(trimmed);
                let best = shown
                    .iter()
                    .map(|c| {
                        let cw = content_words(&c.text);
                        let hit = words.iter().filter(|w| cw.contains(w)).count();
                        (hit, c.n)
                    })
                    .max_by_key(|(hit, n)| (*hit, std::cmp::Reverse(*n)));
                if let Some((hit, n)) = best
                    && words.len() >= 2
                    && hit * 2 >= words.len()
                {
                    found.push(n);
                }
            }
        }
        if found.is_empty() {
            out.push_str(sentence);
            continue;
        }
        // Put the markers before the sentence's closing punctuation.
        let body = trimmed.trim_end_matches(['.', '!', '?']);
        let end = &trimmed[body.len()..];
        let tail = &sentence[trimmed.len()..];
        let marks: String = found.iter().map(|n| format!("[{n}]")).collect();
        out.push_str(&format!("{body} {marks}{end}{tail}"));
        added.extend(found);
    }
    (out, added)
}

/// Splits after ". ", "! ", "? " and newlines, keeping the separators with the sentence.
pub(crate) fn split_sentences(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let end_mark = matches!(bytes[i], b'.' | b'!' | b'?')
            && bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace())
            && !(bytes[i] == b'.'
                && i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()));
        if end_mark || bytes[i] == b'\n' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            parts.push(&text[start..j]);
            start = j;
        }
    }
    if start < text.len() {
        parts.push(&text[start..]);
    }
    parts
}

pub(super) fn content_words(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "the", "and", "that", "this", "with", "from", "have", "your", "they", "their", "there",
        "which", "what", "when", "will", "does", "about", "into", "than", "then", "were", "been",
        "also", "only", "each", "wiki",
    ];
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 4 && !STOP.contains(w))
        .map(str::to_string)
        .collect()
}

/// Collapses the double spaces left where a marker was removed.
pub(super) fn tidy_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.trim().chars() {
        if c == ' ' && prev_space {
            continue;
        }
        prev_space = c == ' ';
        out.push(c);
    }
    out.replace(" .", ".").replace(" ,", ",")
}
