//! Legacy and modern MCP eras through the gateway, the body-sniffing limit, and rate
//! limits that keep users apart — against a recording upstream.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use vaultgate_tests::echo::Echo;
use vaultgate_tests::mcp::legacy_post;
use vaultgate_tests::{Gateway, client, metric};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn legacy(gw: &Gateway, token: &str, session: Option<&str>, body: &str) -> reqwest::blocking::Response {
    legacy_post(&gw.url(), token, session, body)
}

fn initialize(gw: &Gateway, token: &str) -> String {
    let r = legacy(gw, token, None, INIT);
    assert_eq!(r.status(), 200);
    let sid = r
        .headers()
        .get("mcp-session-id")
        .expect("session minted")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(uuid::Uuid::parse_str(&sid).expect("a UUID").get_version_num(), 4);
    sid
}

#[test]
fn legacy_session_lifecycle_and_hijack() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let (alice, bob) = (gw.token("alice"), gw.token("bob"));
    let sid = initialize(&gw, &alice);
    assert_eq!(
        echo.last().unwrap().body,
        INIT.as_bytes(),
        "initialize forwarded byte for byte"
    );
    assert_eq!(metric(&gw.metrics(), "vaultgate_gateway_sessions_created_total"), 1.0);
    assert_eq!(metric(&gw.metrics(), "vaultgate_gateway_sessions_active"), 1.0);

    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let r = legacy(&gw, &alice, Some(&sid), call);
    assert_eq!(r.status(), 200);
    let seen = echo.last().unwrap();
    assert_eq!(seen.all("x-vault-session"), [sid.as_str()]);
    assert_eq!(seen.all("mcp-session-id"), [sid.as_str()]);

    // No session on a non-initialize request: 400, not forwarded.
    let n = echo.count();
    let r = legacy(&gw, &alice, None, call);
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["id"], 2);
    // Unknown session: 404.
    assert_eq!(
        legacy(&gw, &alice, Some("0b8f6f5e-9c1e-4a57-8b7e-0a8e6d3c2b1a"), call).status(),
        404
    );
    assert_eq!(legacy(&gw, &alice, Some("../../etc/passwd"), call).status(), 404);
    // Another user's valid token with alice's session: 404, counted and audited as a hijack.
    assert_eq!(legacy(&gw, &bob, Some(&sid), call).status(), 404);
    assert_eq!(echo.count(), n, "no refused request reached the upstream");
    let m = gw.metrics();
    assert_eq!(
        metric(&m, "vaultgate_gateway_session_rejections_total{reason=\"wrong_user\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "vaultgate_gateway_session_rejections_total{reason=\"missing\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "vaultgate_gateway_session_rejections_total{reason=\"unknown\"}"),
        2.0
    );
    assert!(
        gw.audit_lines()
            .iter()
            .any(|l| l["event"] == "session_hijack_attempt" && l["user"] == "bob")
    );
    // bob cannot end alice's session either.
    let del = |tok: &str, s: &str| {
        client()
            .delete(format!("{}/mcp", gw.url()))
            .header("Authorization", format!("Bearer {tok}"))
            .header("Mcp-Session-Id", s)
            .send()
            .unwrap()
    };
    assert_eq!(del(&bob, &sid).status(), 404);
    assert_eq!(legacy(&gw, &alice, Some(&sid), call).status(), 200);
    // DELETE ends it.
    assert_eq!(del(&alice, &sid).status(), 204);
    assert_eq!(legacy(&gw, &alice, Some(&sid), call).status(), 404);
    assert_eq!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_session_rejections_total{reason=\"expired\"}"
        ),
        1.0
    );
    assert_eq!(metric(&gw.metrics(), "vaultgate_gateway_sessions_active"), 0.0);
    // Logout ends the user's sessions.
    let s2 = initialize(&gw, &alice);
    client()
        .post(format!("{}/api/auth/logout", gw.url()))
        .header("Authorization", format!("Bearer {alice}"))
        .send()
        .unwrap();
    let fresh = gw.token("alice");
    assert_eq!(legacy(&gw, &fresh, Some(&s2), call).status(), 404);
}

#[test]
fn modern_and_legacy_clients_side_by_side() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let tok = gw.token("alice");
    let sid = initialize(&gw, &tok);
    let modern = |stray: Option<&str>| {
        let mut rb = client()
            .post(format!("{}/mcp", gw.url()))
            .header("Authorization", format!("Bearer {tok}"))
            .header("Content-Type", "application/json")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "search_notes");
        if let Some(s) = stray {
            rb = rb.header("Mcp-Session-Id", s);
        }
        rb.body(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"search_notes"}}"#)
            .send()
            .unwrap()
    };
    for stray in [None, Some("whatever"), Some(sid.as_str())] {
        let r = modern(stray);
        assert_eq!(r.status(), 200, "{stray:?}");
        assert!(
            r.headers().get("mcp-session-id").is_none(),
            "no session minted for modern clients"
        );
        let seen = echo.last().unwrap();
        assert!(
            seen.all("mcp-session-id").is_empty(),
            "a stray session id is not forwarded"
        );
        assert!(seen.all("x-vault-session").is_empty());
        assert_eq!(seen.all("mcp-method"), ["tools/call"]);
        // The legacy client keeps working in between.
        assert_eq!(
            legacy(&gw, &tok, Some(&sid), r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).status(),
            200
        );
    }
    assert_eq!(metric(&gw.metrics(), "vaultgate_gateway_sessions_created_total"), 1.0);
    let m = gw.metrics();
    assert_eq!(
        metric(
            &m,
            "vaultgate_gateway_mcp_requests_total{era=\"modern\",method=\"tools/call\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "vaultgate_gateway_mcp_requests_total{era=\"legacy\",method=\"ping\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "vaultgate_gateway_mcp_requests_total{era=\"legacy\",method=\"initialize\"}"
        ),
        1.0
    );
}

#[test]
fn sniffed_bodies_are_forwarded_whole_or_refused_with_413() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let tok = gw.token("alice");
    let limit = 64 * 1024;
    let make = |size: usize| {
        let head = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"},"pad":""#;
        let tail = r#""}}"#;
        format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()))
    };
    let under = make(limit);
    assert_eq!(under.len(), limit);
    let r = legacy(&gw, &tok, None, &under);
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("mcp-session-id").is_some());
    assert_eq!(echo.last().unwrap().body, under.as_bytes(), "forwarded byte for byte");
    let n = echo.count();
    let over = make(limit + 1);
    let r = legacy(&gw, &tok, None, &over);
    assert_eq!(r.status(), 413);
    assert_eq!(
        echo.count(),
        n,
        "an oversized sniffed body is never forwarded (not even empty)"
    );
    // Chunked (no Content-Length) over the limit: also 413.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(over.into_bytes()));
    let r = client()
        .post(format!("{}/mcp", gw.url()))
        .header("Authorization", format!("Bearer {tok}"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(echo.count(), n);
    // With a session the body is streamed, not sniffed: large bodies pass whole.
    let sid = initialize(&gw, &tok);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"pad":"{}"}}}}"#,
        "y".repeat(300_000)
    );
    assert_eq!(legacy(&gw, &tok, Some(&sid), &big).status(), 200);
    assert_eq!(echo.last().unwrap().body, big.as_bytes());
}

#[test]
fn idle_expiry_and_the_per_user_cap() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("SESSION_IDLE_SECS", "1"), ("SESSIONS_PER_USER", "2")]);
    let tok = gw.token("alice");
    let ping = r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
    let s1 = initialize(&gw, &tok);
    let s2 = initialize(&gw, &tok);
    let s3 = initialize(&gw, &tok);
    assert_eq!(
        legacy(&gw, &tok, Some(&s1), ping).status(),
        404,
        "oldest evicted beyond the cap"
    );
    assert_eq!(legacy(&gw, &tok, Some(&s2), ping).status(), 200);
    assert_eq!(legacy(&gw, &tok, Some(&s3), ping).status(), 200);
    // Left idle, a session expires (polled, bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    std::thread::sleep(Duration::from_millis(1100));
    loop {
        let st = legacy(&gw, &tok, Some(&s3), ping).status();
        if st == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "session never idled out");
        std::thread::sleep(Duration::from_millis(1100));
    }
    assert!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_session_rejections_total{reason=\"expired\"}"
        ) >= 2.0
    );
}

#[test]
fn one_users_flood_does_not_limit_another() {
    let echo = Echo::start();
    let gw = Gateway::start(
        &echo.url(),
        &[("RATE_LIMIT_PER_MINUTE", "60"), ("RATE_LIMIT_BURST", "5")],
    );
    let (a, b) = (gw.token("alice"), gw.token("bob"));
    let send = |tok: &str| {
        client()
            .post(format!("{}/mcp", gw.url()))
            .header("Authorization", format!("Bearer {tok}"))
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "ping")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
            .unwrap()
    };
    let mut limited = 0;
    for _ in 0..20 {
        let r = send(&a);
        if r.status() == 429 {
            limited += 1;
            let h = r.headers();
            assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
            let retry = h["retry-after"].to_str().unwrap();
            assert_eq!(h["ratelimit-policy"], "\"user\";q=60;w=60");
            assert_eq!(h["ratelimit"].to_str().unwrap(), format!("\"user\";r=0;t={retry}"));
            // The earlier draft's names, kept for one release.
            assert_eq!(h["ratelimit-limit"], "60");
            assert_eq!(h["ratelimit-remaining"], "0");
            assert!(h.contains_key("ratelimit-reset"));
        }
    }
    assert!(limited >= 14, "alice was limited only {limited} times");
    let bobs: Vec<_> = (0..5).map(|_| send(&b)).collect();
    for r in &bobs {
        assert_eq!(r.status(), 200, "bob is unaffected");
    }
    // A full bucket says nothing; a nearly spent one (a quarter of the burst or less) says so.
    assert!(!bobs[0].headers().contains_key("ratelimit"));
    let last = bobs[4].headers();
    assert_eq!(last["ratelimit-policy"], "\"user\";q=60;w=60");
    assert!(
        last["ratelimit"].to_str().unwrap().starts_with("\"user\";r="),
        "{last:?}"
    );
    assert_eq!(
        echo.count(),
        20 - limited + 5,
        "limited requests never reach the backend"
    );
    assert_eq!(
        metric(&gw.metrics(), "vaultgate_gateway_rate_limited_total{scope=\"user\"}"),
        limited as f64
    );
}

fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn brute_force_is_limited_per_ip_and_forwarded_for_only_from_trusted_proxies() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("AUTH_FAILURE_LIMIT_PER_MINUTE", "5")]);
    let attacker = client_from("127.0.0.2");
    let victim = client_from("127.0.0.3");
    let statuses: Vec<u16> = (0..10)
        .map(|i| {
            attacker
                .post(format!("{}/mcp", gw.url()))
                .header("Authorization", "Bearer bad.token.here")
                .header("X-Forwarded-For", format!("10.0.0.{i}"))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(
        statuses[5..].iter().all(|s| *s == 429),
        "{statuses:?} (X-Forwarded-For must be ignored)"
    );
    let ok = victim
        .post(format!("{}/mcp", gw.url()))
        .header("Authorization", format!("Bearer {}", gw.token("carol")))
        .header("MCP-Protocol-Version", "2026-07-28")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200, "a valid user from another IP is unaffected");
    assert_eq!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_rate_limited_total{scope=\"auth_failure\"}"
        ),
        5.0
    );
    drop(gw);

    // Behind a trusted proxy, X-Forwarded-For names the client.
    let gw = Gateway::start(
        &echo.url(),
        &[
            ("AUTH_FAILURE_LIMIT_PER_MINUTE", "5"),
            ("TRUSTED_PROXIES", "127.0.0.2/32"),
        ],
    );
    for i in 0..10 {
        let st = attacker
            .post(format!("{}/mcp", gw.url()))
            .header("Authorization", "Bearer bad.token.here")
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .send()
            .unwrap()
            .status();
        assert_eq!(st, 401, "each forwarded client has its own budget");
    }
}

#[test]
fn sse_answers_stream_through_unbuffered() {
    use std::io::Read;
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let mut r = client()
        .post(format!("{}/mcp", gw.url()))
        .header("Authorization", format!("Bearer {}", gw.token("alice")))
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Accept", "application/json, text/event-stream")
        .header("x-echo-sse", "1")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    // The upstream holds its second event until we have read the first: a buffering
    // gateway would never deliver the first, and this read would time out.
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("\"n\":1") {
        let n = r
            .read(&mut buf)
            .expect("the first event arrives while the stream is open");
        assert!(n > 0, "stream ended early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&got).contains("\"n\":2"));
    echo.release.notify_one();
    r.read_to_end(&mut got).unwrap();
    assert!(String::from_utf8_lossy(&got).contains("\"n\":2"));
}

#[test]
fn revocations_and_sessions_survive_a_restart_with_the_sqlite_store() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    // Different users: a logout also ends the logged-out user's own sessions.
    let (revoked, kept) = (gw.token("alice"), gw.token("carol"));
    let sid = initialize(&gw, &kept);
    let r = client()
        .post(format!("{}/api/auth/logout", gw.url()))
        .bearer_auth(&revoked)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let gw = gw.restart();
    let ping = r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
    assert_eq!(
        legacy(&gw, &revoked, Some(&sid), ping).status(),
        401,
        "a revoked token stays revoked"
    );
    assert_eq!(
        legacy(&gw, &kept, Some(&sid), ping).status(),
        200,
        "a legacy session survives the restart"
    );
    assert_eq!(metric(&gw.metrics(), "vaultgate_gateway_sessions_active"), 1.0);
    // With the memory store, by contrast, nothing survives (the documented trade-off).
    let mem = Gateway::start(&echo.url(), &[("GATEWAY_STATE", "memory")]);
    let t = mem.token("bob");
    let sid = initialize(&mem, &t);
    let mem = mem.restart();
    assert_eq!(legacy(&mem, &t, Some(&sid), ping).status(), 404);
}
