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

fn good_plan() -> String {
    json!({"steps": [
        {"id": "s1", "tool": "search", "args": {"query": "Orbit 4 weight"}, "depends_on": []},
        {"id": "s2", "tool": "extract", "args": {"from": ["s1"], "fields": [
            {"name": "weight", "type": "number", "unit": "g", "description": "weight"}]}, "depends_on": ["s1"]}
    ]})
    .to_string()
}

fn ledger() -> Ledger {
    Ledger::new(Prices::from_config(&Config::default()))
}

async fn plan_with(
    turns: Vec<MockTurn>,
    timeout: Duration,
) -> (ValidPlan, PlanSource, Vec<String>, Arc<ScriptedModel>) {
    let model = Arc::new(ScriptedModel::new(turns));
    let ledger = ledger();
    let planner = Planner::with_model(model.clone(), "scripted", 8, timeout, &ledger).unwrap();
    let (p, s, problems) = planner
        .plan(
            "How heavy is the Orbit 4?",
            "",
            "- Orbit 4 (products/orbit-4.md): ...",
            None,
        )
        .await;
    (p, s, problems, model)
}

#[tokio::test]
async fn a_valid_plan_is_used_as_written() {
    let (p, source, problems, model) =
        plan_with(vec![MockTurn::Text(good_plan())], Duration::from_secs(5)).await;
    assert_eq!(source, PlanSource::Planner);
    assert!(problems.is_empty());
    assert_eq!(p.steps.len(), 2);
    let seen = model.seen.lock().unwrap();
    let request = &seen[0];
    assert!(request.schema.is_some(), "the plan is schema-constrained");
    let system = &request.messages[0].content;
    for tool in plan::TOOLS {
        assert!(
            system.contains(&format!("- {tool}: ")),
            "manifest of {tool} shown"
        );
    }
    assert!(!system.contains("fn "), "no tool code in the prompt");
}

#[tokio::test]
async fn invalid_json_gets_one_repair_round_with_the_error() {
    let (_, source, problems, model) = plan_with(
        vec![
            MockTurn::Text("{\"steps\": [".into()),
            MockTurn::Text(good_plan()),
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(source, PlanSource::Repaired);
    assert!(problems[0].contains("not valid JSON"), "{problems:?}");
    let seen = model.seen.lock().unwrap();
    let repair = &seen[1].messages.last().unwrap().content;
    assert!(repair.contains("That plan is invalid"), "{repair}");
}

#[tokio::test]
async fn unknown_tool_twice_falls_back_to_search() {
    let bad = json!({"steps": [{"id": "s1", "tool": "shell", "args": {"cmd": "cat /etc/passwd"}, "depends_on": []}]}).to_string();
    let (p, source, problems, _) = plan_with(
        vec![MockTurn::Text(bad.clone()), MockTurn::Text(bad)],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(source, PlanSource::Fallback);
    assert_eq!(problems.len(), 2);
    assert!(
        problems[0].contains("unknown tool \"shell\""),
        "{problems:?}"
    );
    assert_eq!(p.steps.len(), 1);
    assert_eq!(p.steps[0].tool(), "search");
}

#[tokio::test]
async fn a_cycle_is_repaired() {
    let cycle = json!({"steps": [
        {"id": "s1", "tool": "search", "args": {"query": "a"}, "depends_on": ["s2"]},
        {"id": "s2", "tool": "search", "args": {"query": "b"}, "depends_on": ["s1"]}]})
    .to_string();
    let (_, source, problems, _) = plan_with(
        vec![MockTurn::Text(cycle), MockTurn::Text(good_plan())],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(source, PlanSource::Repaired);
    assert!(problems[0].contains("cycle"), "{problems:?}");
}

#[tokio::test]
async fn a_model_error_falls_back_without_a_repair_round() {
    let (_, source, problems, model) = plan_with(
        vec![MockTurn::Error(LlmError::Transient {
            model: "scripted".into(),
            message: "connection refused".into(),
        })],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(source, PlanSource::Fallback);
    assert!(problems[0].contains("connection refused"));
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
        Duration::from_millis(50),
        &ledger,
    )
    .unwrap();
    let (p, source, problems) = planner.plan("q", "", "", None).await;
    assert_eq!(source, PlanSource::Fallback);
    assert!(
        problems[0].contains("agent.planner_timeout_secs"),
        "{problems:?}"
    );
    assert_eq!(p.steps[0].tool(), "search");
}

#[tokio::test]
async fn a_replan_shows_the_planner_its_failed_plan_and_the_error() {
    let model = Arc::new(ScriptedModel::new(vec![MockTurn::Text(good_plan())]));
    let ledger = ledger();
    let planner = Planner::with_model(
        model.clone(),
        "scripted",
        8,
        Duration::from_secs(5),
        &ledger,
    )
    .unwrap();
    let (_, source, _) = planner
        .plan(
            "q",
            "",
            "",
            Some((
                "{\"steps\": []}".into(),
                "step s3 failed: s3.price: not stated".into(),
            )),
        )
        .await;
    assert_eq!(source, PlanSource::Planner);
    let seen = model.seen.lock().unwrap();
    let last = &seen[0].messages.last().unwrap().content;
    assert!(last.contains("s3.price: not stated"), "{last}");
}

#[test]
fn today_is_a_date() {
    let t = today();
    assert_eq!(t.len(), 10);
    assert!(t.starts_with("20"));
}
