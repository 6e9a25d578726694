//! Gateway tokens: HS256 JWTs signed with `JWT_SECRET_KEY` (and, during a rotation,
//! still accepted when signed with `JWT_SECRET_KEY_PREVIOUS`), told apart by `kid`.
//!
//! The shape, size and algorithm checks are the contract crate's (`vaultgate_shared::jwt`),
//! shared with the identity assertion so that they exist once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vaultgate_shared::UserId;
use vaultgate_shared::config::Secret;
use vaultgate_shared::jwt::{self, Expectations, HmacKey, JwtError, MAX_TOKEN_BYTES, now_secs};

/// `aud` of every gateway token.
pub const AUDIENCE: &str = "vaultgate";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

// A revoked token must stay refused for as long as the leeway still accepts it.
const _: () = assert!(crate::state::revocations::KEEP_PAST_EXPIRY_SECS >= LEEWAY_SECS);

/// Claims of a gateway token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayClaims {
    pub sub: String,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the sign-in this token descends from happened (OpenID Connect's `auth_time`);
    /// refresh carries it over. Absent in older tokens: their `iat` stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The latest `exp` any token of this lineage may have: set when it descends from a
    /// Hugging Face token, which it must not outlive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exp: Option<u64>,
    /// `hf` when the lineage began with a Hugging Face identity: refresh re-checks the allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

/// Where a token comes from: the sign-in it descends from, and the bounds that travel with it
/// through every refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    /// When the person signed in (Unix seconds).
    pub auth_time: u64,
    /// The latest expiry any token of the lineage may have.
    pub max_exp: Option<u64>,
    /// Whether the lineage began with a Hugging Face identity.
    pub hf: bool,
}

impl Lineage {
    /// A sign-in happening now.
    pub fn signed_in_now(hf: bool) -> Self {
        Self {
            auth_time: now_secs(),
            max_exp: None,
            hf,
        }
    }

    /// The latest expiry a token of this lineage may have under `max_age`.
    pub fn deadline(&self, max_age: Duration) -> u64 {
        let by_age = self.auth_time.saturating_add(max_age.as_secs());
        self.max_exp.map_or(by_age, |m| m.min(by_age))
    }
}

/// The default `MAX_SESSION_AGE`: how long after signing in any token of that sign-in may live.
pub const DEFAULT_MAX_SESSION_AGE: Duration = Duration::from_secs(30 * 86_400);

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user: UserId,
    pub jti: String,
    pub expires_at: u64,
    /// `iat`: a user revocation refuses every token issued at or before it.
    pub issued_at: u64,
    pub name: Option<String>,
    pub lineage: Lineage,
}

/// A freshly minted token and when it expires.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: u64,
}

struct NamedKey {
    kid: String,
    key: HmacKey,
}

impl NamedKey {
    fn new(secret: &Secret) -> Self {
        // The kid names a key without revealing it: a truncated hash of a ≥32-byte secret.
        let digest = Sha256::digest(secret.expose());
        Self {
            kid: format!("k-{}", hex::encode(&digest[..8])),
            key: HmacKey::new(secret.expose()),
        }
    }
}

/// The gateway's signing and verifying keys.
pub struct TokenKeys {
    current: NamedKey,
    previous: Option<NamedKey>,
    expect: Expectations,
    issuer: String,
    ttl: Duration,
    max_session_age: Duration,
    /// Tokens that passed every check recently, keyed by the exact token text. A hit skips
    /// the HMAC and JSON work (measured ≈ 8 % of the gateway's throughput); only a
    /// byte-identical token can hit, and its expiry is still checked on every use.
    verified: moka::sync::Cache<String, VerifiedToken>,
}

/// How long a verified token is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("current_kid", &self.current.kid)
            .field("previous_kid", &self.previous.as_ref().map(|k| &k.kid))
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenKeys {
    /// Keys for issuer `issuer` (the public URL) minting tokens that live `ttl`.
    pub fn new(current: &Secret, previous: Option<&Secret>, issuer: &str, ttl: Duration) -> Self {
        Self {
            current: NamedKey::new(current),
            previous: previous.map(NamedKey::new),
            expect: Expectations::new(issuer, AUDIENCE, LEEWAY_SECS, MAX_TOKEN_BYTES),
            issuer: issuer.to_owned(),
            ttl,
            max_session_age: DEFAULT_MAX_SESSION_AGE,
            verified: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(VERIFIED_TTL)
                .build(),
        }
    }

    /// Sets `MAX_SESSION_AGE`: no token lives past its sign-in by more than this.
    pub fn with_max_session_age(mut self, age: Duration) -> Self {
        self.max_session_age = age;
        self
    }

    /// The default lifetime of minted tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `MAX_SESSION_AGE`.
    pub fn max_session_age(&self) -> Duration {
        self.max_session_age
    }

    /// Mints a token for `user` from a sign-in happening now, signed with the current key.
    pub fn mint(&self, user: &UserId, name: Option<&str>, ttl: Option<Duration>) -> MintedToken {
        self.mint_in(user, name, ttl, Lineage::signed_in_now(false))
    }

    /// Mints a token of `lineage`: it expires after `ttl` (default `TOKEN_TTL`), but never past
    /// the lineage's deadline. The caller checked that the deadline is still ahead.
    pub fn mint_in(&self, user: &UserId, name: Option<&str>, ttl: Option<Duration>, lineage: Lineage) -> MintedToken {
        let now = now_secs();
        let exp = (now + ttl.unwrap_or(self.ttl).as_secs().max(1)).min(lineage.deadline(self.max_session_age));
        let claims = GatewayClaims {
            sub: user.as_str().to_owned(),
            iat: now,
            nbf: Some(now),
            exp: exp.max(now + 1),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            name: name.map(str::to_owned),
            auth_time: Some(lineage.auth_time),
            max_exp: lineage.max_exp,
            idp: lineage.hf.then(|| "hf".to_owned()),
        };
        let token = self.current.key.sign(&claims, Some(&self.current.kid));
        MintedToken {
            token,
            jti: claims.jti,
            expires_at: claims.exp,
        }
    }

    /// Verifies a gateway token: shape, HS256, key by `kid`, signature, time, issuer, audience, subject.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        if let Some(hit) = self.verified.get(token) {
            if now_secs() <= hit.expires_at + LEEWAY_SECS {
                return Ok(hit);
            }
            self.verified.invalidate(token);
            return Err(JwtError::Expired);
        }
        let verified = self.verify_uncached(token)?;
        self.verified.insert(token.to_owned(), verified.clone());
        Ok(verified)
    }

    fn verify_uncached(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        let header = jwt::peek_header(token, self.expect.max_bytes())?;
        let claims: GatewayClaims = match header.kid.as_deref() {
            Some(kid) if kid == self.current.kid => self.expect.verify(token, self.current.key.decoding())?,
            Some(kid) => match &self.previous {
                Some(prev) if prev.kid == kid => self.expect.verify(token, prev.key.decoding())?,
                _ => return Err(JwtError::UnknownKey),
            },
            None => match self.expect.verify(token, self.current.key.decoding()) {
                Err(JwtError::BadSignature) if self.previous.is_some() => {
                    let prev = self.previous.as_ref().map(|p| p.key.decoding());
                    self.expect.verify(token, prev.unwrap_or(self.current.key.decoding()))?
                }
                other => other?,
            },
        };
        let user = UserId::parse(&claims.sub).map_err(|_| JwtError::BadSubject)?;
        if claims.jti.is_empty() {
            return Err(JwtError::MissingClaim("jti".into()));
        }
        Ok(VerifiedToken {
            user,
            jti: claims.jti,
            expires_at: claims.exp,
            issued_at: claims.iat,
            name: claims.name,
            lineage: Lineage {
                auth_time: claims.auth_time.unwrap_or(claims.iat),
                max_exp: claims.max_exp,
                hf: claims.idp.as_deref() == Some("hf"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const ISS: &str = "http://localhost:7860";
    fn secret(s: &str) -> Secret {
        Secret::new(format!("{s:0<40}"))
    }
    fn keys() -> TokenKeys {
        TokenKeys::new(&secret("current"), None, ISS, Duration::from_secs(3600))
    }
    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }
    fn claims() -> GatewayClaims {
        let now = now_secs();
        GatewayClaims {
            sub: "alice".into(),
            iat: now,
            nbf: Some(now),
            exp: now + 600,
            iss: ISS.into(),
            aud: AUDIENCE.into(),
            jti: "j1".into(),
            name: None,
            auth_time: None,
            max_exp: None,
            idp: None,
        }
    }
    fn sign_with(s: &str, c: &GatewayClaims, kid: Option<&str>) -> String {
        HmacKey::new(secret(s).expose()).sign(c, kid)
    }

    #[test]
    fn mint_then_verify() {
        let k = keys();
        let m = k.mint(&alice(), Some("Alice"), None);
        let v = k.verify(&m.token).unwrap();
        assert_eq!((v.user, v.jti, v.name.as_deref()), (alice(), m.jti, Some("Alice")));
        let header = jwt::peek_header(&m.token, MAX_TOKEN_BYTES).unwrap();
        assert!(header.kid.unwrap().starts_with("k-"));
    }

    #[test]
    fn lineage_bounds_every_token_of_a_sign_in() {
        let k = keys().with_max_session_age(Duration::from_secs(7200));
        let now = now_secs();
        let cases = [
            // (lineage, TOKEN_TTL 3600: expected exp)
            (
                Lineage {
                    auth_time: now,
                    max_exp: None,
                    hf: false,
                },
                now + 3600,
            ),
            (
                Lineage {
                    auth_time: now - 5000,
                    max_exp: None,
                    hf: false,
                },
                now + 2200,
            ),
            (
                Lineage {
                    auth_time: now,
                    max_exp: Some(now + 600),
                    hf: true,
                },
                now + 600,
            ),
            (
                Lineage {
                    auth_time: now - 7000,
                    max_exp: Some(now + 600),
                    hf: true,
                },
                now + 200,
            ),
        ];
        for (lineage, want) in cases {
            let m = k.mint_in(&alice(), None, None, lineage);
            let v = k.verify(&m.token).unwrap();
            assert!(
                v.expires_at.abs_diff(want) <= 1,
                "{lineage:?}: {} vs {want}",
                v.expires_at
            );
            assert_eq!(v.lineage, lineage, "the lineage travels in the token");
        }
        // A token without auth_time (minted before it existed) descends from its own iat.
        let old = sign_with("current", &claims(), None);
        let v = k.verify(&old).unwrap();
        assert_eq!(v.lineage.auth_time, v.issued_at);
        assert!(!v.lineage.hf && v.lineage.max_exp.is_none());
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let k = keys();
        let mut c = claims();
        c.exp = now_secs() + 1;
        let t = sign_with("current", &c, None);
        assert!(k.verify(&t).is_ok());
        assert!(k.verify(&t).is_ok(), "served from the cache");
        // Pretend time passed: the cached entry's expiry is checked on every use.
        let mut hit = k.verified.get(&t).unwrap();
        hit.expires_at = now_secs() - LEEWAY_SECS - 1;
        k.verified.insert(t.clone(), hit);
        assert_eq!(k.verify(&t), Err(JwtError::Expired));
        // A token that failed is never remembered.
        let bad = sign_with("other", &claims(), None);
        assert_eq!(k.verify(&bad), Err(JwtError::BadSignature));
        assert!(k.verified.get(&bad).is_none());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = keys();
        let t = old.mint(&alice(), None, None).token;
        let rotated = TokenKeys::new(&secret("next"), Some(&secret("current")), ISS, Duration::from_secs(60));
        assert_eq!(rotated.verify(&t).unwrap().user, alice());
        let dropped = TokenKeys::new(&secret("next"), None, ISS, Duration::from_secs(60));
        assert_eq!(dropped.verify(&t), Err(JwtError::UnknownKey));
        // Without kid, the previous key is tried too.
        assert!(rotated.verify(&sign_with("current", &claims(), None)).is_ok());
    }

    #[test]
    fn hostile_tokens() {
        let k = keys();
        let now = now_secs();
        let with = |f: &dyn Fn(&mut GatewayClaims)| {
            let mut c = claims();
            f(&mut c);
            sign_with("current", &c, None)
        };
        let drop_claim = |name: &str| {
            let mut v = serde_json::to_value(claims()).unwrap();
            v.as_object_mut().unwrap().remove(name);
            HmacKey::new(secret("current").expose()).sign(&v, None)
        };
        let forged = |header: &str| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap()),
                URL_SAFE_NO_PAD.encode("x")
            )
        };
        let cases: Vec<(&str, String, JwtError)> = vec![
            ("alg none", forged(r#"{"alg":"none"}"#), JwtError::AlgorithmNone),
            ("alg HS384", forged(r#"{"alg":"HS384"}"#), JwtError::WrongAlgorithm),
            ("alg RS256", forged(r#"{"alg":"RS256"}"#), JwtError::WrongAlgorithm),
            ("wrong key", sign_with("other", &claims(), None), JwtError::BadSignature),
            (
                "unknown kid",
                sign_with("current", &claims(), Some("k-0000")),
                JwtError::UnknownKey,
            ),
            ("expired", with(&|c| c.exp = now - 120), JwtError::Expired),
            ("future nbf", with(&|c| c.nbf = Some(now + 600)), JwtError::NotYetValid),
            (
                "wrong iss",
                with(&|c| c.iss = "https://evil".into()),
                JwtError::WrongIssuer,
            ),
            (
                "wrong aud",
                with(&|c| c.aud = "vaultgate-backend".into()),
                JwtError::WrongAudience,
            ),
            ("bad subject", with(&|c| c.sub = "../root".into()), JwtError::BadSubject),
            ("long subject", with(&|c| c.sub = "x".repeat(65)), JwtError::BadSubject),
            ("missing exp", drop_claim("exp"), JwtError::Malformed),
            ("missing sub", drop_claim("sub"), JwtError::Malformed),
            ("missing jti", drop_claim("jti"), JwtError::Malformed),
            (
                "empty jti",
                with(&|c| c.jti = String::new()),
                JwtError::MissingClaim("jti".into()),
            ),
            (
                "oversized",
                format!("{}.{}.x", forged(r#"{"alg":"HS256"}"#), "A".repeat(MAX_TOKEN_BYTES)),
                JwtError::TooLarge,
            ),
            (
                "signature cut off",
                {
                    let t = k.mint(&alice(), None, None).token;
                    format!("{}.", &t[..t.rfind('.').unwrap()])
                },
                JwtError::BadSignature,
            ),
            (
                "signature replaced",
                {
                    let t = k.mint(&alice(), None, None).token;
                    format!("{}.{}", &t[..t.rfind('.').unwrap()], "A".repeat(43))
                },
                JwtError::BadSignature,
            ),
            (
                "payload cut off",
                {
                    let t = k.mint(&alice(), None, None).token;
                    let p: Vec<&str> = t.split('.').collect();
                    format!("{}.{}.{}", p[0], &p[1][..10], p[2])
                },
                JwtError::BadSignature,
            ),
        ];
        for (name, token, want) in cases {
            assert_eq!(k.verify(&token), Err(want), "{name}");
        }
    }
}
