//! Elasticsearch's time units (`30d`, `12h`, `0ms`) and byte sizes (`50gb`): the schema
//! patterns that refuse malformed values at admission, and parsers for the checks the
//! schema cannot express (phase ordering); and the value of Kubernetes quantities. Pure.

/// An Elasticsearch time value: a whole number and one of ES's units.
pub const TIME_PATTERN: &str = r"^[0-9]{1,18}(d|h|m|s|ms|micros|nanos)$";
/// An Elasticsearch byte size, lowercase units as Elasticsearch prints them. Fractions
/// only with a unit above bytes: Elasticsearch parses `3.5b` as a whole number and fails.
pub const BYTES_PATTERN: &str = r"^([0-9]{1,18}b|[0-9]{1,18}(\.[0-9]{1,4})?(kb|mb|gb|tb|pb))$";
/// An index or alias name, spelled positively: lowercase ASCII letters, digits, `.`, `_`
/// and `-`, starting with a letter or digit. A subset of what Elasticsearch accepts, and
/// one that needs no quoting in any configuration format the operator writes (no
/// whitespace, quotes, `$`, `#` or control characters).
pub const INDEX_NAME_PATTERN: &str = r"^[a-z0-9][a-z0-9._-]*$";
/// Longest `index.name`: Elasticsearch names are at most 255 bytes, and the longest name
/// derived from the index is `<name>-deadletter` (11 more); a rolled-over backing index
/// `<name>-NNNNNN` grows by one digit only after 999999 rollovers. 200 leaves room for both.
pub const MAX_INDEX_NAME_LEN: usize = 200;
/// A snapshot repository or SLM policy name: the same positive rule as index names.
pub const ES_NAME_PATTERN: &str = INDEX_NAME_PATTERN;
/// Longest time value, byte size or collector unit string: far more digits than any real
/// value has, and short enough that every parse below is checked arithmetic on small numbers.
pub const MAX_UNIT_LEN: usize = 24;
/// Elastic Stack versions the operator supports: 8.x and 9.x.
pub const STACK_VERSION_PATTERN: &str = r"^(8|9)\.[0-9]+\.[0-9]+$";
/// A Fluent Bit / Fluentd size (`2M`, `512k`, `1G`): at most nine digits, so that no
/// admitted size overflows 64 bits in bytes.
pub const COLLECTOR_SIZE_PATTERN: &str = r"^[0-9]{1,9}[kKmMgG]?$";
/// A Fluent Bit / Fluentd interval in seconds (`5s`, `1m`) or a plain number of seconds.
pub const COLLECTOR_INTERVAL_PATTERN: &str = r"^[0-9]{1,9}(s|m|h)?$";
/// A Quartz cron expression as SLM takes it: seconds, minutes, hours, day of month, month,
/// day of week and an optional year, each from the characters its field allows. Ranges
/// of the numbers are checked by validation.
pub const CRON_PATTERN: &str = r"^[0-9*/,-]+ [0-9*/,-]+ [0-9*/,-]+ [0-9*/,?LW-]+ [0-9A-Za-z*/,-]+ [0-9A-Za-z*/,?L#-]+( [0-9*/,-]+)?$";
/// A Kubernetes object name (DNS-1123 subdomain): Secrets, StorageClasses, IngressClasses.
pub const K8S_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A key of a Secret: letters, digits, `-`, `_` and `.`.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// An SLM snapshot name as Elasticsearch resolves and checks it: a lowercase name, or
/// date math `<prefix-{now/d}>` whose literal parts are lowercase; never `#`, `_` first,
/// spaces or the characters file names may not hold.
pub const SNAPSHOT_NAME_PATTERN: &str = r"^([a-z0-9][a-z0-9._+-]*|<([a-z0-9][a-z0-9._+-]*)?(\{now(([+-][0-9]+|/)[yMwdhHms])*(\{[A-Za-z0-9._:+ -]+\})?\}[a-z0-9._+-]*)+>)$";
/// An index pattern a snapshot takes: index-name characters and `*`, optionally `-` first
/// to exclude, or date math.
pub const INDEX_PATTERN_PATTERN: &str = r"^-?[a-z0-9*<][a-z0-9*._+<>{}/-]*$";

/// Parses an Elasticsearch time value into milliseconds (`None` when malformed).
pub fn time_to_millis(value: &str) -> Option<u128> {
    time_to_nanos(value).map(|n| n / 1_000_000)
}

/// Parses an Elasticsearch time value into nanoseconds, the precision Elasticsearch
/// compares phase ages at (`None` when malformed).
pub fn time_to_nanos(value: &str) -> Option<u128> {
    let (number, unit) = number_and_unit(value, false)?;
    let n: u128 = number.parse().ok()?;
    let factor_nanos: u128 = match unit {
        "nanos" => 1,
        "micros" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor_nanos)
}

/// Parses an Elasticsearch byte size into bytes (`None` when malformed).
pub fn bytes(value: &str) -> Option<u128> {
    let (number, unit) = number_and_unit(value, true)?;
    let n: f64 = number.parse().ok()?;
    let factor: u128 = match unit {
        "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        "pb" => 1 << 50,
        _ => return None,
    };
    // At most MAX_UNIT_LEN digits times 2^50 stays far inside f64's range; the cast
    // saturates rather than wrapping should it ever not.
    let b = n * factor as f64;
    b.is_finite().then_some(b as u128)
}

/// A Fluent Bit / Fluentd size (`2M`, `512k`, `1G`, `100`) in bytes (`None` when malformed
/// or beyond `u64`).
pub fn collector_size(s: &str) -> Option<u64> {
    whole_with_unit(s, &[(b"kK", 1 << 10), (b"mM", 1 << 20), (b"gG", 1 << 30)])
}

/// A Fluent Bit / Fluentd interval, `5s`, `1m`, `2h` or `30` (seconds), in seconds (`None`
/// when malformed or beyond `u64`).
pub fn interval_seconds(s: &str) -> Option<u64> {
    whole_with_unit(s, &[(b"s", 1), (b"m", 60), (b"h", 3600)])
}

/// An Elasticsearch unit value split into its number (digits, and `.` when `decimal`) and
/// its unit (`None` without a unit, or with an empty or overlong number).
fn number_and_unit(value: &str, decimal: bool) -> Option<(&str, &str)> {
    let split = value.find(|c: char| !(c.is_ascii_digit() || (decimal && c == '.')))?;
    let (number, unit) = value.split_at(split);
    (!number.is_empty() && number.len() <= MAX_UNIT_LEN).then_some((number, unit))
}

/// A whole number with an optional one-letter unit among `units` (`(letters, factor)`),
/// times the unit's factor (`None` when malformed or beyond `u64`).
fn whole_with_unit(s: &str, units: &[(&[u8], u64)]) -> Option<u64> {
    let last = s.as_bytes().last()?;
    let (number, factor) = units
        .iter()
        .find(|(letters, _)| letters.contains(last))
        .map_or((s, 1), |(_, factor)| (&s[..s.len() - 1], *factor));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u64>().ok()?.checked_mul(factor)
}

/// The value of a Kubernetes quantity (`4Gi`, `500m`, `1e3`, `2.5G`) in base units.
pub fn quantity_value(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() || number.starts_with('-') {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let v = n * factor;
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_units() {
        assert_eq!(time_to_millis("0ms"), Some(0));
        assert_eq!(time_to_millis("2d"), Some(2 * 86_400_000));
        assert_eq!(time_to_millis("12h"), Some(12 * 3_600_000));
        assert_eq!(time_to_millis("1500micros"), Some(1));
        assert_eq!(time_to_millis("30"), None);
        assert_eq!(time_to_millis("d"), None);
        assert_eq!(time_to_millis("3w"), None);
    }

    /// The issue's repro: `minAge: "9999999999999999999999999d"` overflowed the parser
    /// (a panic in debug builds). Now it is simply not a time value the operator takes.
    #[test]
    fn huge_values_do_not_overflow() {
        assert_eq!(time_to_millis("9999999999999999999999999d"), None);
        assert_eq!(time_to_millis(&format!("{}d", u128::MAX)), None);
        assert_eq!(time_to_millis(&format!("{}nanos", "9".repeat(30))), None);
        assert!(bytes("99999999999999999999pb").is_some_and(|b| b > 0));
        assert_eq!(bytes(&format!("{}pb", "9".repeat(400))), None);
        assert_eq!(collector_size("99999999999999999999k"), None);
        assert_eq!(collector_size("18014398509481984k"), None);
        assert_eq!(collector_size("2M"), Some(2 << 20));
        assert_eq!(collector_size("k"), None);
        assert_eq!(collector_size("+5"), None);
        assert_eq!(interval_seconds("99999999999999999999h"), None);
        assert_eq!(interval_seconds("5124095576030432h"), None);
        assert_eq!(interval_seconds("1m"), Some(60));
        assert_eq!(interval_seconds("s"), None);
    }

    proptest::proptest! {
        /// No string makes a parser panic or overflow; what parses is consistent.
        #[test]
        fn parsers_never_panic(
            s in "[0-9]{0,45}(d|h|m|s|ms|micros|nanos|b|kb|mb|gb|tb|pb|k|K|M|G|Gi|e9|)",
            any in ".{0,40}",
        ) {
            for v in [&s, &any] {
                let _ = time_to_millis(v);
                let _ = bytes(v);
                let _ = collector_size(v);
                let _ = interval_seconds(v);
                let _ = quantity_value(v);
            }
            if let Some(n) = collector_size(&s) {
                proptest::prop_assert!(s.trim_end_matches(char::is_alphabetic).parse::<u64>().is_ok_and(|d| d <= n));
            }
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes("50gb"), Some(50 << 30));
        assert_eq!(bytes("1.5kb"), Some(1536));
        assert_eq!(bytes("10"), None);
        assert_eq!(bytes("10GB"), None);
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_value("4Gi"), Some(4.0 * 1024f64.powi(3)));
        assert_eq!(quantity_value("500m"), Some(0.5));
        assert_eq!(quantity_value("1e3"), Some(1000.0));
        assert_eq!(quantity_value("2.5G"), Some(2.5e9));
        assert_eq!(quantity_value("-1Gi"), None);
        assert_eq!(quantity_value("Gi"), None);
        assert_eq!(quantity_value("1Xi"), None);
    }
}
