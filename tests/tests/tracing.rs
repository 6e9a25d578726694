//! OpenTelemetry traces through the real gateway and backend: spans of legacy and modern MCP
//! calls reach an OTLP/HTTP receiver, the backend's spans hang under the gateway's, nothing
//! private is exported, client trace headers are linked (or continued when trusted), nothing is
//! sent when tracing is off; plus the gateway's access log.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use vaultgate_tests::mcp::{Era, Mcp};
use vaultgate_tests::otlp::{Receiver, Span};
use vaultgate_tests::{Backend, Gateway, IDENTITY_SECRET, bin, client};

const USER: &str = "tracer-user-7f3a";
const NOTE_PATH: &str = "hidden-folder/private-plan-q9z.md";
const QUERY: &str = "zanzibarquokka";
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Export every `every_ms`; the processes' shutdown exports the rest.
fn otel_env(r: &Receiver, every_ms: u64) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", r.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", every_ms.to_string()),
    ]
}

fn start(r: Option<&Receiver>, gateway_extra: &[(&str, &str)]) -> (Backend, Gateway) {
    start_exporting_every(r, 100, gateway_extra)
}

fn start_exporting_every(r: Option<&Receiver>, every_ms: u64, gateway_extra: &[(&str, &str)]) -> (Backend, Gateway) {
    let env: Vec<(&str, String)> = r.map(|r| otel_env(r, every_ms)).unwrap_or_default();
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let backend = Backend::start_with(&env_ref);
    let mut genv = env_ref.clone();
    genv.push(("SHUTDOWN_GRACE_SECS", "1"));
    genv.extend_from_slice(gateway_extra);
    let gw = Gateway::start(&backend.url(), &genv);
    (backend, gw)
}

/// Stops both processes with SIGTERM (their shutdown exports what is buffered).
fn stop(backend: &mut Backend, gw: &mut Gateway) {
    let gw_exit = gw.proc_.terminate(Duration::from_secs(30));
    let backend_exit = backend.proc_.terminate(Duration::from_secs(30));
    assert!(gw_exit.is_some_and(|s| s.success()), "gateway exit: {gw_exit:?}");
    assert!(
        backend_exit.is_some_and(|s| s.success()),
        "backend exit: {backend_exit:?}"
    );
}

fn find(spans: &[Span], pred: impl Fn(&Span) -> bool) -> Vec<&Span> {
    spans.iter().filter(|s| pred(s)).collect()
}

/// The gateway's request span of a tools/call of `era`.
fn tools_call(spans: &[Span], era: &str) -> Span {
    find(spans, |s| {
        s.name == "gateway.request"
            && s.attr("mcp.method.name") == Some("tools/call")
            && s.attr("mcp.protocol.era") == Some(era)
    })
    .first()
    .map(|s| (*s).clone())
    .unwrap_or_else(|| panic!("no {era} tools/call span in {spans:#?}"))
}

/// Checks that `gw_span`'s trace holds gateway.upstream → backend.request → mcp.tool (`tool`).
fn assert_hop(spans: &[Span], gw_span: &Span, tool: &str) {
    let upstream = find(spans, |s| {
        s.name == "gateway.upstream" && s.parent_span_id == gw_span.span_id
    });
    assert_eq!(upstream.len(), 1, "one upstream span under {gw_span:?}");
    let up = upstream[0];
    assert_eq!(up.trace_id, gw_span.trace_id);
    assert_eq!(up.service, "vaultgate-gateway");
    let backend = find(spans, |s| s.name == "backend.request" && s.parent_span_id == up.span_id);
    assert_eq!(
        backend.len(),
        1,
        "the backend span's parent is the gateway's upstream span: {spans:#?}"
    );
    let b = backend[0];
    assert_eq!(b.trace_id, gw_span.trace_id, "one trace across the hop");
    assert_eq!(b.service, "vaultgate-backend");
    assert_eq!(b.attr("http.route"), Some("mcp"));
    let tools = find(spans, |s| s.name == "mcp.tool" && s.parent_span_id == b.span_id);
    assert_eq!(tools.len(), 1, "a tool span under the backend request: {spans:#?}");
    assert_eq!(tools[0].attr("mcp.tool.name"), Some(tool));
    assert_eq!(tools[0].attr("vaultgate.outcome"), Some("ok"));
}

#[test]
fn spans_cross_the_hop_and_carry_nothing_private() {
    let r = Receiver::start();
    let (mut backend, mut gw) = start(Some(&r), &[("ACCESS_LOG", "true")]);
    let token = gw.token(USER);
    let url = format!("{}/mcp", gw.url());

    let mut legacy = Mcp::new(&url, &token, Era::Legacy);
    assert_eq!(legacy.connect().status, 200);
    legacy.ok(
        "write_note",
        json!({"path": NOTE_PATH, "body": format!("the {QUERY} plan, for {USER} only")}),
    );
    let mut modern = Mcp::new(&url, &token, Era::Modern);
    let hits = modern.ok("search_notes", json!({"query": QUERY}));
    assert_eq!(hits["results"].as_array().map(Vec::len), Some(1));
    // A REST call with the query in the URL (the access log must not repeat it).
    let rest = client()
        .get(format!("{}/api/search?q={QUERY}", gw.url()))
        .bearer_auth(&token)
        .send()
        .expect("search");
    assert_eq!(rest.status(), 200);
    // A refused request: its span says why.
    let refused = client()
        .post(&url)
        .bearer_auth("not-a-valid-token")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .expect("refused");
    assert_eq!(refused.status(), 401);

    r.wait_for(Duration::from_secs(30), |s| {
        s.iter()
            .any(|s| s.name == "mcp.tool" && s.attr("mcp.tool.name") == Some("search_notes"))
            && s.iter().filter(|s| s.name == "gateway.request").count() >= 5
    });
    stop(&mut backend, &mut gw);
    let spans = r.spans();

    let legacy_call = tools_call(&spans, "legacy");
    assert_eq!(legacy_call.attr("http.route"), Some("mcp"));
    assert_eq!(legacy_call.attr("http.response.status_code"), Some("200"));
    assert_eq!(
        legacy_call.attr("mcp.tool.name"),
        Some("write_note"),
        "from a one-piece body"
    );
    assert_hop(&spans, &legacy_call, "write_note");
    let modern_call = tools_call(&spans, "modern");
    assert_eq!(modern_call.attr("mcp.tool.name"), Some("search_notes"));
    assert_hop(&spans, &modern_call, "search_notes");
    assert!(
        find(&spans, |s| s.name == "gateway.request"
            && s.attr("mcp.method.name") == Some("initialize"))
        .len()
            == 1,
        "the legacy initialize has its span"
    );
    let refusal = find(&spans, |s| {
        s.name == "gateway.request" && s.attr("http.response.status_code") == Some("401")
    });
    assert_eq!(refusal.len(), 1, "{spans:#?}");
    assert!(
        refusal[0].attr("vaultgate.refusal").is_some_and(|r| !r.is_empty()),
        "{:?}",
        refusal[0]
    );
    assert!(
        !spans.iter().any(|s| s.parent_span_id == refusal[0].span_id),
        "a refused request never reaches the backend"
    );
    assert!(
        spans.iter().all(|s| s.attr("enduser.id").is_none()),
        "no user id unless OTEL_RECORD_USER=true"
    );
    assert!(
        !spans.iter().any(|s| s.attr("http.route") == Some("healthz")),
        "liveness probes have no spans"
    );
    for step in ["note.write", "index.update", "index.query", "reconcile"] {
        assert!(
            spans.iter().any(|s| s.name == step && s.service == "vaultgate-backend"),
            "a {step} span: {spans:#?}"
        );
    }
    // The storage steps of a tool call are in its trace.
    let write_tool = find(&spans, |s| {
        s.name == "mcp.tool" && s.attr("mcp.tool.name") == Some("write_note")
    })[0];
    assert!(spans.iter().any(|s| s.name == "note.write"
        && s.trace_id == write_tool.trace_id
        && s.parent_span_id == write_tool.span_id));

    // Privacy: no attribute, and no byte of any export, names the user, the note, the query or the token.
    let secrets = [USER, NOTE_PATH, "private-plan-q9z", QUERY, token.as_str()];
    for s in &spans {
        for (k, v) in &s.attributes {
            for secret in secrets {
                assert!(!v.contains(secret), "attribute {k}={v} of {} leaks {secret}", s.name);
            }
        }
    }
    let raw = r.raw();
    assert!(!raw.is_empty());
    for body in &raw {
        for secret in secrets {
            assert!(
                !body.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "an export request contains {secret}"
            );
        }
    }

    // The access log: one JSON line per request, with its fields, without token or query.
    let logs = gw.proc_.logs();
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    assert!(access.len() >= 5, "access lines: {access:#?}");
    for line in &access {
        for field in [
            "method",
            "route",
            "status",
            "duration_ms",
            "bytes_in",
            "bytes_out",
            "request_id",
            "trace_id",
            "client",
        ] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
        let text = line.to_string();
        assert!(
            !text.contains(&token) && !text.contains(QUERY) && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
    let search = access
        .iter()
        .find(|l| l["route"] == "api")
        .unwrap_or_else(|| panic!("no REST search line in {access:#?}"));
    assert_eq!(search["status"], 200);
    assert_eq!(search["client"], "loopback");
    let mcp_line = access
        .iter()
        .find(|l| l["mcp_method"] == "tools/call")
        .expect("an MCP line");
    assert_eq!(mcp_line["route"], "mcp");
    assert!(mcp_line["bytes_out"].as_u64().is_some_and(|n| n > 0), "{mcp_line}");
    assert!(mcp_line["bytes_in"].as_u64().is_some_and(|n| n > 0), "{mcp_line}");
    let trace_id = mcp_line["trace_id"].as_str().expect("a trace id");
    assert!(
        spans.iter().any(|s| s.trace_id == trace_id),
        "the access line's trace id is a trace's"
    );
    assert!(!logs.contains(&token), "the gateway never logs the token");
}

#[test]
fn client_trace_is_linked_by_default_and_continued_when_trusted() {
    let client_parent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    for trusted in [false, true] {
        let r = Receiver::start();
        let trust = if trusted { "true" } else { "false" };
        // The trusting gateway also opts into recording the user id.
        // No periodic export within the test: the spans arrive because shutdown flushes them.
        let (mut backend, mut gw) = start_exporting_every(
            Some(&r),
            3_600_000,
            &[("OTEL_TRUST_CLIENT_TRACE", trust), ("OTEL_RECORD_USER", trust)],
        );
        let token = gw.token(USER);
        // Modern: the header.
        let resp = client()
            .post(format!("{}/mcp", gw.url()))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "get_tags")
            .header("traceparent", &client_parent)
            .header("tracestate", "client=1")
            .body(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_tags", "arguments": {},
                    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}})
                .to_string(),
            )
            .send()
            .expect("call");
        assert_eq!(resp.status(), 200);
        // Legacy: an initialize without a session carries it in `params._meta`.
        let body_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let init = vaultgate_tests::mcp::legacy_post(
            &gw.url(),
            &token,
            None,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
                "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}, "_meta": {"traceparent": body_parent}}})
            .to_string(),
        );
        assert_eq!(init.status(), 200);

        assert!(r.raw().is_empty(), "nothing exported before the shutdown");
        stop(&mut backend, &mut gw);
        let spans = r.spans();
        let call = tools_call(&spans, "modern");
        let init_span = find(&spans, |s| {
            s.name == "gateway.request" && s.attr("mcp.method.name") == Some("initialize")
        })[0];
        if trusted {
            assert_eq!(call.trace_id, CLIENT_TRACE, "continued: {call:?}");
            assert_eq!(call.parent_span_id, CLIENT_SPAN);
            assert_eq!(call.attr("vaultgate.client_trace"), Some("continued"));
            assert_eq!(init_span.trace_id, "0af7651916cd43dd8448eb211c80319c");
            assert_eq!(init_span.parent_span_id, "b7ad6b7169203331");
            assert_eq!(call.attr("enduser.id"), Some(USER), "OTEL_RECORD_USER=true");
        } else {
            assert_ne!(call.trace_id, CLIENT_TRACE, "not continued: {call:?}");
            assert!(call.parent_span_id.is_empty(), "a root span: {call:?}");
            assert_eq!(call.links, vec![(CLIENT_TRACE.to_owned(), CLIENT_SPAN.to_owned())]);
            assert_eq!(call.attr("vaultgate.client_trace"), Some("linked"));
            assert_ne!(init_span.trace_id, "0af7651916cd43dd8448eb211c80319c");
            assert_eq!(init_span.links.len(), 1);
            assert_eq!(call.attr("enduser.id"), None);
        }
        // Either way the backend continues the gateway's trace, never the client's headers.
        assert_hop(&spans, &call, "get_tags");
        assert!(
            !spans
                .iter()
                .any(|s| s.service == "vaultgate-backend" && s.parent_span_id == CLIENT_SPAN)
        );
    }
}

#[test]
fn nothing_is_sent_when_the_endpoint_is_unset() {
    let r = Receiver::start();
    let (mut backend, mut gw) = start(None, &[]);
    let mut c = Mcp::new(&format!("{}/mcp", gw.url()), &gw.token(USER), Era::Legacy);
    assert_eq!(c.connect().status, 200);
    c.ok("write_note", json!({"path": NOTE_PATH, "body": "x"}));
    let access = gw.proc_.logs();
    stop(&mut backend, &mut gw);
    // Both processes have exited: whatever they were going to send is sent.
    assert!(r.raw().is_empty(), "nothing may be exported without an endpoint");
    assert!(
        !access.contains("\"target\":\"access\""),
        "no access log unless ACCESS_LOG=true"
    );
}

#[test]
fn an_https_endpoint_is_refused_at_start() {
    for program in ["vaultgate-gateway", "vaultgate-backend"] {
        let out = Command::new(bin(program))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("IDENTITY_SECRET", IDENTITY_SECRET)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(78), "{program} exits as a configuration error");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("only http:// endpoints work"), "{program}: {err}");
    }
}
