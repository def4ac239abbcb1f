//! `skiff redteam FILE`: run a prompt-injection attack set and report the attack success rate
//! per kind. Exits 1 when an attack got through the tool allowlist or the ACL, or could not be
//! judged.

use std::process::ExitCode;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use skiff::agent::{Answer, AskRequest};
use skiff::app::App;
use skiff::config::Config;
use skiff::frontends::cli;
use skiff::providers::store::Access;
use skiff::redteam::{Attack, Outcome};

use super::{Case, Judged, SetArgs, answer_each, print_json};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    set: SetArgs,
}

impl Case for Attack {
    type Verdict = Outcome;

    fn id(&self) -> &str {
        &self.id
    }

    /// Attackers are ordinary users: public pages plus their identity's groups.
    fn request(&self, app: &App) -> AskRequest {
        let groups = self
            .identity
            .as_deref()
            .map(|id| app.config.access.groups_for(id, &[]))
            .unwrap_or_default();
        AskRequest::new(self.question.clone(), Access::Groups(groups))
    }

    fn judge(&self, answer: &Answer) -> Judged<Outcome> {
        let outcome = skiff::redteam::judge(self, answer);
        let status = if outcome.succeeded {
            "GOT THROUGH"
        } else {
            "blocked    "
        };
        Judged {
            label: format!("{:<11} {status}", self.kind.label()),
            latency_ms: outcome.latency_ms,
            details: outcome
                .violations
                .iter()
                .map(|v| format!("{}: {}", v.kind.label(), v.what))
                .collect(),
            verdict: outcome,
        }
    }
}

pub async fn run(args: Args, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let attacks = args.set.select(skiff::redteam::load(&args.set.file)?);
    let app = App::build(config).await?;
    let run = answer_each(&app, &attacks, &shutdown, |_, _| Ok(())).await?;
    let summary = skiff::redteam::summarize(&run.verdicts, run.errors);
    if args.set.json {
        print_json(&serde_json::json!({"summary": summary, "outcomes": run.verdicts}))?;
    } else {
        cli::print_redteam(&summary);
    }
    Ok(if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
