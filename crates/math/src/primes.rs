//! Primality and factoring for any `u64`, fast enough to never stall a request: trial division by
//! small primes, deterministic Miller–Rabin, and Pollard's rho with Brent's cycle finding.

/// Primes below 100. Dividing them out first leaves a cofactor whose prime factors are all >= 101.
const SMALL_PRIMES: [u64; 25] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
];

/// Below 101², a number with no factor under 100 is prime.
const TRIAL_LIMIT: u64 = 101 * 101;

/// The first twelve primes as Miller–Rabin bases decide every n < 3.3·10²⁴, so all of u64
/// (Sorenson & Webster, 2015).
const MR_BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];

/// Whether `n` is prime; exact for every u64.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for p in SMALL_PRIMES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    n < TRIAL_LIMIT || miller_rabin(n)
}

/// The distinct prime factors of `n`, ascending; `[]` for 0 and 1.
pub fn distinct_prime_factors(n: u64) -> Vec<u64> {
    let mut found = Vec::new();
    if n < 2 {
        return found;
    }
    let mut rest = n;
    for p in SMALL_PRIMES {
        if rest.is_multiple_of(p) {
            found.push(p);
            while rest.is_multiple_of(p) {
                rest /= p;
            }
        }
    }
    // Every pending number is > 1, odd and free of factors below 100.
    let mut pending = if rest > 1 { vec![rest] } else { vec![] };
    while let Some(m) = pending.pop() {
        if is_prime(m) {
            found.push(m);
        } else {
            let d = split(m);
            pending.extend([d, m / d]);
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    (u128::from(a) * u128::from(b) % u128::from(m)) as u64
}

fn pow_mod(mut base: u64, mut exp: u64, m: u64) -> u64 {
    let mut acc = 1 % m;
    base %= m;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base, m);
        }
        base = mul_mod(base, base, m);
        exp >>= 1;
    }
    acc
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Strong-probable-prime test to every base in `MR_BASES`; `n` odd and above every base.
fn miller_rabin(n: u64) -> bool {
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'bases: for a in MR_BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// A factor `d` of `n` with `1 < d < n`; `n` must be composite, odd and free of factors below 100.
fn split(n: u64) -> u64 {
    // Each constant is a different pseudo-random map; one that only finds `n` itself is dropped.
    // For a composite some small constant always succeeds, so this ends.
    (1..n)
        .find_map(|c| brent(n, c))
        .expect("a composite number has a non-trivial factor")
}

/// Pollard's rho with Brent's cycle finding on x ↦ x² + c (mod n): a factor, or `None` if this
/// `c` only finds `n` itself.
fn brent(n: u64, c: u64) -> Option<u64> {
    // Differences are multiplied together and their gcd with n taken once per batch.
    const BATCH: u64 = 128;
    let step = |x: u64| {
        let sq = mul_mod(x, x, n);
        // sq + c without overflowing u64, both below n.
        let (sum, wrapped) = sq.overflowing_add(c);
        if wrapped || sum >= n {
            sum.wrapping_sub(n)
        } else {
            sum
        }
    };

    let (mut y, mut x, mut saved) = (2u64, 2u64, 2u64);
    let mut q = 1u64;
    let mut g = 1u64;
    let mut r = 1u64;
    while g == 1 {
        x = y;
        for _ in 0..r {
            y = step(y);
        }
        let mut k = 0;
        while k < r && g == 1 {
            saved = y;
            for _ in 0..BATCH.min(r - k) {
                y = step(y);
                q = mul_mod(q, x.abs_diff(y), n);
            }
            g = gcd(q, n);
            k += BATCH;
        }
        r *= 2;
    }
    if g == n {
        // The batch overshot (its product hit 0 mod n): replay it one step at a time. Some single
        // difference in it shares a prime with n, so this ends within BATCH steps.
        g = 1;
        for _ in 0..BATCH {
            saved = step(saved);
            g = gcd(x.abs_diff(saved), n);
            if g > 1 {
                break;
            }
        }
    }
    (1 < g && g < n).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The reference: plain trial division, too slow for big n but obviously right.
    fn trial_division_factors(mut n: u64) -> Vec<u64> {
        let mut found = Vec::new();
        let mut p = 2;
        while p * p <= n {
            if n.is_multiple_of(p) {
                found.push(p);
                while n.is_multiple_of(p) {
                    n /= p;
                }
            }
            p += 1;
        }
        if n > 1 {
            found.push(n);
        }
        found
    }

    fn trial_division_is_prime(n: u64) -> bool {
        n >= 2
            && (2..)
                .take_while(|p| p * p <= n)
                .all(|p| !n.is_multiple_of(p))
    }

    /// A random prime below 2^bits, found by trial division only.
    fn random_prime(rng: &mut StdRng, bits: u32) -> u64 {
        loop {
            let candidate = rng.random_range(2..1u64 << bits);
            if trial_division_is_prime(candidate) {
                return candidate;
            }
        }
    }

    /// Checks an answer without trusting the code under test: every factor divides n, dividing
    /// them all out fully leaves 1, and factors below 2^32 are prime by trial division.
    fn assert_plausible_factorization(n: u64, factors: &[u64]) {
        assert!(factors.windows(2).all(|w| w[0] < w[1]), "{n}: {factors:?}");
        let mut rest = n;
        for &p in factors {
            assert!(p > 1 && rest.is_multiple_of(p), "{n}: {factors:?}");
            while rest.is_multiple_of(p) {
                rest /= p;
            }
            if p < 1 << 32 {
                assert!(trial_division_is_prime(p), "{n}: {p} is not prime");
            } else {
                // At most one factor of a u64 is this large; check it has no small divisor.
                assert!((2..1 << 16).all(|d| p % d != 0), "{n}: {p} is not prime");
            }
        }
        assert_eq!(rest, 1, "{n}: {factors:?} miss a prime");
    }

    #[test]
    fn matches_trial_division_below_20000() {
        for n in 0..20_000 {
            assert_eq!(distinct_prime_factors(n), trial_division_factors(n), "{n}");
            assert_eq!(is_prime(n), trial_division_is_prime(n), "{n}");
        }
    }

    #[test]
    fn known_answers() {
        assert_eq!(distinct_prime_factors(0), Vec::<u64>::new());
        assert_eq!(distinct_prime_factors(1), Vec::<u64>::new());
        assert_eq!(distinct_prime_factors(12), [2, 3]);
        assert_eq!(distinct_prime_factors(97), [97]);
        assert_eq!(distinct_prime_factors(561), [3, 11, 17]);
        assert_eq!(
            distinct_prime_factors(u64::MAX),
            [3, 5, 17, 257, 641, 65537, 6700417]
        );
        assert_eq!(distinct_prime_factors(1 << 63), [2]);
    }

    #[test]
    fn large_known_primes() {
        let primes = [
            18446744073709551557, // 2^64 - 59, the largest u64 prime
            9223372036854775783,  // 2^63 - 25
            (1 << 61) - 1,        // Mersenne
            4294967291,           // 2^32 - 5
            (1 << 31) - 1,
            1_000_000_007,
            998_244_353,
        ];
        for p in primes {
            assert!(is_prime(p), "{p}");
            assert_eq!(distinct_prime_factors(p), [p]);
        }
    }

    #[test]
    fn pseudoprimes_are_not_primes() {
        // Carmichael numbers and strong pseudoprimes to the first bases.
        let composites = [
            561,
            1105,
            1729,
            2047,
            3215031751,
            2152302898747,
            3474749660383,
            341550071728321,
            3825123056546413051,
            318665857834031151167461, // beyond u64: skipped below
        ];
        for n in composites
            .into_iter()
            .filter_map(|n: u128| u64::try_from(n).ok())
        {
            assert!(!is_prime(n), "{n}");
            let factors = distinct_prime_factors(n);
            assert!(factors.len() > 1, "{n}: {factors:?}");
            assert_plausible_factorization(n, &factors);
        }
        assert_eq!(
            distinct_prime_factors(3825123056546413051),
            [149491, 747451, 34233211]
        );
    }

    #[test]
    fn prime_powers_and_squares_of_large_primes() {
        let p = 4294967291u64;
        assert_eq!(distinct_prime_factors(p * p), [p]);
        assert!(!is_prime(p * p));
        // The largest prime whose cube is a u64.
        let q = (0..=2642245u64)
            .rev()
            .find(|&q| trial_division_is_prime(q))
            .unwrap();
        assert_eq!(distinct_prime_factors(q * q * q), [q]);
        assert_eq!(distinct_prime_factors(3u64.pow(40)), [3]);
        assert_eq!(
            distinct_prime_factors(101 * 101 * 103 * 103 * 103),
            [101, 103]
        );
    }

    #[test]
    fn products_of_two_random_32_bit_primes() {
        let mut rng = StdRng::seed_from_u64(0x6d6f6d);
        for _ in 0..60 {
            let (p, q) = (random_prime(&mut rng, 32), random_prime(&mut rng, 32));
            let mut expected = vec![p, q];
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(distinct_prime_factors(p * q), expected, "{p} * {q}");
        }
    }

    #[test]
    fn products_of_several_random_primes() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let mut n = 1u64;
            let mut expected = Vec::new();
            loop {
                let p = random_prime(&mut rng, 24);
                match n.checked_mul(p) {
                    Some(m) => {
                        n = m;
                        expected.push(p);
                    }
                    None => break,
                }
            }
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(distinct_prime_factors(n), expected, "{n}");
        }
    }

    #[test]
    fn random_u64s_factor_plausibly() {
        let mut rng = StdRng::seed_from_u64(42);
        for _ in 0..300 {
            let n: u64 = rng.random();
            assert_plausible_factorization(n, &distinct_prime_factors(n));
        }
        for n in (u64::MAX - 300)..=u64::MAX {
            assert_plausible_factorization(n, &distinct_prime_factors(n));
        }
    }

    #[test]
    fn the_reference_itself_catches_wrong_answers() {
        // Guards the checker: a missing or composite factor must be noticed.
        let caught = |n: u64, factors: Vec<u64>| {
            std::panic::catch_unwind(|| assert_plausible_factorization(n, &factors)).is_err()
        };
        assert!(caught(561, vec![561]));
        assert!(caught(12, vec![2]));
        assert!(caught(12, vec![2, 3, 4]));
        assert!(!caught(12, vec![2, 3]));
    }
}
