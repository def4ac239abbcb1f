//! One conformance suite for the `VectorStore` trait. It always runs against the embedded
//! qdrant-edge store; it runs against a Qdrant server too when SKIFF_TEST_QDRANT_URL is set
//! (e.g. `http://localhost:6334`, API key from SKIFF_TEST_QDRANT_API_KEY), in a fresh collection
//! that it deletes afterwards. Also: `store migrate` (edge -> edge in-process always, edge ->
//! server through the CLI with a server) and the CLI's error when the server is unreachable.

use std::collections::BTreeMap;
use std::sync::Arc;

use skiff::config::QdrantConfig;
use skiff::providers::store::edge::EdgeStore;
use skiff::providers::store::qdrant::QdrantStore;
use skiff::providers::store::{
    Access, ChunkPayload, ChunkPoint, PUBLIC, SearchQuery, VectorStore, migrate, point_id,
};

use crate::common::*;

const DIM: usize = 8;
const ROOT: &str = "/wiki";

/// A unit vector peaking at `axis` and falling off with the distance from it, so that every
/// pair of corpus vectors has a distinct similarity (no ties for the ranking to break).
fn unit(axis: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM)
        .map(|j| 1.0 / (1.0 + (j as f32 - axis as f32).powi(2)))
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn point(
    source: &str,
    index: u32,
    count: u32,
    text: &str,
    acl: &[&str],
    axis: usize,
) -> ChunkPoint {
    let payload = ChunkPayload {
        root: ROOT.into(),
        source: source.into(),
        title: source.trim_end_matches(".md").into(),
        heading: format!("{source} > part {index}"),
        text: text.into(),
        chunk_index: index,
        chunk_count: count,
        content_hash: format!("hash-{source}"),
        modified: 1_700_000_000,
        acl: if acl.is_empty() {
            vec![PUBLIC.to_string()]
        } else {
            acl.iter().map(|s| s.to_string()).collect()
        },
        tags: vec!["t".into()],
    };
    ChunkPoint {
        id: point_id(ROOT, source, index),
        vector: unit(axis),
        keyword_text: payload.keyword_text(),
        payload,
    }
}

fn corpus() -> Vec<ChunkPoint> {
    vec![
        point(
            "products/tern-3.md",
            0,
            2,
            "The Tern 3 battery lasts 14 hours.",
            &[],
            0,
        ),
        point(
            "products/tern-3.md",
            1,
            2,
            "The Tern 3 costs $1,299 at launch.",
            &[],
            1,
        ),
        point(
            "guide.md",
            0,
            1,
            "Expense reports are due on the fifth.",
            &[],
            2,
        ),
        point(
            "hr/salaries.md",
            0,
            1,
            "Salary bands for engineers: L3 to L7.",
            &["hr"],
            3,
        ),
        point(
            "exec/board.md",
            0,
            1,
            "Board minutes: salary budget approved.",
            &["exec", "hr"],
            4,
        ),
    ]
}

fn query(vector: Vec<f32>, text: &str, k: usize, access: Access) -> SearchQuery {
    SearchQuery {
        vector,
        text: text.into(),
        k,
        prefetch: 20,
        access,
    }
}

async fn sources_of(store: &dyn VectorStore, q: SearchQuery) -> Vec<String> {
    store
        .search(q)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.payload.source)
        .collect()
}

/// (score, source) best first; equal scores (RRF ties) in source order.
async fn ranked(store: &dyn VectorStore, q: SearchQuery) -> Vec<(String, String)> {
    let mut hits: Vec<(f32, String)> = store
        .search(q)
        .await
        .unwrap()
        .into_iter()
        .map(|h| {
            (
                h.score,
                format!("{}#{}", h.payload.source, h.payload.chunk_index),
            )
        })
        .collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    hits.into_iter()
        .map(|(s, id)| (format!("{s:.4}"), id))
        .collect()
}

/// Everything the rest of skiff relies on from a store.
async fn conformance(store: &dyn VectorStore) {
    let name = store.name().to_string();
    assert_eq!(store.count().await.unwrap(), 0, "{name}: starts empty");
    assert!(store.sources(ROOT).await.unwrap().is_empty());

    store.upsert(corpus()).await.unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        5,
        "{name}: count after upsert"
    );

    // The sync manifest: per source, every chunk with its hash and count.
    let sources = store.sources(ROOT).await.unwrap();
    assert_eq!(sources.len(), 4, "{name}: {sources:?}");
    for (source, state) in &sources {
        assert!(
            state.is_complete(&format!("hash-{source}")),
            "{name}: {source} complete"
        );
    }
    assert_eq!(sources["products/tern-3.md"].points.len(), 2);
    assert!(
        store.sources("/other").await.unwrap().is_empty(),
        "{name}: scoped by root"
    );

    // Dense retrieval: the query vector of a chunk finds that chunk first.
    let hits = store
        .search(query(unit(1), "zzzz", 3, Access::All))
        .await
        .unwrap();
    assert_eq!(
        hits[0].id,
        point_id(ROOT, "products/tern-3.md", 1),
        "{name}: dense"
    );
    assert!(hits.len() <= 3, "{name}: k respected");
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "{name}: ranked"
    );
    assert_eq!(
        hits[0].payload,
        corpus()[1].payload,
        "{name}: payload round trip"
    );

    // Keyword retrieval: an exact term far from the query vector still ranks first.
    let top = sources_of(store, query(unit(5), "expense reports", 2, Access::All)).await;
    assert_eq!(
        top.first().map(String::as_str),
        Some("guide.md"),
        "{name}: keyword {top:?}"
    );

    // Access: filtered inside the store, before k is applied.
    let salary = |access| query(unit(3), "salary bands", 5, access);
    let public = sources_of(store, salary(Access::Groups(vec![]))).await;
    assert!(
        !public
            .iter()
            .any(|s| s.starts_with("hr/") || s.starts_with("exec/")),
        "{name}: restricted pages leaked to the public: {public:?}"
    );
    assert!(!public.is_empty(), "{name}: public pages still found");
    let hr = sources_of(store, salary(Access::Groups(vec!["hr".into()]))).await;
    assert_eq!(
        hr.first().map(String::as_str),
        Some("hr/salaries.md"),
        "{name}: {hr:?}"
    );
    assert!(
        hr.contains(&"exec/board.md".to_string()),
        "{name}: any listed group admits"
    );
    let exec = sources_of(store, salary(Access::Groups(vec!["exec".into()]))).await;
    assert!(
        !exec.contains(&"hr/salaries.md".to_string()),
        "{name}: {exec:?}"
    );
    let all = sources_of(store, salary(Access::All)).await;
    assert!(
        all.contains(&"hr/salaries.md".to_string()),
        "{name}: operators see all"
    );

    // Overwrite by id: no duplicates, new text served.
    let mut changed = corpus()[2].clone();
    changed.payload.text = "Expense reports are due on the tenth.".into();
    changed.keyword_text = changed.payload.keyword_text();
    store.upsert(vec![changed]).await.unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        5,
        "{name}: overwrite, not duplicate"
    );
    let hits = store
        .search(query(unit(2), "expense reports", 1, Access::All))
        .await
        .unwrap();
    assert!(
        hits[0].payload.text.contains("tenth"),
        "{name}: overwritten text"
    );

    // Export: every point once, with its vector, across pages.
    let mut exported = BTreeMap::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.export(cursor, 2).await.unwrap();
        assert!(page.points.len() <= 2, "{name}: page size");
        pages += 1;
        for p in page.points {
            assert_eq!(p.vector.len(), DIM, "{name}: exported vector");
            assert_eq!(p.keyword_text, p.payload.keyword_text());
            assert!(exported.insert(p.id, p).is_none(), "{name}: exported twice");
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
        assert!(pages < 10, "{name}: export does not end");
    }
    assert_eq!(exported.len(), 5, "{name}: export covers the store");
    for p in corpus() {
        let got = &exported[&p.id];
        let close = got
            .vector
            .iter()
            .zip(&p.vector)
            .all(|(a, b)| (a - b).abs() < 1e-4);
        assert!(
            close,
            "{name}: vector of {} kept: {:?}",
            p.payload.source, got.vector
        );
    }

    // Delete by id.
    let gone = vec![point_id(ROOT, "guide.md", 0)];
    store.delete(gone).await.unwrap();
    store.delete(Vec::new()).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 4, "{name}: delete");
    assert!(!store.sources(ROOT).await.unwrap().contains_key("guide.md"));
    store.optimize().await.unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        4,
        "{name}: optimize keeps points"
    );
}

/// A Qdrant server to test against, when the environment names one.
fn server() -> Option<QdrantConfig> {
    match std::env::var("SKIFF_TEST_QDRANT_URL") {
        Ok(url) if !url.is_empty() => Some(QdrantConfig {
            url,
            api_key_env: "SKIFF_TEST_QDRANT_API_KEY".into(),
            ..QdrantConfig::default()
        }),
        _ => {
            eprintln!(
                "SKIPPED: the Qdrant server half of this test (set SKIFF_TEST_QDRANT_URL, e.g. \
                 http://localhost:6334, to run it; see README \"Qdrant server\")"
            );
            None
        }
    }
}

fn unique_collection(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("skiff-test-{tag}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_embedded_edge() {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(&dir.path().join("s"), Some(DIM)).unwrap();
    conformance(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_qdrant_server() {
    let Some(config) = server() else { return };
    let collection = unique_collection("conf");
    let store = QdrantStore::open(&config, &collection, Some(DIM))
        .await
        .unwrap();
    conformance(&store).await;
    // Reopening checks the stored dimension.
    let err = QdrantStore::open(&config, &collection, Some(DIM + 1))
        .await
        .err()
        .expect("a different dimension is refused");
    assert!(err.to_string().contains(&format!("{DIM}-d")), "{err}");
    drop_collection(&config, &collection).await;
}

async fn drop_collection(config: &QdrantConfig, collection: &str) {
    let client = qdrant_client::Qdrant::from_url(&config.url)
        .api_key(std::env::var(&config.api_key_env).ok())
        .build()
        .unwrap();
    client.delete_collection(collection).await.unwrap();
}

/// `migrate` copies points, vectors and sync state; search on the copy ranks the same.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_keeps_points_vectors_and_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let from = EdgeStore::open(&dir.path().join("a"), Some(DIM)).unwrap();
    from.upsert(corpus()).await.unwrap();
    let to: Arc<dyn VectorStore> =
        Arc::new(EdgeStore::open(&dir.path().join("b"), Some(DIM)).unwrap());
    let mut seen = Vec::new();
    let report = migrate(&from, to.as_ref(), 2, |n| seen.push(n))
        .await
        .unwrap();
    assert_eq!(
        (report.points, report.pages, report.target_count),
        (5, 3, 5)
    );
    assert_eq!(seen, vec![2, 4, 5], "progress after each page");
    assert_eq!(
        from.sources(ROOT).await.unwrap(),
        to.sources(ROOT).await.unwrap()
    );
    for (v, text) in [
        (unit(1), "battery"),
        (unit(3), "salary bands"),
        (unit(6), "expense"),
    ] {
        for access in [Access::All, Access::Groups(vec![])] {
            let q = query(v.clone(), text, 5, access);
            assert_eq!(
                ranked(&from, q.clone()).await,
                ranked(to.as_ref(), q).await,
                "same ranking for {text:?}"
            );
        }
    }
    // Again: overwrites, no duplicates.
    let again = migrate(&from, to.as_ref(), 100, |_| {}).await.unwrap();
    assert_eq!((again.points, again.target_count), (5, 5));
}

/// The CLI path: an unreachable server is one clear error naming the URL, not a hang or a panic.
#[test]
fn migrate_to_an_unreachable_server_names_it() {
    let data = tempfile::tempdir().unwrap();
    let wiki = tempfile::tempdir().unwrap();
    write(
        wiki.path(),
        "a.md",
        "# A\n\nThe Tern 3 battery lasts 14 hours.\n",
    );
    ok(&skiff(
        data.path(),
        &["ingest", wiki.path().to_str().unwrap()],
    ));
    let info = ok(&skiff(data.path(), &["store", "info", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["backend"], "edge");
    assert_eq!(info["chunks"], 1);

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = skiff_cmd(data.path(), &["store", "migrate", "--to", "qdrant"])
        .env("SKIFF__STORE__QDRANT__URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = skiff_cmd(data.path(), &["search", "battery"])
        .env("SKIFF__STORE__BACKEND", "qdrant")
        .env("SKIFF__STORE__QDRANT__URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
}

/// With a server: ingest into the embedded store, `store migrate --to qdrant`, then the same
/// search through `backend = "qdrant"`, and a re-ingest against the server that finds nothing
/// to do (the sync state came along).
#[test]
fn cli_migrate_then_search_and_ingest_on_the_server() {
    let Some(config) = server() else { return };
    let data = knowledge_store().blocking_lock();
    let collection = unique_collection("cli");
    let on_server = |args: &[&str], backend: &str| {
        let mut cmd = skiff_cmd(data.path(), args);
        cmd.env("SKIFF__STORE__BACKEND", backend)
            .env("SKIFF__STORE__QDRANT__URL", &config.url)
            .env("SKIFF__STORE__QDRANT__COLLECTION", &collection);
        serde_json::from_str::<serde_json::Value>(&ok(&cmd.output().unwrap())).unwrap()
    };
    let report = on_server(&["store", "migrate", "--to", "qdrant", "--json"], "edge");
    assert!(report["points"].as_u64().unwrap() > 30, "{report}");
    assert_eq!(report["points"], report["target_count"], "{report}");
    let sources = |v: serde_json::Value| -> Vec<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["source"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    for q in [
        "Tern 4 battery life",
        "expense policy",
        "who approves travel",
    ] {
        let args = ["search", q, "--json"];
        assert_eq!(
            sources(on_server(&args, "edge")),
            sources(on_server(&args, "qdrant")),
            "same hits for {q:?}"
        );
    }
    let report = on_server(
        &["ingest", knowledge().to_str().unwrap(), "--json"],
        "qdrant",
    );
    assert_eq!(
        (report["added"].clone(), report["changed"].clone()),
        (0.into(), 0.into()),
        "{report}"
    );
    let info = on_server(&["store", "info", "--json"], "qdrant");
    assert_eq!(info["backend"], "qdrant");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(drop_collection(&config, &collection));
}
