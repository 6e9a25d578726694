//! The gateway's authentication, identity and failure handling, against a recording
//! upstream so that exactly what reaches the backend can be checked.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vaultgate_shared::identity::{IdentityKey, verify_identity};
use vaultgate_tests::echo::Echo;
use vaultgate_tests::tokens::{TokenSpec, now};
use vaultgate_tests::{DESIGN_METRICS, Gateway, IDENTITY_SECRET, JWT_SECRET, assert_mcp_502, bin, client, metric};

#[test]
fn hostile_tokens_are_refused_counted_and_never_forwarded() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("AUTH_FAILURE_LIMIT_PER_MINUTE", "10000")]);
    let iss = gw.issuer();
    let valid = || TokenSpec::valid("alice", &iss);
    let good = valid().sign();
    let t = now();
    let bearer = |tok: &str| format!("Bearer {tok}");
    let parts: Vec<&str> = good.split('.').collect();
    let identity_as_token = {
        let k = IdentityKey::new(IDENTITY_SECRET.as_bytes()).unwrap();
        vaultgate_shared::identity::sign_identity(&k, &vaultgate_shared::UserId::parse("alice").unwrap(), None)
    };
    // (name, Authorization headers, query, expected status, expected reason)
    let cases: Vec<(&str, Vec<String>, &str, u16, &str)> = vec![
        ("no header", vec![], "", 401, "missing"),
        ("empty bearer", vec!["Bearer".into()], "", 401, "malformed"),
        ("bearer and spaces", vec!["Bearer    ".into()], "", 401, "malformed"),
        (
            "two tokens",
            vec![format!("Bearer {good} {good}")],
            "",
            401,
            "malformed",
        ),
        (
            "basic scheme",
            vec!["Basic YWxpY2U6cGFzcw==".into()],
            "",
            401,
            "malformed",
        ),
        ("junk scheme", vec![format!("Token {good}")], "", 401, "malformed"),
        ("two headers", vec![bearer(&good), bearer(&good)], "", 400, "malformed"),
        (
            "token in query",
            vec![],
            &*Box::leak(format!("?access_token={good}").into_boxed_str()),
            400,
            "malformed",
        ),
        (
            "alg none",
            vec![bearer(&valid().header("alg", json!("none")).sign())],
            "",
            401,
            "bad_signature",
        ),
        (
            "alg HS384",
            vec![bearer(&valid().header("alg", json!("HS384")).sign())],
            "",
            401,
            "bad_signature",
        ),
        (
            "alg HS512",
            vec![bearer(&valid().header("alg", json!("HS512")).sign())],
            "",
            401,
            "bad_signature",
        ),
        (
            "alg RS256",
            vec![bearer(&valid().header("alg", json!("RS256")).sign())],
            "",
            401,
            "bad_signature",
        ),
        (
            "wrong key",
            vec![bearer(&valid().secret("another-secret-another-secret-another").sign())],
            "",
            401,
            "bad_signature",
        ),
        (
            "unknown kid",
            vec![bearer(&valid().header("kid", json!("k-deadbeef")).sign())],
            "",
            401,
            "bad_signature",
        ),
        (
            "identity assertion as token",
            vec![bearer(&identity_as_token)],
            "",
            401,
            "bad_signature",
        ),
        (
            "signature removed",
            vec![bearer(&format!("{}.{}.", parts[0], parts[1]))],
            "",
            401,
            "bad_signature",
        ),
        (
            "truncated to two segments",
            vec![bearer(&format!("{}.{}", parts[0], parts[1]))],
            "",
            401,
            "malformed",
        ),
        (
            "extra segment",
            vec![bearer(&format!("{good}.{}", parts[2]))],
            "",
            401,
            "malformed",
        ),
        (
            "garbage base64",
            vec!["Bearer %%%.^^^.***".into()],
            "",
            401,
            "malformed",
        ),
        (
            "expired",
            vec![bearer(
                &valid()
                    .claim("exp", json!(t - 3600))
                    .claim("iat", json!(t - 7200))
                    .sign(),
            )],
            "",
            401,
            "expired",
        ),
        (
            "future nbf",
            vec![bearer(&valid().claim("nbf", json!(t + 3600)).sign())],
            "",
            401,
            "not_yet_valid",
        ),
        (
            "missing exp",
            vec![bearer(&valid().claim("exp", Value::Null).sign())],
            "",
            401,
            "malformed",
        ),
        (
            "missing sub",
            vec![bearer(&valid().claim("sub", Value::Null).sign())],
            "",
            401,
            "malformed",
        ),
        (
            "traversal subject",
            vec![bearer(&valid().claim("sub", json!("../bob")).sign())],
            "",
            401,
            "bad_subject",
        ),
        (
            "slash subject",
            vec![bearer(&valid().claim("sub", json!("a/b")).sign())],
            "",
            401,
            "bad_subject",
        ),
        (
            "65-char subject",
            vec![bearer(&valid().claim("sub", json!("a".repeat(65))).sign())],
            "",
            401,
            "bad_subject",
        ),
        (
            "wrong issuer",
            vec![bearer(&valid().claim("iss", json!("https://evil.example")).sign())],
            "",
            401,
            "wrong_issuer",
        ),
        (
            "wrong audience",
            vec![bearer(&valid().claim("aud", json!("vaultgate-backend")).sign())],
            "",
            401,
            "wrong_audience",
        ),
        (
            "oversized",
            vec![bearer(&valid().claim("pad", json!("x".repeat(9000))).sign())],
            "",
            401,
            "too_large",
        ),
    ];
    assert!(cases.len() >= 25);
    for (name, auths, query, status, reason) in cases {
        let before = metric(
            &gw.metrics(),
            &format!("vaultgate_gateway_auth_failures_total{{reason=\"{reason}\"}}"),
        );
        let headers: Vec<(&str, &str)> = auths.iter().map(|a| ("Authorization", a.as_str())).collect();
        let r = gw.mcp_post(&headers, query);
        assert_eq!(r.status().as_u16(), status, "{name}");
        if status == 401 {
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            // RFC 6750 §3.1: no error code when no credential was sent.
            let code = reason != "missing";
            assert!(
                www.starts_with("Bearer realm=\"vaultgate\"") && www.contains("error=\"invalid_token\"") == code,
                "{name}: {www}"
            );
        }
        let body: Value = r.json().expect("json body");
        assert_eq!(body["jsonrpc"], "2.0", "{name}: JSON-RPC error on /mcp");
        assert_eq!(body["id"], 42, "{name}: the request's id is echoed");
        let after = metric(
            &gw.metrics(),
            &format!("vaultgate_gateway_auth_failures_total{{reason=\"{reason}\"}}"),
        );
        assert_eq!(after, before + 1.0, "{name}: counted under {reason}");
    }
    assert_eq!(echo.count(), 0, "no refused request reached the upstream");
    let audit = gw.audit_lines();
    assert!(audit.iter().filter(|l| l["event"] == "auth_failure").count() >= 25);
    assert!(!gw.proc_.logs().contains(&good), "a token was logged");

    // And the positive controls: any case of the scheme, extra spaces.
    for h in [
        format!("Bearer {good}"),
        format!("bearer {good}"),
        format!("BEARER   {good}"),
    ] {
        assert_eq!(gw.mcp_post(&[("Authorization", &h)], "").status(), 200, "{h:.12}");
    }
    assert_eq!(echo.count(), 3);
    assert!(
        gw.audit_lines()
            .iter()
            .any(|l| l["event"] == "auth_success" && l["user"] == "alice")
    );
}

#[test]
fn client_identity_headers_are_replaced_by_the_signed_identity() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let tok = gw.token("alice");
    let r = client()
        .post(format!("{}/mcp", gw.url()))
        .header("Authorization", format!("Bearer {tok}"))
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "read_note")
        .header("X-Vault-User", "bob")
        .header("x-vault-user", "carol")
        .header("X-VAULT-IDENTITY", "forged.assertion.here")
        .header("X-Vault-Session", "stolen")
        .header("x-VaUlT-extra", "1")
        .header("X_Vault_User", "mallory")
        .header("x_vault_identity", "forged.assertion.here")
        .header("X-Vault_Session", "stolen")
        .header("X_Request_Id", "spoofed")
        .header("Cookie", "vaultgate_token=abc; theme=dark")
        .header("X-Request-Id", "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_note"}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // The gateway's own id is always fresh; the client's is only logged, under its own name.
    let ours = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(ours, "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    assert!(uuid::Uuid::parse_str(&ours).is_ok());
    assert!(
        r.headers().get("mcp-session-id").is_none(),
        "the backend cannot set a session id"
    );
    let seen = echo.last().unwrap();
    assert_eq!(seen.all("x-vault-user"), ["alice"]);
    assert!(seen.all("x-vault-session").is_empty());
    assert!(seen.all("x-vault-extra").is_empty());
    assert!(seen.all("authorization").is_empty());
    assert_eq!(seen.all("cookie"), ["theme=dark"]);
    assert_eq!(seen.all("mcp-name"), ["read_note"]);
    assert_eq!(seen.all("x-request-id"), [ours.as_str()]);
    // Spellings with `_` that a CGI-style backend reads as the gateway's headers never arrive.
    for (name, _) in &seen.headers {
        assert!(!name.contains('_'), "{name} reached the backend");
    }
    let audit = gw.audit_lines();
    let line = audit
        .iter()
        .find(|l| l["event"] == "auth_success" && l["request_id"] == ours.as_str())
        .expect("the success is audited under the gateway's id");
    assert_eq!(line["client_request_id"], "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    let ids = seen.all("x-vault-identity");
    assert_eq!(ids.len(), 1);
    let key = IdentityKey::new(IDENTITY_SECRET.as_bytes()).unwrap();
    let id = verify_identity(&key, ids[0]).expect("a valid assertion");
    assert_eq!(id.user.as_str(), "alice");
    assert!(id.expires_at <= now() as u64 + 60);

    // A malformed request id is replaced by a fresh UUID.
    let r = client()
        .post(format!("{}/mcp", gw.url()))
        .header("Authorization", format!("Bearer {tok}"))
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("X-Request-Id", "not a uuid\r")
        .body("{}")
        .send();
    if let Ok(r) = r {
        let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&rid).is_ok());
    }
}

#[test]
fn origin_refresh_logout_and_revocation() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let tok = gw.token("alice");
    let auth = format!("Bearer {tok}");
    // Origin: allowed (the public URL) passes, anything else is 403.
    let r = gw.mcp_post(&[("Authorization", &auth), ("Origin", &gw.issuer())], "");
    assert_eq!(r.status(), 200);
    let r = gw.mcp_post(&[("Authorization", &auth), ("Origin", "https://evil.example")], "");
    assert_eq!(r.status(), 403);
    // Refresh needs POST and a valid token, and gives a working token for the same user.
    let r = client()
        .get(format!("{}/api/auth/refresh", gw.url()))
        .header("Authorization", &auth)
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = client().post(format!("{}/api/auth/refresh", gw.url())).send().unwrap();
    assert_eq!(r.status(), 401);
    let r: Value = client()
        .post(format!("{}/api/auth/refresh", gw.url()))
        .header("Authorization", &auth)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let fresh = r["access_token"].as_str().unwrap().to_owned();
    assert_eq!(r["user"], "alice");
    assert_ne!(fresh, tok);
    assert_eq!(
        gw.mcp_post(&[("Authorization", &format!("Bearer {fresh}"))], "")
            .status(),
        200
    );
    // Refresh consumed the old token.
    let before = echo.count();
    assert_eq!(gw.mcp_post(&[("Authorization", &auth)], "").status(), 401);
    // Logout revokes the token it is sent with (only that one).
    let fresh_auth = format!("Bearer {fresh}");
    let r = client()
        .post(format!("{}/api/auth/logout", gw.url()))
        .header("Authorization", &fresh_auth)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw.mcp_post(&[("Authorization", &fresh_auth)], "");
    assert_eq!(r.status(), 401);
    assert_eq!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_auth_failures_total{reason=\"revoked\"}"
        ),
        2.0
    );
    assert_eq!(echo.count(), before);
    let other = format!("Bearer {}", gw.token("alice"));
    assert_eq!(gw.mcp_post(&[("Authorization", &other)], "").status(), 200);
    assert_eq!(
        metric(&gw.metrics(), "vaultgate_gateway_tokens_issued_total{via=\"refresh\"}"),
        1.0
    );
    let events: Vec<String> = gw
        .audit_lines()
        .iter()
        .map(|l| l["event"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        events.contains(&"token_refresh".to_owned()) && events.contains(&"token_revoke".to_owned()),
        "{events:?}"
    );
}

#[test]
fn backend_down_is_a_quick_502_and_recovery_needs_no_restart() {
    let echo = Echo::start();
    let port = echo.port;
    let gw = Gateway::start(&echo.url(), &[]);
    let auth = format!("Bearer {}", gw.token("alice"));
    assert_eq!(gw.mcp_post(&[("Authorization", &auth)], "").status(), 200);
    drop(echo);
    let started = Instant::now();
    let r = gw.mcp_post(&[("Authorization", &auth)], "");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "502 took {:?}",
        started.elapsed()
    );
    assert_mcp_502(r);
    assert_eq!(
        client().get(format!("{}/readyz", gw.url())).send().unwrap().status(),
        503
    );
    assert_eq!(
        client().get(format!("{}/healthz", gw.url())).send().unwrap().status(),
        200
    );
    // REST routes get the shared error body.
    gw.assert_rest_502(&auth);
    assert!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_upstream_errors_total{kind=\"connect\"}"
        ) >= 2.0
    );
    let _echo = Echo::start_on(port);
    assert_eq!(gw.mcp_post(&[("Authorization", &auth)], "").status(), 200);
    assert_eq!(
        client().get(format!("{}/readyz", gw.url())).send().unwrap().status(),
        200
    );
}

#[test]
fn slow_backend_is_a_504() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("UPSTREAM_TIMEOUT", "1s")]);
    let auth = format!("Bearer {}", gw.token("alice"));
    let r = gw.mcp_post(&[("Authorization", &auth), ("x-echo-delay-ms", "4000")], "");
    assert_eq!(r.status(), 504);
    assert_eq!(
        metric(
            &gw.metrics(),
            "vaultgate_gateway_upstream_errors_total{kind=\"timeout\"}"
        ),
        1.0
    );
}

#[test]
fn metrics_names_and_the_public_metrics_switch() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    assert_eq!(
        client().get(format!("{}/metrics", gw.url())).send().unwrap().status(),
        404
    );
    let auth = format!("Bearer {}", gw.token("alice"));
    assert_eq!(gw.mcp_post(&[("Authorization", &auth)], "").status(), 200);
    let text = gw.metrics();
    for name in DESIGN_METRICS.iter().filter(|m| m.starts_with("vaultgate_gateway_")) {
        assert!(text.contains(&format!("# TYPE {name} ")), "missing {name}");
    }
    assert_eq!(
        metric(
            &text,
            "vaultgate_gateway_requests_total{method=\"POST\",route=\"mcp\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "vaultgate_gateway_mcp_requests_total{era=\"modern\",method=\"tools/list\"}"
        ),
        1.0
    );
    assert!(!text.contains("alice"), "a user id leaked into a label");
    drop(gw);
    let gw = Gateway::start(&echo.url(), &[("METRICS_TOKEN", "metrics-token-0123456789")]);
    assert_eq!(
        client().get(format!("{}/metrics", gw.url())).send().unwrap().status(),
        401
    );
    let r = client()
        .get(format!("{}/metrics", gw.url()))
        .header("Authorization", "Bearer metrics-token-0123456789")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("vaultgate_gateway_requests_total"));
}

#[test]
fn space_mode_refuses_weak_keys_and_mint_token_works() {
    let out = std::process::Command::new(bin("vaultgate-gateway"))
        .env_clear()
        .env("MODE", "space")
        .env("IDENTITY_SECRET", IDENTITY_SECRET)
        .env("JWT_SECRET_KEY", "too-short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("JWT_SECRET_KEY") && err.contains("openssl rand"), "{err}");

    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let out = std::process::Command::new(bin("vaultgate-gateway"))
        .env_clear()
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .env("PUBLIC_URL", gw.issuer())
        .args(["mint-token", "--user", "op_user-1", "--ttl", "1h"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(
        gw.mcp_post(&[("Authorization", &format!("Bearer {token}"))], "")
            .status(),
        200
    );
    assert_eq!(echo.last().unwrap().all("x-vault-user"), ["op_user-1"]);
    let bad = std::process::Command::new(bin("vaultgate-gateway"))
        .env_clear()
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .args(["mint-token", "--user", "../root"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn usage_report_answers_who_without_per_user_labels() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    for (user, n) in [("heavy", 5), ("light", 1)] {
        let auth = format!("Bearer {}", gw.token(user));
        for _ in 0..n {
            assert_eq!(gw.mcp_post(&[("Authorization", &auth)], "").status(), 200);
        }
    }
    let usage: Value = client()
        .get(format!("http://127.0.0.1:{}/admin/usage?top=1", gw.admin_port))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(usage["active_users_1h"], 2);
    assert_eq!(usage["active_users_24h"], 2);
    assert_eq!(usage["top_users"].as_array().unwrap().len(), 1);
    assert_eq!(usage["top_users"][0]["user"], "heavy");
    assert_eq!(usage["top_users"][0]["requests_24h"], 5);
    // Not on the public port.
    let r = client().get(format!("{}/admin/usage", gw.url())).send().unwrap();
    assert_eq!(r.status(), 401);
    // The CLI asks the same endpoint.
    let out = std::process::Command::new(bin("vaultgate-gateway"))
        .env_clear()
        .env("ADMIN_ADDR", format!("127.0.0.1:{}", gw.admin_port))
        .args(["usage", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["top_users"][1]["user"], "light");
    let text = gw.metrics();
    assert!(text.contains("vaultgate_gateway_active_users{window=\"24h\"} 2"));
    assert!(!text.contains("heavy"), "no per-user labels");
}
