//! Pinned-HS256 JWT checks shared by gateway tokens and identity assertions.
//!
//! `jsonwebtoken` checks the signature and the registered claims; before it runs we
//! look at the token ourselves so that the size cap, the segment count and the
//! algorithm are decided by us and not by the token: a header saying `none`,
//! `HS384` or `RS256` is refused before any key is touched.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Tokens longer than this are refused unread (gateway tokens; assertions use less).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Shortest HMAC secret either program accepts in production.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a token was refused. Each hostile shape maps to exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is larger than the allowed size")]
    TooLarge,
    #[error("token is not a well-formed JWT")]
    Malformed,
    #[error("token header has algorithm 'none'")]
    AlgorithmNone,
    #[error("token header names an algorithm other than HS256")]
    WrongAlgorithm,
    #[error("token names a key id that is not known")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token has the wrong issuer")]
    WrongIssuer,
    #[error("token has the wrong audience")]
    WrongAudience,
    #[error("token subject is not a valid user id")]
    BadSubject,
    #[error("token lacks the required claim '{0}'")]
    MissingClaim(String),
}

impl JwtError {
    /// The low-cardinality reason used in metrics and audit lines.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::TooLarge => "too_large",
            JwtError::Malformed | JwtError::MissingClaim(_) => "malformed",
            JwtError::AlgorithmNone | JwtError::WrongAlgorithm | JwtError::UnknownKey | JwtError::BadSignature => {
                "bad_signature"
            }
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::WrongIssuer => "wrong_issuer",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::BadSubject => "bad_subject",
        }
    }
}

/// The parts of a JWT header we look at before verifying.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PeekedHeader {
    /// Key id, used only to pick among keys we already trust.
    pub kid: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Checks size, shape and algorithm of `token` without verifying it.
pub fn peek_header(token: &str, max_bytes: usize) -> Result<PeekedHeader, JwtError> {
    if token.len() > max_bytes {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(head), Some(payload), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    if head.is_empty() || payload.is_empty() {
        return Err(JwtError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD.decode(head).map_err(|_| JwtError::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&raw).map_err(|_| JwtError::Malformed)?;
    match header.alg.as_deref() {
        Some("HS256") => {}
        Some(a) if a.eq_ignore_ascii_case("none") => return Err(JwtError::AlgorithmNone),
        Some(_) => return Err(JwtError::WrongAlgorithm),
        None => return Err(JwtError::Malformed),
    }
    if sig.is_empty() {
        return Err(JwtError::BadSignature);
    }
    if header.crit.is_some() {
        // We implement no header extensions, so a critical one must be refused (RFC 7515 §4.1.11).
        return Err(JwtError::Malformed);
    }
    Ok(PeekedHeader { kid: header.kid })
}

/// What a verifier expects of every token it accepts.
#[derive(Clone)]
pub struct Expectations {
    validation: Validation,
    max_bytes: usize,
}

impl Expectations {
    /// HS256 only; `iss`, `aud`, `sub`, `exp` and `iat` required; `exp`/`nbf` checked with `leeway_secs`.
    pub fn new(issuer: &str, audience: &str, leeway_secs: u64, max_bytes: usize) -> Self {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        v.leeway = leeway_secs;
        v.validate_exp = true;
        v.validate_nbf = true;
        Self {
            validation: v,
            max_bytes,
        }
    }

    /// The leeway in seconds.
    pub fn leeway(&self) -> u64 {
        self.validation.leeway
    }

    /// The size cap in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Verifies signature and registered claims of a token whose header passed [`peek_header`].
    pub fn verify<C: DeserializeOwned>(&self, token: &str, key: &DecodingKey) -> Result<C, JwtError> {
        match jsonwebtoken::decode::<C>(token, key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
                ErrorKind::InvalidAudience => JwtError::WrongAudience,
                ErrorKind::InvalidSubject => JwtError::BadSubject,
                ErrorKind::MissingRequiredClaim(c) => JwtError::MissingClaim(c.clone()),
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    JwtError::WrongAlgorithm
                }
                _ => JwtError::Malformed,
            }),
        }
    }
}

/// An HMAC key, both halves; `Debug` never shows it.
#[derive(Clone)]
pub struct HmacKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl HmacKey {
    /// Wraps raw secret bytes.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// The verifying half.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Signs `claims` with HS256, adding `kid` to the header when given.
    pub fn sign<C: Serialize>(&self, claims: &C, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        // HMAC signing of serializable claims does not fail; an error here is a programming bug.
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("HS256 signing cannot fail")
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn peek_header_table() {
        let body = enc(r#"{"sub":"a"}"#);
        let cases: Vec<(String, Result<(), JwtError>)> = vec![
            (format!("{}.{body}.c2ln", enc(r#"{"alg":"HS256","typ":"JWT"}"#)), Ok(())),
            (
                format!("{}.{body}.c2ln", enc(r#"{"alg":"none"}"#)),
                Err(JwtError::AlgorithmNone),
            ),
            (
                format!("{}.{body}.", enc(r#"{"alg":"NONE"}"#)),
                Err(JwtError::AlgorithmNone),
            ),
            (
                format!("{}.{body}.c2ln", enc(r#"{"alg":"HS384"}"#)),
                Err(JwtError::WrongAlgorithm),
            ),
            (
                format!("{}.{body}.c2ln", enc(r#"{"alg":"RS256"}"#)),
                Err(JwtError::WrongAlgorithm),
            ),
            (
                format!("{}.{body}.c2ln", enc(r#"{"alg":"hs256"}"#)),
                Err(JwtError::WrongAlgorithm),
            ),
            (
                format!("{}.{body}.c2ln", enc(r#"{"typ":"JWT"}"#)),
                Err(JwtError::Malformed),
            ),
            (
                format!("{}.{body}.c2ln", enc(r#"{"alg":"HS256","crit":["b64"]}"#)),
                Err(JwtError::Malformed),
            ),
            (
                format!("{}.{body}.", enc(r#"{"alg":"HS256"}"#)),
                Err(JwtError::BadSignature),
            ),
            (
                format!("{}.{body}", enc(r#"{"alg":"HS256"}"#)),
                Err(JwtError::Malformed),
            ),
            (
                format!("{}.{body}.c2ln.c2ln", enc(r#"{"alg":"HS256"}"#)),
                Err(JwtError::Malformed),
            ),
            ("!!!.***.###".to_owned(), Err(JwtError::Malformed)),
            ("".to_owned(), Err(JwtError::Malformed)),
            ("..".to_owned(), Err(JwtError::Malformed)),
            (format!("{}.{body}.c2ln", enc("not json")), Err(JwtError::Malformed)),
            ("a".repeat(MAX_TOKEN_BYTES + 1), Err(JwtError::TooLarge)),
        ];
        for (token, want) in cases {
            let got = peek_header(&token, MAX_TOKEN_BYTES).map(|_| ());
            assert_eq!(got, want, "{token:.80}");
        }
    }
}
