//! JWTs with the seed's claims (times in seconds) plus the session id.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::views::millis;
use crate::domain::UserView;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub id: i32,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(with = "millis")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "millis")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub iat: i64,
    pub exp: i64,
    /// The session this token belongs to.
    pub sid: String,
}

impl Claims {
    pub fn user(&self) -> UserView {
        UserView {
            id: self.id,
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Why a token was refused, in the seed's words (jsonwebtoken's messages).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("jwt must be provided")]
    Missing,
    #[error("jwt malformed")]
    Malformed,
    #[error("invalid signature")]
    InvalidSignature,
    #[error("jwt expired")]
    Expired { expired_at: i64 },
    #[error("invalid token")]
    Invalid,
}

/// Issues and verifies tokens with one secret and lifetime.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &str, ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl,
        }
    }

    /// A token for `user` in session `sid`, issued at `now_ms`.
    pub fn issue(&self, user: &UserView, sid: &str, now_ms: i64) -> (String, Claims) {
        let iat = now_ms / 1000;
        let claims = Claims {
            id: user.id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            created_at: user.created_at,
            updated_at: user.updated_at,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            sid: sid.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        (token, claims)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired {
                    expired_at: expired_at(token),
                },
                ErrorKind::InvalidSignature => TokenError::InvalidSignature,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    TokenError::Malformed
                }
                _ => TokenError::Invalid,
            }),
        }
    }
}

/// The claims of a token, read WITHOUT checking its signature: for error messages and
/// tests, never for decisions.
pub fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&base64_free::decode_segment(payload)?).ok()
}

/// `exp` of a token whose signature verified but which expired (for the error body).
fn expired_at(token: &str) -> i64 {
    unverified_claims(token)
        .and_then(|claims| claims.get("exp")?.as_i64())
        .unwrap_or(0)
}

/// Base64url without padding, decoded by hand to avoid a dependency for one field.
mod base64_free {
    pub fn decode_segment(segment: &str) -> Option<Vec<u8>> {
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::with_capacity(segment.len() * 3 / 4);
        for c in segment.bytes() {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => return None,
            };
            bits = (bits << 6) | u32::from(value);
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserView {
        UserView {
            id: 7,
            first_name: "Ada".into(),
            last_name: "L".into(),
            email: "ada@x.io".into(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn issued_tokens_verify_with_seconds_claims() {
        let tokens = Tokens::new("s", Duration::from_secs(360));
        let now = chrono::Utc::now().timestamp_millis();
        let (token, claims) = tokens.issue(&user(), "sid-1", now);
        assert_eq!(claims.exp - claims.iat, 360);
        assert_eq!(claims.iat, now / 1000);
        assert_eq!(tokens.verify(&token).unwrap().sid, "sid-1");
    }

    #[test]
    fn bad_tokens_say_why() {
        let tokens = Tokens::new("s", Duration::from_secs(360));
        assert_eq!(tokens.verify(""), Err(TokenError::Missing));
        assert_eq!(tokens.verify("garbage"), Err(TokenError::Malformed));
        let (token, _) = Tokens::new("other", Duration::from_secs(360)).issue(
            &user(),
            "x",
            chrono::Utc::now().timestamp_millis(),
        );
        assert_eq!(tokens.verify(&token), Err(TokenError::InvalidSignature));
        let long_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
        let (token, claims) = tokens.issue(&user(), "x", long_ago);
        assert_eq!(
            tokens.verify(&token),
            Err(TokenError::Expired {
                expired_at: claims.exp
            })
        );
    }
}
