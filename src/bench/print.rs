//! The benchmarks' figures for people (`--json` prints the same structs as JSON).

use super::all::AllBench;
use super::{AskBench, CacheBench, IngestBench, LlmBench, ServeBench};
use crate::frontends::cli::snippet;

pub fn ingest(b: &IngestBench) {
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

pub fn llm(b: &LlmBench) {
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
    println!(
        "  RSS with the model loaded: skiff {} MiB, llama.cpp server {}",
        b.local_rss_mib,
        b.peer_rss_mib
            .map_or_else(|| "n/a".to_string(), |m| format!("{m} MiB"))
    );
    if let Some(note) = &b.peer_note {
        println!("  peer not measured: {note}");
    }
}

pub fn cache(b: &CacheBench) {
    let tokens = b.calls.first().map_or(0, |c| c.prompt_tokens);
    println!(
        "prefix cache benchmark: {}, prefix_cache = {}, {} planner prompts of ~{} tokens ({} shared)",
        b.model,
        b.prefix_cache,
        b.calls.len(),
        tokens,
        b.shared_prompt_tokens
    );
    println!(
        "  first call {:.1} s (nothing cached), later calls p50 {:.1} s",
        b.first_ms as f64 / 1000.0,
        b.later_p50_ms as f64 / 1000.0
    );
    println!(
        "  resident memory {} MiB after load, {} MiB after the calls; {:+.1} MiB per call over the second half",
        b.rss_start_mib, b.rss_end_mib, b.growth_mib_per_call
    );
    println!(
        "  {:>4} {:>7} {:>9} {:>8}",
        "call", "tokens", "ms", "RSS MiB"
    );
    for (i, c) in b.calls.iter().enumerate() {
        println!(
            "  {:>4} {:>7} {:>9} {:>8}",
            i + 1,
            c.prompt_tokens,
            c.ms,
            c.rss_mib
        );
    }
}

pub fn serve(b: &ServeBench) {
    println!(
        "serve benchmark: {} rounds of {} concurrent /api/ask (server.max_in_flight {})",
        b.rounds, b.concurrency, b.max_in_flight
    );
    println!(
        "  requests           {} ({} answered, {} refused busy/rate-limited, {} failed)",
        b.requests, b.answered, b.refused, b.failed
    );
    println!(
        "  answered latency   p50 {:.1} s, p95 {:.1} s, p99 {:.1} s",
        b.answered_p50_ms as f64 / 1000.0,
        b.answered_p95_ms as f64 / 1000.0,
        b.answered_p99_ms as f64 / 1000.0
    );
    println!(
        "  throughput         {:.2} answers/min",
        b.requests_per_minute
    );
    let rss: Vec<String> = b.rss_mib.iter().map(u64::to_string).collect();
    println!(
        "  RSS by round       {} MiB (peak {} MiB)",
        rss.join(" -> "),
        b.peak_rss_mib
    );
}

pub fn ask(b: &AskBench) {
    println!(
        "ask benchmark: {:?} ({} runs, route {})",
        b.question, b.runs, b.route
    );
    println!("  end-to-end p50     {:.1} s", b.p50_ms as f64 / 1000.0);
    let runs: Vec<String> = b
        .wall_ms
        .iter()
        .map(|m| format!("{:.1}", *m as f64 / 1000.0))
        .collect();
    println!("  runs               {} s", runs.join(", "));
    println!("  time per role (mean per run; steps overlap):");
    for (role, ms) in &b.role_ms {
        println!("    {:<12} {:>8.1} s", role, ms / 1000.0);
    }
    println!(
        "  tokens             {:.0} in, {:.0} out",
        b.tokens_in, b.tokens_out
    );
    println!(
        "  estimated cost     ${:.5} (same tokens at the reference API price: ${:.5})",
        b.cost_usd, b.api_equivalent_usd
    );
    println!("  answer             {}", snippet(&b.last_answer, 300));
}

pub fn all(b: &AllBench) {
    let rows: Vec<[String; 4]> = b
        .rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                r.skiff.clone(),
                r.peer.clone(),
                r.advantage.map_or("–".into(), |x| format!("{x:.2}x")),
            ]
        })
        .collect();
    let header = [
        "figure".to_string(),
        "skiff".into(),
        "peer".into(),
        "skiff advantage".into(),
    ];
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    println!(
        "(advantage > 1: skiff is faster or smaller; throughput skiff/peer, latency and memory \
         peer/skiff)"
    );
    for note in &b.notes {
        println!("note: {note}");
    }
}
