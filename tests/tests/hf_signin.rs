//! Signing in with Hugging Face (OAuth code + PKCE + state) against a fake provider, the
//! local-mode sign-in, and the web page's routes. No real network.

use std::time::Duration;

use serde_json::Value;
use vaultgate_tests::oidc::{self, CLIENT_ID, CLIENT_SECRET, Consent, FakeOidc, FakeUser};
use vaultgate_tests::{Backend, Gateway, metric};

const ALICE: &str = "64b0000000000000000000a1";
const BOB: &str = "64b0000000000000000000b2";
const CAROL: &str = "64b0000000000000000000c3";

fn alice() -> FakeUser {
    FakeUser::new(ALICE, "alice", &[])
}

/// A client that shows redirects instead of following them.
fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn gateway(backend: &str, provider: &str, extra: &[(&str, &str)]) -> Gateway {
    let mut env = vec![
        ("OPENID_PROVIDER_URL", provider),
        ("OAUTH_CLIENT_ID", CLIENT_ID),
        ("OAUTH_CLIENT_SECRET", CLIENT_SECRET),
    ];
    env.extend_from_slice(extra);
    Gateway::start(backend, &env)
}

fn cookie(resp: &reqwest::blocking::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| (v.trim().to_owned(), attrs.trim().to_owned()))
        })
}

fn location(resp: &reqwest::blocking::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// `/auth/login`: the provider URL to visit and the state cookie.
fn start_login(gw: &Gateway) -> (String, String) {
    let r = http().get(format!("{}/auth/login", gw.url())).send().unwrap();
    assert_eq!(r.status(), 302);
    let (state_cookie, attrs) = cookie(&r, "vaultgate_oauth").expect("state cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=None", "Path=/auth"] {
        assert!(attrs.contains(attr), "{attrs}");
    }
    (location(&r), state_cookie)
}

/// What the provider redirects the browser to (the gateway's callback, on 127.0.0.1).
fn consent(gw: &Gateway, authorize_url: &str) -> String {
    let r = http().get(authorize_url).send().unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text());
    let back = location(&r);
    let expected = format!("http://localhost:{}/auth/callback?", gw.port);
    assert!(back.starts_with(&expected), "{back}");
    back.replacen("http://localhost", "http://127.0.0.1", 1)
}

fn callback(url: &str, state_cookie: Option<&str>) -> reqwest::blocking::Response {
    let mut req = http().get(url);
    if let Some(c) = state_cookie {
        req = req.header("cookie", format!("vaultgate_oauth={c}"));
    }
    req.send().unwrap()
}

/// The whole flow; returns the session cookie's token.
fn sign_in(gw: &Gateway) -> String {
    let (authorize, state_cookie) = start_login(gw);
    let back = consent(gw, &authorize);
    let r = callback(&back, Some(&state_cookie));
    assert_eq!(r.status(), 302, "{:?}", r.text());
    assert_eq!(location(&r), "/");
    let (token, attrs) = cookie(&r, "vaultgate_token").expect("session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(attrs.contains(attr), "{attrs}");
    }
    let (cleared, _) = cookie(&r, "vaultgate_oauth").expect("state cookie cleared");
    assert!(cleared.is_empty());
    token
}

fn with_cookie(req: reqwest::blocking::RequestBuilder, token: &str) -> reqwest::blocking::RequestBuilder {
    req.header("cookie", format!("vaultgate_token={token}"))
}

#[test]
fn sign_in_with_hugging_face_end_to_end() {
    let backend = Backend::start();
    let provider = FakeOidc::start(alice());
    let gw = gateway(&backend.url(), &provider.url(), &[]);
    let origin = format!("http://localhost:{}", gw.port);

    let cfg: Value = http()
        .get(format!("{}/auth/config", gw.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["signin"], "huggingface");
    assert_eq!(cfg["mcp_url"], format!("http://localhost:{}/mcp", gw.port));

    let (authorize, state_cookie) = start_login(&gw);
    assert!(
        authorize.starts_with(&format!("{}/oauth/authorize?", provider.url())),
        "{authorize}"
    );
    let q = oidc::query_of(&authorize);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid profile");
    assert_eq!(q["redirect_uri"], format!("http://localhost:{}/auth/callback", gw.port));
    assert_eq!(q["code_challenge_method"], "S256");
    let (state, verifier) = state_cookie.split_once('.').unwrap();
    assert_eq!(q["state"], state);
    assert!(
        state.len() >= 43 && verifier.len() >= 43,
        "state and verifier carry ≥256 bits"
    );
    assert_ne!(q["code_challenge"], verifier, "only the challenge leaves the gateway");
    assert!(provider.discovery_hits() >= 1, "endpoints come from discovery");

    let back = consent(&gw, &authorize);
    let r = callback(&back, Some(&state_cookie));
    assert_eq!(r.status(), 302);
    let (token, _) = cookie(&r, "vaultgate_token").unwrap();

    // The cookie is a session for the provider's account id.
    let me: Value = with_cookie(http().get(format!("{}/api/auth/session", gw.url())), &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], ALICE);
    assert_eq!(me["name"], "alice");
    assert_eq!(me["via"], "cookie");
    let me: Value = with_cookie(http().get(format!("{}/api/me", gw.url())), &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], ALICE, "the backend sees the same user");

    // State-changing calls by cookie need the page's Origin (CSRF).
    let note = format!("{}/api/notes/inbox/hello.md", gw.url());
    let r = with_cookie(http().put(&note), &token)
        .json(&serde_json::json!({"body": "hi"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = with_cookie(http().put(&note), &token)
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"body": "hi"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = with_cookie(http().put(&note), &token)
        .header("origin", &origin)
        .json(&serde_json::json!({"body": "hi"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    // A token for an MCP client, made from the session; the page's cookie stays.
    let r = with_cookie(http().post(format!("{}/api/auth/token", gw.url())), &token)
        .header("origin", &origin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(cookie(&r, "vaultgate_token").is_none());
    let client_token = r.json::<Value>().unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(client_token, token);
    let me: Value = http()
        .get(format!("{}/api/me", gw.url()))
        .bearer_auth(&client_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], ALICE);

    // A code is good once: replaying the callback fails at the provider.
    let r = callback(&back, Some(&state_cookie));
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(cookie(&r, "vaultgate_token").is_none());
    assert_eq!(provider.token_failures(), ["code"]);

    let m = gw.metrics();
    assert_eq!(metric(&m, "vaultgate_gateway_signins_total{outcome=\"success\"}"), 1.0);
    assert_eq!(
        metric(&m, "vaultgate_gateway_signins_total{outcome=\"provider_error\"}"),
        1.0
    );
    assert_eq!(metric(&m, "vaultgate_gateway_tokens_issued_total{via=\"oauth\"}"), 1.0);
    let audit = gw.audit_lines();
    assert!(
        audit
            .iter()
            .any(|a| a["event"] == "signin" && a["outcome"] == "success" && a["user"] == ALICE)
    );

    // Sign out: the session cookie is revoked and cleared; the client token lives on.
    let r = with_cookie(http().post(format!("{}/api/auth/logout", gw.url())), &token)
        .header("origin", &origin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cookie(&r, "vaultgate_token").unwrap().0, "");
    let r = with_cookie(http().get(format!("{}/api/auth/session", gw.url())), &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .get(format!("{}/api/me", gw.url()))
        .bearer_auth(&client_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn state_must_match_the_browser_that_started() {
    let backend = Backend::start();
    let provider = FakeOidc::start(alice());
    let gw = gateway(&backend.url(), &provider.url(), &[]);
    let (first, first_cookie) = start_login(&gw);
    let (_second, second_cookie) = start_login(&gw);
    let back = consent(&gw, &first);
    // Another browser's state cookie, no cookie at all, a tampered state in the URL.
    let tampered = back.replace("state=", "state=x");
    for (url, c) in [
        (back.as_str(), Some(second_cookie.as_str())),
        (back.as_str(), None),
        (tampered.as_str(), Some(first_cookie.as_str())),
        (back.as_str(), Some("no-dot-in-here")),
    ] {
        let r = callback(url, c);
        assert_eq!(r.status(), 400, "{url} {c:?}");
        assert!(cookie(&r, "vaultgate_token").is_none());
        let page = r.text().unwrap();
        assert!(page.contains("<h1>") && page.contains("sign in again"), "{page}");
    }
    assert!(
        provider.token_failures().is_empty(),
        "bad state never reaches the token endpoint"
    );
    let m = gw.metrics();
    assert_eq!(
        metric(&m, "vaultgate_gateway_signins_total{outcome=\"bad_state\"}"),
        4.0
    );
    // The right browser can still finish.
    let r = callback(&back, Some(&first_cookie));
    assert_eq!(r.status(), 302);
}

#[test]
fn pkce_verifier_is_checked_by_the_provider() {
    let backend = Backend::start();
    let provider = FakeOidc::start(alice());
    let gw = gateway(&backend.url(), &provider.url(), &[]);
    let (authorize, state_cookie) = start_login(&gw);
    let back = consent(&gw, &authorize);
    let (state, _) = state_cookie.split_once('.').unwrap();
    let forged = format!("{state}.{}", "A".repeat(64));
    let r = callback(&back, Some(&forged));
    assert_eq!(r.status(), 400);
    assert!(cookie(&r, "vaultgate_token").is_none());
    assert_eq!(provider.token_failures(), ["pkce"]);
}

#[test]
fn denied_consent_and_provider_down_show_a_page() {
    let backend = Backend::start();
    let provider = FakeOidc::start(alice());
    let gw = gateway(&backend.url(), &provider.url(), &[]);
    provider.set_consent(Consent::Deny);
    let (authorize, state_cookie) = start_login(&gw);
    let back = consent(&gw, &authorize);
    let r = callback(&back, Some(&state_cookie));
    assert_eq!(r.status(), 403);
    assert!(r.headers().contains_key("content-security-policy"));
    assert!(r.text().unwrap().contains("Sign-in cancelled"));
    assert_eq!(
        metric(&gw.metrics(), "vaultgate_gateway_signins_total{outcome=\"denied\"}"),
        1.0
    );
    assert!(
        gw.audit_lines()
            .iter()
            .any(|a| a["event"] == "signin" && a["outcome"] == "denied" && a["detail"] == "access_denied")
    );

    // The provider goes away between login and callback.
    provider.set_consent(Consent::Approve(alice()));
    let (authorize, state_cookie) = start_login(&gw);
    let back = consent(&gw, &authorize);
    drop(provider);
    let r = callback(&back, Some(&state_cookie));
    assert_eq!(r.status(), 502);
    assert!(r.text().unwrap().contains("could not be reached"));

    // Provider unreachable from the start: login still redirects (to the default endpoints).
    let dead = format!("http://127.0.0.1:{}", vaultgate_tests::free_port());
    let gw2 = gateway(&backend.url(), &dead, &[]);
    let (authorize, _) = start_login(&gw2);
    assert!(
        authorize.starts_with(&format!("{dead}/oauth/authorize?")),
        "{authorize}"
    );
}

#[test]
fn allowed_users_and_orgs_restrict_sign_in() {
    let backend = Backend::start();
    let provider = FakeOidc::start(FakeUser::new(BOB, "bob", &["other"]));
    let gw = gateway(
        &backend.url(),
        &provider.url(),
        &[("ALLOWED_USERS", "alice"), ("ALLOWED_ORGS", "team")],
    );
    let (authorize, state_cookie) = start_login(&gw);
    let back = consent(&gw, &authorize);
    let r = callback(&back, Some(&state_cookie));
    assert_eq!(r.status(), 403);
    assert!(cookie(&r, "vaultgate_token").is_none());
    assert!(r.text().unwrap().contains("Not allowed"));

    provider.set_consent(Consent::Approve(alice()));
    sign_in(&gw);
    provider.set_consent(Consent::Approve(FakeUser::new(CAROL, "carol", &["Team"])));
    let token = sign_in(&gw);
    let me: Value = with_cookie(http().get(format!("{}/api/auth/session", gw.url())), &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], CAROL);
    let m = gw.metrics();
    assert_eq!(
        metric(&m, "vaultgate_gateway_signins_total{outcome=\"forbidden\"}"),
        1.0
    );
    assert_eq!(metric(&m, "vaultgate_gateway_signins_total{outcome=\"success\"}"), 2.0);
}

#[test]
fn without_a_configured_code_the_gateway_prints_a_random_sign_in_link() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let prefix = format!("http://localhost:{}/?code=", gw.port);
    let logs = gw.proc_.logs();
    let code = logs
        .split(&prefix)
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect::<String>())
        .unwrap_or_else(|| panic!("no sign-in link in the logs: {logs}"));
    assert_eq!(code.len(), 32, "{code}");
    let origin = format!("http://localhost:{}", gw.port);
    let post = |code: &str| {
        http()
            .post(format!("{}/auth/local", gw.url()))
            .header("origin", &origin)
            .header("x-vaultgate-local-code", code)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(post(&code[..31]), 403);
    assert_eq!(post(&code), 200);
}

#[test]
fn local_mode_offers_continue_as_local_user() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[("LOCAL_SIGNIN_CODE", "code-for-this-test")]);
    let origin = format!("http://localhost:{}", gw.port);
    let cfg: Value = http()
        .get(format!("{}/auth/config", gw.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["signin"], "local");
    assert_eq!(
        http().get(format!("{}/auth/login", gw.url())).send().unwrap().status(),
        404
    );
    let r = http().post(format!("{}/auth/local", gw.url())).send().unwrap();
    assert_eq!(r.status(), 403, "needs the page's Origin");
    let r = http().get(format!("{}/auth/local", gw.url())).send().unwrap();
    assert_eq!(r.status(), 405);
    let r = http()
        .post(format!("{}/auth/local", gw.url()))
        .header("origin", &origin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "needs the start-up code");
    let r = http()
        .post(format!("{}/auth/local", gw.url()))
        .header("origin", &origin)
        .header("x-vaultgate-local-code", "code-for-this-test")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (token, _) = cookie(&r, "vaultgate_token").unwrap();
    let me: Value = with_cookie(http().get(format!("{}/api/me", gw.url())), &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["user"], "local");

    // MODE=space never offers it.
    let space = Gateway::start(&backend.url(), &[("MODE", "space")]);
    let cfg: Value = http()
        .get(format!("{}/auth/config", space.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["signin"], "none");
    let r = http()
        .post(format!("{}/auth/local", space.url()))
        .header("origin", format!("http://localhost:{}", space.port))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn the_page_is_served_with_a_strict_policy() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    let r = http().get(format!("{}/", gw.url())).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors"),
        "{csp}"
    );
    assert!(r.text().unwrap().contains("/static/app.js"));
    for (path, ctype) in [("/static/app.js", "text/javascript"), ("/static/app.css", "text/css")] {
        let r = http().get(format!("{}{path}", gw.url())).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(ctype));
    }
    assert_eq!(
        http()
            .get(format!("{}/static/nope.js", gw.url()))
            .send()
            .unwrap()
            .status(),
        404
    );
    // Without the page, `/` belongs to the backend (and needs a token like any forwarded route).
    let off = Gateway::start(&backend.url(), &[("WEB_UI", "false")]);
    assert_eq!(http().get(format!("{}/", off.url())).send().unwrap().status(), 401);
}
