//! Synthesis: picks the evidence the answer may use (passages the facts came from first, then
//! each search's best hits), numbers it [1]..[n], writes the facts the steps computed as plain
//! lines citing those numbers, and after the synthesizer has written the answer checks every
//! citation against the evidence actually shown: unknown numbers are removed, and an answer
//! that says the wiki does not cover the question is marked unanswered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Turn;
use super::executor::{Evidence, EvidenceSet, StepOutput, clip, format_number};
use super::plan::ValidPlan;
use crate::dates;
use crate::quantity;

/// The sentence the synthesizer is told to use when the evidence does not answer.
pub const NOT_IN_WIKI: &str = "The wiki does not say.";

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Citation {
    pub n: usize,
    pub source: String,
    pub heading: String,
    pub title: String,
    /// The passage text shown to the synthesizer (front ends open it from the citation).
    pub text: String,
}

/// The evidence shown to the synthesizer, numbered from 1, and the facts lines.
pub struct Prepared {
    pub shown: Vec<Citation>,
    pub evidence_text: String,
    pub facts_text: String,
    /// The exact results the steps computed, which the answer must state.
    pub computed: Vec<Computed>,
    /// The answer written from the computed results alone, when they are complete.
    pub template: Option<String>,
}

/// An exact result of a compare or calculate step: a sentence citing the evidence it came
/// from, and the figures an answer states when it reports the result (a comparison's two
/// values and their difference; a calculation's result).
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub sentence: String,
    pub figures: Vec<f64>,
}

pub fn prepare(
    plan: &ValidPlan,
    outputs: &BTreeMap<String, StepOutput>,
    evidence: &EvidenceSet,
    max_passages: usize,
    passage_chars: usize,
) -> Prepared {
    // Evidence ids in the order they should be shown: cited by facts first.
    let mut order: Vec<usize> = Vec::new();
    let push = |order: &mut Vec<usize>, e: usize| {
        if !order.contains(&e) {
            order.push(e);
        }
    };
    for step in &plan.steps {
        match outputs.get(&step.id) {
            Some(StepOutput::Extract { facts, .. }) => {
                for f in facts {
                    if let Some(e) = f.evidence {
                        push(&mut order, e);
                    }
                }
            }
            Some(StepOutput::Compare { rows }) => {
                for r in rows {
                    for e in &r.evidence {
                        push(&mut order, *e);
                    }
                }
            }
            Some(StepOutput::Calculate { evidence, .. }) => {
                for e in evidence {
                    push(&mut order, *e);
                }
            }
            _ => {}
        }
    }
    // Then the searches' hits, best first, taking turns so every search is represented.
    let searches: Vec<&Vec<usize>> = plan
        .steps
        .iter()
        .filter_map(|s| match outputs.get(&s.id) {
            Some(StepOutput::Search { evidence, .. }) => Some(evidence),
            _ => None,
        })
        .collect();
    let deepest = searches.iter().map(|s| s.len()).max().unwrap_or(0);
    for rank in 0..deepest {
        for s in &searches {
            if let Some(e) = s.get(rank) {
                push(&mut order, *e);
            }
        }
    }
    order.truncate(max_passages.max(1));
    let number: BTreeMap<usize, usize> =
        order.iter().enumerate().map(|(i, e)| (*e, i + 1)).collect();
    let mut shown = Vec::new();
    let mut evidence_text = String::new();
    for (i, e) in order.iter().enumerate() {
        let Some(ev) = evidence.get(*e) else { continue };
        evidence_text.push_str(&format!(
            "[{}] {} > {}: {}\n",
            i + 1,
            ev.title,
            ev.heading,
            clip(&ev.text, passage_chars)
        ));
        shown.push(Citation {
            n: i + 1,
            source: ev.source,
            heading: ev.heading,
            title: ev.title,
            text: ev.text,
        });
    }
    let cite = |ids: &[usize]| -> String {
        let mut ns: Vec<usize> = ids.iter().filter_map(|e| number.get(e).copied()).collect();
        ns.dedup();
        ns.iter().map(|n| format!("[{n}]")).collect()
    };
    let mut facts = Vec::new();
    let mut computed = Vec::new();
    let mut missing = Vec::new();
    let mut stated = Vec::new();
    for step in &plan.steps {
        match outputs.get(&step.id) {
            Some(StepOutput::Extract {
                label, facts: fs, ..
            }) => {
                for f in fs {
                    match &f.value {
                        Some(v) => {
                            let date = v.value.as_str().and_then(dates::parse_iso);
                            let value = match (v.value.as_f64(), date) {
                                (Some(x), _) => format_number(x),
                                (None, Some(d)) => dates::long(d),
                                _ => v.value.to_string().trim_matches('"').into(),
                            };
                            let unit = v
                                .unit
                                .as_deref()
                                .map(|u| format!(" {u}"))
                                .unwrap_or_default();
                            let ids: Vec<usize> = f.evidence.into_iter().collect();
                            stated.push((
                                format!(
                                    "{}, {}: {value}{unit} {}.",
                                    capitalize(label),
                                    f.field.replace('_', " "),
                                    cite(&ids)
                                ),
                                value.clone(),
                            ));
                            facts.push(format!(
                                "- {label}, {}: {value}{unit} {}",
                                f.field,
                                cite(&ids)
                            ));
                        }
                        None => {
                            missing.push(format!("{label}, {}", f.field));
                            facts.push(format!(
                                "- {label}, {}: not stated in the evidence",
                                f.field
                            ));
                        }
                    }
                }
            }
            Some(StepOutput::Compare { rows }) => {
                for r in rows {
                    let unit = r
                        .result
                        .unit
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default();
                    let percent = r.result.percent_change.map(|p| {
                        format!("{}{}%", if p >= 0.0 { "+" } else { "" }, format_number(p))
                    });
                    let pct = percent
                        .as_ref()
                        .map(|p| format!(", {p}"))
                        .unwrap_or_default();
                    let larger = if r.result.larger == "equal" {
                        "they are equal".to_string()
                    } else {
                        format!(
                            "{} is larger by {}{unit}",
                            r.result.larger,
                            format_number(r.result.abs_difference)
                        )
                    };
                    let d = r.result.difference;
                    let b_label = subject(&r.b_label, &r.field);
                    let direction = if d > 0.0 {
                        format!(" ({b_label} higher{pct})")
                    } else if d < 0.0 {
                        format!(" ({b_label} lower{pct})")
                    } else {
                        String::new()
                    };
                    computed.push(Computed {
                        sentence: format!(
                            "{field}: {b_label} {b}{unit} against {a_label} {a}{unit}, a difference of {d}{unit}{direction} {c}.",
                            field = capitalize(&r.field.replace('_', " ")),
                            a_label = subject(&r.a_label, &r.field),
                            a = format_number(r.result.a),
                            b = format_number(r.result.b),
                            d = format_number(r.result.abs_difference),
                            c = cite(&r.evidence),
                        ),
                        figures: vec![r.result.a, r.result.b, r.result.abs_difference],
                    });
                    facts.push(format!(
                        "- {field}: {a_label} = {a}{unit}; {b_label} = {b}{unit}; {b_label} minus {a_label} = {d}{unit}{pct}; {larger} {c}",
                        pct = percent.map(|p| format!(" ({p})")).unwrap_or_default(),
                        field = r.field,
                        a_label = r.a_label,
                        b_label = r.b_label,
                        a = format_number(r.result.a),
                        b = format_number(r.result.b),
                        d = format_number(r.result.difference),
                        c = cite(&r.evidence),
                    ));
                }
            }
            Some(StepOutput::Calculate {
                expression,
                result,
                unit,
                evidence,
            }) => {
                let unit = match unit.as_deref() {
                    Some("%") => "%".to_string(),
                    Some(u) => format!(" {u}"),
                    None => String::new(),
                };
                let line = format!(
                    "{expression} = {}{unit} {}",
                    format_number(*result),
                    cite(evidence)
                );
                computed.push(Computed {
                    sentence: format!("{}.", capitalize(line.trim_end())),
                    figures: vec![*result],
                });
                facts.push(format!("- {line}"));
            }
            _ => {}
        }
    }
    let facts_text = if facts.is_empty() {
        String::new()
    } else {
        format!(
            "\nFacts computed from the evidence:\n{}\n",
            facts.join("\n")
        )
    };
    let template = template(&computed, &stated, &missing);
    Prepared {
        shown,
        evidence_text,
        facts_text,
        computed,
        template,
    }
}

/// The answer code writes when the plan computed its results from verified values: the
/// computed sentences, and each extracted value they do not already state, all cited. None
/// when nothing was computed or a value the plan needed was not found (then a model writes
/// the answer, saying what is missing).
fn template(
    computed: &[Computed],
    stated: &[(String, String)],
    missing: &[String],
) -> Option<String> {
    if computed.is_empty() || !missing.is_empty() {
        return None;
    }
    let mut sentences: Vec<String> = computed.iter().map(|c| c.sentence.clone()).collect();
    let said = sentences.join(" ");
    for (sentence, value) in stated {
        if !quantity::contains_words(&said, value) && !sentences.contains(sentence) {
            sentences.push(sentence.clone());
        }
    }
    Some(sentences.join(" "))
}

/// "Orbit 3" of the label "Orbit 3 battery_life" (labels name the thing and the field).
fn subject<'a>(label: &'a str, field: &str) -> &'a str {
    label
        .strip_suffix(field)
        .map(str::trim_end)
        .filter(|s| !s.is_empty())
        .unwrap_or(label)
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The computed results the answer does not state are added to it as sentences (with their
/// citations): a small synthesizer often restates the inputs and drops the difference, but an
/// exact result the plan paid for is never lost. An answer that refused is replaced by them.
pub fn complete(text: &str, computed: &[Computed]) -> (String, Vec<String>) {
    // A marker ("[5]") or a name's number ("Model 5") never states a computed difference.
    let stated = quantity::numbers_in(&quantity::without_numbered_names(
        &quantity::strip_citations(text),
    ));
    let missing: Vec<&Computed> = computed
        .iter()
        .filter(|c| {
            !c.figures.iter().all(|f| {
                stated
                    .iter()
                    .any(|x| (x.abs() - f.abs()).abs() < 0.005 * f.abs().max(1.0))
            })
        })
        .collect();
    if missing.is_empty() {
        return (text.to_string(), Vec::new());
    }
    let refused = text.trim().is_empty()
        || split_sentences(text)
            .iter()
            .filter(|s| !s.trim().is_empty())
            .all(|s| is_refusal(s));
    let added: Vec<&str> = if refused {
        computed.iter().map(|c| c.sentence.as_str()).collect()
    } else {
        missing.iter().map(|c| c.sentence.as_str()).collect()
    };
    let notes = vec![format!(
        "added {} computed result(s) the answer left out",
        added.len()
    )];
    let text = if refused {
        added.join(" ")
    } else {
        format!("{} {}", text.trim_end(), added.join(" "))
    };
    (text, notes)
}

/// With computed facts the synthesizer is told to use them (a small model otherwise tends to
/// give up); without, nothing is added.
pub fn instruction(prepared: &Prepared) -> &'static str {
    if prepared.facts_text.is_empty() {
        ""
    } else {
        "Use the computed facts above; they are exact.\n"
    }
}

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
/// found in another passage counts for that one); with no verified quote and no computed fact
/// the answer is that the wiki does not say, whatever the model wrote; an answer that refuses
/// although verified quotes exist becomes those quotes; an answer without any citation gets the
/// quotes' evidence numbers.
pub fn settle(draft: &Draft, shown: &[Citation], has_facts: bool) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    // Table bars, like markdown emphasis, are not part of what a passage says.
    let flat = |s: &str| crate::tools::extract::flatten(&s.replace('|', ""));
    let mut verified: Vec<(usize, String)> = Vec::new();
    for q in &draft.quotes {
        let quote = flat(q.quote.trim_matches(['"', ' ', '.']));
        if quote.len() < 3 {
            continue;
        }
        let stated = shown
            .get(q.evidence.wrapping_sub(1))
            .filter(|c| flat(&c.text).contains(&quote))
            .or_else(|| shown.iter().find(|c| flat(&c.text).contains(&quote)));
        match stated {
            Some(c) => verified.push((c.n, q.quote.trim().to_string())),
            // The note does not repeat the quote: model text that is in no passage may be
            // injected or invented, and notes are shown to the user.
            None => notes.push(format!(
                "dropped a quote given for [{}]: its {} characters are in no passage shown",
                q.evidence,
                q.quote.chars().count()
            )),
        }
    }
    let answer = draft.answer.trim();
    if verified.is_empty() && !has_facts {
        // Small models sometimes skip the quotes but state the right figures: an answer that
        // gave no quote at all and whose every figure is stated by the evidence stands
        // (check() attributes its sentences). An invented quote is never forgiven.
        if draft.quotes.is_empty() && figures_all_stated(answer, shown) {
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
    if refuses && !verified.is_empty() {
        notes.push("the answer refused although the evidence states it; quoting instead".into());
        let quoted: Vec<String> = verified
            .iter()
            .map(|(n, q)| format!("\"{}\" [{n}]", q.trim_end_matches('.')))
            .collect();
        return (format!("The wiki says: {}.", quoted.join("; ")), notes);
    }
    if !answer.contains('[') && !verified.is_empty() {
        let mut ns: Vec<usize> = verified.iter().map(|(n, _)| *n).collect();
        ns.dedup();
        let marks: String = ns.iter().map(|n| format!("[{n}]")).collect();
        let body = answer.trim_end_matches(['.', '!']);
        return (format!("{body} {marks}."), notes);
    }
    (answer.to_string(), notes)
}

/// Whether `answer` (not a refusal) gives figures and each is stated by some passage. The
/// number of a name ("Orbit 3") is not a figure, and the name must be in the evidence: a figure
/// of the Orbit 4 cannot answer for a Orbit 5 the wiki never mentions.
fn figures_all_stated(answer: &str, shown: &[Citation]) -> bool {
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
        && figures
            .iter()
            .all(|x| stated.iter().flatten().any(|y| (x - y).abs() < 1e-9))
}

/// Earlier turns as the prompts show them.
pub fn history_text(history: &[Turn], turns: usize) -> String {
    if history.is_empty() || turns == 0 {
        return String::new();
    }
    let start = history.len().saturating_sub(turns);
    let mut s = String::from("Earlier in this conversation:\n");
    for t in &history[start..] {
        s.push_str(&format!("Q: {}\nA: {}\n", t.question, clip(&t.answer, 400)));
    }
    s.push('\n');
    s
}

/// The checked answer: invalid citation markers removed, citations in order of first use.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub text: String,
    pub citations: Vec<Citation>,
    pub answered: bool,
    pub notes: Vec<String>,
}

/// The numbered names of the question ("Model 5") that no retrieved passage, title or heading
/// names: the wiki has nothing on them, so an answer would be about something else.
pub fn absent_names(query: &str, evidence: &[Evidence]) -> Vec<String> {
    quantity::numbered_names(query)
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
    let mut text = format!(
        "The wiki does not say: no page found mentions {}.",
        absent.join(" or ")
    );
    let mut titles: Vec<&str> = Vec::new();
    for c in shown {
        if !c.title.is_empty() && !titles.contains(&c.title.as_str()) {
            titles.push(&c.title);
        }
    }
    if !titles.is_empty() {
        text.push_str(&format!(
            " The nearest pages are: {}.",
            titles.into_iter().take(3).collect::<Vec<_>>().join("; ")
        ));
    }
    text
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
    let (text, added) = attribute(&text, shown);
    for n in added {
        if !cited.contains(&n) {
            cited.push(n);
        }
    }
    // Unanswered: the refusal sentence comes first, or every sentence is a refusal. A partial
    // answer ("X is 12 weeks. The wiki does not say Y.") is an answer.
    let refused = text.to_lowercase().starts_with("the wiki does not say")
        || split_sentences(&text)
            .iter()
            .filter(|s| !s.trim().is_empty())
            .all(|s| is_refusal(s));
    if refused {
        return Checked {
            text,
            citations: Vec::new(),
            answered: false,
            notes,
        };
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

fn is_refusal(sentence: &str) -> bool {
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
fn attribute(text: &str, shown: &[Citation]) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len() + 16);
    let mut added = Vec::new();
    for sentence in split_sentences(text) {
        let trimmed = sentence.trim_end();
        let has_marker = trimmed.contains('[') && trimmed.contains(']');
        let mut found: Vec<usize> = Vec::new();
        if !has_marker && !trimmed.is_empty() && !is_refusal(trimmed) {
            let numbers: Vec<f64> =
                quantity::numbers_in(&quantity::without_numbered_names(trimmed))
                    .into_iter()
                    .filter(|x| x.abs() >= 1.0)
                    .collect();
            for x in &numbers {
                if let Some(c) = shown.iter().find(|c| {
                    quantity::numbers_in(&c.text)
                        .iter()
                        .any(|y| (x - y).abs() < 1e-9)
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
fn split_sentences(text: &str) -> Vec<&str> {
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

fn content_words(text: &str) -> Vec<String> {
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
fn tidy_spaces(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(n: usize) -> Vec<Citation> {
        (1..=n)
            .map(|i| Citation {
                n: i,
                source: format!("p{i}.md"),
                heading: "h".into(),
                title: "t".into(),
                text: String::new(),
            })
            .collect()
    }

    #[test]
    fn a_question_about_a_name_no_passage_has_is_refused_with_the_pages_nearby() {
        let ev = |title: &str, text: &str| Evidence {
            source: "p.md".into(),
            heading: title.into(),
            title: title.into(),
            text: text.into(),
            chunk_index: 0,
        };
        let found = [
            ev("Orbit 4 spec", "The Orbit 4 costs $1,199."),
            ev("Lineup", "Orbit 3 and Orbit 4 are sold now."),
        ];
        assert!(absent_names("How much does the Orbit 4 cost?", &found).is_empty());
        // "Orbit 40" is not "Orbit 4"; "In 4 days" is a figure, not a name.
        assert_eq!(
            absent_names("How much will the Orbit 5 cost, and the Orbit 40?", &found),
            vec!["Orbit 5".to_string(), "Orbit 40".to_string()]
        );
        assert!(absent_names("Can I return it In 4 days?", &found).is_empty());
        let mut near = shown(2);
        near[0].title = "Orbit 4 spec".into();
        near[1].title = "Lineup".into();
        let text = names_not_found(&["Orbit 5".into()], &near);
        assert_eq!(
            text,
            "The wiki does not say: no page found mentions Orbit 5. The nearest pages are: \
             Orbit 4 spec; Lineup."
        );
        let checked = check(&text, &near);
        assert!(!checked.answered);
        assert!(checked.citations.is_empty());
    }

    /// The seed example's plan after execution: two searches, two extractions, a comparison.
    fn seed_prepared() -> Prepared {
        use crate::agent::executor::CompareRow;
        use crate::agent::plan::{Plan, Step, validate};
        use crate::search::Hit;
        use crate::tools::compare::{CompareArgs, Quantity, compare};
        let step = |id: &str, tool: &str, args: Value, deps: &[&str]| Step {
            id: id.into(),
            tool: tool.into(),
            args,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        };
        let fields = json!({"fields": [
            {"name": "battery_hours", "type": "number", "unit": "hours", "description": "battery"},
            {"name": "price", "type": "number", "unit": "USD", "description": "price"}]});
        let mut e1 = fields.clone();
        e1["from"] = json!(["s1"]);
        let mut e2 = fields;
        e2["from"] = json!(["s2"]);
        let plan = validate(
            &Plan {
                steps: vec![
                    step("s1", "search", json!({"query": "Orbit 3"}), &[]),
                    step("s2", "search", json!({"query": "Orbit 4"}), &[]),
                    step("s3", "extract", e1, &["s1"]),
                    step("s4", "extract", e2, &["s2"]),
                    step(
                        "s5",
                        "compare",
                        json!({"a": "s3", "b": "s4"}),
                        &["s3", "s4"],
                    ),
                ],
            },
            8,
        )
        .unwrap();
        let evidence = EvidenceSet::default();
        let hit = |source: &str, text: &str| Hit {
            score: 1.0,
            source: source.into(),
            heading: "Specs".into(),
            text: text.into(),
            title: source.into(),
            chunk_index: 0,
        };
        let a = evidence.add(&hit(
            "products/orbit-3.md",
            "Battery 14 hours, price $1,349",
        ));
        let b = evidence.add(&hit(
            "products/orbit-4.md",
            "Battery 19 hours, price $1,199",
        ));
        let row = |field: &str, x: f64, y: f64, unit: &str| CompareRow {
            field: field.into(),
            a_label: format!("Orbit 3 {field}"),
            b_label: format!("Orbit 4 {field}"),
            result: compare(&CompareArgs {
                a: Quantity {
                    label: "Orbit 3".into(),
                    value: x,
                    unit: Some(unit.into()),
                },
                b: Quantity {
                    label: "Orbit 4".into(),
                    value: y,
                    unit: Some(unit.into()),
                },
            })
            .unwrap(),
            evidence: vec![a, b],
        };
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "s5".to_string(),
            StepOutput::Compare {
                rows: vec![
                    row("battery_hours", 14.0, 19.0, "hours"),
                    row("price", 1349.0, 1199.0, "USD"),
                ],
            },
        );
        prepare(&plan, &outputs, &evidence, 6, 400)
    }

    #[test]
    fn computed_differences_the_answer_left_out_are_added_with_citations() {
        let p = seed_prepared();
        assert_eq!(p.computed.len(), 2);
        assert!(
            p.facts_text
                .contains("Orbit 4 battery_hours minus Orbit 3 battery_hours = 5 hours (+35.71%);"),
            "{}",
            p.facts_text
        );
        assert!(
            p.computed[0]
                .sentence
                .starts_with("Battery hours: Orbit 4 19 hours"),
            "{:?}",
            p.computed
        );
        // The small model restated the inputs and dropped the differences.
        let (text, notes) = complete(
            "The Orbit 3 lasts 14 hours and costs $1,349 [1]; the Orbit 4 lasts 19 hours and costs $1,199 [2].",
            &p.computed,
        );
        assert!(
            text.contains("a difference of 5 hours (Orbit 4 higher, +35.71%) [1][2]."),
            "{text}"
        );
        assert!(
            text.contains("a difference of 150 USD (Orbit 4 lower, -11.12%) [1][2]."),
            "{text}"
        );
        assert_eq!(notes.len(), 1);
        // Every marker the sentences carry is valid evidence.
        let checked = check(&text, &p.shown);
        assert!(
            checked.notes.iter().all(|n| !n.contains("removed")),
            "{:?}",
            checked.notes
        );
        assert_eq!(checked.citations.len(), 2);
    }

    #[test]
    fn an_answer_that_states_the_results_is_left_alone_and_a_refusal_is_replaced() {
        let p = seed_prepared();
        let said = "The Orbit 4 lasts 19 hours, 5 more than the Orbit 3's 14, and costs $1,199, \
                    $150 less than the Orbit 3's $1,349 [1][2].";
        assert_eq!(complete(said, &p.computed), (said.to_string(), Vec::new()));
        // The difference alone is not the comparison: the two values are added.
        let (text, _) = complete(
            "The Orbit 4 lasts 5 hours longer and costs $150 less [1][2].",
            &p.computed,
        );
        assert!(
            text.contains("Orbit 4 19 hours against Orbit 3 14 hours"),
            "{text}"
        );
        let (text, _) = complete(NOT_IN_WIKI, &p.computed);
        assert!(!text.contains("does not say"), "{text}");
        assert!(
            text.starts_with("Battery hours:") && text.contains("Price:"),
            "{text}"
        );
        assert!(check(&text, &p.shown).answered);
        assert_eq!(complete("Anything.", &[]).0, "Anything.");
    }

    #[test]
    fn uncited_sentences_get_the_passage_that_states_them() {
        let mut ev = shown(2);
        ev[0].text = "Orbit 3: Battery life | 14 hours | price $1,349".into();
        ev[1].text = "Nadir Optics makes the Orbit 4 panels; lead time 12 weeks.".into();
        let c = check(
            "Orbit 3 lasts 14 hours. Nadir Optics makes the panels. It is great.",
            &ev,
        );
        assert_eq!(
            c.text,
            "Orbit 3 lasts 14 hours [1]. Nadir Optics makes the panels [2]. It is great."
        );
        assert_eq!(c.citations.len(), 2);
        // A number no passage states gets no citation.
        let c = check("It costs $999.", &ev);
        assert!(c.citations.is_empty());
    }

    #[test]
    fn keeps_valid_citations_and_drops_invented_ones() {
        let c = check(
            "Orbit 4 lasts 19 hours [2] and costs $1,199 [2][7]. Orbit 3 [1, 9].",
            &shown(2),
        );
        assert_eq!(
            c.text,
            "Orbit 4 lasts 19 hours [2] and costs $1,199 [2]. Orbit 3 [1]."
        );
        assert_eq!(
            c.citations.iter().map(|c| c.n).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert!(c.answered);
        assert_eq!(c.notes.len(), 2);
        let plain = check("Look at [the page] for more.", &shown(1));
        assert_eq!(plain.text, "Look at [the page] for more.");
    }

    #[test]
    fn drafts_are_settled_against_the_evidence() {
        let mut ev = shown(2);
        ev[0].text = "| Protocol / port | **UDP 51820** |".into();
        ev[1].text = "Tether to your phone.".into();
        let draft = |quotes: Vec<(usize, &str)>, answer: &str| Draft {
            quotes: quotes
                .into_iter()
                .map(|(evidence, q)| DraftQuote {
                    evidence,
                    quote: q.into(),
                })
                .collect(),
            answer: answer.into(),
        };
        // A quote attributed to the wrong passage counts for the right one.
        let (text, _) = settle(
            &draft(vec![(2, "UDP 51820")], "Open UDP 51820."),
            &ev,
            false,
        );
        assert_eq!(text, "Open UDP 51820 [1].");
        // Markdown and table bars in the passage do not fail a faithful quote.
        let (text, _) = settle(
            &draft(vec![(1, "Protocol / port UDP 51820")], "UDP 51820 [1]."),
            &ev,
            false,
        );
        assert_eq!(text, "UDP 51820 [1].");
        // An invented quote: the wiki does not say, whatever the answer claims.
        let (text, notes) = settle(
            &draft(vec![(1, "TCP 443")], "Open TCP 443 [1]."),
            &ev,
            false,
        );
        assert_eq!(text, NOT_IN_WIKI);
        assert_eq!(notes.len(), 1);
        // The note says a quote was dropped without repeating it (it may be injected text).
        assert!(
            notes[0].contains("[1]") && !notes[0].contains("TCP 443"),
            "{notes:?}"
        );
        // A refusal despite a verified quote becomes the quote.
        let (text, _) = settle(
            &draft(vec![(1, "UDP 51820")], "The wiki does not say."),
            &ev,
            false,
        );
        assert_eq!(text, "The wiki says: \"UDP 51820\" [1].");
        // No quotes, but every number of the answer is stated by the evidence: it stands.
        let (text, notes) = settle(&draft(vec![], "Open UDP port 51820."), &ev, false);
        assert_eq!(text, "Open UDP port 51820.");
        assert_eq!(notes.len(), 1);
        // No quotes and a number no passage states, or no number to check: not in the wiki.
        let (text, _) = settle(&draft(vec![], "Open UDP port 51821."), &ev, false);
        assert_eq!(text, NOT_IN_WIKI);
        let (text, _) = settle(&draft(vec![], "Tether to your phone."), &ev, false);
        assert_eq!(text, NOT_IN_WIKI);
        // A stated figure given for a model the evidence does not name: not in the wiki.
        let (text, _) = settle(&draft(vec![], "Orbit 5 uses UDP 51820."), &ev, false);
        assert_eq!(text, NOT_IN_WIKI);
        // The number of a name is not a figure.
        ev[1].text = "Orbit 3 is discontinued.".into();
        let (text, _) = settle(
            &draft(vec![], "The Orbit 3 band is the top one."),
            &ev,
            false,
        );
        assert_eq!(text, NOT_IN_WIKI);
        // Computed facts stand on their own.
        let (text, _) = settle(&draft(vec![], "It is 5 hours longer [1]."), &ev, true);
        assert_eq!(text, "It is 5 hours longer [1].");
    }

    #[test]
    fn refusals_are_marked_unanswered() {
        let c = check("The wiki does not say.", &shown(3));
        assert!(!c.answered);
        assert!(c.citations.is_empty());
        let c = check("The evidence does not mention a door code.", &shown(3));
        assert!(!c.answered);
        // A page that says something is not published yet states a fact: that is an answer.
        let c = check("The new rate is not published until May [1].", &shown(3));
        assert!(c.answered);
        let mut ev = shown(1);
        ev[0].text = "Nadir Optics: standard lead time 12 weeks.".into();
        let partial = check(
            "The lead time is 12 weeks. The wiki does not say who pays.",
            &ev,
        );
        assert!(partial.answered, "a partial answer is an answer");
        assert_eq!(
            partial.text,
            "The lead time is 12 weeks [1]. The wiki does not say who pays."
        );
        let uncited = check("It is 12 weeks.", &shown(1));
        assert!(uncited.citations.is_empty());
        assert!(uncited.answered);
        assert!(
            uncited
                .notes
                .iter()
                .any(|n| n.contains("cites no evidence"))
        );
    }
}

/// Follows the synthesizer's JSON as it streams and yields what is new in its `answer` string
/// (decoded), so front ends can show the draft while it is written. The quotes come first in
/// the schema, so the answer starts streaming once they are done.
#[derive(Debug, Default)]
pub struct AnswerField {
    emitted: usize,
    closed: bool,
}

impl AnswerField {
    /// `text` is everything received so far; returns the answer text not yet returned.
    pub fn feed(&mut self, text: &str) -> Option<String> {
        if self.closed {
            return None;
        }
        let start = answer_value_start(text)?;
        let (decoded, closed) = decode_partial_string(&text[start..]);
        self.closed = closed;
        let new: String = decoded.chars().skip(self.emitted).collect();
        self.emitted += new.chars().count();
        (!new.is_empty()).then_some(new)
    }
}

/// Byte offset just after the opening quote of the `"answer"` key's string value. Inside JSON
/// strings a quote is escaped, so `"answer"` followed by `:` can only be the key.
fn answer_value_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("\"answer\"") {
        let after = from + i + "\"answer\"".len();
        let rest = text[after..].trim_start();
        if let Some(r) = rest.strip_prefix(':') {
            let r = r.trim_start();
            if r.starts_with('"') {
                return Some(text.len() - r.len() + 1);
            }
            if r.is_empty() {
                return None;
            }
        } else if rest.is_empty() {
            return None;
        }
        from = after;
    }
    None
}

/// Decodes a JSON string body up to its closing quote or to the end of what has arrived (an
/// escape cut in half waits for the next piece). Returns the text and whether it closed.
fn decode_partial_string(s: &str) -> (String, bool) {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return (out, true),
            '\\' => {
                let rest = chars.as_str();
                let Some(e) = rest.chars().next() else {
                    return (out, false);
                };
                chars.next();
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' | 'f' => {}
                    'u' => {
                        let hex: String = chars.clone().take(4).collect();
                        if hex.len() < 4 {
                            return (out, false);
                        }
                        for _ in 0..4 {
                            chars.next();
                        }
                        if let Some(ch) =
                            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            out.push(ch);
                        }
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    (out, false)
}

#[cfg(test)]
mod answer_field_tests {
    use super::*;

    #[test]
    fn streams_only_the_answer_string_decoded() {
        let full = r#"{"quotes":[{"evidence":1,"quote":"say \"answer\": no"}],"answer":"Orbit 4: 19 h\n\"fast\" \u00e9 [1]."}"#;
        let mut field = AnswerField::default();
        let mut got = String::new();
        // Fed in pieces of 3 bytes (on char boundaries), as a model streams.
        let mut end = 0;
        while end < full.len() {
            end = (end + 3).min(full.len());
            while !full.is_char_boundary(end) {
                end += 1;
            }
            if let Some(piece) = field.feed(&full[..end]) {
                got.push_str(&piece);
            }
        }
        assert_eq!(got, "Orbit 4: 19 h\n\"fast\" é [1].");
        assert_eq!(field.feed(&format!("{full} ")), None);
    }

    #[test]
    fn nothing_before_the_answer_key() {
        let mut field = AnswerField::default();
        assert_eq!(field.feed(r#"{"quotes":[],"answ"#), None);
        assert_eq!(field.feed(r#"{"quotes":[],"answer""#), None);
        assert_eq!(field.feed(r#"{"quotes":[],"answer": "#), None);
        assert_eq!(
            field.feed(r#"{"quotes":[],"answer": "A\"#).as_deref(),
            Some("A")
        );
        assert_eq!(field.feed(r#"{"quotes":[],"answer": "A\u00"#), None);
        assert_eq!(
            field.feed(r#"{"quotes":[],"answer": "A\u00e9"#).as_deref(),
            Some("é")
        );
    }
}
