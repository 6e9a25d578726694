//! The smoke check's HTTP side: plain GETs and MCP POSTs in either protocol era, each answer
//! read up to a size cap and reduced to what the checks look at.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sessions::era::{Era, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, MODERN_REVISION};

/// The legacy revision the check asks for in `initialize` (the newest before sessions ended).
pub const LEGACY_REVISION: &str = "2025-11-25";
/// The most of one answer the check reads: a smoke check never needs a large body, and a
/// misbehaving server must not make it buffer without end.
const MAX_BODY: usize = 4 << 20;
const CLIENT_NAME: &str = "vaultgate-gateway smoke";

/// One HTTP answer, reduced.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// `Mcp-Session-Id`, when the answer carries one.
    pub session: Option<String>,
    /// `WWW-Authenticate`, when the answer carries one.
    pub challenge: Option<String>,
    /// The JSON-RPC message (plain JSON, or the SSE event that answers the request).
    pub message: Option<Value>,
    /// The start of the body, for failure messages.
    pub excerpt: String,
}

impl Reply {
    /// The JSON-RPC `result`, or why there is none.
    pub fn result(&self) -> Result<&Value, String> {
        if self.status != 200 {
            return Err(format!("HTTP {}: {}", self.status, self.excerpt));
        }
        let Some(m) = &self.message else {
            return Err(format!("HTTP 200 without a JSON-RPC answer: {}", self.excerpt));
        };
        if let Some(e) = m.get("error") {
            return Err(format!("JSON-RPC error {e}"));
        }
        m.get("result")
            .ok_or_else(|| format!("JSON-RPC answer without a result: {}", self.excerpt))
    }

    /// A tool call's structured answer, or why there is none (including a tool error).
    pub fn tool_output(&self) -> Result<Value, String> {
        let r = self.result()?;
        if r.get("isError") == Some(&Value::Bool(true)) {
            return Err(format!("the tool reported an error: {}", excerpt(&r.to_string())));
        }
        Ok(structured(r))
    }
}

/// The structured content of a tool result (or its first text item parsed as JSON).
fn structured(result: &Value) -> Value {
    if let Some(s) = result.get("structuredContent") {
        return s.clone();
    }
    result["content"][0]["text"]
        .as_str()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn excerpt(text: &str) -> String {
    let flat: String = text
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    flat.trim().to_owned()
}

/// An HTTP client for one deployment.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// One MCP request: who, in which era, within which session.
pub struct Call<'a> {
    pub token: &'a str,
    pub era: Era,
    /// The legacy session, and the revision `initialize` agreed on.
    pub session: Option<(&'a str, &'a str)>,
}

impl Client {
    /// A client for the deployment at `base` (no trailing slash). Redirects are not followed:
    /// the check reports what the deployment itself answers.
    pub fn new(base: &str, timeout: Duration) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vaultgate-gateway-smoke/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// `GET {base}{path}`.
    pub async fn get(&self, path: &str) -> Result<Reply, String> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// `DELETE {base}/mcp` for a legacy session.
    pub async fn end_session(&self, token: &str, session: &str, revision: &str) -> Result<Reply, String> {
        let rb = self
            .http
            .delete(format!("{}/mcp", self.base))
            .bearer_auth(token)
            .header(MCP_SESSION_ID, session)
            .header(MCP_PROTOCOL_VERSION, revision);
        self.send(rb).await
    }

    /// `initialize` (legacy era): no session and no protocol header yet.
    pub async fn initialize(&self, token: &str) -> Result<Reply, String> {
        let params = json!({
            "protocolVersion": LEGACY_REVISION,
            "capabilities": {},
            "clientInfo": {"name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION")},
        });
        let call = Call {
            token,
            era: Era::Legacy,
            session: None,
        };
        self.rpc(&call, "initialize", params, Some(0)).await
    }

    /// One JSON-RPC request (`id` given) or notification (`id` None) on `POST {base}/mcp`,
    /// with the headers its era requires.
    pub async fn rpc(
        &self,
        call: &Call<'_>,
        method: &str,
        mut params: Value,
        id: Option<u64>,
    ) -> Result<Reply, String> {
        let mut rb = self
            .http
            .post(format!("{}/mcp", self.base))
            .bearer_auth(call.token)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream");
        match call.era {
            Era::Legacy => {
                if let Some((session, revision)) = call.session {
                    rb = rb
                        .header(MCP_SESSION_ID, session)
                        .header(MCP_PROTOCOL_VERSION, revision);
                }
            }
            Era::Modern => {
                // 2026-07-28: the client's context travels in every request's `_meta`, and the
                // method (and the tool's name) in headers that must match the body.
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": MODERN_REVISION,
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION")},
                });
                rb = rb
                    .header(MCP_PROTOCOL_VERSION, MODERN_REVISION)
                    .header(MCP_METHOD, method);
                if method == "tools/call"
                    && let Some(name) = params.get("name").and_then(Value::as_str)
                {
                    rb = rb.header(MCP_NAME, name);
                }
            }
        }
        let mut msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if let Some(id) = id {
            msg["id"] = json!(id);
        }
        self.send(rb.body(msg.to_string())).await
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<Reply, String> {
        let mut r = rb.send().await.map_err(|e| describe(&e))?;
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (session, challenge) = (header("mcp-session-id"), header("www-authenticate"));
        let sse = header("content-type").is_some_and(|ct| ct.starts_with("text/event-stream"));
        let status = r.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("HTTP {status}: the answer is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body);
        let message = if sse {
            // The last `data:` line that answers a request (notifications may come first).
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .rfind(|v| v.get("id").is_some())
        } else {
            serde_json::from_str(&text).ok()
        };
        Ok(Reply {
            status,
            session,
            challenge,
            message,
            excerpt: excerpt(&text),
        })
    }
}

/// A transport error with its causes (reqwest's own message is often just "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
