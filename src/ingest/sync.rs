//! Incremental sync: scans a wiki folder, compares each file's content hash with what the store
//! holds, and plans which files to add, replace or delete. The store itself is the manifest, so
//! a run killed at any moment leaves a state the next run recognises and repairs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::loader::{Format, source_hash};
use crate::providers::store::SourceState;

/// A file that will be (re)indexed.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    pub source: String,
    pub path: PathBuf,
    pub format: Format,
    pub bytes: Vec<u8>,
    pub hash: String,
    pub modified: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub root: String,
    pub added: Vec<ScannedFile>,
    pub changed: Vec<ScannedFile>,
    /// Sources in the store with no file any more (or a file that can no longer be read).
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
    /// Unsupported file types: counted, not errors.
    pub skipped: Vec<String>,
    /// Files that could not be read or are over the size limit.
    pub problems: Vec<Problem>,
    /// Existing store state per source, for deleting stale chunks of changed files.
    pub existing: BTreeMap<String, SourceState>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {message}")]
    Root { path: PathBuf, message: String },
}

/// Canonical form of an ingest root, used as the sync scope stored with every chunk.
pub fn canonical_root(path: &Path) -> Result<PathBuf, ScanError> {
    let canon = path.canonicalize().map_err(|e| ScanError::Root {
        path: path.to_path_buf(),
        message: format!("cannot open: {e}"),
    })?;
    if !canon.is_dir() {
        return Err(ScanError::Root {
            path: path.to_path_buf(),
            message: "not a directory (ingest takes wiki folders)".into(),
        });
    }
    Ok(canon)
}

fn is_hidden(entry: &walkdir::DirEntry) -> bool {
    entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.')
}

/// Walks `root` and plans the sync against `existing` (the store's view of this root); a file
/// is unchanged when its bytes and the chunking `recipe` are what its chunks were made from.
pub fn plan(
    root: &Path,
    existing: BTreeMap<String, SourceState>,
    max_file_bytes: u64,
    recipe: &str,
) -> Result<Plan, ScanError> {
    let mut plan = Plan {
        root: root.display().to_string(),
        ..Plan::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let source = e
                    .path()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map_or_else(|| "?".into(), source_name);
                plan.problems.push(Problem {
                    source,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let source = source_name(rel);
        let Some(format) = Format::of(entry.path()) else {
            plan.skipped.push(source);
            continue;
        };
        seen.insert(source.clone());
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                plan.problems.push(Problem {
                    source,
                    reason: format!("cannot stat: {e}"),
                });
                continue;
            }
        };
        if meta.len() > max_file_bytes {
            plan.problems.push(Problem {
                source,
                reason: format!(
                    "{} bytes is over ingest.max_file_bytes = {max_file_bytes}",
                    meta.len()
                ),
            });
            continue;
        }
        let bytes = match std::fs::read(entry.path()) {
            Ok(b) => b,
            Err(e) => {
                plan.problems.push(Problem {
                    source,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let hash = source_hash(recipe, &bytes);
        let file = ScannedFile {
            source: source.clone(),
            path: entry.path().to_path_buf(),
            format,
            bytes,
            hash,
            modified,
        };
        match existing.get(&source) {
            None => plan.added.push(file),
            Some(state) if state.is_complete(&file.hash) => plan.unchanged.push(source),
            Some(_) => plan.changed.push(file),
        }
    }
    // Files that vanished, and files now unreadable or oversized: their chunks are stale.
    let problem_sources: std::collections::BTreeSet<&str> =
        plan.problems.iter().map(|p| p.source.as_str()).collect();
    plan.deleted = existing
        .keys()
        .filter(|s| !seen.contains(*s) || problem_sources.contains(s.as_str()))
        .cloned()
        .collect();
    plan.existing = existing;
    Ok(plan)
}

/// Relative path with `/` separators, whatever the platform.
fn source_name(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn state(hash: &str, count: u32) -> SourceState {
        SourceState {
            points: (0..count)
                .map(|i| (Uuid::nil(), i, hash.to_string(), count))
                .collect(),
        }
    }

    const R: &str = "chunker 1, 200 tokens, 24 overlap";

    #[test]
    fn plans_added_changed_unchanged_deleted_skipped_and_problems() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("same.md"), "same").unwrap();
        std::fs::write(root.join("sub/new.md"), "new").unwrap();
        std::fs::write(root.join("edited.html"), "<p>v2</p>").unwrap();
        std::fs::write(root.join("image.png"), [0u8, 1, 2]).unwrap();
        std::fs::write(root.join("huge.txt"), "x".repeat(100)).unwrap();
        std::fs::write(root.join(".git/config"), "hidden").unwrap();
        let mut existing = BTreeMap::new();
        existing.insert("same.md".to_string(), state(&source_hash(R, b"same"), 1));
        existing.insert(
            "edited.html".to_string(),
            state(&source_hash(R, b"<p>v1</p>"), 1),
        );
        existing.insert("gone.md".to_string(), state("h", 2));
        existing.insert("huge.txt".to_string(), state("h", 1));
        let plan = plan(root, existing, 50, R).unwrap();
        let names = |v: &[ScannedFile]| v.iter().map(|f| f.source.clone()).collect::<Vec<_>>();
        assert_eq!(names(&plan.added), vec!["sub/new.md"]);
        assert_eq!(names(&plan.changed), vec!["edited.html"]);
        assert_eq!(plan.unchanged, vec!["same.md"]);
        assert_eq!(plan.deleted, vec!["gone.md", "huge.txt"]);
        assert_eq!(plan.skipped, vec!["image.png"]);
        assert_eq!(plan.problems.len(), 1);
        assert_eq!(plan.problems[0].source, "huge.txt");
        assert!(plan.problems[0].reason.contains("max_file_bytes"));
    }

    #[test]
    fn a_half_written_file_is_changed_not_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "a").unwrap();
        let mut partial = state(&source_hash(R, b"a"), 3);
        partial.points.truncate(2);
        let existing = BTreeMap::from([("a.md".to_string(), partial)]);
        let plan = plan(dir.path(), existing, 1000, R).unwrap();
        assert_eq!(plan.changed.len(), 1);
    }

    #[test]
    fn a_file_chunked_another_way_is_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "a").unwrap();
        let existing = || BTreeMap::from([("a.md".to_string(), state(&source_hash(R, b"a"), 1))]);
        let same = plan(dir.path(), existing(), 1000, R).unwrap();
        assert_eq!(same.unchanged, vec!["a.md"]);
        // Same bytes, another chunker version or chunk size: its chunks are rebuilt.
        let other = plan(
            dir.path(),
            existing(),
            1000,
            "chunker 0, 100 tokens, 0 overlap",
        )
        .unwrap();
        assert_eq!(other.changed.len(), 1);
        assert!(other.unchanged.is_empty());
    }

    #[test]
    fn root_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.md");
        std::fs::write(&f, "x").unwrap();
        assert!(
            canonical_root(&f)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
        assert!(canonical_root(&dir.path().join("missing")).is_err());
    }
}
