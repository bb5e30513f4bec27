//! Exact arithmetic in the field Q(√5) = {a + b√5 : a, b ∈ Q}, for the matrices of the
//! icosahedral group (their entries are 0, ±1, ±½, ±φ/2 and ±1/(2φ), with the golden ratio
//! φ = (1 + √5)/2, so φ/2 = (1 + √5)/4 and 1/(2φ) = (√5 − 1)/4).
//!
//! Rationals are reduced fractions of `i64`; every operation checks for overflow (the
//! numbers met in closures of rotation groups have denominators ≤ 16 and numerators ≤ 16,
//! far from it). Converting to f64 rounds once per component: |error| ≤ 2ε·(|a| + |b|√5).

use std::fmt;

/// A reduced fraction n/d with d > 0 (an element of Q).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i64,
    den: i64,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

impl Rational {
    /// n/d, reduced.
    ///
    /// # Panics
    /// If `den == 0`.
    pub fn new(num: i64, den: i64) -> Rational {
        assert!(den != 0, "Rational with denominator 0");
        let g = gcd(num, den).max(1);
        let s = if den < 0 { -1 } else { 1 };
        Rational {
            num: s * num / g,
            den: s * den / g,
        }
    }

    /// The integer n.
    pub fn int(n: i64) -> Rational {
        Rational { num: n, den: 1 }
    }

    /// Numerator (of the reduced fraction).
    pub fn num(self) -> i64 {
        self.num
    }

    /// Denominator (> 0, of the reduced fraction).
    pub fn den(self) -> i64 {
        self.den
    }

    fn add(self, o: Rational) -> Rational {
        let num = self
            .num
            .checked_mul(o.den)
            .and_then(|a| o.num.checked_mul(self.den).and_then(|b| a.checked_add(b)));
        let den = self.den.checked_mul(o.den);
        Rational::new(num.expect("Q(√5) overflow"), den.expect("Q(√5) overflow"))
    }

    fn mul(self, o: Rational) -> Rational {
        let num = self.num.checked_mul(o.num).expect("Q(√5) overflow");
        let den = self.den.checked_mul(o.den).expect("Q(√5) overflow");
        Rational::new(num, den)
    }

    fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

/// An exact element a + b√5 of Q(√5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QSqrt5 {
    /// The rational part a.
    pub a: Rational,
    /// The coefficient b of √5.
    pub b: Rational,
}

impl QSqrt5 {
    /// 0.
    pub const ZERO: QSqrt5 = QSqrt5 {
        a: Rational { num: 0, den: 1 },
        b: Rational { num: 0, den: 1 },
    };
    /// 1.
    pub const ONE: QSqrt5 = QSqrt5 {
        a: Rational { num: 1, den: 1 },
        b: Rational { num: 0, den: 1 },
    };

    /// (a_num + b_num·√5) / den.
    ///
    /// # Panics
    /// If `den == 0`.
    pub fn new(a_num: i64, b_num: i64, den: i64) -> QSqrt5 {
        QSqrt5 {
            a: Rational::new(a_num, den),
            b: Rational::new(b_num, den),
        }
    }

    /// The integer n.
    pub fn int(n: i64) -> QSqrt5 {
        QSqrt5::new(n, 0, 1)
    }

    /// The golden ratio φ = (1 + √5)/2.
    pub fn phi() -> QSqrt5 {
        QSqrt5::new(1, 1, 2)
    }

    /// The nearest-ish f64: a + b·√5 with each part rounded once (|error| ≤ 2ε(|a| + √5|b|)).
    pub fn to_f64(self) -> f64 {
        self.a.to_f64() + self.b.to_f64() * 5f64.sqrt()
    }
}

impl std::ops::Add for QSqrt5 {
    type Output = QSqrt5;
    /// (a + b√5) + (c + d√5) = (a + c) + (b + d)√5.
    fn add(self, o: QSqrt5) -> QSqrt5 {
        QSqrt5 {
            a: self.a.add(o.a),
            b: self.b.add(o.b),
        }
    }
}

impl std::ops::Neg for QSqrt5 {
    type Output = QSqrt5;
    fn neg(self) -> QSqrt5 {
        QSqrt5 {
            a: Rational::new(-self.a.num, self.a.den),
            b: Rational::new(-self.b.num, self.b.den),
        }
    }
}

impl std::ops::Mul for QSqrt5 {
    type Output = QSqrt5;
    /// (a + b√5)(c + d√5) = (ac + 5bd) + (ad + bc)√5.
    fn mul(self, o: QSqrt5) -> QSqrt5 {
        QSqrt5 {
            a: self.a.mul(o.a).add(Rational::int(5).mul(self.b.mul(o.b))),
            b: self.a.mul(o.b).add(self.b.mul(o.a)),
        }
    }
}

impl fmt::Display for QSqrt5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |r: Rational| {
            if r.den == 1 {
                r.num.to_string()
            } else {
                format!("{}/{}", r.num, r.den)
            }
        };
        match (self.a.num, self.b.num) {
            (_, 0) => write!(f, "{}", r(self.a)),
            (0, _) => write!(f, "{}√5", r(self.b)),
            _ => write!(f, "{} + {}√5", r(self.a), r(self.b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_ratio_identities_hold_exactly() {
        let phi = QSqrt5::phi();
        // φ² = φ + 1.
        assert_eq!(phi * phi, phi + QSqrt5::ONE);
        // φ·(φ − 1) = 1.
        assert_eq!(phi * (phi + QSqrt5::int(-1)), QSqrt5::ONE);
        // A wrong identity is detected: φ² ≠ φ.
        assert_ne!(phi * phi, phi);
        assert!((phi.to_f64() - 1.618_033_988_749_895).abs() < 1e-15);
        assert_eq!(QSqrt5::new(2, 4, -4), QSqrt5::new(-1, -2, 2));
        assert_eq!(phi.to_string(), "1/2 + 1/2√5");
    }
}
