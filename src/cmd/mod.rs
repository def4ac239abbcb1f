//! One file per `skiff` command: each has its flags (`Args`) and
//! `run(args, config, shutdown) -> Result<ExitCode>`. What several commands share lives here:
//! who the CLI reads as, the default bench questions, JSON output and the loop that answers a
//! question set (eval, redteam).

pub mod ask;
pub mod bench;
pub mod eval;
pub mod ingest;
pub mod redteam;
pub mod search;
pub mod serve;
pub mod slack;
pub mod store;
pub mod telegram;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use skiff::agent::{self, Answer, AskRequest};
use skiff::app::App;
use skiff::config::Config;
use skiff::providers::store::Access;

/// Prints `value` as indented JSON on stdout.
fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `value` as JSON when asked to, else for people with `print`.
fn show<T: Serialize>(json: bool, value: &T, print: impl FnOnce(&T)) -> Result<()> {
    if json {
        print_json(value)
    } else {
        print(value);
        Ok(())
    }
}

/// Which pages a CLI command may read (`search`, `ask`).
#[derive(clap::Args)]
struct AccessArgs {
    /// Also read pages restricted to this acl group (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Read every page whatever its acl (operators only).
    #[arg(long, conflicts_with = "groups")]
    all_groups: bool,
    /// Read as this identity would ([access.identities]: telegram:<id>, slack:<id>,
    /// web:<name>): for checking what a user can see.
    #[arg(long = "as", conflicts_with_all = ["groups", "all_groups"])]
    identity: Option<String>,
}

impl AccessArgs {
    /// Everything (`--all-groups`), an identity's groups (`--as`), or the public pages plus
    /// `--group`s.
    fn access(self, config: &Config) -> Access {
        if self.all_groups {
            return Access::All;
        }
        match self.identity {
            Some(id) => {
                if !config.access.identities.contains_key(&id) {
                    eprintln!("note: {id} has no entry in [access.identities]: public pages only");
                }
                Access::Groups(config.access.groups_for(&id, &[]))
            }
            None => Access::Groups(self.groups),
        }
    }
}

/// A question set to run (`eval`, `redteam`).
#[derive(clap::Args)]
struct SetArgs {
    /// The set: a JSONL file, one object per line.
    file: PathBuf,
    /// Only these ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    ids: Vec<String>,
    /// Print every result and the summary as JSON.
    #[arg(long)]
    json: bool,
}

impl SetArgs {
    /// `cases` cut down to `--ids` when given.
    fn select<C: Case>(&self, mut cases: Vec<C>) -> Vec<C> {
        if !self.ids.is_empty() {
            cases.retain(|c| self.ids.iter().any(|id| id == c.id()));
        }
        cases
    }
}

/// Questions for a bench run without `--question`: the first `n` of `kind` in the question file
/// of the wiki in the current folder.
fn default_questions(kind: skiff::eval::Kind, n: usize) -> Result<Vec<String>> {
    let path = Path::new("knowledge/questions.jsonl");
    let hint = "pass the questions to time with --question";
    let questions: Vec<String> = skiff::eval::load(path)
        .with_context(|| {
            format!("no --question given and no question file to take one from; {hint}")
        })?
        .into_iter()
        .filter(|q| q.kind == kind)
        .take(n)
        .map(|q| q.question)
        .collect();
    if questions.is_empty() {
        anyhow::bail!(
            "no --question given and {} has no {kind:?} question; {hint}",
            path.display()
        );
    }
    Ok(questions)
}

/// One question of a set (an eval question, a redteam attack): its id and how it is asked.
trait Case {
    /// What judging an answer gives (a score, an outcome).
    type Verdict;
    fn id(&self) -> &str;
    fn request(&self, app: &App) -> AskRequest;
    /// The verdict, its one-word label for the progress line, and detail lines under it.
    fn judge(&self, answer: &Answer) -> Judged<Self::Verdict>;
}

struct Judged<V> {
    verdict: V,
    label: String,
    latency_ms: u64,
    details: Vec<String>,
}

/// The verdicts so far and how many questions ended in an error.
struct SetRun<V> {
    verdicts: Vec<V>,
    errors: usize,
}

/// Asks every case in turn and judges each answer, with one progress line per case on stderr.
/// Stops before the next case once `shutdown` fires. `checkpoint` sees the run after every case
/// (and whether it was the last), so a report on disk is never more than one question behind.
async fn answer_each<C: Case>(
    app: &App,
    cases: &[C],
    shutdown: &CancellationToken,
    mut checkpoint: impl FnMut(&SetRun<C::Verdict>, bool) -> Result<()>,
) -> Result<SetRun<C::Verdict>> {
    let mut run = SetRun {
        verdicts: Vec::new(),
        errors: 0,
    };
    for (i, case) in cases.iter().enumerate() {
        if shutdown.is_cancelled() {
            break;
        }
        let counter = format!("[{}/{}] {}", i + 1, cases.len(), case.id());
        let request = case.request(app);
        match agent::ask(app, request, &agent::Silent, shutdown.clone()).await {
            Ok(answer) => {
                let judged = case.judge(&answer);
                eprintln!(
                    "{counter} {} {:>6} ms  {}",
                    judged.label,
                    judged.latency_ms,
                    answer.answer.replace('\n', " ")
                );
                for line in &judged.details {
                    eprintln!("      {line}");
                }
                run.verdicts.push(judged.verdict);
            }
            Err(e) => {
                eprintln!("{counter} ERROR {e}");
                run.errors += 1;
            }
        }
        checkpoint(&run, i + 1 == cases.len())?;
    }
    Ok(run)
}
