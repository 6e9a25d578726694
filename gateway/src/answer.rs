//! Responses the gateway writes itself (health, errors, token endpoints), built in one
//! place so that every refusal has the same shape: the shared JSON error body, or on
//! `/mcp` a JSON-RPC error object, and never a redirect.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use vaultgate_shared::ErrorBody;
use vaultgate_shared::headers::REQUEST_ID;

/// Largest unread request body drained (rather than the connection closed) after a refusal.
const DRAIN_MAX_BYTES: u64 = 16 * 1024;

/// JSON-RPC error code used for gateway refusals on `/mcp` (implementation-defined range).
pub const JSONRPC_GATEWAY_ERROR: i64 = -32001;

/// A complete local response.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The error code of an error answer (the refusal reason traces record).
    pub code: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    /// A bodiless answer (204): only the status and the request id are written.
    bare: bool,
}

impl Answer {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::raw(status, "application/json", Bytes::from(value.to_string()))
    }

    /// Any body with a content type.
    pub fn raw(status: u16, content_type: &str, body: Bytes) -> Self {
        Self {
            status,
            code: None,
            headers: vec![("content-type", content_type.to_owned())],
            body,
            bare: false,
        }
    }

    /// `204 No Content` with no header of its own (not even `Content-Length`, RFC 9110 §8.6).
    pub fn no_content() -> Self {
        Self {
            status: 204,
            code: None,
            headers: Vec::new(),
            body: Bytes::new(),
            bare: true,
        }
    }

    /// Whether this is a bodiless answer (no RateLimit fields are added to it either).
    pub fn is_bare(&self) -> bool {
        self.bare
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// An error: the shared error body, or a JSON-RPC error object when `rpc` says this is `/mcp`.
    pub fn error(status: u16, code: &'static str, message: &str, rpc: Option<&serde_json::Value>) -> Self {
        let mut a = match rpc {
            Some(id) => Self::json(
                status,
                &serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {"code": JSONRPC_GATEWAY_ERROR, "message": message, "data": {"error": code, "status": status}},
                }),
            ),
            None => Self::raw(
                status,
                "application/json",
                Bytes::from(ErrorBody::new(code, message).to_json()),
            ),
        };
        a.code = Some(code);
        a
    }

    /// 401 for a request that sent no credential: `WWW-Authenticate: Bearer realm="vaultgate"`
    /// without an error code (RFC 6750 §3.1: a request without authentication information gets none).
    pub fn no_credential(description: &str, rpc: Option<&serde_json::Value>) -> Self {
        Self::error(
            401,
            "invalid_token",
            &format!("authentication required: {description}"),
            rpc,
        )
        .header("www-authenticate", "Bearer realm=\"vaultgate\"")
    }

    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (or `invalid_request` for 400):
    /// a credential was sent and refused.
    pub fn unauthorized(status: u16, description: &str, rpc: Option<&serde_json::Value>) -> Self {
        let (code, message) = if status == 400 {
            ("invalid_request", description.to_owned())
        } else {
            ("invalid_token", format!("authentication failed: {description}"))
        };
        let quoted = description.replace(['"', '\\'], "'");
        Self::error(status, code, &message, rpc).header(
            "www-authenticate",
            format!("Bearer realm=\"vaultgate\", error=\"{code}\", error_description=\"{quoted}\""),
        )
    }

    /// Appends parameters (e.g. RFC 9728 `resource_metadata`) to the `WWW-Authenticate` challenge.
    pub fn challenge_params(mut self, params: &str) -> Self {
        if let Some((_, v)) = self.headers.iter_mut().find(|(n, _)| *n == "www-authenticate") {
            v.push_str(", ");
            v.push_str(params);
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The first value of header `name`, as set on this answer.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Writes the response; the connection is closed afterwards when the request body was not read.
    pub async fn send(self, session: &mut Session, request_id: &str, body_read: bool) -> pingora::Result<()> {
        if self.bare {
            let mut resp = ResponseHeader::build(self.status, Some(2))?;
            resp.insert_header(REQUEST_ID, request_id)?;
            return session.write_response_header(Box::new(resp), true).await;
        }
        let mut resp = ResponseHeader::build(self.status, Some(self.headers.len() + 3))?;
        for (name, value) in self.headers {
            resp.append_header(name, value)?;
        }
        resp.insert_header("content-length", self.body.len().to_string())?;
        resp.insert_header("cache-control", "no-store")?;
        resp.insert_header(REQUEST_ID, request_id)?;
        if !body_read && !session.is_body_empty() {
            // An unread body would be parsed as the next request. A small declared one is read
            // and dropped so the connection stays usable (refusals are frequent under a flood,
            // and reconnecting costs more than reading a few KiB); anything else closes it.
            let small = session
                .req_header()
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_some_and(|n| n <= DRAIN_MAX_BYTES);
            if !small || session.drain_request_body().await.is_err() {
                session.set_keepalive(None);
            }
        }
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(self.body), true).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_errors_are_jsonrpc() {
        let a = Answer::unauthorized(401, "token has \"expired\"", Some(&serde_json::json!(7)));
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["data"]["error"], "invalid_token");
        let www = a.headers.iter().find(|(n, _)| *n == "www-authenticate").unwrap();
        assert_eq!(
            www.1,
            "Bearer realm=\"vaultgate\", error=\"invalid_token\", error_description=\"token has 'expired'\""
        );
    }

    #[test]
    fn a_request_without_credential_gets_a_challenge_without_error_code() {
        let a = Answer::no_credential("send an Authorization: Bearer header", None)
            .challenge_params("resource_metadata=\"https://x/.well-known/oauth-protected-resource/mcp\"");
        assert_eq!(a.status, 401);
        assert_eq!(
            a.header_value("www-authenticate"),
            Some(
                "Bearer realm=\"vaultgate\", resource_metadata=\"https://x/.well-known/oauth-protected-resource/mcp\""
            )
        );
    }

    #[test]
    fn api_errors_use_the_shared_body() {
        let a = Answer::error(403, "forbidden_origin", "origin not allowed", None);
        let b: ErrorBody = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(b.error, "forbidden_origin");
    }
}
