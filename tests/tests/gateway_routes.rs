//! `BACKEND_ROUTES` end to end: the gateway fronting a backend that is not ours (laid out
//! like a Gradio app with its MCP server at `/gradio_api/mcp/`), against the recording
//! upstream, so that what is forwarded — and with which identity — can be checked.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use vaultgate_shared::identity::{IdentityKey, verify_identity};
use vaultgate_tests::echo::Echo;
use vaultgate_tests::{Gateway, IDENTITY_SECRET, client, metric};

/// The Gradio example of docs/backend-contract.md, plus a `deny` rule.
const GRADIO_RULES: &str = "mcp:/gradio_api/mcp/,token:/gradio_api/mcp/sse,token:/gradio_api/mcp/messages/,\
                            public:/,deny:/gradio_api/internal/";

/// Sends `request_line` and headers byte for byte (HTTP clients normalise `..` and `//`,
/// which is the point of these requests) and returns the status code.
fn raw(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[test]
fn public_token_and_mcp_paths_for_a_foreign_backend() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("BACKEND_ROUTES", GRADIO_RULES), ("WEB_UI", "false")]);
    let tok = gw.token("alice");
    let key = IdentityKey::new(IDENTITY_SECRET.as_bytes()).expect("key");

    // Public: forwarded without a token, with client identity headers and credentials
    // stripped and no identity added — even when the client sends a valid token.
    for path in ["/", "/assets/app.js", "/gradio_api/mcpx", "/mcp", "/api/notes"] {
        let before = echo.count();
        let r = client()
            .get(format!("{}{path}", gw.url()))
            .header("X-Vault-User", "mallory")
            .header("x-vault-identity", "forged")
            .header("Authorization", format!("Bearer {tok}"))
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(echo.count(), before + 1, "{path} was not forwarded");
        let seen = echo.last().expect("forwarded");
        assert_eq!(seen.path, path);
        assert!(
            seen.headers.iter().all(|(k, _)| !k.starts_with("x-vault-")),
            "{path}: {:?}",
            seen.headers
        );
        assert!(seen.all("authorization").is_empty(), "{path}");
        assert_eq!(seen.all("x-request-id").len(), 1, "{path}");
    }

    // MCP: a token is required, the session rules apply, the identity is injected.
    let url = format!("{}/gradio_api/mcp/", gw.url());
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let before = echo.count();
    let r = client()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(init)
        .send()
        .expect("request");
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().expect("JSON-RPC error");
    assert_eq!(body["id"], json!(1), "MCP refusals are JSON-RPC answers");
    assert_eq!(
        echo.count(),
        before,
        "an unauthenticated MCP request reached the backend"
    );
    let r = client()
        .post(&url)
        .header("Authorization", format!("Bearer {tok}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(init)
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
    let sid = r.headers()["mcp-session-id"].to_str().expect("session id").to_owned();
    assert_ne!(sid, "from-backend", "the gateway mints sessions, not the backend");
    let seen = echo.last().expect("forwarded");
    assert_eq!(seen.path, "/gradio_api/mcp/");
    let id = verify_identity(&key, seen.all("x-vault-identity")[0]).expect("assertion");
    assert_eq!(id.user.as_str(), "alice");
    // Without a session a non-initialize request is refused (400), as on /mcp.
    let r = client()
        .post(format!("{}/gradio_api/mcp/http/", gw.url()))
        .header("Authorization", format!("Bearer {tok}"))
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .send()
        .expect("request");
    assert_eq!(r.status(), 400);
    // The old SSE transport's paths need a token but get no session rules.
    let messages = format!("{}/gradio_api/mcp/messages/?session_id=abc", gw.url());
    let before = echo.count();
    let r = client().post(&messages).body("{}").send().expect("request");
    assert_eq!(r.status(), 401);
    assert_eq!(echo.count(), before);
    let r = client()
        .post(&messages)
        .header("Authorization", format!("Bearer {tok}"))
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
    let seen = echo.last().expect("forwarded");
    assert_eq!(seen.path, "/gradio_api/mcp/messages/?session_id=abc");
    assert_eq!(seen.all("x-vault-user"), ["alice"]);
    let r = client()
        .post(&url)
        .header("Authorization", format!("Bearer {tok}"))
        .header("Mcp-Session-Id", &sid)
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#)
        .send()
        .expect("request");
    assert_eq!(r.status(), 200);
    let seen = echo.last().expect("forwarded");
    assert_eq!(seen.all("x-vault-session"), [sid.as_str()]);

    // Denied and ambiguous paths never reach the backend.
    let before = echo.count();
    for (path, status) in [
        ("/gradio_api/internal/", 404),
        ("/gradio_api/internal/x?y=1", 404),
        ("/assets/../gradio_api/mcp/", 400),
        ("/x/..%2fgradio_api/mcp/", 400),
        ("//gradio_api/mcp/", 400),
        ("/gradio_api//mcp/", 400),
        ("/gradio_api/./mcp/", 400),
        ("/gradio_api%2fmcp/", 400),
        ("/gr%61dio_api/mcp/", 400),
        ("/gradio_api;x/mcp/", 400),
        ("/gradio_api/internal/%2e%2e/mcp/", 400),
    ] {
        assert_eq!(raw(gw.port, "GET", path, &[]), status, "{path}");
        assert_eq!(
            raw(gw.port, "POST", path, &[("Authorization", &format!("Bearer {tok}"))]),
            status,
            "{path} with a token"
        );
    }
    assert_eq!(echo.count(), before, "a refused path reached the backend");
    let m = gw.metrics();
    assert!(
        metric(
            &m,
            r#"vaultgate_gateway_requests_total{method="GET",route="ambiguous_path",status="400"}"#
        ) >= 9.0
    );
    assert!(
        metric(
            &m,
            r#"vaultgate_gateway_requests_total{method="GET",route="not_routed",status="404"}"#
        ) >= 2.0
    );
    let audit = gw.audit_lines();
    for reason in ["not_routed", "ambiguous_path"] {
        assert!(
            audit
                .iter()
                .any(|l| l["event"] == "path_refused" && l["reason"] == reason),
            "{reason} refusals are audited"
        );
    }
}

#[test]
fn default_rules_keep_every_forwarded_path_behind_a_token() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let tok = gw.token("alice");
    // ("/" is the gateway's own web page unless WEB_UI=false.)
    for path in ["/anything", "/mcpx", "/assets/../mcp", "//mcp", "/%6dcp"] {
        assert_eq!(raw(gw.port, "GET", path, &[]), 401, "{path}");
    }
    assert_eq!(echo.count(), 0);
    for path in ["/anything", "/assets/../mcp"] {
        assert_eq!(
            raw(gw.port, "GET", path, &[("Authorization", &format!("Bearer {tok}"))]),
            200,
            "{path}"
        );
        let seen = echo.last().expect("forwarded");
        assert_eq!(seen.path, path, "forwarded unchanged");
        assert_eq!(seen.all("x-vault-user"), ["alice"]);
    }
}

#[test]
fn a_bad_rule_stops_the_start() {
    let out = std::process::Command::new(vaultgate_tests::bin("vaultgate-gateway"))
        .env_clear()
        .env("IDENTITY_SECRET", IDENTITY_SECRET)
        .env("BACKEND_ROUTES", "mcp:/gradio_api/mcp/,public:/x/../y")
        .env("PORT", vaultgate_tests::free_port().to_string())
        .env("LISTEN_HOST", "127.0.0.1")
        .env("ADMIN_ADDR", format!("127.0.0.1:{}", vaultgate_tests::free_port()))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BACKEND_ROUTES"), "{err}");
}
