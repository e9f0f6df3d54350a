//! Elasticsearch's time units (`30d`, `12h`, `0ms`) and byte sizes (`50gb`): the schema
//! patterns that refuse malformed values at admission, and parsers for the checks the
//! schema cannot express (phase ordering); and the value of Kubernetes quantities. Pure.

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
