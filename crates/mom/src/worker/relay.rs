//! Publishes outbox rows: right after the commit that wrote them, and again from a periodic
//! sweep for rows whose writer died before publishing. Also publishes the messages a recorded
//! step hands off without a row ([`Relay::hand_off`]).
//!
//! A published row is not deleted on its own: its id waits in [`Relay::take_deletable`] for
//! the next batch transaction of the db worker, which deletes it for free alongside its own
//! writes. Ids still waiting when the system goes quiet are deleted by the sweep's tick. A row
//! deleted late is harmless; the sweep only takes rows older than its grace, which exceeds the
//! publish timeout and the tick, so a published row is never taken again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mom_bus::{Bus, Outgoing};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::meters::name as meters;
use crate::store::outbox::{self, OutboxMessage};

/// Seconds between two counts of the outbox backlog (the first at start).
const BACKLOG_EVERY: u64 = 5;

#[derive(Clone)]
pub struct Relay {
    bus: Bus,
    pool: PgPool,
    grace: Duration,
    /// Ids of rows the broker confirmed, waiting to be deleted.
    published: Arc<Mutex<Vec<i64>>>,
}

impl Relay {
    pub fn new(bus: Bus, pool: PgPool, grace: Duration) -> Self {
        Self {
            bus,
            pool,
            grace,
            published: Arc::default(),
        }
    }

    /// Publishes committed rows side by side (one confirm round trip for all of them) and
    /// queues the confirmed ones for deletion. A failure leaves the row for the sweep, so the
    /// caller never has to handle it.
    pub async fn publish(&self, messages: &[OutboxMessage]) {
        let results = futures_util::future::join_all(messages.iter().map(|m| self.send(m))).await;
        let mut sent = Vec::with_capacity(messages.len());
        for (message, result) in messages.iter().zip(results) {
            match result {
                Ok(()) => sent.push(message.id),
                Err(error) => {
                    warn!(%error, message_id = %message.message_id, "outbox publish failed; the sweep will retry")
                }
            }
        }
        self.delete_later(sent);
    }

    /// Publishes messages that have no outbox row, side by side, and says whether the broker
    /// confirmed every one: the caller holds the delivery that caused them unacked until then,
    /// so that delivery is their outbox (see [`super::Committer`]).
    pub async fn hand_off(&self, messages: &[OutboxMessage]) -> Result<(), mom_bus::BusError> {
        let results = futures_util::future::join_all(messages.iter().map(|m| self.send(m))).await;
        results.into_iter().collect()
    }

    /// Takes the ids of published rows, for a transaction that deletes them.
    pub fn take_deletable(&self) -> Vec<i64> {
        std::mem::take(&mut *self.published.lock().expect("outbox ids lock poisoned"))
    }

    /// Queues ids of published rows for deletion (also ids taken by
    /// [`Relay::take_deletable`] whose deletion did not commit).
    pub fn delete_later(&self, ids: Vec<i64>) {
        if !ids.is_empty() {
            self.published
                .lock()
                .expect("outbox ids lock poisoned")
                .extend(ids);
        }
    }

    async fn send(&self, message: &OutboxMessage) -> Result<(), mom_bus::BusError> {
        let mut outgoing = Outgoing::json(&message.kind, &message.payload)?
            .message_id(&message.message_id)
            .priority(message.priority.clamp(0, 10) as u8);
        if let Some(parent) = &message.traceparent {
            outgoing = outgoing.traceparent(parent);
        }
        if message.exchange.is_empty() {
            self.bus.send(&message.routing_key, &outgoing).await
        } else {
            self.bus
                .publish(&message.exchange, &message.routing_key, &outgoing)
                .await
        }
    }

    /// Every second until `shutdown`: deletes published rows no batch took, then sweeps;
    /// every [`BACKLOG_EVERY`] ticks, counts the backlog. On shutdown, deletes what is left.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for ticks in 0u64.. {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.delete_published().await;
            if let Err(error) = self.sweep().await {
                warn!(%error, "outbox sweep failed");
            }
            if ticks % BACKLOG_EVERY == 0 {
                self.count_backlog().await;
            }
        }
        self.delete_published().await;
    }

    /// One count for the backlog gauges instead of anything per message: rows committed but
    /// not yet published and deleted, and how old the oldest is.
    async fn count_backlog(&self) {
        match outbox::backlog(&self.pool).await {
            Ok(backlog) => {
                metrics::gauge!(meters::OUTBOX_BACKLOG).set(backlog.rows as f64);
                metrics::gauge!(meters::OUTBOX_OLDEST).set(backlog.oldest_seconds);
            }
            Err(error) => warn!(%error, "cannot count the outbox backlog"),
        }
    }

    /// Deletes the rows published since the last batch transaction.
    pub async fn delete_published(&self) {
        let ids = self.take_deletable();
        if ids.is_empty() {
            return;
        }
        if let Err(error) = outbox::delete(&self.pool, &ids).await {
            warn!(%error, "cannot delete published outbox rows; will try again");
            self.delete_later(ids);
        }
    }

    /// One sweep: publishes rows older than the grace period, locked so relays on several
    /// workers never publish the same row at once. A row that cannot be published is passed
    /// over, so it never holds back the rows behind it.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let stale = outbox::claim_stale(&mut tx, self.grace.as_millis() as i64, 200).await?;
        let results = futures_util::future::join_all(stale.iter().map(|m| self.send(m))).await;
        let mut sent = Vec::new();
        for (message, result) in stale.iter().zip(results) {
            match result {
                Ok(()) => sent.push(message.id),
                Err(error) => {
                    warn!(%error, message_id = %message.message_id, "outbox sweep cannot publish; will retry")
                }
            }
        }
        outbox::delete_in(&mut tx, &sent).await?;
        tx.commit().await?;
        if !sent.is_empty() {
            debug!(count = sent.len(), "outbox sweep published stale rows");
        }
        Ok(sent.len())
    }
}
