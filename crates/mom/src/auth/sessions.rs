//! Sessions in Redis: `<prefix>session:<sid>` holds the user id and expires with the token.

use std::time::Duration;

use anyhow::Context as _;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tracing::{info, warn};

use crate::config::redact_url;

#[derive(Clone)]
pub struct Sessions {
    redis: ConnectionManager,
    prefix: String,
}

impl Sessions {
    /// Connects, retrying until `wait` has passed so services can start before Redis does.
    pub async fn connect(url: &str, prefix: &str, wait: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .with_context(|| format!("invalid REDIS_URL {:?}", redact_url(url)))?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match ConnectionManager::new(client.clone()).await {
                Ok(redis) => {
                    info!(redis = %redact_url(url), "connected to Redis");
                    return Ok(Self {
                        redis,
                        prefix: prefix.to_owned(),
                    });
                }
                Err(error) if tokio::time::Instant::now() < deadline => {
                    warn!(%error, redis = %redact_url(url), "Redis not ready; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("Failed to connect to Redis at {}", redact_url(url))
                    })
                }
            }
        }
    }

    /// The connection, for other per-user state kept next to the sessions.
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    fn key(&self, sid: &str) -> String {
        format!("{}session:{sid}", self.prefix)
    }

    /// Opens a new session for `user_id`, expiring after `ttl`.
    pub async fn open(&self, user_id: i32, ttl: Duration) -> redis::RedisResult<String> {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        let mut redis = self.redis.clone();
        let _: () = redis
            .set_ex(self.key(&sid), user_id, ttl.as_secs().max(1))
            .await?;
        Ok(sid)
    }

    /// Whether `sid` is open and belongs to `user_id` (a renewed session is not).
    pub async fn is_open(&self, sid: &str, user_id: i32) -> redis::RedisResult<bool> {
        Ok(self.state(sid, user_id).await? == SessionState::Open)
    }

    /// What `sid` stands for now, for `user_id`.
    pub async fn state(&self, sid: &str, user_id: i32) -> redis::RedisResult<SessionState> {
        let mut redis = self.redis.clone();
        let value: Option<String> = redis.get(self.key(sid)).await?;
        Ok(match value {
            Some(v) if v == user_id.to_string() => SessionState::Open,
            Some(v) if v == renewed_value(user_id) => SessionState::Renewed,
            _ => SessionState::Closed,
        })
    }

    /// Marks `sid` as replaced by a renewal: refused at once for anything new, while sockets
    /// authenticated with it keep it for `grace`, time to move to the new token. A session
    /// already closed stays closed.
    pub async fn supersede(
        &self,
        sid: &str,
        user_id: i32,
        grace: Duration,
    ) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        redis::cmd("SET")
            .arg(self.key(sid))
            .arg(renewed_value(user_id))
            .arg("EX")
            .arg(grace.as_secs().max(1))
            .arg("XX")
            .query_async::<Option<String>>(&mut redis)
            .await?;
        Ok(())
    }

    /// Closes `sid`; returns whether it was open.
    pub async fn close(&self, sid: &str) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let removed: i64 = redis.del(self.key(sid)).await?;
        Ok(removed > 0)
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut redis)
            .await
            .map(drop)
    }
}

/// What a session id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Open,
    /// Replaced by a renewal; sockets already using it may keep it a little longer.
    Renewed,
    Closed,
}

fn renewed_value(user_id: i32) -> String {
    format!("{user_id}:renewed")
}
