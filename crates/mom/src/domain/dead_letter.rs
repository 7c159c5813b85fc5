//! Dead letters as mom keeps them: read once from a dead-letter queue's delivery, with the
//! payload's secrets redacted before anything stores it.

use chrono::{DateTime, TimeZone, Utc};
use mom_bus::{header, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::{DbCommand, MathTask};

/// What replaces a secret's value.
pub const REDACTED: &str = "[redacted]";

/// A JSON payload with every secret's value replaced by [`REDACTED`]. The only way to get one
/// is [`Redacted::new`], so a stored payload is always redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Redacted(Value);

impl Redacted {
    /// Redacts `value`; also returns the names of the fields it redacted.
    pub fn new(mut value: Value) -> (Self, Vec<String>) {
        let mut found = Vec::new();
        redact(&mut value, &mut found);
        (Self(value), found)
    }

    /// A payload read back from the table, where only redacted payloads are written.
    pub fn stored(value: Value) -> Self {
        Self(value)
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

/// Field names that hold secrets, compared lowercased without `_` and `-`: passwords and their
/// hashes, tokens of every kind, keys and secrets.
fn is_secret(name: &str) -> bool {
    let name: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    [
        "password",
        "token",
        "secret",
        "apikey",
        "authorization",
        "jwt",
        "passwd",
    ]
    .iter()
    .any(|secret| name.contains(secret))
}

fn redact(value: &mut Value, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if is_secret(name) {
                    *field = Value::String(REDACTED.into());
                    found.push(name.clone());
                } else {
                    redact(field, found);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, found)),
        _ => {}
    }
}

/// Which of mom's work queues a dead letter came from: what it meant decides what its death
/// and its replay do to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Db,
    Math,
}

/// A dead letter, ready to store.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub queue: String,
    pub kind: String,
    pub message_id: String,
    pub reason: String,
    pub attempts: i32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    pub job_id: Option<i32>,
    pub payload: Option<Redacted>,
    pub not_replayable: Option<String>,
    pub priority: i16,
    pub traceparent: Option<String>,
    /// The job this death leaves without anything to move it, and the reason its owner reads.
    pub fails_job: Option<(i32, String)>,
}

impl DeadLetter {
    /// The dead letter a delivery on the dead-letter queue of `queue` carries. Everything
    /// comes from the body and the headers the bus wrote when it gave up on the message; what
    /// is missing (a message RabbitMQ dead-lettered itself) gets a plain default.
    pub fn from_delivery(queue: &str, origin: Origin, body: &[u8], context: &Context) -> Self {
        let header = |name: &str| context.headers.get(name);
        let millis = |name: &str| {
            header(name)
                .and_then(|ms| ms.parse::<i64>().ok())
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        };
        let last_failed_at = millis(header::FAILED_AT_MS).unwrap_or_else(Utc::now);
        let attempts = header(header::ATTEMPTS)
            .and_then(|n| n.parse::<i32>().ok())
            .unwrap_or(context.attempt as i32);
        let reason = header(header::ERROR)
            .cloned()
            .unwrap_or_else(|| "rejected by a consumer (no reason recorded)".into());
        let json = serde_json::from_slice::<Value>(body).ok();
        let job_id = json
            .as_ref()
            .and_then(|v| v.get("jobId"))
            .and_then(Value::as_i64)
            .and_then(|id| i32::try_from(id).ok());
        let (payload, not_replayable) = match json {
            Some(value) => {
                let (redacted, secrets) = Redacted::new(value);
                let why = (!secrets.is_empty()).then(|| {
                    format!(
                        "its payload carried secrets ({}), which are not kept; the request \
                         must be made again",
                        secrets.join(", ")
                    )
                });
                (Some(redacted), why)
            }
            None => (
                None,
                Some(format!(
                    "its body ({} bytes) is not JSON; it would fail the same way again",
                    body.len()
                )),
            ),
        };
        let fails_job = match origin {
            Origin::Db => fails_job(body, attempts),
            // The math worker fails the job itself before it gives up on a step.
            Origin::Math => None,
        };
        Self {
            queue: queue.to_owned(),
            kind: context.kind.clone().unwrap_or_else(|| "unknown".into()),
            message_id: context
                .message_id
                .clone()
                .unwrap_or_else(|| anonymous_id(body)),
            reason,
            attempts,
            first_failed_at: millis(header::FIRST_FAILED_MS).unwrap_or(last_failed_at),
            last_failed_at,
            job_id,
            payload,
            not_replayable,
            priority: i16::from(context.priority),
            traceparent: context.traceparent.clone(),
            fails_job,
        }
    }
}

/// A dead db command that was to move a job leaves it stuck: the job fails at once, with a
/// reason for its owner, instead of waiting for the stalled-job sweep.
fn fails_job(body: &[u8], attempts: i32) -> Option<(i32, String)> {
    match serde_json::from_slice::<DbCommand>(body).ok()? {
        DbCommand::RecordStep { job_id, step, .. } => Some((
            job_id,
            format!(
                "step {}'s result could not be saved after {attempts} attempts; an \
                 administrator can retry it",
                step + 1
            ),
        )),
        DbCommand::FailJob { job_id, reason, .. } => Some((job_id, reason)),
        _ => None,
    }
}

/// The step of its job a dead letter moves when replayed: a math task or a step result.
pub fn moves_step(origin: Origin, payload: &Value) -> Option<(i32, i32)> {
    match origin {
        Origin::Math => serde_json::from_value::<MathTask>(payload.clone())
            .ok()
            .map(|task| (task.job_id, task.step)),
        Origin::Db => match serde_json::from_value::<DbCommand>(payload.clone()).ok()? {
            DbCommand::RecordStep { job_id, step, .. } => Some((job_id, step)),
            _ => None,
        },
    }
}

/// An id for a message that came without one (mom always sets one), stable for equal bodies,
/// so a redelivered dead letter still finds its row.
fn anonymous_id(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("anonymous-{:016x}", hasher.finish())
}

/// Which dead letters a list, replay or discard is about. Every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterFilter {
    pub queue: Option<String>,
    pub job_id: Option<i32>,
    /// A substring of the reason, case-insensitive.
    pub reason: Option<String>,
}

/// The dead letters a replay or discard acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Selection {
    /// Exactly these; an unknown id refuses the whole request.
    Ids(Vec<i64>),
    /// Every dead letter matching the filter (all of them when it is empty).
    Matching(DeadLetterFilter),
}

/// What a replay or discard did. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DeadLetterOutcome {
    /// `count` dead letters replayed or discarded; `not_replayable` matched the filter of a
    /// replay but were left in place.
    Affected { count: u64, not_replayable: u64 },
    /// These ids name no dead letter.
    Unknown { ids: Vec<i64> },
    /// These ids cannot be replayed, each for its reason.
    NotReplayable { refused: Vec<(i64, String)> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_wherever_they_are() {
        let (redacted, found) = Redacted::new(json!({
            "action": "user.create",
            "email": "a@x.io",
            "passwordHash": "$argon2id$…",
            "nested": [{"access_token": "abc", "id": 3}],
            "API-Key": "k",
        }));
        let value = redacted.as_value();
        assert_eq!(value["passwordHash"], REDACTED);
        assert_eq!(value["nested"][0]["access_token"], REDACTED);
        assert_eq!(value["nested"][0]["id"], 3);
        assert_eq!(value["API-Key"], REDACTED);
        assert_eq!(value["email"], "a@x.io");
        assert_eq!(found.len(), 3, "{found:?}");
        let (_, none) = Redacted::new(json!({"jobId": 1, "step": 0, "result": 3}));
        assert!(none.is_empty());
    }

    fn context(headers: &[(&str, &str)]) -> Context {
        Context {
            kind: Some("job.recordStep".into()),
            message_id: Some("record-7-1".into()),
            attempt: 8,
            priority: 1,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Context::default()
        }
    }

    #[test]
    fn a_dead_step_result_names_its_job_and_fails_it_readably() {
        let body = br#"{"action":"job.recordStep","jobId":7,"step":1,"result":6}"#;
        let context = context(&[
            (header::ERROR, "gave up after 8 attempts: database error"),
            (header::ATTEMPTS, "8"),
            (header::FIRST_FAILED_MS, "1700000000000"),
            (header::FAILED_AT_MS, "1700000009000"),
        ]);
        let dead = DeadLetter::from_delivery("mom.db", Origin::Db, body, &context);
        assert_eq!(dead.job_id, Some(7));
        assert_eq!(dead.attempts, 8);
        assert_eq!(dead.message_id, "record-7-1");
        assert_eq!(
            (dead.last_failed_at - dead.first_failed_at).num_seconds(),
            9
        );
        assert!(dead.not_replayable.is_none());
        let (job, reason) = dead.fails_job.unwrap();
        assert_eq!(job, 7);
        assert!(reason.contains("step 2's result"), "{reason}");
        let payload = dead.payload.unwrap();
        assert_eq!(moves_step(Origin::Db, payload.as_value()), Some((7, 1)));
    }

    #[test]
    fn secrets_and_non_json_bodies_are_not_replayable() {
        let body = br#"{"action":"user.create","requestId":"r","firstName":"A","lastName":"B","email":"a@x.io","passwordHash":"h"}"#;
        let dead = DeadLetter::from_delivery("mom.db", Origin::Db, body, &context(&[]));
        assert!(dead.not_replayable.unwrap().contains("passwordHash"));
        assert!(dead.fails_job.is_none());
        let garbage =
            DeadLetter::from_delivery("mom.db", Origin::Db, b"\xffnot json", &context(&[]));
        assert!(garbage.payload.is_none());
        assert!(garbage.not_replayable.unwrap().contains("not JSON"));
    }
}
