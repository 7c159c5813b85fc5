//! Cancel signals, as the math handler sees them: which jobs were cancelled recently, and a
//! token per job with a step in flight, cancelled when the signal comes so the step's HTTP call
//! is dropped (aborted on the wire) instead of awaited.
//!
//! Every worker process hears every signal: the db worker publishes it to the events exchange
//! with [`CANCEL_SIGNAL_KEY`], which each process binds on its own exclusive queue. A process
//! that starts later reads the recent cancels from PostgreSQL after binding, so a cancel is
//! either in that read or arrives as a signal. When the subscription comes back after losing
//! its queue, the cancels of that gap are read again the same way. Beyond that, the database
//! decides: a retried or redelivered step asks it (see [`super::math`]), and a result recorded
//! for a cancelled job changes nothing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mom_bus::{Bus, Subscription};
use sqlx::PgPool;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::{debug, info, warn};

use crate::messages::CancelSignal;
use crate::topology::{Topology, CANCEL_SIGNAL_KEY, CANCEL_SIGNAL_KIND};

/// The most recent cancels read at start-up or after a reattachment.
const CATCH_UP_READ: i64 = 100_000;
/// Beyond the time the subscription was away: a cancel committed just before the loss may have
/// had its signal published (by the relay, or its sweep after the outbox grace) during it.
const CATCH_UP_MARGIN: Duration = Duration::from_secs(60);

/// Cancelled jobs and steps in flight. Cheap to clone.
#[derive(Clone)]
pub struct Cancels {
    state: Arc<Mutex<State>>,
    /// How long a cancel is remembered: past it, a step of the job would be stalled anyway.
    keep: Duration,
}

#[derive(Default)]
struct State {
    /// Per job with a step running here: its token and how many steps hold it.
    in_flight: HashMap<i32, (CancellationToken, usize)>,
    cancelled: HashSet<i32>,
    /// `cancelled` in the order it was filled, to forget the oldest.
    order: VecDeque<(Instant, i32)>,
}

impl Cancels {
    pub fn new(keep: Duration) -> Self {
        Self {
            state: Arc::default(),
            keep,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("cancel state poisoned")
    }

    /// Marks `job_id` cancelled and stops its steps in flight here.
    pub fn cancel(&self, job_id: i32) {
        let now = Instant::now();
        let mut state = self.lock();
        while let Some(&(at, old)) = state.order.front() {
            if now.duration_since(at) < self.keep {
                break;
            }
            state.order.pop_front();
            state.cancelled.remove(&old);
        }
        if state.cancelled.insert(job_id) {
            state.order.push_back((now, job_id));
        }
        if let Some((token, _)) = state.in_flight.get(&job_id) {
            token.cancel();
        }
    }

    /// A step of `job_id` is about to run: `None` if the job is cancelled, else a guard whose
    /// [`InFlight::cancelled`] fires if it is cancelled while the step runs. One lock for the
    /// check and the registration, so a signal cannot fall between them.
    pub fn start(&self, job_id: i32) -> Option<InFlight> {
        let mut state = self.lock();
        if state.cancelled.contains(&job_id) {
            return None;
        }
        let (token, holders) = state.in_flight.entry(job_id).or_default();
        *holders += 1;
        Some(InFlight {
            cancels: self.clone(),
            job_id,
            token: token.clone(),
        })
    }
}

/// A step in flight; unregisters itself when dropped.
pub struct InFlight {
    cancels: Cancels,
    job_id: i32,
    token: CancellationToken,
}

impl InFlight {
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.cancels.lock();
        if let Some((_, holders)) = state.in_flight.get_mut(&self.job_id) {
            *holders -= 1;
            if *holders == 0 {
                state.in_flight.remove(&self.job_id);
            }
        }
    }
}

/// Binds this process to the cancel signals, then reads the cancels it may have missed before.
/// Returns the subscription for [`listen`]; call it before consuming steps.
pub async fn subscribe(
    bus: &Bus,
    topology: &Topology,
    pool: &PgPool,
    cancels: &Cancels,
) -> Subscription {
    let subscription = bus.subscribe(&topology.events);
    if let Err(error) = subscription.bindings().bind(CANCEL_SIGNAL_KEY).await {
        // The binding is kept and applied once the subscription attaches.
        warn!(%error, "cancel signals not bound yet");
    }
    catch_up(pool, cancels, cancels.keep).await;
    subscription
}

/// Applies the cancels committed within the last `window`.
async fn catch_up(pool: &PgPool, cancels: &Cancels, window: Duration) {
    let window = window.min(cancels.keep).as_secs_f64();
    match crate::store::jobs::recently_cancelled(pool, window, CATCH_UP_READ).await {
        Ok(ids) => {
            debug!(jobs = ids.len(), "recent cancels read");
            for id in ids {
                cancels.cancel(id);
            }
        }
        Err(error) => warn!(%error, "cannot read recent cancels; relying on signals"),
    }
}

/// Applies cancel signals until `shutdown` or the end of the subscription, and the cancels of
/// each gap in it.
pub async fn listen(
    mut subscription: Subscription,
    cancels: Cancels,
    pool: PgPool,
    shutdown: CancellationToken,
) {
    let mut reattached = subscription.reattachments();
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => return,
            Ok(()) = reattached.changed() => {
                let gap = reattached.borrow_and_update().detached_for;
                catch_up(&pool, &cancels, gap + CATCH_UP_MARGIN).await;
                continue;
            }
            incoming = subscription.recv() => match incoming {
                Some(incoming) => incoming,
                None => return,
            },
        };
        if incoming.context.kind.as_deref() != Some(CANCEL_SIGNAL_KIND) {
            continue;
        }
        match incoming.json::<CancelSignal>() {
            Ok(signal) => {
                info!(job_id = signal.job_id, "cancel signal");
                cancels.cancel(signal.job_id);
            }
            Err(error) => warn!(%error, "malformed cancel signal; dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_stops_the_steps_in_flight_and_refuses_later_ones() {
        let cancels = Cancels::new(Duration::from_secs(60));
        let (first, second) = (cancels.start(7).unwrap(), cancels.start(7).unwrap());
        let other = cancels.start(8).unwrap();
        cancels.cancel(7);
        assert!(first.token.is_cancelled() && second.token.is_cancelled());
        assert!(!other.token.is_cancelled());
        assert!(
            cancels.start(7).is_none(),
            "no step of a cancelled job starts"
        );
        drop((first, second, other));
        assert!(cancels.lock().in_flight.is_empty(), "guards unregister");
    }

    #[test]
    fn old_cancels_are_forgotten() {
        let cancels = Cancels::new(Duration::ZERO);
        cancels.cancel(1);
        cancels.cancel(2);
        let state = cancels.lock();
        assert_eq!(state.cancelled.len(), 1, "only the newest is kept");
        assert_eq!(state.order.len(), 1);
    }
}
