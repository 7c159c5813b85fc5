//! `add`, `subtract`, `multiply` and `divide`: exact on whole numbers at any size (big
//! integers), `f64` once a decimal appears.

use num_bigint::BigInt;
use num_traits::{ToPrimitive, Zero};
use serde_json::Value;

use crate::numbers::Num;
use crate::{wire, MathError, MathMethod};

/// The four arithmetic methods on a non-empty list. `Factors` is not arithmetic and is refused
/// by the caller before this is reached.
pub(crate) fn compute(method: MathMethod, nums: &[Num]) -> Result<Value, MathError> {
    let ints: Option<Vec<i128>> = nums
        .iter()
        .map(|n| match *n {
            Num::Int(i) => Some(i),
            Num::Float(_) => None,
        })
        .collect();
    match ints {
        Some(ints) => integer(method, &ints),
        None => {
            let floats: Vec<f64> = nums.iter().map(to_f64).collect();
            float(method, &floats)
        }
    }
}

fn to_f64(n: &Num) -> f64 {
    match *n {
        Num::Int(i) => i as f64,
        Num::Float(x) => x,
    }
}

/// Inputs are bounded (at most 100 numbers of 64 bits), so an exact result has at most
/// 6400 bits: computing it is always cheap.
fn integer(method: MathMethod, nums: &[i128]) -> Result<Value, MathError> {
    let (&first, rest) = nums.split_first().ok_or(MathError::Empty)?;
    let exact: BigInt = match method {
        MathMethod::Add => nums.iter().map(|&n| BigInt::from(n)).sum(),
        MathMethod::Subtract => rest.iter().fold(BigInt::from(first), |acc, &n| acc - n),
        MathMethod::Multiply => product(nums),
        MathMethod::Divide => return integer_divide(first, rest),
        MathMethod::Factors => unreachable!("factors is not arithmetic"),
    };
    Ok(wire::integer(&exact))
}

fn product(nums: &[i128]) -> BigInt {
    nums.iter().map(|&n| BigInt::from(n)).product()
}

/// `first / (rest[0] * rest[1] * …)`: an exact integer when it divides, else the nearest f64.
fn integer_divide(first: i128, rest: &[i128]) -> Result<Value, MathError> {
    if rest.contains(&0) {
        return Err(MathError::DivisionByZero);
    }
    let dividend = BigInt::from(first);
    let divisor = product(rest);
    if (&dividend % &divisor).is_zero() {
        return Ok(wire::integer(&(dividend / divisor)));
    }
    // `first` has at most 64 bits, so it is a finite f64; the divisor may not be.
    let quotient = match divisor.to_f64().filter(|d| d.is_finite()) {
        Some(divisor) => first as f64 / divisor,
        // |divisor| > 2^1024: divide step by step so a tiny quotient is not flushed to zero early.
        None => rest
            .iter()
            .fold(first as f64, |acc, &divisor| acc / divisor as f64),
    };
    float_value(quotient)
}

fn float(method: MathMethod, nums: &[f64]) -> Result<Value, MathError> {
    let (&first, rest) = nums.split_first().ok_or(MathError::Empty)?;
    let result = match method {
        MathMethod::Add => nums.iter().sum(),
        MathMethod::Subtract => rest.iter().fold(first, |acc, &x| acc - x),
        MathMethod::Multiply => nums.iter().product(),
        MathMethod::Divide => {
            if rest.contains(&0.0) {
                return Err(MathError::DivisionByZero);
            }
            rest.iter().fold(first, |acc, &x| acc / x)
        }
        MathMethod::Factors => unreachable!("factors is not arithmetic"),
    };
    float_value(result)
}

fn float_value(x: f64) -> Result<Value, MathError> {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .ok_or(MathError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Numbers;
    use num_bigint::BigInt;
    use serde_json::json;

    fn run(method: MathMethod, numbers: &str) -> Result<Value, MathError> {
        compute(method, Numbers::parse(numbers).unwrap().values())
    }

    use MathMethod::*;

    /// `count` copies of `n`, comma-separated.
    fn many(n: &str, count: usize) -> String {
        vec![n; count].join(",")
    }

    #[test]
    fn seed_examples() {
        assert_eq!(run(Add, "1,2,3"), Ok(json!(6)));
        assert_eq!(run(Multiply, "2,3,4"), Ok(json!(24)));
        assert_eq!(run(Divide, "8,2"), Ok(json!(4)));
    }

    #[test]
    fn subtract_starts_from_the_first_number() {
        // The seed computed 0 - 10 - 3 = -13.
        assert_eq!(run(Subtract, "10,3"), Ok(json!(7)));
        assert_eq!(run(Subtract, "10,3,2,-5"), Ok(json!(10)));
        assert_eq!(run(Subtract, "4"), Ok(json!(4)));
    }

    #[test]
    fn single_numbers_are_their_own_result() {
        for method in [Add, Subtract, Multiply, Divide] {
            assert_eq!(run(method, "-42"), Ok(json!(-42)), "{method}");
        }
    }

    #[test]
    fn integer_results_are_exact_at_any_size() {
        assert_eq!(
            run(Add, "9007199254740990,1"),
            Ok(json!(9007199254740991u64))
        );
        // Beyond 2^53 - 1 a JavaScript number would round, so the digits travel as a string.
        assert_eq!(
            run(Add, "9007199254740992,1"),
            Ok(json!("9007199254740993"))
        );
        assert_eq!(
            run(Multiply, "4294967296,4294967295"),
            Ok(json!("18446744069414584320"))
        );
        assert_eq!(
            run(Multiply, "99999999999,99999999999"),
            Ok(json!("9999999999800000000001"))
        );
        assert_eq!(
            run(Add, "18446744073709551615,1"),
            Ok(json!("18446744073709551616"))
        );
        assert_eq!(
            run(Subtract, "-9223372036854775808,1"),
            Ok(json!("-9223372036854775809"))
        );
        assert_eq!(
            run(Multiply, "-9223372036854775808,-1"),
            Ok(json!("9223372036854775808"))
        );
        assert_eq!(
            run(
                Add,
                "18446744073709551615,5,-9223372036854775808,-9223372036854775808"
            ),
            Ok(json!(4))
        );
        // About the largest product the input bounds allow (2000 bytes): (2^64 - 1)^95.
        let max = many("18446744073709551615", 95);
        let expected = (0..95).fold(BigInt::from(1), |acc, _| acc * u64::MAX);
        assert_eq!(run(Multiply, &max), Ok(json!(expected.to_string())));
        assert_eq!(expected.to_string().len(), 1831);
        let sum = BigInt::from(u64::MAX) * 95u32;
        assert_eq!(run(Add, &max), Ok(json!(sum.to_string())));
    }

    #[test]
    fn a_zero_factor_makes_the_product_zero() {
        let huge = many("18446744073709551615", 94);
        assert_eq!(run(Multiply, &format!("{huge},0")), Ok(json!(0)));
    }

    #[test]
    fn division_is_exact_when_it_can_be() {
        assert_eq!(run(Divide, "7,2"), Ok(json!(3.5)));
        assert_eq!(run(Divide, "100,5,2"), Ok(json!(10)));
        assert_eq!(run(Divide, "7,2,2"), Ok(json!(1.75)));
        assert_eq!(run(Divide, "-9,3"), Ok(json!(-3)));
        assert_eq!(run(Divide, "1,3"), Ok(json!(1.0 / 3.0)));
        assert_eq!(
            run(Divide, "-9223372036854775808,-1"),
            Ok(json!("9223372036854775808"))
        );
        assert_eq!(
            run(Divide, "18446744073709551615,3"),
            Ok(json!("6148914691236517205"))
        );
        // Not divisible, and past 2^53: the nearest float, as for any inexact quotient.
        assert_eq!(
            run(Divide, "18446744073709551615,2"),
            Ok(json!(18446744073709551615.0 / 2.0))
        );
        assert_eq!(run(Divide, "0,5"), Ok(json!(0)));
        // The divisor leaves f64: the tiny quotient is still a finite float.
        let divisors = many("18446744073709551615", 94);
        assert_eq!(run(Divide, &format!("1,{divisors}")), Ok(json!(0.0)));
        assert_eq!(
            run(Divide, "1,18446744073709551615,18446744073709551615"),
            Ok(json!(
                1.0 / (18446744073709551615.0 * 18446744073709551615.0)
            ))
        );
    }

    #[test]
    fn division_by_zero_is_an_error() {
        assert_eq!(run(Divide, "1,0"), Err(MathError::DivisionByZero));
        assert_eq!(run(Divide, "0,0"), Err(MathError::DivisionByZero));
        assert_eq!(run(Divide, "5,2,0"), Err(MathError::DivisionByZero));
        assert_eq!(run(Divide, "5,0.0"), Err(MathError::DivisionByZero));
        assert_eq!(run(Divide, "5.5,-0.0"), Err(MathError::DivisionByZero));
        // Zero first is fine.
        assert_eq!(run(Divide, "0,2.5"), Ok(json!(0.0)));
    }

    #[test]
    fn any_decimal_makes_the_result_a_float() {
        assert_eq!(run(Add, "1.5,2"), Ok(json!(3.5)));
        assert_eq!(run(Add, "0.1,0.2"), Ok(json!(0.1 + 0.2)));
        assert_eq!(run(Subtract, "10,0.5,1"), Ok(json!(8.5)));
        assert_eq!(run(Multiply, "1e3,3"), Ok(json!(3000.0)));
        assert_eq!(run(Divide, "1,4.0"), Ok(json!(0.25)));
        assert_eq!(run(Add, "2.0").unwrap().to_string(), "2.0");
    }

    #[test]
    fn float_results_must_be_finite() {
        assert_eq!(run(Multiply, "1e200,1e200"), Err(MathError::Overflow));
        assert_eq!(run(Add, "1.7e308,1.7e308"), Err(MathError::Overflow));
        assert_eq!(run(Subtract, "-1.7e308,1.7e308"), Err(MathError::Overflow));
        assert_eq!(run(Divide, "1e300,1e-300"), Err(MathError::Overflow));
        assert_eq!(run(Multiply, "1e200,1e-200"), Ok(json!(1e200 * 1e-200)));
    }
}
