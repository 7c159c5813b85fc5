//! `add`, `subtract`, `multiply` and `divide`: exact on whole numbers, `f64` once a decimal appears.

use serde_json::Value;

use crate::numbers::{Num, INT_MAX, INT_MIN};
use crate::{MathError, MathMethod};

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

fn integer(method: MathMethod, nums: &[i128]) -> Result<Value, MathError> {
    let (&first, rest) = nums.split_first().ok_or(MathError::Empty)?;
    let exact = match method {
        // Inputs are 64-bit and at most MAX_NUMBERS of them, so i128 sums cannot wrap; checked anyway.
        MathMethod::Add => nums.iter().try_fold(0i128, |acc, &n| acc.checked_add(n)),
        MathMethod::Subtract => rest.iter().try_fold(first, |acc, &n| acc.checked_sub(n)),
        MathMethod::Multiply => product(nums),
        MathMethod::Divide => return integer_divide(first, rest),
        MathMethod::Factors => unreachable!("factors is not arithmetic"),
    };
    exact.ok_or(MathError::Overflow).and_then(int_value)
}

/// The exact product, or `None` if it leaves i128.
fn product(nums: &[i128]) -> Option<i128> {
    // A zero makes the product 0 even where a partial product would have overflowed. Without
    // zeros every |factor| >= 1, so once a partial product overflows the full one does too.
    if nums.contains(&0) {
        return Some(0);
    }
    nums.iter().try_fold(1i128, |acc, &n| acc.checked_mul(n))
}

/// `first / (rest[0] * rest[1] * …)`: an integer when it divides exactly, else the nearest f64.
fn integer_divide(first: i128, rest: &[i128]) -> Result<Value, MathError> {
    if rest.contains(&0) {
        return Err(MathError::DivisionByZero);
    }
    match product(rest) {
        Some(divisor) if first % divisor == 0 => int_value(first / divisor),
        // Both below 2^127: one rounding each, then one for the quotient.
        Some(divisor) => float_value(first as f64 / divisor as f64),
        // |divisor| > 2^127 > |first|: never exact. Dividing step by step cannot overflow f64.
        None => float_value(
            rest.iter()
                .fold(first as f64, |acc, &divisor| acc / divisor as f64),
        ),
    }
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

/// A JSON integer, as i64 when negative and u64 otherwise.
fn int_value(n: i128) -> Result<Value, MathError> {
    if !(INT_MIN..=INT_MAX).contains(&n) {
        return Err(MathError::Overflow);
    }
    Ok(match i64::try_from(n) {
        Ok(small) => Value::from(small),
        // In range and not an i64, so it is a u64 above i64::MAX.
        Err(_) => Value::from(n as u64),
    })
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
    fn integer_results_are_exact_up_to_u64_max() {
        assert_eq!(
            run(Multiply, "4294967296,4294967295"),
            Ok(json!(18446744069414584320u64))
        );
        // 2^53 + 1 is where f64 would start rounding.
        assert_eq!(
            run(Add, "9007199254740992,1"),
            Ok(json!(9007199254740993u64))
        );
        assert_eq!(run(Add, "18446744073709551614,1"), Ok(json!(u64::MAX)));
        assert_eq!(run(Subtract, "-9223372036854775807,1"), Ok(json!(i64::MIN)));
        assert_eq!(
            run(Multiply, "-9223372036854775808,-1"),
            Ok(json!(9223372036854775808u64))
        );
        // Out of range halfway through, back in range at the end.
        assert_eq!(
            run(Add, "18446744073709551615,5,-9"),
            Ok(json!(u64::MAX - 4))
        );
    }

    #[test]
    fn integer_results_beyond_64_bits_overflow() {
        assert_eq!(run(Add, "18446744073709551615,1"), Err(MathError::Overflow));
        assert_eq!(
            run(Subtract, "-9223372036854775808,1"),
            Err(MathError::Overflow)
        );
        assert_eq!(
            run(Multiply, "4294967296,4294967296"),
            Err(MathError::Overflow)
        );
        // Far beyond i128 on the way: still an answer, not a panic.
        let huge = many("18446744073709551615", 95);
        assert_eq!(run(Multiply, &huge), Err(MathError::Overflow));
        assert_eq!(run(Add, &huge), Err(MathError::Overflow));
    }

    #[test]
    fn a_zero_factor_wins_over_overflow() {
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
            Ok(json!(9223372036854775808u64))
        );
        assert_eq!(run(Divide, "0,5"), Ok(json!(0)));
        // The divisor leaves i128: the tiny quotient is still a finite float.
        let divisors = many("18446744073709551615", 94);
        assert_eq!(run(Divide, &format!("1,{divisors}")), Ok(json!(0.0)));
        assert_eq!(
            run(Divide, "1,18446744073709551615,18446744073709551615"),
            Ok(json!(1.0 / 18446744073709551615.0 / 18446744073709551615.0))
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
