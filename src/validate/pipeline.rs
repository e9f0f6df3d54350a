//! The pipeline checks' settings: the `LogsFlowing` threshold. Pure.

use std::time::Duration;

use super::ValidationErrors;
use crate::api::IndexSpec;
use crate::api::units::time_to_millis;

/// `spec.index.logsFlowingThreshold` when unset.
pub const DEFAULT_LOGS_FLOWING_THRESHOLD: Duration = Duration::from_secs(600);
/// The shortest threshold: below a minute, refresh and collector flush delays alone
/// would turn the condition False.
pub const MIN_LOGS_FLOWING_THRESHOLD: Duration = Duration::from_secs(60);
/// The longest threshold: the nodes' newest logs are read over the last day.
pub const MAX_LOGS_FLOWING_THRESHOLD: Duration = Duration::from_secs(7 * 24 * 3600);

/// The threshold of `index` (the default when unset, `None` when it does not parse).
pub fn logs_flowing_threshold(index: &IndexSpec) -> Option<Duration> {
    match &index.logs_flowing_threshold {
        None => Some(DEFAULT_LOGS_FLOWING_THRESHOLD),
        Some(t) => {
            time_to_millis(t).map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)))
        }
    }
}

/// Checks `spec.index.logsFlowingThreshold`: a time value within the bounds.
pub fn check_logs_flowing_threshold(index: &IndexSpec, errs: &mut ValidationErrors) {
    let ok = logs_flowing_threshold(index)
        .is_some_and(|t| (MIN_LOGS_FLOWING_THRESHOLD..=MAX_LOGS_FLOWING_THRESHOLD).contains(&t));
    if !ok {
        errs.push(
            "spec.index.logsFlowingThreshold",
            format!(
                "{:?} must be an Elasticsearch time value from 1m to 7d, such as 10m",
                index.logs_flowing_threshold.as_deref().unwrap_or_default()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(t: Option<&str>) -> IndexSpec {
        IndexSpec {
            logs_flowing_threshold: t.map(str::to_string),
            ..IndexSpec::recommended()
        }
    }

    #[test]
    fn the_threshold_defaults_to_ten_minutes_and_is_bounded() {
        assert_eq!(
            logs_flowing_threshold(&index(None)),
            Some(Duration::from_secs(600))
        );
        for (t, ok) in [
            ("1m", true),
            ("2h", true),
            ("7d", true),
            ("30s", false),
            ("8d", false),
            ("x", false),
        ] {
            let mut errs = ValidationErrors::default();
            check_logs_flowing_threshold(&index(Some(t)), &mut errs);
            assert_eq!(errs.0.is_empty(), ok, "{t}: {errs}");
        }
    }
}
