use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::events::*;
use super::*;
use crate::agent::Answer;

fn signed(secret: &str, ts: i64, body: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-slack-request-timestamp", ts.to_string().parse().unwrap());
    h.insert(
        "x-slack-signature",
        signature(secret, &ts.to_string(), body.as_bytes())
            .parse()
            .unwrap(),
    );
    h
}

#[test]
fn signature_matches_slacks_documented_example() {
    // From Slack's "Verifying requests from Slack" guide.
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        signature(
            "8f742231b10e8888abcd99yyyzzz85a5",
            "1531420618",
            body.as_bytes()
        ),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
}

#[test]
fn forged_stale_and_unsigned_requests_are_refused() {
    let now = 1_700_000_000;
    let body = r#"{"type":"url_verification","challenge":"c"}"#;
    assert!(verify("s3cret", &signed("s3cret", now, body), body.as_bytes(), now).is_ok());
    let forged = verify("s3cret", &signed("other", now, body), body.as_bytes(), now);
    assert_eq!(forged.unwrap_err().status, StatusCode::UNAUTHORIZED);
    let tampered = verify("s3cret", &signed("s3cret", now, body), b"{}", now);
    assert!(tampered.is_err());
    let stale = verify(
        "s3cret",
        &signed("s3cret", now - 301, body),
        body.as_bytes(),
        now,
    );
    assert!(stale.unwrap_err().message.contains("5 minutes"));
    assert!(verify("s3cret", &HeaderMap::new(), body.as_bytes(), now).is_err());
}

#[test]
fn questions_are_mentions_and_direct_messages_in_their_thread() {
    let event = |v: Value| serde_json::from_value::<Event>(v).unwrap();
    let (ch, thread, q) = question_of(&event(json!({
        "type": "app_mention", "channel": "C1", "ts": "1.5",
        "text": "<@U0BOT> How much does the Orbit 4 weigh?"
    })))
    .unwrap();
    assert_eq!((ch.as_str(), thread.as_str()), ("C1", "1.5"));
    assert_eq!(q, "How much does the Orbit 4 weigh?");
    let (_, thread, _) = question_of(&event(json!({
        "type": "app_mention", "channel": "C1", "ts": "2.0", "thread_ts": "1.5", "text": "<@U0BOT> and the Orbit 3?"
    })))
    .unwrap();
    assert_eq!(thread, "1.5", "follow-ups stay in the thread");
    assert!(question_of(&event(json!({
        "type": "message", "channel_type": "im", "channel": "D1", "ts": "3.0", "text": "hi there"
    })))
    .is_some());
    for ignored in [
        json!({ "type": "message", "channel_type": "channel", "channel": "C1", "ts": "1", "text": "chatter" }),
        json!({ "type": "message", "channel_type": "im", "channel": "D1", "ts": "1", "text": "x", "bot_id": "B1" }),
        json!({ "type": "message", "channel_type": "im", "channel": "D1", "ts": "1", "text": "x", "subtype": "message_changed" }),
        json!({ "type": "app_mention", "channel": "C1", "ts": "1", "text": "<@U0BOT>" }),
    ] {
        assert!(question_of(&event(ignored.clone())).is_none(), "{ignored}");
    }
}

#[test]
fn replies_escape_text_and_list_sources() {
    let answer = Answer {
        question: "q".into(),
        answer: "Use <b> & stay [1].".into(),
        answered: true,
        citations: vec![crate::agent::synthesize::Citation {
            n: 1,
            source: "howto/vpn.md".into(),
            heading: "Setup".into(),
            title: "VPN".into(),
            text: "passage".into(),
        }],
        route: crate::agent::router::Route {
            kind: crate::agent::router::RouteKind::Direct,
            reason: "test".into(),
        },
        plan: crate::agent::PlanReport {
            source: crate::agent::PlanSource::Router,
            steps: vec![],
            problems: vec![],
        },
        steps: vec![],
        ledger: Default::default(),
        notes: vec![],
    };
    let m = message("C1", "1.5", &answer);
    assert_eq!(m["thread_ts"], "1.5");
    assert_eq!(
        m["blocks"][0]["text"]["text"],
        "Use &lt;b&gt; &amp; stay [1]."
    );
    let sources = m["blocks"][1]["elements"][0]["text"].as_str().unwrap();
    assert_eq!(sources, "*Sources*\n[1] *VPN* — Setup (`howto/vpn.md`)");
    assert!(m["text"].as_str().unwrap().contains("howto/vpn.md"));
}

#[test]
fn mentions_are_stripped() {
    assert_eq!(strip_mentions("<@U1> hi <@U2|bob>  there"), "hi there");
    assert_eq!(strip_mentions("broken <@U1"), "broken <@U1");
}

#[tokio::test]
async fn each_user_reads_their_identitys_groups() {
    use crate::frontends::Never;
    let config = SlackConfig {
        groups: vec!["staff".into()],
        ..SlackConfig::default()
    };
    let mut ids = AccessConfig::default();
    ids.identities.insert("slack:U42".into(), vec!["hr".into()]);
    let s = SlackState::new(
        Arc::new(Never),
        &config,
        "secret".into(),
        "xoxb".into(),
        CancellationToken::new(),
    )
    .unwrap()
    .with_identities(ids);
    let groups = |g: &[&str]| Access::Groups(g.iter().map(|s| s.to_string()).collect());
    assert_eq!(s.access_for(Some("U42")).await, groups(&["staff", "hr"]));
    assert_eq!(s.access_for(Some("U7")).await, groups(&["staff"]));
    assert_eq!(s.access_for(None).await, groups(&["staff"]));
    let e: Event = serde_json::from_value(json!({
        "type": "app_mention", "channel": "C1", "ts": "1.2", "user": "U42", "text": "<@B> hi"
    }))
    .unwrap();
    assert_eq!(e.user.as_deref(), Some("U42"));
}

/// A Web API stub on loopback serving `usergroups.list`; counts the calls, and answers
/// `ok: false` once `fail` is set.
async fn usergroups_stub(
    fail: Arc<std::sync::atomic::AtomicBool>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use std::sync::atomic::Ordering;
    let app = Router::new().route(
        "/usergroups.list",
        axum::routing::get(move |headers: HeaderMap| {
            let (fail, calls) = (Arc::clone(&fail), Arc::clone(&calls));
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let authed = headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Bearer xoxb-test");
                if fail.load(Ordering::SeqCst) || !authed {
                    return axum::Json(json!({"ok": false, "error": "missing_scope"}));
                }
                axum::Json(json!({"ok": true, "usergroups": [
                    {"id": "S1", "handle": "people-team", "users": ["U7", "U8"]},
                    {"id": "S2", "handle": "finance", "users": ["U8"]},
                    {"id": "S3", "handle": "no-members"}
                ]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn slack_user_groups_grant_their_identitys_groups_and_fail_closed() {
    use crate::frontends::Never;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let fail = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let state = |api_url: String, refresh: u64| {
        let config = SlackConfig {
            api_url,
            usergroups_refresh_secs: refresh,
            ..SlackConfig::default()
        };
        let mut ids = AccessConfig::default();
        ids.identities
            .insert("slack-group:S1".into(), vec!["hr".into()]);
        ids.identities
            .insert("slack-group:S2".into(), vec!["finance".into()]);
        ids.identities
            .insert("slack:U8".into(), vec!["exec".into()]);
        SlackState::new(
            Arc::new(Never),
            &config,
            "secret".into(),
            "xoxb-test".into(),
            CancellationToken::new(),
        )
        .unwrap()
        .with_identities(ids)
    };
    let groups = |g: &[&str]| Access::Groups(g.iter().map(|s| s.to_string()).collect());
    let api = usergroups_stub(Arc::clone(&fail), Arc::clone(&calls)).await;
    let s = state(api.clone(), 300);
    assert_eq!(s.access_for(Some("U7")).await, groups(&["hr"]));
    assert_eq!(
        s.access_for(Some("U8")).await,
        groups(&["exec", "hr", "finance"])
    );
    assert_eq!(s.access_for(Some("U9")).await, groups(&[]));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the list is read once per refresh"
    );
    // Slack failing after a good read: the last list stands.
    let s = state(api.clone(), 0);
    assert_eq!(s.access_for(Some("U7")).await, groups(&["hr"]));
    fail.store(true, Ordering::SeqCst);
    assert_eq!(s.access_for(Some("U7")).await, groups(&["hr"]));
    // Never read: nobody gets group-based access.
    let s = state(api, 300);
    assert_eq!(s.access_for(Some("U7")).await, groups(&[]));
    // Nobody configured by user group: Slack is not asked at all.
    let before = calls.load(Ordering::SeqCst);
    let plain = SlackState::new(
        Arc::new(Never),
        &SlackConfig::default(),
        "secret".into(),
        "xoxb-test".into(),
        CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(plain.access_for(Some("U7")).await, groups(&[]));
    assert_eq!(calls.load(Ordering::SeqCst), before);
}
