//! How exact integers travel as JSON. JavaScript's `JSON.parse` reads every number as an `f64`,
//! which holds integers exactly only up to 2^53 − 1; past that a client would show wrong digits.
//! So an integer is a plain JSON number while it is safe (the seed's shape), and a string of its
//! decimal digits beyond (`"18446744069414584320"`). Decimals stay numbers: an `f64` reads back
//! as the same `f64` everywhere.

use num_bigint::BigInt;
use serde_json::Value;

/// `Number.MAX_SAFE_INTEGER`: the largest integer below which every integer is an exact `f64`.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The wire form of an exact integer: a number within ±[`MAX_SAFE_INTEGER`], else a decimal string.
pub fn integer(n: &BigInt) -> Value {
    match i64::try_from(n) {
        Ok(small) if small.abs() <= MAX_SAFE_INTEGER => Value::from(small),
        _ => Value::String(n.to_string()),
    }
}

/// `value` with every integer beyond ±[`MAX_SAFE_INTEGER`] turned into its decimal string, at any
/// depth. For values written before results were lossless (stored rows, older services);
/// applying it twice changes nothing.
pub fn lossless(value: Value) -> Value {
    match value {
        Value::Number(ref n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i.abs() <= MAX_SAFE_INTEGER => value,
            (Some(i), _) => Value::String(i.to_string()),
            (None, Some(u)) => Value::String(u.to_string()),
            // A float: exact as it is.
            (None, None) => value,
        },
        Value::Array(items) => Value::Array(items.into_iter().map(lossless).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, v)| (name, lossless(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn safe_integers_are_numbers_and_larger_ones_strings() {
        let safe = BigInt::from(MAX_SAFE_INTEGER);
        assert_eq!(integer(&safe), json!(9007199254740991i64));
        assert_eq!(integer(&-safe.clone()), json!(-9007199254740991i64));
        assert_eq!(integer(&(safe.clone() + 1)), json!("9007199254740992"));
        assert_eq!(integer(&(-safe - 1)), json!("-9007199254740992"));
        assert_eq!(integer(&BigInt::from(0)), json!(0));
        let big: BigInt = "123456789012345678901234567890".parse().unwrap();
        assert_eq!(integer(&big), json!("123456789012345678901234567890"));
    }

    #[test]
    fn lossless_rewrites_unsafe_integers_at_any_depth() {
        let stored = json!([
            {"method": "multiply", "numbers": "4294967296,4294967295", "result": 18446744069414584320u64},
            {"method": "factors", "numbers": "12", "result": [[2, 3], [18446744073709551557u64]]},
            {"result": -9007199254740993i64},
            {"result": 3.5, "small": 9007199254740991u64},
        ]);
        let expected = json!([
            {"method": "multiply", "numbers": "4294967296,4294967295", "result": "18446744069414584320"},
            {"method": "factors", "numbers": "12", "result": [[2, 3], ["18446744073709551557"]]},
            {"result": "-9007199254740993"},
            {"result": 3.5, "small": 9007199254740991u64},
        ]);
        assert_eq!(lossless(stored), expected);
        assert_eq!(lossless(expected.clone()), expected);
    }
}
