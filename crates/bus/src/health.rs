//! What the bus knows about its own health, for health endpoints and the System page.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A snapshot of the bus.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusHealth {
    pub connected: bool,
    /// How many connections have been made; more than 1 means the bus has reconnected.
    pub generation: u64,
    pub consumers: Vec<ConsumerHealth>,
}

impl BusHealth {
    /// Connected, and every consumer attached to its queue.
    pub fn is_healthy(&self) -> bool {
        self.connected && self.consumers.iter().all(|c| c.attached)
    }
}

/// A snapshot of one consumer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerHealth {
    pub queue: String,
    pub attached: bool,
    pub in_flight: usize,
    pub handled: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Times the consumer found itself connected but not receiving while its queue had
    /// messages ready, and re-attached.
    pub stall_recoveries: u64,
    pub millis_since_last_delivery: Option<u64>,
}

/// Live counters of one consumer, shared between its tasks and the health snapshot.
#[derive(Debug)]
pub(crate) struct ConsumerState {
    pub queue: String,
    pub attached: AtomicBool,
    pub in_flight: AtomicUsize,
    pub handled: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub stall_recoveries: AtomicU64,
    last_activity: Mutex<Instant>,
}

impl ConsumerState {
    pub(crate) fn new(queue: &str) -> Self {
        Self {
            queue: queue.to_owned(),
            attached: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            handled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            stall_recoveries: AtomicU64::new(0),
            last_activity: Mutex::new(Instant::now()),
        }
    }

    /// Called on each delivery and on each (re)attach.
    pub(crate) fn touch(&self) {
        *self.last_activity.lock().expect("activity lock poisoned") = Instant::now();
    }

    pub(crate) fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .expect("activity lock poisoned")
            .elapsed()
    }

    pub(crate) fn snapshot(&self) -> ConsumerHealth {
        ConsumerHealth {
            queue: self.queue.clone(),
            attached: self.attached.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            handled: self.handled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            stall_recoveries: self.stall_recoveries.load(Ordering::Relaxed),
            millis_since_last_delivery: Some(self.idle_for().as_millis() as u64),
        }
    }
}
