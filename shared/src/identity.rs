//! The identity assertion: the only thing a backend trusts about who is calling.
//!
//! The gateway signs a short-lived HS256 JWT with `IDENTITY_SECRET` for every request
//! it forwards; the backend verifies it and takes the user from its `sub` alone.

use serde::{Deserialize, Serialize};

use crate::jwt::{self, Expectations, HmacKey, JwtError, MIN_SECRET_BYTES};
use crate::user::UserId;

/// `iss` of every assertion.
pub const ISSUER: &str = "vaultgate-gateway";
/// `aud` of every assertion.
pub const AUDIENCE: &str = "vaultgate-backend";
/// Longest lifetime (`exp - iat`) an assertion may claim.
pub const MAX_LIFETIME_SECS: u64 = 60;
/// Clock skew tolerated between the two programs.
pub const LEEWAY_SECS: u64 = 5;
/// Assertions are small; anything bigger than this is refused unread.
pub const MAX_ASSERTION_BYTES: usize = 2048;
/// Longest session id carried in `sid`.
pub const MAX_SESSION_ID_LEN: usize = 64;

/// Claims of an identity assertion, exactly as the contract lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// A verified caller: what a backend may rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub session: Option<String>,
    pub jti: String,
    pub expires_at: u64,
}

/// Why an assertion was refused; every variant is a 401 at the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("identity assertion is missing")]
    Missing,
    #[error("identity assertion header is not valid text")]
    NotText,
    #[error("X-Vault-User does not match the identity assertion")]
    UserMismatch,
    #[error("identity assertion claims a lifetime longer than {MAX_LIFETIME_SECS} seconds")]
    LifetimeTooLong,
    #[error("identity assertion carries a malformed session id")]
    BadSession,
    #[error(transparent)]
    Token(#[from] JwtError),
}

/// Every `IdentityError::reason()` value (for pre-registering metric series).
pub const REJECTION_REASONS: [&str; 12] = [
    "missing",
    "malformed",
    "user_mismatch",
    "lifetime_too_long",
    "bad_session",
    "too_large",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_audience",
    "bad_subject",
];

impl IdentityError {
    /// The low-cardinality reason used in metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            IdentityError::Missing => "missing",
            IdentityError::NotText => "malformed",
            IdentityError::UserMismatch => "user_mismatch",
            IdentityError::LifetimeTooLong => "lifetime_too_long",
            IdentityError::BadSession => "bad_session",
            IdentityError::Token(e) => e.reason(),
        }
    }
}

/// Why a secret cannot be used as `IDENTITY_SECRET`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "IDENTITY_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {0}); generate one with: openssl rand -base64 48"
)]
pub struct WeakSecret(pub usize);

/// The shared secret both programs hold; signs and verifies assertions.
#[derive(Clone, Debug)]
pub struct IdentityKey {
    key: HmacKey,
    expect: Expectations,
}

impl IdentityKey {
    /// Builds the key, refusing secrets shorter than 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret(secret.len()));
        }
        Ok(Self {
            key: HmacKey::new(secret),
            expect: Expectations::new(ISSUER, AUDIENCE, LEEWAY_SECS, MAX_ASSERTION_BYTES),
        })
    }
}

impl std::fmt::Debug for Expectations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expectations")
            .field("leeway", &self.leeway())
            .field("max_bytes", &self.max_bytes())
            .finish()
    }
}

fn session_ok(sid: &str) -> bool {
    !sid.is_empty()
        && sid.len() <= MAX_SESSION_ID_LEN
        && sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Signs an assertion for `user` (and `session`) valid from now for `MAX_LIFETIME_SECS`.
pub fn sign_identity(key: &IdentityKey, user: &UserId, session: Option<&str>) -> String {
    sign_identity_at(key, user, session, jwt::now_secs())
}

/// [`sign_identity`] with an explicit issue time, for callers that cache assertions.
pub fn sign_identity_at(key: &IdentityKey, user: &UserId, session: Option<&str>, iat: u64) -> String {
    let claims = IdentityClaims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user.as_str().to_owned(),
        sid: session.map(str::to_owned),
        iat,
        exp: iat + MAX_LIFETIME_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    key.key.sign(&claims, None)
}

/// Verifies one assertion: algorithm, signature, issuer, audience, time, subject, session.
pub fn verify_identity(key: &IdentityKey, token: &str) -> Result<Identity, IdentityError> {
    jwt::peek_header(token, key.expect.max_bytes())?;
    let claims: IdentityClaims = key.expect.verify(token, key.key.decoding())?;
    if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECS {
        return Err(IdentityError::LifetimeTooLong);
    }
    if claims.iat > jwt::now_secs() + key.expect.leeway() {
        return Err(JwtError::NotYetValid.into());
    }
    let user = UserId::parse(&claims.sub).map_err(|_| JwtError::BadSubject)?;
    if let Some(sid) = &claims.sid
        && !session_ok(sid)
    {
        return Err(IdentityError::BadSession);
    }
    Ok(Identity {
        user,
        session: claims.sid,
        jti: claims.jti,
        expires_at: claims.exp,
    })
}

/// Verifies the pair of headers a backend receives: the assertion and `X-Vault-User`.
///
/// Header values are passed as raw bytes so that a non-UTF-8 value is refused, not panicked on.
pub fn verify_request(
    key: &IdentityKey,
    assertion: Option<&[u8]>,
    user_header: Option<&[u8]>,
) -> Result<Identity, IdentityError> {
    let raw = assertion.ok_or(IdentityError::Missing)?;
    let token = std::str::from_utf8(raw).map_err(|_| IdentityError::NotText)?.trim();
    if token.is_empty() {
        return Err(IdentityError::Missing);
    }
    let identity = verify_identity(key, token)?;
    match user_header {
        Some(u) if u == identity.user.as_str().as_bytes() => Ok(identity),
        _ => Err(IdentityError::UserMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn key() -> IdentityKey {
        IdentityKey::new(SECRET).unwrap()
    }

    fn claims(sub: &str) -> IdentityClaims {
        let now = jwt::now_secs();
        IdentityClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            sid: None,
            iat: now,
            exp: now + 30,
            jti: "j".into(),
        }
    }

    fn sign_raw(secret: &[u8], c: &IdentityClaims) -> String {
        HmacKey::new(secret).sign(c, None)
    }

    fn forge_header(alg_json: &str, c: &IdentityClaims) -> String {
        let h = URL_SAFE_NO_PAD.encode(alg_json);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(b"sig"))
    }

    #[test]
    fn round_trip() {
        let u = UserId::parse("alice").unwrap();
        let t = sign_identity(&key(), &u, Some("0b8f6f5e-9c1e-4a57-8b7e-0a8e6d3c2b1a"));
        let id = verify_identity(&key(), &t).unwrap();
        assert_eq!(id.user, u);
        assert_eq!(id.session.as_deref(), Some("0b8f6f5e-9c1e-4a57-8b7e-0a8e6d3c2b1a"));
        assert!(t.len() < MAX_ASSERTION_BYTES);
    }

    #[test]
    fn weak_secret_refused() {
        assert_eq!(IdentityKey::new(b"short").unwrap_err(), WeakSecret(5));
        assert!(IdentityKey::new(&[7u8; 32]).is_ok());
    }

    #[test]
    fn hostile_assertions_table() {
        let now = jwt::now_secs();
        let mut expired = claims("alice");
        expired.iat = now - 200;
        expired.exp = now - 140;
        let mut future = claims("alice");
        future.iat = now + 600;
        future.exp = now + 630;
        let mut long = claims("alice");
        long.exp = now + 3600;
        let mut wrong_aud = claims("alice");
        wrong_aud.aud = "vaultgate".into();
        let mut wrong_iss = claims("alice");
        wrong_iss.iss = "evil".into();
        let mut bad_sid = claims("alice");
        bad_sid.sid = Some("a/b".into());
        let hs384 = {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384);
            h.typ = Some("JWT".into());
            jsonwebtoken::encode(&h, &claims("alice"), &jsonwebtoken::EncodingKey::from_secret(SECRET)).unwrap()
        };
        let valid = sign_raw(SECRET, &claims("alice"));
        let mut parts: Vec<&str> = valid.split('.').collect();
        let tampered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("bob")).unwrap());
        parts[1] = &tampered_payload;
        let tampered = parts.join(".");

        let cases: Vec<(&str, String, IdentityError)> = vec![
            (
                "wrong key",
                sign_raw(b"another-secret-another-secret-1234", &claims("alice")),
                JwtError::BadSignature.into(),
            ),
            ("tampered payload", tampered, JwtError::BadSignature.into()),
            ("expired", sign_raw(SECRET, &expired), JwtError::Expired.into()),
            ("not yet valid", sign_raw(SECRET, &future), JwtError::NotYetValid.into()),
            (
                "lifetime > 60 s",
                sign_raw(SECRET, &long),
                IdentityError::LifetimeTooLong,
            ),
            (
                "wrong audience",
                sign_raw(SECRET, &wrong_aud),
                JwtError::WrongAudience.into(),
            ),
            (
                "wrong issuer",
                sign_raw(SECRET, &wrong_iss),
                JwtError::WrongIssuer.into(),
            ),
            (
                "alg none",
                forge_header(r#"{"alg":"none","typ":"JWT"}"#, &claims("alice")),
                JwtError::AlgorithmNone.into(),
            ),
            ("alg HS384", hs384, JwtError::WrongAlgorithm.into()),
            (
                "alg RS256",
                forge_header(r#"{"alg":"RS256"}"#, &claims("alice")),
                JwtError::WrongAlgorithm.into(),
            ),
            (
                "subject ../",
                sign_raw(SECRET, &claims("../alice")),
                JwtError::BadSubject.into(),
            ),
            (
                "subject /",
                sign_raw(SECRET, &claims("a/b")),
                JwtError::BadSubject.into(),
            ),
            (
                "subject NUL",
                sign_raw(SECRET, &claims("a\0b")),
                JwtError::BadSubject.into(),
            ),
            (
                "subject 65 chars",
                sign_raw(SECRET, &claims(&"a".repeat(65))),
                JwtError::BadSubject.into(),
            ),
            (
                "subject empty",
                sign_raw(SECRET, &claims("")),
                JwtError::BadSubject.into(),
            ),
            ("bad session id", sign_raw(SECRET, &bad_sid), IdentityError::BadSession),
            (
                "oversized",
                format!("{}.{}.c2ln", "a".repeat(MAX_ASSERTION_BYTES), "b"),
                JwtError::TooLarge.into(),
            ),
            ("garbage base64", "%%%.^^^.***".into(), JwtError::Malformed.into()),
            (
                "two segments",
                "eyJhbGciOiJIUzI1NiJ9.e30".into(),
                JwtError::Malformed.into(),
            ),
        ];
        for (name, token, want) in cases {
            assert!(
                REJECTION_REASONS.contains(&want.reason()),
                "{name}: unlisted reason {}",
                want.reason()
            );
            assert_eq!(verify_identity(&key(), &token), Err(want), "{name}");
        }
    }

    #[test]
    fn missing_claims_refused() {
        let now = jwt::now_secs();
        for drop in ["exp", "iat", "sub", "iss", "aud", "jti"] {
            let mut v = serde_json::to_value(claims("alice")).unwrap();
            v.as_object_mut().unwrap().remove(drop);
            let _ = now;
            let t = HmacKey::new(SECRET).sign(&v, None);
            assert!(verify_identity(&key(), &t).is_err(), "missing {drop} accepted");
        }
    }

    #[test]
    fn request_headers_must_agree() {
        let k = key();
        let t = sign_identity(&k, &UserId::parse("alice").unwrap(), None);
        assert!(verify_request(&k, Some(t.as_bytes()), Some(b"alice")).is_ok());
        assert_eq!(
            verify_request(&k, Some(t.as_bytes()), Some(b"bob")),
            Err(IdentityError::UserMismatch)
        );
        assert_eq!(
            verify_request(&k, Some(t.as_bytes()), None),
            Err(IdentityError::UserMismatch)
        );
        assert_eq!(verify_request(&k, None, Some(b"alice")), Err(IdentityError::Missing));
        assert_eq!(
            verify_request(&k, Some(b""), Some(b"alice")),
            Err(IdentityError::Missing)
        );
        assert_eq!(
            verify_request(&k, Some(&[0xff, 0xfe]), Some(b"alice")),
            Err(IdentityError::NotText)
        );
    }
}
