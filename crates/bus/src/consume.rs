//! Consumers: typed handlers, manual ack after the work is done, retries and dead letters.
//!
//! The invariant: a delivery is acked only once its outcome is durable somewhere else — the
//! handler finished, or a confirmed copy sits in a delay tier (retry) or in the dead-letter
//! queue. If that hand-off fails, the delivery is returned to the broker, so nothing is lost;
//! handlers are idempotent because this makes delivery at-least-once.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

use crate::connection::Link;
use crate::health::ConsumerState;
use crate::publish::Route;
use crate::{header, Bus, Context, WorkQueue};

/// What the broker must do with a message whose handling failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try again later: after `after`, or the queue's backoff when `None`. Once the attempts
    /// are used up the message is dead-lettered with this reason.
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Retrying cannot help: dead-letter now with this reason.
    #[error("{0}")]
    Abort(String),
}

impl HandlerError {
    pub fn retry(reason: impl std::fmt::Display) -> Self {
        Self::Retry {
            reason: reason.to_string(),
            after: None,
        }
    }

    pub fn retry_after(after: Duration, reason: impl std::fmt::Display) -> Self {
        Self::Retry {
            reason: reason.to_string(),
            after: Some(after),
        }
    }

    pub fn abort(reason: impl std::fmt::Display) -> Self {
        Self::Abort(reason.to_string())
    }
}

/// How a handler's message is read from a delivery's body: JSON for every `Deserialize` type,
/// or the bytes as they came with [`RawBody`].
pub trait Decode: Sized + Send + 'static {
    fn decode(body: &[u8]) -> Result<Self, String>;
}

impl<T: DeserializeOwned + Send + 'static> Decode for T {
    fn decode(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

/// A body taken as bytes, for handlers that must accept anything (a dead-letter queue holds
/// whatever failed, JSON or not).
#[derive(Clone, Debug)]
pub struct RawBody(pub Vec<u8>);

impl Decode for RawBody {
    fn decode(body: &[u8]) -> Result<Self, String> {
        Ok(Self(body.to_vec()))
    }
}

/// Handles the messages of one work queue. `Message` is parsed from the body (JSON unless it
/// is a [`RawBody`]); a body that does not parse is dead-lettered without reaching the
/// handler. `Reply` is sent back when the message is an RPC request (it has a `reply_to`).
pub trait Handler: Send + Sync + 'static {
    type Message: Decode;
    type Reply: Serialize + Send + 'static;

    fn handle(
        &self,
        message: Self::Message,
        context: Context,
    ) -> impl Future<Output = Result<Self::Reply, HandlerError>> + Send;
}

/// A consumer of one work queue, built with options and then [run](Consumer::run).
pub struct Consumer<H> {
    bus: Bus,
    queue: WorkQueue,
    handler: Arc<H>,
    concurrency: u16,
    stall_after: Duration,
    drain_timeout: Duration,
}

enum Outcome<R> {
    Done(R),
    Retry { after: Duration, reason: String },
    DeadLetter(String),
}

impl<H: Handler> Consumer<H> {
    pub fn new(bus: &Bus, queue: WorkQueue, handler: H) -> Self {
        Self {
            bus: bus.clone(),
            queue,
            handler: Arc::new(handler),
            concurrency: 16,
            stall_after: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
        }
    }

    /// How many messages are handled at once (also the prefetch).
    pub fn concurrency(mut self, concurrency: u16) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// After this long without a delivery while the queue has messages ready and the consumer
    /// has room, the consumer counts as stalled and re-attaches.
    pub fn stall_after(mut self, after: Duration) -> Self {
        self.stall_after = after;
        self
    }

    /// How long shutdown waits for handlers in flight.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Consumes until `shutdown` is cancelled, then stops taking messages, finishes and acks
    /// those it holds, and returns. Survives broker restarts by re-attaching.
    pub async fn run(self, shutdown: CancellationToken) {
        let channels = channels_for(self.concurrency);
        let state = self.bus.register_consumer(&self.queue.name, channels);
        let permits = Arc::new(Semaphore::new(usize::from(self.concurrency)));
        let prefetch = self.concurrency.div_ceil(channels);
        info!(queue = %self.queue.name, concurrency = self.concurrency, channels, "consuming");
        let last_channels = futures_util::future::join_all(
            (0..channels)
                .map(|_| self.consume_on_one_channel(prefetch, &permits, &state, &shutdown)),
        )
        .await;
        let all = u32::from(self.concurrency);
        if tokio::time::timeout(self.drain_timeout, permits.acquire_many(all))
            .await
            .is_err()
        {
            warn!(queue = %self.queue.name, "handlers still busy at shutdown; their messages will be redelivered");
        }
        for channel in last_channels.into_iter().flatten() {
            let _ = channel.close(200, "OK".into()).await;
        }
        info!(queue = %self.queue.name, "consumer stopped");
    }

    /// One channel's share of the consumer (`prefetch` unacked deliveries at most), attached
    /// again after each break, until `shutdown`. Returns its last channel, still open so the
    /// handlers in flight can ack on it.
    async fn consume_on_one_channel(
        &self,
        prefetch: u16,
        permits: &Arc<Semaphore>,
        state: &Arc<ConsumerState>,
        shutdown: &CancellationToken,
    ) -> Option<Channel> {
        let mut last_channel: Option<Channel> = None;
        'attach: loop {
            let link = tokio::select! {
                _ = shutdown.cancelled() => break 'attach,
                link = self.bus.supervisor().link() => match link {
                    Some(link) => link,
                    None => break 'attach,
                },
            };
            let (channel, mut deliveries, tag) = match self.attach(&link, prefetch).await {
                Ok(attached) => attached,
                Err(error) => {
                    warn!(queue = %self.queue.name, %error, "cannot attach consumer; retrying");
                    self.bus.supervisor().report_broken(link.generation);
                    tokio::select! {
                        _ = shutdown.cancelled() => break 'attach,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue 'attach,
                    }
                }
            };
            debug!(queue = %self.queue.name, prefetch, "channel consuming");
            let _attached = Attached::new(state);
            state.touch();
            last_channel = Some(channel.clone());
            let mut stall_check =
                tokio::time::interval(self.stall_after.max(Duration::from_millis(100)) / 2);
            stall_check.tick().await;
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => {
                        let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                        // Deliveries already on their way to us are handled, not dropped.
                        while let Ok(Some(Ok(delivery))) =
                            tokio::time::timeout(Duration::from_millis(200), deliveries.next()).await
                        {
                            self.spawn(permits, state, &channel, delivery).await;
                        }
                        break 'attach;
                    }
                    next = deliveries.next() => match next {
                        Some(Ok(delivery)) => self.spawn(permits, state, &channel, delivery).await,
                        Some(Err(error)) => {
                            warn!(queue = %self.queue.name, %error, "consumer interrupted");
                            break;
                        }
                        None => break,
                    },
                    _ = stall_check.tick() => {
                        if self.stalled(&channel, state).await {
                            warn!(queue = %self.queue.name, "consumer stalled with messages ready; re-attaching");
                            state.stall_recoveries.fetch_add(1, Ordering::Relaxed);
                            let _ = channel.close(200, "stalled consumer".into()).await;
                            break;
                        }
                    }
                }
            }
            self.bus.supervisor().report_broken(link.generation);
        }
        last_channel
    }

    async fn attach(
        &self,
        link: &Link,
        prefetch: u16,
    ) -> Result<(Channel, lapin::Consumer, String), lapin::Error> {
        let channel = link.connection.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        self.queue.declare(&channel).await?;
        let tag = format!(
            "{}.{}",
            self.bus.config().connection_name,
            uuid::Uuid::new_v4()
        );
        let deliveries = channel
            .basic_consume(
                self.queue.name.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((channel, deliveries, tag))
    }

    /// Connected but not receiving: nothing delivered for `stall_after`, room for more, and
    /// the broker says messages are ready.
    async fn stalled(&self, channel: &Channel, state: &ConsumerState) -> bool {
        let busy = state.in_flight.load(Ordering::Relaxed);
        if !looks_stalled(
            state.idle_for(),
            self.stall_after,
            busy,
            self.concurrency,
            None,
        ) {
            return false;
        }
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let ready = channel
            .queue_declare(
                self.queue.name.as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await
            // A channel that cannot even ask is as good as stalled: re-attaching fixes both.
            .map_or(u32::MAX, |queue| queue.message_count());
        looks_stalled(
            state.idle_for(),
            self.stall_after,
            busy,
            self.concurrency,
            Some(ready),
        )
    }

    async fn spawn(
        &self,
        permits: &Arc<Semaphore>,
        state: &Arc<ConsumerState>,
        channel: &Channel,
        delivery: Delivery,
    ) {
        let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
            return;
        };
        state.touch();
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            bus: self.bus.clone(),
            queue: self.queue.clone(),
            handler: Arc::clone(&self.handler),
            channel: channel.clone(),
            state: Arc::clone(state),
        };
        tokio::spawn(async move {
            job.process(delivery).await;
            job.state.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// Unacked deliveries one channel holds at most. The broker finds each ack by walking its
/// channel's list of unacked deliveries from the oldest, so acks that come out of order (slow
/// calls of random length) cost it time in proportion to that list: with 10,000 in flight on
/// one channel, the math queue's process spent most of its CPU walking it.
const UNACKED_PER_CHANNEL: u16 = 256;

/// How many channels a consumer of `concurrency` spreads its deliveries over: the broker
/// counts each as a consumer of the queue.
pub fn channels_for(concurrency: u16) -> u16 {
    concurrency.div_ceil(UNACKED_PER_CHANNEL).max(1)
}

/// Counts one channel as attached for as long as it lives.
struct Attached<'a>(&'a ConsumerState);

impl<'a> Attached<'a> {
    fn new(state: &'a ConsumerState) -> Self {
        state.attached_channels.fetch_add(1, Ordering::Relaxed);
        Self(state)
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        self.0.attached_channels.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything one delivery's task needs.
struct Job<H> {
    bus: Bus,
    queue: WorkQueue,
    handler: Arc<H>,
    channel: Channel,
    state: Arc<ConsumerState>,
}

impl<H: Handler> Job<H> {
    async fn process(&self, delivery: Delivery) {
        let mut context = Context::from_delivery(
            delivery.routing_key.as_str(),
            delivery.redelivered,
            &delivery.properties,
        );
        context.max_attempts = self.queue.retry.max_attempts;
        let span = info_span!(
            "handle",
            queue = %self.queue.name,
            kind = context.kind.as_deref().unwrap_or(""),
            message_id = context.message_id.as_deref().unwrap_or(""),
            attempt = context.attempt,
            trace_id = %context.trace_id(),
        );
        async {
            if context.reply_to.is_some() && context.remaining() == Some(Duration::ZERO) {
                debug!("the RPC caller has given up; dropping the request");
                self.ack(&delivery).await;
                return;
            }
            let outcome = self.outcome(&delivery, &context).await;
            let settled = match outcome {
                // A dead letter that cannot be handled now stays where it is: there is no
                // queue behind a dead-letter queue.
                Outcome::Retry { reason, .. } | Outcome::DeadLetter(reason)
                    if self.queue.is_dead_letter_queue() =>
                {
                    warn!(%reason, "cannot handle a dead letter now; returning it to its queue");
                    self.return_later(&delivery).await;
                    return;
                }
                Outcome::Done(reply) => {
                    self.state.handled.fetch_add(1, Ordering::Relaxed);
                    match serde_json::to_vec(&reply) {
                        Ok(body) => self.reply(&context, Ok(body)).await,
                        Err(e) => self.reply(&context, Err(format!("cannot encode reply: {e}"))).await,
                    }
                    Ok(())
                }
                Outcome::Retry { after, reason } => {
                    warn!(%reason, retry_in_ms = after.as_millis() as u64, "handler failed; will retry");
                    self.state.retried.fetch_add(1, Ordering::Relaxed);
                    self.retry_later(&delivery, &context, after, &reason).await
                }
                Outcome::DeadLetter(reason) => {
                    warn!(%reason, "dead-lettering message");
                    self.state.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    let parked = self.dead_letter(&delivery, &context, &reason).await;
                    if parked.is_ok() {
                        self.reply(&context, Err(reason)).await;
                    }
                    parked
                }
            };
            match settled {
                Ok(()) => self.ack(&delivery).await,
                Err(error) => {
                    error!(%error, "cannot hand the message on; returning it to the queue");
                    self.return_later(&delivery).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn outcome(&self, delivery: &Delivery, context: &Context) -> Outcome<H::Reply> {
        let message = match H::Message::decode(&delivery.data) {
            Ok(message) => message,
            Err(e) => return Outcome::DeadLetter(format!("malformed message: {e}")),
        };
        let handled = AssertUnwindSafe(self.handler.handle(message, context.clone()))
            .catch_unwind()
            .await;
        let (reason, after) = match handled {
            Ok(Ok(reply)) => return Outcome::Done(reply),
            Ok(Err(HandlerError::Abort(reason))) => return Outcome::DeadLetter(reason),
            Ok(Err(HandlerError::Retry { reason, after })) => (reason, after),
            Err(panic) => (format!("handler panicked: {}", panic_message(&panic)), None),
        };
        if context.is_final_attempt() {
            return Outcome::DeadLetter(format!(
                "gave up after {} attempts: {reason}",
                context.attempt
            ));
        }
        let after = after.unwrap_or_else(|| self.queue.retry.delay_after(context.attempt));
        Outcome::Retry { after, reason }
    }

    async fn retry_later(
        &self,
        delivery: &Delivery,
        context: &Context,
        after: Duration,
        reason: &str,
    ) -> Result<(), crate::BusError> {
        let mut properties = without_expiration(&delivery.properties);
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(
            header::ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(context.attempt + 1)),
        );
        headers.insert(
            header::ERROR.into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        keep_first_failure(&mut headers);
        properties = properties.with_headers(headers);
        self.bus
            .publish_delayed(&self.queue.name, &delivery.data, properties, after)
            .await
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        context: &Context,
        reason: &str,
    ) -> Result<(), crate::BusError> {
        let mut properties = without_expiration(&delivery.properties);
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(
            header::ERROR.into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        headers.insert(
            header::ATTEMPTS.into(),
            AMQPValue::LongLongInt(i64::from(context.attempt)),
        );
        headers.insert(
            header::ORIGINAL_QUEUE.into(),
            AMQPValue::LongString(LongString::from(self.queue.name.as_str())),
        );
        keep_first_failure(&mut headers);
        headers.insert(
            header::FAILED_AT_MS.into(),
            AMQPValue::LongLongInt(crate::message::now_millis() as i64),
        );
        properties = properties.with_headers(headers);
        let dead = self.queue.dead_letter_queue();
        let route = Route::queue(&dead);
        self.bus
            .publish_raw(route, &delivery.data, properties)
            .await
    }

    /// Answers an RPC request; a no-op for other messages. Replies are best effort: the caller
    /// has a deadline and gives up on its own.
    async fn reply(&self, context: &Context, reply: Result<Vec<u8>, String>) {
        let Some(reply_to) = context.reply_to.as_deref() else {
            return;
        };
        let mut properties =
            BasicProperties::default().with_content_type("application/json".into());
        if let Some(id) = &context.correlation_id {
            properties = properties.with_correlation_id(id.as_str().into());
        }
        let body = match reply {
            Ok(body) => body,
            Err(reason) => {
                let mut headers = FieldTable::default();
                headers.insert(
                    header::ERROR.into(),
                    AMQPValue::LongString(LongString::from(reason.as_str())),
                );
                properties = properties.with_headers(headers);
                serde_json::to_vec(&serde_json::json!({ "error": reason })).unwrap_or_default()
            }
        };
        if let Err(error) = self
            .channel
            .basic_publish(
                "".into(),
                reply_to.into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await
        {
            warn!(%error, "cannot send RPC reply");
        }
    }

    /// Returns the delivery to its queue after a short pause, which keeps a broker or a
    /// database in trouble from turning this into a hot loop.
    async fn return_later(&self, delivery: &Delivery) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let requeue = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        let _ = delivery.acker.nack(requeue).await;
    }

    async fn ack(&self, delivery: &Delivery) {
        if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
            // The channel is gone; the broker redelivers the message to another attempt.
            warn!(%error, "cannot ack; the message will be redelivered");
        }
    }
}

/// The stall rule: idle for `stall_after`, room for more work, and (once asked) messages
/// ready in the queue. `ready` is `None` before the broker was asked, so the cheap checks
/// alone can rule a stall out without a round trip.
fn looks_stalled(
    idle_for: Duration,
    stall_after: Duration,
    in_flight: usize,
    concurrency: u16,
    ready: Option<u32>,
) -> bool {
    idle_for >= stall_after && in_flight < usize::from(concurrency) && ready.is_none_or(|n| n > 0)
}

/// Notes when a message first failed, unless an earlier attempt did.
fn keep_first_failure(headers: &mut FieldTable) {
    if !headers.inner().contains_key(header::FIRST_FAILED_MS) {
        headers.insert(
            header::FIRST_FAILED_MS.into(),
            AMQPValue::LongLongInt(crate::message::now_millis() as i64),
        );
    }
}

/// The properties of `properties` minus its expiration: an RPC request's TTL applies to its
/// first trip only, a retry or dead letter must not vanish on the way.
fn without_expiration(properties: &BasicProperties) -> BasicProperties {
    let mut copy = BasicProperties::default();
    if let Some(v) = properties.content_type() {
        copy = copy.with_content_type(v.clone());
    }
    if let Some(v) = properties.delivery_mode() {
        copy = copy.with_delivery_mode(*v);
    }
    if let Some(v) = properties.priority() {
        copy = copy.with_priority(*v);
    }
    if let Some(v) = properties.correlation_id() {
        copy = copy.with_correlation_id(v.clone());
    }
    if let Some(v) = properties.reply_to() {
        copy = copy.with_reply_to(v.clone());
    }
    if let Some(v) = properties.message_id() {
        copy = copy.with_message_id(v.clone());
    }
    if let Some(v) = properties.timestamp() {
        copy = copy.with_timestamp(*v);
    }
    if let Some(v) = properties.kind() {
        copy = copy.with_type(v.clone());
    }
    if let Some(v) = properties.headers() {
        copy = copy.with_headers(v.clone());
    }
    copy
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(30);

    #[test]
    fn a_consumer_with_room_idle_while_messages_wait_is_stalled() {
        assert!(looks_stalled(Duration::from_secs(31), AFTER, 0, 4, Some(5)));
        assert!(
            looks_stalled(Duration::from_secs(31), AFTER, 0, 4, None),
            "worth asking the broker"
        );
    }

    #[test]
    fn busy_recent_or_empty_is_not_a_stall() {
        assert!(
            !looks_stalled(Duration::from_secs(5), AFTER, 0, 4, Some(5)),
            "recent delivery"
        );
        assert!(
            !looks_stalled(Duration::from_secs(31), AFTER, 4, 4, Some(5)),
            "all handlers busy"
        );
        assert!(
            !looks_stalled(Duration::from_secs(31), AFTER, 0, 4, Some(0)),
            "nothing to deliver"
        );
    }
}
