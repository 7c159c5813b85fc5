//! Publishes outbox rows: right after the commit that wrote them, and again from a periodic
//! sweep for rows whose writer died before publishing.

use std::time::Duration;

use mom_bus::{Bus, Outgoing};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::store::outbox::{self, OutboxMessage};

#[derive(Clone)]
pub struct Relay {
    bus: Bus,
    pool: PgPool,
    grace: Duration,
}

impl Relay {
    pub fn new(bus: Bus, pool: PgPool, grace: Duration) -> Self {
        Self { bus, pool, grace }
    }

    /// Publishes committed rows and deletes those the broker confirmed. A failure leaves the
    /// row for the sweep, so the caller never has to handle it.
    pub async fn publish(&self, messages: &[OutboxMessage]) {
        // Confirms are awaited side by side: a step's next task and its event cost one round
        // trip to the broker, not two.
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
        if !sent.is_empty() {
            if let Err(error) = outbox::delete(&self.pool, &sent).await {
                warn!(%error, "cannot delete published outbox rows; they may be published twice");
            }
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

    /// Sweeps stale rows every second until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.sweep().await {
                warn!(%error, "outbox sweep failed");
            }
        }
    }

    /// One sweep: publishes rows older than the grace period, locked so relays on several
    /// workers never publish the same row at once.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let stale = outbox::claim_stale(&mut tx, self.grace.as_millis() as i64, 200).await?;
        let mut sent = Vec::new();
        for message in &stale {
            match self.send(message).await {
                Ok(()) => sent.push(message.id),
                Err(error) => {
                    warn!(%error, "outbox sweep cannot publish; will retry");
                    break;
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
