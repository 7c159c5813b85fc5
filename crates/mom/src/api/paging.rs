//! Query strings of list routes: cursor paging (`limit`, `before`) and filters, parsed into
//! typed values with a 400 naming the parameter, and the `Link: <…>; rel="next"` header.

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::ApiError;
use crate::domain::{FieldErrors, JobId, JobStatus};
use crate::store::jobs::{Job, JobSearch};

/// Bounds of `?limit=`; the default keeps the seed's answer of up to 500 jobs.
pub const MAX_LIMIT: u32 = 500;
pub const DEFAULT_LIMIT: u32 = 500;

/// The raw `name=value` pairs of a query string, with the problems found while reading them.
pub struct Params {
    pairs: Vec<(String, String)>,
    known: &'static [&'static str],
    pub errors: FieldErrors,
}

impl Params {
    /// Unknown parameters are refused, so a misspelt filter never silently widens a search.
    pub fn parse(query: Option<&str>, known: &'static [&'static str]) -> Self {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let mut errors = FieldErrors::default();
        for (name, value) in &pairs {
            if !known.contains(&name.as_str()) {
                errors.add(
                    name,
                    Some(&Value::String(value.clone())),
                    "isKnown",
                    format!("unknown query parameter; known: {}", known.join(", ")),
                );
            } else if pairs.iter().filter(|(n, _)| n == name).count() > 1 {
                errors.add(name, None, "isSingle", format!("{name} may be given once"));
            }
        }
        Self {
            pairs,
            known,
            errors,
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        debug_assert!(self.known.contains(&name));
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter read by `parse`; its error message goes into the 400 under its name.
    pub fn get<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(name)?.to_owned();
        match parse(&raw) {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors
                    .add(name, Some(&Value::String(raw)), "isValid", message);
                None
            }
        }
    }

    /// `limit`, `before` and `status`, the parameters every job list shares.
    pub fn page(&mut self) -> JobSearch {
        JobSearch {
            limit: self.get("limit", limit).unwrap_or(DEFAULT_LIMIT),
            before: self.get("before", job_id),
            status: self.get("status", status),
            ..JobSearch::default()
        }
    }

    /// A 400 naming every bad parameter, if any.
    pub fn check(&mut self) -> Result<(), ApiError> {
        std::mem::take(&mut self.errors)
            .into_result(|| ())
            .map_err(ApiError::Validation)
    }

    /// The first `limit` of `jobs` (as [`crate::store::jobs::search`] found them, one extra
    /// when there are more) and, when there are more, the `Link` to the next page.
    pub fn page_of(&self, path: &str, jobs: Vec<Job>, limit: u32) -> (HeaderMap, Vec<Job>) {
        self.page_of_by(path, jobs, limit, |job| i64::from(job.view.id))
    }

    /// [`Params::page_of`] for any rows listed newest first by the id `id` reads.
    pub fn page_of_by<T>(
        &self,
        path: &str,
        mut rows: Vec<T>,
        limit: u32,
        id: impl Fn(&T) -> i64,
    ) -> (HeaderMap, Vec<T>) {
        if rows.len() <= limit as usize {
            return (HeaderMap::new(), rows);
        }
        rows.truncate(limit as usize);
        let last_id = rows.last().map_or(0, id);
        (self.next_link(path, last_id), rows)
    }

    /// The `Link` header to the page after one that ended at row `last_id`: the same query
    /// with `before` moved. Path-absolute, as RFC 8288 allows.
    fn next_link(&self, path: &str, last_id: i64) -> HeaderMap {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs.iter().filter(|(n, _)| n != "before") {
            query.append_pair(name, value);
        }
        query.append_pair("before", &last_id.to_string());
        let mut headers = HeaderMap::new();
        let link = format!("<{path}?{}>; rel=\"next\"", query.finish());
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
        headers
    }
}

pub fn limit(raw: &str) -> Result<u32, String> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| format!("limit must be an integer from 1 to {MAX_LIMIT}"))
}

fn job_id(raw: &str) -> Result<i32, String> {
    JobId::parse(raw)
        .map(JobId::get)
        .ok_or_else(|| "before must be a job id (a positive integer)".to_owned())
}

fn status(raw: &str) -> Result<JobStatus, String> {
    JobStatus::parse(raw).ok_or_else(|| {
        let known: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("status must be one of: {}", known.join(", "))
    })
}

/// An RFC 3339 time such as `2026-01-31T12:00:00Z`.
pub fn timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 time like 2026-01-31T12:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(query: &str) -> Vec<String> {
        let mut params = Params::parse(Some(query), &["limit", "before", "status"]);
        params.page();
        params.errors.0.into_iter().map(|e| e.property).collect()
    }

    #[test]
    fn defaults_keep_the_seeds_answer() {
        let mut params = Params::parse(None, &["limit", "before", "status"]);
        let page = params.page();
        assert_eq!((page.limit, page.before, page.status), (500, None, None));
        assert!(params.errors.is_empty());
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(properties("limit=0"), ["limit"]);
        assert_eq!(properties("limit=501&before=x"), ["limit", "before"]);
        assert_eq!(properties("status=lost&sort=id"), ["sort", "status"]);
        assert_eq!(properties("limit=1&limit=2"), ["limit"]);
        assert!(properties("limit=1&before=9&status=done").is_empty());
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_moves_the_cursor() {
        let params = Params::parse(
            Some("status=done&before=90&limit=2"),
            &["limit", "before", "status"],
        );
        let headers = params.next_link("/job/my", 41);
        assert_eq!(
            headers[header::LINK],
            "</job/my?status=done&limit=2&before=41>; rel=\"next\""
        );
    }
}
