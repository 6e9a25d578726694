//! The request the backend sees: every client `x-vault-*` header, the client's
//! `Authorization` and the gateway cookie removed; the signed identity added.
//! This is the only place that writes identity headers.

use std::time::Duration;

use http::HeaderValue;
use pingora::http::RequestHeader;
use vaultgate_shared::UserId;
use vaultgate_shared::headers;
use vaultgate_shared::identity::{IdentityKey, MAX_LIFETIME_SECS, sign_identity_at};
use vaultgate_shared::jwt::now_secs;

use crate::auth::bearer::COOKIE_NAME;

/// How long one signed assertion is reused for the same user and session. Assertions
/// live 60 s; reusing one for 10 s leaves the backend at least 50 s of validity.
const REUSE_SECS: u64 = 10;

/// One signed assertion, ready to be put on a request: a `HeaderValue` clone shares its
/// bytes, so reusing it costs no copy and no re-validation of the ≈ 400-byte value.
#[derive(Clone)]
struct Signed {
    iat: u64,
    value: HeaderValue,
}

impl Signed {
    /// Whether it may still be reused at `now`.
    fn fresh(&self, now: u64) -> bool {
        now < self.iat + REUSE_SECS && self.iat + MAX_LIFETIME_SECS > now
    }
}

/// Signs assertions, reusing a fresh one per (user, session) for a few seconds.
pub struct IdentitySigner {
    key: IdentityKey,
    /// Assertions without a session, by user: looked up by `&UserId`, no key is built per request.
    by_user: moka::sync::Cache<UserId, Signed>,
    /// Assertions with a session, by session id; the entry names its user, and is only used
    /// for that user.
    by_session: moka::sync::Cache<String, (UserId, Signed)>,
}

impl IdentitySigner {
    /// A signer with the shared `IDENTITY_SECRET`.
    pub fn new(key: IdentityKey) -> Self {
        Self {
            key,
            by_user: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(REUSE_SECS))
                .build(),
            by_session: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(REUSE_SECS))
                .build(),
        }
    }

    /// An assertion for `user` (and `session`) with at least `MAX_LIFETIME_SECS - REUSE_SECS` left.
    pub fn assertion(&self, user: &UserId, session: Option<&str>) -> HeaderValue {
        let now = now_secs();
        let cached = match session {
            None => self.by_user.get(user),
            Some(s) => self.by_session.get(s).filter(|(u, _)| u == user).map(|(_, a)| a),
        };
        if let Some(a) = cached.filter(|a| a.fresh(now)) {
            return a.value;
        }
        let token = sign_identity_at(&self.key, user, session, now);
        // A compact JWT is base64url and dots only, always a valid header value.
        let value = HeaderValue::from_str(&token).unwrap_or_else(|_| HeaderValue::from_static(""));
        let signed = Signed { iat: now, value };
        match session {
            None => self.by_user.insert(user.clone(), signed.clone()),
            Some(s) => self.by_session.insert(s.to_owned(), (user.clone(), signed.clone())),
        }
        signed.value
    }
}

/// Removes what the client must not pass to the backend: `x-vault-*` (any case, all
/// copies) and every spelling with `_` that a CGI-style backend would read as one of the
/// gateway's headers (`X_Vault_User`, `x-vault_identity`, `X_Request_Id`), `Authorization`,
/// and the gateway cookie (other cookies stay).
pub fn strip_client_identity(req: &mut RequestHeader) {
    if req.headers.keys().any(|name| is_gateway_owned(name.as_str())) {
        strip_reserved(req);
    }
    req.remove_header(&http::header::AUTHORIZATION);
    strip_gateway_cookie(req);
}

fn strip_reserved(req: &mut RequestHeader) {
    let reserved: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|name| is_gateway_owned(name.as_str()))
        .cloned()
        .collect();
    for name in reserved {
        req.remove_header(&name);
    }
}

/// True for a name only the gateway may send upstream: `x-vault-*`, or a name with `_` that
/// reads as `x-vault-*` or `x-request-id` once `_` becomes `-` (CGI maps both to `_`).
/// Allocation-free: header names are checked on every request.
fn is_gateway_owned(name: &str) -> bool {
    if headers::is_reserved(name) {
        return true;
    }
    if !name.contains('_') {
        return false;
    }
    let same = |pattern: &str| {
        name.len() >= pattern.len()
            && name
                .bytes()
                .zip(pattern.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
    };
    same(headers::RESERVED_PREFIX) || (name.len() == headers::REQUEST_ID.len() && same(headers::REQUEST_ID))
}

fn strip_gateway_cookie(req: &mut RequestHeader) {
    let lines: Vec<String> = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if !lines.iter().any(|l| l.contains(COOKIE_NAME)) {
        return;
    }
    let kept: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty() && kv.split('=').next().map(str::trim) != Some(COOKIE_NAME))
        .collect();
    req.remove_header(&http::header::COOKIE);
    if !kept.is_empty() {
        // Each kept pair came from a valid header value, so the joined line is valid too.
        let _ = req.insert_header(http::header::COOKIE, kept.join("; "));
    }
}

/// Adds the contract's headers for `user`, `session` and `request_id`.
pub fn inject(
    req: &mut RequestHeader,
    signer: &IdentitySigner,
    user: &UserId,
    session: Option<&str>,
    request_id: &HeaderValue,
) -> pingora::Result<()> {
    req.insert_header(headers::IDENTITY, signer.assertion(user, session))?;
    req.insert_header(headers::USER, user.as_str())?;
    if let Some(s) = session {
        req.insert_header(headers::SESSION, s)?;
    }
    req.insert_header(headers::REQUEST_ID, request_id.clone())?;
    Ok(())
}

/// Adds only the request id: for public routes, which carry no identity.
pub fn inject_anonymous(req: &mut RequestHeader, request_id: &HeaderValue) -> pingora::Result<()> {
    req.insert_header(headers::REQUEST_ID, request_id.clone())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaultgate_shared::identity::verify_identity;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/mcp", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn spoofed_headers_are_replaced() {
        let key = IdentityKey::new(&[9u8; 32]).unwrap();
        let signer = IdentitySigner::new(key.clone());
        let mut r = req(&[
            ("X-Vault-User", "mallory"),
            ("x-vault-user", "mallory2"),
            ("X-VAULT-IDENTITY", "forged"),
            ("X-Vault-Session", "s"),
            ("x-vault-anything", "1"),
            ("Authorization", "Bearer secret-token"),
            ("Cookie", "a=1; vaultgate_token=abc; b=2"),
            ("Cookie", "vaultgate_token=def"),
            ("X-Request-Id", "spoof"),
            ("Accept", "application/json"),
            ("Mcp-Session-Id", "keep-me"),
        ]);
        strip_client_identity(&mut r);
        let alice = UserId::parse("alice").unwrap();
        inject(
            &mut r,
            &signer,
            &alice,
            Some("sess-1"),
            &HeaderValue::from_static("rid"),
        )
        .unwrap();
        let all = |n: &str| {
            r.headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("x-vault-user"), ["alice"]);
        assert_eq!(all("x-vault-session"), ["sess-1"]);
        assert!(all("x-vault-anything").is_empty());
        assert!(all("authorization").is_empty());
        assert_eq!(all("cookie"), ["a=1; b=2"]);
        assert_eq!(all("x-request-id"), ["rid"]);
        assert_eq!(all("accept"), ["application/json"]);
        assert_eq!(all("mcp-session-id"), ["keep-me"]);
        let ids = all("x-vault-identity");
        assert_eq!(ids.len(), 1);
        let id = verify_identity(&key, &ids[0]).unwrap();
        assert_eq!((id.user, id.session.as_deref()), (alice, Some("sess-1")));
    }

    #[test]
    fn gateway_owned_names_table() {
        for (name, owned) in [
            ("x-vault-user", true),
            ("x_vault_user", true),
            ("x_vault_identity", true),
            ("x-vault_session", true),
            ("x_vault-anything", true),
            ("x_request_id", true),
            ("x-request_id", true),
            ("x-request-id", false), // replaced by the gateway's own, not stripped here
            ("x_request_idx", false),
            ("x_vaul", false),
            ("x_forwarded_for", false),
            ("accept", false),
            ("mcp_session_id", false),
        ] {
            assert_eq!(is_gateway_owned(name), owned, "{name}");
        }
    }

    #[test]
    fn underscore_spellings_never_reach_the_backend() {
        let mut r = req(&[
            ("X_Vault_User", "mallory"),
            ("x_vault_identity", "forged"),
            ("X-Vault_Session", "s"),
            ("X_Request_Id", "spoof"),
            ("x_other", "kept"),
        ]);
        strip_client_identity(&mut r);
        let names: Vec<&str> = r.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x_other"]);
    }

    #[test]
    fn assertions_are_reused_briefly_per_user_and_session() {
        let signer = IdentitySigner::new(IdentityKey::new(&[9u8; 32]).unwrap());
        let a = UserId::parse("a").unwrap();
        let b = UserId::parse("b").unwrap();
        assert_eq!(signer.assertion(&a, None), signer.assertion(&a, None));
        assert_ne!(signer.assertion(&a, None), signer.assertion(&b, None));
        assert_ne!(signer.assertion(&a, None), signer.assertion(&a, Some("s")));
        assert_eq!(signer.assertion(&a, Some("s")), signer.assertion(&a, Some("s")));
        // A session's assertion is never handed to another user.
        assert_ne!(signer.assertion(&b, Some("s")), signer.assertion(&a, Some("s")));
    }
}
