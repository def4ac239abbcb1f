//! `skiff eval FILE`: answer every question of a JSONL set and score the answers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use skiff::agent::{Answer, AskRequest};
use skiff::app::App;
use skiff::config::{Config, RouteMode};
use skiff::eval::{Question, Score};
use skiff::frontends::cli;
use skiff::providers::store::Access;

use super::{Case, Judged, SetArgs, SetRun, answer_each, print_json};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    set: SetArgs,
    /// auto (default: agent.route), plan or direct.
    #[arg(long, value_enum)]
    route: Option<RouteMode>,
    /// Write report.json and chart.svg here (rewritten after every question). `serve`
    /// shows the report in <data-dir>/eval at /eval.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// An eval question, asked with every page readable and the run's route.
struct Asked {
    question: Question,
    route: Option<RouteMode>,
}

impl Case for Asked {
    type Verdict = Score;

    fn id(&self) -> &str {
        &self.question.id
    }

    fn request(&self, _app: &App) -> AskRequest {
        let mut request = AskRequest::new(self.question.question.clone(), Access::All);
        request.route = self.route;
        request
    }

    fn judge(&self, answer: &Answer) -> Judged<Score> {
        let score = skiff::eval::score(&self.question, answer);
        Judged {
            label: if score.correct { "ok  " } else { "MISS" }.to_string(),
            latency_ms: score.latency_ms,
            details: details(&score, answer),
            verdict: score,
        }
    }
}

/// Lines under a question's progress line: the facts a wrong answer lacks, what the plan's
/// checks changed or refused (renamed things, figures the question gives, dropped formulas,
/// failed steps) and the answer's notes (dropped values, refusals), so a run's log says why an
/// answer is what it is without re-asking with `--trace`.
fn details(score: &Score, answer: &Answer) -> Vec<String> {
    let mut lines = Vec::new();
    if !score.correct && !score.missing.is_empty() {
        lines.push(format!("missing: {}", score.missing.join(", ")));
    }
    lines.extend(answer.plan.problems.iter().map(|p| format!("plan: {p}")));
    lines.extend(answer.notes.iter().map(|n| format!("note: {n}")));
    lines.iter().map(|l| l.replace('\n', " ")).collect()
}

pub async fn run(args: Args, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let questions = skiff::eval::load(&args.set.file)?;
    let cases = args.set.select(
        questions
            .into_iter()
            .map(|question| Asked {
                question,
                route: args.route,
            })
            .collect(),
    );
    let app = App::build(config).await?;
    let run = answer_each(&app, &cases, &shutdown, |run, last| match &args.out {
        Some(dir) => write_report(dir, &args.set.file, run, last),
        None => Ok(()),
    })
    .await?;
    let summary = skiff::eval::summarize(&run.verdicts, run.errors);
    if args.set.json {
        print_json(&serde_json::json!({"summary": summary, "scores": run.verdicts}))?;
    } else {
        cli::print_eval(&summary, &run.verdicts);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the eval report so far (complete after the last question).
fn write_report(dir: &Path, file: &Path, run: &SetRun<Score>, complete: bool) -> Result<()> {
    let report = skiff::eval::Report {
        file: file.display().to_string(),
        written_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        complete,
        summary: skiff::eval::summarize(&run.verdicts, run.errors),
        scores: run
            .verdicts
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
    };
    skiff::eval::write_report(dir, &report)
        .with_context(|| format!("writing the eval report to {}", dir.display()))
}
