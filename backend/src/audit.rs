//! The backend's audit log: one line per MCP tool call and per REST write, in the gateway's
//! format ([`vaultgate_shared::audit`]). A note path is never written: only its keyed hash
//! (HMAC-SHA256 under `AUDIT_HASH_KEY` of the user id and the path), so an operator can tell
//! that two lines touched the same note of the same user without learning its name, and a line
//! of one user cannot be matched with another user's note of the same name.

use std::time::Duration;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use vaultgate_shared::UserId;
use vaultgate_shared::audit::{TARGET, TRACEPARENT, trace_id};
use vaultgate_shared::config::{Mode, Secret};
use vaultgate_shared::headers::{REQUEST_ID, is_valid_request_id};

/// Shortest `AUDIT_HASH_KEY` accepted (bytes), as for the other keys.
pub const MIN_KEY_BYTES: usize = 32;

/// Why the audit key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error(
        "AUDIT_HASH_KEY is not set: with MODE=space the audit log's note hashes must stay comparable across restarts and replicas; set a random key of at least {MIN_KEY_BYTES} bytes (e.g. openssl rand -base64 48)"
    )]
    Missing,
    #[error("AUDIT_HASH_KEY is {0} bytes; it must be at least {MIN_KEY_BYTES}")]
    Short(usize),
}

/// Writes audit lines; holds the key that hashes note paths.
#[derive(Clone)]
pub struct Auditor {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auditor")
    }
}

impl Auditor {
    /// The auditor for `key`. Without a key: refused in `space` mode (hashes made with a random
    /// key cannot be compared after a restart or between replicas), a random key with a warning
    /// in `local` mode.
    pub fn new(key: Option<&Secret>, mode: Mode) -> Result<Self, AuditKeyError> {
        let generated;
        let key = match key {
            Some(k) if k.len() < MIN_KEY_BYTES => return Err(AuditKeyError::Short(k.len())),
            Some(k) => k,
            None if mode == Mode::Space => return Err(AuditKeyError::Missing),
            None => {
                tracing::warn!(
                    "AUDIT_HASH_KEY is not set: note hashes in the audit log use a random key and cannot be compared after a restart"
                );
                generated = vaultgate_shared::config::generate_secret();
                &generated
            }
        };
        Ok(Self::with_key(key.expose()))
    }

    /// An auditor with this exact key (tests, and [`Self::new`]).
    pub fn with_key(key: &[u8]) -> Self {
        // HMAC takes keys of any length; the error type exists only for fixed-size MACs.
        let mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self { mac }
    }

    /// The keyed hash of `user`'s note `path`: hex HMAC-SHA256 truncated to 128 bits.
    pub fn path_hash(&self, user: &UserId, path: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(user.as_str().as_bytes());
        // User ids cannot contain NUL, so (user, path) pairs cannot collide by concatenation.
        mac.update(&[0]);
        mac.update(path.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// One MCP tool call.
    pub fn tool_call(&self, call: &Call<'_>, tool: &str) {
        let (path_hash, new_path_hash) = self.hashes(call);
        tracing::info!(
            target: TARGET,
            event = "tool_call",
            user = call.user.map(UserId::as_str),
            tool,
            outcome = call.outcome,
            duration_ms = millis(call.duration),
            request_id = call.ids.request_id,
            trace_id = call.ids.trace_id,
            path_hash,
            new_path_hash,
        );
    }

    /// One REST write (PUT, DELETE or move of a note), whatever its outcome.
    pub fn rest_write(&self, call: &Call<'_>, route: &str, method: &str, status: u16) {
        let (path_hash, new_path_hash) = self.hashes(call);
        tracing::info!(
            target: TARGET,
            event = "rest_write",
            user = call.user.map(UserId::as_str),
            route,
            method,
            status,
            outcome = call.outcome,
            duration_ms = millis(call.duration),
            request_id = call.ids.request_id,
            trace_id = call.ids.trace_id,
            path_hash,
            new_path_hash,
        );
    }

    fn hashes(&self, call: &Call<'_>) -> (Option<String>, Option<String>) {
        let Some(user) = call.user else {
            return (None, None);
        };
        let h = |p: Option<&str>| p.map(|p| self.path_hash(user, p));
        (h(call.path), h(call.new_path))
    }
}

/// Milliseconds with microsecond precision.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// The correlation ids of one request, read from its headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIds {
    /// The gateway's `X-Request-Id`, when it is a well-formed UUID.
    pub request_id: Option<String>,
    /// The trace id of a well-formed W3C `traceparent`.
    pub trace_id: Option<String>,
}

impl RequestIds {
    /// The ids in `headers`; malformed values are dropped, never logged.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            request_id: get(REQUEST_ID).filter(|v| is_valid_request_id(v)).map(str::to_owned),
            trace_id: get(TRACEPARENT).and_then(trace_id).map(str::to_owned),
        }
    }
}

/// What one audited call did.
#[derive(Debug)]
pub struct Call<'a> {
    pub user: Option<&'a UserId>,
    /// `ok`, or the error code the caller got (`not_found`, `conflict`, …).
    pub outcome: &'a str,
    pub duration: Duration,
    pub ids: &'a RequestIds,
    /// The note the call named, hashed before it is written.
    pub path: Option<&'a str>,
    /// The destination of a move, hashed likewise.
    pub new_path: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn hashes_are_keyed_per_key_and_per_user() {
        let a = Auditor::with_key(&[1; 32]);
        let b = Auditor::with_key(&[2; 32]);
        let h = a.path_hash(&user("alice"), "secret/plan.md");
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, a.path_hash(&user("alice"), "secret/plan.md"));
        assert_ne!(h, b.path_hash(&user("alice"), "secret/plan.md"));
        assert_ne!(h, a.path_hash(&user("bob"), "secret/plan.md"));
        assert_ne!(h, a.path_hash(&user("alice"), "secret/plan2.md"));
        assert!(!h.contains("plan"));
    }

    #[test]
    fn key_rules_by_mode() {
        assert!(matches!(Auditor::new(None, Mode::Space), Err(AuditKeyError::Missing)));
        assert!(Auditor::new(None, Mode::Local).is_ok());
        let short = Secret::new("x".repeat(MIN_KEY_BYTES - 1));
        assert!(matches!(
            Auditor::new(Some(&short), Mode::Local),
            Err(AuditKeyError::Short(31))
        ));
        let good = Secret::new("k".repeat(MIN_KEY_BYTES));
        assert!(Auditor::new(Some(&good), Mode::Space).is_ok());
    }

    #[test]
    fn request_ids_from_headers_drop_malformed_values() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, "3f2504e0-4f89-41d3-9a0c-0305e82c3301".parse().unwrap());
        h.insert(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let ids = RequestIds::from_headers(&h);
        assert_eq!(ids.request_id.as_deref(), Some("3f2504e0-4f89-41d3-9a0c-0305e82c3301"));
        assert_eq!(ids.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, "not-a-uuid".parse().unwrap());
        h.insert(TRACEPARENT, "garbage".parse().unwrap());
        assert_eq!(RequestIds::from_headers(&h), RequestIds::default());
    }
}
