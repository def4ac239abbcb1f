//! `skiff ask [QUESTION]`: answer one question, or, without one, an interactive chat that
//! remembers earlier turns (/reset forgets them, /exit or end of input leaves).

use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use skiff::agent::{self, AskRequest, Turn};
use skiff::app::App;
use skiff::config::{Config, RouteMode};
use skiff::frontends::cli;
use skiff::providers::store::Access;

use super::{AccessArgs, print_json};

#[derive(clap::Args)]
pub struct Args {
    question: Option<String>,
    /// Print the answer, citations, plan, steps and ledger as JSON.
    #[arg(long)]
    json: bool,
    /// Also print the plan and the ledger as tables.
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    access: AccessArgs,
    /// auto (default: agent.route), plan or direct.
    #[arg(long, value_enum)]
    route: Option<RouteMode>,
}

/// How every answer of this command is shown.
#[derive(Clone, Copy)]
struct Display {
    json: bool,
    trace: bool,
}

pub async fn run(args: Args, config: Config, shutdown: CancellationToken) -> Result<ExitCode> {
    let access = args.access.access(&config);
    let display = Display {
        json: args.json,
        trace: args.trace,
    };
    let app = App::build(config).await?;
    let Some(question) = args.question else {
        return chat(&app, access, args.route, display, shutdown).await;
    };
    let mut request = AskRequest::new(question, access);
    request.route = args.route;
    let answer = match ask_once(&app, request, display, shutdown.clone()).await {
        Ok(a) => a,
        Err(e) if shutdown.is_cancelled() => {
            eprintln!("{e:#}");
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(e),
    };
    if display.json {
        print_json(&answer)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Answers one question, showing progress on stderr and the answer on stdout (unless JSON).
async fn ask_once(
    app: &App,
    request: AskRequest,
    display: Display,
    shutdown: CancellationToken,
) -> Result<agent::Answer> {
    let observer = cli::AskProgress::new(!display.json);
    let answer = agent::ask(app, request, &observer, shutdown).await?;
    if !display.json {
        cli::print_answer(&answer, observer.streamed());
        if display.trace {
            cli::print_trace(&answer);
        }
    }
    Ok(answer)
}

/// Interactive chat: one question per line, earlier turns remembered; /reset forgets them,
/// /exit (or end of input, or Ctrl-C) leaves.
async fn chat(
    app: &App,
    access: Access,
    route: Option<RouteMode>,
    display: Display,
    shutdown: CancellationToken,
) -> Result<ExitCode> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut history: Vec<Turn> = Vec::new();
    eprintln!("skiff chat: ask about the wiki. /reset forgets the conversation, /exit leaves.");
    loop {
        eprint!("> ");
        let line = tokio::select! {
            l = lines.next_line() => l.context("reading the question from stdin")?,
            _ = shutdown.cancelled() => None,
        };
        let Some(line) = line else { break };
        let q = line.trim();
        match q {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.clear();
                eprintln!("(conversation forgotten)");
                continue;
            }
            _ => {}
        }
        let mut request = AskRequest::new(q, access.clone());
        request.history = history.clone();
        request.route = route;
        match ask_once(app, request, display, shutdown.clone()).await {
            Ok(answer) => {
                if display.json {
                    println!("{}", serde_json::to_string(&answer)?);
                }
                history.push(Turn {
                    question: q.to_string(),
                    answer: answer.answer,
                });
            }
            Err(e) if shutdown.is_cancelled() => {
                eprintln!("({e})");
                break;
            }
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
