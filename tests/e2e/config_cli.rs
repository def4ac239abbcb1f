//! Config errors reach the user as one line naming the key and the fix.

use crate::common::*;

fn search_with_config(cfg: &std::path::Path) -> std::process::Output {
    bin()
        .args(["--config", cfg.to_str().unwrap(), "search", "x"])
        .output()
        .unwrap()
}

#[test]
fn unknown_key_in_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[store]\nbakend = \"edge\"\n").unwrap();
    let out = search_with_config(&cfg);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bakend") && err.contains("bad.toml"), "{err}");
}

#[test]
fn bad_env_override_is_named() {
    let data = tempfile::tempdir().unwrap();
    let out = skiff_cmd(data.path(), &["search", "x"])
        .env("SKIFF__INGEST__CHUNK_TOKENS", "5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("ingest.chunk_tokens = 5"), "{err}");
    assert!(err.contains("SKIFF__INGEST__CHUNK_TOKENS"), "{err}");
}

#[test]
fn missing_model_names_the_key_and_the_fix() {
    let data = tempfile::tempdir().unwrap();
    let out = skiff_cmd(data.path(), &["search", "x"])
        .env("SKIFF__MODELS__DIR", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("embed.model"), "{err}");
    assert!(err.contains("fetch-models.sh"), "{err}");
}

#[test]
fn ingest_of_a_missing_folder_names_it() {
    let data = tempfile::tempdir().unwrap();
    let out = skiff(data.path(), &["ingest", "/no/such/wiki"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/no/such/wiki"), "{}", stderr(&out));
}

#[test]
fn missing_config_file_is_named_once_and_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("absent.toml");
    let out = search_with_config(&cfg);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("absent.toml"), "{err}");
    // The cause is shown once, not again as the error's source.
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    // Without --config, a missing config.toml in the working folder means the defaults.
    let out = bin()
        .current_dir(dir.path())
        .args(["--data-dir", dir.path().to_str().unwrap(), "store", "info"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("config file"), "{err}");
    assert!(
        err.contains("ingest"),
        "an empty store says how to fill it: {err}"
    );
}
