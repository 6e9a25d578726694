//! The per-user concurrency cap: with USER_CONCURRENCY=1, a request of alice that is still in
//! work (here: its body not yet sent) makes her next request wait, then get 429 `busy`, while bob
//! is served; once the first request finishes, alice is served again.

mod common;

use std::io::{Read, Write};

use common::Backend;

#[test]
fn one_user_over_the_cap_is_refused_and_others_are_served() {
    let b = Backend::start_with(&[("USER_CONCURRENCY", "1"), ("USER_QUEUE_MS", "300")]);
    let addr = b.url.strip_prefix("http://").unwrap().to_owned();
    // A PUT whose body is announced but not sent: the request holds alice's only turn.
    let body = r#"{"body": "held"}"#;
    let mut held = std::net::TcpStream::connect(&addr).unwrap();
    let mut head = format!("PUT /api/notes/held.md HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in b.identity("alice").iter() {
        head.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    held.write_all(head.as_bytes()).unwrap();
    held.write_all(&body.as_bytes()[..4]).unwrap();
    held.flush().unwrap();

    // Alice's next request waits for a turn that never comes, then is refused. The held request
    // may not have reached the handler yet when the first probe arrives: probe until refused.
    let refused = (0..50).find_map(|_| {
        let (status, _, v) = b.rest("alice", "GET", "/api/tags", None);
        (status == 429).then_some(v)
    });
    let v = refused.expect("alice's requests over the cap were never refused");
    assert_eq!(v["error"], "busy", "{v}");
    // Bob is not affected.
    let (status, _, _) = b.rest("bob", "GET", "/api/tags", None);
    assert_eq!(status, 200);
    // MCP tools share the same cap.
    let (err, v) = b.tool("alice", "get_tags", serde_json::json!({}));
    assert!(err, "{v}");
    assert_eq!(v["error"], "busy");

    // The held request completes, and alice is served again.
    held.write_all(&body.as_bytes()[4..]).unwrap();
    let mut answer = String::new();
    held.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (status, _, _) = b.rest("alice", "GET", "/api/notes/held.md", None);
    assert_eq!(status, 200);
}
