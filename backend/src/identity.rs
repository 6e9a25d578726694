//! The one gate in front of every route but `GET /healthz`: a valid identity assertion whose
//! `sub` equals `X-Vault-User`. The user comes from the assertion only.

use http::HeaderMap;
use vaultgate_shared::Identity;
use vaultgate_shared::headers::{IDENTITY, USER};
use vaultgate_shared::identity::{IdentityError, IdentityKey, verify_request};

use crate::metrics::Metrics;

/// Verifies the request's assertion; on failure counts it and writes an audit line.
pub fn authenticate(
    key: &IdentityKey,
    metrics: &Metrics,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Identity, IdentityError> {
    let assertion = headers.get(IDENTITY).map(|v| v.as_bytes());
    let user = headers.get(USER).map(|v| v.as_bytes());
    // More than one copy of either header is ambiguous: refuse rather than pick one.
    if headers.get_all(IDENTITY).iter().count() > 1 || headers.get_all(USER).iter().count() > 1 {
        return Err(reject(metrics, IdentityError::UserMismatch, request_id));
    }
    verify_request(key, assertion, user).map_err(|e| reject(metrics, e, request_id))
}

fn reject(metrics: &Metrics, e: IdentityError, request_id: &str) -> IdentityError {
    metrics.identity_rejections.with_label_values(&[e.reason()]).inc();
    tracing::warn!(target: vaultgate_shared::audit::TARGET, event = "identity_rejected", reason = e.reason(), request_id, "request refused: {e}");
    e
}
