//! The db handler: every write to PostgreSQL, each idempotent so a redelivered message
//! changes nothing twice. Messages caused by a write go through the outbox in the same
//! transaction, then are published by the [`Relay`].

use mom_bus::{Context, Handler, HandlerError, DEFERRED_PRIORITY};
use serde_json::{json, Value};
use sqlx::{PgPool, Postgres, Transaction};
use tracing::{info, instrument, warn};

use super::Relay;
use crate::domain::JobView;
use crate::messages::{DbCommand, DbReply, MathTask};
use crate::store::outbox::{self, OutboxMessage};
use crate::store::{jobs, users};
use crate::topology::{event, user_key, Topology};

pub struct DbHandler {
    pool: PgPool,
    relay: Relay,
    topology: Topology,
}

impl DbHandler {
    pub fn new(pool: PgPool, relay: Relay, topology: Topology) -> Self {
        Self {
            pool,
            relay,
            topology,
        }
    }
}

/// Database trouble is worth a retry; the consumer's backoff spaces the attempts.
fn retry(error: sqlx::Error) -> HandlerError {
    HandlerError::retry(format!("database error: {error}"))
}

impl Handler for DbHandler {
    type Message = DbCommand;
    type Reply = DbReply;

    async fn handle(&self, command: DbCommand, context: Context) -> Result<DbReply, HandlerError> {
        match command {
            DbCommand::CreateUser {
                request_id,
                first_name,
                last_name,
                email,
                password_hash,
            } => {
                let record = users::UserRecord {
                    request_id: &request_id,
                    first_name: &first_name,
                    last_name: &last_name,
                    email: &email,
                    password_hash: &password_hash,
                };
                match users::insert(&self.pool, &record).await {
                    Ok(user) => Ok(DbReply::User { user }),
                    Err(users::InsertUserError::EmailTaken) => Ok(DbReply::EmailTaken),
                    Err(users::InsertUserError::Database(e)) => Err(retry(e)),
                }
            }
            DbCommand::CreateJob {
                request_id,
                owner_id,
                steps,
            } => {
                self.create_job(&request_id, owner_id, &steps, &context)
                    .await
            }
            DbCommand::StartJob { job_id } => {
                if let Some(job) = jobs::mark_running(&self.pool, job_id)
                    .await
                    .map_err(retry)?
                {
                    let mut tx = self.pool.begin().await.map_err(retry)?;
                    let event = self
                        .event(&mut tx, job, event::JOB_PROGRESS, &context)
                        .await
                        .map_err(retry)?;
                    tx.commit().await.map_err(retry)?;
                    self.relay.publish(&[event]).await;
                }
                Ok(DbReply::Done)
            }
            DbCommand::RecordStep {
                job_id,
                step,
                result,
            } => self.record_step(job_id, step, &result, &context).await,
            DbCommand::FailJob {
                job_id,
                step,
                reason,
            } => {
                let mut tx = self.pool.begin().await.map_err(retry)?;
                if let Some(job) = jobs::fail(&mut tx, job_id, &reason).await.map_err(retry)? {
                    info!(job_id, step, %reason, "job failed");
                    let event = self
                        .event(&mut tx, job, event::JOB_FAILED, &context)
                        .await
                        .map_err(retry)?;
                    tx.commit().await.map_err(retry)?;
                    self.relay.publish(&[event]).await;
                }
                Ok(DbReply::Done)
            }
            DbCommand::MarkNotified { job_ids } => {
                jobs::mark_notified(&self.pool, &job_ids)
                    .await
                    .map_err(retry)?;
                Ok(DbReply::Done)
            }
        }
    }
}

impl DbHandler {
    /// Stores the job and its first step's task in one transaction; the task is published
    /// after the commit (or by the sweep if this process dies first).
    #[instrument(skip_all, fields(owner_id))]
    async fn create_job(
        &self,
        request_id: &str,
        owner_id: i32,
        steps: &[mom_math::MathStep],
        context: &Context,
    ) -> Result<DbReply, HandlerError> {
        let details = json!(steps);
        let mut tx = self.pool.begin().await.map_err(retry)?;
        let (job, created) =
            jobs::insert(&mut tx, owner_id, &details, steps.len() as i32, request_id)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        HandlerError::abort(format!("no user {owner_id}"))
                    }
                    _ => retry(e),
                })?;
        let mut pending = Vec::new();
        if created {
            let task = self.math_task(job.view.id, 0, &steps[0], context);
            pending.push(self.enqueue(&mut tx, task).await.map_err(retry)?);
        }
        tx.commit().await.map_err(retry)?;
        self.relay.publish(&pending).await;
        let owner = users::find(&self.pool, owner_id).await.map_err(retry)?;
        let mut view = job.view;
        view.owner = owner;
        info!(job_id = view.id, steps = steps.len(), created, "job stored");
        Ok(DbReply::Job { job: view })
    }

    /// Records a step once; enqueues the next step or finishes the job, with its event.
    #[instrument(skip_all, fields(job_id, step))]
    async fn record_step(
        &self,
        job_id: i32,
        step: i32,
        result: &Value,
        context: &Context,
    ) -> Result<DbReply, HandlerError> {
        let mut tx = self.pool.begin().await.map_err(retry)?;
        let Some(job) = jobs::record_step(&mut tx, job_id, step, result)
            .await
            .map_err(retry)?
        else {
            // Already recorded (a redelivery) or the job has ended: nothing to do.
            return Ok(DbReply::Done);
        };
        let mut pending = Vec::new();
        let finished = job.view.status.is_final();
        if !finished {
            let next = step + 1;
            let operation = job
                .view
                .details
                .get(next as usize)
                .cloned()
                .and_then(|d| serde_json::from_value::<mom_math::MathStep>(d).ok());
            match operation {
                Some(operation) => {
                    let task = self.math_task(job_id, next, &operation, context);
                    pending.push(self.enqueue(&mut tx, task).await.map_err(retry)?);
                }
                None => {
                    warn!(
                        job_id,
                        next, "stored step cannot be read back; failing the job"
                    );
                    let failed = jobs::fail(&mut tx, job_id, "stored job details are unreadable")
                        .await
                        .map_err(retry)?;
                    if let Some(failed) = failed {
                        pending.push(
                            self.event(&mut tx, failed, event::JOB_FAILED, context)
                                .await
                                .map_err(retry)?,
                        );
                    }
                    tx.commit().await.map_err(retry)?;
                    self.relay.publish(&pending).await;
                    return Ok(DbReply::Done);
                }
            }
        }
        let kind = if finished {
            event::JOB_DONE
        } else {
            event::JOB_PROGRESS
        };
        pending.push(
            self.event(&mut tx, job, kind, context)
                .await
                .map_err(retry)?,
        );
        tx.commit().await.map_err(retry)?;
        self.relay.publish(&pending).await;
        if finished {
            info!(job_id, "job done");
        }
        Ok(DbReply::Done)
    }

    fn math_task(
        &self,
        job_id: i32,
        step: i32,
        operation: &mom_math::MathStep,
        context: &Context,
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
            traceparent: context.traceparent.clone(),
            priority: i16::from(DEFERRED_PRIORITY),
            payload: json!(task),
        }
    }

    /// A job event for the owner's sockets, with the owner attached as the seed sent it.
    async fn event(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        job: jobs::Job,
        kind: &str,
        context: &Context,
    ) -> sqlx::Result<OutboxMessage> {
        let owner_id = job.owner_id;
        let owner = users::find(&self.pool, owner_id).await?;
        let view: JobView = jobs::event_view(job, owner);
        let message = OutboxMessage {
            id: 0,
            exchange: self.topology.events.name.clone(),
            routing_key: user_key(owner_id),
            kind: kind.to_owned(),
            message_id: format!("{kind}-{}-{}", view.id, view.version),
            traceparent: context.traceparent.clone(),
            priority: i16::from(DEFERRED_PRIORITY),
            payload: json!(view),
        };
        self.enqueue(tx, message).await
    }

    async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        mut message: OutboxMessage,
    ) -> sqlx::Result<OutboxMessage> {
        message.id = outbox::insert(tx, &message).await?;
        Ok(message)
    }
}
