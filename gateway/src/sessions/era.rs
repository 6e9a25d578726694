//! Which MCP protocol era a request belongs to, and what little of its JSON-RPC body
//! the gateway needs to know (the method, the id).

use http::HeaderName;
use pingora::http::RequestHeader;
use vaultgate_shared::mcp;

/// Header names looked up on every MCP request, as `HeaderName`s: a `&str` key is parsed
/// (validated and lower-cased) again on every lookup.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static(mcp::PROTOCOL_VERSION);
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static(mcp::SESSION_ID);
/// 2026-07-28: the tool, resource or prompt a `tools/call`, `resources/read` or `prompts/get` names.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// The first revision without sessions or `initialize`.
pub const MODERN_REVISION: &str = mcp::MODERN_REVISION;

/// The 400 for a session-era request without `Mcp-Session-Id`: which header, where it comes
/// from, and the sessionless alternative, so someone typing curl can fix the request.
pub const MISSING_SESSION: &str = "this request has no Mcp-Session-Id header. MCP protocol versions \
     2025-03-26 to 2025-11-25 (and requests without MCP-Protocol-Version) use sessions: send an \
     `initialize` request first, then send the Mcp-Session-Id header of its response on every later \
     request, e.g. `Mcp-Session-Id: 1f0c9b2e-7d4a-4c3b-9e8f-2a6d5c4b3a21`. Or use the sessionless \
     protocol: send `MCP-Protocol-Version: 2026-07-28` and the method in `Mcp-Method` (e.g. \
     `Mcp-Method: tools/call`, with `Mcp-Name: list_notes`).";

/// The two MCP Streamable HTTP eras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// Revisions 2025-03-26 … 2025-11-25: `initialize` and gateway-minted sessions.
    Legacy,
    /// Revision 2026-07-28 and later: no sessions; `Mcp-Method` on every POST.
    Modern,
}

impl Era {
    /// Reads the era from `MCP-Protocol-Version` and `Mcp-Method`.
    pub fn of(req: &RequestHeader) -> Self {
        if req.headers.contains_key(MCP_METHOD) {
            return Era::Modern;
        }
        match req.headers.get(MCP_PROTOCOL_VERSION).and_then(|v| v.to_str().ok()) {
            Some(v) if is_revision(v) && v >= MODERN_REVISION => Era::Modern,
            _ => Era::Legacy,
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Era::Legacy => "legacy",
            Era::Modern => "modern",
        }
    }
}

fn is_revision(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The parts of a JSON-RPC message the gateway looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RpcPeek {
    pub method: Option<String>,
    pub id: Option<serde_json::Value>,
    /// The W3C trace context in `params._meta` (`traceparent`, `tracestate`), read in the same pass.
    pub trace: Option<TraceMeta>,
}

/// A client's trace context from a JSON-RPC body's `params._meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceMeta {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl RpcPeek {
    /// Parses a whole body; anything that is not one JSON-RPC object yields an empty peek.
    /// The body must be UTF-8 first: serde_json skips the fields it ignores without checking
    /// their encoding, so an invalid body could otherwise pass for an `initialize` (found by fuzzing).
    pub fn parse(body: &[u8]) -> Self {
        let Ok(body) = std::str::from_utf8(body) else {
            return Self::default();
        };
        #[derive(serde::Deserialize)]
        struct Msg {
            method: Option<String>,
            id: Option<serde_json::Value>,
            #[serde(default)]
            params: ParamsMeta,
        }
        #[derive(serde::Deserialize)]
        struct Bare {
            method: Option<String>,
            id: Option<serde_json::Value>,
        }
        let parsed = match serde_json::from_str::<Msg>(body) {
            Ok(m) => Ok((m.method, m.id, m.params.0)),
            // Only `params` can make this parse fail where one ignoring it passes (a repeated
            // `params` key): the method and id must not depend on the trace context.
            Err(_) => serde_json::from_str::<Bare>(body).map(|m| (m.method, m.id, None)),
        };
        match parsed {
            // Skipped fields are not fully checked (a lone surrogate escape passes): an
            // `initialize`, which opens a session, must be JSON the backend will accept too.
            Ok((method, _, _))
                if method.as_deref() == Some("initialize")
                    && serde_json::from_str::<serde_json::Value>(body).is_err() =>
            {
                Self::default()
            }
            Ok((method, id, trace)) => Self {
                method,
                id: id.filter(|v| v.is_string() || v.is_number()),
                trace,
            },
            Err(_) => Self::default(),
        }
    }

    /// True for an `initialize` request.
    pub fn is_initialize(&self) -> bool {
        self.method.as_deref() == Some("initialize")
    }
}

/// `params`, of which only `_meta`'s trace context is kept: any other shape (an array, a
/// scalar, `_meta` without a string `traceparent`) is skipped, never an error.
#[derive(Default)]
struct ParamsMeta(Option<TraceMeta>);

impl<'de> serde::Deserialize<'de> for ParamsMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ParamsMeta;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON-RPC params")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ParamsMeta, A::Error> {
                let mut trace = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "_meta" {
                        let meta: serde_json::Value = map.next_value()?;
                        trace = trace_meta(&meta);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(ParamsMeta(trace))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ParamsMeta, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(ParamsMeta(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_unit<E>(self) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_none<E>(self) -> Result<ParamsMeta, E> {
                Ok(ParamsMeta(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<ParamsMeta, D::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_any(V)
    }
}

/// `traceparent` (a string) and `tracestate` (a string, or absent) of a `_meta` object.
fn trace_meta(meta: &serde_json::Value) -> Option<TraceMeta> {
    let traceparent = meta.get("traceparent")?.as_str()?.to_owned();
    let tracestate = match meta.get("tracestate") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_str()?.to_owned()),
    };
    Some(TraceMeta {
        traceparent,
        tracestate,
    })
}

/// Finds a `"method":"…"` value in the first chunk of a body without parsing it all
/// (for the metric only; the body is forwarded untouched).
pub fn scan_method(chunk: &[u8]) -> Option<&str> {
    let at = chunk.windows(8).position(|w| w == b"\"method\"")? + 8;
    let rest = &chunk[at..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start()
        .strip_prefix(b"\"")?;
    let end = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Every `method` label value of `mcp_requests_total`: the methods the gateway knows, then
/// `none` (no method seen) and `other` (anything else), so the label stays bounded.
pub const METHOD_LABELS: [&str; 24] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "tasks/result",
    "none",
    "other",
];

/// A JSON-RPC method reduced to its metric label: an index into [`METHOD_LABELS`], so a
/// request carries no `String` for it and the metric series can be kept in an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcMethod(u8);

impl RpcMethod {
    /// No method seen (yet).
    pub const NONE: Self = Self(22);
    const OTHER: Self = Self(23);

    /// The label of `method` (`none` when absent, `other` when unknown).
    pub fn of(method: Option<&str>) -> Self {
        match method {
            None => Self::NONE,
            Some(m) => METHOD_LABELS[..22]
                .iter()
                .position(|k| *k == m)
                .map_or(Self::OTHER, |i| Self(i as u8)),
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        METHOD_LABELS[self.index()]
    }

    /// The position of the label in [`METHOD_LABELS`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A bounded metric label for a JSON-RPC method.
pub fn method_label(method: Option<&str>) -> &'static str {
    RpcMethod::of(method).label()
}

/// What one MCP request is.
#[derive(Debug, Clone)]
pub struct McpCall {
    pub era: Era,
    /// The JSON-RPC method, as its (bounded) metric label.
    pub method: RpcMethod,
    pub rpc_id: Option<serde_json::Value>,
    /// A legacy `initialize` without a session: mint one if the backend answers 200.
    pub mint_session: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(h: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/mcp", None).unwrap();
        for (k, v) in h {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn era_table() {
        assert_eq!(Era::of(&req(&[])), Era::Legacy);
        assert_eq!(Era::of(&req(&[("MCP-Protocol-Version", "2025-06-18")])), Era::Legacy);
        assert_eq!(Era::of(&req(&[("MCP-Protocol-Version", "2025-11-25")])), Era::Legacy);
        assert_eq!(Era::of(&req(&[("MCP-Protocol-Version", "2026-07-28")])), Era::Modern);
        assert_eq!(Era::of(&req(&[("MCP-Protocol-Version", "2027-01-01")])), Era::Modern);
        assert_eq!(Era::of(&req(&[("MCP-Protocol-Version", "zzzz")])), Era::Legacy);
        assert_eq!(Era::of(&req(&[("Mcp-Method", "tools/list")])), Era::Modern);
    }

    #[test]
    fn invalid_utf8_in_an_ignored_field_is_not_an_initialize() {
        let body = b"{\"method\":\"initialize\",\"id\":1,\"params\":{\"protocolVersion\":\"2\xd2\xcd5\"}}";
        assert_eq!(RpcPeek::parse(body), RpcPeek::default());
        let valid = br#"{"method":"initialize","id":1,"params":{"protocolVersion":"2025-11-25"}}"#;
        assert!(RpcPeek::parse(valid).is_initialize());
    }

    #[test]
    fn trace_context_is_read_in_the_same_pass() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","_meta":{{"traceparent":"{tp}","tracestate":"a=b"}}}}}}"#
        );
        let p = RpcPeek::parse(body.as_bytes());
        assert_eq!(p.method.as_deref(), Some("tools/call"));
        assert_eq!(
            p.trace,
            Some(TraceMeta {
                traceparent: tp.into(),
                tracestate: Some("a=b".into())
            })
        );
        // Whatever shape `params` has, the method and id are read as before.
        for params in [
            r#"[1,{"_meta":2}]"#,
            "3",
            "null",
            r#""s""#,
            r#"{"_meta":5}"#,
            r#"{"_meta":{"traceparent":7}}"#,
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":9,"method":"initialize","params":{params}}}"#);
            let p = RpcPeek::parse(body.as_bytes());
            assert!(p.is_initialize(), "{params}");
            assert_eq!((p.id, p.trace), (Some(serde_json::json!(9)), None), "{params}");
        }
        let twice = br#"{"jsonrpc":"2.0","id":9,"method":"initialize","params":{},"params":{}}"#;
        assert!(RpcPeek::parse(twice).is_initialize());
    }

    #[test]
    fn peek_and_scan() {
        let p = RpcPeek::parse(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        assert!(p.is_initialize());
        assert_eq!(p.id, Some(serde_json::json!(1)));
        assert_eq!(RpcPeek::parse(b"[{}]"), RpcPeek::default());
        assert_eq!(RpcPeek::parse(b"garbage"), RpcPeek::default());
        // A lone surrogate escape in a skipped field: not JSON the backend accepts, so not an
        // initialize (found by fuzzing).
        let lone = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"c\udddd":{}}}"#;
        assert!(!RpcPeek::parse(lone).is_initialize());
        assert_eq!(
            scan_method(br#"{"id":1, "method" : "tools/call","params":{}}"#),
            Some("tools/call")
        );
        assert_eq!(scan_method(br#"{"id":1}"#), None);
        assert_eq!(method_label(Some("tools/call")), "tools/call");
        assert_eq!(method_label(Some("x".repeat(100).as_str())), "other");
    }
}
