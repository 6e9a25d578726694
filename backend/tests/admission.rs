//! The per-user concurrency cap, end to end: with USER_CONCURRENCY=1 and no queueing, alice's
//! requests that overlap one of her own get 429 `busy`, while bob is served; MCP tools share the
//! same cap; once alice's work is done she is served again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use vaultgate_tests::Backend;

#[test]
fn one_user_over_the_cap_is_refused_and_others_are_served() {
    let b = Arc::new(Backend::start_with(&[
        ("USER_CONCURRENCY", "1"),
        ("USER_QUEUE_MS", "0"),
    ]));
    // Writes of a large note (parse, file, fsync, index) overlap when sent together; the first
    // round that overlaps shows the refusal. Probe until one does.
    let body = "word ".repeat(100_000);
    let mut refused = None;
    for round in 0..20 {
        let busy = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..6)
            .map(|i| {
                let (b, body, busy) = (b.clone(), body.clone(), busy.clone());
                std::thread::spawn(move || {
                    let path = format!("/api/notes/r{round}-{i}.md");
                    let (status, headers, v) = b.rest("alice", "PUT", &path, Some(json!({ "body": body })));
                    if status == 429 {
                        assert_eq!(headers.get("retry-after").map(|h| h.to_str().unwrap()), Some("1"));
                        busy.store(true, Ordering::SeqCst);
                        return Some(v);
                    }
                    assert_eq!(status, 201, "{v}");
                    None
                })
            })
            .collect();
        // Bob is served while alice floods.
        let (status, _, v) = b.rest("bob", "GET", "/api/tags", None);
        assert_eq!(status, 200, "{v}");
        let answers: Vec<_> = writers.into_iter().filter_map(|w| w.join().unwrap()).collect();
        if let Some(v) = answers.into_iter().next() {
            refused = Some(v);
            break;
        }
    }
    let v = refused.expect("alice's overlapping requests were never refused");
    assert_eq!(v["error"], "busy", "{v}");

    // MCP tools share the cap: a tool call overlapping alice's writes is refused the same way.
    let mut tool_refused = None;
    for round in 0..20 {
        let writer = {
            let (b, body) = (b.clone(), body.clone());
            std::thread::spawn(move || {
                b.rest(
                    "alice",
                    "PUT",
                    &format!("/api/notes/m{round}.md"),
                    Some(json!({ "body": body })),
                )
            })
        };
        let probes: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || b.tool("alice", "get_tags", json!({})))
            })
            .collect();
        let _ = writer.join().unwrap();
        if let Some((_, v)) = probes.into_iter().map(|p| p.join().unwrap()).find(|(err, _)| *err) {
            tool_refused = Some(v);
            break;
        }
    }
    let v = tool_refused.expect("alice's overlapping tool calls were never refused");
    assert_eq!(v["error"], "busy", "{v}");

    // Alone again, alice is served.
    let (status, _, _) = b.rest("alice", "GET", "/api/notes/r0-0.md", None);
    assert!(status == 200 || status == 404, "{status}");
    let (status, _, _) = b.rest("alice", "GET", "/api/tags", None);
    assert_eq!(status, 200);
}
