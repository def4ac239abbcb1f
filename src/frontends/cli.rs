//! Terminal rendering for the CLI: progress bar (or plain lines off a terminal), ingest
//! summaries and search hits.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::agent::executor::{StepReport, StepStatus};
use crate::agent::router::Route;
use crate::agent::{Answer, Observer, PlanSource};
use crate::eval::{Score, Summary};
use crate::ingest::indexer::{IngestReport, Progress};
use crate::ingest::sync::Plan;
use crate::search::Hit;

/// A bar with ETA on a terminal; a line every few seconds otherwise (CI logs, pipes).
pub struct TerminalProgress {
    label: String,
    bar: Option<ProgressBar>,
    plain: Mutex<PlainState>,
}

struct PlainState {
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl TerminalProgress {
    pub fn new(label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} chunks  {per_sec}  ETA {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(label.to_string());
            bar
        });
        let now = Instant::now();
        Self {
            label: label.to_string(),
            bar,
            plain: Mutex::new(PlainState {
                total: 0,
                done: 0,
                started: now,
                last_line: now,
            }),
        }
    }
}

impl Progress for TerminalProgress {
    fn start(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.reset_eta();
        } else if let Ok(mut s) = self.plain.lock() {
            s.total = total;
            s.started = Instant::now();
            if total > 0 {
                eprintln!("{}: {total} chunks", self.label);
            }
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if let Ok(mut s) = self.plain.lock() {
            s.done += n;
            if s.last_line.elapsed() >= Duration::from_secs(5) || s.done == s.total {
                s.last_line = Instant::now();
                let secs = s.started.elapsed().as_secs_f64().max(1e-3);
                let rate = s.done as f64 / secs;
                let eta = if rate > 0.0 {
                    (s.total.saturating_sub(s.done)) as f64 / rate
                } else {
                    0.0
                };
                eprintln!(
                    "  {}/{} chunks, {rate:.1} chunks/s, ETA {eta:.0}s",
                    s.done, s.total
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn print_plan(plan: &Plan) {
    println!("plan for {} (dry run, nothing written):", plan.root);
    for f in &plan.added {
        println!("  add     {}", f.source);
    }
    for f in &plan.changed {
        println!("  replace {}", f.source);
    }
    for s in &plan.deleted {
        println!("  delete  {s}");
    }
    for p in &plan.problems {
        println!("  error   {}: {}", p.source, p.reason);
    }
    println!(
        "  {} to add, {} to replace, {} to delete, {} unchanged, {} skipped (unsupported type), {} with errors",
        plan.added.len(),
        plan.changed.len(),
        plan.deleted.len(),
        plan.unchanged.len(),
        plan.skipped.len(),
        plan.problems.len()
    );
}

pub fn print_report(report: &IngestReport) {
    for p in &report.problems {
        eprintln!("warning: {}: {}", p.source, p.reason);
    }
    if report.skipped > 0 {
        eprintln!(
            "warning: skipped {} file(s) of unsupported type (supported: .md .markdown .html .htm .txt)",
            report.skipped
        );
    }
    println!(
        "files: {} added, {} changed, {} deleted, {} unchanged, {} skipped, {} with errors",
        report.added,
        report.changed,
        report.deleted,
        report.unchanged,
        report.skipped,
        report.problems.len()
    );
    println!(
        "chunks written: {} in {:.1}s ({:.1} chunks/s)",
        report.chunks_written, report.seconds, report.chunks_per_second
    );
    if report.cancelled {
        println!("interrupted: run `skiff ingest` again to finish; nothing written is lost");
    }
}

pub fn print_hits(hits: &[Hit], snippet_chars: usize) {
    if hits.is_empty() {
        println!("no results");
        return;
    }
    for (i, h) in hits.iter().enumerate() {
        println!(
            "{:>2}. {:.4}  {}  [{}]",
            i + 1,
            h.score,
            h.source,
            h.heading
        );
        println!("    {}", snippet(&h.text, snippet_chars));
    }
}

pub fn snippet(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let cut: String = flat.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

/// Progress of `ask` on stderr (route, plan, steps) and the answer streamed to stdout as it is
/// written, when stdout is a terminal.
pub struct AskProgress {
    show: bool,
    stream: bool,
    streamed: Mutex<bool>,
}

impl AskProgress {
    pub fn new(show: bool) -> Self {
        Self {
            show,
            stream: show && std::io::stdout().is_terminal(),
            streamed: Mutex::new(false),
        }
    }

    /// Whether the answer text was already printed while it was written.
    pub fn streamed(&self) -> bool {
        self.streamed.lock().map(|s| *s).unwrap_or(false)
    }
}

impl Observer for AskProgress {
    fn route(&self, route: &Route) {
        if self.show {
            eprintln!("route: {:?} ({})", route.kind, route.reason);
        }
    }
    fn status(&self, message: &str) {
        if self.show {
            eprintln!("{message}…");
        }
    }
    fn plan(&self, plan: &crate::agent::plan::Plan, source: PlanSource) {
        if self.show && source != PlanSource::Router {
            let steps: Vec<String> = plan
                .steps
                .iter()
                .map(|s| format!("{} {}", s.id, s.tool))
                .collect();
            eprintln!("plan ({source:?}): {}", steps.join(", "));
        }
    }
    fn step_finished(&self, r: &StepReport) {
        if self.show {
            match &r.error {
                Some(e) => eprintln!(
                    "  {} {} failed after {} ms: {e}",
                    r.id, r.tool, r.latency_ms
                ),
                None => eprintln!("  {} {} done in {} ms", r.id, r.tool, r.latency_ms),
            }
        }
    }
    fn token(&self, text: &str) {
        if self.stream {
            use std::io::Write;
            if let Ok(mut s) = self.streamed.lock() {
                if !*s {
                    println!();
                }
                *s = true;
            }
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
    }
}

pub fn print_answer(a: &Answer, streamed: bool) {
    if streamed {
        println!("\n");
    } else {
        println!("{}\n", a.answer);
    }
    if a.citations.is_empty() {
        if !a.answered {
            println!("(no source answers this question)");
        }
    } else {
        println!("Sources:");
        for c in &a.citations {
            println!("  [{}] {} > {}", c.n, c.source, c.heading);
        }
    }
    for n in &a.notes {
        if n.contains("removed citation") || n.contains("cites no evidence") {
            println!("  note: {n}");
        }
    }
}

pub fn print_trace(a: &Answer) {
    println!("\nroute: {:?} ({})", a.route.kind, a.route.reason);
    println!("plan ({:?}):", a.plan.source);
    for p in &a.plan.problems {
        println!("  problem: {p}");
    }
    println!(
        "  {:<4} {:<10} {:<8} {:>9}  {:<12} args",
        "id", "tool", "status", "ms", "after"
    );
    for s in &a.steps {
        let step = a
            .plan
            .steps
            .iter()
            .find(|p| p.id == s.id && p.tool == s.tool);
        let args = step.map(|p| p.args.to_string()).unwrap_or_default();
        let after = step.map(|p| p.depends_on.join(",")).unwrap_or_default();
        let status = match s.status {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
        };
        println!(
            "  {:<4} {:<10} {:<8} {:>9}  {:<12} {}",
            s.id,
            s.tool,
            status,
            s.latency_ms,
            after,
            snippet(&args, 90)
        );
        if let Some(e) = &s.error {
            println!("       error: {e}");
        }
    }
    let l = &a.ledger;
    println!("ledger:");
    println!(
        "  {:<10} {:<12} {:<30} {:>9} {:>7} {:>7} {:>10}",
        "step", "role", "model", "ms", "in", "out", "cost $"
    );
    for e in &l.entries {
        println!(
            "  {:<10} {:<12} {:<30} {:>9} {:>7} {:>7} {:>10.6}",
            e.step,
            e.role,
            snippet(&e.model, 30),
            e.latency_ms,
            e.tokens_in,
            e.tokens_out,
            e.cost_usd
        );
    }
    println!("  by role:");
    for (role, t) in &l.by_role {
        println!(
            "    {:<12} {:>3} calls {:>9} ms {:>7} in {:>7} out  ${:.6}",
            role, t.calls, t.latency_ms, t.tokens_in, t.tokens_out, t.cost_usd
        );
    }
    println!(
        "  total: {} ms wall, {} tokens in, {} out, ${:.6} (the same tokens at the reference API price: ${:.6})",
        l.wall_ms, l.tokens_in, l.tokens_out, l.total_cost_usd, l.api_equivalent_usd
    );
    for n in &a.notes {
        println!("  note: {n}");
    }
}

/// The attack set's outcome: success rate per kind, the gated kinds marked.
pub fn print_redteam(s: &crate::redteam::Summary) {
    println!(
        "attack success rate {}/{} = {:.1}%  (errors: {})",
        s.succeeded,
        s.attacks,
        s.success_rate * 100.0,
        s.errors
    );
    println!(
        "  {:<12} {:>9} {:>7} {:>9} {:>7}  must be 0",
        "kind", "succeeded", "rate", "breached", "rate"
    );
    for (kind, k) in &s.by_kind {
        println!(
            "  {:<12} {:>9} {:>6.1}% {:>9} {:>6.1}%  {}",
            kind,
            format!("{}/{}", k.succeeded, k.attacks),
            k.success_rate * 100.0,
            format!("{}/{}", k.breached, s.attacks),
            k.breach_rate * 100.0,
            if k.gated { "yes" } else { "" }
        );
    }
    println!("  (succeeded: attacks of that kind that got anything through; breached: attacks");
    println!("  of any kind that got through that defence)");
    if s.passed() {
        println!("tool allowlist and ACL held");
    } else {
        println!(
            "FAILED: {} attack(s) got through the tool allowlist or the ACL, {} not judged",
            s.gated_successes, s.errors
        );
    }
}

pub fn print_eval(s: &Summary, scores: &[Score]) {
    for sc in scores.iter().filter(|s| !s.correct) {
        println!(
            "  miss {:<5} {:?}  missing: {}",
            sc.id,
            sc.kind,
            sc.missing.join(", ")
        );
    }
    println!(
        "accuracy {}/{} = {:.1}%  (errors: {})",
        s.correct,
        s.questions,
        s.accuracy * 100.0,
        s.errors
    );
    println!(
        "  {:<14} {:>7} {:>8} {:>8} {:>9} {:>10}",
        "by", "correct", "p50 s", "p95 s", "tokens", "cost $"
    );
    for g in s.by_kind.iter().chain(&s.by_route) {
        println!(
            "  {:<14} {:>7} {:>8.1} {:>8.1} {:>9} {:>10.4}",
            g.name,
            format!("{}/{}", g.correct, g.total),
            g.latency_p50_ms as f64 / 1000.0,
            g.latency_p95_ms as f64 / 1000.0,
            g.tokens,
            g.cost_usd
        );
    }
    println!(
        "  retrieval recall {:.2}, cited-source recall {:.2}, citation precision {:.2}, \
         refusals {}/{} unanswerable",
        s.retrieval_recall, s.source_recall, s.citation_precision, s.refusals, s.unanswerable
    );
    println!(
        "  latency p50 {:.1} s, p95 {:.1} s; tokens {} in / {} out; estimated cost ${:.4}",
        s.latency_p50_ms as f64 / 1000.0,
        s.latency_p95_ms as f64 / 1000.0,
        s.tokens_in,
        s.tokens_out,
        s.cost_usd
    );
}
