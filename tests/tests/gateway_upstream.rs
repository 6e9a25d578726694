//! The backend named by host name (as in compose): resolved off the request path, followed
//! when it resolves, and a clear 502 with a metric — never a panic — when it does not.

use serde_json::Value;
use vaultgate_tests::echo::Echo;
use vaultgate_tests::{Gateway, client, metric};

fn mcp_post(gw: &Gateway, auth: &str) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/mcp", gw.url()))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .header("Authorization", auth)
        .body(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#)
        .send()
        .expect("request")
}

#[test]
fn a_backend_given_by_host_name_is_reached() {
    let echo = Echo::start();
    let gw = Gateway::start(&format!("http://localhost:{}", echo.port), &[]);
    let auth = format!("Bearer {}", gw.token("alice"));
    for _ in 0..3 {
        assert_eq!(mcp_post(&gw, &auth).status(), 200);
    }
    assert_eq!(
        client().get(format!("{}/readyz", gw.url())).send().unwrap().status(),
        200
    );
}

#[test]
fn a_backend_name_that_does_not_resolve_is_a_502_not_a_crash() {
    let gw = Gateway::start("http://no-such-backend.invalid:8001", &[]);
    let auth = format!("Bearer {}", gw.token("alice"));
    // MCP clients get a JSON-RPC error.
    let r = mcp_post(&gw, &auth);
    assert_eq!(r.status(), 502);
    let body: Value = r.json().unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(body["error"]["message"].is_string(), "{body}");
    // REST clients get the shared error body; repeated requests are answered the same way.
    for _ in 0..3 {
        let r = client()
            .get(format!("{}/api/notes", gw.url()))
            .header("Authorization", &auth)
            .send()
            .unwrap();
        assert_eq!(r.status(), 502);
        assert_eq!(r.json::<Value>().unwrap()["error"], "upstream_error");
    }
    let metrics = gw.metrics();
    assert!(metric(&metrics, "vaultgate_gateway_upstream_errors_total{kind=\"resolve\"}") >= 4.0);
    assert_eq!(
        metric(&metrics, "vaultgate_gateway_upstream_errors_total{kind=\"connect\"}"),
        0.0
    );
    // The gateway lives on: liveness holds, readiness says the backend is not there.
    assert_eq!(
        client().get(format!("{}/healthz", gw.url())).send().unwrap().status(),
        200
    );
    assert_eq!(
        client().get(format!("{}/readyz", gw.url())).send().unwrap().status(),
        503
    );
}
