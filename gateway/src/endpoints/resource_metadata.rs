//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for `/mcp`, published only with
//! `MCP_OAUTH=huggingface`: it tells an MCP client that Hugging Face is the authorization
//! server, so the client can sign the person in by itself and call `/mcp` with the
//! Hugging Face token it gets (checked like any `hf_…` bearer). Clients that see this
//! metadata stop sending configured headers, so it is never published when the flow is off.

use bytes::Bytes;

use crate::answer::Answer;
use crate::routes::MCP_METADATA_PATH;

/// The published document and the challenge parameters that point to it.
#[derive(Debug, Clone)]
pub struct ResourceMetadata {
    document: Bytes,
    challenge: String,
}

impl ResourceMetadata {
    /// Metadata for `public_url`/mcp, protected by the authorization server `issuer` with `scopes`.
    pub fn new(public_url: &str, issuer: &str, scopes: &[&str]) -> Self {
        let doc = serde_json::json!({
            "resource": format!("{public_url}/mcp"),
            "authorization_servers": [issuer.trim_end_matches('/')],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "vaultgate: your private Markdown vault",
            "resource_documentation": format!("{public_url}/"),
        });
        Self {
            document: Bytes::from(doc.to_string()),
            challenge: format!(
                "resource_metadata=\"{public_url}{MCP_METADATA_PATH}\", scope=\"{}\"",
                scopes.join(" ")
            ),
        }
    }

    /// The parameters added to every `/mcp` 401 challenge.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Answers a request for the metadata. Public and credential-free, so any origin may read it.
    pub fn serve(&self, method: &http::Method) -> Answer {
        let a = match *method {
            http::Method::GET | http::Method::HEAD => Answer::raw(200, "application/json", self.document.clone()),
            http::Method::OPTIONS => Answer::raw(204, "text/plain", Bytes::new())
                .header("access-control-allow-methods", "GET, OPTIONS")
                .header("access-control-allow-headers", "*")
                .header("access-control-max-age", "3600"),
            _ => return Answer::error(405, "method_not_allowed", "use GET", None).header("allow", "GET"),
        };
        a.header("access-control-allow-origin", "*")
    }
}

/// Answers a metadata request: the document when `MCP_OAUTH` publishes it, else a 404.
pub fn serve(metadata: Option<&ResourceMetadata>, method: &http::Method) -> Answer {
    match metadata {
        Some(m) => m.serve(method),
        None => not_published(),
    }
}

/// The answer when the option is off: nothing is published.
pub fn not_published() -> Answer {
    Answer::error(
        404,
        "not_found",
        "this gateway does not publish OAuth metadata (MCP_OAUTH is off); send a token as Authorization: Bearer",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_fields_follow_rfc9728() {
        let m = ResourceMetadata::new(
            "https://a-b.hf.space",
            "https://huggingface.co/",
            &["openid", "profile"],
        );
        let v: serde_json::Value = serde_json::from_slice(&m.document).unwrap();
        assert_eq!(v["resource"], "https://a-b.hf.space/mcp");
        assert_eq!(
            v["authorization_servers"],
            serde_json::json!(["https://huggingface.co"])
        );
        assert_eq!(v["scopes_supported"], serde_json::json!(["openid", "profile"]));
        assert_eq!(v["bearer_methods_supported"], serde_json::json!(["header"]));
        assert!(v["resource_name"].is_string() && v["resource_documentation"] == "https://a-b.hf.space/");
        assert_eq!(
            m.challenge(),
            "resource_metadata=\"https://a-b.hf.space/.well-known/oauth-protected-resource/mcp\", scope=\"openid profile\""
        );
    }
}
