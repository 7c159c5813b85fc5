//! What travels on the bus between mom's services. Each type is parsed (and so validated) by
//! the consumer before its handler runs; a message that does not parse is dead-lettered.

use mom_math::MathStep;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::dead_letter::{DeadLetterOutcome, Selection};
use crate::domain::{JobView, UserView};

/// A write for the db worker, the only writer of PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all_fields = "camelCase")]
pub enum DbCommand {
    /// RPC from `POST /register` and `POST /user`. The password is hashed by the API: the
    /// plain text never travels.
    #[serde(rename = "user.create")]
    CreateUser {
        request_id: String,
        first_name: String,
        last_name: String,
        email: String,
        password_hash: String,
    },
    /// RPC from `POST /job`.
    #[serde(rename = "job.create")]
    CreateJob {
        request_id: String,
        owner_id: i32,
        steps: Vec<MathStep>,
    },
    /// Sent by workers of an earlier version when a job's first step started; now accepted
    /// and ignored (a job is `running` from its first recorded step).
    #[serde(rename = "job.start")]
    StartJob { job_id: i32 },
    /// A math worker computed step `step` of a job.
    #[serde(rename = "job.recordStep")]
    RecordStep {
        job_id: i32,
        step: i32,
        result: Value,
    },
    /// A step failed for good; the job ends `failed` with this reason.
    #[serde(rename = "job.fail")]
    FailJob {
        job_id: i32,
        step: i32,
        reason: String,
    },
    /// RPC from `POST /job/{id}/cancel`, after the API checked the caller may cancel the
    /// job. `request_id` names this cancel, so a retry (same `Idempotency-Key`) finds it.
    #[serde(rename = "job.cancel")]
    CancelJob {
        request_id: String,
        job_id: i32,
        by: Canceller,
    },
    /// The socket gateway delivered the final events of these jobs to their owner.
    #[serde(rename = "job.notified")]
    MarkNotified { job_ids: Vec<i32> },
    /// RPC from `POST /admin/dead-letters/replay`.
    #[serde(rename = "deadLetters.replay")]
    ReplayDeadLetters { selection: Selection },
    /// RPC from `POST /admin/dead-letters/discard`.
    #[serde(rename = "deadLetters.discard")]
    DiscardDeadLetters { selection: Selection },
}

impl DbCommand {
    /// The AMQP `type` of this command.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateUser { .. } => "user.create",
            Self::CreateJob { .. } => "job.create",
            Self::StartJob { .. } => "job.start",
            Self::RecordStep { .. } => "job.recordStep",
            Self::FailJob { .. } => "job.fail",
            Self::CancelJob { .. } => "job.cancel",
            Self::MarkNotified { .. } => "job.notified",
            Self::ReplayDeadLetters { .. } => "deadLetters.replay",
            Self::DiscardDeadLetters { .. } => "deadLetters.discard",
        }
    }
}

/// The db worker's answer to an RPC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum DbReply {
    User {
        user: UserView,
    },
    Job {
        job: JobView,
    },
    EmailTaken,
    DeadLetters {
        result: DeadLetterOutcome,
    },
    Done,
    /// `job.cancel`: the job is cancelled, by this request (or, for a replay, by its first try).
    Cancelled {
        job: JobView,
    },
    /// `job.cancel`: the job had ended before; `job.status` says how.
    AlreadyEnded {
        job: JobView,
    },
    /// `job.cancel`: this request id already cancelled another job.
    RequestIdTaken,
    /// `job.cancel`: there is no such job.
    NoSuchJob,
}

/// Who cancelled a job, for the reason its owner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Canceller {
    Owner,
    Admin,
}

impl Canceller {
    /// The `error` a cancelled job shows.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Owner => "cancelled by its owner",
            Self::Admin => "cancelled by an admin",
        }
    }
}

/// Broadcast to every math worker when a job is cancelled: the step in flight stops.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelSignal {
    pub job_id: i32,
}

/// One step of a job for a math worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MathTask {
    pub job_id: i32,
    pub step: i32,
    pub operation: MathStep,
}

impl MathTask {
    /// Stable per job and step, so duplicates are recognisable.
    pub fn message_id(job_id: i32, step: i32) -> String {
        format!("job-{job_id}-step-{step}")
    }
}

/// A `session:revoked` event: sockets authenticated with this session stop receiving.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRevoked {
    pub user_id: i32,
    pub sid: String,
}

/// Job events (`job:progress`, `job:done`, `job:failed`, `job:cancelled`) carry a [`JobView`] with its owner;
/// the AMQP `type` property names the event.
pub type JobEvent = JobView;
