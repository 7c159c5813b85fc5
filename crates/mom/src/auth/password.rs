//! Password hashing with argon2id, off the async threads (it is deliberately slow), a bounded
//! number at once: each hash holds about 19 MiB and a core for tens of milliseconds, so a
//! flood of logins must wait its turn — and past a short wait be told to come back — rather
//! than take gigabytes.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::domain::Password;

/// Hashes and verifications at once, unless [`limit_concurrency`] set another number.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// How long a request waits for its turn before it is answered 503 with `Retry-After`.
const WAIT_FOR_TURN: Duration = Duration::from_secs(2);

static TURNS: OnceLock<Semaphore> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password checks at once; try again in a moment")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Sets how many hashes run at once (`PASSWORD_HASH_CONCURRENCY`); the first call wins.
pub fn limit_concurrency(permits: usize) {
    let _ = TURNS.set(Semaphore::new(permits.max(1)));
}

async fn turn(turns: &Semaphore, wait: Duration) -> Result<SemaphorePermit<'_>, HashError> {
    match tokio::time::timeout(wait, turns.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(HashError::Busy),
    }
}

fn turns() -> &'static Semaphore {
    TURNS.get_or_init(|| Semaphore::new(DEFAULT_CONCURRENCY))
}

pub async fn hash(password: &Password) -> Result<String, HashError> {
    let _turn = turn(turns(), WAIT_FOR_TURN).await?;
    let password = password.clone();
    let hashed = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("Failed to hash password: {e}"))
    })
    .await
    .map_err(anyhow::Error::from)??;
    Ok(hashed)
}

/// Checks `password` against `hash`. With no hash (unknown email) it still does the work of
/// one verification, so response times do not tell which emails exist.
pub async fn verify(password: &Password, hash: Option<String>) -> Result<bool, HashError> {
    let _turn = turn(turns(), WAIT_FOR_TURN).await?;
    let password = password.clone();
    Ok(tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
            && hash != DUMMY_HASH
    })
    .await
    .unwrap_or(false))
}

/// An argon2id hash of a random string nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jp0Hjnr3UXh4kPn7W2K8bC3oYpE3mG4v0T2b8yV2Q0I";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_dummy_never_does() {
        let password = Password::parse("correct horse").unwrap();
        let hash = hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(&password, Some(hash.clone())).await.unwrap());
        assert!(!verify(&Password::parse("wrong").unwrap(), Some(hash))
            .await
            .unwrap());
        // The dummy must parse, or unknown emails would answer faster than wrong passwords.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify(&password, None).await.unwrap());
    }

    #[tokio::test]
    async fn with_every_turn_taken_a_caller_is_told_to_come_back() {
        let turns = Semaphore::new(1);
        let wait = Duration::from_millis(20);
        let held = turn(&turns, wait).await.unwrap();
        assert!(matches!(turn(&turns, wait).await, Err(HashError::Busy)));
        drop(held);
        assert!(turn(&turns, wait).await.is_ok(), "a freed turn is taken");
    }
}
