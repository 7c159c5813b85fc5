//! `MathStep`: one step of a math job, checked for its method, and `evaluate` to answer it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::numbers::Num;
use crate::{arith, primes, wire, MathError, MathMethod, Numbers};

/// A method with numbers it can be applied to. [`MathStep::parse`] refuses every step whose
/// evaluation would fail (division by zero, overflow, unfactorable numbers), so a job accepted
/// with parsed steps only fails for reasons outside the math.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct MathStep {
    pub method: MathMethod,
    pub numbers: Numbers,
}

/// The job detail as it arrives: `{"method": "add", "numbers": "1,2"}`.
#[derive(Deserialize)]
struct RawStep {
    method: String,
    numbers: String,
}

impl TryFrom<RawStep> for MathStep {
    type Error = MathError;

    fn try_from(raw: RawStep) -> Result<Self, Self::Error> {
        MathStep::parse(&raw.method, &raw.numbers)
    }
}

impl MathStep {
    /// Parses the method (first, so an unknown method is reported as such), then the numbers,
    /// then checks that the method can be applied to them.
    pub fn parse(method: &str, numbers: &str) -> Result<MathStep, MathError> {
        let step = MathStep {
            method: method.parse()?,
            numbers: Numbers::parse(numbers)?,
        };
        match step.method {
            // Arithmetic is cheap: doing it is the simplest complete check.
            MathMethod::Add | MathMethod::Subtract | MathMethod::Multiply | MathMethod::Divide => {
                arith::compute(step.method, step.numbers.values())?;
            }
            // Factoring always succeeds on valid inputs, so only the inputs are checked.
            MathMethod::Factors => {
                factor_inputs(&step.numbers)?;
            }
        }
        Ok(step)
    }
}

/// The result in the seed's JSON shape: a number for arithmetic, and for `factors` one array of
/// ascending distinct primes per input number (`[[2,3],[97]]`). Integers beyond 2^53 − 1 are
/// decimal strings instead of numbers (see [`wire`](crate::wire)).
///
/// Never fails for a step from [`MathStep::parse`]; the fields are public, so it checks anyway.
pub fn evaluate(step: &MathStep) -> Result<Value, MathError> {
    match step.method {
        MathMethod::Factors => {
            let factors: Vec<Value> = factor_inputs(&step.numbers)?
                .into_iter()
                .map(|n| {
                    primes::distinct_prime_factors(n)
                        .into_iter()
                        .map(|p| wire::integer(&p.into()))
                        .collect()
                })
                .collect();
            Ok(Value::Array(factors))
        }
        method => arith::compute(method, step.numbers.values()),
    }
}

/// The numbers as u64, or the reason one of them has no prime factorization here.
fn factor_inputs(numbers: &Numbers) -> Result<Vec<u64>, MathError> {
    numbers.values().iter().map(factor_input).collect()
}

/// Every other number has one (1 the empty one), but any prime divides zero.
const ZERO: &str = "zero has no prime factorization";

fn factor_input(n: &Num) -> Result<u64, MathError> {
    let refuse = |why: &str| {
        Err(MathError::NotFactorable(format!(
            "cannot factor {n}: {why}"
        )))
    };
    match *n {
        Num::Int(0) => refuse(ZERO),
        Num::Int(i) if i < 0 => refuse("negative numbers have no prime factors"),
        Num::Int(i) => match u64::try_from(i) {
            Ok(u) => Ok(u),
            Err(_) => refuse("it is larger than 18446744073709551615"),
        },
        // A decimal with an integral value is exactly that integer, so it is accepted.
        Num::Float(x) if x.fract() != 0.0 => refuse("it is not a whole number"),
        // Matches -0.0 too: float patterns compare with `==`.
        Num::Float(0.0) => refuse(ZERO),
        Num::Float(x) if x < 0.0 => refuse("negative numbers have no prime factors"),
        // 2^64 is the first float above u64::MAX; `as` would saturate, so refuse it here.
        Num::Float(x) if x >= 18446744073709551616.0 => {
            refuse("it is larger than 18446744073709551615")
        }
        Num::Float(x) => Ok(x as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(method: &str, numbers: &str) -> Result<Value, MathError> {
        evaluate(&MathStep::parse(method, numbers)?)
    }

    #[test]
    fn parse_reports_the_method_before_the_numbers() {
        assert_eq!(
            MathStep::parse("pow", "abc"),
            Err(MathError::UnknownMethod("pow".into()))
        );
        assert_eq!(
            MathStep::parse("add", "abc"),
            Err(MathError::NotANumber("abc".into()))
        );
        assert_eq!(MathStep::parse("add", ""), Err(MathError::Empty));
    }

    #[test]
    fn parse_refuses_steps_that_cannot_be_computed() {
        assert_eq!(
            MathStep::parse("divide", "1,0"),
            Err(MathError::DivisionByZero)
        );
        assert!(MathStep::parse("multiply", "4294967296,4294967296").is_ok());
        assert_eq!(
            MathStep::parse("add", "1e308,1e308"),
            Err(MathError::Overflow)
        );
        assert!(MathStep::parse("divide", "0,1").is_ok());
    }

    #[test]
    fn factors_needs_positive_whole_numbers() {
        let reason = |numbers| match MathStep::parse("factors", numbers) {
            Err(MathError::NotFactorable(why)) => why,
            other => panic!("{numbers}: {other:?}"),
        };
        assert_eq!(
            reason("12,-5"),
            "cannot factor -5: negative numbers have no prime factors"
        );
        assert_eq!(reason("1.5"), "cannot factor 1.5: it is not a whole number");
        assert_eq!(
            reason("0"),
            "cannot factor 0: zero has no prime factorization"
        );
        assert_eq!(
            reason("12,-0.0"),
            "cannot factor -0.0: zero has no prime factorization"
        );
        assert_eq!(
            reason("-2.0"),
            "cannot factor -2.0: negative numbers have no prime factors"
        );
        assert_eq!(
            reason("1e20"),
            "cannot factor 1e20: it is larger than 18446744073709551615"
        );
        assert_eq!(
            reason("18446744073709551616.0"),
            "cannot factor 1.8446744073709552e19: it is larger than 18446744073709551615"
        );
    }

    #[test]
    fn factors_gives_one_list_per_number() {
        assert_eq!(eval("factors", "12,97"), Ok(json!([[2, 3], [97]])));
        assert_eq!(eval("factors", "1,561"), Ok(json!([[], [3, 11, 17]])));
        // Primes beyond 2^53 - 1 are decimal strings, so JavaScript shows every digit.
        assert_eq!(
            eval("factors", "18446744073709551557, 18446744073709551615"),
            Ok(json!([
                ["18446744073709551557"],
                [3, 5, 17, 257, 641, 65537, 6700417]
            ]))
        );
        // Integral decimals are their integer.
        assert_eq!(eval("factors", "1e3,12.0"), Ok(json!([[2, 5], [2, 3]])));
    }

    #[test]
    fn a_full_list_of_hard_numbers_factors_quickly() {
        // Products of two primes near 2^32 are the slowest case for rho; 95 of them fill the
        // length limit.
        let hard = vec!["18446743979220271189"; 95].join(","); // 4294967291 * 4294967279
        let started = std::time::Instant::now();
        let result = eval("factors", &hard).unwrap();
        assert_eq!(result[94], json!([4294967279u64, 4294967291u64]));
        // Generous for an unoptimised build on a busy machine; a regression to trial division
        // would take hours.
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }

    #[test]
    fn arithmetic_goes_through_evaluate() {
        assert_eq!(eval("add", "1,2,3"), Ok(json!(6)));
        assert_eq!(eval("subtract", "10,3"), Ok(json!(7)));
        assert_eq!(
            eval("multiply", "4294967296,4294967295"),
            Ok(json!("18446744069414584320"))
        );
        assert_eq!(eval("divide", "7,2"), Ok(json!(3.5)));
    }

    #[test]
    fn evaluate_rechecks_hand_built_steps() {
        let step = MathStep {
            method: MathMethod::Factors,
            numbers: Numbers::parse("-1").unwrap(),
        };
        assert!(matches!(evaluate(&step), Err(MathError::NotFactorable(_))));
        let step = MathStep {
            method: MathMethod::Divide,
            numbers: Numbers::parse("1,0").unwrap(),
        };
        assert_eq!(evaluate(&step), Err(MathError::DivisionByZero));
    }

    #[test]
    fn job_details_deserialize_into_checked_steps() {
        let step: MathStep =
            serde_json::from_value(json!({"method": "add", "numbers": "1, 2", "result": 3}))
                .unwrap();
        assert_eq!(step.method, MathMethod::Add);
        assert_eq!(step.numbers.as_str(), "1,2");
        assert_eq!(
            serde_json::to_value(&step).unwrap(),
            json!({"method": "add", "numbers": "1,2"})
        );
        let err = serde_json::from_value::<MathStep>(json!({"method": "divide", "numbers": "1,0"}))
            .unwrap_err();
        assert_eq!(err.to_string(), "division by zero");
        assert!(serde_json::from_value::<MathStep>(json!({"method": "add"})).is_err());
    }
}
