//! Gateway tokens for tests, valid or deliberately broken.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::JWT_SECRET;

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The header and claims of a token to sign.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub header: Value,
    pub claims: Value,
    pub secret: String,
}

impl TokenSpec {
    /// A token the gateway at `issuer` accepts for `user`.
    pub fn valid(user: &str, issuer: &str) -> Self {
        let t = now();
        Self {
            header: json!({"alg": "HS256", "typ": "JWT"}),
            claims: json!({"sub": user, "iat": t, "nbf": t, "exp": t + 3600, "iss": issuer, "aud": "vaultgate", "jti": uuid::Uuid::new_v4().to_string()}),
            secret: JWT_SECRET.to_owned(),
        }
    }

    /// Changes one claim (`Value::Null` removes it).
    pub fn claim(mut self, name: &str, v: Value) -> Self {
        let obj = self.claims.as_object_mut().expect("claims object");
        if v.is_null() {
            obj.remove(name);
        } else {
            obj.insert(name.to_owned(), v);
        }
        self
    }

    /// Changes one header field.
    pub fn header(mut self, name: &str, v: Value) -> Self {
        self.header
            .as_object_mut()
            .expect("header object")
            .insert(name.to_owned(), v);
        self
    }

    /// Signs with another secret.
    pub fn secret(mut self, s: &str) -> Self {
        self.secret = s.to_owned();
        self
    }

    /// The compact JWT, HMAC-signed per the header's alg (HS256/384/512; anything else gets a junk signature).
    pub fn sign(&self) -> String {
        use hmac_sig::sign;
        let h = URL_SAFE_NO_PAD.encode(self.header.to_string());
        let c = URL_SAFE_NO_PAD.encode(self.claims.to_string());
        let input = format!("{h}.{c}");
        let sig = sign(
            self.header["alg"].as_str().unwrap_or(""),
            self.secret.as_bytes(),
            input.as_bytes(),
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

mod hmac_sig {
    use jsonwebtoken::{Algorithm, EncodingKey};

    /// Signs through jsonwebtoken's own HMAC (so tests need no crypto of their own).
    pub fn sign(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
        use base64::Engine as _;
        let alg = match alg {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            _ => return b"not-a-signature".to_vec(),
        };
        let s = jsonwebtoken::crypto::sign(input, &EncodingKey::from_secret(secret), alg).expect("hmac");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("b64")
    }
}
