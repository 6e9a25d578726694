//! Hugging Face access tokens at the gateway, against a fake whoami (no network).

use serde_json::Value;
use vaultgate_tests::echo::{Echo, HF_USERS};
use vaultgate_tests::{Gateway, client, metric};

fn post_mcp(gw: &Gateway, token: &str) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/mcp", gw.url()))
        .bearer_auth(token)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .body(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#)
        .send()
        .unwrap()
}

fn whoami_calls(echo: &Echo) -> usize {
    echo.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/api/whoami-v2")
        .count()
}

#[test]
fn hf_tokens_name_the_account_and_are_cached() {
    let upstream = Echo::start();
    let hf = Echo::start();
    let gw = Gateway::start(&upstream.url(), &[("HF_API_URL", &hf.url())]);
    let (token, id, ..) = HF_USERS[0];
    assert_eq!(post_mcp(&gw, token).status(), 200);
    assert_eq!(
        upstream.last().unwrap().all("x-vault-user"),
        [id],
        "the user is the account's stable id"
    );
    assert!(
        upstream.last().unwrap().all("authorization").is_empty(),
        "the HF token is not forwarded"
    );
    for _ in 0..3 {
        assert_eq!(post_mcp(&gw, token).status(), 200);
    }
    assert_eq!(whoami_calls(&hf), 1, "accepted answers are cached");
    // Refused tokens: 401 hf_rejected, also cached (briefly), never forwarded.
    let n = upstream.count();
    for _ in 0..2 {
        let r = post_mcp(&gw, "hf_not_a_real_token");
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().unwrap()["id"], 7);
    }
    assert_eq!(whoami_calls(&hf), 2);
    let (org, ..) = HF_USERS[2];
    assert_eq!(post_mcp(&gw, org).status(), 401, "organisation tokens name no person");
    assert_eq!(upstream.count(), n);
    assert_eq!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_auth_failures_total{reason=\"hf_rejected\"}"
        ),
        3.0
    );
}

#[test]
fn hf_down_is_503_not_a_pass() {
    let upstream = Echo::start();
    let hf = Echo::start();
    let hf_url = hf.url();
    drop(hf);
    let gw = Gateway::start(
        &upstream.url(),
        &[("HF_API_URL", &hf_url), ("AUTH_FAILURE_LIMIT_PER_MINUTE", "2")],
    );
    for _ in 0..4 {
        let r = post_mcp(&gw, HF_USERS[0].0);
        assert_eq!(r.status(), 503, "an outage is neither a pass nor the client's failure");
        assert!(r.headers().contains_key("retry-after"));
    }
    assert_eq!(upstream.count(), 0);
    assert!(gw.audit_lines().iter().any(|l| l["event"] == "auth_unavailable"));
}

#[test]
fn exchange_an_hf_token_for_a_gateway_token_then_refresh_and_logout() {
    let upstream = Echo::start();
    let hf = Echo::start();
    let gw = Gateway::start(&upstream.url(), &[("HF_API_URL", &hf.url())]);
    let (hf_token, id, name, _) = HF_USERS[1];
    let url = format!("{}/api/auth/token", gw.url());
    // Only an HF token may be exchanged; a gateway token is told to refresh instead.
    assert_eq!(
        client()
            .post(&url)
            .bearer_auth(gw.token("bob"))
            .send()
            .unwrap()
            .status(),
        400
    );
    assert_eq!(client().post(&url).send().unwrap().status(), 401);
    assert_eq!(
        client()
            .post(&url)
            .bearer_auth("hf_not_a_real_token")
            .send()
            .unwrap()
            .status(),
        401
    );
    let r: Value = client()
        .post(&url)
        .bearer_auth(hf_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["user"], id);
    let gateway_token = r["access_token"].as_str().unwrap().to_owned();
    assert!(!gateway_token.starts_with("hf_"));
    assert_eq!(post_mcp(&gw, &gateway_token).status(), 200);
    assert_eq!(upstream.last().unwrap().all("x-vault-user"), [id]);
    assert_eq!(
        metric(&gw.metrics(), "vaultgate_gateway_tokens_issued_total{via=\"exchange\"}"),
        1.0
    );
    // The name from whoami travels in the token, and refresh keeps the subject.
    let refreshed: Value = client()
        .post(format!("{}/api/auth/refresh", gw.url()))
        .bearer_auth(&gateway_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(refreshed["user"], id);
    let _ = name;
    // Refresh consumed the exchanged token; logout revokes the refreshed one.
    assert_eq!(post_mcp(&gw, &gateway_token).status(), 401);
    let refreshed = refreshed["access_token"].as_str().unwrap();
    assert_eq!(post_mcp(&gw, refreshed).status(), 200);
    assert_eq!(
        client()
            .post(format!("{}/api/auth/logout", gw.url()))
            .bearer_auth(refreshed)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(post_mcp(&gw, refreshed).status(), 401);
    assert!(
        gw.audit_lines()
            .iter()
            .any(|l| l["event"] == "token_issue" && l["via"] == "exchange")
    );
}

#[test]
fn allowed_users_also_restrict_hf_tokens() {
    let upstream = Echo::start();
    let hf = Echo::start();
    let gw = Gateway::start(
        &upstream.url(),
        &[("HF_API_URL", &hf.url()), ("ALLOWED_USERS", "Alice-HF")],
    );
    assert_eq!(
        post_mcp(&gw, HF_USERS[0].0).status(),
        200,
        "listed by user name, any case"
    );
    let r = post_mcp(&gw, HF_USERS[1].0);
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().unwrap()["id"], 7);
    assert_eq!(upstream.count(), 1, "the refused account never reached the backend");
    assert_eq!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_auth_failures_total{reason=\"not_allowed\"}"
        ),
        1.0
    );
}
