//! Runs a validated plan as a DAG: a step starts once every step it depends on has finished,
//! independent steps run together (bounded by `agent.max_parallel`), and each runs as its
//! tool's `call(args, &ctx)` under the tool's manifest timeout; later steps read earlier
//! results by reference ("s3.price"). A failed step does not stop the others: the steps that
//! need its output are skipped, and what finished is kept for the re-plan and the answer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use super::plan::{Action, ValidPlan, ValidStep};
use crate::tools::calculate::Calculate;
use crate::tools::compare::Compare;
use crate::tools::extract::Extract;
use crate::tools::search::Search;
use crate::tools::step::{Runtime, StepOutput};
use crate::tools::{Ctx, Tool, ToolError};

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    pub tool: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<StepOutput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not run because an earlier step failed.
    Skipped,
}

/// The outcome of running a plan: a report per step (steps that needed a failed one are
/// skipped), and the first failure if any.
pub struct Run {
    pub reports: Vec<StepReport>,
    pub outputs: BTreeMap<String, StepOutput>,
    pub failure: Option<(String, String)>,
}

pub async fn run(plan: &ValidPlan, rt: &Runtime<'_>) -> Run {
    let mut outputs: BTreeMap<String, StepOutput> = BTreeMap::new();
    let mut reports: BTreeMap<String, StepReport> = BTreeMap::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut failure: Option<(String, String)> = None;
    let mut running = FuturesUnordered::new();
    loop {
        // A failed step does not stop the run: steps that do not need its output still run
        // (their evidence and facts reach the answer), and those that do are skipped.
        for step in &plan.steps {
            if running.len() >= rt.max_parallel.max(1) {
                break;
            }
            let ready = !started.contains(&step.id)
                && step.depends_on.iter().all(|d| outputs.contains_key(d));
            if ready {
                started.insert(step.id.clone());
                rt.observer.step_started(&step.id, step.tool());
                let inputs = outputs.clone();
                running.push(async move {
                    let t0 = Instant::now();
                    let result = run_step(step, &inputs, rt).await;
                    (step, result, t0.elapsed())
                });
            }
        }
        let Some((step, result, took)) = running.next().await else {
            break;
        };
        let mut report = StepReport {
            id: step.id.clone(),
            tool: step.tool().into(),
            status: StepStatus::Ok,
            output: None,
            error: None,
            latency_ms: took.as_millis() as u64,
        };
        match result {
            Ok(output) => {
                if step.tool() != "extract" {
                    rt.ledger.tool_step(&step.id, step.tool(), took);
                }
                report.output = Some(output.clone());
                outputs.insert(step.id.clone(), output);
            }
            Err(e) => {
                report.status = StepStatus::Failed;
                report.error = Some(e.to_string());
                failure.get_or_insert((step.id.clone(), e.to_string()));
            }
        }
        rt.observer.step_finished(&report);
        reports.insert(step.id.clone(), report);
    }
    let reports = plan
        .steps
        .iter()
        .map(|s| {
            reports.remove(&s.id).unwrap_or(StepReport {
                id: s.id.clone(),
                tool: s.tool().into(),
                status: StepStatus::Skipped,
                output: None,
                error: None,
                latency_ms: 0,
            })
        })
        .collect();
    Run {
        reports,
        outputs,
        failure,
    }
}

async fn run_step(
    step: &ValidStep,
    inputs: &BTreeMap<String, StepOutput>,
    rt: &Runtime<'_>,
) -> Result<StepOutput, ToolError> {
    let ctx = Ctx {
        step: &step.id,
        inputs,
        rt,
    };
    match &step.action {
        Action::Search(args) => call(&Search, args, &ctx).await,
        Action::Extract(args) => call(&Extract, args, &ctx).await,
        Action::Compare(args) => call(&Compare, args, &ctx).await,
        Action::Calculate(args) => call(&Calculate, args, &ctx).await,
    }
}

/// One tool call under its manifest's timeout.
async fn call<T: Tool>(
    tool: &T,
    args: &T::Args,
    ctx: &Ctx<'_, '_>,
) -> Result<StepOutput, ToolError> {
    let limit = ctx.rt.tools.timeout(T::KIND);
    match tokio::time::timeout(limit, tool.call(args, ctx)).await {
        Ok(r) => r,
        Err(_) => Err(ToolError::Timeout {
            tool: T::KIND.name(),
            secs: limit.as_secs(),
        }),
    }
}
