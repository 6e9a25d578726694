//! Token lifetime end to end: every token descends from a sign-in, refresh keeps that time and
//! revokes what it consumed, no lineage outlives `MAX_SESSION_AGE` (or the Hugging Face token it
//! came from), and `revoke --user` reaches Hugging Face tokens too.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use vaultgate_tests::echo::{Echo, HF_USERS};
use vaultgate_tests::tokens::{TokenSpec, now};
use vaultgate_tests::{Gateway, IDENTITY_SECRET, JWT_SECRET, bin, client};

const DAY: i64 = 86_400;

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn post_mcp(gw: &Gateway, token: &str) -> u16 {
    client()
        .post(format!("{}/mcp", gw.url()))
        .bearer_auth(token)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn refresh(gw: &Gateway, token: &str) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/api/auth/refresh", gw.url()))
        .bearer_auth(token)
        .send()
        .unwrap()
}

#[test]
fn refresh_keeps_the_sign_in_time_and_revokes_the_token_it_consumed() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[]);
    let first = gw.token("alice");
    let signed_in = claims(&first)["iat"].clone();
    let r = refresh(&gw, &first);
    assert_eq!(r.status(), 200);
    let second = r.json::<Value>().unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&second)["auth_time"], signed_in, "the sign-in time travels on");
    assert_eq!(post_mcp(&gw, &second), 200);
    assert_eq!(post_mcp(&gw, &first), 401, "the consumed token is revoked");
    assert_eq!(refresh(&gw, &first).status(), 401, "and cannot be refreshed twice");
    let third: Value = refresh(&gw, &second).json().unwrap();
    assert_eq!(claims(third["access_token"].as_str().unwrap())["auth_time"], signed_in);
}

#[test]
fn no_refresh_past_the_maximum_session_age() {
    let echo = Echo::start();
    let gw = Gateway::start(&echo.url(), &[("MAX_SESSION_AGE", "2h")]);
    let with_auth_time = |ago: i64| {
        TokenSpec::valid("alice", &gw.issuer())
            .claim("auth_time", json!(now() - ago))
            .sign()
    };
    for (ago, want) in [
        (0, 200),
        (3600, 200),
        (2 * 3600 - 30, 401), // within the last minute of the lineage: nothing left to mint
        (2 * 3600 + 1, 401),
        (400 * DAY, 401),
    ] {
        let token = with_auth_time(ago);
        let r = refresh(&gw, &token);
        assert_eq!(r.status(), want, "signed in {ago} s ago");
        if want == 200 {
            let fresh = r.json::<Value>().unwrap()["access_token"].as_str().unwrap().to_owned();
            let exp = claims(&fresh)["exp"].as_i64().unwrap();
            assert!(exp <= now() - ago + 2 * 3600 + 1, "the new token ends with the lineage");
        } else {
            assert!(
                r.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .contains("invalid_token")
            );
            assert_eq!(post_mcp(&gw, &token), 200, "the token itself lives out its own exp");
        }
    }
    // A token older than the setting (without auth_time) counts from its own iat.
    let old = TokenSpec::valid("alice", &gw.issuer())
        .claim("iat", json!(now() - 3 * 3600))
        .claim("nbf", json!(now() - 3 * 3600))
        .sign();
    assert_eq!(refresh(&gw, &old).status(), 401);
}

#[test]
fn tokens_from_a_hugging_face_token_are_bounded_and_revoke_user_reaches_hf_tokens() {
    let upstream = Echo::start();
    let hf = Echo::start();
    let gw = Gateway::start(&upstream.url(), &[("HF_API_URL", &hf.url())]);
    let (hf_token, id, ..) = HF_USERS[0];
    let exchanged: Value = client()
        .post(format!("{}/api/auth/token", gw.url()))
        .bearer_auth(hf_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = exchanged["access_token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert!(exchanged["expires_in"].as_i64().unwrap() <= 8 * 3600, "{exchanged}");
    assert_eq!(c["idp"], "hf");
    let max_exp = c["max_exp"].as_i64().expect("bounded by the HF token");
    let refreshed: Value = refresh(&gw, &token).json().unwrap();
    let again = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims(again)["max_exp"], max_exp, "refresh cannot extend the bound");
    assert!(claims(again)["exp"].as_i64().unwrap() <= max_exp);
    assert_eq!(post_mcp(&gw, hf_token), 200);

    // `revoke --user` with the account id: the HF token and the tokens made from it stop.
    std::thread::sleep(Duration::from_millis(1100));
    let out: Output = Command::new(bin("vaultgate-gateway"))
        .env_clear()
        .env("IDENTITY_SECRET", IDENTITY_SECRET)
        .env("JWT_SECRET_KEY", JWT_SECRET)
        .env("GATEWAY_STATE_PATH", gw.state.path().join("gateway.db"))
        .args(["revoke", "--user", id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(5);
    while post_mcp(&gw, hf_token) != 401 || post_mcp(&gw, again) != 401 {
        assert!(Instant::now() < deadline, "the revoked user's HF token still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Another Hugging Face user is untouched.
    assert_eq!(post_mcp(&gw, HF_USERS[1].0), 200);
}
