//! The router: decides, without a model call, whether a question can go straight to search +
//! answer or needs a plan (several facts, a comparison, arithmetic). Rules are cheap and
//! visible: the route carries the rule that fired.

use serde::Serialize;

use crate::config::RouteMode;

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
    "which tablet",
    "by how much",
    "by how many",
];

/// Words that mean a number has to be computed.
const ARITHMETIC: &[&str] = &[
    "total",
    "all in",
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
    "each way",
    "how long after",
    "how long before",
    "how much can i claim",
    "the most i can",
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

/// Distinct "Name 4"-style product names ("Tern 3", "Tern 4").
fn named_things(question: &str) -> Vec<String> {
    let words: Vec<&str> = question.split_whitespace().collect();
    let mut names: Vec<String> = Vec::new();
    for pair in words.windows(2) {
        let [name, number] = pair else { continue };
        let number = number.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        let proper = name.chars().next().is_some_and(char::is_uppercase)
            && name.chars().skip(1).all(char::is_lowercase);
        let numbered = !number.is_empty()
            && number.chars().next().is_some_and(|c| c.is_ascii_digit())
            && number.len() <= 3;
        if proper && numbered {
            let n = format!("{name} {}", number.trim_end_matches('s'));
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// A count or amount given in the question itself ("60 units", "150 miles", "3-night").
fn quantities(question: &str) -> bool {
    let words: Vec<&str> = question.split_whitespace().collect();
    words.iter().enumerate().any(|(i, w)| {
        let digits = w.trim_start_matches('$');
        let is_number = digits.chars().next().is_some_and(|c| c.is_ascii_digit());
        // A number right after a capitalised name is part of the name ("Tern 4", "Q1 2026").
        let after_name = i > 0 && words[i - 1].chars().next().is_some_and(char::is_uppercase);
        is_number && !after_name && (w.contains('-') || i + 1 < words.len())
    })
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
            "How much does the Tern 4 weigh?",
            "Which port do I need open for the WireGuard VPN?",
            "What's the daily per diem when I travel to Norway?",
            "How many sick days do we get each year?",
            "What day is Petrel Day this year?",
        ] {
            assert_eq!(kind(q), RouteKind::Direct, "{q}");
        }
    }

    #[test]
    fn comparisons_arithmetic_and_several_things_plan() {
        let r = route(
            "Compare the battery life and price of last year's model to the new one",
            RouteMode::Auto,
        );
        assert_eq!(r.kind, RouteKind::Plan);
        assert!(r.reason.contains("compar"), "{}", r.reason);
        for q in [
            "How much heavier is the Tern 3 than the Tern 4?",
            "A utility wants 60 Tern 4s with fleet pricing. What's the per-unit price and the total?",
            "How long after the Tern 3 launch did the Tern 4 come out?",
            "If I drive my own car 150 miles each way to a customer site, how much mileage can I claim?",
        ] {
            assert_eq!(kind(q), RouteKind::Plan, "{q}");
        }
        assert_eq!(
            route("How much does the Tern 4 weigh?", RouteMode::Plan).kind,
            RouteKind::Plan
        );
    }
}
