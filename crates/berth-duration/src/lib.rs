//! Durations in Go's `time.ParseDuration` format, as Distribution's
//! configuration writes them: `300ms`, `10s`, `5m`, `168h`, `1h30m`, `1.5h`.
//! One parser for every berth crate that reads a setting of this form
//! (the configuration, a storage driver's parameters).
//!
//! ```
//! use std::time::Duration;
//! use berth_duration::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1m30s")?, Duration::from_secs(90));
//! assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
//! # Ok::<(), berth_duration::DurationError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::time::Duration;

/// What [`parse_duration`] could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DurationError {
    message: String,
}

impl DurationError {
    fn new(message: impl Into<String>) -> DurationError {
        DurationError {
            message: message.into(),
        }
    }
}

/// Nanoseconds in one of each unit Go accepts.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a duration the way Go's `time.ParseDuration` does: a sequence of
/// decimal numbers, each with an optional fraction and a unit (`ns`, `us`
/// or `µs`, `ms`, `s`, `m`, `h`), such as `300ms`, `1h30m` or `1.5h`; `0`
/// alone is zero. A leading `+` is accepted; a negative duration is an
/// error, since no setting of the registry takes one.
///
/// ```
/// use std::time::Duration;
/// use berth_duration::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("300ms")?, Duration::from_millis(300));
/// assert!(parse_duration("10").is_err()); // a unit is required
/// # Ok::<(), berth_duration::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let mut rest = text;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(DurationError::new("a negative duration"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::new("an empty duration"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        // The number: digits, optionally a '.' and more digits.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationError::new(format!(
                "expected a number at {after_int:?}"
            )));
        }
        // The unit: everything up to the next digit or '.'.
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, after_unit) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::new(format!(
                "missing unit after {:?}",
                &rest[..rest.len() - after_num.len()]
            )));
        }
        let scale = unit_nanos(unit).ok_or_else(|| {
            DurationError::new(format!("unknown unit {unit:?} (use ns, us, ms, s, m or h)"))
        })?;
        let overflow = || DurationError::new("the duration is too long");
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(overflow)?;
        if !frac_part.is_empty() {
            // Digits beyond nanosecond precision of the largest unit do
            // not change the result; keep at most 20.
            let digits = &frac_part[..frac_part.len().min(20)];
            let frac: u128 = digits.parse().map_err(|_| overflow())?;
            let denom = 10u128.pow(digits.len() as u32);
            part = part
                .checked_add(frac.checked_mul(scale).ok_or_else(overflow)? / denom)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(part).ok_or_else(overflow)?;
        // Go's durations are 64-bit nanoseconds (about 292 years).
        if total > i64::MAX as u128 {
            return Err(overflow());
        }
        rest = after_unit;
    }
    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Writes a duration in the form [`parse_duration`] reads, as short as it
/// goes: `168h`, `1h30m`, `10s`, `1s500ms`, `0s`.
///
/// ```
/// use std::time::Duration;
/// use berth_duration::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
/// ```
pub fn format_duration(duration: Duration) -> String {
    GoDuration(duration).to_string()
}

/// A duration that displays in the form [`parse_duration`] reads (what
/// [`format_duration`] writes), without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        for (unit, scale) in [
            ("h", 3_600_000_000_000u128),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ] {
            let count = nanos / scale;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                nanos %= scale;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        match parse_duration(text) {
            Ok(d) => d,
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse_duration(text) {
            Ok(d) => panic!("{text:?} parsed as {d:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("7us"), Duration::from_micros(7));
        assert_eq!(ok("7\u{b5}s"), Duration::from_micros(7));
        assert_eq!(ok("7\u{3bc}s"), Duration::from_micros(7));
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("168h"), Duration::from_secs(168 * 3600));
    }

    #[test]
    fn parses_sequences_fractions_and_zero() {
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("168h0m0s"), Duration::from_secs(168 * 3600));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(
            ok("2h45m30.5s"),
            Duration::from_millis((2 * 3600 + 45 * 60 + 30) * 1000 + 500)
        );
        assert_eq!(ok("1m1m"), Duration::from_secs(120));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("1.0000000000000000000001h"), Duration::from_secs(3600));
    }

    #[test]
    fn rejects_bad_durations() {
        assert_eq!(err(""), "an empty duration");
        assert_eq!(err("-5s"), "a negative duration");
        assert_eq!(err("10"), "missing unit after \"10\"");
        assert_eq!(err("1h30"), "missing unit after \"30\"");
        assert_eq!(err("5d"), "unknown unit \"d\" (use ns, us, ms, s, m or h)");
        assert_eq!(
            err("5 s"),
            "unknown unit \" s\" (use ns, us, ms, s, m or h)"
        );
        assert_eq!(err("s"), "expected a number at \"s\"");
        assert_eq!(err("."), "expected a number at \".\"");
        assert_eq!(err("1h.m"), "expected a number at \".m\"");
        assert_eq!(err("3000000h"), "the duration is too long");
        assert_eq!(
            err("99999999999999999999999999999999999999999h"),
            "the duration is too long"
        );
    }

    #[test]
    fn formats_back_to_parseable_text() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(168 * 3600), "168h"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_nanos(1_001), "1us1ns"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(ok(text), d);
        }
    }
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
