//! The agent behind `skiff ask`: route → plan → run the plan as a DAG → synthesize a cited
//! answer, with every model call and tool step in the ledger.
//!
//! The planner (a model) fills slots (the things, the facts, one formula) from the question and
//! the titles of pages a first search found; code builds the steps from them; the steps do the
//! precise work (search, extraction by the small model, exact
//! arithmetic); the synthesizer writes the answer from the evidence only.

pub mod executor;
pub mod ledger;
pub mod plan;
pub mod router;
pub mod slots;
mod snippet;
pub mod standalone;
pub mod synthesize;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{ModelRole, RouteMode};
use crate::prompts::{self, PromptError};
use crate::providers::llm::{ChatMessage, ChatModel, ChatRequest, OutputSchema, parse_json};
use crate::providers::store::Access;
use crate::search::{self, SearchError};
use crate::tools::ModelCall;
use crate::tools::step::{EvidenceSet, ExtractorFuture, Runtime, StepOutput, clip};
use executor::StepReport;
use ledger::{Ledger, LedgerReport, Prices};
use plan::{Plan, PlanError, ValidPlan};
use router::{Route, RouteKind};
use synthesize::{Citation, NOT_IN_WIKI};

/// Longest question accepted, in characters.
pub const MAX_QUESTION_CHARS: usize = 2000;
/// Passages shown to the synthesizer at most.
const ANSWER_PASSAGES: usize = 5;
/// Passages of each search an extract step reads.
const EXTRACT_PASSAGES: usize = 3;
/// Pages listed for the planner.
const PLANNER_PAGES: usize = 6;
/// Characters of the snippet shown for each of those pages.
const SNIPPET_CHARS: usize = 140;
/// Tokens the planner may write: six facts and a formula fit in well under this.
const PLAN_MAX_TOKENS: u32 = 400;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the question is empty")]
    EmptyQuestion,
    #[error("the question is too long ({0} characters; at most {MAX_QUESTION_CHARS})")]
    QuestionTooLong(usize),
    #[error("cancelled")]
    Cancelled,
    #[error("search failed: {0}")]
    Search(SearchError),
    #[error("{role} model: {message}")]
    Model { role: &'static str, message: String },
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

// By hand, not `#[from]`: the message already shows the cause, and a `source` would print it
// twice in the CLI's error chain.
impl From<SearchError> for AgentError {
    fn from(e: SearchError) -> Self {
        AgentError::Search(e)
    }
}

/// One earlier exchange of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone)]
pub struct AskRequest {
    pub question: String,
    pub history: Vec<Turn>,
    pub access: Access,
    /// Overrides `agent.route` for this question.
    pub route: Option<RouteMode>,
}

impl AskRequest {
    pub fn new(question: impl Into<String>, access: Access) -> Self {
        Self {
            question: question.into(),
            history: Vec::new(),
            access,
            route: None,
        }
    }
}

/// Where the plan that ran came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// The router sent the question straight to search + answer.
    Router,
    /// The planner's first plan.
    Planner,
    /// The planner's plan after one repair round.
    Repaired,
    /// The planner's second plan after a step failed.
    Replanned,
    /// Planning failed; the safe plan (search for the question) ran instead.
    Fallback,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub source: PlanSource,
    pub steps: Vec<plan::Step>,
    /// Why earlier plans were refused or failed.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    pub answer: String,
    /// False when the evidence did not answer the question (the answer says so).
    pub answered: bool,
    pub citations: Vec<Citation>,
    pub route: Route,
    pub plan: PlanReport,
    pub steps: Vec<StepReport>,
    pub ledger: LedgerReport,
    /// What the checks changed (removed citations, dropped values) and other remarks.
    pub notes: Vec<String>,
}

impl Answer {
    /// The pages the search steps returned, in order (repeats kept).
    pub fn retrieved_sources(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match &s.output {
                Some(StepOutput::Search { hits, .. }) => Some(hits),
                _ => None,
            })
            .flatten()
            .map(|h| h.source.as_str())
            .collect()
    }
}

/// Hooks for front ends that show progress (CLI spinner lines, web SSE). All optional.
pub trait Observer: Send + Sync {
    fn route(&self, _route: &Route) {}
    fn status(&self, _message: &str) {}
    fn plan(&self, _plan: &Plan, _source: PlanSource) {}
    fn step_started(&self, _id: &str, _tool: &str) {}
    fn step_finished(&self, _report: &StepReport) {}
    /// A piece of the answer's draft as the synthesizer writes it, before the checks (quotes
    /// verified, citations checked); `token` follows with the settled text.
    fn draft(&self, _text: &str) {}
    /// The answer text once the synthesizer's draft is settled (before citation checks).
    fn token(&self, _text: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What front ends need from the agent: one question in, one answer out. The web server holds
/// it as `Arc<dyn Answerer>` so its router tests can use a scripted one.
#[async_trait::async_trait]
pub trait Answerer: Send + Sync {
    async fn answer(
        &self,
        request: AskRequest,
        observer: &dyn Observer,
        cancel: CancellationToken,
    ) -> Result<Answer, AgentError>;
}

#[async_trait::async_trait]
impl Answerer for App {
    async fn answer(
        &self,
        request: AskRequest,
        observer: &dyn Observer,
        cancel: CancellationToken,
    ) -> Result<Answer, AgentError> {
        ask(self, request, observer, cancel).await
    }
}

/// Answers one question. Cancelling `cancel` (client gone, Ctrl-C) drops all work in flight,
/// which stops model generation.
pub async fn ask(
    app: &App,
    request: AskRequest,
    observer: &dyn Observer,
    cancel: CancellationToken,
) -> Result<Answer, AgentError> {
    tokio::select! {
        r = ask_inner(app, request, observer) => r,
        _ = cancel.cancelled() => Err(AgentError::Cancelled),
    }
}

async fn ask_inner(
    app: &App,
    request: AskRequest,
    observer: &dyn Observer,
) -> Result<Answer, AgentError> {
    let started = Instant::now();
    let question = request.question.trim().to_string();
    if question.is_empty() {
        return Err(AgentError::EmptyQuestion);
    }
    let chars = question.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(AgentError::QuestionTooLong(chars));
    }
    let cfg = &app.config.agent;
    let ledger = Ledger::new(Prices::from_config(&app.config));
    let evidence = EvidenceSet::default();
    let mut notes = Vec::new();

    let history = synthesize::history_text(&request.history, cfg.history_turns);
    // A follow-up ("and its price?") is rewritten to stand on its own before it is routed,
    // planned and searched; a question without earlier turns is used as asked.
    let query = if history.is_empty() {
        question.clone()
    } else {
        observer.status("reading the conversation");
        let model = role_model(app, ModelRole::Planner).await?;
        let (query, note) = standalone::standalone_query(
            model.as_ref(),
            &app.config.roles.planner,
            &history,
            &question,
            Duration::from_secs(cfg.planner_timeout_secs),
            &ledger,
        )
        .await;
        notes.extend(note);
        if query != question {
            notes.push(format!("follow-up read as: {query}"));
        }
        query
    };
    let route = router::route(&query, request.route.unwrap_or(cfg.route));
    observer.route(&route);

    let extractor = || -> ExtractorFuture<'_> {
        Box::pin(async {
            app.model(ModelRole::Extractor)
                .await
                .map_err(|e| format!("cannot load the extractor model: {e}"))
        })
    };
    let rt = Runtime {
        tools: &app.tools,
        embedder: app.embedder.as_ref(),
        store: app.store.as_ref(),
        access: request.access.clone(),
        search_k: cfg.search_k,
        prefetch: app.config.search.prefetch,
        extract_passages: EXTRACT_PASSAGES,
        extract_corrections: cfg.extract_corrections,
        passage_chars: cfg.passage_chars,
        max_parallel: cfg.max_parallel,
        extractor: &extractor,
        extractor_name: app.config.roles.extractor.clone(),
        evidence: &evidence,
        ledger: &ledger,
        observer,
        conversation: request
            .history
            .last()
            .filter(|_| cfg.history_turns > 0)
            .map(|t| t.question.clone()),
    };

    // Whether the plan left a fact to the answer writer (text no step reads), and whether it
    // only looks values up.
    let mut prose = false;
    let mut lookup = false;
    let (valid, source, problems, run) = match route.kind {
        RouteKind::Direct => {
            let valid = plan::fallback(&query);
            observer.plan(&valid.to_plan(), PlanSource::Router);
            let run = executor::run(&valid, &rt).await;
            (valid, PlanSource::Router, Vec::new(), run)
        }
        RouteKind::Plan => {
            let planner = Planner::new(app, &ledger).await?;
            let pages = planner_pages(app, &query, &request.access, &evidence).await?;
            observer.status("planning");
            let Planned {
                plan: mut valid,
                mut source,
                mut problems,
                written,
                built,
            } = planner.plan(&query, &history, &pages, None).await;
            prose = built.as_ref().is_some_and(|b| b.text_facts);
            lookup = built.as_ref().is_some_and(|b| b.lookup);
            observer.plan(&valid.to_plan(), source);
            let mut run = executor::run(&valid, &rt).await;
            if let Some((step, error)) = run.failure.clone()
                && source != PlanSource::Fallback
            {
                problems.push(format!("step {step} failed: {error}"));
                if !cfg.replan {
                    notes.push(format!(
                        "step {step} failed ({error}); answering from the evidence found"
                    ));
                } else {
                    // One re-plan with the failure; the evidence found so far stays available.
                    observer.status("re-planning after a failed step");
                    let Planned {
                        plan: next,
                        source: next_source,
                        problems: more,
                        built: next_built,
                        ..
                    } = planner
                        .plan(
                            &query,
                            &history,
                            &pages,
                            Some((written, built.map(|b| b.explain(&error)).unwrap_or(error))),
                        )
                        .await;
                    problems.extend(more);
                    if repeats(next_source, &next, &valid) {
                        // A small planner often writes the same plan again; running it again
                        // would repeat every model call and fail the same way.
                        notes.push(format!(
                            "step {step} failed and the planner wrote the same plan again; \
                             answering from the evidence found"
                        ));
                    } else {
                        prose = next_built.as_ref().is_some_and(|b| b.text_facts);
                        lookup = next_built.as_ref().is_some_and(|b| b.lookup);
                        source = if next_source == PlanSource::Fallback {
                            PlanSource::Fallback
                        } else {
                            PlanSource::Replanned
                        };
                        valid = next;
                        observer.plan(&valid.to_plan(), source);
                        let mut second = executor::run(&valid, &rt).await;
                        if let Some((step, error)) = &second.failure {
                            notes.push(format!(
                                "step {step} failed again ({error}); answering from the evidence found"
                            ));
                        }
                        // Keep the first run's step reports so the trace shows what failed.
                        let mut reports = run.reports;
                        reports.append(&mut second.reports);
                        second.reports = reports;
                        run = second;
                    }
                }
            }
            (valid, source, problems, run)
        }
    };

    observer.status("writing the answer");
    let prepared = synthesize::prepare(
        &valid,
        &run.outputs,
        &evidence,
        ANSWER_PASSAGES,
        cfg.passage_chars,
    );
    let template = prepared
        .template
        .clone()
        .or_else(|| prepared.looked_up.clone().filter(|_| lookup))
        .filter(|_| run.failure.is_none() && !prose);
    let absent = synthesize::absent_names(&query, &evidence.all());
    let (text, shown) = if prepared.shown.is_empty() {
        notes.push("no evidence was found, so no model was asked".into());
        observer.token(NOT_IN_WIKI);
        (NOT_IN_WIKI.to_string(), Vec::new())
    } else if !absent.is_empty() {
        // The question is about something no passage names: any answer would be about
        // something else, however well it is cited.
        notes.push(format!(
            "no passage names {}; no synthesizer call",
            absent.join(", ")
        ));
        let text = synthesize::names_not_found(&absent, &prepared.shown);
        observer.token(&text);
        (text, prepared.shown)
    } else if let Some(text) = template {
        // Every value the plan needed was found and verified and the results are exact: code
        // writes the answer, and no model call can drop or change a figure.
        notes.push(if prepared.computed.is_empty() {
            "the answer states the values the plan looked up; no synthesizer call".into()
        } else {
            "the answer states the computed results; no synthesizer call".into()
        });
        observer.token(&text);
        (text, prepared.shown)
    } else {
        // Every figure of the answer must be stated by a passage, the question or the facts
        // the plan read and computed: a small model shown "250 USD per night" and "a 3-night
        // trip" multiplies on its own, though it is told not to (the plan's formula is what
        // computes). Not what earlier answers said: their figures answered another question
        // ("And the other one?" is not answered with the first one's weight). Subjects are
        // checked only without computed facts: extracted values already had to name their
        // thing, and the facts cite the passages by their first numbers.
        let unverified = prepared.facts_text.is_empty();
        let given = format!("{question}\n{query}\n{}", prepared.facts_text);
        let given = Some(given.as_str());
        let subjects = if unverified {
            synthesize::subjects(&query, &prepared.shown)
        } else {
            Vec::new()
        };
        let asked = Asked {
            history: &history,
            question: &question,
            query: &query,
        };
        let mut text = write_answer(app, observer, &prepared, &asked, &ledger, &mut notes).await?;
        let mut shown = prepared.shown.clone();
        let mut vetted = synthesize::vet(&text, &shown, given, &subjects);
        if let synthesize::Vetted::OffSubject(unnamed) = &vetted
            && let Some(less) = prepared.restricted(
                &synthesize::naming_all(&subjects, &shown),
                cfg.passage_chars,
            )
        {
            // Asked again with only the passages about what the question names: a small
            // model picks the wrong passage far less often when the others are gone.
            notes.push(format!(
                "the answer came from passages that do not name {}; asked again with the {} that do",
                unnamed.join(", "),
                less.shown.len()
            ));
            text = write_answer(app, observer, &less, &asked, &ledger, &mut notes).await?;
            shown = less.shown;
            vetted = synthesize::vet(&text, &shown, given, &subjects);
        }
        match vetted {
            synthesize::Vetted::Supported => {
                // A year the question names must be named where the answer's figures are
                // stated: a tariff for 2026 is no answer about 2027.
                let other = if unverified {
                    synthesize::years_not_stated_with(&text, &query, &shown)
                } else {
                    Vec::new()
                };
                if other.is_empty() {
                    let (with_spans, more) = synthesize::arith::with_date_spans(&text);
                    notes.extend(more);
                    text = with_spans;
                } else {
                    notes.push(format!(
                        "no passage stating the drafted answer's figures mentions {}; not answered",
                        other.join(" or ")
                    ));
                    text = synthesize::no_figures_for(&other, &shown);
                }
            }
            synthesize::Vetted::Invented(figures) => {
                notes.push(format!(
                    "the drafted answer stated {} that no passage states; not answered",
                    figures.join(", ")
                ));
                // The exact results the plan computed still stand.
                text = synthesize::complete("", &prepared.computed).0;
                if text.trim().is_empty() {
                    text = synthesize::not_supported(&shown);
                }
            }
            synthesize::Vetted::OffSubject(unnamed) => {
                notes.push(format!(
                    "the drafted answer came from passages that do not name {}; not answered",
                    unnamed.join(", ")
                ));
                text = synthesize::not_supported(&shown);
            }
        }
        observer.token(&text);
        (text, shown)
    };
    let checked = synthesize::check(&text, &shown);
    notes.extend(checked.notes);
    for report in &run.reports {
        if let Some(StepOutput::Extract { notes: n, .. }) = &report.output {
            notes.extend(n.iter().map(|x| format!("{}: {x}", report.id)));
        }
    }
    Ok(Answer {
        question,
        answer: checked.text,
        answered: checked.answered,
        citations: checked.citations,
        route,
        plan: PlanReport {
            source,
            steps: valid.to_plan().steps,
            problems,
        },
        steps: run.reports,
        ledger: ledger.report(started.elapsed()),
        notes,
    })
}

/// What was asked: the conversation so far, the question as the user wrote it, and the
/// question as it stands on its own (a follow-up rewritten; otherwise the question).
#[derive(Clone, Copy)]
struct Asked<'a> {
    history: &'a str,
    question: &'a str,
    query: &'a str,
}

/// The synthesizer's answer from `prepared`'s evidence: its draft settled against that
/// evidence (quotes verified) and completed with any computed result it left out.
async fn write_answer(
    app: &App,
    observer: &dyn Observer,
    prepared: &synthesize::Prepared,
    asked: &Asked<'_>,
    ledger: &Ledger,
    notes: &mut Vec<String>,
) -> Result<String, AgentError> {
    let Asked {
        history,
        question,
        query,
    } = *asked;
    let cfg = &app.config.agent;
    // Without computed facts the model reads the passages on its own: each is cut to the
    // lines that bear most on the question (a follow-up's lines, on the question it stands
    // for: "and the other one?" names nothing a line could match).
    let cut = if prepared.facts_text.is_empty() {
        synthesize::focus::cut_to_lines(
            query,
            &prepared.shown,
            cfg.passage_lines,
            app.embedder.as_ref(),
        )
        .await
    } else {
        None
    };
    let evidence = cut.as_deref().unwrap_or(&prepared.evidence_text);
    let messages = prompts::Synthesize {
        history,
        evidence: evidence.trim_end(),
        facts: &prepared.facts_text,
        question,
        instruction: synthesize::instruction(prepared),
    }
    .messages()?;
    tracing::debug!(system = %messages[0].content, user = %messages[1].content, "synthesizer prompt");
    let model = role_model(app, ModelRole::Synthesizer).await?;
    let draft = draft_answer(
        model.as_ref(),
        observer,
        messages,
        prepared.shown.len(),
        cfg.answer_max_tokens,
        Duration::from_secs(cfg.synthesis_timeout_secs),
        ledger,
        &app.config.roles.synthesizer,
    )
    .await?;
    let (text, more) = match draft {
        Ok(d) => synthesize::settle(
            &d,
            &prepared.shown,
            !prepared.facts_text.is_empty(),
            history,
        ),
        // Not the requested JSON (a backend that ignores schemas): the text is the answer.
        Err(raw) => (raw, vec!["the synthesizer did not answer in JSON".into()]),
    };
    notes.extend(more);
    let (text, more) = synthesize::arith::corrected(&text);
    notes.extend(more);
    let (text, more) = synthesize::complete(&text, &prepared.computed);
    notes.extend(more);
    Ok(text)
}

/// Sends the system prompt of the planner, extractor and synthesizer to each role's model
/// once (one token out), so a local model's prefix cache holds that text before the first
/// question: every prompt of a role starts with it, byte for byte, and the first question
/// then skips its prefill (~600 tokens for the planner). Long-running front ends call it
/// after loading the models; remote models are left alone (their servers cache on their
/// own). A failure is only logged: the question that follows pays the prefill instead.
pub async fn warm_prompt_caches(app: &App) {
    let (none, max_facts) = ("", slots::MAX_FACTS);
    let prompts = [
        (
            ModelRole::Planner,
            prompts::Plan {
                max_facts,
                today: none,
                history: none,
                pages: none,
                question: none,
            }
            .messages(),
        ),
        (
            ModelRole::Extractor,
            prompts::Extract {
                fields: none,
                passages: none,
            }
            .messages(),
        ),
        (
            ModelRole::Synthesizer,
            prompts::Synthesize {
                history: none,
                evidence: none,
                facts: none,
                question: none,
                instruction: none,
            }
            .messages(),
        ),
    ];
    for (role, messages) in prompts {
        if !matches!(
            app.config.model_for(role),
            Ok(crate::config::ModelSpec::Local { .. })
        ) {
            continue;
        }
        let system = messages.ok().and_then(|m| m.into_iter().next());
        let (Some(system), Ok(model)) = (system, app.model(role).await) else {
            continue;
        };
        let started = std::time::Instant::now();
        match model
            .chat(crate::providers::llm::ChatRequest::new(vec![system], 1))
            .await
        {
            Ok(r) => tracing::info!(
                role = role.as_str(),
                tokens = r.usage.prompt_tokens,
                secs = started.elapsed().as_secs_f32(),
                "prompt cache warmed"
            ),
            Err(e) => {
                tracing::warn!(role = role.as_str(), error = %e, "prompt cache not warmed")
            }
        }
    }
}

async fn role_model(app: &App, role: ModelRole) -> Result<Arc<dyn ChatModel>, AgentError> {
    app.model(role).await.map_err(|e| AgentError::Model {
        role: role.as_str(),
        message: e.to_string(),
    })
}

/// The synthesizer's reply, streamed so the answer's draft reaches `observer` as it is written.
async fn stream_draft(
    model: &dyn ChatModel,
    request: ChatRequest,
    observer: &dyn Observer,
) -> Result<crate::providers::llm::ChatResponse, crate::providers::llm::LlmError> {
    use crate::providers::llm::{ChatDelta, ChatResponse, Finish, Timing, Usage};
    use futures::StreamExt;
    let started = Instant::now();
    let mut stream = model.chat_stream(request).await?;
    let mut text = String::new();
    let mut field = crate::providers::llm::partial::StreamedField::new("answer");
    let mut end: Option<(Usage, Timing, Finish)> = None;
    while let Some(item) = stream.next().await {
        match item? {
            ChatDelta::Text(piece) => {
                text.push_str(&piece);
                if let Some(new) = field.feed(&text) {
                    observer.draft(&new);
                }
            }
            ChatDelta::Done {
                usage,
                timing,
                finish,
            } => end = Some((usage, timing, finish)),
        }
    }
    let (usage, timing, finish) = end.unwrap_or((
        Usage::default(),
        Timing {
            total: started.elapsed(),
            ..Timing::default()
        },
        Finish::Other,
    ));
    Ok(ChatResponse {
        text,
        model: model.name().to_string(),
        usage,
        timing,
        finish,
    })
}

/// Asks the synthesizer for its structured draft; `Err(text)` when the output is not the
/// requested JSON.
#[allow(clippy::too_many_arguments)]
async fn draft_answer(
    model: &dyn ChatModel,
    observer: &dyn Observer,
    messages: Vec<ChatMessage>,
    evidence: usize,
    max_tokens: u32,
    timeout: Duration,
    ledger: &Ledger,
    configured: &str,
) -> Result<Result<synthesize::Draft, String>, AgentError> {
    let request = ChatRequest::new(messages, max_tokens).with_schema(OutputSchema {
        name: "answer".into(),
        schema: synthesize::draft_schema(evidence),
    });
    let response = match tokio::time::timeout(timeout, stream_draft(model, request, observer)).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(AgentError::Model {
                role: "synthesizer",
                message: e.to_string(),
            });
        }
        Err(_) => {
            return Err(AgentError::Model {
                role: "synthesizer",
                message: format!(
                    "no answer within {}s (agent.synthesis_timeout_secs)",
                    timeout.as_secs()
                ),
            });
        }
    };
    tracing::debug!(text = %response.text, "synthesizer answer");
    let call = ModelCall {
        role: "synthesizer".into(),
        model: model.name().to_string(),
        local: model.is_local(),
        usage: response.usage,
        timing: response.timing,
    };
    ledger.model_call("synthesize", &call, configured);
    Ok(parse_json::<synthesize::Draft>(&response).map_err(|_| response.text.clone()))
}

/// Pages a first search finds for the question, one line each, for the planner's context.
async fn planner_pages(
    app: &App,
    query: &str,
    access: &Access,
    evidence: &EvidenceSet,
) -> Result<String, AgentError> {
    let hits = search::search(
        app.embedder.as_ref(),
        app.store.as_ref(),
        query,
        PLANNER_PAGES * 2,
        app.config.search.prefetch,
        access.clone(),
    )
    .await?;
    // What the whole question found counts when its names and codes are looked for: the
    // plan's own searches ask for things and attributes, and a code that only qualifies the
    // question ("under plan B2") may be in none of their hits.
    for h in &hits {
        evidence.add(h);
    }
    // The pages in rank order (each as its best hit), with every passage of it the search found.
    let mut pages: Vec<&search::Hit> = Vec::new();
    let mut passages: Vec<Vec<&str>> = Vec::new();
    for h in &hits {
        if let Some(at) = pages.iter().position(|p| p.source == h.source) {
            passages[at].push(&h.text);
        } else if pages.len() < PLANNER_PAGES {
            pages.push(h);
            passages.push(vec![&h.text]);
        }
    }
    let snippets = snippet::best_sentences(query, &passages);
    let mut lines: Vec<String> = pages
        .iter()
        .zip(snippets)
        .map(|(h, best)| {
            let text = match best {
                Some(sentence) => clip(sentence, SNIPPET_CHARS),
                None => clip(&h.text.replace('\n', " "), SNIPPET_CHARS),
            };
            format!("- {} ({}): {}", h.title, h.source, text)
        })
        .collect();
    if lines.is_empty() {
        lines.push("- (no page matched)".into());
    }
    Ok(lines.join("\n"))
}

/// The planner role: writes the facts and formula a question needs (agent/slots.rs), code
/// builds the plan from them; one repair round, else the safe plan.
struct Planner<'a> {
    model: Arc<dyn ChatModel>,
    configured: String,
    max_steps: usize,
    /// An unusable plan gets one repair round (agent.replan); else the safe plan at once.
    repair: bool,
    timeout: Duration,
    /// The day the question is asked on (agent.today), as YYYY-MM-DD.
    today: String,
    ledger: &'a Ledger,
}

/// A plan to run, where it came from, the problems met on the way, and the planner's own
/// text (shown back to it when a step fails and it plans again).
struct Planned {
    plan: ValidPlan,
    source: PlanSource,
    problems: Vec<String>,
    written: String,
    /// What the planner's facts became (none for the fallback plan).
    built: Option<slots::Built>,
}

/// Whether a re-plan is the plan that failed, step for step (its JSON may differ in spacing
/// or key order); the fallback plan is never a repeat.
fn repeats(source: PlanSource, next: &ValidPlan, failed: &ValidPlan) -> bool {
    source != PlanSource::Fallback && next.to_plan() == failed.to_plan()
}

impl<'a> Planner<'a> {
    async fn new(app: &App, ledger: &'a Ledger) -> Result<Self, AgentError> {
        let model = role_model(app, ModelRole::Planner).await?;
        Ok(Self::with_model(
            model,
            &app.config.roles.planner,
            app.config.agent.max_steps,
            app.config.agent.replan,
            Duration::from_secs(app.config.agent.planner_timeout_secs),
            crate::dates::format(app.config.agent.today()),
            ledger,
        ))
    }

    fn with_model(
        model: Arc<dyn ChatModel>,
        configured: &str,
        max_steps: usize,
        repair: bool,
        timeout: Duration,
        today: String,
        ledger: &'a Ledger,
    ) -> Self {
        Self {
            model,
            configured: configured.to_string(),
            max_steps,
            repair,
            timeout,
            today,
            ledger,
        }
    }

    async fn plan(
        &self,
        question: &str,
        history: &str,
        pages: &str,
        failed: Option<(String, String)>,
    ) -> Planned {
        let mut problems = Vec::new();
        let messages = prompts::Plan {
            max_facts: slots::MAX_FACTS,
            today: &self.today,
            history,
            pages,
            question,
        }
        .messages();
        let fallback = |problems| Planned {
            plan: plan::fallback(question),
            source: PlanSource::Fallback,
            problems,
            written: String::new(),
            built: None,
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                problems.push(e.to_string());
                return fallback(problems);
            }
        };
        let step_label = if let Some((previous, error)) = failed {
            messages.push(ChatMessage::assistant(previous));
            messages.push(ChatMessage::user(format!(
                "Looking that up failed: {error}. Answer with new JSON that avoids the problem \
                 (for example name the thing or the fact as the pages word it)."
            )));
            "replan"
        } else {
            "plan"
        };
        tracing::debug!(system = %messages[0].content, user = %messages[1].content, "planner prompt");
        let known = format!("{question}\n{history}\n{pages}");
        let attempts = if self.repair { 2 } else { 1 };
        for attempt in 0..attempts {
            let text = match self.call(&messages, step_label).await {
                Ok(text) => text,
                Err(e) => {
                    // Timeouts and unreachable models are not worth a repair round.
                    problems.push(format!("planner: {e}"));
                    break;
                }
            };
            let outcome = serde_json::from_str::<slots::Slots>(text.trim())
                .map_err(|e| PlanError(format!("the answer is not valid JSON: {e}")))
                .and_then(|s| {
                    let (s, mut renamed) = slots::distinct_facts(s);
                    let (s, more) = slots::named_as_asked(s, question);
                    renamed.extend(more);
                    let (s, given) = slots::given_figures(s, question);
                    renamed.extend(given);
                    slots::check_things(&s, &known)?;
                    slots::build(&s, question).map(|b| (b, renamed))
                })
                .and_then(|(built, renamed)| {
                    let valid = plan::validate(
                        &Plan {
                            steps: built.steps.clone(),
                        },
                        self.max_steps,
                    )?;
                    Ok((valid, built, renamed))
                });
            match outcome {
                Ok((valid, built, renamed)) => {
                    tracing::info!(slots = %text, "planner named the facts");
                    problems.extend(renamed);
                    if let Some(why) = &built.dropped_formula {
                        problems.push(format!("{why}; the facts are read without it"));
                    }
                    let source = if attempt == 0 {
                        PlanSource::Planner
                    } else {
                        PlanSource::Repaired
                    };
                    return Planned {
                        plan: valid,
                        source,
                        problems,
                        written: text,
                        built: Some(built),
                    };
                }
                Err(e) => {
                    tracing::info!(error = %e, slots = %text, "planner wrote unusable facts");
                    problems.push(format!("invalid plan: {e}"));
                    messages.push(ChatMessage::assistant(text));
                    messages.push(ChatMessage::user(format!(
                        "That cannot be used: {e}. Answer with corrected JSON."
                    )));
                }
            }
        }
        fallback(problems)
    }

    async fn call(&self, messages: &[ChatMessage], step: &str) -> Result<String, String> {
        let request = ChatRequest::new(messages.to_vec(), PLAN_MAX_TOKENS)
            .with_schema(crate::providers::llm::schema_of::<slots::Slots>("plan"));
        let response = match tokio::time::timeout(self.timeout, self.model.chat(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                return Err(format!(
                    "no plan within {}s (agent.planner_timeout_secs)",
                    self.timeout.as_secs()
                ));
            }
        };
        tracing::debug!(text = %response.text, "planner answer");
        let call = ModelCall {
            role: "planner".into(),
            model: response.model.clone(),
            local: self.model.is_local(),
            usage: response.usage,
            timing: response.timing,
        };
        self.ledger.model_call(step, &call, &self.configured);
        Ok(response.text)
    }
}

#[cfg(test)]
mod tests;
