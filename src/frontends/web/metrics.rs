//! Prometheus text exposition of what the server did: requests and their latency by route,
//! answers by outcome, tokens / model time / estimated cost by model role, background ingest.
//! Kept by hand (a few maps under one lock) rather than with a metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::agent::Answer;
use crate::ingest::indexer::IngestReport;

/// Upper bounds (seconds) of the request latency histogram: answers take seconds to minutes.
const BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Default)]
struct Inner {
    /// (route, method, status) -> count
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    /// outcome -> count
    answers: BTreeMap<String, u64>,
    /// (role, direction) -> tokens
    tokens: BTreeMap<(String, &'static str), u64>,
    model_seconds: BTreeMap<String, f64>,
    cost_usd: BTreeMap<String, f64>,
    ingest_runs: BTreeMap<&'static str, u64>,
    ingest_files: BTreeMap<&'static str, u64>,
    ingest_chunks: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    in_flight: AtomicI64,
}

/// Decrements the in-flight gauge when the answer ends, however it ends.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.inner.lock() {
            f(&mut inner);
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.with(|m| {
            *m.requests
                .entry((route.to_string(), method.to_string(), status))
                .or_default() += 1;
            m.latency
                .entry(route.to_string())
                .or_default()
                .observe(took.as_secs_f64());
        });
    }

    pub fn ask_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }

    pub fn ask_failed(&self, code: &str) {
        self.with(|m| *m.answers.entry(format!("error_{code}")).or_default() += 1);
    }

    /// An answer's outcome and its ledger, summed per model role.
    pub fn answer(&self, answer: &Answer) {
        self.with(|m| {
            let outcome = if answer.answered {
                "answered"
            } else {
                "not_in_wiki"
            };
            *m.answers.entry(outcome.into()).or_default() += 1;
            for (role, totals) in &answer.ledger.by_role {
                *m.tokens.entry((role.clone(), "in")).or_default() += totals.tokens_in;
                *m.tokens.entry((role.clone(), "out")).or_default() += totals.tokens_out;
                *m.model_seconds.entry(role.clone()).or_default() +=
                    totals.latency_ms as f64 / 1000.0;
                *m.cost_usd.entry(role.clone()).or_default() += totals.cost_usd;
            }
        });
    }

    pub fn ingest(&self, report: &IngestReport) {
        self.with(|m| {
            *m.ingest_runs.entry("ok").or_default() += 1;
            for (change, n) in [
                ("added", report.added),
                ("changed", report.changed),
                ("deleted", report.deleted),
                ("unchanged", report.unchanged),
                ("skipped", report.skipped),
            ] {
                *m.ingest_files.entry(change).or_default() += n as u64;
            }
            m.ingest_chunks += report.chunks_written as u64;
        });
    }

    pub fn ingest_failed(&self) {
        self.with(|m| *m.ingest_runs.entry("failed").or_default() += 1);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else {
            return out;
        };
        let o = &mut out;
        family(
            o,
            "skiff_http_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        );
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                o,
                "skiff_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        family(
            o,
            "skiff_http_request_duration_seconds",
            "histogram",
            "Time to the response head by route.",
        );
        for (route, h) in &m.latency {
            let route = escape(route);
            for (le, n) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    o,
                    "skiff_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "skiff_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 skiff_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 skiff_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        family(
            o,
            "skiff_asks_in_flight",
            "gauge",
            "Answers being worked on now.",
        );
        let _ = writeln!(
            o,
            "skiff_asks_in_flight {}",
            self.in_flight.load(Ordering::SeqCst)
        );
        family(o, "skiff_answers_total", "counter", "Answers by outcome.");
        for (outcome, n) in &m.answers {
            let _ = writeln!(o, "skiff_answers_total{{outcome=\"{outcome}\"}} {n}");
        }
        family(
            o,
            "skiff_model_tokens_total",
            "counter",
            "Model tokens by role and direction.",
        );
        for ((role, dir), n) in &m.tokens {
            let _ = writeln!(
                o,
                "skiff_model_tokens_total{{role=\"{}\",direction=\"{dir}\"}} {n}",
                escape(role)
            );
        }
        family(
            o,
            "skiff_model_seconds_total",
            "counter",
            "Model call time by role.",
        );
        for (role, s) in &m.model_seconds {
            let _ = writeln!(
                o,
                "skiff_model_seconds_total{{role=\"{}\"}} {s}",
                escape(role)
            );
        }
        family(
            o,
            "skiff_model_cost_usd_total",
            "counter",
            "Estimated model cost in USD by role (see [costs]).",
        );
        for (role, usd) in &m.cost_usd {
            let _ = writeln!(
                o,
                "skiff_model_cost_usd_total{{role=\"{}\"}} {usd}",
                escape(role)
            );
        }
        family(
            o,
            "skiff_ingest_runs_total",
            "counter",
            "Background ingest runs by result.",
        );
        for (result, n) in &m.ingest_runs {
            let _ = writeln!(o, "skiff_ingest_runs_total{{result=\"{result}\"}} {n}");
        }
        family(
            o,
            "skiff_ingest_files_total",
            "counter",
            "Files seen by background ingest, by change.",
        );
        for (change, n) in &m.ingest_files {
            let _ = writeln!(o, "skiff_ingest_files_total{{change=\"{change}\"}} {n}");
        }
        family(
            o,
            "skiff_ingest_chunks_total",
            "counter",
            "Chunks written by background ingest.",
        );
        let _ = writeln!(o, "skiff_ingest_chunks_total {}", m.ingest_chunks);
        drop(m);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
