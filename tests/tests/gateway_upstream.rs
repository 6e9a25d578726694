//! The backend named by host name (as in compose): resolved off the request path, followed
//! when it resolves, and a clear 502 with a metric — never a panic — when it does not.

use vaultgate_tests::echo::Echo;
use vaultgate_tests::{Gateway, client, metric};

#[test]
fn a_backend_given_by_host_name_is_reached() {
    let echo = Echo::start();
    let gw = Gateway::start(&format!("http://localhost:{}", echo.port), &[]);
    let auth = format!("Bearer {}", gw.token("alice"));
    for _ in 0..3 {
        assert_eq!(gw.mcp_post(&[("Authorization", &auth)], "").status(), 200);
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
    // MCP clients get a JSON-RPC error, REST clients the shared error body.
    gw.assert_upstream_502(&auth);
    // Repeated requests are answered the same way.
    for _ in 0..2 {
        gw.assert_rest_502(&auth);
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
