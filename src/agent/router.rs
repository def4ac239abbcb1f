//! The router: decides, without a model call, whether a question can go straight to search +
//! answer or needs a plan (several facts, a comparison, arithmetic). Rules are cheap and
//! visible: the route carries the rule that fired.

use serde::Serialize;

use crate::config::RouteMode;
use crate::quantity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// Search for the question and answer from the hits.
    Direct,
    /// Ask the planner for a plan of steps.
    Plan,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub kind: RouteKind,
    pub reason: String,
}

/// Words that mean two things are set against each other.
const COMPARISON: &[&str] = &[
    "compare",
    "comparison",
    "versus",
    " vs",
    "difference",
    " than ",
    "how much more",
    "how many more",
    "how much less",
    "how many fewer",
    "which is",
    "which one",
    "by how much",
    "by how many",
];

/// Words that mean a number has to be computed.
const ARITHMETIC: &[&str] = &[
    "total",
    "add up",
    "adding up",
    "sum of",
    "combined",
    "altogether",
    "average",
    "per-unit",
    "per unit",
    "percent",
    "%",
];

pub fn route(question: &str, mode: RouteMode) -> Route {
    match mode {
        RouteMode::Plan => {
            return Route {
                kind: RouteKind::Plan,
                reason: "agent.route = \"plan\"".into(),
            };
        }
        RouteMode::Direct => {
            return Route {
                kind: RouteKind::Direct,
                reason: "agent.route = \"direct\"".into(),
            };
        }
        RouteMode::Auto => {}
    }
    let q = format!(" {} ", question.to_lowercase());
    let plan = |reason: String| Route {
        kind: RouteKind::Plan,
        reason,
    };
    if let Some(w) = COMPARISON.iter().find(|w| q.contains(*w)) {
        return plan(format!("asks for a comparison ({:?})", w.trim()));
    }
    if let Some(w) = ARITHMETIC.iter().find(|w| q.contains(*w)) {
        return plan(format!("needs arithmetic ({:?})", w.trim()));
    }
    let names = named_things(question);
    if names.len() >= 2 {
        return plan(format!("names several things ({})", names.join(", ")));
    }
    if quantities(question) {
        return plan("gives quantities to compute with".into());
    }
    if question.matches('?').count() >= 2 {
        return plan("asks several questions".into());
    }
    Route {
        kind: RouteKind::Direct,
        reason: "a single fact: search and answer".into(),
    }
}

/// Distinct names with a number ("Model 3", "Model 4").
fn named_things(question: &str) -> Vec<String> {
    quantity::numbered_names(question)
}

/// A count or amount given in the question itself, to compute with: a figure with a unit
/// ("150 miles", "$200", "3-night") or a number counting something ("60 units"). Codes
/// ("42P01", "401(k)"), names' numbers ("Model 4") and years are not.
fn quantities(question: &str) -> bool {
    let text = quantity::without_numbered_names(question);
    let words: Vec<&str> = text.split_whitespace().collect();
    let counted = words.windows(2).any(|pair| {
        let number = pair[0].trim_start_matches(['$', '€', '£']);
        let is_number = !number.is_empty()
            && number
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.');
        let year = number.len() == 4 && (1900..=2100).contains(&number.parse::<u32>().unwrap_or(0));
        let noun = pair[1].chars().next().is_some_and(char::is_lowercase);
        is_number && !year && noun
    });
    counted
        || quantity::quantities_in(&text)
            .iter()
            .any(|q| q.unit.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(q: &str) -> RouteKind {
        route(q, RouteMode::Auto).kind
    }

    #[test]
    fn simple_questions_go_direct() {
        for q in [
            "How much does the Orbit 4 weigh?",
            "Which port do I need open for the office VPN?",
            "What's the daily per diem when I travel abroad?",
            "How many sick days do we get each year?",
            "What does error 42P01 mean?",
            "How much can I put into my 401(k)?",
            "What changed in the 2026 budget?",
        ] {
            assert_eq!(kind(q), RouteKind::Direct, "{q}");
        }
    }

    #[test]
    fn comparisons_arithmetic_and_several_things_plan() {
        let r = route(
            "Compare the battery life and price of the old router to the new one",
            RouteMode::Auto,
        );
        assert_eq!(r.kind, RouteKind::Plan);
        assert!(r.reason.contains("compar"), "{}", r.reason);
        for q in [
            "How much heavier is the Orbit 3 than the Orbit 4?",
            "We want 60 Orbit 4s with volume pricing. What's the per-unit price and the total?",
            "When did the Orbit 3 launch, and the Orbit 4?",
            "If I drive my own car 150 miles to a customer site, how much mileage can I claim?",
            "We need 12 laptops for the new team; what will they cost?",
            "What would a 4-night stay at the airport hotel come to?",
        ] {
            assert_eq!(kind(q), RouteKind::Plan, "{q}");
        }
        assert_eq!(
            route("How much does the Orbit 4 weigh?", RouteMode::Plan).kind,
            RouteKind::Plan
        );
    }
}
