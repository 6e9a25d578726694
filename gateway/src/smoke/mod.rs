//! `vaultgate-gateway smoke`: the checks an operator runs against a deployment after every
//! deploy, with two users' tokens. Health and readiness; per user, `initialize` (legacy era,
//! with a gateway session) or `server/discover` (2026-07-28, stateless), `tools/list` and a
//! `list_notes` call in both protocol eras; isolation (user A writes a uniquely named note that
//! user B can neither read, list nor find, then A deletes it); an invalid and an expired token
//! refused with 401. Each check prints one PASS or FAIL line; any FAIL makes the exit status 1.

mod client;

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use serde_json::{Value, json};
use vaultgate_shared::config::parse_duration;
use vaultgate_shared::jwt::now_secs;

use crate::sessions::era::{Era, MODERN_REVISION};
use client::{Call, Client, Reply};

/// The folder the isolation check writes its note in (empty again afterwards).
const FOLDER: &str = "vaultgate-smoke";

/// Arguments of `smoke`.
#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The deployment's public base URL, e.g. https://owner-space.hf.space.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// A gateway token; give two, of two different users (A, then B). Or set SMOKE_TOKENS=A,B,
    /// which keeps them out of the process list and the shell history.
    #[arg(
        long = "token",
        value_name = "TOKEN",
        env = "SMOKE_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,
    /// How long any one request may take.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Why the checks could not run at all (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("give exactly two tokens (--token A --token B, of two different users), not {0}")]
    TokenCount(usize),
    #[error("--url must be an http:// or https:// base URL, not '{0}'")]
    Url(String),
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("starting the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl SmokeError {
    /// The exit status it deserves: bad arguments are usage errors, the rest runtime failures.
    pub fn failure(&self) -> vaultgate_shared::exit::Failure {
        match self {
            SmokeError::TokenCount(_) | SmokeError::Url(_) => vaultgate_shared::exit::Failure::Usage,
            SmokeError::Client(_) | SmokeError::Runtime(_) => vaultgate_shared::exit::Failure::Runtime,
        }
    }
}

/// How many checks passed and failed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

/// Runs every check against `args.url`, printing one line per check to `out`.
pub fn run(args: &SmokeArgs, out: &mut dyn Write) -> Result<Tally, SmokeError> {
    let [a, b] =
        <&[String; 2]>::try_from(args.tokens.as_slice()).map_err(|_| SmokeError::TokenCount(args.tokens.len()))?;
    let url = args.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
        return Err(SmokeError::Url(url.to_owned()));
    }
    let client = Client::new(url, args.timeout)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut report = Report {
        out,
        tally: Tally::default(),
    };
    report.line(&format!("vaultgate smoke check of {url}"));
    rt.block_on(async {
        health(&client, &mut report).await;
        for (name, token) in [("A", a.as_str()), ("B", b.as_str())] {
            legacy_era(&client, &mut report, name, token).await;
            modern_era(&client, &mut report, name, token).await;
        }
        isolation(&client, &mut report, a, b).await;
        refusals(&client, &mut report, a).await;
    });
    let t = report.tally;
    report.line(&format!(
        "{} checks: {} passed, {} failed",
        t.passed + t.failed,
        t.passed,
        t.failed
    ));
    Ok(t)
}

/// Prints the lines and counts the outcomes.
struct Report<'a> {
    out: &'a mut dyn Write,
    tally: Tally,
}

impl Report<'_> {
    fn line(&mut self, text: &str) {
        // A closed stdout must not stop the checks (the exit status still tells).
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// Records one check; returns whether it passed.
    fn check(&mut self, name: &str, outcome: Result<String, String>) -> bool {
        match outcome {
            Ok(detail) => {
                self.tally.passed += 1;
                self.line(&format!("PASS  {name}: {detail}"));
                true
            }
            Err(why) => {
                self.tally.failed += 1;
                self.line(&format!("FAIL  {name}: {why}"));
                false
            }
        }
    }
}

async fn health(client: &Client, report: &mut Report<'_>) {
    for path in ["/healthz", "/readyz"] {
        let outcome = match client.get(path).await {
            Ok(r) if r.status == 200 => Ok("200".to_owned()),
            Ok(r) => Err(format!("HTTP {}: {}", r.status, r.excerpt)),
            Err(e) => Err(e),
        };
        report.check(&format!("GET {path}"), outcome);
    }
}

/// The tool names of a `tools/list` result, checked to include `list_notes`.
fn tool_list(r: Result<Reply, String>) -> Result<String, String> {
    let r = r?;
    let tools: Vec<&str> = r.result()?["tools"]
        .as_array()
        .ok_or("the result has no tools array")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    if !tools.contains(&"list_notes") {
        return Err(format!("list_notes is not among the {} tools: {tools:?}", tools.len()));
    }
    Ok(format!("{} tools", tools.len()))
}

/// A `list_notes` result's note count.
fn note_count(r: Result<Reply, String>) -> Result<String, String> {
    let out = r?.tool_output()?;
    let n = out["notes"].as_array().ok_or("the answer has no notes array")?.len();
    Ok(format!("{n} notes on the first page"))
}

fn list_notes() -> Value {
    json!({"name": "list_notes", "arguments": {}})
}

/// 2025 era: `initialize` mints a session; every later request carries it and the agreed
/// revision; `DELETE` ends it, after which it is refused with 404.
async fn legacy_era(client: &Client, report: &mut Report<'_>, user: &str, token: &str) {
    let era = "2025 era (sessions)";
    let init = client.initialize(token).await.and_then(|r| {
        let revision = r.result()?["protocolVersion"]
            .as_str()
            .ok_or("the InitializeResult has no protocolVersion")?
            .to_owned();
        let session = r.session.clone().ok_or("no Mcp-Session-Id on the InitializeResult")?;
        Ok((session, revision))
    });
    let Ok((session, revision)) = init else {
        report.check(&format!("{user} {era}: initialize"), init.map(|_| String::new()));
        return;
    };
    let call = Call {
        token,
        era: Era::Legacy,
        session: Some((&session, &revision)),
    };
    let initialized = match client.rpc(&call, "notifications/initialized", json!({}), None).await {
        Ok(r) if r.status == 202 => Ok(format!("session minted, protocol {revision}")),
        Ok(r) => Err(format!("notifications/initialized: HTTP {}: {}", r.status, r.excerpt)),
        Err(e) => Err(e),
    };
    report.check(&format!("{user} {era}: initialize"), initialized);
    let tools = tool_list(client.rpc(&call, "tools/list", json!({}), Some(1)).await);
    report.check(&format!("{user} {era}: tools/list"), tools);
    let listed = note_count(client.rpc(&call, "tools/call", list_notes(), Some(2)).await);
    report.check(&format!("{user} {era}: tools/call list_notes"), listed);
    let ended = async {
        let r = client.end_session(token, &session, &revision).await?;
        if !(200..300).contains(&r.status) {
            return Err(format!("DELETE /mcp: HTTP {}: {}", r.status, r.excerpt));
        }
        let after = client.rpc(&call, "tools/list", json!({}), Some(3)).await?;
        match after.status {
            404 => Ok("DELETE ended it; then refused with 404".to_owned()),
            s => Err(format!("the ended session still answered HTTP {s}")),
        }
    };
    report.check(&format!("{user} {era}: session end"), ended.await);
}

/// 2026-07-28 era: no session; `server/discover` instead of `initialize`, and the method (and
/// tool name) repeated in headers on every POST.
async fn modern_era(client: &Client, report: &mut Report<'_>, user: &str, token: &str) {
    let era = "2026-07-28 era (stateless)";
    let call = Call {
        token,
        era: Era::Modern,
        session: None,
    };
    let discover = client
        .rpc(&call, "server/discover", json!({}), Some(1))
        .await
        .and_then(|r| {
            if r.session.is_some() {
                return Err("the answer minted an Mcp-Session-Id, which this era does not have".to_owned());
            }
            let result = r.result()?;
            let versions = &result["supportedVersions"];
            if !versions
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v == MODERN_REVISION))
            {
                return Err(format!(
                    "{MODERN_REVISION} is not among the supported versions {versions}"
                ));
            }
            let server = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
            Ok(format!(
                "{} {} supports {MODERN_REVISION}",
                server["name"].as_str().unwrap_or("the server"),
                server["version"].as_str().unwrap_or("")
            ))
        });
    report.check(&format!("{user} {era}: server/discover"), discover);
    let tools = tool_list(client.rpc(&call, "tools/list", json!({}), Some(2)).await);
    report.check(&format!("{user} {era}: tools/list"), tools);
    let listed = note_count(client.rpc(&call, "tools/call", list_notes(), Some(3)).await);
    report.check(&format!("{user} {era}: tools/call list_notes"), listed);
}

/// A writes a note with a unique name and text; B must not read, list or find it; A deletes it.
async fn isolation(client: &Client, report: &mut Report<'_>, a: &str, b: &str) {
    // Two unique words: one names the note, the other is only in its text, so an error that
    // echoes the path B asked for is not mistaken for a leak of the text.
    let name = format!("note{}", uuid::Uuid::new_v4().simple());
    let marker = format!("vaultgatesmoke{}", uuid::Uuid::new_v4().simple());
    let path = format!("{FOLDER}/{name}.md");
    let (ca, cb) = (
        Call {
            token: a,
            era: Era::Modern,
            session: None,
        },
        Call {
            token: b,
            era: Era::Modern,
            session: None,
        },
    );
    let tool = |name: &str, arguments: Value| json!({"name": name, "arguments": arguments});
    let body = format!("Written by `vaultgate-gateway smoke` and deleted right after. {marker}");
    let written = client
        .rpc(
            &ca,
            "tools/call",
            tool("write_note", json!({"path": path, "body": body})),
            Some(1),
        )
        .await
        .and_then(|r| r.tool_output())
        .map(|_| format!("wrote {path}"));
    if !report.check("isolation: A writes a note", written) {
        return;
    }
    let read_back = client
        .rpc(&ca, "tools/call", tool("read_note", json!({"path": path})), Some(2))
        .await
        .and_then(|r| r.tool_output())
        .and_then(|v| match v.to_string().contains(&marker) {
            true => Ok("A reads it back".to_owned()),
            false => Err("A's note came back without its text".to_owned()),
        });
    report.check("isolation: A reads its note", read_back);

    // B's answers must not carry the note's text (nor, unasked, its name) anywhere.
    let leaks = |r: &Reply, asked_by_name: bool| {
        let shows = |needle: &str| {
            r.excerpt.contains(needle) || r.message.as_ref().is_some_and(|m| m.to_string().contains(needle))
        };
        shows(&marker) || (!asked_by_name && shows(&name))
    };
    let leaked = |what: &str| format!("B's {what} shows A's note (are both tokens for the same user?)");
    let read = client
        .rpc(&cb, "tools/call", tool("read_note", json!({"path": path})), Some(1))
        .await
        .and_then(|r| match r.tool_output() {
            _ if leaks(&r, true) => Err(leaked("read_note")),
            Ok(_) => Err("B's read_note of A's path succeeded".to_owned()),
            Err(_) if r.status == 200 => Ok("not found for B".to_owned()),
            Err(e) => Err(e),
        });
    report.check("isolation: B cannot read it", read);
    for (what, args, id) in [
        ("list_notes", json!({"folder": FOLDER}), 2),
        ("search_notes", json!({"query": marker}), 3),
    ] {
        let seen = client
            .rpc(&cb, "tools/call", tool(what, args), Some(id))
            .await
            .and_then(|r| match r.tool_output() {
                _ if leaks(&r, false) => Err(leaked(what)),
                Ok(_) => Ok(format!("B's {what} does not show it")),
                Err(e) => Err(e),
            });
        let verb = if what == "list_notes" { "list" } else { "find" };
        report.check(&format!("isolation: B cannot {verb} it"), seen);
    }

    let deleted = async {
        client
            .rpc(&ca, "tools/call", tool("delete_note", json!({"path": path})), Some(3))
            .await?
            .tool_output()?;
        let gone = client
            .rpc(&ca, "tools/call", tool("read_note", json!({"path": path})), Some(4))
            .await?;
        match gone.tool_output() {
            Ok(_) => Err("A can still read it after deleting it".to_owned()),
            Err(_) => Ok(format!("deleted {path}")),
        }
    };
    report.check("isolation: A deletes its note", deleted.await);
}

/// An invalid token and an expired one are refused with 401 and a Bearer challenge.
async fn refusals(client: &Client, report: &mut Report<'_>, a: &str) {
    let invalid = format!("vaultgate-smoke-invalid-{}", uuid::Uuid::new_v4().simple());
    for (what, token) in [("an invalid token", invalid), ("an expired token", expired_like(a))] {
        let outcome = match client.initialize(&token).await {
            Ok(r) if r.status == 401 && r.challenge.as_deref().is_some_and(|c| c.starts_with("Bearer")) => {
                Ok("401 with a Bearer challenge".to_owned())
            }
            Ok(r) if r.status == 401 => Err("401 without a WWW-Authenticate: Bearer challenge".to_owned()),
            Ok(r) => Err(format!("HTTP {} instead of 401: {}", r.status, r.excerpt)),
            Err(e) => Err(e),
        };
        report.check(&format!("{what} is refused"), outcome);
    }
}

/// A token shaped like `model` (same header and claims, when it is a JWT) whose `exp` and `iat`
/// lie an hour and two in the past. The check cannot sign one (it holds no key), so the
/// signature is `model`'s own: a gateway must refuse it whichever it verifies first.
fn expired_like(model: &str) -> String {
    let now = now_secs();
    let mut parts = model.splitn(3, '.');
    let (header, claims, signature) = (parts.next(), parts.next(), parts.next());
    let mut claims: Value = claims
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|c| serde_json::from_slice(&c).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"sub": "vaultgate-smoke"}));
    claims["iat"] = json!(now.saturating_sub(7200));
    claims["exp"] = json!(now.saturating_sub(3600));
    let header = header
        .filter(|_| signature.is_some())
        .map(str::to_owned)
        .unwrap_or_else(|| URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#));
    format!(
        "{header}.{}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature.unwrap_or("c21va2U")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_expired_token_keeps_the_model_but_lies_in_the_past() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#);
        let c = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","iss":"x","aud":"y","exp":99999999999,"iat":1}"#);
        let model = format!("{h}.{c}.c2lnbmF0dXJl");
        let t = expired_like(&model);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!((parts[0], parts[2]), (h.as_str(), "c2lnbmF0dXJl"));
        let v = claims(&t);
        let now = now_secs();
        assert_eq!((v["sub"].as_str(), v["iss"].as_str()), (Some("alice"), Some("x")));
        assert!(v["exp"].as_u64().unwrap() < now && v["iat"].as_u64().unwrap() < v["exp"].as_u64().unwrap());
        // Not a JWT at all: still three parts, with an expired claim set.
        for junk in ["opaque-token", "a.b", "a.%%%.c"] {
            let t = expired_like(junk);
            assert_eq!(t.split('.').count(), 3, "{t}");
            assert!(claims(&t)["exp"].as_u64().unwrap() < now_secs());
        }
    }

    #[test]
    fn usage_errors_come_before_any_request() {
        let args = |url: &str, tokens: &[&str]| SmokeArgs {
            url: url.into(),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            timeout: Duration::from_secs(1),
        };
        let mut out = Vec::new();
        for (a, want) in [
            (args("http://127.0.0.1:1", &["a"]), "exactly two tokens"),
            (args("http://127.0.0.1:1", &["a", "b", "c"]), "exactly two tokens"),
            (args("ftp://example.org", &["a", "b"]), "--url"),
            (args("https://", &["a", "b"]), "--url"),
        ] {
            let e = run(&a, &mut out).err().unwrap();
            assert!(e.to_string().contains(want), "{e}");
        }
        assert!(out.is_empty(), "nothing printed, nothing checked");
    }
}
