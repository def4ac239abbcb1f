//! `skiff ingest`: incremental sync, bad files, and the kill -9 scenario.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use skiff::providers::store::SourceState;

use crate::common::*;

async fn store_state(data: &Path, root: &Path) -> BTreeMap<String, SourceState> {
    let app = app(data).await;
    let root = root.canonicalize().unwrap().display().to_string();
    let mut state = app.store.sources(&root).await.unwrap();
    for s in state.values_mut() {
        s.points.sort();
    }
    state
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_sync_follows_edits_deletes_and_additions() {
    let wiki = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let w = wiki.path();
    write(
        w,
        "a.md",
        "# Alpha\n\nThe alpha service listens on port 7001.\n",
    );
    write(w, "b.md", "# Beta\n\nBeta runs nightly at 02:00 UTC.\n");
    write(w, "docs/c.txt", "Gamma is the staging cluster.");

    let first = ingest_json(data.path(), w);
    assert_eq!(first["added"], 3, "{first}");
    assert_eq!(first["chunks_written"], 3, "{first}");

    // Unchanged tree: nothing written.
    let again = ingest_json(data.path(), w);
    assert_eq!(again["unchanged"], 3, "{again}");
    assert_eq!(again["chunks_written"], 0, "{again}");
    assert_eq!(again["added"], 0);
    assert_eq!(again["changed"], 0);

    // Edit, delete, add; the dry run shows the plan and writes nothing.
    write(
        w,
        "a.md",
        "# Alpha\n\nThe alpha service moved to port 7443.\n",
    );
    std::fs::remove_file(w.join("b.md")).unwrap();
    write(w, "d.md", "# Delta\n\nDelta owns the billing exports.\n");
    let before = store_state(data.path(), w).await;
    let plan = ok(&skiff(
        data.path(),
        &["ingest", w.to_str().unwrap(), "--dry-run"],
    ));
    assert!(plan.contains("add     d.md"), "{plan}");
    assert!(plan.contains("replace a.md"), "{plan}");
    assert!(plan.contains("delete  b.md"), "{plan}");
    assert_eq!(store_state(data.path(), w).await, before, "dry run wrote");

    let third = ingest_json(data.path(), w);
    assert_eq!(
        (
            &third["added"],
            &third["changed"],
            &third["deleted"],
            &third["unchanged"]
        ),
        (&1.into(), &1.into(), &1.into(), &1.into()),
        "{third}"
    );
    let state = store_state(data.path(), w).await;
    let sources: Vec<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(sources, vec!["a.md", "d.md", "docs/c.txt"]);

    let hits = ok(&skiff(
        data.path(),
        &["search", "alpha service port", "-k", "1", "--json"],
    ));
    let hits: serde_json::Value = serde_json::from_str(&hits).unwrap();
    assert_eq!(hits["hits"][0]["source"], "a.md");
    assert!(hits["hits"][0]["text"].as_str().unwrap().contains("7443"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_reported_and_good_ones_ingested() {
    let wiki = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let w = wiki.path();
    write(w, "good.md", "# Good\n\nThe cafeteria opens at 11:30.\n");
    write(
        w,
        "page.html",
        "<html><body><h1>Page</h1><p>HTML works too.</p></body></html>",
    );
    write(w, "empty.md", "");
    write(w, "binary.txt", [0x00u8, 0x9f, 0x92, 0x96, 0x00]);
    write(w, "latin1.md", b"caf\xe9 au lait".as_slice());
    write(w, "broken-front-matter.md", "---\nacl: [hr\n---\nsecret");
    write(w, "huge.txt", "word ".repeat(600_000));
    write(w, "photo.jpg", [0xffu8, 0xd8, 0xff]);
    write(w, "script-only.html", "<script>var x = 1;</script>");

    let out = skiff(data.path(), &["ingest", w.to_str().unwrap()]);
    let stdout = ok(&out);
    let err = stderr(&out);
    for (path, why) in [
        ("empty.md", "empty"),
        ("binary.txt", "binary"),
        ("latin1.md", "UTF-8"),
        ("broken-front-matter.md", "front matter"),
        ("huge.txt", "max_file_bytes"),
        ("script-only.html", "no text"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("{path} not reported:\n{err}"));
        assert!(line.contains(why), "{line}");
    }
    assert!(
        err.contains("skipped 1 file(s) of unsupported type"),
        "{err}"
    );
    assert!(stdout.contains("2 added"), "{stdout}");
    assert!(stdout.contains("6 with errors"), "{stdout}");
    let state = store_state(data.path(), w).await;
    assert_eq!(
        state.keys().collect::<Vec<_>>(),
        vec!["good.md", "page.html"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_ingest_then_rerun_equals_a_clean_run() {
    let wiki = tempfile::tempdir().unwrap();
    let clean = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    // Big enough that ingesting takes several seconds.
    skiff::bench::generate_wiki(wiki.path(), 60).unwrap();
    let root = wiki.path().to_str().unwrap();

    let reference = ingest_json(clean.path(), wiki.path());
    assert_eq!(reference["added"], 60, "{reference}");
    let expected = store_state(clean.path(), wiki.path()).await;

    // Kill at two different moments: early and late in the embedding phase.
    for fraction in [0.2, 0.6] {
        let started = Instant::now();
        let mut child = skiff_cmd(crashed.path(), &["ingest", root])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let budget = reference["seconds"].as_f64().unwrap() * fraction;
        std::thread::sleep(Duration::from_secs_f64(budget.max(0.5)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
        }
        child.wait().unwrap();
        assert!(started.elapsed() > Duration::from_millis(100));
    }
    let after = ingest_json(crashed.path(), wiki.path());
    assert_eq!(after["problems"].as_array().unwrap().len(), 0, "{after}");
    let got = store_state(crashed.path(), wiki.path()).await;
    assert_eq!(got.len(), expected.len());
    assert_eq!(
        got, expected,
        "crashed+rerun store differs from a clean run"
    );
    // And it is stable: one more run writes nothing.
    let idle = ingest_json(crashed.path(), wiki.path());
    assert_eq!(idle["chunks_written"], 0, "{idle}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_process_gets_a_clear_store_in_use_error() {
    let data = tempfile::tempdir().unwrap();
    let mut ingest = skiff_cmd(data.path(), &["ingest", knowledge().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the ingest has created and opened the store, then try to open it again.
    let config = data.path().join("store/wiki/edge_config.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !config.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let out = skiff(data.path(), &["search", "vpn port"]);
    let still_running = ingest.try_wait().unwrap().is_none();
    ingest.wait().unwrap();
    assert!(
        still_running,
        "ingest finished before the check; the test proved nothing"
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("in use by another skiff process"),
        "{}",
        stderr(&out)
    );
}
