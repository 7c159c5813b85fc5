//! Users: email, password, names, and the register/login bodies built from them.

use serde_json::Value;

use super::validation::{has_control_chars, string_field, FieldErrors};

/// A syntactically valid email address, lowercased (emails are compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        let valid = email.len() <= Self::MAX_LEN
            && !has_control_chars(email)
            && !email.contains(char::is_whitespace)
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if valid {
            Ok(Self(email.to_lowercase()))
        } else {
            Err("email must be an email".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user may see: their own jobs (`user`), or also the machinery (`admin`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// The stored column; anything unknown reads as the least privileged role.
    pub fn from_column(raw: &str) -> Self {
        if raw == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

/// A password as typed: not empty, bounded so hashing stays cheap. Never logged or echoed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            Err("password should not be empty".into())
        } else if raw.len() > Self::MAX_LEN {
            Err(format!(
                "password must be at most {} characters",
                Self::MAX_LEN
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A first or last name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str, field: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            Err(format!("{field} should not be empty"))
        } else if name.chars().count() > Self::MAX_LEN {
            Err(format!(
                "{field} must be at most {} characters",
                Self::MAX_LEN
            ))
        } else if has_control_chars(name) {
            Err(format!("{field} must not contain control characters"))
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid registration. Unknown fields of the body are ignored, as the seed stripped them.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: Email,
    pub password: Password,
}

impl TryFrom<&Value> for NewUser {
    type Error = FieldErrors;

    fn try_from(body: &Value) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let first_name = name_field(body, "firstName", &mut errors);
        let last_name = name_field(body, "lastName", &mut errors);
        let email = email_field(body, &mut errors);
        let password = password_field(body, &mut errors);
        match (first_name, last_name, email, password) {
            (Some(first_name), Some(last_name), Some(email), Some(password))
                if errors.is_empty() =>
            {
                Ok(Self {
                    first_name,
                    last_name,
                    email,
                    password,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A login attempt.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: Email,
    pub password: Password,
}

impl TryFrom<&Value> for Credentials {
    type Error = FieldErrors;

    fn try_from(body: &Value) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = email_field(body, &mut errors);
        let password = password_field(body, &mut errors);
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => Ok(Self { email, password }),
            _ => Err(errors),
        }
    }
}

fn name_field(body: &Value, name: &str, errors: &mut FieldErrors) -> Option<PersonName> {
    let raw = string_field(body, name, errors)?;
    PersonName::parse(raw, name)
        .map_err(|message| errors.add(name, body.get(name), "isValidName", message))
        .ok()
}

fn email_field(body: &Value, errors: &mut FieldErrors) -> Option<Email> {
    let raw = string_field(body, "email", errors)?;
    Email::parse(raw)
        .map_err(|message| errors.add("email", body.get("email"), "isEmail", message))
        .ok()
}

fn password_field(body: &Value, errors: &mut FieldErrors) -> Option<Password> {
    // The value is never echoed back, unlike the seed.
    let raw = match body.get("password") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => {
            errors.add(
                "password",
                None,
                "isDefined",
                "password should not be null or undefined",
            );
            return None;
        }
        Some(_) => {
            errors.add("password", None, "isString", "password must be a string");
            return None;
        }
    };
    Password::parse(raw)
        .map_err(|message| errors.add("password", None, "isValidPassword", message))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.io",
            "a b@x.io",
            "ada@x",
            "a@@x.io",
            "ada@x..io",
            "a\u{7}@x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn register_body_reports_every_field() {
        let errors = NewUser::try_from(&json!({"email": "nope", "password": "", "firstName": 3}))
            .unwrap_err();
        let properties: Vec<_> = errors.0.iter().map(|e| e.property.as_str()).collect();
        assert_eq!(properties, ["firstName", "lastName", "email", "password"]);
        assert!(errors.0[3].value.is_none(), "passwords are never echoed");
        assert_eq!(errors.0[1].value, None, "a missing value is absent");
    }

    #[test]
    fn a_valid_registration_parses() {
        let user = NewUser::try_from(&json!({
            "firstName": " Ada ", "lastName": "Lovelace", "email": "ADA@x.io", "password": "pw", "extra": 1
        }))
        .unwrap();
        assert_eq!(user.first_name.as_str(), "Ada");
        assert_eq!(user.email.as_str(), "ada@x.io");
    }
}
