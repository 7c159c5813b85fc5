//! Queues and exchanges, declared the same way by every service that touches them.
//!
//! A work queue `q` comes with a dead-letter queue `q.dead`. Delayed delivery and retries use
//! one delay tier per distinct delay, on stock RabbitMQ (no plugin): a fanout exchange
//! `mom.delay.<ms>` bound to a queue of the same name whose `x-message-ttl` is that delay and
//! whose dead-letter exchange is the default exchange. A message published to the tier with the
//! target queue as routing key sits there for exactly the delay, then is dead-lettered with its
//! original routing key — straight into the target queue. One TTL per queue means no message
//! waits behind a longer one.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::MAX_PRIORITY;

/// How often a failing message is retried, and how long it waits between attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. After the last, the message is dead-lettered.
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1`: doubling from `initial_delay`, capped.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    /// No retries: the first failure dead-letters.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// A durable priority work queue with its dead-letter queue and retry policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkQueue {
    pub name: String,
    pub retry: RetryPolicy,
    /// A dead-letter queue is declared plain, and has no dead-letter queue of its own.
    dead_letters_of: Option<String>,
}

impl WorkQueue {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            retry: RetryPolicy::default(),
            dead_letters_of: None,
        }
    }

    /// The dead-letter queue of this queue, to inspect or drain it. Its messages are not
    /// retried: handling one that fails returns it to the queue.
    pub fn dead_letters(&self) -> WorkQueue {
        WorkQueue {
            name: self.dead_letter_queue(),
            retry: RetryPolicy::never(),
            dead_letters_of: Some(self.name.clone()),
        }
    }

    /// True for the queue [`WorkQueue::dead_letters`] returns.
    pub fn is_dead_letter_queue(&self) -> bool {
        self.dead_letters_of.is_some()
    }

    /// The work queue this dead-letter queue belongs to.
    pub fn dead_letters_of(&self) -> Option<&str> {
        self.dead_letters_of.as_deref()
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.name)
    }

    pub(crate) async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        if self.dead_letters_of.is_some() {
            return declare_plain(channel, &self.name).await;
        }
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-max-priority".into(),
            AMQPValue::ShortShortUInt(MAX_PRIORITY),
        );
        // Rejections the consumer did not route itself (e.g. a crash-looping client nacking)
        // still end in the dead-letter queue rather than vanishing.
        arguments.insert("x-dead-letter-exchange".into(), text(""));
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            text(&self.dead_letter_queue()),
        );
        channel
            .queue_declare(
                self.name.as_str().into(),
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await?;
        declare_plain(channel, &self.dead_letter_queue()).await
    }
}

async fn declare_plain(channel: &Channel, name: &str) -> lapin::Result<()> {
    channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .map(drop)
}

/// An exchange other than the default one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub name: String,
    pub kind: ExchangeKind,
}

impl Exchange {
    pub fn topic(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ExchangeKind::Topic,
        }
    }

    pub fn fanout(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ExchangeKind::Fanout,
        }
    }

    pub fn direct(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ExchangeKind::Direct,
        }
    }

    pub(crate) async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let options = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.name.as_str().into(),
                self.kind.clone(),
                options,
                FieldTable::default(),
            )
            .await
    }
}

/// Something the bus re-declares after every reconnection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Declaration {
    Queue(WorkQueue),
    Exchange(Exchange),
}

impl Declaration {
    pub(crate) async fn apply(&self, channel: &Channel) -> lapin::Result<()> {
        match self {
            Declaration::Queue(queue) => queue.declare(channel).await,
            Declaration::Exchange(exchange) => exchange.declare(channel).await,
        }
    }
}

/// The delay tier for `delay`, rounded to whole milliseconds (at least 1).
pub(crate) fn delay_tier(delay: Duration) -> String {
    format!("mom.delay.{}", delay.as_millis().max(1))
}

/// Declares the tier exchange and queue for `delay`. Idle tiers expire on their own
/// (`x-expires`, well beyond the TTL so a waiting message is never dropped with its queue).
pub(crate) async fn declare_delay_tier(channel: &Channel, delay: Duration) -> lapin::Result<()> {
    let name = delay_tier(delay);
    let ttl_ms = delay.as_millis().max(1) as i64;
    let exchange_options = ExchangeDeclareOptions {
        durable: true,
        auto_delete: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            name.as_str().into(),
            ExchangeKind::Fanout,
            exchange_options,
            FieldTable::default(),
        )
        .await?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl_ms));
    arguments.insert("x-dead-letter-exchange".into(), text(""));
    arguments.insert(
        "x-expires".into(),
        AMQPValue::LongLongInt(ttl_ms * 2 + DELAY_TIER_IDLE.as_millis() as i64),
    );
    channel
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await?;
    channel
        .queue_bind(
            name.as_str().into(),
            name.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// How long an unused delay tier lives. Publishers re-declare a tier well within this.
pub(crate) const DELAY_TIER_IDLE: Duration = Duration::from_secs(30 * 60);

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let delays: Vec<_> = (1..=5).map(|a| policy.delay_after(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn delay_tiers_are_named_by_milliseconds() {
        assert_eq!(delay_tier(Duration::from_millis(1500)), "mom.delay.1500");
        assert_eq!(delay_tier(Duration::ZERO), "mom.delay.1");
    }
}
