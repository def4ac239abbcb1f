//! Question sets (JSONL) and scoring: an answer is correct when every expected fact appears in
//! it (any of the listed spellings), or, for unanswerable questions, when it says the wiki does
//! not cover the question.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::agent::Answer;
use crate::agent::router::RouteKind;
use crate::quantity::{self, Quantity};
use crate::stats::{mean, percentile};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
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
    load_jsonl(path)
}

/// One value per non-blank line; a bad line is named by file and line number.
pub fn load_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| EvalError::Read {
        path: shown.clone(),
        error,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: T = serde_json::from_str(line).map_err(|e| EvalError::Parse {
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
    /// Share of the expected source pages among the passages retrieved by search steps.
    pub retrieval_recall: f64,
    /// Share of the citations whose passage states one of the expected facts (None without
    /// citations or expected facts).
    pub citation_precision: Option<f64>,
    pub route: RouteKind,
    pub latency_ms: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

/// True when `text` states the fact in one of its spellings. Citation markers ("[4]") are
/// never part of what an answer states, and a name's number ("Model 4") is not a figure. A
/// spelling that is one figure ("$1,199", "19 h", "4 GB") matches that number in a
/// commensurable unit (1199 dollars, 19 hours, 4,000 MB) within rounding; a bare number
/// matches in any unit. Any other spelling matches as written, on word boundaries ("UDP" is
/// not in "UDPX").
pub fn states(text: &str, spellings: &[String]) -> bool {
    let clean = quantity::strip_citations(text);
    let figures = quantity::quantities_in(&quantity::without_numbered_names(&clean));
    let days = crate::dates::days_of_year_in(&clean);
    spellings.iter().any(|s| match Quantity::parse(s) {
        Some(want) => figures.iter().any(|f| f.matches(&want, quantity::ROUNDED)),
        None => {
            quantity::contains_words(&clean, s)
                || plural(s).is_some_and(|p| quantity::contains_words(&clean, &p))
                || day_of_year(s).is_some_and(|want| days.contains(&want))
        }
    })
}

/// The plural of a spelling that ends in a letter ("Thursday" -> "Thursdays": "reviewed on
/// Thursdays" states it).
fn plural(spelling: &str) -> Option<String> {
    spelling
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphabetic() && c != 's')
        .then(|| format!("{spelling}s"))
}

/// The day of the year a spelling is, when it is only that ("12 Jun", "June 12"): it matches
/// the same day however the answer writes it ("June 12th", "Fri 12 Jun 2026").
fn day_of_year(spelling: &str) -> Option<(u32, u32)> {
    match crate::dates::days_of_year_in(spelling)[..] {
        [one] if spelling.split_whitespace().count() == 2 => Some(one),
        _ => None,
    }
}

fn share(expected: &[String], found: impl Fn(&String) -> bool) -> f64 {
    if expected.is_empty() {
        1.0
    } else {
        expected.iter().filter(|s| found(s)).count() as f64 / expected.len() as f64
    }
}

pub fn score(q: &Question, a: &Answer) -> Score {
    let missing: Vec<String> = q
        .expected_facts
        .iter()
        .filter(|alts| !states(&a.answer, alts))
        .filter_map(|alts| alts.first().cloned())
        .collect();
    let correct = match q.kind {
        Kind::Unanswerable => !a.answered,
        _ => a.answered && missing.is_empty(),
    };
    let retrieved = a.retrieved_sources();
    let citation_precision = (!a.citations.is_empty() && !q.expected_facts.is_empty()).then(|| {
        let holding = a
            .citations
            .iter()
            .filter(|c| q.expected_facts.iter().any(|alts| states(&c.text, alts)))
            .count();
        holding as f64 / a.citations.len() as f64
    });
    Score {
        id: q.id.clone(),
        kind: q.kind,
        correct,
        missing,
        source_recall: share(&q.expected_sources, |s| {
            a.citations.iter().any(|c| &c.source == s)
        }),
        retrieval_recall: share(&q.expected_sources, |s| retrieved.contains(&s.as_str())),
        citation_precision,
        route: a.route.kind,
        latency_ms: a.ledger.wall_ms,
        tokens_in: a.ledger.tokens_in,
        tokens_out: a.ledger.tokens_out,
        cost_usd: a.ledger.total_cost_usd,
    }
}

/// Figures over a group of scores (a kind, a route, or all of them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub name: String,
    pub correct: usize,
    pub total: usize,
    pub accuracy: f64,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub tokens: u64,
    pub cost_usd: f64,
}

fn group(name: String, scores: &[&Score]) -> Group {
    let correct = scores.iter().filter(|s| s.correct).count();
    let mut lat: Vec<u64> = scores.iter().map(|s| s.latency_ms).collect();
    lat.sort_unstable();
    Group {
        name,
        correct,
        total: scores.len(),
        accuracy: ratio(correct, scores.len()),
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
        tokens: scores.iter().map(|s| s.tokens_in + s.tokens_out).sum(),
        cost_usd: scores.iter().map(|s| s.cost_usd).sum(),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub questions: usize,
    pub correct: usize,
    /// Correct over all questions, errors counted as wrong.
    pub accuracy: f64,
    pub by_kind: Vec<Group>,
    pub by_route: Vec<Group>,
    /// Mean share of expected pages cited.
    pub source_recall: f64,
    /// Mean share of expected pages retrieved by search.
    pub retrieval_recall: f64,
    /// Mean share of citations holding an expected fact (questions with citations only).
    pub citation_precision: f64,
    /// Unanswerable questions answered "the wiki does not say".
    pub refusals: usize,
    pub unanswerable: usize,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
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
            group(k.label().to_string(), &of)
        })
        .collect();
    let by_route = [RouteKind::Direct, RouteKind::Plan]
        .into_iter()
        .filter_map(|r| {
            let of: Vec<&Score> = scores.iter().filter(|s| s.route == r).collect();
            (!of.is_empty()).then(|| group(format!("{r:?}").to_lowercase(), &of))
        })
        .collect();
    let all: Vec<&Score> = scores.iter().collect();
    let overall = group(String::new(), &all);
    let unanswerable: Vec<&Score> = all
        .iter()
        .copied()
        .filter(|s| s.kind == Kind::Unanswerable)
        .collect();
    Summary {
        questions: n,
        correct,
        accuracy: ratio(correct, n),
        by_kind,
        by_route,
        source_recall: mean(scores.iter().map(|s| s.source_recall)),
        retrieval_recall: mean(scores.iter().map(|s| s.retrieval_recall)),
        citation_precision: mean(scores.iter().filter_map(|s| s.citation_precision)),
        refusals: unanswerable.iter().filter(|s| s.correct).count(),
        unanswerable: unanswerable.len(),
        latency_p50_ms: overall.latency_p50_ms,
        latency_p95_ms: overall.latency_p95_ms,
        tokens_in: scores.iter().map(|s| s.tokens_in).sum(),
        tokens_out: scores.iter().map(|s| s.tokens_out).sum(),
        cost_usd: overall.cost_usd,
        errors,
    }
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::MultiStep => "multi-step",
            Kind::Unanswerable => "unanswerable",
        }
    }
}

/// What `eval --out` writes as report.json and `/api/eval` serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The question file, as given.
    pub file: String,
    /// Seconds since the Unix epoch when the report was written.
    pub written_at: u64,
    /// False while the run is still going (the report is rewritten after every question).
    pub complete: bool,
    pub summary: Summary,
    pub scores: Vec<serde_json::Value>,
}

pub const REPORT_FILE: &str = "report.json";
pub const CHART_FILE: &str = "chart.svg";

/// Writes report.json and chart.svg into `dir` (created), each through a temporary file and a
/// rename, so a reader (or a crash) never sees half a report.
pub fn write_report(dir: &Path, report: &Report) -> Result<(), EvalError> {
    let io = |error| EvalError::Read {
        path: dir.display().to_string(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| EvalError::Parse {
        path: dir.join(REPORT_FILE).display().to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    for (name, bytes) in [
        (REPORT_FILE, json),
        (CHART_FILE, chart_svg(&report.summary).into_bytes()),
    ] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, dir.join(name)).map_err(io)?;
    }
    Ok(())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Two bar charts side by side: accuracy per kind (and overall), and latency p50/p95 per kind.
pub fn chart_svg(s: &Summary) -> String {
    const W: f64 = 760.0;
    const H: f64 = 300.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 250.0;
    let plot = BOTTOM - TOP;
    let mut groups: Vec<(String, f64, u64, u64)> = s
        .by_kind
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.accuracy,
                g.latency_p50_ms,
                g.latency_p95_ms,
            )
        })
        .collect();
    groups.push(("all".into(), s.accuracy, s.latency_p50_ms, s.latency_p95_ms));
    let max_ms = groups.iter().map(|g| g.3).max().unwrap_or(0).max(1) as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" \
         height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>\n\
         <text x=\"20\" y=\"22\" font-size=\"14\" font-weight=\"bold\">Accuracy per kind \
         ({}/{} correct)</text>\n\
         <text x=\"400\" y=\"22\" font-size=\"14\" font-weight=\"bold\">Latency per kind \
         (p50 / p95, s)</text>\n",
        s.correct, s.questions
    );
    let slot = 340.0 / groups.len() as f64;
    for (i, (name, acc, p50, p95)) in groups.iter().enumerate() {
        let x = 30.0 + i as f64 * slot;
        let h = plot * acc.clamp(0.0, 1.0);
        out += &format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#3b7dd8\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}%</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            BOTTOM - h,
            slot * 0.6,
            x + slot * 0.3,
            BOTTOM - h - 4.0,
            acc * 100.0,
            x + slot * 0.3,
            BOTTOM + 16.0,
            xml_escape(name),
        );
        let lx = 400.0 + i as f64 * slot;
        for (j, (ms, color)) in [(*p50, "#7fb069"), (*p95, "#e4a33a")].iter().enumerate() {
            let h = plot * (*ms as f64 / max_ms);
            let bx = lx + j as f64 * slot * 0.3;
            out += &format!(
                "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{color}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{:.1}</text>\n",
                BOTTOM - h,
                slot * 0.28,
                bx + slot * 0.14,
                BOTTOM - h - 3.0,
                *ms as f64 / 1000.0,
            );
        }
        out += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            lx + slot * 0.3,
            BOTTOM + 16.0,
            xml_escape(name),
        );
    }
    out += &format!(
        "<line x1=\"20\" y1=\"{BOTTOM}\" x2=\"370\" y2=\"{BOTTOM}\" stroke=\"#333\"/>\n\
         <line x1=\"390\" y1=\"{BOTTOM}\" x2=\"740\" y2=\"{BOTTOM}\" stroke=\"#333\"/>\n\
         <rect x=\"400\" y=\"275\" width=\"10\" height=\"10\" fill=\"#7fb069\"/>\
         <text x=\"414\" y=\"284\">p50</text>\
         <rect x=\"450\" y=\"275\" width=\"10\" height=\"10\" fill=\"#e4a33a\"/>\
         <text x=\"464\" y=\"284\">p95</text>\n</svg>\n"
    );
    out
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

    #[test]
    fn facts_match_by_spelling_or_by_number_within_tolerance() {
        let alts = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(states("It costs 1199 dollars.", &alts(&["$1,199"])));
        assert!(states("Battery: 19 hours", &alts(&["19 h"])));
        assert!(states("about 12.0% more", &alts(&["12%"])));
        assert!(!states("It costs $1,349.", &alts(&["$1,199"])));
        assert!(!states("shipping to Lisbon", &alts(&["Bergen"])));
        // A name with a number is not a number: "Model 5" is not any 5.
        assert!(!states("5 colours", &alts(&["Model 5"])));
        assert!(states("Shipping to LISBON", &alts(&["Bergen", "lisbon"])));
        // A spelling with words is not loosened into a bare number.
        assert!(!states("14", &alts(&["14 business days from the request"])));
    }

    #[test]
    fn citation_markers_and_names_are_not_figures() {
        let alts = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A marker cannot stand for an expected figure, with or without a unit.
        assert!(!states("It has 8 GB of memory [4].", &alts(&["4 GB"])));
        assert!(!states("The answer is in the handbook [4].", &alts(&["4"])));
        // Nor can the number of a name, nor a number in another kind of unit.
        assert!(!states("The Model 4 has 8 GB.", &alts(&["4 GB", "4"])));
        assert!(!states("It takes 4 hours.", &alts(&["4 GB"])));
        assert!(states("The Model 4 has 4 GB [2].", &alts(&["4 GB"])));
        assert!(states("It has 4,000 MB.", &alts(&["4 GB"])));
        // Words and codes match on word boundaries only.
        assert!(!states("since 2014", &alts(&["14"])));
        assert!(!states("use UDPX", &alts(&["UDP"])));
        assert!(states("open 51820/UDP", &alts(&["UDP"])));
        assert!(states("a 10.1-inch screen", &alts(&["10.1\""])));
        // A plural states the word; a longer word does not.
        assert!(states(
            "Reviews are on Thursdays at 14:00.",
            &alts(&["Thursday"])
        ));
        assert!(!states("Reviews are on Thursdaysx.", &alts(&["Thursday"])));
        // A day of the year matches however it is written; another day does not.
        assert!(states("Founders Day is June 12th [3].", &alts(&["12 Jun"])));
        assert!(states("It is on Fri 12 Jun 2026.", &alts(&["June 12"])));
        assert!(!states("It is on June 13th.", &alts(&["12 Jun"])));
        assert!(!states("It costs 12 dollars in June.", &alts(&["12 Jun"])));
        // A difference hidden behind a marker is missing: "[5]" is not "5 hours".
        assert!(!states("14 h vs 19 h [5].", &alts(&["5 hours", "5h"])));
    }

    #[test]
    fn summary_groups_by_kind_and_route_and_the_chart_names_them() {
        let sc = |id: &str, kind, route, correct, ms| Score {
            id: id.into(),
            kind,
            correct,
            missing: vec![],
            source_recall: 1.0,
            retrieval_recall: 0.5,
            citation_precision: Some(1.0),
            route,
            latency_ms: ms,
            tokens_in: 10,
            tokens_out: 5,
            cost_usd: 0.001,
        };
        let scores = vec![
            sc("a", Kind::Single, RouteKind::Direct, true, 1000),
            sc("b", Kind::MultiStep, RouteKind::Plan, false, 9000),
            sc("c", Kind::Unanswerable, RouteKind::Direct, true, 2000),
        ];
        let s = summarize(&scores, 1);
        assert_eq!((s.questions, s.correct, s.errors), (4, 2, 1));
        assert_eq!(s.by_kind.len(), 3);
        assert_eq!(
            s.by_route
                .iter()
                .map(|g| (g.name.as_str(), g.total))
                .collect::<Vec<_>>(),
            vec![("direct", 2), ("plan", 1)]
        );
        assert_eq!((s.refusals, s.unanswerable), (1, 1));
        assert_eq!(s.tokens_in + s.tokens_out, 45);
        assert!((s.retrieval_recall - 0.5).abs() < 1e-9);
        let svg = chart_svg(&s);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for name in ["single", "multi-step", "unanswerable", "all", "2/4 correct"] {
            assert!(svg.contains(name), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let report = Report {
            file: "q.jsonl".into(),
            written_at: 1,
            complete: true,
            summary: s.clone(),
            scores: vec![],
        };
        write_report(dir.path(), &report).unwrap();
        let back: Report =
            serde_json::from_slice(&std::fs::read(dir.path().join(REPORT_FILE)).unwrap()).unwrap();
        assert_eq!(back.summary, s);
        assert!(dir.path().join(CHART_FILE).is_file());
    }
}
