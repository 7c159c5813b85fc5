//! [`Bus`]: the handle every service holds.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::connection::Supervisor;
use crate::events::Subscription;
use crate::health::{BusHealth, ConsumerState};
use crate::publish::{Publisher, Route};
use crate::rpc::RpcClient;
use crate::topology::Declaration;
use crate::{BusConfig, BusError, Exchange, Incoming, Outgoing, RpcError, WorkQueue, RPC_PRIORITY};

/// What a passive declaration tells about a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Messages ready for delivery (not counting those delivered and not yet acked).
    pub messages: u32,
    pub consumers: u32,
}

/// A supervised connection to RabbitMQ with everything built on it. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    supervisor: Arc<Supervisor>,
    publisher: Publisher,
    rpc: RpcClient,
    consumers: Mutex<Vec<Weak<ConsumerState>>>,
}

impl Bus {
    /// Starts the connection supervisor. Returns at once; the connection is made (and remade)
    /// in the background. Use [`Bus::wait_connected`] to wait for it.
    pub fn connect(config: BusConfig) -> Self {
        let supervisor = Supervisor::start(config);
        Self {
            inner: Arc::new(Inner {
                publisher: Publisher::new(Arc::clone(&supervisor)),
                rpc: RpcClient::new(Arc::clone(&supervisor)),
                supervisor,
                consumers: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn config(&self) -> &BusConfig {
        &self.inner.supervisor.config
    }

    /// Waits until the broker is reachable.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), BusError> {
        self.inner
            .supervisor
            .link_before(Instant::now() + timeout)
            .await
            .map(drop)
    }

    /// Declares a work queue (and its dead-letter queue) now and after every reconnection.
    /// Producers declare what they send to, so no message is published into nothing.
    pub async fn declare_queue(&self, queue: &WorkQueue) -> Result<(), BusError> {
        self.inner
            .supervisor
            .declare(Declaration::Queue(queue.clone()))
            .await
    }

    /// Declares an exchange now and after every reconnection.
    pub async fn declare_exchange(&self, exchange: &Exchange) -> Result<(), BusError> {
        self.inner
            .supervisor
            .declare(Declaration::Exchange(exchange.clone()))
            .await
    }

    /// Sends to a queue through the default exchange and waits for the broker's confirm.
    /// Fails with [`BusError::Unroutable`] when the queue does not exist.
    pub async fn send(&self, queue: &str, message: &Outgoing) -> Result<(), BusError> {
        let route = Route::queue(queue);
        self.inner
            .publisher
            .publish(route, &message.body, message.properties())
            .await
    }

    /// Sends to a queue after `delay` (delay queues on stock RabbitMQ, see [`crate::topology`]).
    pub async fn send_delayed(
        &self,
        queue: &str,
        message: &Outgoing,
        delay: Duration,
    ) -> Result<(), BusError> {
        self.publish_delayed(queue, &message.body, message.properties(), delay)
            .await
    }

    pub(crate) async fn publish_delayed(
        &self,
        queue: &str,
        body: &[u8],
        properties: lapin::BasicProperties,
        delay: Duration,
    ) -> Result<(), BusError> {
        let tier = self.inner.publisher.ensure_delay_tier(delay).await?;
        let route = Route::exchange(&tier, queue, true);
        self.inner.publisher.publish(route, body, properties).await
    }

    pub(crate) async fn publish_raw(
        &self,
        route: Route<'_>,
        body: &[u8],
        properties: lapin::BasicProperties,
    ) -> Result<(), BusError> {
        self.inner.publisher.publish(route, body, properties).await
    }

    /// Publishes to an exchange (events). Not finding a subscriber is not an error.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &Outgoing,
    ) -> Result<(), BusError> {
        let route = Route::exchange(exchange, routing_key, false);
        self.inner
            .publisher
            .publish(route, &message.body, message.properties())
            .await
    }

    /// Calls the server consuming `queue` and returns the reply body. The request goes at
    /// [`RPC_PRIORITY`]; `timeout` bounds the whole call, connection wait included.
    pub async fn call(
        &self,
        queue: &str,
        request: Outgoing,
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        self.inner
            .rpc
            .call(queue, request.priority(RPC_PRIORITY), timeout)
            .await
    }

    /// [`Bus::call`] with a JSON reply.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        queue: &str,
        request: Outgoing,
        timeout: Duration,
    ) -> Result<T, RpcError> {
        let body = self.call(queue, request, timeout).await?;
        serde_json::from_slice(&body).map_err(RpcError::Decode)
    }

    /// A per-node subscription to `exchange`: an exclusive queue whose bindings are added and
    /// removed at runtime and restored after a reconnection.
    pub fn subscribe(&self, exchange: &Exchange) -> Subscription {
        Subscription::start(Arc::clone(&self.inner.supervisor), exchange.clone())
    }

    /// Deletes a work queue and its dead-letter queue, and forgets their declaration (tests,
    /// examples and benchmarks clean up with this; services keep their queues).
    pub async fn delete_queue(&self, queue: &WorkQueue) -> Result<(), BusError> {
        self.inner
            .supervisor
            .forget(&Declaration::Queue(queue.clone()));
        let channel = self.temporary_channel().await?;
        for name in [queue.name.clone(), queue.dead_letter_queue()] {
            channel
                .queue_delete(
                    name.as_str().into(),
                    lapin::options::QueueDeleteOptions::default(),
                )
                .await?;
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(())
    }

    /// Deletes an exchange and forgets its declaration.
    pub async fn delete_exchange(&self, exchange: &Exchange) -> Result<(), BusError> {
        self.inner
            .supervisor
            .forget(&Declaration::Exchange(exchange.clone()));
        let channel = self.temporary_channel().await?;
        channel
            .exchange_delete(
                exchange.name.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await?;
        let _ = channel.close(200, "OK".into()).await;
        Ok(())
    }

    async fn temporary_channel(&self) -> Result<lapin::Channel, BusError> {
        let link = self
            .inner
            .supervisor
            .link_before(Instant::now() + self.config().publish_timeout)
            .await?;
        Ok(link.connection.create_channel().await?)
    }

    /// Messages ready and consumers of `queue`, as the broker counts them right now.
    pub async fn queue_stats(&self, queue: &str) -> Result<QueueStats, BusError> {
        let link = self
            .inner
            .supervisor
            .link_before(Instant::now() + self.config().publish_timeout)
            .await?;
        let channel = link.connection.create_channel().await?;
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let declared = channel
            .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
            .await;
        let _ = channel.close(200, "OK".into()).await;
        let declared = declared?;
        Ok(QueueStats {
            messages: declared.message_count(),
            consumers: declared.consumer_count(),
        })
    }

    /// Removes and returns up to `max` messages waiting in `queue`, raw (dead letters need not
    /// be JSON). For inspecting and draining dead-letter queues; consumers use [`crate::Consumer`].
    pub async fn take(&self, queue: &str, max: usize) -> Result<Vec<Incoming>, BusError> {
        let link = self
            .inner
            .supervisor
            .link_before(Instant::now() + self.config().publish_timeout)
            .await?;
        let channel = link.connection.create_channel().await?;
        let mut taken = Vec::new();
        while taken.len() < max {
            let options = lapin::options::BasicGetOptions { no_ack: true };
            let Some(message) = channel.basic_get(queue.into(), options).await? else {
                break;
            };
            let delivery = message.delivery;
            let context =
                crate::Context::from_delivery(queue, delivery.redelivered, &delivery.properties);
            taken.push(Incoming {
                body: delivery.data,
                context,
            });
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(taken)
    }

    pub fn health(&self) -> BusHealth {
        let supervisor = &self.inner.supervisor;
        let current = supervisor.current();
        let mut consumers = self.inner.consumers.lock().expect("consumer list poisoned");
        consumers.retain(|c| c.strong_count() > 0);
        BusHealth {
            connected: current.is_some(),
            generation: current.map(|l| l.generation).unwrap_or(0),
            consumers: consumers
                .iter()
                .filter_map(Weak::upgrade)
                .map(|c| c.snapshot())
                .collect(),
        }
    }

    /// Stops reconnecting and closes the connection. Consumers should be stopped first.
    pub async fn close(&self) {
        // The supervisor closes the connection when it sees `stop`; closing it here as well
        // raced with it and made lapin log an UNEXPECTED-FRAME error for the second close-ok.
        self.inner.supervisor.stop.cancel();
        self.inner.supervisor.stopped.cancelled().await;
    }

    pub(crate) fn supervisor(&self) -> &Arc<Supervisor> {
        &self.inner.supervisor
    }

    pub(crate) fn register_consumer(&self, queue: &str, channels: u16) -> Arc<ConsumerState> {
        let state = Arc::new(ConsumerState::new(queue, channels));
        crate::health::register_in_process(&state);
        self.inner
            .consumers
            .lock()
            .expect("consumer list poisoned")
            .push(Arc::downgrade(&state));
        state
    }
}
