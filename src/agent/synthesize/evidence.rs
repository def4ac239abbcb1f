//! What the answer may use: the evidence shown to the synthesizer, the facts lines, and the
//! answer code writes itself when the computed results are complete.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::agent::Turn;
use crate::agent::plan::ValidPlan;
use crate::dates;
use crate::quantity;
use crate::tools::step::{EvidenceSet, StepOutput, clip, format_number};

use super::check::*;

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Citation {
    pub n: usize,
    pub source: String,
    pub heading: String,
    pub title: String,
    /// The passage text shown to the synthesizer (front ends open it from the citation).
    pub text: String,
}

impl Citation {
    /// The passage as the synthesizer sees it: "[n] title > heading: text", one per line.
    pub fn line(&self, passage_chars: usize) -> String {
        self.line_of(&clip(&self.text, passage_chars))
    }

    /// "[n] title > heading: body" with `body` standing for the passage (a part of it).
    pub fn line_of(&self, body: &str) -> String {
        format!("[{}] {} > {}: {body}\n", self.n, self.title, self.heading)
    }

    /// Where the passage sits and what it says, for checking what it names or states (a
    /// quote may begin with the heading it was shown under).
    pub fn labelled(&self) -> String {
        format!("{} > {}: {}", self.title, self.heading, self.text)
    }
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
    /// The extracted values as cited sentences, when every one the plan asked for was read
    /// and nothing was computed: the answer to a plan that only looks values up.
    pub looked_up: Option<String>,
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
        let c = Citation {
            n: i + 1,
            source: ev.source,
            heading: ev.heading,
            title: ev.title,
            text: ev.text,
        };
        evidence_text.push_str(&c.line(passage_chars));
        shown.push(c);
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
                                .filter(|u| !u.trim().is_empty())
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
    let looked_up = (computed.is_empty() && missing.is_empty() && !stated.is_empty()).then(|| {
        stated
            .iter()
            .map(|(sentence, _)| sentence.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    });
    Prepared {
        shown,
        evidence_text,
        facts_text,
        computed,
        template,
        looked_up,
    }
}

impl Prepared {
    /// Only the passages `keep` (numbers as shown), renumbered from 1, for asking again with
    /// less: None when there are computed facts (they cite the numbers as first shown), when
    /// nothing would be kept, or when everything would.
    pub fn restricted(&self, keep: &[usize], passage_chars: usize) -> Option<Prepared> {
        let kept: Vec<&Citation> = self.shown.iter().filter(|c| keep.contains(&c.n)).collect();
        if !self.facts_text.is_empty() || kept.is_empty() || kept.len() == self.shown.len() {
            return None;
        }
        let shown: Vec<Citation> = kept
            .into_iter()
            .enumerate()
            .map(|(i, c)| Citation {
                n: i + 1,
                ..c.clone()
            })
            .collect();
        Some(Prepared {
            evidence_text: shown.iter().map(|c| c.line(passage_chars)).collect(),
            shown,
            facts_text: String::new(),
            computed: Vec::new(),
            template: None,
            looked_up: None,
        })
    }
}

/// The answer code writes when the plan computed its results from verified values: the
/// computed sentences, and each extracted value they do not already state, all cited. None
/// when nothing was computed or a value the plan needed was not found (then a model writes
/// the answer, saying what is missing).
pub(super) fn template(
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
pub(super) fn subject<'a>(label: &'a str, field: &str) -> &'a str {
    label
        .strip_suffix(field)
        .map(str::trim_end)
        .filter(|s| !s.is_empty())
        .unwrap_or(label)
}

pub(super) fn capitalize(s: &str) -> String {
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
    let stated = quantity::numbers_stated(&quantity::strip_citations(text));
    let missing: Vec<&Computed> = computed
        .iter()
        .filter(|c| {
            !c.figures.iter().all(|f| {
                stated
                    .iter()
                    .any(|x| quantity::same(x.abs(), f.abs(), quantity::ROUNDED))
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
