//! The one error type of the crate. Its `Display` texts are shown to users as they are, so each one
//! is a short, lowercase reason that says what to change.

use crate::numbers::{MAX_NUMBERS, MAX_NUMBERS_LEN};
use crate::MathMethod;

/// Why a method, a list of numbers or a computation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MathError {
    /// The method is not one of [`MathMethod::ALL`]. Answered 404 by the HTTP service.
    #[error("unknown method {0:?}; expected one of {list}", list = MathMethod::list())]
    UnknownMethod(String),
    /// The numbers string is empty or only whitespace.
    #[error("no numbers given")]
    Empty,
    /// An entry between two commas (or before the first, or after the last) is blank: `1,,2`.
    #[error("number {position} is empty; write numbers like 1,2,3")]
    EmptyEntry { position: usize },
    #[error("too many numbers: {count}, at most {max} are allowed")]
    TooMany { count: usize, max: usize },
    #[error("the numbers are too long: {len} bytes, at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("{0:?} is not a number")]
    NotANumber(String),
    /// A whole number outside the input bound (64 bits, signed or unsigned).
    #[error("{0:?} is out of range; whole numbers must be between {min} and {max}",
        min = i64::MIN, max = u64::MAX)]
    OutOfRange(String),
    /// A decimal whose value is beyond `f64` (e.g. `1e999`).
    #[error("{0:?} is too large to compute with")]
    NotFinite(String),
    #[error("division by zero")]
    DivisionByZero,
    /// A decimal result beyond `f64`. Integer results are exact at any size and never overflow.
    #[error("result is too large for a decimal (a 64-bit float)")]
    Overflow,
    /// A `factors` input that is zero, negative, fractional or above `u64::MAX`; the text is the
    /// full reason.
    #[error("{0}")]
    NotFactorable(String),
}

impl MathError {
    pub(crate) fn not_a_number(entry: &str) -> Self {
        Self::NotANumber(excerpt(entry))
    }

    pub(crate) fn out_of_range(entry: &str) -> Self {
        Self::OutOfRange(excerpt(entry))
    }

    pub(crate) fn not_finite(entry: &str) -> Self {
        Self::NotFinite(excerpt(entry))
    }

    pub(crate) fn unknown_method(method: &str) -> Self {
        Self::UnknownMethod(excerpt(method))
    }

    pub(crate) fn too_long(len: usize) -> Self {
        Self::TooLong {
            len,
            max: MAX_NUMBERS_LEN,
        }
    }

    pub(crate) fn too_many(count: usize) -> Self {
        Self::TooMany {
            count,
            max: MAX_NUMBERS,
        }
    }
}

/// Longest piece of user input echoed back in an error, in characters.
const EXCERPT_CHARS: usize = 40;

/// The start of `s`, so that an error never echoes kilobytes of input back.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_short_readable_reasons() {
        assert_eq!(MathError::DivisionByZero.to_string(), "division by zero");
        assert_eq!(
            MathError::Overflow.to_string(),
            "result is too large for a decimal (a 64-bit float)"
        );
        assert_eq!(
            MathError::not_a_number("abc").to_string(),
            r#""abc" is not a number"#
        );
        assert_eq!(
            MathError::unknown_method("pow").to_string(),
            r#"unknown method "pow"; expected one of add, subtract, multiply, divide, factors"#
        );
    }

    #[test]
    fn echoed_input_is_cut_and_escaped() {
        let long = "é".repeat(1000);
        let MathError::NotANumber(shown) = MathError::not_a_number(&long) else {
            unreachable!()
        };
        assert_eq!(shown.chars().count(), EXCERPT_CHARS + 1);
        assert!(shown.ends_with('…'));

        let quoted = MathError::not_a_number("a\"b\n").to_string();
        assert_eq!(quoted, r#""a\"b\n" is not a number"#);
    }
}
