//! The chat-model port with the real local model (mistral.rs, Qwen2.5-Coder-1.5B GGUF from
//! disk): streaming with usage, model sharing between roles, and typed extraction from the
//! sample wiki's spec pages, including a passage that does not hold the fields.

use std::sync::Arc;

use futures::StreamExt;
use skiff::config::ModelRole;
use skiff::providers::llm::{ChatDelta, ChatMessage, ChatRequest};
use skiff::providers::store::Access;
use skiff::tools::extract::{ExtractArgs, Extractor, FieldKind, FieldSpec, Passage};

use crate::common::*;

fn fields() -> Vec<FieldSpec> {
    vec![
        FieldSpec {
            name: "battery_hours".into(),
            kind: FieldKind::Number,
            unit: Some("hours".into()),
            description: "rated battery life of the tablet".into(),
        },
        FieldSpec {
            name: "price".into(),
            kind: FieldKind::Number,
            unit: Some("USD".into()),
            description: "list price (MSRP) of the tablet".into(),
        },
    ]
}

/// Top passages of one page for a query, as (source, passage) with ids P1, P2, ...
async fn passages_from(app: &skiff::app::App, query: &str, page: &str, n: usize) -> Vec<Passage> {
    let hits = skiff::search::search(
        app.embedder.as_ref(),
        app.store.as_ref(),
        query,
        20,
        40,
        Access::Groups(vec![]),
    )
    .await
    .unwrap();
    let passages: Vec<Passage> = hits
        .into_iter()
        .filter(|h| h.source == page)
        .take(n)
        .enumerate()
        .map(|(i, h)| Passage {
            id: format!("P{}", i + 1),
            text: format!("{} ({})\n{}", h.heading, h.source, h.text),
        })
        .collect();
    assert!(!passages.is_empty(), "no passages of {page} for {query:?}");
    passages
}

#[tokio::test(flavor = "multi_thread")]
async fn local_extractor_reads_battery_and_price_and_returns_null_when_absent() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("skiff=debug")
        .with_test_writer()
        .try_init();
    let data = knowledge_store().lock().await;
    let app = app(data.path()).await;
    let cases = [
        (
            "products/tern-3.md",
            "Tern 3 spec table battery life price",
            14.0,
            1299.0,
        ),
        (
            "products/tern-4.md",
            "Tern 4 spec table battery life price",
            19.0,
            1149.0,
        ),
    ];
    let mut inputs = Vec::new();
    for (page, query, hours, price) in cases {
        inputs.push((passages_from(&app, query, page, 2).await, hours, price));
    }
    let vpn = passages_from(&app, "WireGuard VPN port", "howto/vpn-wireguard.md", 1).await;

    let extractor = app.model(ModelRole::Extractor).await.unwrap();
    // Roles mapped to the same model share one loaded copy.
    let planner = app.model(ModelRole::Planner).await.unwrap();
    assert!(Arc::ptr_eq(&extractor, &planner));
    let tool = Extractor::new(extractor);

    for (passages, hours, price) in inputs {
        let ids: Vec<String> = passages.iter().map(|p| p.id.clone()).collect();
        let args = ExtractArgs {
            passages,
            fields: fields(),
            about: None,
        };
        for p in &args.passages {
            println!("passage {}: {}", p.id, p.text);
        }
        let (x, calls) = tool.extract(&args).await.unwrap();
        println!("{x:?}\n{calls:?}");
        let b = x.values["battery_hours"].as_ref().expect("battery found");
        let p = x.values["price"].as_ref().expect("price found");
        assert_eq!(b.value.as_f64(), Some(hours), "{x:?}");
        assert_eq!(p.value.as_f64(), Some(price), "{x:?}");
        assert_eq!(b.unit.as_deref(), Some("hours"));
        assert_eq!(p.unit.as_deref(), Some("USD"));
        assert!(ids.contains(&b.passage) && ids.contains(&p.passage));
        assert!(calls.iter().all(|c| c.usage.prompt_tokens > 0 && c.local));
    }

    let (x, _) = tool
        .extract(&ExtractArgs {
            passages: vpn,
            fields: fields(),
            about: None,
        })
        .await
        .unwrap();
    assert_eq!(x.values["battery_hours"], None, "{x:?}");
    assert_eq!(x.values["price"], None, "{x:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn local_model_streams_with_usage_and_timing() {
    let config = config(tempfile::tempdir().unwrap().path());
    let spec = config.model_for(ModelRole::Synthesizer).unwrap();
    let model = skiff::providers::llm::connect(&spec).await.unwrap();
    assert!(model.is_local());
    let request = ChatRequest::new(
        vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Name the capital of France in one word."),
        ],
        8,
    );
    let mut stream = model.chat_stream(request).await.unwrap();
    let mut text = String::new();
    let mut done = None;
    while let Some(d) = stream.next().await {
        match d.unwrap() {
            ChatDelta::Text(t) => text.push_str(&t),
            ChatDelta::Done { usage, timing, .. } => done = Some((usage, timing)),
        }
    }
    let (usage, timing) = done.expect("a final Done with usage");
    assert!(text.to_lowercase().contains("paris"), "{text:?}");
    assert!(
        usage.prompt_tokens > 10 && usage.completion_tokens >= 1,
        "{usage:?}"
    );
    assert!(timing.decode_tokens_per_second.is_some());
}
