//! What the bus knows about its own health, for health endpoints and the System page.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
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

/// Every live consumer of this process, whichever [`crate::Bus`] it belongs to: for a
/// metrics endpoint that must see the worker's consumers from the API.
static PROCESS_CONSUMERS: Mutex<Vec<Weak<ConsumerState>>> = Mutex::new(Vec::new());

pub(crate) fn register_in_process(state: &Arc<ConsumerState>) {
    let mut all = PROCESS_CONSUMERS.lock().expect("consumer list poisoned");
    all.retain(|c| c.strong_count() > 0);
    all.push(Arc::downgrade(state));
}

/// Snapshots of this process's live consumers, one per queue (several consumers of one queue
/// are added up), ordered by queue name.
pub fn process_consumers() -> Vec<ConsumerHealth> {
    let live: Vec<ConsumerHealth> = PROCESS_CONSUMERS
        .lock()
        .expect("consumer list poisoned")
        .iter()
        .filter_map(Weak::upgrade)
        .map(|c| c.snapshot())
        .collect();
    let mut merged: Vec<ConsumerHealth> = Vec::new();
    for consumer in live {
        match merged.iter_mut().find(|m| m.queue == consumer.queue) {
            Some(m) => {
                m.attached |= consumer.attached;
                m.in_flight += consumer.in_flight;
                m.handled += consumer.handled;
                m.retried += consumer.retried;
                m.dead_lettered += consumer.dead_lettered;
                m.stall_recoveries += consumer.stall_recoveries;
                m.millis_since_last_delivery = m
                    .millis_since_last_delivery
                    .min(consumer.millis_since_last_delivery);
            }
            None => merged.push(consumer),
        }
    }
    merged.sort_by(|a, b| a.queue.cmp(&b.queue));
    merged
}

/// Confirmed publishes of this process straight to a queue, by queue name: with the
/// consumers' counters, the publish and deliver rates when no management API tells them.
static PROCESS_PUBLISHED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

pub(crate) fn count_published(queue: &str) {
    let mut all = PROCESS_PUBLISHED.lock().expect("publish counts poisoned");
    match all.get_mut(queue) {
        Some(count) => *count += 1,
        None => {
            all.insert(queue.to_owned(), 1);
        }
    }
}

/// How many messages this process has published to `queue` (confirmed by the broker).
pub fn process_published(queue: &str) -> u64 {
    PROCESS_PUBLISHED
        .lock()
        .expect("publish counts poisoned")
        .get(queue)
        .copied()
        .unwrap_or(0)
}

/// Every queue this process has published to, with its count, ordered by name.
pub fn process_published_all() -> Vec<(String, u64)> {
    PROCESS_PUBLISHED
        .lock()
        .expect("publish counts poisoned")
        .iter()
        .map(|(queue, count)| (queue.clone(), *count))
        .collect()
}

/// Live counters of one consumer, shared between its tasks and the health snapshot.
#[derive(Debug)]
pub(crate) struct ConsumerState {
    pub queue: String,
    /// The consumer's channels, and how many of them are attached now.
    pub channels: u16,
    pub attached_channels: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub handled: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub stall_recoveries: AtomicU64,
    last_activity: Mutex<Instant>,
}

impl ConsumerState {
    pub(crate) fn new(queue: &str, channels: u16) -> Self {
        Self {
            queue: queue.to_owned(),
            channels,
            attached_channels: AtomicUsize::new(0),
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
            attached: self.attached_channels.load(Ordering::Relaxed) >= usize::from(self.channels),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            handled: self.handled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            stall_recoveries: self.stall_recoveries.load(Ordering::Relaxed),
            millis_since_last_delivery: Some(self.idle_for().as_millis() as u64),
        }
    }
}
