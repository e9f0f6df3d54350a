//! `spec.security.certificates` (pure): how long before expiry the generated certificates
//! are renewed, parsed and checked the way the CRD's rule does.

use std::time::Duration;

use super::{Validated, ValidationErrors};
use crate::api::MeshLoggingSpec;

/// How long generated certificates are valid: 3650 days.
pub const CERTIFICATE_VALIDITY: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Renewal before expiry when the spec says nothing: 30 days (`720h`).
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shortest renewal margin accepted: one hour.
pub const MIN_RENEW_BEFORE: Duration = Duration::from_secs(3600);

/// Parses `720h`, `1h30m`, `90s`: hours, minutes and seconds, each optional, in that
/// order, at least one present.
pub fn parse_hms(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        let (rank, seconds) = match rest[digits..].chars().next()? {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return None,
        };
        if rank <= last_unit {
            return None;
        }
        last_unit = rank;
        total = total.checked_add(n.checked_mul(seconds)?)?;
        rest = &rest[digits + 1..];
    }
    Some(Duration::from_secs(total))
}

/// `spec.security.certificates.renewBefore`: a duration of at least an hour and less than
/// the certificates' validity.
pub(super) fn check_renew_before(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) {
    let Some(value) = renew_before_text(spec) else {
        return;
    };
    match parse_hms(value) {
        Some(d) if d >= MIN_RENEW_BEFORE && d < CERTIFICATE_VALIDITY => {}
        Some(_) => errs.push(
            "spec.security.certificates.renewBefore",
            format!("{value:?} must be at least 1h and less than the certificates' validity, 87600h (10 years)"),
        ),
        None => errs.push(
            "spec.security.certificates.renewBefore",
            format!("{value:?} is not a duration of hours, minutes and seconds such as 720h"),
        ),
    }
}

fn renew_before_text(spec: &MeshLoggingSpec) -> Option<&str> {
    spec.security
        .as_ref()?
        .certificates
        .as_ref()?
        .renew_before
        .as_deref()
}

impl Validated {
    /// How long before expiry generated certificates are renewed (default 30 days).
    pub fn certificate_renew_before(&self) -> Duration {
        renew_before_text(&self.spec)
            .and_then(parse_hms)
            .unwrap_or(DEFAULT_RENEW_BEFORE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_of_hours_minutes_seconds() {
        assert_eq!(parse_hms("720h"), Some(DEFAULT_RENEW_BEFORE));
        assert_eq!(parse_hms("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_hms("90s"), Some(Duration::from_secs(90)));
        for bad in ["", "30d", "h", "1m1h", "1h1h", "-1h", "1.5h", "1h "] {
            assert_eq!(parse_hms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn renew_before_is_checked_and_defaulted() {
        let spec = |v: &str| {
            serde_json::from_value::<MeshLoggingSpec>(serde_json::json!({
                "version": "8.15.3",
                "security": {"certificates": {"renewBefore": v}},
            }))
            .expect("spec")
        };
        for (value, ok) in [
            ("720h", true),
            ("1h", true),
            ("87599h", true),
            ("87600h", false),
            ("59m", false),
            ("30d", false),
        ] {
            let mut errs = ValidationErrors::default();
            check_renew_before(&spec(value), &mut errs);
            assert_eq!(errs.0.is_empty(), ok, "{value}: {errs:?}");
            if !ok {
                assert_eq!(errs.0[0].path, "spec.security.certificates.renewBefore");
            }
        }
    }
}
