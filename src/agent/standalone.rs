//! Follow-ups in a conversation ("and the other one?", "is it waterproof?") become a question
//! that stands on its own before anything is searched: the planner-role model rewrites the
//! last message from the earlier turns, or returns it unchanged. No word list decides what a
//! follow-up is. Without earlier turns nothing is asked.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::ledger::Ledger;
use crate::prompts;
use crate::providers::llm::{ChatModel, ChatRequest, schema_of, structured};
use crate::tools::ModelCall;

/// A rewrite is one short question; anything longer is cut off and ignored.
const MAX_TOKENS: u32 = 80;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Standalone {
    standalone_query: String,
}

/// The question to search and plan with, and a note when the rewrite could not be used.
pub async fn standalone_query(
    model: &dyn ChatModel,
    configured: &str,
    history: &str,
    question: &str,
    timeout: Duration,
    ledger: &Ledger,
) -> (String, Option<String>) {
    if history.trim().is_empty() {
        return (question.to_string(), None);
    }
    let messages = match (prompts::Standalone { history, question }).messages() {
        Ok(m) => m,
        Err(e) => return (question.to_string(), Some(e.to_string())),
    };
    let request = ChatRequest::new(messages, MAX_TOKENS);
    let call = structured::<Standalone>(model, request, schema_of::<Standalone>("standalone"));
    let (parsed, response) = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return (
                question.to_string(),
                Some(format!(
                    "follow-up rewrite failed ({e}); the question is used as asked"
                )),
            );
        }
        Err(_) => {
            return (
                question.to_string(),
                Some(format!(
                    "no follow-up rewrite within {}s; the question is used as asked",
                    timeout.as_secs()
                )),
            );
        }
    };
    ledger.model_call(
        "standalone",
        &ModelCall {
            role: "planner".into(),
            model: response.model.clone(),
            local: model.is_local(),
            usage: response.usage,
            timing: response.timing,
        },
        configured,
    );
    let rewritten = parsed.standalone_query.trim();
    if rewritten.is_empty() {
        return (question.to_string(), None);
    }
    (rewritten.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ledger::Prices;
    use crate::config::Config;
    use crate::providers::llm::fake::{MockTurn, ScriptedModel};

    fn ledger() -> Ledger {
        Ledger::new(Prices::from_config(&Config::default()))
    }

    #[tokio::test]
    async fn a_follow_up_is_rewritten_from_the_conversation() {
        let model = ScriptedModel::new(vec![MockTurn::Text(
            r#"{"standalone_query":"How much does the Orbit 3 weigh?"}"#.into(),
        )]);
        let ledger = ledger();
        let history =
            "Earlier in this conversation:\nQ: How much does the Orbit 4 weigh?\nA: 870 g [1].\n";
        let (q, note) = standalone_query(
            &model,
            "m",
            history,
            "And the Orbit 3?",
            Duration::from_secs(5),
            &ledger,
        )
        .await;
        assert_eq!(q, "How much does the Orbit 3 weigh?");
        assert_eq!(note, None);
        // The model saw the earlier turn and the new message, and the call is in the ledger.
        let seen = model.seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let user = &seen[0].messages[1].content;
        assert!(user.contains("Orbit 4 weigh") && user.contains("New message: And the Orbit 3?"));
        assert_eq!(ledger.report(Duration::ZERO).entries.len(), 1);
    }

    #[tokio::test]
    async fn without_history_or_with_a_failing_model_the_question_stands() {
        let model = ScriptedModel::new(vec![]);
        let ledger = ledger();
        let (q, note) = standalone_query(
            &model,
            "m",
            "",
            "Who runs IT?",
            Duration::from_secs(5),
            &ledger,
        )
        .await;
        assert_eq!((q.as_str(), note), ("Who runs IT?", None));
        assert!(
            model.seen.lock().unwrap().is_empty(),
            "no call without history"
        );
        let broken = ScriptedModel::new(vec![MockTurn::Text("not json".into())]);
        let (q, note) = standalone_query(
            &broken,
            "m",
            "Q: a\nA: b\n",
            "Is it waterproof?",
            Duration::from_secs(5),
            &ledger,
        )
        .await;
        assert_eq!(q, "Is it waterproof?");
        assert!(note.is_some_and(|n| n.contains("used as asked")));
    }
}
