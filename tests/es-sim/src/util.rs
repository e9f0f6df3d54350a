//! Small pure helpers: wildcard matching, time and size values, ids, dates,
//! percent-decoding and date-math names. No I/O except reading the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{EsError, EsResult};

/// `*` wildcard match, as Elasticsearch's `Regex.simpleMatch`.
pub fn simple_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.iter().position(|&c| c == b'*') {
            None => p == s,
            Some(0) => {
                let rest = &p[1..];
                if rest.is_empty() {
                    return true;
                }
                (0..=s.len()).any(|i| go(rest, &s[i..]))
            }
            Some(i) => s.len() >= i && p[..i] == s[..i] && go(&p[i..], &s[i..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

pub fn is_pattern(s: &str) -> bool {
    s.contains('*')
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The operator's civil-date conversions (days since 1970-01-01), used by the date
/// formatting and parsing here.
pub use meshlogging_operator::validate::{civil_from_days, days_from_civil};

/// `2024-01-02T03:04:05.678Z`
pub fn format_millis(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

/// Parses `2022-12-31`, `2022-12-31T10:11:12Z`, `2022-12-31T10:11:12.123Z` to epoch millis.
pub fn parse_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    let rest = &s[10..];
    if !rest.is_empty() {
        let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
        let rest = rest.trim_end_matches('Z');
        let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
        let mut parts = hms.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let mi: i64 = parts.next().unwrap_or("0").parse().ok()?;
        let se: i64 = parts.next().unwrap_or("0").parse().ok()?;
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let frac: String = frac
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .take(3)
            .collect();
        let fr: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<3}").parse().ok()?
        };
        ms += h * 3_600_000 + mi * 60_000 + se * 1000 + fr;
    }
    u64::try_from(ms).ok()
}

/// The units of Elasticsearch time values and their length in milliseconds, in the order a
/// suffix is tried (`ms` before `s` and `m`).
pub const TIME_UNITS: [(&str, f64); 7] = [
    ("nanos", 1e-6),
    ("micros", 1e-3),
    ("ms", 1.0),
    ("s", 1000.0),
    ("m", 60_000.0),
    ("h", 3_600_000.0),
    ("d", 86_400_000.0),
];

/// Elasticsearch time value (`10s`, `30d`, `500ms`, `0`, `-1`) in milliseconds.
pub fn parse_time_value(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "-1" {
        return Some(-1);
    }
    if s == "0" {
        return Some(0);
    }
    for (u, f) in TIME_UNITS {
        if let Some(n) = s.strip_suffix(u) {
            if n.is_empty() || n.ends_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let v: f64 = n.parse().ok()?;
            if v < 0.0 {
                return None;
            }
            return Some((v * f) as i64);
        }
    }
    None
}

/// Elasticsearch byte size value (`10b`, `100mb`, `50gb`) in bytes.
pub fn parse_byte_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let units: [(&str, u64); 6] = [
        ("pb", 1 << 50),
        ("tb", 1 << 40),
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("b", 1),
    ];
    for (u, f) in units {
        if let Some(n) = s.strip_suffix(u) {
            let v: f64 = n.trim().parse().ok()?;
            if v < 0.0 {
                return None;
            }
            return Some((v * f as f64) as u64);
        }
    }
    None
}

static RNG: AtomicU64 = AtomicU64::new(0);

/// A fast, non-cryptographic random number (ids only).
pub fn random_u64() -> u64 {
    let mut x = RNG.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RNG.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Random base64url id like Elasticsearch's UUIDs (22 chars for index uuids, 20 for doc ids).
pub fn random_id(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut bits = 0u64;
    let mut left = 0;
    for _ in 0..len {
        if left < 6 {
            bits = random_u64();
            left = 64;
        }
        out.push(B64URL[(bits & 63) as usize] as char);
        bits >>= 6;
        left -= 6;
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query string decoding: `+` means space.
pub fn query_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Resolves a date-math name such as `<logs-{now/d}>` or
/// `<logs_{2022-12-31||/d{yyyy-MM-dd}}>`; other names are returned unchanged.
pub fn resolve_date_math(name: &str, now: u64) -> EsResult<String> {
    let Some(inner) = name.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return Ok(name.to_string());
    };
    let bad = |why: &str| {
        EsError::new(
            400,
            "parse_exception",
            format!("invalid date math expression [{name}]: {why}"),
        )
    };
    let mut out = String::new();
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c != '{' {
            if c == '}' {
                return Err(bad("unexpected '}'"));
            }
            out.push(c);
            i += 1;
            continue;
        }
        // collect until the matching close brace
        let mut depth = 1;
        let mut j = i + 1;
        while j < chars.len() && depth > 0 {
            match chars[j] {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        if depth != 0 {
            return Err(bad("missing '}'"));
        }
        let expr: String = chars[i + 1..j - 1].iter().collect();
        let (math, format) = match expr.find('{') {
            Some(p) => {
                let f = expr[p + 1..].trim_end_matches('}');
                let f = f.split('|').next().unwrap_or(f);
                (&expr[..p], f.to_string())
            }
            None => (expr.as_str(), "yyyy.MM.dd".to_string()),
        };
        let ms = eval_date_math(math, now).ok_or_else(|| bad("cannot evaluate"))?;
        out.push_str(&format_date(ms, &format));
        i = j;
    }
    Ok(out)
}

fn eval_date_math(expr: &str, now: u64) -> Option<u64> {
    let (mut t, ops) = if let Some(rest) = expr.strip_prefix("now") {
        (now as i64, rest)
    } else {
        let (d, rest) = expr.split_once("||").unwrap_or((expr, ""));
        (parse_date(d)? as i64, rest)
    };
    let b: Vec<char> = ops.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let op = b[i];
        i += 1;
        let mut n = String::new();
        while i < b.len() && b[i].is_ascii_digit() {
            n.push(b[i]);
            i += 1;
        }
        let unit = *b.get(i)?;
        i += 1;
        let day = 86_400_000i64;
        let unit_ms = match unit {
            's' => 1000,
            'm' => 60_000,
            'H' | 'h' => 3_600_000,
            'd' => day,
            'w' => 7 * day,
            'M' => 30 * day,
            'y' => 365 * day,
            _ => return None,
        };
        match op {
            '+' | '-' => {
                let k: i64 = if n.is_empty() { 1 } else { n.parse().ok()? };
                if unit == 'M' || unit == 'y' {
                    let secs = t.div_euclid(1000);
                    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
                    let months = if unit == 'y' { k * 12 } else { k };
                    let months = if op == '-' { -months } else { months };
                    let total = y * 12 + (m as i64 - 1) + months;
                    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
                    let rem = t - days_from_civil(y, m, d) * day;
                    t = days_from_civil(ny, nm, d.min(28)) * day + rem;
                } else {
                    t += if op == '-' { -k * unit_ms } else { k * unit_ms };
                }
            }
            '/' => {
                t = match unit {
                    'M' => {
                        let (y, m, _) = civil_from_days(t.div_euclid(day));
                        days_from_civil(y, m, 1) * day
                    }
                    'y' => {
                        let (y, _, _) = civil_from_days(t.div_euclid(day));
                        days_from_civil(y, 1, 1) * day
                    }
                    'w' => {
                        let days = t.div_euclid(day);
                        // 1970-01-01 was a Thursday; weeks start on Monday
                        (days - (days + 3).rem_euclid(7)) * day
                    }
                    _ => t.div_euclid(unit_ms) * unit_ms,
                };
            }
            _ => return None,
        }
    }
    u64::try_from(t).ok()
}

/// Formats with a small subset of Java date patterns (yyyy, MM, dd, HH, mm, ss).
pub fn format_date(ms: u64, pattern: &str) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut out = pattern.to_string();
    for (k, v) in [
        ("yyyy", format!("{y:04}")),
        ("uuuu", format!("{y:04}")),
        ("MM", format!("{mo:02}")),
        ("dd", format!("{d:02}")),
        ("HH", format!("{:02}", rem / 3600)),
        ("mm", format!("{:02}", (rem / 60) % 60)),
        ("ss", format!("{:02}", rem % 60)),
    ] {
        out = out.replace(k, &v);
    }
    out
}

/// Puts a date the way Elasticsearch's responses carry one: `<name>_millis`, and `<name>` as
/// text too when `human`.
pub fn insert_date(
    m: &mut serde_json::Map<String, serde_json::Value>,
    name: &str,
    millis: u64,
    human: bool,
) {
    if human {
        m.insert(name.into(), format_millis(millis).into());
    }
    m.insert(format!("{name}_millis"), millis.into());
}

/// Renders a JSON scalar the way Elasticsearch stores setting values: as a string.
pub fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or an array of strings as a list (other array items skipped; anything else: empty),
/// the way Elasticsearch reads list-valued fields such as `match_mapping_type` or `privileges`.
pub fn string_list(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Lenient boolean as Elasticsearch parses request values.
pub fn parse_bool_value(v: &serde_json::Value) -> Option<bool> {
    match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) if s == "true" => Some(true),
        serde_json::Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard() {
        assert!(simple_match("test_*", "test_index"));
        assert!(simple_match("*2", "test_index_2"));
        assert!(!simple_match("*2", "test_index"));
        assert!(simple_match("*", ""));
        assert!(simple_match("a*b*c", "aXXbYYc"));
        assert!(!simple_match("abc", "abcd"));
    }

    #[test]
    fn dates() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        let ms = parse_date("2022-12-31").expect("date");
        assert_eq!(format_date(ms, "yyyy-MM-dd"), "2022-12-31");
        assert_eq!(
            resolve_date_math("<logs_{2022-12-31||/d{yyyy-MM-dd}}>", 0).expect("math"),
            "logs_2022-12-31"
        );
        assert_eq!(
            resolve_date_math("<logs-{now/d}>", ms + 5000).expect("math"),
            "logs-2022.12.31"
        );
        assert_eq!(
            parse_date("2024-01-02T03:04:05.678Z")
                .map(format_millis)
                .as_deref(),
            Some("2024-01-02T03:04:05.678Z")
        );
    }

    #[test]
    fn values() {
        assert_eq!(parse_time_value("10s"), Some(10_000));
        assert_eq!(parse_time_value("30d"), Some(30 * 86_400_000));
        assert_eq!(parse_time_value("5ms"), Some(5));
        assert_eq!(parse_time_value("x"), None);
        assert_eq!(parse_byte_size("10b"), Some(10));
        assert_eq!(parse_byte_size("100mb"), Some(100 << 20));
        assert_eq!(random_id(22).len(), 22);
        assert_eq!(percent_decode("%3Clogs%7D"), "<logs}");
    }
}
