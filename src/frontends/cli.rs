//! Terminal rendering for the CLI: progress bar (or plain lines off a terminal), ingest
//! summaries and search hits.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::{IngestBench, LlmBench};
use crate::ingest::indexer::{IngestReport, Progress};
use crate::ingest::sync::Plan;
use crate::search::Hit;

/// A bar with ETA on a terminal; a line every few seconds otherwise (CI logs, pipes).
pub struct TerminalProgress {
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
                eprintln!("embedding {total} chunks");
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

fn snippet(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let cut: String = flat.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

pub fn print_ingest_bench(b: &IngestBench) {
    println!(
        "ingest benchmark ({} embeddings, {} store)",
        b.embed_model, b.store
    );
    println!("  files            {}", b.files);
    println!("  chunks           {}", b.chunks);
    println!("  ingest           {:.1} s", b.ingest_seconds);
    println!("  ingest rate      {:.1} chunks/s", b.chunks_per_second);
    println!("  search queries   {}", b.queries);
    println!("  search p50       {:.2} ms", b.search_p50_ms);
    println!("  search p99       {:.2} ms", b.search_p99_ms);
}

pub fn print_llm_bench(b: &LlmBench) {
    let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}"));
    let ratio = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.2}x"));
    println!(
        "chat model benchmark: {} ({}), {} threads, {} runs, {}-token prompt",
        b.model, b.file, b.threads, b.runs, b.prompt_tokens
    );
    println!("  {:<22} {:>12} {:>12}", "", "prompt tok/s", "decode tok/s");
    println!(
        "  {:<22} {:>12.1} {:>12.1}",
        "skiff (mistral.rs)", b.local_prompt_tps, b.local_decode_tps
    );
    println!(
        "  {:<22} {:>12} {:>12}",
        "llama.cpp (xllamacpp)",
        opt(b.peer_prompt_tps),
        opt(b.peer_decode_tps)
    );
    println!(
        "  {:<22} {:>12} {:>12}",
        "ratio skiff/llama.cpp",
        ratio(b.prompt_ratio),
        ratio(b.decode_ratio)
    );
    if let Some(note) = &b.peer_note {
        println!("  peer not measured: {note}");
    }
}
