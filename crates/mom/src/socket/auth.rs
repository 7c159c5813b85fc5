//! `authenticate`: the login object a socket sends, and the checks that turn it into claims.
//!
//! The checks run in the seed's order — signature and expiry, then the user id, then the
//! session — so each failure gets the reason string the seed's clients know.

use serde_json::Value;
use tracing::warn;

use crate::auth::{Claims, SessionState, Sessions, TokenError, Tokens};

/// Why a socket is not (or no longer) authenticated. `Display` is the `auth-error` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a login object, or a token that does not verify.
    #[error("wrong-token")]
    WrongToken,
    /// The token verified once but its `exp` has passed.
    #[error("token-expired")]
    TokenExpired,
    /// The payload's `id` is not the number in the token (or is missing).
    #[error("not-token-of-user")]
    NotTokenOfUser,
    /// The token's session was closed (logout, renew) or has expired in Redis.
    #[error("old-token")]
    OldToken,
    /// Redis or RabbitMQ did not answer; the client may try again. Not in the seed, which
    /// had no such failure mode.
    #[error("unavailable")]
    Unavailable,
}

/// A login object that has the shape of one. What it claims is checked by [`Authenticator`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuthPayload {
    /// The user id the client claims; `None` when missing or not an integer, which fails
    /// the id check (but only after the token itself was checked, as in the seed).
    claimed_id: Option<i64>,
    token: String,
}

impl AuthPayload {
    /// Real tokens are a few hundred bytes; anything much larger is refused unread.
    pub const MAX_TOKEN_LEN: usize = 8 * 1024;
}

impl TryFrom<&Value> for AuthPayload {
    type Error = AuthError;

    fn try_from(payload: &Value) -> Result<Self, AuthError> {
        let Value::Object(fields) = payload else {
            return Err(AuthError::WrongToken);
        };
        let token = match fields.get("accessToken") {
            Some(Value::String(token)) if token.len() <= Self::MAX_TOKEN_LEN => token.clone(),
            _ => return Err(AuthError::WrongToken),
        };
        // JavaScript compared numbers strictly, so `7.0` is 7 but `"7"` is not.
        let claimed_id = fields.get("id").and_then(|id| {
            id.as_i64().or_else(|| {
                id.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 2f64.powi(53))
                    .map(|f| f as i64)
            })
        });
        Ok(Self { claimed_id, token })
    }
}

/// Verifies tokens and their sessions.
#[derive(Clone)]
pub struct Authenticator {
    tokens: Tokens,
    sessions: Sessions,
}

impl Authenticator {
    pub fn new(tokens: Tokens, sessions: Sessions) -> Self {
        Self { tokens, sessions }
    }

    /// The claims of a valid login object whose session is open.
    pub async fn authenticate(&self, payload: &AuthPayload) -> Result<Claims, AuthError> {
        let claims = self
            .tokens
            .verify(&payload.token)
            .map_err(|error| match error {
                TokenError::Expired { .. } => AuthError::TokenExpired,
                _ => AuthError::WrongToken,
            })?;
        if payload.claimed_id != Some(i64::from(claims.id)) {
            return Err(AuthError::NotTokenOfUser);
        }
        self.session_open(&claims).await?;
        Ok(claims)
    }

    /// Whether claims accepted earlier still hold: not expired, session still open.
    /// A socket keeps a session its owner just renewed for a short grace, so a client that
    /// renews and then authenticates the socket with the new token (the seed's way) never
    /// hears `auth-error` in between.
    pub async fn recheck(&self, claims: &Claims) -> Result<(), AuthError> {
        check_expiry(claims, now_secs())?;
        self.session(claims, &[SessionState::Open, SessionState::Renewed])
            .await
    }

    async fn session_open(&self, claims: &Claims) -> Result<(), AuthError> {
        self.session(claims, &[SessionState::Open]).await
    }

    async fn session(&self, claims: &Claims, accepted: &[SessionState]) -> Result<(), AuthError> {
        match self.sessions.state(&claims.sid, claims.id).await {
            Ok(state) if accepted.contains(&state) => Ok(()),
            Ok(_) => Err(AuthError::OldToken),
            Err(error) => {
                warn!(%error, user_id = claims.id, "cannot check the session in Redis");
                Err(AuthError::Unavailable)
            }
        }
    }
}

/// `Err(TokenExpired)` once `exp` (seconds) has passed, as the JWT check would say.
pub fn check_expiry(claims: &Claims, now_secs: i64) -> Result<(), AuthError> {
    if claims.exp < now_secs {
        Err(AuthError::TokenExpired)
    } else {
        Ok(())
    }
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(payload: Value) -> Result<AuthPayload, AuthError> {
        AuthPayload::try_from(&payload)
    }

    #[test]
    fn reasons_are_the_seed_strings() {
        let reasons: Vec<_> = [
            AuthError::WrongToken,
            AuthError::TokenExpired,
            AuthError::NotTokenOfUser,
            AuthError::OldToken,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            reasons,
            [
                "wrong-token",
                "token-expired",
                "not-token-of-user",
                "old-token"
            ]
        );
    }

    #[test]
    fn anything_but_a_login_object_is_a_wrong_token() {
        for payload in [
            Value::Null,
            json!("token"),
            json!([{"id": 1, "accessToken": "t"}]),
            json!(12),
            json!({"id": 1}),
            json!({"id": 1, "accessToken": 5}),
            json!({"id": 1, "accessToken": "x".repeat(AuthPayload::MAX_TOKEN_LEN + 1)}),
        ] {
            assert_eq!(
                parse(payload.clone()),
                Err(AuthError::WrongToken),
                "{payload:.40}"
            );
        }
    }

    #[test]
    fn the_claimed_id_is_a_number_or_nothing() {
        let id = |v: Value| {
            parse(json!({"id": v, "accessToken": "t"}))
                .unwrap()
                .claimed_id
        };
        assert_eq!(id(json!(7)), Some(7));
        assert_eq!(id(json!(7.0)), Some(7));
        assert_eq!(id(json!(7.5)), None);
        assert_eq!(id(json!("7")), None);
        assert_eq!(id(Value::Null), None);
        assert_eq!(parse(json!({"accessToken": "t"})).unwrap().claimed_id, None);
    }
}
