//! Group commit: the job writes of every delivery the db worker holds share one transaction.
//!
//! Handlers hand their write to a [`Committer`] and wait. A committer task takes every write
//! waiting (up to [`MAX_BATCH`]), applies them with one statement per kind of write (all new
//! jobs in one `INSERT`, all step results in one `UPDATE`, all outbox rows in one `INSERT`,
//! plus the deletion of rows published since the last batch), commits once, and only then
//! answers each handler — which acks its delivery after that, so an ack always follows a
//! durable commit. There is no waiting for a batch to fill: a batch is whatever arrived while
//! the previous one committed, so a lone write commits at once. If a batch fails, each write is
//! retried in a transaction of its own, so one bad write fails alone. A write whose RPC caller
//! has stopped waiting by the time a batch takes it is not applied: nobody waits for it, and a
//! caller that got its 504 retries with the same key if it still wants it.
//!
//! A recorded step's messages (the next step's task and a progress event, or the final event)
//! get no outbox row: the step result's own delivery is their outbox. The writer publishes them
//! after the commit and returns only once the broker has confirmed them, so the delivery is
//! acked after that; if its process dies in between, the delivery comes back redelivered, finds
//! the step recorded and the job not moved on, and hands the same messages off again. That saves
//! an outbox insert and delete per message: 5 of the 6 rows a 3-step job wrote.
//!
//! A batch of nothing but first deliveries of step results — most batches, once jobs run — is
//! a single statement outside a transaction (with the published outbox rows' deletion folded
//! in), so it costs one round trip instead of four. Each committer task owns its connection:
//! a pool pings a connection when it hands it out and again when it takes it back, two round
//! trips per batch that carry nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use mom_bus::DEFERRED_PRIORITY;
use mom_math::MathStep;
use serde_json::{json, Value};
use sqlx::{Connection as _, PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{debug, info, warn};

use super::Relay;
use crate::domain::dead_letter::{self, DeadLetter, DeadLetterOutcome, Selection};
use crate::domain::JobView;
use crate::messages::{CancelSignal, Canceller, MathTask};
use crate::meters::name as meters;
use crate::store::dead_letters::{self as dead_store, Taken};
use crate::store::jobs::{self, Cancel, Job, NewJob, StepResult};
use crate::store::outbox::{self, OutboxMessage};
use crate::topology::{event, user_key, Topology, CANCEL_SIGNAL_KEY, CANCEL_SIGNAL_KIND};

/// The most writes in one transaction.
const MAX_BATCH: usize = 256;
/// Transactions at once: while one commits, the next gathers what arrives meanwhile.
const COMMITTERS: usize = 2;

/// A change to jobs, as the db worker's commands ask for it.
#[derive(Debug)]
pub enum JobWrite {
    /// Store a job (once per request id) and enqueue its first step.
    Create {
        request_id: String,
        owner_id: i32,
        steps: Vec<MathStep>,
    },
    /// Record a step's result; enqueue the next step or finish the job.
    RecordStep {
        job_id: i32,
        step: i32,
        result: Value,
        /// This delivery may repeat one that recorded the step and died before its messages
        /// were confirmed (a redelivery or a retry): if the step is still the job's latest,
        /// its messages are handed off again.
        again: bool,
    },
    /// End a job `failed` with a reason.
    Fail {
        job_id: i32,
        step: i32,
        reason: String,
    },
    /// End a job `cancelled` (once per request id) and tell the math workers to stop its step.
    Cancel {
        job_id: i32,
        request_id: String,
        by: Canceller,
    },
    /// The owner has been sent these jobs' final events.
    Notified { job_ids: Vec<i32> },
    /// End `failed` every job that has not moved for this long: whatever was to move it was
    /// lost (a dead-lettered command, say), and a job that got 201 must end.
    FailStalled { idle_for: std::time::Duration },
    /// Store a dead letter; fail the job its death leaves stuck.
    KeepDeadLetter(Box<DeadLetter>),
    /// Delete dead letters and put them in the outbox to their queues, reopening the jobs
    /// they move; all in one transaction, so a replay is never lost or doubled.
    ReplayDeadLetters(Selection),
    /// Delete dead letters.
    DiscardDeadLetters(Selection),
}

/// What a committed write produced.
#[derive(Debug)]
pub enum Written {
    /// The job a `Create` stored (or had stored for the same request id), with its owner.
    Job(Box<JobView>),
    /// What a `Cancel` found.
    Cancel(Box<Cancel>),
    /// What a replay or discard did.
    DeadLetters(DeadLetterOutcome),
    Done,
    /// Not applied: the caller's deadline had passed when a batch took it.
    Dropped,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Committed, but the messages it causes were not confirmed; a retry hands them off.
    #[error("the step is recorded but its messages were not confirmed: {0}")]
    HandOff(#[from] mom_bus::BusError),
    /// Committed alone; the retry, a repeat, fails the job in a transaction with its event.
    #[error(
        "step {step} of job {job_id} is recorded, but the job's next step cannot be read back"
    )]
    NextStepUnreadable { job_id: i32, step: i32 },
    #[error("the db worker is stopping")]
    Stopped,
}

struct Pending {
    write: JobWrite,
    traceparent: Option<String>,
    /// When the RPC caller stops waiting, if one waits at all.
    deadline: Option<SystemTime>,
    done: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// What a batch answers a write: its result, and the messages the writer publishes before
/// it returns (those of a recorded step, which have no outbox row).
#[derive(Debug)]
struct Outcome {
    written: Written,
    hand_off: Vec<OutboxMessage>,
}

impl From<Written> for Outcome {
    fn from(written: Written) -> Self {
        Self {
            written,
            hand_off: Vec::new(),
        }
    }
}

/// Hands job writes to the committer tasks. Cheap to clone; the tasks end when the last
/// clone is dropped, after the writes already handed over.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::UnboundedSender<Pending>,
    relay: Relay,
}

impl Committer {
    pub fn start(pool: PgPool, relay: Relay, topology: Topology) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(waiting));
        let batcher = Arc::new(Batcher {
            pool,
            relay: relay.clone(),
            topology,
        });
        for _ in 0..COMMITTERS {
            tokio::spawn(Arc::clone(&batcher).run(Arc::clone(&waiting)));
        }
        Self { queue, relay }
    }

    /// Applies `write` in the next batch; returns once that batch has committed and the
    /// broker has confirmed the messages handed off to this write.
    pub async fn write(
        &self,
        write: JobWrite,
        traceparent: Option<String>,
    ) -> Result<Written, WriteError> {
        self.write_until(write, traceparent, None).await
    }

    /// [`Committer::write`] for a caller who stops waiting at `deadline`: a batch that takes
    /// the write after it answers [`Written::Dropped`] and writes nothing.
    pub async fn write_until(
        &self,
        write: JobWrite,
        traceparent: Option<String>,
        deadline: Option<SystemTime>,
    ) -> Result<Written, WriteError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Pending {
                write,
                traceparent,
                deadline,
                done,
            })
            .map_err(|_| WriteError::Stopped)?;
        let outcome = written.await.map_err(|_| WriteError::Stopped)??;
        if !outcome.hand_off.is_empty() {
            self.relay.hand_off(&outcome.hand_off).await?;
        }
        Ok(outcome.written)
    }
}

struct Batcher {
    pool: PgPool,
    relay: Relay,
    topology: Topology,
}

/// What one batch committed.
struct Applied {
    /// One per write, in the batch's order.
    outcomes: Vec<Result<Outcome, WriteError>>,
    /// Outbox rows to publish.
    outbox: Vec<OutboxMessage>,
    /// Jobs it ended, counted once committed.
    ended: Vec<Ended>,
}

/// A job a batch brought to its final status.
struct Ended {
    status: &'static str,
    /// Created → finished.
    seconds: Option<f64>,
}

impl Ended {
    /// Counts `job` in `ended` if its recorded step finished it.
    fn count_if_done(job: &Job, ended: &mut Vec<Ended>) {
        if job.view.status.is_final() {
            info!(job_id = job.view.id, "job done");
            ended.push(Ended::of(job));
        }
    }

    fn of(job: &Job) -> Self {
        let view = &job.view;
        Self {
            status: view.status.as_str(),
            seconds: view
                .finished_at
                .map(|at| (at - view.created_at).num_milliseconds().max(0) as f64 / 1000.0),
        }
    }

    /// Two increments per ended job, the only metrics of the commit path.
    fn record(&self) {
        let status = [("status", self.status)];
        metrics::counter!(meters::JOBS_FINISHED, &status).increment(1);
        if let Some(seconds) = self.seconds {
            metrics::histogram!(meters::JOB_DURATION, &status).record(seconds);
        }
    }
}

impl Batcher {
    async fn run(self: Arc<Self>, waiting: Arc<Mutex<mpsc::UnboundedReceiver<Pending>>>) {
        let mut conn = None;
        loop {
            let batch = {
                let mut waiting = waiting.lock().await;
                let Some(first) = waiting.recv().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                batch
            };
            let now = SystemTime::now();
            let (batch, gone): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .partition(|p| p.deadline.is_none_or(|at| at > now));
            for pending in gone {
                debug!("the caller stopped waiting; write dropped");
                let _ = pending.done.send(Ok(Written::Dropped.into()));
            }
            if !batch.is_empty() {
                self.commit(&mut conn, batch).await;
            }
        }
    }

    async fn commit(&self, conn: &mut Option<PgConnection>, mut batch: Vec<Pending>) {
        let error = match self.apply(conn, &batch).await {
            Ok(applied) => return self.finish(batch, applied),
            Err(error) => error,
        };
        if batch.len() == 1 {
            if let Some(pending) = batch.pop() {
                let _ = pending.done.send(Err(error.into()));
            }
            return;
        }
        warn!(%error, writes = batch.len(), "batch failed; applying its writes one by one");
        for pending in batch {
            match self.apply(conn, std::slice::from_ref(&pending)).await {
                Ok(applied) => self.finish(vec![pending], applied),
                Err(error) => {
                    let _ = pending.done.send(Err(error.into()));
                }
            }
        }
    }

    /// Answers the handlers, then publishes what the batch committed.
    fn finish(&self, batch: Vec<Pending>, applied: Applied) {
        for (pending, outcome) in batch.into_iter().zip(applied.outcomes) {
            let _ = pending.done.send(outcome);
        }
        applied.ended.iter().for_each(Ended::record);
        if !applied.outbox.is_empty() {
            let relay = self.relay.clone();
            let messages = applied.outbox;
            tokio::spawn(async move { relay.publish(&messages).await });
        }
    }

    async fn apply(
        &self,
        conn: &mut Option<PgConnection>,
        batch: &[Pending],
    ) -> Result<Applied, sqlx::Error> {
        let deletable = self.relay.take_deletable();
        let applied = match self.connection(conn).await {
            Ok(own) if records_alone(batch) => self.apply_records(own, batch, &deletable).await,
            Ok(own) => self.apply_with(own, batch, &deletable).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &applied {
            self.relay.delete_later(deletable);
            // A refused statement leaves the connection usable; anything else may not have.
            if !matches!(error, sqlx::Error::Database(_)) {
                *conn = None;
            }
        }
        applied
    }

    /// The task's own connection, opened on first use and again after it broke.
    async fn connection<'c>(
        &self,
        conn: &'c mut Option<PgConnection>,
    ) -> Result<&'c mut PgConnection, sqlx::Error> {
        if conn.is_none() {
            let options = self.pool.connect_options();
            *conn = Some(PgConnection::connect_with(&options).await?);
        }
        Ok(conn.as_mut().expect("connected above"))
    }

    /// A batch of first deliveries of step results, as one statement that commits alone.
    async fn apply_records(
        &self,
        conn: &mut PgConnection,
        batch: &[Pending],
        deletable: &[i64],
    ) -> Result<Applied, sqlx::Error> {
        let (steps, writer) = step_batch(
            batch
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, step_result(&p.write)?))),
        );
        let mut outcomes: Vec<Result<Outcome, WriteError>> =
            batch.iter().map(|_| Ok(Written::Done.into())).collect();
        let mut ended = Vec::new();
        for job in jobs::record_steps(conn, &steps, deletable).await? {
            let (i, step) = writer[&job.view.id];
            let parent = batch[i].traceparent.as_deref();
            outcomes[i] = match self.after_step(&job, parent) {
                Some(hand_off) => {
                    Ended::count_if_done(&job, &mut ended);
                    Ok(Outcome {
                        written: Written::Done,
                        hand_off,
                    })
                }
                None => Err(WriteError::NextStepUnreadable {
                    job_id: job.view.id,
                    step,
                }),
            };
        }
        Ok(Applied {
            outcomes,
            outbox: Vec::new(),
            ended,
        })
    }

    async fn apply_with(
        &self,
        conn: &mut PgConnection,
        batch: &[Pending],
        deletable: &[i64],
    ) -> Result<Applied, sqlx::Error> {
        let mut tx = conn.begin().await?;
        if !deletable.is_empty() {
            outbox::delete_in(&mut tx, deletable).await?;
        }
        let mut written: Vec<Outcome> = batch.iter().map(|_| Written::Done.into()).collect();
        let mut messages = Vec::new();
        let mut ended = Vec::new();
        let (mut creates, mut records, mut fails, mut notified, mut stalled) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), None);
        let mut cancels = Vec::new();
        let mut dead = Vec::new();
        for (i, pending) in batch.iter().enumerate() {
            let parent = pending.traceparent.as_deref();
            match &pending.write {
                JobWrite::Create {
                    request_id,
                    owner_id,
                    steps,
                } => creates.push((i, request_id, *owner_id, steps, json!(steps), parent)),
                JobWrite::RecordStep { again, .. } => {
                    if let Some(step) = step_result(&pending.write) {
                        records.push((i, step, *again));
                    }
                }
                JobWrite::Fail {
                    job_id,
                    step,
                    reason,
                } => fails.push((*job_id, *step, reason, parent)),
                JobWrite::Cancel {
                    job_id,
                    request_id,
                    by,
                } => cancels.push((i, *job_id, request_id, *by, parent)),
                JobWrite::Notified { job_ids } => notified.extend_from_slice(job_ids),
                JobWrite::FailStalled { idle_for } => stalled = Some((*idle_for, parent)),
                JobWrite::KeepDeadLetter(_)
                | JobWrite::ReplayDeadLetters(_)
                | JobWrite::DiscardDeadLetters(_) => dead.push((i, &pending.write, parent)),
            }
        }

        // Before the step results: a step of a job cancelled in this batch records nothing
        // and enqueues no next step.
        for (i, job_id, request_id, by, parent) in cancels {
            let found = jobs::cancel(&mut tx, job_id, request_id, by.reason()).await?;
            if let Cancel::Cancelled { job, now: true } = &found {
                info!(job_id, ?by, "job cancelled");
                ended.push(Ended::of(job));
                messages.push(self.event(job, event::JOB_CANCELLED, parent));
                messages.push(self.cancel_signal(job_id, parent));
            }
            written[i] = Written::Cancel(Box::new(found)).into();
        }

        if !creates.is_empty() {
            let new: Vec<NewJob> = creates
                .iter()
                .map(|(_, request_id, owner_id, steps, details, _)| NewJob {
                    owner_id: *owner_id,
                    details,
                    steps_total: steps.len() as i32,
                    request_id,
                })
                .collect();
            let stored = jobs::insert_many(&mut tx, &new).await?;
            for ((i, _, _, steps, _, parent), (job, created)) in creates.iter().zip(stored) {
                if created {
                    messages.push(self.math_task(job.view.id, 0, &steps[0], *parent));
                }
                written[*i] = Written::Job(Box::new(job.view)).into();
            }
        }

        if !records.is_empty() {
            let (steps, writer) = step_batch(records.iter().map(|(i, s, _)| (*i, *s)));
            let mut moved = std::collections::HashSet::new();
            for job in jobs::record_steps(&mut tx, &steps, &[]).await? {
                let (i, _) = writer[&job.view.id];
                let parent = batch[i].traceparent.as_deref();
                moved.insert(job.view.id);
                Ended::count_if_done(&job, &mut ended);
                written[i].hand_off = self
                    .hand_off_or_fail(&mut tx, job, parent, &mut messages, Some(&mut ended))
                    .await?;
            }
            let again: Vec<(i32, i32)> = records
                .iter()
                .filter(|(_, s, again)| *again && !moved.contains(&s.job_id))
                .map(|(_, s, _)| (s.job_id, s.step))
                .collect();
            if !again.is_empty() {
                for job in jobs::recorded_last(&mut tx, &again).await? {
                    let (i, _) = writer[&job.view.id];
                    let parent = batch[i].traceparent.as_deref();
                    info!(
                        job_id = job.view.id,
                        "step recorded before; handing its messages off again"
                    );
                    written[i].hand_off = self
                        .hand_off_or_fail(&mut tx, job, parent, &mut messages, None)
                        .await?;
                }
            }
        }

        for (job_id, step, reason, parent) in fails {
            if let Some(job) = jobs::fail(&mut tx, job_id, reason).await? {
                info!(job_id, step, %reason, "job failed");
                ended.push(Ended::of(&job));
                messages.push(self.event(&job, event::JOB_FAILED, parent));
            }
        }

        for (i, write, parent) in dead {
            written[i] = self
                .dead_letters(&mut tx, write, parent, &mut messages)
                .await?
                .into();
        }

        if !notified.is_empty() {
            jobs::mark_notified(&mut tx, &notified).await?;
        }

        if let Some((idle_for, parent)) = stalled {
            let reason = format!(
                "the job stopped making progress: no step was recorded for {} s",
                idle_for.as_secs()
            );
            for job in jobs::fail_stalled(&mut tx, idle_for.as_secs_f64(), &reason).await? {
                warn!(job_id = job.view.id, %reason, "stalled job failed");
                ended.push(Ended::of(&job));
                messages.push(self.event(&job, event::JOB_FAILED, parent));
            }
        }

        outbox::insert_many(&mut tx, &mut messages).await?;
        tx.commit().await?;
        Ok(Applied {
            outcomes: written.into_iter().map(Ok).collect(),
            outbox: messages,
            ended,
        })
    }

    /// After a recorded step, the messages its writer hands off: the next step's task and a
    /// progress event, or the final event. `None` if the next step cannot be read back.
    fn after_step(&self, job: &Job, parent: Option<&str>) -> Option<Vec<OutboxMessage>> {
        if job.view.status.is_final() {
            return Some(vec![self.event(job, event::JOB_DONE, parent)]);
        }
        let next = job.view.steps_done;
        let operation = job
            .view
            .details
            .get(next as usize)
            .cloned()
            .and_then(|d| serde_json::from_value::<MathStep>(d).ok())?;
        Some(vec![
            self.event(job, event::JOB_PROGRESS, parent),
            self.math_task(job.view.id, next, &operation, parent),
        ])
    }

    /// [`Batcher::after_step`] inside a transaction: a job whose next step cannot be read is
    /// failed there, its event in the outbox. `ended` is `None` when the step was recorded
    /// before (its job's end is counted already).
    async fn hand_off_or_fail(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        job: Job,
        parent: Option<&str>,
        outbox: &mut Vec<OutboxMessage>,
        ended: Option<&mut Vec<Ended>>,
    ) -> sqlx::Result<Vec<OutboxMessage>> {
        if let Some(hand_off) = self.after_step(&job, parent) {
            return Ok(hand_off);
        }
        let job_id = job.view.id;
        warn!(
            job_id,
            next = job.view.steps_done,
            "stored step cannot be read back; failing the job"
        );
        if let Some(failed) = jobs::fail(tx, job_id, "stored job details are unreadable").await? {
            if let Some(ended) = ended {
                ended.push(Ended::of(&failed));
            }
            outbox.push(self.event(&failed, event::JOB_FAILED, parent));
        }
        Ok(Vec::new())
    }

    /// A dead-letter write: keep one (failing the job it leaves stuck), or replay or discard
    /// a selection.
    async fn dead_letters(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        write: &JobWrite,
        parent: Option<&str>,
        messages: &mut Vec<OutboxMessage>,
    ) -> sqlx::Result<Written> {
        let (selection, replay) = match write {
            JobWrite::KeepDeadLetter(dead) => {
                let id = dead_store::keep(tx, dead).await?;
                if let Some((job_id, reason)) = &dead.fails_job {
                    if let Some(job) = jobs::fail(tx, *job_id, reason).await? {
                        warn!(job_id, dead_letter = id, %reason, "job failed by its dead letter");
                        messages.push(self.event(&job, event::JOB_FAILED, parent));
                    }
                }
                return Ok(Written::Done);
            }
            JobWrite::ReplayDeadLetters(selection) => (selection, true),
            JobWrite::DiscardDeadLetters(selection) => (selection, false),
            _ => return Ok(Written::Done),
        };
        let (rows, not_replayable) = match dead_store::take(tx, selection, replay).await? {
            Taken::Rows { rows, left } => (rows, left),
            Taken::Unknown(ids) => {
                return Ok(Written::DeadLetters(DeadLetterOutcome::Unknown { ids }))
            }
            Taken::NotReplayable(refused) => {
                return Ok(Written::DeadLetters(DeadLetterOutcome::NotReplayable {
                    refused,
                }))
            }
        };
        let count = rows.len() as u64;
        if replay {
            for row in rows {
                let Some(payload) = row.payload else { continue };
                let origin = self.topology.origin(&row.queue);
                let moved = origin.and_then(|origin| dead_letter::moves_step(origin, &payload));
                if let Some((job_id, step)) = moved {
                    if let Some(job) = jobs::reopen(tx, job_id, step).await? {
                        info!(job_id, dead_letter = row.id, "job reopened by a replay");
                        messages.push(self.event(&job, event::JOB_PROGRESS, parent));
                    }
                }
                messages.push(OutboxMessage {
                    id: 0,
                    exchange: String::new(),
                    routing_key: row.queue,
                    kind: row.kind,
                    message_id: row.message_id,
                    traceparent: row.traceparent,
                    priority: row.priority,
                    payload,
                });
            }
        }
        Ok(Written::DeadLetters(DeadLetterOutcome::Affected {
            count,
            not_replayable,
        }))
    }

    fn math_task(
        &self,
        job_id: i32,
        step: i32,
        operation: &MathStep,
        parent: Option<&str>,
    ) -> OutboxMessage {
        let task = MathTask {
            job_id,
            step,
            operation: operation.clone(),
        };
        OutboxMessage {
            id: 0,
            exchange: String::new(),
            routing_key: self.topology.math.name.clone(),
            kind: "math.step".into(),
            message_id: MathTask::message_id(job_id, step),
            traceparent: parent.map(str::to_owned),
            priority: i16::from(DEFERRED_PRIORITY),
            payload: json!(task),
        }
    }

    /// The broadcast that makes every math worker abort the job's step in flight.
    fn cancel_signal(&self, job_id: i32, parent: Option<&str>) -> OutboxMessage {
        OutboxMessage {
            id: 0,
            exchange: self.topology.events.name.clone(),
            routing_key: CANCEL_SIGNAL_KEY.to_owned(),
            kind: CANCEL_SIGNAL_KIND.to_owned(),
            message_id: format!("cancel-{job_id}"),
            traceparent: parent.map(str::to_owned),
            priority: i16::from(DEFERRED_PRIORITY),
            payload: json!(CancelSignal { job_id }),
        }
    }

    /// A job event for the owner's sockets, with the owner attached as the seed sent it.
    fn event(&self, job: &Job, kind: &str, parent: Option<&str>) -> OutboxMessage {
        let view = jobs::event_view(job);
        OutboxMessage {
            id: 0,
            exchange: self.topology.events.name.clone(),
            routing_key: user_key(job.owner_id),
            kind: kind.to_owned(),
            message_id: format!("{kind}-{}-{}", view.id, view.version),
            traceparent: parent.map(str::to_owned),
            priority: i16::from(DEFERRED_PRIORITY),
            payload: json!(view),
        }
    }
}

/// Whether every write of `batch` is the first delivery of a step result: such a batch needs
/// no transaction (see [`Batcher::apply_records`]).
fn records_alone(batch: &[Pending]) -> bool {
    batch
        .iter()
        .all(|p| matches!(p.write, JobWrite::RecordStep { again: false, .. }))
}

fn step_result(write: &JobWrite) -> Option<StepResult<'_>> {
    match write {
        JobWrite::RecordStep {
            job_id,
            step,
            result,
            ..
        } => Some(StepResult {
            job_id: *job_id,
            step: *step,
            result,
        }),
        _ => None,
    }
}

/// A batch's step results (with each one's index in the batch) as one statement records them:
/// sorted by job, so two batches that share a job (a duplicate delivery) lock in one order,
/// and, per job, the index and step of its first write, which takes the job's messages (a
/// duplicate in the same batch records nothing).
fn step_batch<'a>(
    writes: impl IntoIterator<Item = (usize, StepResult<'a>)>,
) -> (Vec<StepResult<'a>>, HashMap<i32, (usize, i32)>) {
    let mut writes: Vec<(usize, StepResult<'a>)> = writes.into_iter().collect();
    // Stable: of one job's writes, the first in the batch stays first.
    writes.sort_by_key(|(_, step)| step.job_id);
    let mut writer = HashMap::new();
    for (i, step) in &writes {
        writer.entry(step.job_id).or_insert((*i, step.step));
    }
    (writes.into_iter().map(|(_, step)| step).collect(), writer)
}
