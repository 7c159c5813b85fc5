//! Request/reply over RabbitMQ direct reply-to (`amq.rabbitmq.reply-to`).
//!
//! One reply consumer per connection feeds a map of correlation ids to waiting callers; no
//! queue is ever declared per call. A request carries its deadline as a header: a server that
//! takes it after the deadline drops it unanswered, and one that is busy with it can give up
//! early. It carries no AMQP `expiration`: the broker would dead-letter an expired request,
//! and a dead-letter queue must never hold what a request carries (a password hash, say). A
//! reply arriving after its caller gave up finds no entry in the map and is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::debug;

use crate::connection::{Link, Supervisor};
use crate::message::{now_millis, Context, Outgoing};
use crate::{header, BusError, RpcError};

pub(crate) const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// A waiting caller and the generation of the connection its reply will come on.
type Waiting = (u64, oneshot::Sender<Result<Vec<u8>, RpcError>>);

pub(crate) struct RpcClient {
    supervisor: Arc<Supervisor>,
    pending: Arc<Mutex<HashMap<String, Waiting>>>,
    /// The RPC channel and the generation it belongs to; read on every call, so a plain lock.
    channel: Mutex<Option<(u64, Channel)>>,
    /// Serialises opening a channel, so a burst of calls after a reconnect opens one.
    opening: tokio::sync::Mutex<()>,
}

impl RpcClient {
    pub(crate) fn new(supervisor: Arc<Supervisor>) -> Self {
        Self {
            supervisor,
            pending: Arc::new(Mutex::new(HashMap::new())),
            channel: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// Sends `request` to `queue` and waits for the reply body until `timeout` has passed.
    pub(crate) async fn call(
        &self,
        queue: &str,
        request: Outgoing,
        timeout: Duration,
    ) -> Result<Vec<u8>, RpcError> {
        let started = Instant::now();
        let deadline = started + timeout;
        // Waiting for a connection is bounded by the publish timeout too: during an outage the
        // caller learns "unavailable" quickly rather than "timeout" late.
        let link = match self.supervisor.current() {
            Some(link) => link,
            None => {
                let connect_by = deadline.min(started + self.supervisor.config.publish_timeout);
                self.supervisor.link_before(connect_by).await?
            }
        };
        let channel = self.channel(&link).await.map_err(|e| {
            self.supervisor.report_broken(link.generation);
            RpcError::Bus(BusError::from(e))
        })?;

        let correlation_id = uuid::Uuid::new_v4().to_string();
        let (reply_tx, reply_rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending lock poisoned")
            .insert(correlation_id.clone(), (link.generation, reply_tx));
        let _forget = Forget {
            pending: &self.pending,
            correlation_id: &correlation_id,
        };

        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut properties = request
            .properties()
            .with_correlation_id(correlation_id.as_str().into())
            .with_reply_to(DIRECT_REPLY_TO.into());
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(
            header::DEADLINE_MS.into(),
            AMQPValue::LongLongInt((now_millis() + remaining.as_millis() as u64) as i64),
        );
        properties = properties.with_headers(headers);

        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &request.body,
                properties,
            )
            .await
            .map_err(|e| {
                self.supervisor.report_broken(link.generation);
                RpcError::Bus(BusError::Unavailable(e.to_string()))
            })?;

        match tokio::time::timeout_at(deadline, reply_rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(RpcError::Bus(BusError::Unavailable(
                "connection lost while waiting for the reply".into(),
            ))),
            Err(_) => Err(RpcError::Timeout(timeout)),
        }
    }

    /// The RPC channel of the current connection, with its reply consumer.
    async fn channel(&self, link: &Link) -> Result<Channel, lapin::Error> {
        if let Some(channel) = self.open_channel(link.generation) {
            return Ok(channel);
        }
        let _opening = self.opening.lock().await;
        if let Some(channel) = self.open_channel(link.generation) {
            return Ok(channel);
        }
        let channel = link.connection.create_channel().await?;
        let mut replies = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let pending = Arc::clone(&self.pending);
        let generation = link.generation;
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = replies.next().await {
                let context = Context::from_delivery("", false, &delivery.properties);
                let Some(id) = context.correlation_id.as_deref() else {
                    continue;
                };
                let waiting = pending.lock().expect("pending lock poisoned").remove(id);
                match waiting {
                    Some((_, waiting)) => {
                        let reply = match context.headers.get(header::ERROR) {
                            Some(error) => Err(RpcError::Remote(error.clone())),
                            None => Ok(delivery.data),
                        };
                        let _ = waiting.send(reply);
                    }
                    None => debug!(correlation_id = id, "late RPC reply dropped"),
                }
            }
            // The replies of this channel can no longer arrive: fail its callers now rather
            // than letting them wait out their deadlines.
            pending
                .lock()
                .expect("pending lock poisoned")
                .retain(|_, (of, _)| *of != generation);
        });
        *self.channel.lock().expect("rpc channel lock poisoned") =
            Some((link.generation, channel.clone()));
        Ok(channel)
    }

    fn open_channel(&self, generation: u64) -> Option<Channel> {
        let slot = self.channel.lock().expect("rpc channel lock poisoned");
        let (of, channel) = slot.as_ref()?;
        (*of == generation && channel.status().connected()).then(|| channel.clone())
    }
}

/// Removes a caller's entry however the call ends (reply, timeout, error, cancellation).
struct Forget<'a> {
    pending: &'a Mutex<HashMap<String, Waiting>>,
    correlation_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(self.correlation_id);
        }
    }
}
