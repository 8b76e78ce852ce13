use crate::error::{ValueError, ValueErrorKind};
use std::fmt;
use std::str::FromStr;

/// A Terraform number: exact for every `i64` and every `f64`, and lossless for
/// decimals neither can hold (Terraform sends those as decimal strings).
///
/// Each number has one canonical form, so equality is numeric equality:
/// `Number::from(2.0) == Number::from(2)`. Note that `f64` values are binary:
/// `Number::from(0.1_f64)` is 0.1000000000000000055511151231257827..., which
/// is not the number Terraform means by `0.1` in a configuration. To echo a
/// configured number back unchanged, keep the `Number` rather than an `f64`.
#[derive(Clone)]
pub struct Number(Repr);

#[derive(Clone, PartialEq)]
enum Repr {
    /// Every whole number within i64.
    Int(i64),
    /// Every other number an f64 holds exactly, including the infinities.
    Float(f64),
    /// Everything else.
    Decimal(Decimal),
}

/// `±digits × 10^exponent`, with no leading or trailing zero digits.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Decimal {
    negative: bool,
    digits: Box<str>,
    exponent: i64,
}

enum Parsed {
    Infinite { negative: bool },
    Finite(Decimal),
    Zero,
}

// Beyond these, no f64 can hold the number exactly, and checking would only cost time.
const MAX_F64_SIGNIFICANT_DIGITS: usize = 767;
const F64_DECIMAL_MAGNITUDES: std::ops::RangeInclusive<i64> = -330..=310;
// Exponents this large can't be real data; clamping keeps the arithmetic from overflowing.
const EXPONENT_LIMIT: i64 = 1_000_000_000_000_000;
// Up to this many zeros are written out; beyond, scientific notation keeps text short.
const MAX_PLAIN_ZEROS: i64 = 64;

fn parse(text: &str) -> Option<Parsed> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if unsigned == "Inf" || unsigned == "inf" {
        return Some(Parsed::Infinite { negative });
    }
    let (mantissa, exponent_text) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.find('.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, ""),
    };
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut exponent = match exponent_text {
        None => 0,
        Some(exponent_text) => parse_exponent(exponent_text)?,
    };
    exponent -= i64::try_from(fraction.len()).ok()?;

    let significant = format!("{whole}{fraction}");
    let significant = significant.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Some(Parsed::Zero);
    }
    exponent += i64::try_from(significant.len() - trimmed.len()).ok()?;
    Some(Parsed::Finite(Decimal {
        negative,
        digits: trimmed.into(),
        exponent,
    }))
}

fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0_i64, |accumulated, digit| {
        (accumulated * 10 + i64::from(digit - b'0')).min(EXPONENT_LIMIT)
    });
    Some(if negative { -magnitude } else { magnitude })
}

impl Decimal {
    fn digit_count(&self) -> i64 {
        i64::try_from(self.digits.len()).unwrap_or(i64::MAX)
    }

    /// The number of digits before the decimal point (negative or zero for
    /// numbers below 0.1 in magnitude).
    fn magnitude(&self) -> i64 {
        self.digit_count().saturating_add(self.exponent)
    }

    fn as_i128(&self) -> Option<i128> {
        if self.exponent < 0 || self.magnitude() > 39 {
            return None;
        }
        let zeros = usize::try_from(self.exponent).ok()?;
        let text = format!(
            "{}{}{}",
            if self.negative { "-" } else { "" },
            self.digits,
            "0".repeat(zeros)
        );
        text.parse().ok()
    }

    fn nearest_f64(&self) -> f64 {
        let sign = if self.negative { "-" } else { "" };
        format!("{sign}{}e{}", self.digits, self.exponent)
            .parse()
            .unwrap_or(f64::NAN)
    }

    fn exact_f64(&self) -> Option<f64> {
        if self.digits.len() > MAX_F64_SIGNIFICANT_DIGITS
            || !F64_DECIMAL_MAGNITUDES.contains(&self.magnitude())
        {
            return None;
        }
        let candidate = self.nearest_f64();
        if !candidate.is_finite() || candidate == 0.0 {
            return None;
        }
        (exact_decimal(candidate)? == *self).then_some(candidate)
    }

    fn canonical(self) -> Number {
        if let Some(whole) = self.as_i128() {
            if let Ok(whole) = i64::try_from(whole) {
                return Number(Repr::Int(whole));
            }
        }
        match self.exact_f64() {
            Some(float) => Number(Repr::Float(float)),
            None => Number(Repr::Decimal(self)),
        }
    }

    fn write(&self, f: &mut impl fmt::Write) -> fmt::Result {
        if self.negative {
            f.write_char('-')?;
        }
        let point = self.magnitude();
        if (0..=MAX_PLAIN_ZEROS).contains(&self.exponent) {
            f.write_str(&self.digits)?;
            for _ in 0..self.exponent {
                f.write_char('0')?;
            }
        } else if self.exponent < 0 && point > 0 {
            let (whole, fraction) = self.digits.split_at(usize::try_from(point).unwrap_or(0));
            write!(f, "{whole}.{fraction}")?;
        } else if self.exponent < 0 && point >= -MAX_PLAIN_ZEROS {
            f.write_str("0.")?;
            for _ in 0..-point {
                f.write_char('0')?;
            }
            f.write_str(&self.digits)?;
        } else {
            let (first, rest) = self.digits.split_at(1);
            f.write_str(first)?;
            if !rest.is_empty() {
                write!(f, ".{rest}")?;
            }
            write!(f, "e{}", point - 1)?;
        }
        Ok(())
    }
}

/// The exact decimal value of a finite, non-zero f64.
fn exact_decimal(float: f64) -> Option<Decimal> {
    // Rust's fixed-precision formatting is exact, and no f64 needs more than
    // 767 significant digits, so this text is the f64's exact value.
    match parse(&format!("{float:.770e}")) {
        Some(Parsed::Finite(decimal)) => Some(decimal),
        _ => None,
    }
}

impl Number {
    /// `None` for NaN, which Terraform numbers cannot be.
    pub fn from_f64(float: f64) -> Option<Number> {
        if float.is_nan() {
            return None;
        }
        // The upper bound is 2^63 itself, which i64 cannot hold.
        let in_i64 = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&float);
        if float.is_finite() && float.trunc() == float && in_i64 {
            Some(Number(Repr::Int(float as i64)))
        } else {
            Some(Number(Repr::Float(float)))
        }
    }

    pub fn from_i128(whole: i128) -> Number {
        match i64::try_from(whole) {
            Ok(whole) => Number(Repr::Int(whole)),
            Err(_) => Number::from_magnitude(whole < 0, whole.unsigned_abs()),
        }
    }

    pub fn from_u128(whole: u128) -> Number {
        Number::from_magnitude(false, whole)
    }

    fn from_magnitude(negative: bool, magnitude: u128) -> Number {
        if magnitude == 0 {
            return Number(Repr::Int(0));
        }
        let text = magnitude.to_string();
        let digits = text.trim_end_matches('0');
        Decimal {
            negative,
            digits: digits.into(),
            exponent: (text.len() - digits.len()) as i64,
        }
        .canonical()
    }

    /// `Some` only for whole numbers within i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            Repr::Int(whole) => Some(whole),
            _ => None,
        }
    }

    /// `Some` only for whole numbers within u64.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|whole| u64::try_from(whole).ok())
    }

    /// `Some` only for whole numbers within i128.
    pub fn as_i128(&self) -> Option<i128> {
        match &self.0 {
            Repr::Int(whole) => Some(i128::from(*whole)),
            Repr::Float(float) => {
                let in_i128 = float.is_finite() && float.abs() < 1.7e38;
                (in_i128 && float.trunc() == *float).then_some(*float as i128)
            }
            Repr::Decimal(decimal) => decimal.as_i128(),
        }
    }

    /// The nearest f64: exact when `is_f64_exact()`, otherwise rounded
    /// (to an infinity for decimals beyond f64's range).
    pub fn as_f64(&self) -> f64 {
        match &self.0 {
            Repr::Int(whole) => *whole as f64,
            Repr::Float(float) => *float,
            Repr::Decimal(decimal) => decimal.nearest_f64(),
        }
    }

    /// Whether `as_f64()` returns exactly this number.
    pub fn is_f64_exact(&self) -> bool {
        match &self.0 {
            Repr::Int(whole) => (*whole as f64) as i128 == i128::from(*whole),
            Repr::Float(_) => true,
            Repr::Decimal(_) => false,
        }
    }

    pub fn is_whole(&self) -> bool {
        match &self.0 {
            Repr::Int(_) => true,
            Repr::Float(float) => float.is_finite() && float.trunc() == *float,
            Repr::Decimal(decimal) => decimal.exponent >= 0,
        }
    }

    pub fn is_infinite(&self) -> bool {
        matches!(self.0, Repr::Float(float) if float.is_infinite())
    }

    /// The exact decimal text of this number (`+Inf`/`-Inf` for infinities),
    /// which `parse` reads back to an equal number. Binary fractions are
    /// written out in full, e.g. `0.1_f64` as
    /// `0.1000000000000000055511151231257827021181583404541015625`.
    pub fn to_exact_string(&self) -> String {
        let mut text = String::new();
        let _ = self.write_exact(&mut text);
        text
    }

    fn write_exact(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match &self.0 {
            Repr::Int(whole) => write!(f, "{whole}"),
            Repr::Float(float) if float.is_infinite() => write_infinity(f, *float),
            Repr::Float(float) => match exact_decimal(*float) {
                Some(exact) => exact.write(f),
                None => write!(f, "{float}"),
            },
            Repr::Decimal(decimal) => decimal.write(f),
        }
    }

    pub(crate) fn kind(&self) -> NumberKind {
        match &self.0 {
            Repr::Int(whole) => NumberKind::Int(*whole),
            Repr::Float(float) => NumberKind::Float(*float),
            Repr::Decimal(_) => NumberKind::Decimal,
        }
    }
}

/// How a number is best put on the wire.
pub(crate) enum NumberKind {
    Int(i64),
    Float(f64),
    Decimal,
}

fn write_infinity(f: &mut impl fmt::Write, float: f64) -> fmt::Result {
    f.write_str(if float > 0.0 { "+Inf" } else { "-Inf" })
}

impl FromStr for Number {
    type Err = ValueError;

    /// Reads decimal text such as `42`, `-1.5e-7`, `.5` or `+Inf`, the forms
    /// Terraform writes numbers in.
    fn from_str(text: &str) -> Result<Number, ValueError> {
        match parse(text) {
            Some(Parsed::Zero) => Ok(Number(Repr::Int(0))),
            Some(Parsed::Infinite { negative }) => Ok(Number(Repr::Float(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }))),
            Some(Parsed::Finite(decimal)) => Ok(decimal.canonical()),
            None => Err(ValueError::new(ValueErrorKind::InvalidNumber(
                text.chars().take(64).collect(),
            ))),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.0 == other.0
    }
}

// NaN is never stored, so equality is reflexive.
impl Eq for Number {}

impl fmt::Display for Number {
    /// Whole numbers up to 39 digits and decimals print exactly; other f64s
    /// print as the shortest decimal that reads back to the same f64 (`0.1`,
    /// not its exact expansion; see `to_exact_string` for that).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Float(float) if float.is_infinite() => write_infinity(f, *float),
            // Whole numbers in the range of Rust's integers print exactly, as integers do.
            Repr::Float(float) if self.is_whole() && float.abs() < 1e39 => self.write_exact(f),
            Repr::Float(float) => match parse(&format!("{float:e}")) {
                Some(Parsed::Finite(shortest)) => shortest.write(f),
                _ => write!(f, "{float}"),
            },
            _ => self.write_exact(f),
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({})", self.to_exact_string())
    }
}

impl From<i64> for Number {
    fn from(whole: i64) -> Number {
        Number(Repr::Int(whole))
    }
}

macro_rules! from_small_integer {
    ($($integer:ty),*) => {$(
        impl From<$integer> for Number {
            fn from(whole: $integer) -> Number {
                Number(Repr::Int(i64::from(whole)))
            }
        }
    )*};
}
from_small_integer!(i8, i16, i32, u8, u16, u32);

impl From<u64> for Number {
    fn from(whole: u64) -> Number {
        Number::from_i128(i128::from(whole))
    }
}

impl From<usize> for Number {
    fn from(whole: usize) -> Number {
        Number::from(whole as u64)
    }
}

impl From<i128> for Number {
    fn from(whole: i128) -> Number {
        Number::from_i128(whole)
    }
}

impl From<u128> for Number {
    fn from(whole: u128) -> Number {
        Number::from_u128(whole)
    }
}

impl From<f64> for Number {
    /// # Panics
    /// On NaN, which is not a number Terraform can hold; use
    /// [`Number::from_f64`] where NaN can occur.
    fn from(float: f64) -> Number {
        Number::from_f64(float).expect("NaN is not a Terraform number")
    }
}

impl From<f32> for Number {
    /// # Panics
    /// On NaN, like `From<f64>`.
    fn from(float: f32) -> Number {
        Number::from(f64::from(float))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Number {
        text.parse().unwrap()
    }

    #[test]
    fn whole_numbers_in_i64_are_ints_whatever_their_spelling() {
        assert_eq!(number("42").as_i64(), Some(42));
        assert_eq!(number("4.2e1").as_i64(), Some(42));
        assert_eq!(number("420e-1").as_i64(), Some(42));
        assert_eq!(number("-0").as_i64(), Some(0));
        assert_eq!(number("0.000").as_i64(), Some(0));
        assert_eq!(Number::from(42.0), Number::from(42));
        assert_eq!(Number::from(-0.0), Number::from(0));
        assert_eq!(number("-9223372036854775808").as_i64(), Some(i64::MIN));
        assert_eq!(number("9223372036854775807").as_i64(), Some(i64::MAX));
    }

    #[test]
    fn binary_fractions_are_floats_and_decimals_stay_decimal() {
        assert_eq!(number("0.5"), Number::from(0.5));
        assert_eq!(number("0.5").as_f64(), 0.5);
        assert!(number("0.5").is_f64_exact());
        // 0.1 has no exact binary form: it must not collapse to the f64 0.1.
        assert_ne!(number("0.1"), Number::from(0.1));
        assert!(!number("0.1").is_f64_exact());
        assert_eq!(number("0.1").as_f64(), 0.1);
        assert_eq!(number("0.1").to_string(), "0.1");
        assert_eq!(
            Number::from(0.1).to_exact_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(
            number("0.1000000000000000055511151231257827021181583404541015625"),
            Number::from(0.1)
        );
    }

    #[test]
    fn numbers_beyond_i64_are_kept_exactly() {
        let beyond = number("18446744073709551615");
        assert_eq!(beyond.as_u64(), Some(u64::MAX));
        assert_eq!(beyond.as_i64(), None);
        assert_eq!(beyond.to_string(), "18446744073709551615");
        assert_eq!(Number::from(u64::MAX), beyond);
        assert_eq!(Number::from(i128::MIN).to_string(), i128::MIN.to_string());
        assert_eq!(Number::from(u128::MAX).to_string(), u128::MAX.to_string());
        assert_eq!(
            Number::from(1u128 << 127).to_string(),
            (1u128 << 127).to_string()
        );
        assert_eq!(
            Number::from(10u128.pow(30)).to_string(),
            "1000000000000000000000000000000"
        );
        // 2^63 is exactly an f64, and must equal the f64 form.
        assert_eq!(number("9223372036854775808"), Number::from(2f64.powi(63)));
        assert_eq!(number("9223372036854775808").as_u64(), Some(1 << 63));
        let huge = number("123456789012345678901234567890.123456789");
        assert_eq!(huge.to_string(), "123456789012345678901234567890.123456789");
    }

    #[test]
    fn extreme_exponents_stay_short_and_exact() {
        let big = number("1.5e1000");
        assert_eq!(big.to_string(), "1.5e1000");
        assert!(big.as_f64().is_infinite());
        assert!(!big.is_infinite());
        assert_eq!(number(&big.to_string()), big);
        let tiny = number("-25e-1001");
        assert_eq!(tiny.to_string(), "-2.5e-1000");
        assert_eq!(
            number("1e999999999999999999999999").to_string(),
            "1e1000000000000000"
        );
    }

    #[test]
    fn display_is_short_and_exact_string_reads_back() {
        assert_eq!(Number::from(1e300).to_string(), "1e300");
        assert_eq!(Number::from(1.5).to_string(), "1.5");
        assert_eq!(Number::from(-0.001).to_string(), "-0.001");
        assert_eq!(Number::from(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(number("-Inf"), Number::from(f64::NEG_INFINITY));
        for float in [1e300, 5e-324, -0.3, f64::MAX, f64::MIN_POSITIVE, 123.456] {
            let exact = Number::from(float).to_exact_string();
            assert_eq!(number(&exact), Number::from(float), "{exact}");
        }
    }

    #[test]
    fn rejects_text_that_is_not_a_number() {
        for text in [
            "", "-", ".", "1e", "1e+", "0x10", "1.2.3", "abc", "NaN", "1 ", "--1", "∞",
        ] {
            let error = text.parse::<Number>().unwrap_err();
            assert!(
                matches!(error.kind(), ValueErrorKind::InvalidNumber(_)),
                "{text:?}: {error}"
            );
        }
        assert_eq!(Number::from_f64(f64::NAN), None);
    }

    #[test]
    fn whole_number_range_checks() {
        assert_eq!(number("1e20").as_i128(), Some(100_000_000_000_000_000_000));
        assert_eq!(number("1e40").as_i128(), None);
        assert_eq!(number("1.5").as_i128(), None);
        assert!(number("1e20").is_whole());
        assert!(!number("1.5").is_whole());
        assert_eq!(Number::from(-1).as_u64(), None);
    }
}
