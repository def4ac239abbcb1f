//! What a plan's steps work with and produce, shared by every tool: the evidence gathered
//! while answering, each step's typed output, the runtime a tool call may use (store,
//! embedder, extractor, ledger), and references to earlier steps' values ("s3.price").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::compare::Comparison;
use super::extract::Extracted;
use super::{Registry, ToolError, tidy};
use crate::agent::Observer;
use crate::agent::ledger::Ledger;
use crate::dates;
use crate::providers::embed::Embedder;
use crate::providers::llm::ChatModel;
use crate::providers::store::{Access, VectorStore};
use crate::search::Hit;

/// A passage retrieved by a search step: what answers cite.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub source: String,
    pub heading: String,
    pub title: String,
    pub text: String,
    pub chunk_index: u32,
}

/// Everything retrieved while answering, deduplicated; ids are positions (0-based).
#[derive(Debug, Default)]
pub struct EvidenceSet {
    items: Mutex<Vec<Evidence>>,
}

impl EvidenceSet {
    pub fn add(&self, hit: &Hit) -> usize {
        let Ok(mut items) = self.items.lock() else {
            return 0;
        };
        if let Some(i) = items
            .iter()
            .position(|e| e.source == hit.source && e.chunk_index == hit.chunk_index)
        {
            return i;
        }
        items.push(Evidence {
            source: hit.source.clone(),
            heading: hit.heading.clone(),
            title: hit.title.clone(),
            text: hit.text.clone(),
            chunk_index: hit.chunk_index,
        });
        items.len() - 1
    }

    pub fn get(&self, i: usize) -> Option<Evidence> {
        self.items.lock().ok().and_then(|v| v.get(i).cloned())
    }

    pub fn all(&self) -> Vec<Evidence> {
        self.items.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// An extracted value with the evidence it was read from.
#[derive(Debug, Clone, Serialize)]
pub struct Fact {
    pub field: String,
    pub value: Option<Extracted>,
    /// Evidence id of the passage that states it.
    #[serde(skip)]
    pub evidence: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub field: String,
    pub a_label: String,
    pub b_label: String,
    #[serde(flatten)]
    pub result: Comparison,
    #[serde(skip)]
    pub evidence: Vec<usize>,
}

/// What a step produced.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepOutput {
    Search {
        query: String,
        hits: Vec<HitRef>,
        #[serde(skip)]
        evidence: Vec<usize>,
    },
    Extract {
        /// What the values are about (title of the page they came from).
        label: String,
        facts: Vec<Fact>,
        notes: Vec<String>,
    },
    Compare {
        rows: Vec<CompareRow>,
    },
    Calculate {
        expression: String,
        result: f64,
        /// The result's unit where the operands give it one ("days" between two dates).
        #[serde(skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        #[serde(skip)]
        evidence: Vec<usize>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct HitRef {
    pub source: String,
    pub heading: String,
    pub score: f32,
}

/// What the executor needs; models are resolved lazily so a plan without extraction never
/// loads the extractor.
pub struct Runtime<'a> {
    /// The tools' manifests (each step's timeout).
    pub tools: &'a Registry,
    pub embedder: &'a dyn Embedder,
    pub store: &'a dyn VectorStore,
    pub access: Access,
    pub search_k: usize,
    pub prefetch: usize,
    pub extract_passages: usize,
    /// Extracted values that fail verification get one correction round (else dropped).
    pub extract_corrections: bool,
    pub passage_chars: usize,
    pub max_parallel: usize,
    pub extractor: &'a (dyn Fn() -> ExtractorFuture<'a> + Send + Sync),
    /// Configured name of the extractor model (for ledger prices).
    pub extractor_name: String,
    pub evidence: &'a EvidenceSet,
    pub ledger: &'a Ledger,
    pub observer: &'a dyn Observer,
    /// In a conversation, the previous question: every search also runs with it in front of
    /// its query and the two rankings are fused, so a follow-up whose rewrite lost the
    /// subject ("how long does the certificate last?") still finds the earlier topic's pages.
    pub conversation: Option<String>,
}

impl Runtime<'_> {
    /// The `k` best hits of a hybrid search of the wiki as this run may read it; a failure is
    /// reported as the calling `tool`'s.
    pub async fn search(
        &self,
        query: &str,
        k: usize,
        tool: &'static str,
    ) -> Result<Vec<Hit>, ToolError> {
        crate::search::search(
            self.embedder,
            self.store,
            query,
            k,
            self.prefetch,
            self.access.clone(),
        )
        .await
        .map_err(|e| ToolError::Failed {
            tool,
            message: e.to_string(),
        })
    }
}

pub type ExtractorFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Arc<dyn ChatModel>, String>> + Send + 'a>,
>;

/// The step id part of "s3.price" (or all of "s3").
pub fn ref_step(r: &str) -> String {
    r.trim()
        .trim_start_matches('$')
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The field part of "s3.price", if any.
pub fn ref_field(r: &str) -> Option<&str> {
    r.trim().split_once('.').map(|(_, f)| f)
}

/// A number a reference points at, with a label and its evidence.
pub(crate) struct Number {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) unit: Option<String>,
    pub(crate) evidence: Vec<usize>,
}

pub(crate) fn resolve(r: &str, inputs: &BTreeMap<String, StepOutput>) -> Result<Number, String> {
    let step = ref_step(r);
    let field = ref_field(r);
    match (inputs.get(&step), field) {
        (Some(StepOutput::Extract { label, facts, .. }), Some(f)) => {
            let fact = facts
                .iter()
                .find(|x| x.field == f)
                .ok_or_else(|| format!("{r}: step {step} has no field {f}"))?;
            let v = fact.value.as_ref().ok_or_else(|| {
                format!("{r}: the passages do not state {f} (extraction found no value)")
            })?;
            // A date is its day number, marked so only another date is subtracted from it.
            let date = v.value.as_str().and_then(dates::parse_iso);
            let value = v
                .value
                .as_f64()
                .or(date.map(|d| d as f64))
                .ok_or_else(|| format!("{r}: {} is not a number", v.value))?;
            Ok(Number {
                label: format!("{label} {f}"),
                value,
                unit: match date {
                    Some(_) => Some(dates::DATE_UNIT.to_string()),
                    None => v.unit.clone(),
                },
                evidence: fact.evidence.into_iter().collect(),
            })
        }
        (
            Some(StepOutput::Calculate {
                result,
                unit,
                evidence,
                ..
            }),
            None,
        ) => Ok(Number {
            label: format!("result of {step}"),
            value: *result,
            unit: unit.clone(),
            evidence: evidence.clone(),
        }),
        (Some(StepOutput::Compare { rows }), Some(what)) => {
            let row = rows
                .first()
                .ok_or_else(|| format!("{r}: step {step} compared nothing"))?;
            let value = match what {
                "difference" => Some(row.result.difference),
                "ratio" => row.result.ratio,
                "percent_change" => row.result.percent_change,
                _ => None,
            }
            .ok_or_else(|| format!("{r}: no such number"))?;
            Ok(Number {
                label: format!("{what} of {}", row.field),
                value,
                unit: row.result.unit.clone(),
                evidence: row.evidence.clone(),
            })
        }
        _ => Err(format!("{r}: step {step} gave no number")),
    }
}

/// Two values read for different things that are one number from one passage: the
/// extractions did not tell the things apart, so arithmetic on them would be about nothing.
pub(crate) fn same_reading(a: &Number, b: &Number) -> bool {
    a.value == b.value && !a.evidence.is_empty() && a.evidence == b.evidence
}

pub(crate) fn one_reading(a: &str, b: &str, n: &Number) -> String {
    format!(
        "{a} and {b} are the same number ({}) read from the same passage: the two things \
         were not told apart",
        format_number(n.value)
    )
}

/// Cuts text at a character boundary, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// 1199 -> "1199", 35.714285714 -> "35.71".
pub fn format_number(x: f64) -> String {
    let x = tidy(x);
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// "Orbit 4 — Product Specification" -> "Orbit 4".
pub fn page_name(title: &str) -> String {
    let head = title.split(['\u{2014}', '|', ':']).next().unwrap_or(title);
    head.split(" - ").next().unwrap_or(head).trim().to_string()
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// An extract step's output: (field, value, unit, evidence id) per fact.
    pub(crate) fn extracted(label: &str, fields: &[(&str, f64, &str, usize)]) -> StepOutput {
        StepOutput::Extract {
            label: label.into(),
            facts: fields
                .iter()
                .map(|(f, v, u, e)| Fact {
                    field: f.to_string(),
                    value: Some(Extracted {
                        value: serde_json::json!(v),
                        unit: Some(u.to_string()),
                        passage: format!("p{}", e + 1),
                        quote: String::new(),
                    }),
                    evidence: Some(*e),
                })
                .collect(),
            notes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(format_number(1199.0), "1199");
        assert_eq!(format_number(35.714285714), "35.71");
        assert_eq!(format_number(-150.0), "-150");
        assert_eq!(page_name("Orbit 4 — Product Specification"), "Orbit 4");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
