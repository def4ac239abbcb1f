//! Question sets (JSONL) and scoring: an answer is correct when every expected fact appears in
//! it (any of the listed spellings), or, for unanswerable questions, when it says the wiki does
//! not cover the question.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::agent::Answer;
use crate::agent::router::RouteKind;
use crate::bench::percentile;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub question: String,
    /// Each inner list holds acceptable spellings of one fact; every fact must appear.
    pub expected_facts: Vec<Vec<String>>,
    pub expected_sources: Vec<String>,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Single,
    MultiStep,
    Unanswerable,
}

pub fn load(path: &Path) -> Result<Vec<Question>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).map_err(|e| EvalError::Parse {
            path: shown.clone(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(q);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub id: String,
    pub kind: Kind,
    pub correct: bool,
    /// Facts (first spelling) the answer does not contain.
    pub missing: Vec<String>,
    /// Share of the expected source pages the answer cites.
    pub source_recall: f64,
    pub route: RouteKind,
    pub latency_ms: u64,
    pub cost_usd: f64,
}

pub fn score(q: &Question, a: &Answer) -> Score {
    let text = a.answer.to_lowercase();
    let missing: Vec<String> = q
        .expected_facts
        .iter()
        .filter(|alts| !alts.iter().any(|s| text.contains(&s.to_lowercase())))
        .filter_map(|alts| alts.first().cloned())
        .collect();
    let correct = match q.kind {
        Kind::Unanswerable => !a.answered,
        _ => a.answered && missing.is_empty(),
    };
    let cited = |s: &String| a.citations.iter().any(|c| &c.source == s);
    let source_recall = if q.expected_sources.is_empty() {
        1.0
    } else {
        q.expected_sources.iter().filter(|s| cited(s)).count() as f64
            / q.expected_sources.len() as f64
    };
    Score {
        id: q.id.clone(),
        kind: q.kind,
        correct,
        missing,
        source_recall,
        route: a.route.kind,
        latency_ms: a.ledger.wall_ms,
        cost_usd: a.ledger.total_cost_usd,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub by_kind: Vec<(Kind, usize, usize)>,
    pub source_recall: f64,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub cost_usd: f64,
    /// Questions that failed with an error instead of an answer.
    pub errors: usize,
}

pub fn summarize(scores: &[Score], errors: usize) -> Summary {
    let n = scores.len() + errors;
    let correct = scores.iter().filter(|s| s.correct).count();
    let mut kinds: Vec<Kind> = scores.iter().map(|s| s.kind).collect();
    kinds.sort();
    kinds.dedup();
    let by_kind = kinds
        .into_iter()
        .map(|k| {
            let of: Vec<&Score> = scores.iter().filter(|s| s.kind == k).collect();
            (k, of.iter().filter(|s| s.correct).count(), of.len())
        })
        .collect();
    let mut lat: Vec<u64> = scores.iter().map(|s| s.latency_ms).collect();
    lat.sort_unstable();
    Summary {
        questions: n,
        correct,
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        by_kind,
        source_recall: if scores.is_empty() {
            0.0
        } else {
            scores.iter().map(|s| s.source_recall).sum::<f64>() / scores.len() as f64
        },
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
        cost_usd: scores.iter().map(|s| s.cost_usd).sum(),
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_question_set_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge/questions.jsonl");
        let qs = load(&path).unwrap();
        assert!(qs.len() >= 40);
        let multi = qs.iter().filter(|q| q.kind == Kind::MultiStep).count();
        assert!(multi * 3 >= qs.len(), "a third multi-step");
    }

    #[test]
    fn bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.jsonl");
        std::fs::write(&p, "\n{\"id\": \"a\"}\n").unwrap();
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains("q.jsonl:2"), "{err}");
    }
}
