//! Shared helpers: run the binary, build an in-process app, make wiki trees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use tokio::sync::Mutex;

use skiff::app::App;
use skiff::config::Config;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn knowledge() -> PathBuf {
    repo().join("knowledge")
}

/// The day the sample wiki and its questions were written (agent.today in every test). Its
/// pages say "this year's model" and "last year's model" as of 2026, so a question about
/// them means that year, whatever day the tests run on.
pub const AS_OF: &str = "2026-11-30";

/// `skiff --config <repo>/config.toml --data-dir DATA ARGS...`, answering as of [`AS_OF`].
pub fn skiff(data: &Path, args: &[&str]) -> Output {
    skiff_cmd(data, args).output().expect("run skiff")
}

/// The `skiff` binary, answering as of [`AS_OF`].
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff"));
    cmd.env("SKIFF__AGENT__TODAY", AS_OF);
    cmd
}

pub fn skiff_cmd(data: &Path, args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("--config")
        .arg(repo().join("config.toml"))
        .arg("--data-dir")
        .arg(data)
        .args(args);
    cmd
}

pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "skiff failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The shipped config with env overrides (e.g. SKIFF__MODELS__DIR) and this data dir.
pub fn config(data: &Path) -> Config {
    let mut c = Config::load(&repo().join("config.toml"), true, std::env::vars())
        .expect("shipped config loads")
        .config;
    c.store.data_dir = data.to_path_buf();
    c.agent.today = AS_OF.into();
    c
}

pub async fn app(data: &Path) -> App {
    App::build(config(data))
        .await
        .expect("app builds (models fetched?)")
}

pub fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// The `summary` line values of `skiff ingest --json`.
pub fn ingest_json(data: &Path, root: &Path) -> serde_json::Value {
    let out = skiff(data, &["ingest", root.to_str().unwrap(), "--json"]);
    serde_json::from_str(&ok(&out)).expect("ingest --json prints JSON")
}

/// knowledge/ ingested once per test binary, through the real CLI. The embedded store admits
/// one opener at a time, so tests using it hold this lock.
pub fn knowledge_store() -> &'static Mutex<tempfile::TempDir> {
    static STORE: OnceLock<Mutex<tempfile::TempDir>> = OnceLock::new();
    STORE.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        let out = skiff(data.path(), &["ingest", knowledge().to_str().unwrap()]);
        let stdout = ok(&out);
        assert!(stdout.contains("34 added"), "{stdout}");
        Mutex::new(data)
    })
}
