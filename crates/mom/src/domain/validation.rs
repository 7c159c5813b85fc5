//! Field errors in the seed's shape (class-validator's ValidationError), so seed clients can
//! show them next to the right input.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One invalid property: `{"property":"email","value":"x","children":[],"constraints":{…}}`.
/// `value` is left out when the property is missing and for passwords.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub property: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub children: Vec<FieldError>,
    pub constraints: BTreeMap<String, String>,
}

/// All the field errors of one request; empty means valid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn add(
        &mut self,
        property: &str,
        value: Option<&Value>,
        rule: &str,
        message: impl Into<String>,
    ) {
        if let Some(existing) = self.0.iter_mut().find(|e| e.property == property) {
            existing.constraints.insert(rule.to_owned(), message.into());
            return;
        }
        self.0.push(FieldError {
            property: property.to_owned(),
            value: value.cloned(),
            children: Vec::new(),
            constraints: BTreeMap::from([(rule.to_owned(), message.into())]),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

/// A string field of a JSON object: records `isDefined`/`isString`/`isNotEmpty` problems.
pub fn string_field<'a>(body: &'a Value, name: &str, errors: &mut FieldErrors) -> Option<&'a str> {
    match body.get(name) {
        None | Some(Value::Null) => {
            errors.add(
                name,
                None,
                "isDefined",
                format!("{name} should not be null or undefined"),
            );
            None
        }
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            errors.add(
                name,
                Some(other),
                "isString",
                format!("{name} must be a string"),
            );
            None
        }
    }
}

/// Control characters have no place in names and emails; they break logs and terminals.
pub fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}
