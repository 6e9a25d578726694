//! The backend conformance kit: checks that a backend honours the gateway → backend
//! contract (docs/backend-contract.md), talking to it directly the way the gateway does.
//!
//! ```text
//! BACKEND_URL=http://127.0.0.1:8001 IDENTITY_SECRET=… cargo test -p vaultgate-tests --test backend_contract
//! ```
//!
//! Without `BACKEND_URL` it starts our own backend (so it runs in `cargo test --workspace`).
//! Other settings, all optional:
//!
//! - `BACKEND_MCP_PATH` (default `/mcp`): the backend's MCP endpoint.
//! - `CONTRACT_ERAS` (default `legacy,modern`): MCP protocol eras to speak (`legacy` = 2025-06-18
//!   behind a gateway session, `modern` = 2026-07-28).
//! - `CONTRACT_TOOLS` (JSON): the tools the data-scoping check calls, default
//!   `{"write":{"tool":"write_note","arguments":{"path":"{key}.md","body":"{secret}"}},
//!   "reads":[{"tool":"read_note","arguments":{"path":"{key}.md"}},{"tool":"list_notes","arguments":{}}]}`.
//!   `{key}` and `{secret}` in any argument string are replaced by fresh random markers.
//!
//! The scoping rule, which any per-user store can meet: after A writes (key, secret), every
//! read by A shows a marker it could not have echoed from its own arguments (the secret, or
//! the key when the read's arguments do not name it), and no read by B shows any such marker
//! of A's — also after B has written its own secret under the same key.

use std::time::Duration;

use serde_json::{Value, json};
use vaultgate_shared::headers;
use vaultgate_shared::identity::{AUDIENCE, ISSUER};
use vaultgate_tests::tokens::{TokenSpec, now};
use vaultgate_tests::{Backend, IDENTITY_SECRET, client};

/// The backend under test: given by `BACKEND_URL`, or our own started for the test.
struct Target {
    base: String,
    mcp_path: String,
    secret: String,
    _own: Option<Backend>,
}

impl Target {
    fn get() -> Self {
        let mcp_path = std::env::var("BACKEND_MCP_PATH").unwrap_or_else(|_| "/mcp".to_owned());
        match std::env::var("BACKEND_URL") {
            Ok(url) if !url.is_empty() => {
                let secret = std::env::var("IDENTITY_SECRET")
                    .expect("IDENTITY_SECRET must be set to the backend's secret when BACKEND_URL is");
                Self {
                    base: url.trim_end_matches('/').to_owned(),
                    mcp_path,
                    secret,
                    _own: None,
                }
            }
            _ => {
                let b = Backend::start();
                Self {
                    base: b.url(),
                    mcp_path,
                    secret: IDENTITY_SECRET.to_owned(),
                    _own: Some(b),
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An assertion exactly as the gateway signs one.
    fn claims(&self, user: &str, sid: Option<&str>) -> TokenSpec {
        let t = now();
        let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": user, "iat": t, "exp": t + 60,
                                "jti": uuid::Uuid::new_v4().to_string()});
        if let Some(s) = sid {
            claims["sid"] = json!(s);
        }
        TokenSpec {
            header: json!({"alg": "HS256", "typ": "JWT"}),
            claims,
            secret: self.secret.clone(),
        }
    }
}

/// How a hostile request presents itself: the assertion header(s), the user header(s),
/// and anything else it adds.
struct Presented {
    identity: Vec<String>,
    user: Vec<String>,
    extra: Vec<(&'static str, String)>,
}

fn with(identity: &[String], user: &[&str]) -> Presented {
    Presented {
        identity: identity.to_vec(),
        user: user.iter().map(|u| u.to_string()).collect(),
        extra: vec![],
    }
}

fn b64(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Every presentation a backend must refuse with 401.
fn hostile_table(t: &Target) -> Vec<(&'static str, Presented)> {
    let alice = "alice";
    let valid = t.claims(alice, None);
    let n = now();
    let signed = |f: &dyn Fn(TokenSpec) -> TokenSpec| f(t.claims(alice, None)).sign();
    let without = |claim: &str| t.claims(alice, None).claim(claim, Value::Null).sign();
    let tampered = {
        let token = valid.sign();
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = valid.claims.clone();
        c["sub"] = json!("bob");
        format!("{}.{}.{}", parts[0], b64(&c), parts[2])
    };
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&valid.claims));
    let alg_none_upper = format!("{}.{}.", b64(&json!({"alg": "NONE"})), b64(&valid.claims));
    let bearer_only = Presented {
        identity: vec![],
        user: vec![alice.into()],
        extra: vec![("authorization", format!("Bearer {}", valid.sign()))],
    };
    vec![
        ("no identity headers at all", with(&[], &[])),
        ("X-Vault-User alone", with(&[], &[alice])),
        ("empty assertion", with(&["".into()], &[alice])),
        ("assertion as a Bearer token only", bearer_only),
        ("valid assertion, no X-Vault-User", with(&[valid.sign()], &[])),
        ("X-Vault-User differs from sub", with(&[valid.sign()], &["bob"])),
        ("X-Vault-User differs in case", with(&[valid.sign()], &["Alice"])),
        (
            "X-Vault-User repeated with another user",
            with(&[valid.sign()], &[alice, "bob"]),
        ),
        (
            "two assertions for two users",
            with(&[valid.sign(), t.claims("bob", None).sign()], &[alice]),
        ),
        (
            "forged: signed with another key",
            with(
                &[signed(&|s| s.secret("not-the-identity-secret-0123456789abcdef"))],
                &[alice],
            ),
        ),
        (
            "tampered payload (sub changed after signing)",
            with(&[tampered], &["bob"]),
        ),
        (
            "expired",
            with(
                &[signed(&|s| s.claim("iat", json!(n - 200)).claim("exp", json!(n - 140)))],
                &[alice],
            ),
        ),
        (
            "issued in the future",
            with(
                &[signed(&|s| s.claim("iat", json!(n + 600)).claim("exp", json!(n + 630)))],
                &[alice],
            ),
        ),
        (
            "lifetime longer than 60 s",
            with(&[signed(&|s| s.claim("exp", json!(n + 3600)))], &[alice]),
        ),
        (
            "wrong audience (the gateway token's)",
            with(&[signed(&|s| s.claim("aud", json!("vaultgate")))], &[alice]),
        ),
        (
            "wrong issuer",
            with(&[signed(&|s| s.claim("iss", json!("someone-else")))], &[alice]),
        ),
        ("alg none", with(&[alg_none], &[alice])),
        ("alg NONE", with(&[alg_none_upper], &[alice])),
        (
            "alg HS384 with the right key",
            with(&[signed(&|s| s.header("alg", json!("HS384")))], &[alice]),
        ),
        (
            "alg HS512 with the right key",
            with(&[signed(&|s| s.header("alg", json!("HS512")))], &[alice]),
        ),
        (
            "alg RS256",
            with(&[signed(&|s| s.header("alg", json!("RS256")))], &[alice]),
        ),
        ("no exp", with(&[without("exp")], &[alice])),
        ("no iat", with(&[without("iat")], &[alice])),
        ("no sub", with(&[without("sub")], &[alice])),
        ("no aud", with(&[without("aud")], &[alice])),
        ("no iss", with(&[without("iss")], &[alice])),
        (
            "subject with a path",
            with(&[t.claims("../alice", None).sign()], &["../alice"]),
        ),
        ("subject too long", {
            let long = "a".repeat(65);
            with(&[t.claims(&long, None).sign()], &[long.as_str()])
        }),
        ("malformed: not a JWT", with(&["not-a-jwt".into()], &[alice])),
        (
            "malformed: two segments",
            with(&["eyJhbGciOiJIUzI1NiJ9.e30".into()], &[alice]),
        ),
        ("malformed: bad base64", with(&["%%%.^^^.***".into()], &[alice])),
        (
            "malformed: claims not JSON",
            with(
                &[format!("{}.bm90IGpzb24.c2ln", b64(&json!({"alg": "HS256"})))],
                &[alice],
            ),
        ),
    ]
}

/// A request target the contract protects: method, path, body.
fn protected_targets(t: &Target) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        (
            "POST",
            t.mcp_path.clone(),
            Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})),
        ),
        ("GET", t.mcp_path.clone(), None),
        ("GET", "/contract-kit/any/other/path".to_owned(), None),
        ("POST", "/healthz".to_owned(), Some(json!({}))),
    ]
}

fn send(t: &Target, method: &str, path: &str, body: Option<&Value>, p: &Presented) -> reqwest::blocking::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = client()
        .request(m, t.url(path))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .timeout(Duration::from_secs(10));
    for v in &p.identity {
        rb = rb.header(headers::IDENTITY, v.as_str());
    }
    for v in &p.user {
        rb = rb.header(headers::USER, v.as_str());
    }
    for (k, v) in &p.extra {
        rb = rb.header(*k, v.as_str());
    }
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b.to_string());
    }
    rb.send()
        .unwrap_or_else(|e| panic!("{method} {path}: the backend did not answer: {e}"))
}

#[test]
fn hostile_assertions_are_refused_with_401_on_every_route() {
    let t = Target::get();
    let targets = protected_targets(&t);
    // Positive control: the same request with a valid assertion is not refused, so the
    // refusals below are about the assertion, not the request.
    let ok = with(&[t.claims("alice", None).sign()], &["alice"]);
    let (method, path, body) = &targets[0];
    let r = send(&t, method, path, body.as_ref(), &ok);
    assert_eq!(r.status(), 200, "a valid assertion must be accepted on {method} {path}");
    let mut failures = vec![];
    for (name, presented) in hostile_table(&t) {
        for (method, path, body) in &targets {
            let r = send(&t, method, path, body.as_ref(), &presented);
            let status = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            if status != 401 {
                failures.push(format!("{name}: {method} {path} answered {status}: {text:.200}"));
            } else if serde_json::from_str::<Value>(&text).is_err() {
                failures.push(format!(
                    "{name}: {method} {path}: the 401 body is not JSON: {text:.200}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "contract violations:\n{}", failures.join("\n"));
}

#[test]
fn healthz_answers_200_without_identity() {
    let t = Target::get();
    let r = client().get(t.url("/healthz")).send().expect("GET /healthz");
    assert_eq!(r.status(), 200);
}

/// The MCP protocol era the kit speaks, as the gateway would forward it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Era {
    Legacy,
    Modern,
}

fn eras() -> Vec<Era> {
    let spec = std::env::var("CONTRACT_ERAS").unwrap_or_else(|_| "legacy,modern".to_owned());
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "legacy" => Era::Legacy,
            "modern" => Era::Modern,
            other => panic!("CONTRACT_ERAS: unknown era {other:?} (legacy, modern)"),
        })
        .collect()
}

/// One user's MCP conversation with the backend, with the headers the gateway would add.
struct McpAs<'a> {
    t: &'a Target,
    user: String,
    era: Era,
    /// The gateway's session id (legacy era): sent as `Mcp-Session-Id`, `X-Vault-Session`, `sid`.
    session: Option<String>,
    next_id: u64,
}

impl<'a> McpAs<'a> {
    fn connect(t: &'a Target, user: &str, era: Era) -> Self {
        let mut c = Self {
            t,
            user: user.to_owned(),
            era,
            session: None,
            next_id: 1,
        };
        if era == Era::Legacy {
            let init = c.rpc(
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "vaultgate-contract-kit", "version": "1"}}),
            );
            assert!(init.get("result").is_some(), "initialize as {user}: {init}");
            // What the gateway does after a successful initialize: mint a session of its own.
            c.session = Some(uuid::Uuid::new_v4().to_string());
            c.post("notifications/initialized", json!({}), false);
        }
        c
    }

    fn post(&mut self, method: &str, mut params: Value, request: bool) -> (u16, Option<Value>) {
        let mut rb = client()
            .post(self.t.url(&self.t.mcp_path))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header(
                headers::IDENTITY,
                self.t.claims(&self.user, self.session.as_deref()).sign(),
            )
            .header(headers::USER, self.user.as_str())
            .header(headers::REQUEST_ID, uuid::Uuid::new_v4().to_string());
        if let Some(s) = &self.session {
            rb = rb
                .header("mcp-session-id", s.as_str())
                .header(headers::SESSION, s.as_str());
        }
        match self.era {
            Era::Legacy => rb = rb.header("mcp-protocol-version", "2025-06-18"),
            Era::Modern => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "vaultgate-contract-kit", "version": "1"},
                });
                rb = rb
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", method);
                if let Some(name) = params.get("name").and_then(Value::as_str) {
                    rb = rb.header("mcp-name", name);
                }
            }
        }
        let mut msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if request {
            msg["id"] = json!(self.next_id);
            self.next_id += 1;
        }
        vaultgate_tests::mcp::answer(rb.body(msg.to_string()).send().expect("MCP request"))
    }

    /// A JSON-RPC request that must get a JSON-RPC answer over HTTP 200.
    fn rpc(&mut self, method: &str, params: Value) -> Value {
        let (status, message) = self.post(method, params, true);
        assert_eq!(status, 200, "{method} as {} ({:?}): HTTP {status}", self.user, self.era);
        message.unwrap_or_else(|| panic!("{method} as {}: no JSON-RPC answer", self.user))
    }

    fn call(&mut self, call: &ToolCall) -> Value {
        self.rpc("tools/call", json!({"name": call.tool, "arguments": call.arguments}))
    }
}

/// One tool call of the scoping probe.
#[derive(Debug, Clone)]
struct ToolCall {
    tool: String,
    arguments: Value,
}

impl ToolCall {
    fn parse(v: &Value) -> Self {
        Self {
            tool: v["tool"]
                .as_str()
                .expect("CONTRACT_TOOLS: each call needs a \"tool\"")
                .to_owned(),
            arguments: v.get("arguments").cloned().unwrap_or(json!({})),
        }
    }

    /// This call with `{key}` and `{secret}` filled in.
    fn fill(&self, key: &str, secret: &str) -> Self {
        fn walk(v: &Value, key: &str, secret: &str) -> Value {
            match v {
                Value::String(s) => Value::String(s.replace("{key}", key).replace("{secret}", secret)),
                Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, key, secret)).collect()),
                Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, key, secret))).collect()),
                other => other.clone(),
            }
        }
        Self {
            tool: self.tool.clone(),
            arguments: walk(&self.arguments, key, secret),
        }
    }

    fn names_key(&self) -> bool {
        self.arguments.to_string().contains("{key}")
    }
}

const DEFAULT_TOOLS: &str = r#"{"write": {"tool": "write_note", "arguments": {"path": "{key}.md", "body": "{secret}"}},
 "reads": [{"tool": "read_note", "arguments": {"path": "{key}.md"}}, {"tool": "list_notes", "arguments": {}}]}"#;

fn probe() -> (ToolCall, Vec<ToolCall>) {
    let spec = std::env::var("CONTRACT_TOOLS").unwrap_or_else(|_| DEFAULT_TOOLS.to_owned());
    let v: Value = serde_json::from_str(&spec).expect("CONTRACT_TOOLS is not JSON");
    let write = ToolCall::parse(&v["write"]);
    let reads: Vec<ToolCall> = v["reads"]
        .as_array()
        .expect("CONTRACT_TOOLS needs a \"reads\" list")
        .iter()
        .map(ToolCall::parse)
        .collect();
    assert!(!reads.is_empty(), "CONTRACT_TOOLS: at least one read");
    (write, reads)
}

fn marker(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

fn succeeded(answer: &Value) -> bool {
    answer.get("result").is_some() && answer["result"]["isError"] != json!(true)
}

#[test]
fn data_is_scoped_by_the_asserted_user() {
    let t = Target::get();
    let (write, reads) = probe();
    for era in eras() {
        // Fresh users and markers: a long-running backend's old data cannot make this pass.
        let (a, b) = (marker("kit-a-"), marker("kit-b-"));
        let key = marker("kitkey");
        let (secret_a, secret_b) = (marker("kitsecreta"), marker("kitsecretb"));
        let mut alice = McpAs::connect(&t, &a, era);
        let mut bob = McpAs::connect(&t, &b, era);

        let w = alice.call(&write.fill(&key, &secret_a));
        assert!(succeeded(&w), "{era:?}: the write as A failed: {w}");
        let check = |who: &mut McpAs, mine: &str, theirs: &str, stage: &str| {
            for read in &reads {
                let answer = who.call(&read.fill(&key, mine)).to_string();
                let visible_mine = answer.contains(mine) || (!read.names_key() && answer.contains(&key));
                assert!(
                    visible_mine,
                    "{era:?} {stage}: {} ({}) does not show the caller's own note: {answer:.400}",
                    read.tool, who.user
                );
                assert!(
                    !answer.contains(theirs),
                    "{era:?} {stage}: {} as {} shows the other user's secret: {answer:.400}",
                    read.tool,
                    who.user
                );
            }
        };
        // A sees its note; B sees nothing of it.
        for read in &reads {
            let mine = alice.call(&read.fill(&key, &secret_a)).to_string();
            assert!(
                mine.contains(&secret_a) || (!read.names_key() && mine.contains(&key)),
                "{era:?}: {} as A does not show A's note, so the check below could not fail: {mine:.400}",
                read.tool
            );
            let theirs = bob.call(&read.fill(&key, &secret_b)).to_string();
            assert!(
                !theirs.contains(&secret_a) && (read.names_key() || !theirs.contains(&key)),
                "{era:?}: {} as B reveals A's note: {theirs:.400}",
                read.tool
            );
        }
        // B writes under the same key: each still sees only its own.
        let w = bob.call(&write.fill(&key, &secret_b));
        assert!(succeeded(&w), "{era:?}: the write as B failed: {w}");
        check(&mut alice, &secret_a, &secret_b, "after B wrote the same key");
        check(&mut bob, &secret_b, &secret_a, "after B wrote the same key");
    }
}

/// The Rust verification snippet of docs/backend-contract.md, compiled and run here.
mod rust_snippet {
    // --- contract snippet start ---
    use vaultgate_shared::headers::{IDENTITY, USER};
    use vaultgate_shared::identity::{IdentityError, IdentityKey, verify_request};

    /// The verified user of a request, or why it must get 401.
    pub fn caller(headers: &http::HeaderMap, key: &IdentityKey) -> Result<String, IdentityError> {
        // More than one copy of either header is ambiguous: refuse rather than pick one.
        if headers.get_all(IDENTITY).iter().count() > 1 || headers.get_all(USER).iter().count() > 1 {
            return Err(IdentityError::UserMismatch);
        }
        let assertion = headers.get(IDENTITY).map(|v| v.as_bytes());
        let user = headers.get(USER).map(|v| v.as_bytes());
        let identity = verify_request(key, assertion, user)?;
        Ok(identity.user.as_str().to_owned()) // the only identity to trust
    }
    // --- contract snippet end ---
}

/// The text between the snippet markers of `source`.
fn snippet(source: &str) -> String {
    let start = source.find("--- contract snippet start ---").expect("start marker");
    let body = &source[start..];
    let body = &body[body.find('\n').expect("newline") + 1..];
    let end = body.find("--- contract snippet end ---").expect("end marker");
    let body = &body[..end];
    // Drop the comment line that carries the end marker.
    let body = &body[..body.rfind('\n').map_or(0, |i| i + 1)];
    textwrap_dedent(body)
}

fn textwrap_dedent(s: &str) -> String {
    let indent = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    s.lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fenced code block of `lang` that follows `heading` in the contract document.
fn doc_block(doc: &str, heading: &str, lang: &str) -> String {
    let at = doc
        .find(heading)
        .unwrap_or_else(|| panic!("heading {heading:?} in the doc"));
    let rest = &doc[at..];
    let open = format!("```{lang}\n");
    let start = rest.find(&open).expect("code block") + open.len();
    let end = rest[start..].find("```").expect("closing fence");
    rest[start..start + end].trim_end().to_owned()
}

fn repo_file(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

#[test]
fn documented_snippets_are_the_tested_code() {
    let doc = repo_file("docs/backend-contract.md");
    let python = repo_file("deploy/examples/python-backend/vault_identity.py");
    assert_eq!(
        doc_block(&doc, "## Verifying the assertion (Python", "python"),
        snippet(&python).trim_end(),
        "docs/backend-contract.md must quote vault_identity.py's caller() verbatim"
    );
    let rust = repo_file("tests/tests/backend_contract.rs");
    assert_eq!(
        doc_block(&doc, "## Verifying the assertion (Rust", "rust"),
        snippet(&rust).trim_end(),
        "docs/backend-contract.md must quote the kit's rust_snippet verbatim"
    );
}

#[test]
fn rust_snippet_accepts_the_gateway_assertion_and_refuses_a_mismatch() {
    use vaultgate_shared::UserId;
    use vaultgate_shared::identity::{IdentityKey, sign_identity};
    let key = IdentityKey::new(IDENTITY_SECRET.as_bytes()).expect("key");
    let token = sign_identity(&key, &UserId::parse("alice").expect("user"), None);
    let mut h = http::HeaderMap::new();
    h.insert(headers::IDENTITY, token.parse().expect("value"));
    h.insert(headers::USER, "alice".parse().expect("value"));
    assert_eq!(rust_snippet::caller(&h, &key).as_deref(), Ok("alice"));
    h.append(headers::USER, "bob".parse().expect("value"));
    assert!(rust_snippet::caller(&h, &key).is_err());
    h.remove(headers::USER);
    h.insert(headers::USER, "bob".parse().expect("value"));
    assert!(rust_snippet::caller(&h, &key).is_err());
}
