//! The five methods of the seed's math service, by name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::MathError;

/// One of the seed's methods. On the wire (URL segment, JSON) it is its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MathMethod {
    Add,
    Subtract,
    Multiply,
    Divide,
    Factors,
}

impl MathMethod {
    /// Every method, in the order help texts and error messages list them.
    pub const ALL: [MathMethod; 5] = [
        MathMethod::Add,
        MathMethod::Subtract,
        MathMethod::Multiply,
        MathMethod::Divide,
        MathMethod::Factors,
    ];

    /// The wire name, e.g. `"add"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MathMethod::Add => "add",
            MathMethod::Subtract => "subtract",
            MathMethod::Multiply => "multiply",
            MathMethod::Divide => "divide",
            MathMethod::Factors => "factors",
        }
    }

    /// One line saying what the method computes, for help texts.
    pub fn summary(&self) -> &'static str {
        match self {
            MathMethod::Add => "the sum of the numbers",
            MathMethod::Subtract => "the first number minus all the others",
            MathMethod::Multiply => "the product of the numbers",
            MathMethod::Divide => "the first number divided by all the others",
            MathMethod::Factors => "for each number, its distinct prime factors in ascending order",
        }
    }

    /// "add, subtract, multiply, divide, factors".
    pub(crate) fn list() -> String {
        Self::ALL.map(|m| m.as_str()).join(", ")
    }
}

impl fmt::Display for MathMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MathMethod {
    type Err = MathError;

    /// Exact, case-sensitive names, as the seed's routes were.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| MathError::unknown_method(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for method in MathMethod::ALL {
            assert_eq!(method.as_str().parse::<MathMethod>(), Ok(method));
            let json = serde_json::to_string(&method).unwrap();
            assert_eq!(json, format!("\"{method}\""));
            assert_eq!(serde_json::from_str::<MathMethod>(&json).unwrap(), method);
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        for name in ["", "pow", "Add", "ADD", " add", "add ", "factor"] {
            assert_eq!(
                name.parse::<MathMethod>(),
                Err(MathError::UnknownMethod(name.into()))
            );
        }
        assert!(serde_json::from_str::<MathMethod>("\"pow\"").is_err());
    }
}
