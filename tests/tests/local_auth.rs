//! LOCAL_AUTH_USER end to end: on a loopback gateway a request without any credential acts as
//! the configured user; a bad token is still refused and never forwarded; a gateway that could
//! be reached from elsewhere refuses to start with it.

use std::process::Command;
use std::time::{Duration, Instant};

use vaultgate_shared::identity::{IdentityKey, verify_identity};
use vaultgate_tests::echo::Echo;
use vaultgate_tests::{Gateway, IDENTITY_SECRET, JWT_SECRET, Proc, bin, client, free_port};

fn post(gw: &Gateway, auth: Option<&str>) -> reqwest::blocking::Response {
    let mut rb = client()
        .post(format!("{}/mcp", gw.url()))
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    if let Some(a) = auth {
        rb = rb.header("Authorization", a);
    }
    rb.send().unwrap()
}

#[test]
fn no_credential_acts_as_the_local_user_but_a_bad_token_is_refused() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("LOCAL_AUTH_USER", "conformance")]);
    assert_eq!(post(&gw, None).status(), 200);
    let seen = echo.last().expect("forwarded");
    let key = IdentityKey::new(IDENTITY_SECRET.as_bytes()).unwrap();
    let id = verify_identity(&key, seen.all("x-vault-identity")[0]).expect("a valid assertion");
    assert_eq!(id.user.as_str(), "conformance");

    // A real token still names its own user.
    assert_eq!(post(&gw, Some(&format!("Bearer {}", gw.token("alice")))).status(), 200);
    assert_eq!(echo.last().unwrap().all("x-vault-user"), ["alice"]);

    let forwarded = echo.count();
    for bad in ["Bearer not.a.token", "Basic dXNlcjpwYXNz", "Bearer"] {
        assert_eq!(post(&gw, Some(bad)).status(), 401, "{bad}");
    }
    assert_eq!(echo.count(), forwarded, "refused requests never reach the backend");
}

#[test]
fn the_gateway_refuses_to_start_with_it_on_a_public_listener_or_in_space_mode() {
    for (listen, mode) in [("0.0.0.0", "local"), ("127.0.0.1", "space")] {
        let mut cmd = Command::new(bin("vaultgate-gateway"));
        cmd.env_clear()
            .env("LOCAL_AUTH_USER", "conformance")
            .env("LISTEN_HOST", listen)
            .env("MODE", mode)
            .env("IDENTITY_SECRET", IDENTITY_SECRET)
            .env("JWT_SECRET_KEY", JWT_SECRET)
            .env("PORT", free_port().to_string())
            .env("ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("GATEWAY_STATE", "memory");
        let mut p = Proc::spawn(cmd, "gateway");
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.alive() {
            assert!(
                Instant::now() < deadline,
                "{listen} {mode}: the gateway started:\n{}",
                p.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let err = p.logs();
        assert!(err.contains("LOCAL_AUTH_USER is refused"), "{listen} {mode}: {err}");
    }
}
