//! Login and registration attempts, counted per e-mail and per client address in Redis (so
//! every API node counts the same), in fixed one-minute windows. Each attempt may cost an
//! argon2id hash: the limits keep a flood from turning into CPU, and a guesser from trying
//! many passwords of one account. The limits are far above what a person does by hand.

use std::net::IpAddr;
use std::time::Duration;

use redis::aio::ConnectionManager;

/// The window each count covers.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Attempts allowed per window; 0 turns a limit off (for load tests, which say so).
#[derive(Clone, Copy, Debug)]
pub struct AttemptLimits {
    pub per_email: u32,
    pub per_address: u32,
}

/// An attempt over a limit: what was exceeded and when to try again.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("too many attempts for this {what}: at most {limit} a minute; try again in {} s", retry_after.as_secs())]
    Limited {
        what: &'static str,
        limit: u32,
        retry_after: Duration,
    },
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

#[derive(Clone)]
pub struct Attempts {
    redis: ConnectionManager,
    prefix: String,
    limits: AttemptLimits,
}

impl Attempts {
    pub fn new(redis: ConnectionManager, prefix: &str, limits: AttemptLimits) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            limits,
        }
    }

    /// Counts an attempt for `email` from `address`; refused when either is over its limit.
    /// Without a known address (a server not told peers' addresses) only the e-mail counts.
    pub async fn count(&self, email: &str, address: Option<IpAddr>) -> Result<(), AttemptError> {
        self.count_one("e-mail", &format!("email:{email}"), self.limits.per_email)
            .await?;
        if let Some(address) = address {
            self.count_one("address", &format!("ip:{address}"), self.limits.per_address)
                .await?;
        }
        Ok(())
    }

    async fn count_one(
        &self,
        what: &'static str,
        key: &str,
        limit: u32,
    ) -> Result<(), AttemptError> {
        if limit == 0 {
            return Ok(());
        }
        let key = format!("{}attempts:{key}", self.prefix);
        // One transaction: the window starts with its first attempt (`NX`: an expiry already
        // set stays), so a key can never be left without one.
        let (count, left_ms): (u64, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(WINDOW.as_millis() as u64)
            .arg("NX")
            .ignore()
            .pttl(&key)
            .query_async(&mut self.redis.clone())
            .await?;
        let left_ms = u64::try_from(left_ms).unwrap_or(WINDOW.as_millis() as u64);
        if count > u64::from(limit) {
            return Err(AttemptError::Limited {
                what,
                limit,
                // Whole seconds, rounded up: `Retry-After` has no fractions.
                retry_after: Duration::from_secs(left_ms.div_ceil(1000).max(1)),
            });
        }
        Ok(())
    }
}
