//! The db handler: every write to PostgreSQL, each idempotent so a redelivered message
//! changes nothing twice. Job writes go through the [`Committer`], which groups the writes of
//! concurrent deliveries into one transaction; the messages they cause are written to the
//! outbox in that transaction and published by the [`Relay`] after the commit.

use mom_bus::{Context, Handler, HandlerError};
use sqlx::PgPool;

use super::commit::{Committer, JobWrite, WriteError, Written};
use crate::messages::{DbCommand, DbReply};
use crate::store::jobs::Cancel;
use crate::store::users;

pub struct DbHandler {
    pool: PgPool,
    committer: Committer,
}

impl DbHandler {
    pub fn new(pool: PgPool, committer: Committer) -> Self {
        Self { pool, committer }
    }

    async fn write(&self, write: JobWrite, context: &Context) -> Result<Written, HandlerError> {
        self.committer
            .write_until(write, context.traceparent.clone(), context.deadline)
            .await
            .map_err(retry)
    }

    async fn dead_letters(
        &self,
        write: JobWrite,
        context: &Context,
    ) -> Result<DbReply, HandlerError> {
        match self.write(write, context).await? {
            Written::DeadLetters(result) => Ok(DbReply::DeadLetters { result }),
            // The API answered 504 already and nothing changed; the admin can act again.
            Written::Dropped => Ok(DbReply::Done),
            other => Err(HandlerError::abort(format!(
                "a dead-letter write gave {other:?}"
            ))),
        }
    }
}

/// Database trouble is worth a retry; the consumer's backoff spaces the attempts.
fn retry(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::retry(error)
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
                    Err(users::InsertUserError::Database(e)) => {
                        Err(retry(format!("database error: {e}")))
                    }
                }
            }
            DbCommand::CreateJob {
                request_id,
                owner_id,
                steps,
            } => {
                if steps.is_empty() {
                    return Err(HandlerError::abort("a job needs at least one step"));
                }
                let write = JobWrite::Create {
                    request_id,
                    owner_id,
                    steps,
                };
                match self
                    .committer
                    .write_until(write, context.traceparent.clone(), context.deadline)
                    .await
                {
                    // The API answered 504 already; a retry with its key writes it then.
                    Ok(Written::Dropped) => Ok(DbReply::Done),
                    Ok(Written::Job(job)) => {
                        tracing::debug!(job_id = job.id, owner_id, "job stored");
                        Ok(DbReply::Job { job: *job })
                    }
                    Ok(other) => Err(HandlerError::abort(format!(
                        "job.create stored no job: {other:?}"
                    ))),
                    Err(WriteError::Database(sqlx::Error::Database(db)))
                        if db.is_foreign_key_violation() =>
                    {
                        Err(HandlerError::abort(format!("no user {owner_id}")))
                    }
                    Err(error) => Err(retry(error)),
                }
            }
            // Sent by workers before group commit; a job is `running` from its first recorded
            // step now. Accepted so such messages still in a queue do not dead-letter.
            DbCommand::StartJob { .. } => Ok(DbReply::Done),
            DbCommand::RecordStep {
                job_id,
                step,
                result,
            } => {
                let write = JobWrite::RecordStep {
                    job_id,
                    step,
                    result,
                    again: context.redelivered || context.attempt > 1,
                };
                self.write(write, &context).await.map(|_| DbReply::Done)
            }
            DbCommand::FailJob {
                job_id,
                step,
                reason,
            } => {
                let write = JobWrite::Fail {
                    job_id,
                    step,
                    reason,
                };
                self.write(write, &context).await.map(|_| DbReply::Done)
            }
            DbCommand::CancelJob {
                request_id,
                job_id,
                by,
            } => {
                let write = JobWrite::Cancel {
                    job_id,
                    request_id,
                    by,
                };
                match self.write(write, &context).await? {
                    Written::Dropped => Ok(DbReply::Done),
                    Written::Cancel(found) => Ok(match *found {
                        Cancel::Cancelled { job, .. } => DbReply::Cancelled { job: job.view },
                        Cancel::AlreadyEnded(job) => DbReply::AlreadyEnded { job: job.view },
                        Cancel::RequestIdTaken => DbReply::RequestIdTaken,
                        Cancel::NoSuchJob => DbReply::NoSuchJob,
                    }),
                    other => Err(HandlerError::abort(format!("job.cancel wrote {other:?}"))),
                }
            }
            DbCommand::MarkNotified { job_ids } => {
                let write = JobWrite::Notified { job_ids };
                self.write(write, &context).await.map(|_| DbReply::Done)
            }
            DbCommand::ReplayDeadLetters { selection } => {
                let write = JobWrite::ReplayDeadLetters(selection);
                self.dead_letters(write, &context).await
            }
            DbCommand::DiscardDeadLetters { selection } => {
                let write = JobWrite::DiscardDeadLetters(selection);
                self.dead_letters(write, &context).await
            }
        }
    }
}
