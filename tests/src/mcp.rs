//! A minimal MCP client over Streamable HTTP for tests: both protocol eras, JSON or
//! SSE answers, every response checked for a JSON-RPC shape.

use serde_json::{Value, json};

use crate::client;

/// Which protocol era the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-06-18: initialize, then a gateway session.
    Legacy,
    /// 2026-07-28: no initialize, no session, `Mcp-Method` headers.
    Modern,
}

/// One MCP client for one user.
pub struct Mcp {
    pub url: String,
    pub token: String,
    pub era: Era,
    pub session: Option<String>,
    next_id: u64,
}

/// A raw answer: HTTP status, session header, the JSON-RPC message (if any).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub session: Option<String>,
    pub message: Option<Value>,
}

/// A legacy-era (2025-06-18) `POST {base}/mcp` with a bearer token and, when given, a session id:
/// what the gateway's session rules are tested with.
pub fn legacy_post(base: &str, token: &str, session: Option<&str>, body: &str) -> reqwest::blocking::Response {
    let mut rb = client()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18");
    if let Some(s) = session {
        rb = rb.header("Mcp-Session-Id", s);
    }
    rb.body(body.to_owned()).send().expect("request")
}

/// The HTTP status of an MCP POST and its JSON-RPC answer (plain JSON or the SSE event carrying one).
pub fn answer(r: reqwest::blocking::Response) -> (u16, Option<Value>) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().unwrap_or_default();
    (status, parse_body(&ct, &text))
}

fn parse_body(content_type: &str, text: &str) -> Option<Value> {
    if content_type.starts_with("text/event-stream") {
        // The last `data:` line carrying a JSON-RPC response.
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .rfind(|v| v.get("id").is_some())
    } else {
        serde_json::from_str(text).ok()
    }
}

impl Mcp {
    /// A client for the MCP endpoint at `url` (…/mcp) with `token`.
    pub fn new(url: &str, token: &str, era: Era) -> Self {
        Self {
            url: url.to_owned(),
            token: token.to_owned(),
            era,
            session: None,
            next_id: 1,
        }
    }

    /// Sends one JSON-RPC request (or notification when `id` is None).
    pub fn send(&mut self, method: &str, params: Value, notification: bool) -> Reply {
        let mut params = params;
        if self.era == Era::Modern && params.is_object() {
            // 2026-07-28 carries the client context in every request's _meta.
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "vaultgate-tests", "version": "1"},
            });
        }
        let mut msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if !notification {
            msg["id"] = json!(self.next_id);
            self.next_id += 1;
        }
        let mut rb = client()
            .post(&self.url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        match self.era {
            Era::Legacy => {
                rb = rb.header("MCP-Protocol-Version", "2025-06-18");
                if let Some(s) = &self.session {
                    rb = rb.header("Mcp-Session-Id", s);
                }
            }
            Era::Modern => {
                rb = rb
                    .header("MCP-Protocol-Version", "2026-07-28")
                    .header("Mcp-Method", method);
                if let Some(name) = params.get("name").and_then(Value::as_str)
                    && method == "tools/call"
                {
                    rb = rb.header("Mcp-Name", name);
                }
                if let Some(uri) = params.get("uri").and_then(Value::as_str)
                    && method == "resources/read"
                {
                    rb = rb.header("Mcp-Name", uri);
                }
            }
        }
        let r = rb.body(msg.to_string()).send().expect("MCP request");
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, message) = answer(r);
        Reply {
            status,
            session,
            message,
        }
    }

    /// Legacy: initialize and keep the session; modern: nothing to do.
    pub fn connect(&mut self) -> Reply {
        if self.era == Era::Modern {
            return Reply {
                status: 200,
                session: None,
                message: None,
            };
        }
        let r = self.send(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "vaultgate-tests", "version": "1"}}),
            false,
        );
        if r.status == 200 {
            self.session = r.session.clone();
            self.send("notifications/initialized", json!({}), true);
        }
        r
    }

    /// Calls a tool and returns its `result` (panics on a transport or JSON-RPC error).
    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.send("tools/call", json!({"name": tool, "arguments": args}), false);
        assert_eq!(r.status, 200, "tools/call {tool}: HTTP {}: {:?}", r.status, r.message);
        let m = r.message.expect("a JSON-RPC answer");
        assert!(m.get("error").is_none(), "tools/call {tool}: {m}");
        m["result"].clone()
    }

    /// A tool's structured answer; panics if the tool reported an error.
    pub fn ok(&mut self, tool: &str, args: Value) -> Value {
        let res = self.call(tool, args.clone());
        assert_ne!(res["isError"], json!(true), "{tool}({args}) failed: {res}");
        structured(&res)
    }
}

/// The structured content of a tool result (or its first text item parsed as JSON).
pub fn structured(result: &Value) -> Value {
    if let Some(s) = result.get("structuredContent") {
        return s.clone();
    }
    result["content"][0]["text"]
        .as_str()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}
