//! Elasticsearch's time units (`30d`, `12h`, `0ms`) and byte sizes (`50gb`): the schema
//! patterns that refuse malformed values at admission, and parsers for the checks the
//! schema cannot express (phase ordering). Pure.

/// An Elasticsearch time value: a whole number and one of ES's units.
pub const TIME_PATTERN: &str = r"^[0-9]+(d|h|m|s|ms|micros|nanos)$";
/// An Elasticsearch byte size, lowercase units as Elasticsearch prints them.
pub const BYTES_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(b|kb|mb|gb|tb|pb)$";
/// An index or alias name that Elasticsearch accepts: lowercase, none of
/// `\ / * ? " < > | , # :` or space, not starting with `-`, `_`, `+` or `.`.
pub const INDEX_NAME_PATTERN: &str = r#"^[^-_+.A-Z\\/*?"<>| ,#:][^A-Z\\/*?"<>| ,#:]*$"#;
/// A snapshot repository or SLM policy name: the same character rules as index names.
pub const ES_NAME_PATTERN: &str = INDEX_NAME_PATTERN;
/// Elastic Stack versions the operator supports: 8.x and 9.x.
pub const STACK_VERSION_PATTERN: &str = r"^(8|9)\.[0-9]+\.[0-9]+$";
/// A Fluent Bit / Fluentd size (`2M`, `512k`, `1G`).
pub const COLLECTOR_SIZE_PATTERN: &str = r"^[0-9]+[kKmMgG]?$";
/// A Fluent Bit / Fluentd interval in seconds (`5s`, `1m`) or a plain number of seconds.
pub const COLLECTOR_INTERVAL_PATTERN: &str = r"^[0-9]+(s|m|h)?$";
/// A Quartz-style cron expression as SLM takes it: six or seven space-separated fields.
pub const CRON_PATTERN: &str = r"^\S+( \S+){5,6}$";

/// Parses an Elasticsearch time value into milliseconds (`None` when malformed).
pub fn time_to_millis(value: &str) -> Option<u128> {
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = value.split_at(split);
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
    Some(n * factor_nanos / 1_000_000)
}

/// Parses an Elasticsearch byte size into bytes (`None` when malformed).
pub fn bytes(value: &str) -> Option<u128> {
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = value.split_at(split);
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
    // Sizes are far below f64's exact-integer range, so the cast is exact enough.
    Some((n * factor as f64) as u128)
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

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes("50gb"), Some(50 << 30));
        assert_eq!(bytes("1.5kb"), Some(1536));
        assert_eq!(bytes("10"), None);
        assert_eq!(bytes("10GB"), None);
    }
}
