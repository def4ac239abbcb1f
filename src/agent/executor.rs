//! Runs a validated plan as a DAG: a step starts once every step it depends on has finished,
//! independent steps run together (bounded by `agent.max_parallel`), each step has its tool's
//! timeout, and later steps read earlier results by reference ("s3.price"). The first failed
//! step stops the plan; what finished is kept for the re-plan and the answer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use super::Observer;
use super::ledger::Ledger;
use super::plan::{Action, Operand, ValidPlan, ValidStep, ref_field, ref_step};
use crate::dates;
use crate::providers::embed::Embedder;
use crate::providers::llm::ChatModel;
use crate::providers::store::{Access, VectorStore};
use crate::quantity::names_in;
use crate::search::{self, Hit};
use crate::tools::calculate::{CalculateArgs, Operation, calculate};
use crate::tools::compare::{CompareArgs, Comparison, Quantity, compare};
use crate::tools::extract::{ExtractArgs, ExtractTool, Extracted, FieldSpec, Passage};
use crate::tools::records;
use crate::tools::{Registry, ToolError, tidy};

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

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    pub tool: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<StepOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not run because an earlier step failed.
    Skipped,
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

pub type ExtractorFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Arc<dyn ChatModel>, String>> + Send + 'a>,
>;

/// The outcome of running a plan: a report per step (steps that needed a failed one are
/// skipped), and the first failure if any.
pub struct Run {
    pub reports: Vec<StepReport>,
    pub outputs: BTreeMap<String, StepOutput>,
    pub failure: Option<(String, String)>,
}

pub async fn run(plan: &ValidPlan, rt: &Runtime<'_>) -> Run {
    let mut outputs: BTreeMap<String, StepOutput> = BTreeMap::new();
    let mut reports: BTreeMap<String, StepReport> = BTreeMap::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut failure: Option<(String, String)> = None;
    let mut running = FuturesUnordered::new();
    loop {
        // A failed step does not stop the run: steps that do not need its output still run
        // (their evidence and facts reach the answer), and those that do are skipped.
        for step in &plan.steps {
            if running.len() >= rt.max_parallel.max(1) {
                break;
            }
            let ready = !started.contains(&step.id)
                && step.depends_on.iter().all(|d| outputs.contains_key(d));
            if ready {
                started.insert(step.id.clone());
                rt.observer.step_started(&step.id, step.tool());
                let inputs = outputs.clone();
                running.push(async move {
                    let t0 = Instant::now();
                    let result = run_step(step, &inputs, rt).await;
                    (step, result, t0.elapsed())
                });
            }
        }
        let Some((step, result, took)) = running.next().await else {
            break;
        };
        let mut report = StepReport {
            id: step.id.clone(),
            tool: step.tool().into(),
            status: StepStatus::Ok,
            output: None,
            error: None,
            latency_ms: took.as_millis() as u64,
        };
        match result {
            Ok(output) => {
                if step.tool() != "extract" {
                    rt.ledger.tool_step(&step.id, step.tool(), took);
                }
                report.output = Some(output.clone());
                outputs.insert(step.id.clone(), output);
            }
            Err(e) => {
                report.status = StepStatus::Failed;
                report.error = Some(e.to_string());
                failure.get_or_insert((step.id.clone(), e.to_string()));
            }
        }
        rt.observer.step_finished(&report);
        reports.insert(step.id.clone(), report);
    }
    let reports = plan
        .steps
        .iter()
        .map(|s| {
            reports.remove(&s.id).unwrap_or(StepReport {
                id: s.id.clone(),
                tool: s.tool().into(),
                status: StepStatus::Skipped,
                output: None,
                error: None,
                latency_ms: 0,
            })
        })
        .collect();
    Run {
        reports,
        outputs,
        failure,
    }
}

async fn run_step(
    step: &ValidStep,
    inputs: &BTreeMap<String, StepOutput>,
    rt: &Runtime<'_>,
) -> Result<StepOutput, ToolError> {
    let tool = step.tool();
    let limit = rt.tools.timeout(step.kind());
    let work = async {
        match &step.action {
            Action::Search(s) => search_step(&s.query, rt).await,
            Action::Extract(e) => {
                let fields: Vec<FieldSpec> = e.fields.iter().map(|f| f.to_spec()).collect();
                extract_step(&step.id, &e.from, e.about.as_deref(), &fields, inputs, rt).await
            }
            Action::Compare(c) => compare_step(&c.a, &c.b, inputs),
            Action::Calculate(c) => calculate_step(c.op, &c.values, inputs),
        }
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(ToolError::Timeout {
            tool,
            secs: limit.as_secs(),
        }),
    }
}

async fn search_step(query: &str, rt: &Runtime<'_>) -> Result<StepOutput, ToolError> {
    let run = |q: String| async move {
        search::search(
            rt.embedder,
            rt.store,
            &q,
            rt.search_k,
            rt.prefetch,
            rt.access.clone(),
        )
        .await
        .map_err(|e| ToolError::Failed {
            tool: "search",
            message: e.to_string(),
        })
    };
    let mut lists = vec![run(query.to_string()).await?];
    if let Some(previous) = rt.conversation.as_deref() {
        lists.push(run(format!("{previous} {query}")).await?);
    }
    let hits = names_first(query, search::fuse(lists, rt.search_k));
    Ok(StepOutput::Search {
        query: query.to_string(),
        evidence: hits.iter().map(|h| rt.evidence.add(h)).collect(),
        hits: hits
            .iter()
            .map(|h| HitRef {
                source: h.source.clone(),
                heading: h.heading.clone(),
                score: h.score,
            })
            .collect(),
    })
}

/// Stable re-order: hits from pages whose title carries every name in the query come first
/// ("Orbit 3 battery life" prefers the Orbit 3 page over a repairs page that mentions Orbit 3).
pub fn names_first(query: &str, hits: Vec<Hit>) -> Vec<Hit> {
    let names = names_in(query);
    if names.is_empty() {
        return hits;
    }
    let titled = |h: &Hit| {
        let words = names_in(&h.title.replace(['\u{2014}', '|', ':'], " "));
        let lower: Vec<String> = h
            .title
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_string)
            .collect();
        names.iter().all(|n| lower.contains(n) || words.contains(n))
    };
    let (mut first, rest): (Vec<Hit>, Vec<Hit>) = hits.into_iter().partition(titled);
    first.extend(rest);
    first
}

/// Cuts text at a character boundary, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

async fn extract_step(
    id: &str,
    from: &[String],
    about: Option<&str>,
    fields: &[FieldSpec],
    inputs: &BTreeMap<String, StepOutput>,
    rt: &Runtime<'_>,
) -> Result<StepOutput, ToolError> {
    let mut ids: Vec<usize> = Vec::new();
    for f in from {
        if let Some(StepOutput::Search { evidence, .. }) = inputs.get(&ref_step(f)) {
            for e in evidence.iter().take(rt.extract_passages) {
                if !ids.contains(e) {
                    ids.push(*e);
                }
            }
        }
    }
    let passages: Vec<Passage> = ids
        .iter()
        .filter_map(|i| {
            rt.evidence.get(*i).map(|e| Passage {
                id: format!("p{}", i + 1),
                text: clip(
                    &format!("{} > {}: {}", e.title, e.heading, e.text),
                    rt.passage_chars,
                ),
            })
        })
        .collect();
    if passages.is_empty() {
        return Err(ToolError::Failed {
            tool: "extract",
            message: format!("the search steps {} found no passages", from.join(", ")),
        });
    }
    // Table cells and labelled lines that name the thing are read by code; the model reads
    // the rest (and is not even loaded when nothing is left).
    let started = Instant::now();
    let (by_code, mut notes) = match about {
        Some(thing) => records::read(&passages, fields, thing, rt.embedder).await,
        None => Default::default(),
    };
    let rest: Vec<FieldSpec> = fields
        .iter()
        .filter(|f| !by_code.contains_key(&f.name))
        .cloned()
        .collect();
    let mut values: BTreeMap<String, Option<Extracted>> =
        by_code.into_iter().map(|(k, v)| (k, Some(v))).collect();
    if rest.is_empty() {
        rt.ledger.tool_step(id, "extract", started.elapsed());
    } else {
        let model = (rt.extractor)()
            .await
            .map_err(|message| ToolError::Failed {
                tool: "extract",
                message,
            })?;
        let tool = ExtractTool::new(model);
        let (extraction, calls) = tool
            .extract(&ExtractArgs {
                passages,
                fields: rest,
            })
            .await?;
        for call in &calls {
            rt.ledger.model_call(id, call, &rt.extractor_name);
        }
        values.extend(extraction.values);
        notes.extend(extraction.notes);
    }
    let evidence_of = |p: &str| {
        p.strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
    };
    let facts: Vec<Fact> = fields
        .iter()
        .map(|f| {
            let value = values.get(&f.name).cloned().flatten();
            Fact {
                field: f.name.clone(),
                evidence: value.as_ref().and_then(|v| evidence_of(&v.passage)),
                value,
            }
        })
        .collect();
    // Label the values by the page most of them came from, else the first passage's page.
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for f in &facts {
        if let Some(e) = f.evidence {
            *counts.entry(e).or_default() += 1;
        }
    }
    let main = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(e, _)| *e)
        .or(ids.first().copied());
    // The page's name, unless it does not name the thing the values are about (a table of
    // several things on one page): then the thing's name.
    let page = main
        .and_then(|e| rt.evidence.get(e))
        .map(|e| page_name(&e.title));
    let label = match (page, about.map(str::trim).filter(|t| !t.is_empty())) {
        (Some(p), Some(thing)) if records::names(thing, &p).is_none() => thing.to_string(),
        (Some(p), _) => p,
        (None, thing) => thing.map_or_else(|| id.to_string(), str::to_string),
    };
    Ok(StepOutput::Extract {
        label,
        facts,
        notes,
    })
}

/// "Orbit 4 — Product Specification" -> "Orbit 4".
pub fn page_name(title: &str) -> String {
    let head = title.split(['\u{2014}', '|', ':']).next().unwrap_or(title);
    head.split(" - ").next().unwrap_or(head).trim().to_string()
}

/// A number a reference points at, with a label and its evidence.
struct Number {
    label: String,
    value: f64,
    unit: Option<String>,
    evidence: Vec<usize>,
}

fn resolve(r: &str, inputs: &BTreeMap<String, StepOutput>) -> Result<Number, String> {
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
fn same_reading(a: &Number, b: &Number) -> bool {
    a.value == b.value && !a.evidence.is_empty() && a.evidence == b.evidence
}

fn one_reading(a: &str, b: &str, n: &Number) -> String {
    format!(
        "{a} and {b} are the same number ({}) read from the same passage: the two things \
         were not told apart",
        format_number(n.value)
    )
}

fn compare_step(
    a: &str,
    b: &str,
    inputs: &BTreeMap<String, StepOutput>,
) -> Result<StepOutput, ToolError> {
    let failed = |message: String| ToolError::Failed {
        tool: "compare",
        message,
    };
    // Whole extract steps: compare every numeric field both have.
    let pairs: Vec<(String, String, String)> = match (ref_field(a), ref_field(b)) {
        (None, None) => {
            let fields_of = |r: &str| match inputs.get(&ref_step(r)) {
                Some(StepOutput::Extract { facts, .. }) => facts
                    .iter()
                    .filter(|f| f.value.as_ref().is_some_and(|v| v.value.is_number()))
                    .map(|f| f.field.clone())
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            };
            let fb = fields_of(b);
            let common: Vec<String> = fields_of(a)
                .into_iter()
                .filter(|f| fb.contains(f))
                .collect();
            if common.is_empty() {
                return Err(failed(format!(
                    "{a} and {b} have no number in common to compare"
                )));
            }
            common
                .into_iter()
                .map(|f| (f.clone(), format!("{a}.{f}"), format!("{b}.{f}")))
                .collect()
        }
        _ => vec![(
            ref_field(a).or(ref_field(b)).unwrap_or("value").to_string(),
            a.to_string(),
            b.to_string(),
        )],
    };
    let mut rows = Vec::new();
    for (field, ra, rb) in pairs {
        let na = resolve(&ra, inputs).map_err(failed)?;
        let nb = resolve(&rb, inputs).map_err(failed)?;
        if same_reading(&na, &nb) {
            return Err(failed(one_reading(&ra, &rb, &na)));
        }
        let result = compare(&CompareArgs {
            a: Quantity {
                label: na.label.clone(),
                value: na.value,
                unit: na.unit.clone(),
            },
            b: Quantity {
                label: nb.label.clone(),
                value: nb.value,
                unit: nb.unit.clone(),
            },
        })?;
        let mut evidence = na.evidence;
        evidence.extend(nb.evidence);
        rows.push(CompareRow {
            field,
            a_label: na.label,
            b_label: nb.label,
            result,
            evidence,
        });
    }
    Ok(StepOutput::Compare { rows })
}

fn calculate_step(
    op: Operation,
    values: &[Operand],
    inputs: &BTreeMap<String, StepOutput>,
) -> Result<StepOutput, ToolError> {
    let mut numbers = Vec::new();
    let mut shown = Vec::new();
    let mut evidence = Vec::new();
    let mut read: Vec<(&str, Number)> = Vec::new();
    for v in values {
        match v {
            Operand::Number(x) => {
                numbers.push(*x);
                shown.push(format_number(*x));
            }
            Operand::Ref(r) => {
                let failed = |message| ToolError::Failed {
                    tool: "calculate",
                    message,
                };
                let n = resolve(r, inputs).map_err(failed)?;
                if let Some((other, _)) = read
                    .iter()
                    .find(|(o, m)| ref_step(o) != ref_step(r) && same_reading(m, &n))
                {
                    return Err(failed(one_reading(other, r, &n)));
                }
                numbers.push(n.value);
                let value = match n.unit.as_deref() {
                    Some(dates::DATE_UNIT) => dates::long(n.value as i64),
                    _ => format_number(n.value),
                };
                shown.push(format!("{value} ({})", n.label));
                evidence.extend(n.evidence.iter().copied());
                read.push((r.as_str(), n));
            }
        }
    }
    // Dates: only the days between two of them.
    let is_date = |n: &Number| n.unit.as_deref() == Some(dates::DATE_UNIT);
    let date_count = read.iter().filter(|(_, n)| is_date(n)).count();
    let unit = match (date_count, op, values.len()) {
        (0, ..) => result_unit(op, values, &read),
        (2, Operation::Difference, 2) => Some("days".to_string()),
        _ => {
            return Err(ToolError::Failed {
                tool: "calculate",
                message: "a date can only be subtracted from another date".into(),
            });
        }
    };
    // The days between two dates count forward from the earlier, whichever way round the
    // formula subtracts them.
    let later_first = numbers.first() >= numbers.get(1);
    let result = calculate(&CalculateArgs {
        op,
        values: numbers,
    })?;
    let between_dates = date_count == 2;
    let result = if between_dates { result.abs() } else { result };
    let op_name = serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let expression = match (between_dates, later_first) {
        (true, true) => format!("days from {} to {}", shown[1], shown[0]),
        (true, false) => format!("days from {} to {}", shown[0], shown[1]),
        (false, _) => format!("{op_name} of {}", shown.join(", ")),
    };
    Ok(StepOutput::Calculate {
        expression,
        result,
        unit,
        evidence,
    })
}

/// The unit of a calculation's result, where its operands settle it: a sum, difference,
/// mean, min or max of values in one unit is in that unit (numbers written in the question are
/// taken to be in it too); a product with one value that has a unit ("4 × price", "price ×
/// count") keeps it, and so does a ratio whose dividend alone has one ("total / 12"); a
/// percentage is "%". Anything else (GB × hours, USD / USD) is a plain number.
fn result_unit(op: Operation, values: &[Operand], read: &[(&str, Number)]) -> Option<String> {
    let units: Vec<Option<&str>> = read.iter().map(|(_, n)| n.unit.as_deref()).collect();
    match op {
        Operation::PercentOf | Operation::PercentChange => Some("%".into()),
        Operation::Sum
        | Operation::Difference
        | Operation::Mean
        | Operation::Min
        | Operation::Max => {
            let first = units.first().copied().flatten()?;
            units
                .iter()
                .all(|u| *u == Some(first))
                .then(|| first.to_string())
        }
        Operation::Product => match units.iter().flatten().collect::<Vec<_>>()[..] {
            [u] => Some(u.to_string()),
            _ => None,
        },
        // The dividend is the first operand; it alone may have a unit.
        Operation::Ratio => match (values.first(), units.as_slice()) {
            (Some(Operand::Ref(_)), [Some(u), rest @ ..]) if rest.iter().all(Option::is_none) => {
                Some(u.to_string())
            }
            _ => None,
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::calculate::Operation;

    fn extracted(label: &str, fields: &[(&str, f64, &str, usize)]) -> StepOutput {
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

    #[test]
    fn results_carry_the_unit_their_operands_settle() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted("A", &[("size", 1200.0, "GB", 0), ("price", 10.0, "USD", 0)]),
            ),
            (
                "s4".to_string(),
                extracted("B", &[("size", 380.0, "GB", 1), ("price", 4.0, "USD", 1)]),
            ),
        ]);
        let r = |s: &str| Operand::Ref(s.into());
        let unit = |op, values: &[Operand]| match calculate_step(op, values, &inputs).unwrap() {
            StepOutput::Calculate { unit, .. } => unit,
            _ => panic!(),
        };
        // Only dates count days: a difference in GB is signed and says what it is.
        let StepOutput::Calculate {
            expression, result, ..
        } = calculate_step(
            Operation::Difference,
            &[r("s4.size"), r("s3.size")],
            &inputs,
        )
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (expression.as_str(), result),
            ("difference of 380 (B size), 1200 (A size)", -820.0)
        );
        let gb = Some("GB".to_string());
        let usd = Some("USD".to_string());
        assert_eq!(unit(Operation::Sum, &[r("s3.size"), r("s4.size")]), gb);
        assert_eq!(
            unit(Operation::Difference, &[r("s3.size"), r("s4.size")]),
            gb
        );
        assert_eq!(unit(Operation::Sum, &[r("s3.size"), r("s4.price")]), None);
        assert_eq!(
            unit(Operation::Product, &[Operand::Number(4.0), r("s3.price")]),
            usd
        );
        assert_eq!(
            unit(Operation::Product, &[r("s3.size"), r("s4.price")]),
            None
        );
        assert_eq!(
            unit(Operation::Ratio, &[r("s3.price"), Operand::Number(12.0)]),
            usd
        );
        assert_eq!(
            unit(Operation::Ratio, &[r("s3.price"), r("s4.price")]),
            None
        );
        assert_eq!(
            unit(Operation::PercentOf, &[r("s4.price"), r("s3.price")]),
            Some("%".to_string())
        );
    }

    #[test]
    fn the_days_between_two_dates_are_computed_and_nothing_else_with_a_date() {
        let date = |iso: &str, e: usize| Fact {
            field: "on".into(),
            value: Some(Extracted {
                value: serde_json::json!(iso),
                unit: None,
                passage: format!("p{}", e + 1),
                quote: String::new(),
            }),
            evidence: Some(e),
        };
        let step = |label: &str, fact: Fact| StepOutput::Extract {
            label: label.into(),
            facts: vec![fact],
            notes: Vec::new(),
        };
        let inputs = BTreeMap::from([
            ("s3".to_string(), step("Incident", date("2025-11-14", 0))),
            ("s4".to_string(), step("Repair", date("2025-12-02", 1))),
        ]);
        let refs = [Operand::Ref("s4.on".into()), Operand::Ref("s3.on".into())];
        let StepOutput::Calculate {
            expression,
            result,
            unit,
            evidence,
        } = calculate_step(Operation::Difference, &refs, &inputs).unwrap()
        else {
            panic!()
        };
        assert_eq!(result, 18.0);
        assert_eq!(unit.as_deref(), Some("days"));
        assert_eq!(
            expression,
            "days from 14 November 2025 (Incident on) to 2 December 2025 (Repair on)"
        );
        assert_eq!(evidence, vec![1, 0]);
        // Subtracted the other way round it is the same span.
        let back = [refs[1].clone(), refs[0].clone()];
        let StepOutput::Calculate {
            expression: e2,
            result: r2,
            ..
        } = calculate_step(Operation::Difference, &back, &inputs).unwrap()
        else {
            panic!()
        };
        assert_eq!((e2, r2), (expression.clone(), 18.0));
        // The days can be computed with further, in days.
        let mut more = inputs.clone();
        more.insert(
            "s5".into(),
            calculate_step(Operation::Difference, &refs, &inputs).unwrap(),
        );
        let weeks = calculate_step(
            Operation::Ratio,
            &[Operand::Ref("s5".into()), Operand::Number(7.0)],
            &more,
        );
        assert!(weeks.is_ok(), "{weeks:?}");
        for (op, values) in [
            (Operation::Sum, refs.to_vec()),
            (
                Operation::Difference,
                vec![refs[0].clone(), Operand::Number(3.0)],
            ),
        ] {
            let e = calculate_step(op, &values, &inputs)
                .unwrap_err()
                .to_string();
            assert!(e.contains("only be subtracted from another date"), "{e}");
        }
    }

    #[test]
    fn compare_whole_steps_pairs_common_numbers_with_evidence() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted(
                    "Orbit 3",
                    &[
                        ("battery_hours", 14.0, "hours", 0),
                        ("price", 1349.0, "USD", 0),
                    ],
                ),
            ),
            (
                "s4".to_string(),
                extracted(
                    "Orbit 4",
                    &[
                        ("battery_hours", 19.0, "hours", 1),
                        ("price", 1199.0, "USD", 1),
                    ],
                ),
            ),
        ]);
        let StepOutput::Compare { rows } = compare_step("s3", "s4", &inputs).unwrap() else {
            panic!()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].field, "battery_hours");
        assert_eq!(rows[0].result.difference, 5.0);
        assert_eq!(rows[1].result.difference, -150.0);
        assert_eq!(rows[1].evidence, vec![0, 1]);
        let one = compare_step("s3.price", "s4.price", &inputs).unwrap();
        let StepOutput::Compare { rows } = one else {
            panic!()
        };
        assert_eq!(rows.len(), 1);
        let calc = calculate_step(
            Operation::Product,
            &[Operand::Ref("s4.price".into()), Operand::Number(60.0)],
            &inputs,
        )
        .unwrap();
        let StepOutput::Calculate { result, .. } = calc else {
            panic!()
        };
        assert_eq!(result, 71940.0);
    }

    #[test]
    fn one_number_from_one_passage_read_for_two_things_fails_the_step() {
        let inputs = BTreeMap::from([
            (
                "s3".to_string(),
                extracted("Depot", &[("depth", 47.0, "m", 2), ("width", 47.0, "m", 2)]),
            ),
            (
                "s4".to_string(),
                extracted("Depot", &[("depth", 47.0, "m", 2)]),
            ),
            (
                "s5".to_string(),
                extracted("Quay", &[("depth", 47.0, "m", 3)]),
            ),
        ]);
        let err = compare_step("s3", "s4", &inputs).unwrap_err().to_string();
        assert!(
            err.contains("s3.depth and s4.depth are the same number (47)"),
            "{err}"
        );
        let sum = |a: &str, b: &str| {
            calculate_step(
                Operation::Sum,
                &[Operand::Ref(a.into()), Operand::Ref(b.into())],
                &inputs,
            )
        };
        assert!(sum("s3.depth", "s4.depth").is_err());
        // The same value from another passage is a real reading; and one step's two fields,
        // or one field used twice, are the planner's own doing.
        assert!(compare_step("s3.depth", "s5.depth", &inputs).is_ok());
        assert!(sum("s3.depth", "s3.width").is_ok());
        assert!(sum("s3.depth", "s3.depth").is_ok());
    }

    #[test]
    fn missing_values_fail_with_the_reference_named() {
        let inputs = BTreeMap::from([(
            "s3".to_string(),
            StepOutput::Extract {
                label: "Orbit 3".into(),
                facts: vec![Fact {
                    field: "price".into(),
                    value: None,
                    evidence: None,
                }],
                notes: Vec::new(),
            },
        )]);
        let err = calculate_step(Operation::Sum, &[Operand::Ref("s3.price".into())], &inputs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s3.price") && err.contains("do not state"),
            "{err}"
        );
    }

    fn hit(title: &str) -> Hit {
        Hit {
            score: 0.0,
            source: title.into(),
            heading: String::new(),
            text: String::new(),
            title: title.into(),
            chunk_index: 0,
        }
    }

    #[test]
    fn hits_from_the_named_page_come_first() {
        assert_eq!(
            names_in("How much does the Orbit 4 weigh?"),
            vec!["orbit", "4"]
        );
        let hits = vec![
            hit("Warranty and Repairs"),
            hit("Orbit 4 — Product Specification"),
            hit("Orbit 3 — Product Specification"),
        ];
        let order: Vec<String> = names_first("Orbit 3 battery life price", hits)
            .into_iter()
            .map(|h| h.title)
            .collect();
        assert_eq!(order[0], "Orbit 3 — Product Specification");
        assert_eq!(order[1], "Warranty and Repairs");
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(format_number(1199.0), "1199");
        assert_eq!(format_number(35.714285714), "35.71");
        assert_eq!(format_number(-150.0), "-150");
        assert_eq!(page_name("Orbit 4 — Product Specification"), "Orbit 4");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
