//! Job requests and job states.

use mom_math::MathStep;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validation::FieldErrors;

/// The job types mom knows. The seed stored any type and then looped on it; mom refuses them.
pub const JOB_TYPES: [&str; 1] = ["math"];

/// A valid math job: 1 to [`JobRequest::MAX_STEPS`] steps, each one checked by the math crate.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub steps: Vec<MathStep>,
}

impl JobRequest {
    pub const MAX_STEPS: usize = 20;

    /// Whether a stored job's `details` are these steps (their results aside): numbers compare
    /// in canonical form, so `"1, 2"` and `"1,2"` are the same request.
    pub fn ordered(&self, details: &Value) -> bool {
        let Some(stored) = details.as_array() else {
            return false;
        };
        stored.len() == self.steps.len()
            && stored.iter().zip(&self.steps).all(|(stored, step)| {
                stored["method"] == step.method.as_str()
                    && stored["numbers"] == step.numbers.as_str()
            })
    }
}

impl TryFrom<&Value> for JobRequest {
    type Error = FieldErrors;

    fn try_from(body: &Value) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        match body.get("type") {
            None | Some(Value::Null) => errors.add(
                "type",
                None,
                "isDefined",
                "type should not be null or undefined",
            ),
            Some(Value::String(t)) if JOB_TYPES.contains(&t.as_str()) => {}
            Some(Value::String(_)) => errors.add(
                "type",
                body.get("type"),
                "isIn",
                format!("type must be one of: {}", JOB_TYPES.join(", ")),
            ),
            Some(other) => errors.add("type", Some(other), "isString", "type must be a string"),
        }
        let steps = match body.get("details") {
            None | Some(Value::Null) => {
                errors.add(
                    "details",
                    None,
                    "isDefined",
                    "details should not be null or undefined",
                );
                Vec::new()
            }
            Some(Value::Array(items)) if items.is_empty() => {
                errors.add(
                    "details",
                    body.get("details"),
                    "arrayNotEmpty",
                    "details should not be empty",
                );
                Vec::new()
            }
            Some(Value::Array(items)) if items.len() > Self::MAX_STEPS => {
                errors.add(
                    "details",
                    None,
                    "arrayMaxSize",
                    format!("details must contain at most {} steps", Self::MAX_STEPS),
                );
                Vec::new()
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| parse_step(i, item, &mut errors))
                .collect(),
            Some(other) => {
                errors.add(
                    "details",
                    Some(other),
                    "isArray",
                    "details must be an array of {method, numbers}",
                );
                Vec::new()
            }
        };
        errors.into_result(|| Self { steps })
    }
}

fn parse_step(index: usize, item: &Value, errors: &mut FieldErrors) -> Option<MathStep> {
    let at = |field: &str| format!("details.{index}.{field}");
    let Value::Object(_) = item else {
        errors.add(
            &format!("details.{index}"),
            Some(item),
            "isObject",
            "each step must be an object {method, numbers}",
        );
        return None;
    };
    let method = match item.get("method") {
        Some(Value::String(m)) => Some(m.as_str()),
        None | Some(Value::Null) => {
            errors.add(
                &at("method"),
                None,
                "isDefined",
                "method should not be null or undefined",
            );
            None
        }
        Some(other) => {
            errors.add(
                &at("method"),
                Some(other),
                "isString",
                "method must be a string",
            );
            None
        }
    };
    let numbers = match item.get("numbers") {
        Some(Value::String(n)) => Some(n.as_str()),
        None | Some(Value::Null) => {
            errors.add(
                &at("numbers"),
                None,
                "isDefined",
                "numbers should not be null or undefined",
            );
            None
        }
        Some(other) => {
            errors.add(
                &at("numbers"),
                Some(other),
                "isString",
                "numbers must be a comma-separated string like \"1,2,3\"",
            );
            None
        }
    };
    let (method, numbers) = (method?, numbers?);
    if let Err(e) = method.parse::<mom_math::MathMethod>() {
        errors.add(&at("method"), item.get("method"), "isIn", e.to_string());
        return None;
    }
    match MathStep::parse(method, numbers) {
        Ok(step) => Some(step),
        Err(e) => {
            errors.add(
                &at("numbers"),
                item.get("numbers"),
                "isValidNumbers",
                e.to_string(),
            );
            None
        }
    }
}

/// A job id as a client names it in a path or query: a positive 32-bit integer in decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobId(i32);

impl JobId {
    pub fn parse(raw: &str) -> Option<Self> {
        // Digits only: `+5`, ` 5` and `05x` are not ids.
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse::<i32>().ok().filter(|id| *id > 0).map(Self)
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
    /// Stopped by its owner or an admin (`POST /job/{id}/cancel`); no step runs after it.
    Cancelled,
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn properties(body: Value) -> Vec<String> {
        JobRequest::try_from(&body)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.property)
            .collect()
    }

    #[test]
    fn a_valid_job_parses() {
        let job = JobRequest::try_from(&json!({
            "type": "math",
            "details": [{"method": "add", "numbers": "1,2,3"}, {"method": "factors", "numbers": "12,97"}]
        }))
        .unwrap();
        assert_eq!(job.steps.len(), 2);
    }

    #[test]
    fn every_bad_part_is_named() {
        assert_eq!(properties(json!({})), ["type", "details"]);
        assert_eq!(
            properties(json!({"type": "pdf", "details": []})),
            ["type", "details"]
        );
        assert_eq!(
            properties(json!({"type": 1, "details": {}})),
            ["type", "details"]
        );
        assert_eq!(
            properties(json!({"type": "math", "details": [
                {"method": "pow", "numbers": "1"},
                {"method": "divide", "numbers": "1,0"},
                {"method": "add", "numbers": [1, 2]},
                "add"
            ]})),
            [
                "details.0.method",
                "details.1.numbers",
                "details.2.numbers",
                "details.3"
            ]
        );
    }

    #[test]
    fn a_request_recognises_the_job_it_ordered() {
        let request = JobRequest::try_from(&json!({"type": "math", "details": [
            {"method": "add", "numbers": " 1, 2"}, {"method": "factors", "numbers": "12"}
        ]}))
        .unwrap();
        let stored = json!([
            {"method": "add", "numbers": "1,2", "result": 3},
            {"method": "factors", "numbers": "12"}
        ]);
        assert!(request.ordered(&stored));
        for other in [
            json!([{"method": "add", "numbers": "1,2"}]),
            json!([{"method": "add", "numbers": "1,3"}, {"method": "factors", "numbers": "12"}]),
            json!([{"method": "subtract", "numbers": "1,2"}, {"method": "factors", "numbers": "12"}]),
            json!({}),
        ] {
            assert!(!request.ordered(&other), "{other}");
        }
    }

    #[test]
    fn job_ids_are_positive_decimal_integers() {
        assert_eq!(JobId::parse("42").map(JobId::get), Some(42));
        assert_eq!(JobId::parse("2147483647").map(JobId::get), Some(i32::MAX));
        for bad in ["", "0", "-1", "+1", " 1", "1.0", "abc", "2147483648", "1e3"] {
            assert_eq!(JobId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_status_reads_back_and_three_are_final() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
        let finals: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [JobStatus::Done, JobStatus::Failed, JobStatus::Cancelled]
        );
    }

    #[test]
    fn step_count_is_bounded() {
        let steps: Vec<_> = (0..21)
            .map(|_| json!({"method": "add", "numbers": "1"}))
            .collect();
        assert_eq!(
            properties(json!({"type": "math", "details": steps})),
            ["details"]
        );
    }
}
