//! The envelope of DESIGN.md: what goes out ([`Outgoing`]) and what a handler learns about a
//! delivery ([`Context`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde::Serialize;

use crate::{header, trace, BusError, DEFERRED_PRIORITY};

const JSON: &str = "application/json";

/// A message about to be published. Persistent, JSON by default, with a fresh message id and
/// trace unless told otherwise.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub(crate) kind: String,
    pub(crate) body: Vec<u8>,
    pub(crate) message_id: String,
    pub(crate) correlation_id: Option<String>,
    pub(crate) priority: u8,
    pub(crate) traceparent: String,
    pub(crate) attempt: u32,
    pub(crate) headers: BTreeMap<String, String>,
}

impl Outgoing {
    /// A JSON message of the given type (AMQP `type` property).
    pub fn json<T: Serialize + ?Sized>(kind: &str, body: &T) -> Result<Self, BusError> {
        Ok(Self::raw(kind, serde_json::to_vec(body)?))
    }

    /// A message with a body that is sent as is (still labelled JSON).
    pub fn raw(kind: &str, body: Vec<u8>) -> Self {
        Self {
            kind: kind.to_owned(),
            body,
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: None,
            priority: DEFERRED_PRIORITY,
            traceparent: trace::new_root(),
            attempt: 1,
            headers: BTreeMap::new(),
        }
    }

    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// A stable id makes redelivered duplicates recognisable to idempotent handlers.
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = id.into();
        self
    }

    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Continue the trace of an incoming W3C `traceparent` (a malformed one starts a new trace).
    pub fn traceparent(mut self, parent: &str) -> Self {
        self.traceparent = trace::child_of(parent);
        self
    }

    /// A message caused by handling `cause`: same trace, same correlation id.
    pub fn caused_by(mut self, cause: &Context) -> Self {
        if let Some(parent) = &cause.traceparent {
            self.traceparent = trace::child_of(parent);
        }
        self.correlation_id = cause.correlation_id.clone();
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_owned(), value.into());
        self
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn id(&self) -> &str {
        &self.message_id
    }

    pub(crate) fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            header::ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(self.attempt)),
        );
        headers.insert(
            header::TRACEPARENT.into(),
            AMQPValue::LongString(self.traceparent.as_str().into()),
        );
        let now = now_millis();
        headers.insert(
            header::SENT_MS.into(),
            AMQPValue::LongLongInt(i64::try_from(now).unwrap_or(i64::MAX)),
        );
        for (name, value) in &self.headers {
            headers.insert(
                short(name),
                AMQPValue::LongString(LongString::from(value.as_str())),
            );
        }
        let mut properties = BasicProperties::default()
            .with_content_type(JSON.into())
            .with_delivery_mode(2)
            .with_priority(self.priority)
            .with_message_id(short(&self.message_id))
            .with_type(short(&self.kind))
            .with_timestamp(now / 1000)
            .with_headers(headers);
        if let Some(id) = &self.correlation_id {
            properties = properties.with_correlation_id(short(id));
        }
        properties
    }
}

/// What a handler knows about the delivery it is handling.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The AMQP `type` property.
    pub kind: Option<String>,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The retry policy's attempt limit of the queue this came from.
    pub max_attempts: u32,
    pub traceparent: Option<String>,
    /// When the RPC caller stops waiting; handlers may give up early after it.
    pub deadline: Option<SystemTime>,
    /// When the message was published (to the millisecond when the publisher sent
    /// [`header::SENT_MS`], else the AMQP timestamp's second).
    pub sent_at: Option<SystemTime>,
    pub reply_to: Option<String>,
    pub routing_key: String,
    pub redelivered: bool,
    pub priority: u8,
    /// String-valued headers (attempt and trace excluded).
    pub headers: BTreeMap<String, String>,
}

impl Context {
    /// True when a failure now sends the message to the dead-letter queue instead of a retry.
    pub fn is_final_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }

    /// Time left before the RPC caller gives up, if it is waiting at all.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| {
            d.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }

    pub fn trace_id(&self) -> &str {
        self.traceparent
            .as_deref()
            .map(trace::trace_id)
            .unwrap_or("")
    }

    /// The context of a delivery with these AMQP properties.
    pub fn from_delivery(
        routing_key: &str,
        redelivered: bool,
        properties: &BasicProperties,
    ) -> Self {
        let mut context = Context {
            message_id: properties.message_id().as_ref().map(|s| s.to_string()),
            correlation_id: properties.correlation_id().as_ref().map(|s| s.to_string()),
            kind: properties.kind().as_ref().map(|s| s.to_string()),
            reply_to: properties.reply_to().as_ref().map(|s| s.to_string()),
            routing_key: routing_key.to_owned(),
            redelivered,
            priority: properties.priority().unwrap_or(0),
            attempt: 1,
            max_attempts: 1,
            sent_at: properties
                .timestamp()
                .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
            ..Context::default()
        };
        let Some(headers) = properties.headers() else {
            return context;
        };
        for (name, value) in headers.inner() {
            match name.as_str() {
                header::ATTEMPT => context.attempt = as_int(value).unwrap_or(1).max(1) as u32,
                header::DEADLINE_MS => {
                    context.deadline = as_int(value)
                        .or_else(|| as_text(value)?.parse().ok())
                        .map(|ms: i64| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64));
                }
                header::TRACEPARENT => context.traceparent = as_text(value),
                header::SENT_MS => {
                    if let Some(ms) = as_int(value) {
                        context.sent_at =
                            Some(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64));
                    }
                }
                other => {
                    if let Some(text) = as_text(value) {
                        context.headers.insert(other.to_owned(), text);
                    } else if let Some(n) = as_int(value) {
                        context.headers.insert(other.to_owned(), n.to_string());
                    }
                }
            }
        }
        context
    }
}

/// A delivery as handed to event subscribers: its body and envelope.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub body: Vec<u8>,
    pub context: Context,
}

impl Incoming {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// AMQP short strings are limited to 255 bytes; longer values are cut at a char boundary
/// rather than panicking on data that came from outside.
pub(crate) fn short(value: &str) -> ShortString {
    let mut end = value.len().min(255);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    ShortString::from(&value[..end])
}

fn as_int(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        _ => None,
    }
}

fn as_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_properties() {
        let out = Outgoing::json("db.user.create", &serde_json::json!({"a": 1}))
            .unwrap()
            .priority(10)
            .correlation_id("c-1")
            .header("x-custom", "v");
        let context = Context::from_delivery("q", false, &out.properties());
        assert_eq!(context.kind.as_deref(), Some("db.user.create"));
        assert_eq!(context.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(context.message_id.as_deref(), Some(out.id()));
        assert_eq!(context.attempt, 1);
        assert_eq!(context.priority, 10);
        assert_eq!(
            context.headers.get("x-custom").map(String::as_str),
            Some("v")
        );
        assert_eq!(context.trace_id().len(), 32);
        let age = context.sent_at.unwrap().elapsed().unwrap_or_default();
        assert!(age < Duration::from_secs(5), "sent_at is now, to the ms");
    }

    #[test]
    fn long_values_are_cut_not_panicking() {
        let long = "é".repeat(200);
        assert!(short(&long).as_str().len() <= 255);
    }
}
