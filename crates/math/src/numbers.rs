//! `Numbers`: the seed's comma-separated list (`"12,5,7"`), parsed once into exact values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::MathError;

/// Most entries one list may hold.
pub const MAX_NUMBERS: usize = 100;
/// Most bytes the comma-separated text may have; longer input is refused before any parsing.
pub const MAX_NUMBERS_LEN: usize = 2000;

/// Smallest and largest whole number an entry may be: the input bound. Results are exact beyond it.
pub(crate) const INT_MIN: i128 = i64::MIN as i128;
pub(crate) const INT_MAX: i128 = u64::MAX as i128;

/// One entry. Whole numbers stay exact; everything else is an `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// Always within `INT_MIN..=INT_MAX`; `i128` so arithmetic on it cannot wrap.
    Int(i128),
    /// Always finite.
    Float(f64),
}

impl Num {
    fn parse(entry: &str) -> Result<Num, MathError> {
        if is_integer_syntax(entry) {
            // Digits only, so the sole failure is a value beyond i128.
            return match entry.parse::<i128>() {
                Ok(n) if (INT_MIN..=INT_MAX).contains(&n) => Ok(Num::Int(n)),
                _ => Err(MathError::out_of_range(entry)),
            };
        }
        // Rust's float parser also takes "inf", "NaN" and "infinity": only plain decimals get there.
        let decimal_chars = entry
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
        if !decimal_chars {
            return Err(MathError::not_a_number(entry));
        }
        match entry.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Num::Float(x)),
            Ok(_) => Err(MathError::not_finite(entry)),
            Err(_) => Err(MathError::not_a_number(entry)),
        }
    }
}

/// `[+-]?[0-9]+`
fn is_integer_syntax(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Num {
    /// Canonical text that parses back to the same value and kind: floats always carry a `.` or
    /// an exponent (`2.0`, `1e300`), so they never come back as integers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// A parsed, bounded list of numbers: 1 to [`MAX_NUMBERS`] entries, each an exact whole number in
/// `[i64::MIN, u64::MAX]` or a finite decimal. Holding one means all of that is already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbers(Vec<Num>);

impl Numbers {
    /// Parses the seed's form `"12,5,7"`. Whitespace around entries is ignored; blank entries,
    /// anything that is not a plain decimal number (`abc`, `NaN`, `inf`) and overlong input are
    /// refused with the reason.
    pub fn parse(s: &str) -> Result<Numbers, MathError> {
        if s.len() > MAX_NUMBERS_LEN {
            return Err(MathError::too_long(s.len()));
        }
        if s.trim().is_empty() {
            return Err(MathError::Empty);
        }
        let count = s.split(',').count();
        if count > MAX_NUMBERS {
            return Err(MathError::too_many(count));
        }
        s.split(',')
            .map(str::trim)
            .enumerate()
            .map(|(i, entry)| match entry {
                "" => Err(MathError::EmptyEntry { position: i + 1 }),
                _ => Num::parse(entry),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Numbers)
    }

    /// The canonical comma-separated form, e.g. `"1,2,3"` or `"1.5,-2"`; it parses back to an
    /// equal `Numbers`.
    pub fn as_str(&self) -> String {
        self.to_string()
    }

    /// How many entries; at least 1.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a Numbers is never empty by construction"
    )]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn values(&self) -> &[Num] {
        &self.0
    }
}

impl fmt::Display for Numbers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl FromStr for Numbers {
    type Err = MathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Numbers::parse(s)
    }
}

impl TryFrom<String> for Numbers {
    type Error = MathError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Numbers::parse(&s)
    }
}

impl From<Numbers> for String {
    fn from(n: Numbers) -> String {
        n.as_str()
    }
}

// On the wire a Numbers is its string form, checked on the way in.
impl Serialize for Numbers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Numbers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Numbers::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<Num> {
        Numbers::parse(s).unwrap().values().to_vec()
    }

    #[test]
    fn integers_are_exact_and_decimals_are_floats() {
        assert_eq!(values("12,5,7"), [Num::Int(12), Num::Int(5), Num::Int(7)]);
        assert_eq!(
            values("-3,+4,007"),
            [Num::Int(-3), Num::Int(4), Num::Int(7)]
        );
        assert_eq!(
            values("1.5,1e3,-.5,2."),
            [
                Num::Float(1.5),
                Num::Float(1000.0),
                Num::Float(-0.5),
                Num::Float(2.0)
            ]
        );
        assert_eq!(
            values("18446744073709551615,-9223372036854775808"),
            [Num::Int(INT_MAX), Num::Int(INT_MIN)]
        );
    }

    #[test]
    fn whitespace_around_entries_is_allowed() {
        assert_eq!(
            values(" 1 ,\t2\n, 3 "),
            [Num::Int(1), Num::Int(2), Num::Int(3)]
        );
    }

    #[test]
    fn blank_input_and_blank_entries_are_refused() {
        assert_eq!(Numbers::parse(""), Err(MathError::Empty));
        assert_eq!(Numbers::parse("  \t"), Err(MathError::Empty));
        assert_eq!(
            Numbers::parse("1,,2"),
            Err(MathError::EmptyEntry { position: 2 })
        );
        assert_eq!(
            Numbers::parse("1,2,"),
            Err(MathError::EmptyEntry { position: 3 })
        );
        assert_eq!(
            Numbers::parse(","),
            Err(MathError::EmptyEntry { position: 1 })
        );
    }

    #[test]
    fn things_that_are_not_numbers_are_refused() {
        for bad in [
            "abc", "NaN", "nan", "inf", "-inf", "Infinity", "1.2.3", "1e", "e5", "--1", "+-1",
            "1_000", "0x10", "1 2", "½", "-", "+", ".",
        ] {
            assert_eq!(
                Numbers::parse(&format!("1,{bad}")),
                Err(MathError::NotANumber(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for big in ["18446744073709551616", "-9223372036854775809"] {
            assert_eq!(Numbers::parse(big), Err(MathError::OutOfRange(big.into())));
        }
        assert!(matches!(
            Numbers::parse(&"9".repeat(MAX_NUMBERS_LEN)),
            Err(MathError::OutOfRange(_))
        ));
        assert_eq!(
            Numbers::parse("1e999"),
            Err(MathError::NotFinite("1e999".into()))
        );
        assert_eq!(
            Numbers::parse("-1e400"),
            Err(MathError::NotFinite("-1e400".into()))
        );
    }

    #[test]
    fn size_limits_hold_at_the_boundary() {
        let hundred = vec!["1"; MAX_NUMBERS].join(",");
        assert_eq!(Numbers::parse(&hundred).unwrap().len(), MAX_NUMBERS);

        let too_many = vec!["1"; MAX_NUMBERS + 1].join(",");
        assert_eq!(
            Numbers::parse(&too_many),
            Err(MathError::TooMany {
                count: 101,
                max: MAX_NUMBERS
            })
        );

        let longest = format!("{:>width$}", "1", width = MAX_NUMBERS_LEN);
        assert_eq!(Numbers::parse(&longest).unwrap().len(), 1);

        let too_long = format!("{:>width$}", "1", width = MAX_NUMBERS_LEN + 1);
        assert_eq!(
            Numbers::parse(&too_long),
            Err(MathError::TooLong {
                len: MAX_NUMBERS_LEN + 1,
                max: MAX_NUMBERS_LEN
            })
        );
        // The length check comes first, so huge garbage is never scanned.
        let huge = "x,".repeat(1_000_000);
        assert!(matches!(
            Numbers::parse(&huge),
            Err(MathError::TooLong { .. })
        ));
    }

    #[test]
    fn canonical_form_parses_back_to_the_same_numbers() {
        for input in [
            "1,2,3",
            " 007 , +5,-0",
            "1.5,2.0,-0.0",
            "1e300,1e-300,123456789.125",
            "0.1,1e16,1e17,5e-324",
            "18446744073709551615,-9223372036854775808,1.7976931348623157e308",
        ] {
            let numbers = Numbers::parse(input).unwrap();
            let canonical = numbers.as_str();
            assert_eq!(Numbers::parse(&canonical).unwrap(), numbers, "{canonical}");
            assert_eq!(numbers.as_str(), canonical);
        }
        assert_eq!(Numbers::parse(" 007 , +5,-0").unwrap().as_str(), "7,5,0");
        assert_eq!(
            Numbers::parse("1.50,2.0,1e3").unwrap().as_str(),
            "1.5,2.0,1000.0"
        );
    }

    #[test]
    fn serde_uses_the_string_form_and_checks_it() {
        let numbers: Numbers = serde_json::from_str("\"1, 2 ,3\"").unwrap();
        assert_eq!(serde_json::to_string(&numbers).unwrap(), "\"1,2,3\"");
        let err = serde_json::from_str::<Numbers>("\"1,abc\"").unwrap_err();
        assert!(err.to_string().contains("\"abc\" is not a number"), "{err}");
        assert!(serde_json::from_str::<Numbers>("12").is_err());
    }
}
