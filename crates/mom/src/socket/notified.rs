//! Telling the db worker which final job events reached their owner (`job.notified`), so those
//! jobs are not sent again as missed events on the next login.
//!
//! Ids are batched: while one command is being confirmed, the ids that arrive meanwhile wait
//! and go together in the next one. A command that cannot be sent is only logged — the jobs
//! stay unnotified and their owner gets them once more on the next login (at-least-once).

use mom_bus::{Bus, Outgoing};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::messages::DbCommand;

/// The most job ids in one command.
const MAX_BATCH: usize = 500;

/// Queues job ids for a `job.notified` command. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    ids: mpsc::UnboundedSender<i32>,
}

impl Notifier {
    /// Starts the sender task; it flushes what it holds and ends on `shutdown`.
    pub fn start(
        bus: Bus,
        db_queue: String,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (ids, pending) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(bus, db_queue, pending, shutdown));
        (Self { ids }, task)
    }

    pub fn notified(&self, job_ids: impl IntoIterator<Item = i32>) {
        for id in job_ids {
            // Fails only after shutdown, when nothing more is sent anyway.
            let _ = self.ids.send(id);
        }
    }
}

async fn run(
    bus: Bus,
    db_queue: String,
    mut pending: mpsc::UnboundedReceiver<i32>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            id = pending.recv() => id,
            _ = shutdown.cancelled() => None,
        };
        let mut batch: Vec<i32> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match pending.try_recv() {
                Ok(id) => batch.push(id),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            return;
        }
        batch.sort_unstable();
        batch.dedup();
        send(&bus, &db_queue, batch).await;
    }
}

async fn send(bus: &Bus, db_queue: &str, job_ids: Vec<i32>) {
    let count = job_ids.len();
    let command = DbCommand::MarkNotified { job_ids };
    let sent = match Outgoing::json("job.notified", &command) {
        Ok(message) => bus.send(db_queue, &message).await,
        Err(error) => Err(error),
    };
    match sent {
        Ok(()) => debug!(jobs = count, "sent job.notified"),
        Err(error) => {
            warn!(jobs = count, %error, "cannot send job.notified; the owner may get these jobs again")
        }
    }
}
