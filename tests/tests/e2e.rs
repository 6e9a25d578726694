//! The whole system: the real gateway in front of the real backend, with real tokens.
//! These are the production checks a Space operator runs, plus the contract's promise
//! that refused requests never reach the backend.

use serde_json::{Value, json};
use vaultgate_tests::mcp::{Era, Mcp};
use vaultgate_tests::tokens::{TokenSpec, now};
use vaultgate_tests::{Backend, Gateway, client};

fn paths(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["notes"]
        .as_array()
        .expect("notes array")
        .iter()
        .map(|n| n["path"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn three_users_each_see_only_their_own_notes() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let users = ["alice", "bob", "carol"];
    for (i, user) in users.iter().enumerate() {
        let era = if i % 2 == 0 { Era::Legacy } else { Era::Modern };
        let mut c = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token(user), era);
        assert_eq!(c.connect().status, 200);
        c.ok("write_note", json!({"path": format!("{user}/private.md"), "body": format!("# {user}'s secret\nonly {user} may read this")}));
        c.ok(
            "write_note",
            json!({"path": "shared-name.md", "body": format!("owned by {user}")}),
        );
    }
    for user in users {
        for era in [Era::Legacy, Era::Modern] {
            let mut c = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token(user), era);
            c.connect();
            let list = c.ok("list_notes", json!({}));
            assert_eq!(
                paths(&list),
                [format!("{user}/private.md"), "shared-name.md".to_owned()],
                "{user} {era:?}"
            );
            let note = c.ok("read_note", json!({"path": "shared-name.md"}));
            assert!(note.to_string().contains(&format!("owned by {user}")));
            let hits = c.ok("search_notes", json!({"query": "secret"}));
            let found: Vec<&str> = hits["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["path"].as_str().unwrap())
                .collect();
            assert_eq!(found, [format!("{user}/private.md").as_str()]);
            for other in users.iter().filter(|o| **o != user) {
                let res = c.call("read_note", json!({"path": format!("{other}/private.md")}));
                assert_eq!(res["isError"], json!(true), "{user} read {other}'s note");
                assert!(!res.to_string().contains("secret"));
            }
        }
    }
    // The REST API agrees.
    let me: Value = client()
        .get(format!("{}/api/me", gw.url()))
        .bearer_auth(gw.token("bob"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], "bob");
}

#[test]
fn valid_token_initializes_invalid_and_expired_do_not_and_never_reach_the_backend() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let mut ok = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token("alice"), Era::Legacy);
    let r = ok.connect();
    assert_eq!(r.status, 200);
    assert!(r.session.is_some());
    assert!(r.message.unwrap()["result"]["serverInfo"].is_object());
    let tools = ok.send("tools/list", json!({}), false).message.unwrap();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for t in [
        "list_notes",
        "read_note",
        "write_note",
        "edit_note",
        "move_note",
        "delete_note",
        "search_notes",
        "get_backlinks",
        "get_tags",
    ] {
        assert!(names.contains(&t), "missing tool {t}");
    }

    let before = backend.requests_seen();
    let expired = TokenSpec::valid("alice", &gw.issuer())
        .claim("iat", json!(now() - 7200))
        .claim("exp", json!(now() - 3600))
        .sign();
    for (name, token) in [
        ("invalid_token", "invalid_token".to_owned()),
        ("expired", expired),
        (
            "forged",
            TokenSpec::valid("alice", &gw.issuer())
                .secret("x".repeat(40).as_str())
                .sign(),
        ),
    ] {
        for era in [Era::Legacy, Era::Modern] {
            let mut c = Mcp::new(&format!("{}/mcp", gw.url()), &token, era);
            let r = if era == Era::Legacy {
                c.connect()
            } else {
                c.send("tools/list", json!({}), false)
            };
            assert_eq!(r.status, 401, "{name} {era:?}");
            assert!(r.message.unwrap()["error"].is_object());
        }
        let r = client()
            .get(format!("{}/api/notes", gw.url()))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{name} REST");
    }
    // Spoofed identity headers with a bad token change nothing either.
    let r = client()
        .get(format!("{}/api/me", gw.url()))
        .header("X-Vault-User", "alice")
        .header("X-Vault-Identity", "forged")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(backend.requests_seen(), before, "a refused request reached the backend");
}

#[test]
fn the_backend_refuses_anything_that_did_not_come_through_the_gateway() {
    let backend = Backend::start();
    let direct = client()
        .get(format!("{}/api/me", backend.url()))
        .header("X-Vault-User", "alice")
        .send()
        .unwrap();
    assert_eq!(direct.status(), 401);
    let r = client()
        .post(format!("{}/mcp", backend.url()))
        .header("X-Vault-User", "alice")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn usage_report_includes_vault_sizes_from_the_backend() {
    let backend = Backend::start();
    let gw = Gateway::start(
        &backend.url(),
        &[("BACKEND_ADMIN_URL", &format!("http://127.0.0.1:{}", backend.admin_port))],
    );
    for (user, n) in [("big", 3), ("small", 1)] {
        let mut c = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token(user), Era::Modern);
        for i in 0..n {
            c.ok(
                "write_note",
                json!({"path": format!("n{i}.md"), "body": "x".repeat(100)}),
            );
        }
    }
    let usage: Value = client()
        .get(format!("http://127.0.0.1:{}/admin/usage", gw.admin_port))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let vaults = usage["backend"]["vaults"].as_array().expect("vault sizes relayed");
    assert_eq!(vaults[0]["user"], "big");
    assert_eq!(vaults[0]["notes"], 3);
    assert!(vaults[0]["bytes"].as_u64().unwrap() >= 300);
    assert_eq!(vaults[1]["user"], "small");
    assert_eq!(usage["active_users_1h"], 2);
}

/// A request written by hand, exactly as listed (reqwest would add `Accept: */*`): the status,
/// the headers (lower-cased names) and the body.
fn raw_post(base: &str, headers: &[(&str, &str)], body: &str) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn an_operator_with_curl_needs_no_accept_header_and_is_told_which_session_header_to_send() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let bearer = format!("Bearer {}", gw.token("alice"));
    let plain = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"8"}}}"#;
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_notes","arguments":{}}}"#;
    let modern_list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_notes","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    // No Accept header at all: initialize answers JSON and mints a session.
    let (status, headers, body) = raw_post(&gw.url(), &plain, init);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("a JSON answer");
    assert!(v["result"]["serverInfo"].is_object(), "{v}");
    let sid = header(&headers, "mcp-session-id").expect("a session").to_owned();

    // A tools/call without the session: 400 that names the header and shows an example.
    let (status, _, body) = raw_post(&gw.url(), &plain, list);
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], 2);
    assert_eq!(v["error"]["data"]["error"], "missing_session");
    let message = v["error"]["message"].as_str().unwrap();
    for needle in ["Mcp-Session-Id: ", "initialize", "MCP-Protocol-Version: 2026-07-28"] {
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }

    // With the session it works, still without Accept.
    let with_session = [plain[0], plain[1], ("Mcp-Session-Id", sid.as_str())];
    let (status, _, body) = raw_post(&gw.url(), &with_session, list);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["result"]["structuredContent"]["notes"].is_array(), "{v}");

    // The sessionless era without Accept, and curl's default `Accept: */*`.
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut h = vec![
            plain[0],
            plain[1],
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "list_notes"),
        ];
        h.extend(accept.map(|a| ("Accept", a)));
        let (status, _, body) = raw_post(&gw.url(), &h, modern_list);
        assert_eq!(status, 200, "{accept:?}: {body}");
    }

    // An Accept that excludes JSON is still refused, in both eras, with what to send.
    for accept in ["text/html", "text/event-stream", "application/json;q=0, */*"] {
        let mut h = with_session.to_vec();
        h.push(("Accept", accept));
        let (status, _, body) = raw_post(&gw.url(), &h, list);
        assert_eq!(status, 406, "{accept}: {body}");
        assert!(body.contains("Accept: application/json"), "{body}");
        let h = [
            plain[0],
            plain[1],
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "list_notes"),
            ("Accept", accept),
        ];
        assert_eq!(raw_post(&gw.url(), &h, modern_list).0, 406, "{accept}");
    }
}
