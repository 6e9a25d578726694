//! The JSON error body both programs answer with.

use serde::{Deserialize, Serialize};

/// `{"error": "<machine code>", "message": "<for people>", "request_id": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable snake_case code a program can branch on (`invalid_token`, `not_found`, …).
    pub error: String,
    /// A sentence for a person; never a path, a token, SQL or another user's data.
    pub message: String,
    /// The request's correlation id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// A body with a code and a message.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
            request_id: None,
        }
    }

    /// Adds the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The body as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_escapes() {
        let b = ErrorBody::new("bad_request", "quote \" and newline \n").with_request_id("r1");
        let back: ErrorBody = serde_json::from_slice(&b.to_json()).unwrap();
        assert_eq!(back, b);
        let plain = String::from_utf8(ErrorBody::new("x", "y").to_json()).unwrap();
        assert_eq!(plain, r#"{"error":"x","message":"y"}"#);
    }
}
