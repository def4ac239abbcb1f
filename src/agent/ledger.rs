//! The ledger: one entry per model call and per tool step (role, model, latency, tokens and an
//! estimated cost), with totals per role. Remote models are priced per token from the config;
//! local models by the CPU time they keep busy, next to what the same tokens would cost at a
//! reference API price, so local-vs-API savings are visible.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::tools::ModelCall;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Step id, or "route", "plan", "synthesize".
    pub step: String,
    /// Model role ("planner", "extractor", "synthesizer") or "tool" for steps without a model.
    pub role: String,
    /// Model name, or the tool name for deterministic steps.
    pub model: String,
    pub local: bool,
    pub latency_ms: u64,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub cost_usd: f64,
    /// What a hosted API at the reference price would have charged for these tokens.
    pub api_equivalent_usd: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RoleTotals {
    pub calls: u32,
    pub latency_ms: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerReport {
    pub entries: Vec<Entry>,
    pub by_role: BTreeMap<String, RoleTotals>,
    pub total_cost_usd: f64,
    pub api_equivalent_usd: f64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Wall-clock time of the whole answer (steps overlap, so it is less than the sum).
    pub wall_ms: u64,
}

/// Prices, resolved once from the config.
#[derive(Debug, Clone)]
pub struct Prices {
    cpu_core_second_usd: f64,
    cores: f64,
    reference_in: f64,
    reference_out: f64,
    /// Remote model name -> (input, output) USD per million tokens.
    remote: BTreeMap<String, (f64, f64)>,
}

impl Prices {
    pub fn from_config(config: &Config) -> Self {
        let cores = match config.costs.local_cores {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        Self {
            cpu_core_second_usd: config.costs.cpu_core_hour_usd / 3600.0,
            cores: cores as f64,
            reference_in: config.costs.reference_input_usd_per_mtok,
            reference_out: config.costs.reference_output_usd_per_mtok,
            remote: config
                .models
                .remote
                .iter()
                .map(|(k, m)| (k.clone(), (m.input_usd_per_mtok, m.output_usd_per_mtok)))
                .collect(),
        }
    }

    fn cost(&self, model: &str, local: bool, latency: Duration, tin: u32, tout: u32) -> f64 {
        if local {
            latency.as_secs_f64() * self.cores * self.cpu_core_second_usd
        } else {
            let (i, o) = self.remote.get(model).copied().unwrap_or((0.0, 0.0));
            (f64::from(tin) * i + f64::from(tout) * o) / 1e6
        }
    }

    fn reference(&self, tin: u32, tout: u32) -> f64 {
        (f64::from(tin) * self.reference_in + f64::from(tout) * self.reference_out) / 1e6
    }
}

/// Shared by concurrent steps; entries are appended as calls finish.
pub struct Ledger {
    prices: Prices,
    entries: Mutex<Vec<Entry>>,
}

impl Ledger {
    pub fn new(prices: Prices) -> Self {
        Self {
            prices,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Records a model call. `model` is the configured name (prices are keyed by it).
    pub fn model_call(&self, step: &str, call: &ModelCall, configured: &str) {
        let latency = call.timing.total;
        let (tin, tout) = (call.usage.prompt_tokens, call.usage.completion_tokens);
        self.push(Entry {
            step: step.to_string(),
            role: call.role.clone(),
            model: call.model.clone(),
            local: call.local,
            latency_ms: latency.as_millis() as u64,
            tokens_in: tin,
            tokens_out: tout,
            cost_usd: self.prices.cost(configured, call.local, latency, tin, tout),
            api_equivalent_usd: self.prices.reference(tin, tout),
        });
    }

    /// Records a step that ran no model (search, compare, calculate).
    pub fn tool_step(&self, step: &str, tool: &str, latency: Duration) {
        self.push(Entry {
            step: step.to_string(),
            role: "tool".into(),
            model: tool.to_string(),
            local: true,
            latency_ms: latency.as_millis() as u64,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            api_equivalent_usd: 0.0,
        });
    }

    fn push(&self, entry: Entry) {
        if let Ok(mut e) = self.entries.lock() {
            e.push(entry);
        }
    }

    pub fn report(&self, wall: Duration) -> LedgerReport {
        let entries = self.entries.lock().map(|e| e.clone()).unwrap_or_default();
        let mut r = LedgerReport {
            wall_ms: wall.as_millis() as u64,
            ..LedgerReport::default()
        };
        for e in &entries {
            let t = r.by_role.entry(e.role.clone()).or_default();
            t.calls += 1;
            t.latency_ms += e.latency_ms;
            t.tokens_in += u64::from(e.tokens_in);
            t.tokens_out += u64::from(e.tokens_out);
            t.cost_usd += e.cost_usd;
            r.total_cost_usd += e.cost_usd;
            r.api_equivalent_usd += e.api_equivalent_usd;
            r.tokens_in += u64::from(e.tokens_in);
            r.tokens_out += u64::from(e.tokens_out);
        }
        r.entries = entries;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RemoteModelConfig;
    use crate::providers::llm::{Timing, Usage};

    fn call(role: &str, local: bool, secs: u64, tin: u32, tout: u32) -> ModelCall {
        ModelCall {
            role: role.into(),
            model: "m".into(),
            local,
            usage: Usage {
                prompt_tokens: tin,
                completion_tokens: tout,
            },
            timing: Timing {
                total: Duration::from_secs(secs),
                ..Timing::default()
            },
        }
    }

    #[test]
    fn local_is_priced_by_cpu_time_and_remote_by_tokens() {
        let mut config = Config::default();
        config.costs.cpu_core_hour_usd = 3.6;
        config.costs.local_cores = 2;
        config.costs.reference_input_usd_per_mtok = 1.0;
        config.costs.reference_output_usd_per_mtok = 2.0;
        config.models.remote.insert(
            "api".into(),
            RemoteModelConfig {
                input_usd_per_mtok: 10.0,
                output_usd_per_mtok: 20.0,
                ..RemoteModelConfig::default()
            },
        );
        let ledger = Ledger::new(Prices::from_config(&config));
        ledger.model_call("plan", &call("planner", true, 10, 1_000_000, 0), "qwen");
        ledger.model_call("s3", &call("extractor", false, 1, 0, 1_000_000), "api");
        ledger.tool_step("s1", "search", Duration::from_millis(12));
        let r = ledger.report(Duration::from_secs(11));
        // 10 s x 2 cores x $0.001/core-second
        assert!((r.entries[0].cost_usd - 0.02).abs() < 1e-9);
        assert!((r.entries[0].api_equivalent_usd - 1.0).abs() < 1e-9);
        assert!((r.entries[1].cost_usd - 20.0).abs() < 1e-9);
        assert_eq!(r.by_role["tool"].calls, 1);
        assert_eq!(r.by_role["planner"].latency_ms, 10_000);
        assert!((r.total_cost_usd - 20.02).abs() < 1e-9);
        assert_eq!(r.tokens_in, 1_000_000);
    }
}
