//! The JSON shapes of the public contract: users, jobs and the login object.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::JobStatus;

/// Timestamps as the seed printed them: ISO 8601 with milliseconds and `Z`.
pub mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(d)
        }
    }
}

/// A user without anything secret: what the API and events show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: i32,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(with = "millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "millis")]
    pub updated_at: DateTime<Utc>,
}

/// A job as the contract shows it, plus mom's status fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub done: bool,
    pub status: JobStatus,
    /// `[{method, numbers, result?}]`; `result` appears as each step completes.
    pub details: Value,
    pub steps_done: i32,
    pub steps_total: i32,
    pub error: Option<String>,
    #[serde(with = "millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "millis")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "millis::option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub version: i32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner: Option<UserView>,
    /// The per-step results in order, on `job:done` (as the seed sent them).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub results: Option<Vec<Value>>,
}

impl JobView {
    /// The results of the finished steps, in order.
    pub fn step_results(&self) -> Vec<Value> {
        self.details
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .map(|s| s.get("result").cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What login and renew-token answer: the user, the token, and `iat`/`exp` in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginObject {
    #[serde(flatten)]
    pub user: UserView,
    pub iat: i64,
    pub exp: i64,
    pub access_token: String,
    /// Read from the database at login; the token does not carry it, so a revoke is immediate.
    #[serde(default)]
    pub role: super::Role,
}
