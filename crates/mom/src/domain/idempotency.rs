//! `Idempotency-Key`: a client's name for one write, so that a retry gets the first outcome.
//!
//! The key becomes the db worker's `request_id`, which the tables keep unique: every retry,
//! through any API node, after any restart, racing or not, names the same row, and
//! `ON CONFLICT (request_id)` returns it instead of writing again. Rows are never deleted, so a
//! key is honoured for as long as its row exists (far beyond the promised 24 hours).

/// The header, as clients send it and as errors name it.
pub const HEADER: &str = "Idempotency-Key";

/// A well-formed key: 1 to [`IdempotencyKey::MAX_LEN`] printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// Whose keys a key is compared with: the same key in two scopes names two writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// `POST /job`: the caller is the authenticated user.
    Jobs { owner_id: i32 },
    /// `POST /job/{id}/cancel`: the caller (owner or admin) is the authenticated user.
    Cancels { user_id: i32 },
    /// `POST /register` and `POST /user`: the caller has no identity before the write, so all
    /// anonymous callers share one scope. A replay needs the same body, password included, and
    /// answers only what that body already says, so a guessed key reveals nothing.
    NewUsers,
}

impl IdempotencyKey {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            Err(format!("{HEADER} should not be empty"))
        } else if raw.len() > Self::MAX_LEN {
            Err(format!(
                "{HEADER} must be at most {} characters",
                Self::MAX_LEN
            ))
        } else if !raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            Err(format!(
                "{HEADER} must be printable ASCII, without control characters"
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The request id of the write this key names in `scope`. Unkeyed writes use UUIDs, which
    /// never start with `key:`, so the two kinds cannot collide.
    pub fn request_id(&self, scope: KeyScope) -> String {
        match scope {
            KeyScope::Jobs { owner_id } => format!("key:job:{owner_id}:{}", self.0),
            KeyScope::Cancels { user_id } => format!("key:cancel:{user_id}:{}", self.0),
            KeyScope::NewUsers => format!("key:user:{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        for good in [
            "a",
            "3f2c1e9a-7b1d-4c55-9e0f-2a6b8d4c1e77",
            &"k".repeat(200),
            "a b/c=d",
        ] {
            assert_eq!(IdempotencyKey::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "   ",
            &"k".repeat(201),
            "a\tb",
            "a\u{7f}",
            "clé",
            "a\nb",
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_ids_are_per_scope_and_deterministic() {
        let key = IdempotencyKey::parse("k-1").unwrap();
        let alice = key.request_id(KeyScope::Jobs { owner_id: 1 });
        assert_eq!(alice, key.request_id(KeyScope::Jobs { owner_id: 1 }));
        assert_ne!(alice, key.request_id(KeyScope::Jobs { owner_id: 2 }));
        assert_ne!(alice, key.request_id(KeyScope::NewUsers));
        assert_ne!(alice, key.request_id(KeyScope::Cancels { user_id: 1 }));
    }
}
