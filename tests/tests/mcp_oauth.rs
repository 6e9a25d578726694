//! `MCP_OAUTH=huggingface`: RFC 9728 metadata, the `resource_metadata` challenge, and a real
//! OAuth-capable MCP client (the official Python SDK) that starts with only the URL, signs in
//! at a fake Hugging Face authorization server and works as the right user.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vaultgate_tests::oidc::{Consent, FakeOidc, FakeUser};
use vaultgate_tests::{Backend, Gateway, client, tools};

const ALICE: &str = "64c0000000000000000000a1";
const BOB: &str = "64c0000000000000000000b2";

fn oauth_gateway(backend: &str, provider: &FakeOidc, extra: &[(&str, &str)]) -> Gateway {
    let url = provider.url();
    let mut env = vec![
        ("MCP_OAUTH", "huggingface"),
        ("OPENID_PROVIDER_URL", url.as_str()),
        ("HF_API_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    Gateway::start(backend, &env)
}

fn unauthenticated_mcp(gw: &Gateway) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/mcp", gw.url()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
        .send()
        .unwrap()
}

#[test]
fn metadata_and_challenge_follow_rfc9728() {
    let backend = Backend::start();
    let provider = FakeOidc::start(FakeUser::new(ALICE, "alice", &[]));
    let gw = oauth_gateway(&backend.url(), &provider, &[]);
    let public = format!("http://localhost:{}", gw.port);
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let r = client()
            .get(format!("{}{path}", gw.url()))
            .header("origin", "http://localhost:6274")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let m: Value = r.json().unwrap();
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6, "exactly the documented fields: {keys:?}");
        assert_eq!(m["resource"], format!("{public}/mcp"), "the URL clients use");
        assert_eq!(m["authorization_servers"], serde_json::json!([provider.url()]));
        assert_eq!(m["scopes_supported"], serde_json::json!(["openid", "profile"]));
        assert_eq!(m["bearer_methods_supported"], serde_json::json!(["header"]));
        assert!(m["resource_name"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(m["resource_documentation"], format!("{public}/"));
    }
    let r = unauthenticated_mcp(&gw);
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.starts_with("Bearer "), "{www}");
    assert!(
        www.contains(&format!(
            "resource_metadata=\"{public}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{www}"
    );
    assert!(www.contains("scope=\"openid profile\""), "{www}");
    assert!(
        !www.contains("error="),
        "no credential, no error code (RFC 6750 §3.1): {www}"
    );
    assert_eq!(r.json::<Value>().unwrap()["id"], 1, "still a JSON-RPC error body");
    // A credential sent and refused: the error code, and still where to sign in.
    let r = client()
        .post(format!("{}/mcp", gw.url()))
        .bearer_auth("not-a-token")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.contains("error=\"invalid_token\"") && www.contains("resource_metadata="),
        "{www}"
    );

    // Gateway tokens keep working next to OAuth.
    let r = client()
        .post(format!("{}/mcp", gw.url()))
        .bearer_auth(gw.token("carol"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // The page says so.
    let cfg: Value = client()
        .get(format!("{}/auth/config", gw.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["mcp_oauth"], true);
}

#[test]
fn off_by_default_publishes_nothing() {
    let backend = Backend::start();
    let gw = Gateway::start(&backend.url(), &[]);
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        assert_eq!(
            client().get(format!("{}{path}", gw.url())).send().unwrap().status(),
            404,
            "{path}"
        );
    }
    let r = unauthenticated_mcp(&gw);
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(!www.contains("resource_metadata"), "{www}");
    let cfg: Value = client()
        .get(format!("{}/auth/config", gw.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cfg["mcp_oauth"], false);
}

#[test]
fn hf_tokens_oauth_refuses_personal_access_tokens() {
    let upstream = vaultgate_tests::echo::Echo::start();
    let hf = vaultgate_tests::echo::Echo::start();
    let gw = Gateway::start(&upstream.url(), &[("HF_API_URL", &hf.url()), ("HF_TOKENS", "oauth")]);
    let (pat, ..) = vaultgate_tests::echo::HF_USERS[0];
    let r = client()
        .get(format!("{}/api/me", gw.url()))
        .bearer_auth(pat)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("personal access tokens"));
    assert_eq!(upstream.count(), 0);
    assert_eq!(hf.count(), 0, "refused without asking Hugging Face");
}

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VAULTGATE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let p = root.join("target/py-oauth/bin/python");
    p.exists().then_some(p)
}

fn run_client(py: &Path, url: &str, note: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("oauth/mcp_oauth_client.py");
    let out = Command::new(py)
        .arg(&script)
        .arg(url)
        .arg(note)
        .arg(format!("written by the owner of {note}"))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "OAuth client failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("one JSON line")
}

#[test]
fn a_client_with_only_the_url_signs_in_with_hugging_face() {
    let Some(py) = tools::require(
        python(),
        "a Python with the MCP SDK in target/py-oauth",
        "python3 -m venv target/py-oauth && target/py-oauth/bin/pip install -r tests/oauth/requirements.txt",
    ) else {
        return;
    };
    let backend = Backend::start();
    let provider = FakeOidc::start(FakeUser::new(ALICE, "alice", &[]));
    let gw = oauth_gateway(&backend.url(), &provider, &[("HF_TOKENS", "oauth")]);
    let url = format!("http://localhost:{}/mcp", gw.port);

    let alice = run_client(&py, &url, "alice/secret.md");
    assert_eq!(alice["registered"], true, "the client registered itself");
    assert!(
        alice["tools"].as_array().unwrap().iter().any(|t| t == "search_notes"),
        "{alice}"
    );
    assert_eq!(alice["paths"], serde_json::json!(["alice/secret.md"]));

    provider.set_consent(Consent::Approve(FakeUser::new(BOB, "bob", &[])));
    let bob = run_client(&py, &url, "bob/own.md");
    assert_eq!(
        bob["paths"],
        serde_json::json!(["bob/own.md"]),
        "bob sees only his own notes"
    );

    // The backend saw the Hugging Face account ids, never the Hugging Face tokens.
    let audit = gw.audit_lines();
    for user in [ALICE, BOB] {
        assert!(
            audit.iter().any(|a| a["event"] == "auth_success" && a["user"] == user),
            "{user} authenticated"
        );
    }
    assert!(!gw.proc_.logs().contains("hf_oauth_"), "no token in the logs");
}
