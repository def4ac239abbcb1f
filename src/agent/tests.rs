//! Planner failure modes with a scripted model (the real path is tested end to end in
//! tests/e2e/agent.rs with real models).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::config::Config;
use crate::providers::llm::fake::{MockTurn, ScriptedModel};
use crate::providers::llm::{ChatResponse, ChatStream, LlmError};

/// The planner's answer with one number fact in grams.
fn one_fact(thing: &str, attribute: &str, formula: &str) -> String {
    json!({"things": [thing], "facts": [
        {"thing": thing, "attribute": attribute, "type": "number", "unit": "g"}],
        "formula": formula})
    .to_string()
}

fn slots(formula: &str) -> String {
    one_fact("Orbit 4", "weight", formula)
}

fn good_plan() -> String {
    slots("")
}

/// The day the planner is told it is (agent.today).
const TODAY: &str = "2026-05-05";

fn ledger() -> Ledger {
    Ledger::new(Prices::from_config(&Config::default()))
}

async fn plan_with(turns: Vec<MockTurn>, timeout: Duration) -> (Planned, Arc<ScriptedModel>) {
    plan_repairing(turns, timeout, true).await
}

async fn plan_repairing(
    turns: Vec<MockTurn>,
    timeout: Duration,
    repair: bool,
) -> (Planned, Arc<ScriptedModel>) {
    plan_question(
        turns,
        timeout,
        repair,
        "How heavy is the Orbit 4?",
        "- Orbit 4 (products/orbit-4.md): ...",
    )
    .await
}

async fn plan_question(
    turns: Vec<MockTurn>,
    timeout: Duration,
    repair: bool,
    question: &str,
    pages: &str,
) -> (Planned, Arc<ScriptedModel>) {
    let model = Arc::new(ScriptedModel::new(turns));
    let ledger = ledger();
    let planner = Planner::with_model(
        model.clone(),
        "scripted",
        8,
        repair,
        timeout,
        TODAY.into(),
        &ledger,
    );
    let planned = planner.plan(question, "", pages, None).await;
    (planned, model)
}

#[tokio::test]
async fn the_planners_facts_become_the_plan() {
    let (planned, model) =
        plan_with(vec![MockTurn::Text(good_plan())], Duration::from_secs(5)).await;
    assert_eq!(planned.source, PlanSource::Planner);
    assert!(planned.problems.is_empty());
    assert_eq!(planned.written, good_plan());
    let tools: Vec<&str> = planned.plan.steps.iter().map(|s| s.tool()).collect();
    assert_eq!(tools, ["search", "extract"]);
    let seen = model.seen.lock().unwrap();
    let request = &seen[0];
    let schema = &request.schema.as_ref().expect("schema-constrained").schema;
    assert!(schema["properties"]["things"].is_object(), "{schema}");
    assert!(schema["properties"]["facts"].is_object(), "{schema}");
    assert!(request.messages[0].content.contains("at most 6"));
    assert!(
        request.messages[1].content.contains(TODAY),
        "{}",
        request.messages[1].content
    );
    assert!(
        request.messages[1]
            .content
            .ends_with("Question: How heavy is the Orbit 4?")
    );
}

#[tokio::test]
async fn invalid_json_gets_one_repair_round_with_the_error() {
    let (planned, model) = plan_with(
        vec![
            MockTurn::Text("{\"facts\": [".into()),
            MockTurn::Text(good_plan()),
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(planned.source, PlanSource::Repaired);
    assert!(
        planned.problems[0].contains("not valid JSON"),
        "{:?}",
        planned.problems
    );
    let repair = model.last_message(1);
    assert!(repair.contains("That cannot be used"), "{repair}");
}

#[tokio::test]
async fn without_repair_an_unusable_plan_is_the_safe_plan_at_once() {
    // agent.replan off (the default): one planner call, its reason kept for the trace.
    let (planned, model) = plan_repairing(
        vec![
            MockTurn::Text("{\"facts\": [".into()),
            MockTurn::Text(good_plan()),
        ],
        Duration::from_secs(5),
        false,
    )
    .await;
    assert_eq!(planned.source, PlanSource::Fallback);
    assert!(
        planned.problems[0].contains("not valid JSON"),
        "{:?}",
        planned.problems
    );
    assert_eq!(model.seen.lock().unwrap().len(), 1, "no repair round");
    assert_eq!(planned.plan.steps[0].tool(), "search");
}

#[tokio::test]
async fn a_bad_formula_is_dropped_and_the_facts_still_read() {
    let (planned, model) = plan_with(
        vec![MockTurn::Text(slots("f1 ^ 2"))],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(planned.source, PlanSource::Planner);
    assert!(
        planned.problems[0].contains("unexpected '^'"),
        "{:?}",
        planned.problems
    );
    let tools: Vec<&str> = planned.plan.steps.iter().map(|s| s.tool()).collect();
    assert_eq!(tools, ["search", "extract"]);
    assert_eq!(model.seen.lock().unwrap().len(), 1, "no repair round");
}

#[tokio::test]
async fn a_figure_the_question_gives_is_written_into_the_formula_not_looked_up() {
    // The planner's commonest slip: the question's own distance listed as a fact to look up.
    let written = json!({"things": ["Orbit 4", "route"], "facts": [
        {"thing": "Orbit 4", "attribute": "shipping rate", "type": "number", "unit": "EUR/km"},
        {"thing": "route", "attribute": "distance", "type": "number", "unit": "km"}],
        "formula": "f1 * f2"})
    .to_string();
    let (planned, _) = plan_question(
        vec![MockTurn::Text(written)],
        Duration::from_secs(5),
        false,
        "What does shipping an Orbit 4 40 km cost?",
        "- Orbit 4 (products/orbit-4.md): shipping is EUR 0.50 per km",
    )
    .await;
    assert_eq!(planned.source, PlanSource::Planner);
    assert_eq!(
        planned.problems,
        ["f2 (distance of route) is the question's 40 km, not looked up"]
    );
    let tools: Vec<&str> = planned.plan.steps.iter().map(|s| s.tool()).collect();
    assert_eq!(tools, ["search", "extract", "calculate"]);
    let calc = &planned.plan.to_plan().steps[2];
    assert_eq!(
        calc.args["values"],
        json!(["s2.shipping_rate", 40.0]),
        "{calc:?}"
    );
}

#[tokio::test]
async fn facts_that_cannot_be_used_are_repaired_then_fall_back() {
    let no_attribute = one_fact("Orbit 4", " ", "");
    let (planned, model) = plan_with(
        vec![
            MockTurn::Text(no_attribute.clone()),
            MockTurn::Text(no_attribute),
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(planned.source, PlanSource::Fallback);
    assert!(
        planned.problems[0].contains("the attribute is empty"),
        "{:?}",
        planned.problems
    );
    assert_eq!(planned.plan.steps[0].tool(), "search");
    let repair = model.last_message(1);
    assert!(repair.contains("That cannot be used"), "{repair}");
}

#[tokio::test]
async fn a_model_error_falls_back_without_a_repair_round() {
    let (planned, model) = plan_with(
        vec![MockTurn::Error(LlmError::Transient {
            model: "scripted".into(),
            message: "connection refused".into(),
        })],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(planned.source, PlanSource::Fallback);
    assert!(planned.problems[0].contains("connection refused"));
    assert_eq!(model.seen.lock().unwrap().len(), 1);
}

/// A model that never answers in time.
struct Stalled;

#[async_trait]
impl ChatModel for Stalled {
    fn name(&self) -> &str {
        "stalled"
    }
    fn is_local(&self) -> bool {
        true
    }
    async fn chat(&self, _request: ChatRequest) -> Result<ChatResponse, LlmError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Err(LlmError::Permanent {
            model: "stalled".into(),
            message: "unreachable".into(),
        })
    }
    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        self.chat(request)
            .await
            .map(|_| -> ChatStream { Box::pin(futures::stream::empty()) })
    }
}

#[tokio::test]
async fn a_planner_timeout_falls_back() {
    let ledger = ledger();
    let planner = Planner::with_model(
        Arc::new(Stalled),
        "stalled",
        8,
        true,
        Duration::from_millis(50),
        TODAY.into(),
        &ledger,
    );
    let planned = planner.plan("q", "", "", None).await;
    assert_eq!(planned.source, PlanSource::Fallback);
    assert!(
        planned.problems[0].contains("agent.planner_timeout_secs"),
        "{:?}",
        planned.problems
    );
    assert_eq!(planned.plan.steps[0].tool(), "search");
}

#[tokio::test]
async fn a_replan_shows_the_planner_its_failed_plan_and_the_error() {
    let model = Arc::new(ScriptedModel::new(vec![MockTurn::Text(good_plan())]));
    let ledger = ledger();
    let planner = Planner::with_model(
        model.clone(),
        "scripted",
        8,
        true,
        Duration::from_secs(5),
        TODAY.into(),
        &ledger,
    );
    let planned = planner
        .plan(
            "How heavy is the Orbit 4?",
            "",
            "",
            Some((slots(""), "s3.price: not stated".into())),
        )
        .await;
    assert_eq!(planned.source, PlanSource::Planner);
    let seen = model.seen.lock().unwrap();
    let messages = &seen[0].messages;
    assert_eq!(messages[messages.len() - 2].content, slots(""));
    let last = &messages.last().unwrap().content;
    assert!(last.contains("s3.price: not stated"), "{last}");
}

#[tokio::test]
async fn a_thing_named_nowhere_gets_a_repair_round() {
    // A step id echoed back as a thing ("s3") is no thing the wiki names.
    let echoed = one_fact("s3", "weight", "");
    let (planned, model) = plan_with(
        vec![MockTurn::Text(echoed), MockTurn::Text(good_plan())],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(planned.source, PlanSource::Repaired);
    let repair = model.last_message(1);
    assert!(repair.contains("\"s3\" is named nowhere"), "{repair}");
}

#[tokio::test]
async fn a_replan_that_writes_the_failed_plan_again_is_a_repeat() {
    let replan = |text: String| async move {
        let model = Arc::new(ScriptedModel::new(vec![MockTurn::Text(text)]));
        let ledger = ledger();
        let planner = Planner::with_model(
            model,
            "scripted",
            8,
            true,
            Duration::from_secs(5),
            TODAY.into(),
            &ledger,
        );
        planner
            .plan(
                "How heavy is the Orbit 4?",
                "",
                "",
                Some((good_plan(), "s2.weight: not stated".into())),
            )
            .await
    };
    let (failed, _) = plan_with(vec![MockTurn::Text(good_plan())], Duration::from_secs(5)).await;
    // The same facts, spaced and ordered differently: the same steps, not run again.
    let respaced = "{ \"formula\": \"\", \"things\": [\"Orbit 4\"], \"facts\": [{\"unit\": \"g\", \
                    \"type\": \"number\", \"attribute\": \"weight\", \"thing\": \"Orbit 4\"}] }";
    let same = replan(respaced.to_string()).await;
    assert!(repeats(same.source, &same.plan, &failed.plan));
    // Another attribute is another plan.
    let other = replan(one_fact("Orbit 4", "mass", "")).await;
    assert!(!repeats(other.source, &other.plan, &failed.plan));
    // The fallback plan (the planner gave up) is never a repeat.
    let gave_up = replan("not json".into()).await;
    assert_eq!(gave_up.source, PlanSource::Fallback);
    assert!(!repeats(gave_up.source, &gave_up.plan, &failed.plan));
}
