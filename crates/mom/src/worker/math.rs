//! The math handler: one step of a job, computed by the external math service. Many steps are
//! in flight at once — `MATH_CONCURRENCY`, the service's capacity, thousands by default, since
//! a step waiting on the service costs memory, not CPU — each call bounded by a timeout;
//! failures are retried with backoff, and the job fails with a readable reason when retrying
//! is over. A cancelled job's step stops: its call in flight is dropped, which aborts the HTTP
//! request, and a step of a cancelled job that arrives later is acked and dropped.

use std::time::Duration;

use mom_bus::{Bus, Context, Handler, HandlerError, Outgoing};
use serde_json::Value;
use sqlx::PgPool;
use tracing::{info, instrument, warn};

use super::cancels::Cancels;
use crate::config::Config;
use crate::messages::{DbCommand, MathTask};
use crate::topology::Topology;

pub struct MathHandler {
    http: reqwest::Client,
    math_url: String,
    bus: Bus,
    topology: Topology,
    /// Reads only: whether a retried step's job has ended meanwhile.
    pool: PgPool,
    cancels: Cancels,
}

/// What the math service said about a step.
enum Answer {
    Result(Value),
    /// The service refused the input; retrying cannot help.
    Refused(String),
}

impl MathHandler {
    pub fn new(
        config: &Config,
        bus: Bus,
        topology: Topology,
        pool: PgPool,
        cancels: Cancels,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.math_timeout)
            .connect_timeout(Duration::from_secs(2));
        // Over HTTP/2 every call in flight is a stream on one connection: thousands of calls
        // waiting on a slow service cost no file descriptors. HTTP/1.1 needs one connection
        // per call in flight, so the pool keeps that many.
        let http = if config.math_http2 {
            http.http2_prior_knowledge()
        } else {
            http.pool_max_idle_per_host(usize::from(config.math_concurrency))
        };
        Ok(Self {
            http: http.build()?,
            math_url: config.math_url.trim_end_matches('/').to_owned(),
            bus,
            topology,
            pool,
            cancels,
        })
    }

    /// Whether a step coming back from a retry delay (or redelivered) belongs to a job that has
    /// ended meanwhile. The database decides, not the signals: this process may have missed a
    /// signal while the step waited. First attempts trust the signals, which saves a query per
    /// step.
    async fn ended_meanwhile(
        &self,
        task: &MathTask,
        context: &Context,
    ) -> Result<bool, HandlerError> {
        if context.attempt <= 1 && !context.redelivered {
            return Ok(false);
        }
        let status = crate::store::jobs::status(&self.pool, task.job_id)
            .await
            .map_err(|e| HandlerError::retry(format!("cannot read the job's status: {e}")))?;
        Ok(status.is_some_and(|s| s.is_final()))
    }

    async fn ask(&self, task: &MathTask) -> Result<Answer, String> {
        let url = format!(
            "{}/{}/{}",
            self.math_url,
            task.operation.method.as_str(),
            task.operation.numbers.as_str()
        );
        let response = self.http.get(&url).send().await.map_err(|e| {
            if e.is_timeout() {
                "the math service did not answer in time".to_owned()
            } else {
                format!("the math service is unreachable: {e}")
            }
        })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("the math service sent an unreadable answer: {e}"))?;
        if status.is_success() {
            Ok(Answer::Result(body))
        } else if status.is_client_error() {
            let reason = body["message"]
                .as_str()
                .unwrap_or("the math service refused the input");
            Ok(Answer::Refused(reason.to_owned()))
        } else {
            Err(format!("the math service failed with {status}"))
        }
    }

    async fn tell_db(
        &self,
        kind: &str,
        command: &DbCommand,
        message_id: String,
        context: &Context,
    ) -> Result<(), HandlerError> {
        let message = Outgoing::json(kind, command)
            .map_err(HandlerError::abort)?
            .message_id(message_id)
            .caused_by(context);
        self.bus
            .send(&self.topology.db.name, &message)
            .await
            .map_err(|e| HandlerError::retry(format!("cannot reach the db worker: {e}")))
    }
}

impl Handler for MathHandler {
    type Message = MathTask;
    type Reply = ();

    #[instrument(skip_all, fields(job_id = task.job_id, step = task.step, attempt = context.attempt))]
    async fn handle(&self, task: MathTask, context: Context) -> Result<(), HandlerError> {
        let id = format!("{}-{}", task.job_id, task.step);
        if self.ended_meanwhile(&task, &context).await? {
            info!("the job has ended; step dropped");
            metrics::counter!("mom_math_steps_dropped_total", "when" => "before_call").increment(1);
            return Ok(());
        }
        let Some(in_flight) = self.cancels.start(task.job_id) else {
            info!("the job is cancelled; step dropped");
            metrics::counter!("mom_math_steps_dropped_total", "when" => "before_call").increment(1);
            return Ok(());
        };
        // Dropping the call's future resets its HTTP/2 stream: the math service sees the
        // request go away instead of answering someone who no longer listens. Pinned out here,
        // so it is dropped after the abort is counted.
        let started = std::time::Instant::now();
        let call = self.ask(&task);
        tokio::pin!(call);
        let answer = tokio::select! {
            answer = &mut call => answer,
            _ = in_flight.cancelled() => {
                info!("the job was cancelled; math call aborted");
                metrics::counter!("mom_math_steps_dropped_total", "when" => "in_flight").increment(1);
                return Ok(());
            }
        };
        drop(in_flight);
        // Calls that ended, by outcome; aborted ones are counted as dropped steps above.
        let outcome = match &answer {
            Ok(Answer::Result(_)) => "ok",
            Ok(Answer::Refused(_)) => "refused",
            Err(_) => "error",
        };
        metrics::histogram!(
            crate::meters::name::STEP_DURATION,
            "method" => task.operation.method.as_str(),
            "outcome" => outcome
        )
        .record(started.elapsed().as_secs_f64());
        match answer {
            Ok(Answer::Result(result)) => {
                let record = DbCommand::RecordStep {
                    job_id: task.job_id,
                    step: task.step,
                    result,
                };
                self.tell_db("job.recordStep", &record, format!("record-{id}"), &context)
                    .await
            }
            Ok(Answer::Refused(reason)) => {
                let reason = format!(
                    "step {} ({}) failed: {reason}",
                    task.step + 1,
                    task.operation.method.as_str()
                );
                let fail = DbCommand::FailJob {
                    job_id: task.job_id,
                    step: task.step,
                    reason: reason.clone(),
                };
                self.tell_db("job.fail", &fail, format!("fail-{id}"), &context)
                    .await?;
                Err(HandlerError::abort(reason))
            }
            Err(problem) => {
                if context.is_final_attempt() {
                    let reason = format!(
                        "step {} ({}) failed after {} attempts: {problem}",
                        task.step + 1,
                        task.operation.method.as_str(),
                        context.attempt
                    );
                    let fail = DbCommand::FailJob {
                        job_id: task.job_id,
                        step: task.step,
                        reason,
                    };
                    self.tell_db("job.fail", &fail, format!("fail-{id}"), &context)
                        .await?;
                } else {
                    warn!(%problem, "math step failed; will retry");
                }
                Err(HandlerError::retry(problem))
            }
        }
    }
}
