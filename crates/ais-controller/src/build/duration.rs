//! Go duration strings (`metav1.Duration`): cert-manager durations are written the way Go
//! prints them (`2160h` → `2160h0m0s`), so the objects equal what the reference applies.

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration such as \"2160h\", \"90m\" or \"1h30m\"")]
pub struct DurationError(pub String);

const NANOS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Nanoseconds of a Go duration string (`1h30m`, `1.5h`, `300ms`). Negative durations are
/// rejected: certificates have none.
pub fn parse_nanos(text: &str) -> Result<u128, DurationError> {
    let err = || DurationError(text.to_string());
    let mut rest = text.trim().strip_prefix('+').unwrap_or(text.trim());
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (number, tail) = rest.split_at(end);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let scale = NANOS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(err)?;
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(err)?;
        if !frac_part.is_empty() {
            let digits = u32::try_from(frac_part.len()).map_err(|_| err())?;
            let frac: u128 = frac_part.parse().map_err(|_| err())?;
            let div = 10u128.checked_pow(digits).ok_or_else(err)?;
            value = value
                .checked_add(frac.checked_mul(scale).ok_or_else(err)? / div)
                .ok_or_else(err)?;
        }
        total = total.checked_add(value).ok_or_else(err)?;
        rest = next;
    }
    if total > i64::MAX as u128 {
        return Err(err());
    }
    Ok(total)
}

/// `whole.fraction` with the fraction's trailing zeros removed.
fn decimal(nanos: u128, unit: u128) -> String {
    let whole = nanos / unit;
    let frac = nanos % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's `time.Duration.String()` of a nanosecond count.
pub fn format_nanos(nanos: u128) -> String {
    const SEC: u128 = 1_000_000_000;
    match nanos {
        0 => "0s".to_string(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", decimal(n, 1_000)),
        n if n < SEC => format!("{}ms", decimal(n, 1_000_000)),
        n => {
            let hours = n / (3600 * SEC);
            let minutes = (n / (60 * SEC)) % 60;
            let seconds = decimal(n % (60 * SEC), SEC);
            if hours > 0 {
                format!("{hours}h{minutes}m{seconds}s")
            } else if minutes > 0 {
                format!("{minutes}m{seconds}s")
            } else {
                format!("{seconds}s")
            }
        }
    }
}

/// A duration string as Go re-prints it (`2160h` → `2160h0m0s`).
pub fn normalize(text: &str) -> Result<String, DurationError> {
    parse_nanos(text).map(format_nanos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn go_formatting() {
        assert_eq!(normalize("2160h").unwrap(), "2160h0m0s");
        assert_eq!(normalize("90m").unwrap(), "1h30m0s");
        assert_eq!(normalize("1h30m").unwrap(), "1h30m0s");
        assert_eq!(normalize("1.5h").unwrap(), "1h30m0s");
        assert_eq!(normalize("45s").unwrap(), "45s");
        assert_eq!(normalize("2m0.5s").unwrap(), "2m0.5s");
        assert_eq!(normalize("300ms").unwrap(), "300ms");
        assert_eq!(normalize("1500us").unwrap(), "1.5ms");
        assert_eq!(normalize("0").unwrap(), "0s");
        assert_eq!(normalize("2160h0m0s").unwrap(), "2160h0m0s");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "10", "h", "10x", "-1h", "1..2h"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }
}
