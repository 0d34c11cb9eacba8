//! Byte sizes: Kubernetes quantities rounded down to whole bytes, AIS size strings
//! (`"256mb"`, `"1GiB"`), and the canonical rendering of a byte count as a quantity.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a size could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No size is given where one is needed.
    #[error("a size is required (mounts without useHostPath need one for their PVC)")]
    Missing,
    /// The text is not a number followed by a known suffix.
    #[error("{0:?} is not a size (a number followed by a unit such as Gi, G, MiB)")]
    Malformed(String),
    /// The size is negative.
    #[error("{0:?} is negative")]
    Negative(String),
    /// The size does not fit into 64 bits.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Splits `"1.5Gi"` into the digits without the dot (`15`), the number of fraction digits
/// (`1`) and the suffix (`"Gi"`).
fn split_number(text: &str) -> Result<(u128, u32, &str), SizeError> {
    let malformed = || SizeError::Malformed(text.to_string());
    let trimmed = text.trim();
    let unsigned = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if unsigned.starts_with('-') {
        return Err(SizeError::Negative(text.to_string()));
    }
    let end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return Err(malformed());
    }
    let digits = format!("{int_part}{frac_part}");
    let mantissa: u128 = digits
        .parse()
        .map_err(|_| SizeError::TooLarge(text.to_string()))?;
    let scale = u32::try_from(frac_part.len()).map_err(|_| malformed())?;
    Ok((mantissa, scale, suffix))
}

/// `mantissa / 10^scale * num / den`, rounded down, checked to fit an `i64`.
fn floor_scaled(
    text: &str,
    mantissa: u128,
    scale: u32,
    num: u128,
    den: u128,
) -> Result<u64, SizeError> {
    let too_large = || SizeError::TooLarge(text.to_string());
    let ten_scale = 10u128.checked_pow(scale).ok_or_else(too_large)?;
    let top = mantissa.checked_mul(num).ok_or_else(too_large)?;
    let bottom = ten_scale.checked_mul(den).ok_or_else(too_large)?;
    let value = top / bottom;
    let value = u64::try_from(value).map_err(|_| too_large())?;
    if value > i64::MAX as u64 {
        return Err(too_large());
    }
    Ok(value)
}

/// The bytes of a Kubernetes quantity (`10Gi`, `1.5G`, `100M`, `1e9`), rounded down.
pub fn quantity_bytes(quantity: &Quantity) -> Result<u64, SizeError> {
    let text = quantity.0.as_str();
    let (mantissa, scale, suffix) = split_number(text)?;
    let (num, den) = suffix_ratio(text, suffix)?;
    floor_scaled(text, mantissa, scale, num, den)
}

/// What a quantity suffix multiplies by, as `num / den`: binary (`Ki` … `Ei`), decimal (`n` …
/// `E`) or a decimal exponent (`e3`, `E-2`).
fn suffix_ratio(text: &str, suffix: &str) -> Result<(u128, u128), SizeError> {
    let binary = |power: u32| (1024u128.pow(power), 1u128);
    Ok(match suffix {
        "" => (1, 1),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1_000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..]
                .parse()
                .map_err(|_| SizeError::Malformed(text.to_string()))?;
            let pow = 10u128
                .checked_pow(e.unsigned_abs())
                .ok_or_else(|| SizeError::TooLarge(text.to_string()))?;
            if e >= 0 { (pow, 1) } else { (1, pow) }
        }
        _ => return Err(SizeError::Malformed(text.to_string())),
    })
}

/// A quantity's value in thousandths, rounded up as the API server rounds (so `1000m`, `1`
/// and `1e3m` are equal, and so are `1024Mi` and `1Gi`); `None` when it is not a quantity.
pub fn quantity_millis(quantity: &Quantity) -> Option<u128> {
    let text = quantity.0.as_str();
    let (mantissa, scale, suffix) = split_number(text).ok()?;
    let (num, den) = suffix_ratio(text, suffix).ok()?;
    let top = mantissa.checked_mul(num)?.checked_mul(1000)?;
    let bottom = 10u128.checked_pow(scale)?.checked_mul(den)?;
    Some(top.div_ceil(bottom))
}

/// The bytes of an AIS size string (`cos.ParseSize` with IEC units): `"256mb"`, `"1GiB"`,
/// `"4m"`, `"1024"`. AIS reads every unit as a power of 1024, whatever its spelling.
pub fn ais_size_bytes(text: &str) -> Result<u64, SizeError> {
    let (mantissa, scale, suffix) = split_number(text)?;
    let unit = suffix.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b'));
    let power = match unit.unwrap_or(suffix.trim()) {
        "" => 0,
        "k" | "K" => 1,
        "m" | "M" => 2,
        "g" | "G" => 3,
        "t" | "T" => 4,
        "p" | "P" => 5,
        "e" | "E" => 6,
        _ => return Err(SizeError::Malformed(text.to_string())),
    };
    floor_scaled(text, mantissa, scale, 1024u128.pow(power), 1)
}

/// How Kubernetes prints a quantity, taken from the suffix it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityFormat {
    /// Powers of 1024 (`Ki`, `Mi`, `Gi`, …).
    BinarySi,
    /// Powers of 1000 (`k`, `M`, `G`, …) or no suffix.
    DecimalSi,
    /// Exponent notation (`1e9`).
    DecimalExponent,
}

/// The format of a quantity as written: binary suffix, exponent, or decimal.
pub fn quantity_format(quantity: &Quantity) -> QuantityFormat {
    let text = quantity.0.trim();
    let suffix =
        text.trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'));
    if suffix.len() == 2 && suffix.ends_with('i') {
        QuantityFormat::BinarySi
    } else if suffix.starts_with(['e', 'E']) {
        QuantityFormat::DecimalExponent
    } else {
        QuantityFormat::DecimalSi
    }
}

/// The largest exponent `k` (up to `max`) with `value % base^k == 0`, and `value / base^k`.
fn strip_powers(value: u64, base: u64, max: u32) -> (u64, u32) {
    let mut value = value;
    let mut k = 0;
    while k < max && value != 0 && value.is_multiple_of(base) {
        value /= base;
        k += 1;
    }
    (value, k)
}

/// A whole byte count as Kubernetes canonically prints it in `format` (what
/// `resource.NewQuantity(bytes, format)` serializes to): `10Gi`, `100G`, `1e9`, `1536`.
pub fn bytes_quantity_as(bytes: u64, format: QuantityFormat) -> Quantity {
    const BINARY: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    const DECIMAL: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let decimal = |bytes: u64| {
        let (m, k) = strip_powers(bytes, 1000, 6);
        format!("{m}{}", DECIMAL.get(k as usize).copied().unwrap_or(""))
    };
    let text = match format {
        // Below 1024 a binary quantity prints in decimal form.
        QuantityFormat::BinarySi if bytes >= 1024 => {
            let (m, k) = strip_powers(bytes, 1024, 6);
            if k == 0 {
                decimal(bytes)
            } else {
                format!("{m}{}", BINARY.get(k as usize).copied().unwrap_or(""))
            }
        }
        QuantityFormat::BinarySi | QuantityFormat::DecimalSi => decimal(bytes),
        QuantityFormat::DecimalExponent => {
            let (m, k) = strip_powers(bytes, 1000, 6);
            if k == 0 {
                m.to_string()
            } else {
                format!("{m}e{}", 3 * k)
            }
        }
    };
    Quantity(text)
}

/// A byte count as a binary (`BinarySI`) quantity.
pub fn bytes_quantity(bytes: u64) -> Quantity {
    bytes_quantity_as(bytes, QuantityFormat::BinarySi)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {

    #[test]
    fn millis_equal_for_equal_values() {
        let m = |s: &str| quantity_millis(&Quantity(s.into()));
        assert_eq!(m("1000m"), m("1"));
        assert_eq!(m("1024Mi"), m("1Gi"));
        assert_eq!(m("1e3"), m("1k"));
        assert_eq!(m("0.5"), Some(500));
        assert_eq!(
            m("100u"),
            Some(1),
            "rounded up to the milli, as the API server does"
        );
        assert_ne!(m("1500m"), m("1"));
        assert_eq!(m("lots"), None);
    }
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    #[test]
    fn quantities_round_down_to_whole_bytes() {
        assert_eq!(quantity_bytes(&q("10Gi")), Ok(10 * 1024 * 1024 * 1024));
        assert_eq!(quantity_bytes(&q("1.5Ki")), Ok(1536));
        assert_eq!(quantity_bytes(&q("100G")), Ok(100_000_000_000));
        assert_eq!(quantity_bytes(&q("1500m")), Ok(1));
        assert_eq!(quantity_bytes(&q("1e3")), Ok(1000));
        assert_eq!(quantity_bytes(&q("0.5")), Ok(0));
        assert_eq!(quantity_bytes(&q("123")), Ok(123));
        assert!(quantity_bytes(&q("10Zi")).is_err());
        assert!(quantity_bytes(&q("-1Gi")).is_err());
        assert!(quantity_bytes(&q("Gi")).is_err());
    }

    #[test]
    fn ais_sizes_are_binary() {
        assert_eq!(ais_size_bytes("256mb"), Ok(256 << 20));
        assert_eq!(ais_size_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(ais_size_bytes("4m"), Ok(4 << 20));
        assert_eq!(ais_size_bytes("1024"), Ok(1024));
        assert_eq!(ais_size_bytes("64KiB"), Ok(64 << 10));
        assert!(ais_size_bytes("ten").is_err());
    }

    #[test]
    fn canonical_rendering() {
        assert_eq!(bytes_quantity(10 << 30).0, "10Gi");
        assert_eq!(bytes_quantity(656 << 20).0, "656Mi");
        assert_eq!(bytes_quantity(1536 << 20).0, "1536Mi");
        assert_eq!(bytes_quantity(1000).0, "1k");
        assert_eq!(bytes_quantity(1536).0, "1536");
        assert_eq!(bytes_quantity(0).0, "0");
        let dec = |b| bytes_quantity_as(b, QuantityFormat::DecimalSi).0;
        assert_eq!(dec(100_000_000_000), "100G");
        assert_eq!(dec(10 << 30), "10737418240");
        assert_eq!(dec(1_500_000), "1500k");
        let exp = |b| bytes_quantity_as(b, QuantityFormat::DecimalExponent).0;
        assert_eq!(exp(1_000_000_000), "1e9");
        assert_eq!(exp(1234), "1234");
    }

    #[test]
    fn format_follows_the_suffix() {
        assert_eq!(quantity_format(&q("10Gi")), QuantityFormat::BinarySi);
        assert_eq!(quantity_format(&q("1.5Ti")), QuantityFormat::BinarySi);
        assert_eq!(quantity_format(&q("100G")), QuantityFormat::DecimalSi);
        assert_eq!(quantity_format(&q("1000")), QuantityFormat::DecimalSi);
        assert_eq!(quantity_format(&q("1e9")), QuantityFormat::DecimalExponent);
    }
}
