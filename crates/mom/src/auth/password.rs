//! Password hashing with argon2id, off the async threads (it is deliberately slow).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;

pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("Failed to hash password: {e}"))
    })
    .await?
}

/// Checks `password` against `hash`. With no hash (unknown email) it still does the work of
/// one verification, so response times do not tell which emails exist.
pub async fn verify(password: &Password, hash: Option<String>) -> bool {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
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
    .unwrap_or(false)
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
        assert!(verify(&password, Some(hash.clone())).await);
        assert!(!verify(&Password::parse("wrong").unwrap(), Some(hash)).await);
        // The dummy must parse, or unknown emails would answer faster than wrong passwords.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify(&password, None).await);
    }
}
