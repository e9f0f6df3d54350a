//! Index lifecycle and snapshot schedules: phases in order, and SLM cron expressions as
//! Elasticsearch's Quartz `Cron` reads them (no more often than every 15 minutes). Pure.

use std::collections::BTreeSet;

use super::ValidationErrors;
use crate::api::MeshLoggingSpec;
use crate::api::units::time_to_nanos;

/// Phases must not go back in time: `warm.minAge <= cold.minAge <= delete.minAge`.
pub(super) fn check_lifecycle(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) {
    let l = &spec.lifecycle;
    let phases = [
        ("warm", l.warm.as_ref().map(|p| p.min_age.as_str())),
        ("cold", l.cold.as_ref().map(|p| p.min_age.as_str())),
        ("delete", l.delete.as_ref().map(|p| p.min_age.as_str())),
    ];
    let mut previous: Option<(&str, &str, u128)> = None;
    for (phase, min_age) in phases {
        let Some(min_age) = min_age else { continue };
        let path = format!("spec.lifecycle.{phase}.minAge");
        // Compared at Elasticsearch's precision: 5micros is before 929micros.
        let Some(ns) = time_to_nanos(min_age) else {
            errs.push(
                path,
                format!("{min_age:?} is not a time value such as 2d or 12h"),
            );
            continue;
        };
        if let Some((prev_phase, prev_age, prev_ns)) = previous
            && ns < prev_ns
        {
            errs.push(
                path,
                format!(
                    "{min_age} is earlier than spec.lifecycle.{prev_phase}.minAge ({prev_age}); phases run in order, so warm.minAge <= cold.minAge <= delete.minAge"
                ),
            );
        }
        previous = Some((phase, min_age, ns));
    }
}

/// What the schema's pattern for SLM schedules cannot say: the numbers of each cron field
/// are within its range (Elasticsearch's Quartz `Cron` refuses `0 75 1 * * ?`).
pub(super) fn check_snapshot_policies(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) {
    let Some(snapshots) = &spec.snapshots else {
        return;
    };
    for (i, policy) in snapshots.policies.iter().enumerate() {
        let path = format!("spec.snapshots.policies[{i}].schedule");
        if let Err(why) = check_cron(&policy.schedule) {
            errs.push(path, why);
        } else if cron_more_often_than_15m(&policy.schedule) {
            errs.push(
                path,
                "runs more often than every 15 minutes, which Elasticsearch refuses (its slm.minimum_interval, 15m by default)",
            );
        }
    }
}

/// Whether a (checked) cron expression fires twice within 15 minutes: more than once a
/// minute (the seconds field is not one number), or two minutes of an hour closer than 15
/// (across the hour too when every hour runs). Elasticsearch measures the next two runs.
pub(super) fn cron_more_often_than_15m(expr: &str) -> bool {
    let fields: Vec<&str> = expr.split(' ').collect();
    let (Some(seconds), Some(minutes), Some(hours)) =
        (fields.first(), fields.get(1), fields.get(2))
    else {
        return false;
    };
    if seconds.parse::<u32>().is_err() {
        return true;
    }
    let mut set = BTreeSet::new();
    for item in minutes.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, s.parse::<u32>().unwrap_or(0)),
            None => (item, 0),
        };
        let (from, to) = match base {
            "*" => (0, 59),
            b => match b.split_once('-') {
                Some((a, z)) => (a.parse().unwrap_or(0), z.parse().unwrap_or(0)),
                None => {
                    let a = b.parse().unwrap_or(0);
                    (a, if step > 0 { 59 } else { a })
                }
            },
        };
        let mut m = from;
        while m <= to.min(59) {
            set.insert(m);
            if step == 0 && from == to {
                break;
            }
            m += step.max(1);
        }
    }
    let minutes: Vec<u32> = set.into_iter().collect();
    let close = minutes.windows(2).any(|w| w[1] - w[0] < 15);
    let across_hours = *hours == "*"
        && minutes.len() > 1
        && minutes
            .first()
            .zip(minutes.last())
            .is_some_and(|(f, l)| f + 60 - l < 15);
    close || across_hours
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A Quartz cron expression as Elasticsearch's `Cron` reads it: every number within its
/// field's range, names only where the field takes them.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split(' ').collect();
    if !(6..=7).contains(&fields.len()) {
        return Err("must have six or seven space-separated fields (seconds first)".into());
    }
    let spec: [(&str, u32, u32, &[&str]); 7] = [
        ("seconds", 0, 59, &[]),
        ("minutes", 0, 59, &[]),
        ("hours", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, &MONTHS),
        ("day-of-week", 1, 7, &DAYS),
        ("year", 1970, 2099, &[]),
    ];
    for (field, (name, min, max, names)) in fields.iter().zip(spec) {
        let value = |v: &str| -> Result<(), String> {
            let ok = match v.parse::<u32>() {
                Ok(n) => (min..=max).contains(&n),
                Err(_) => names.contains(&v.to_ascii_uppercase().as_str()),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{name} value {v:?} is not within {min}-{max}"))
            }
        };
        for item in field.split(',') {
            let (base, step) = match item.split_once('/') {
                Some((b, s)) => (b, Some(s)),
                None => (item, None),
            };
            if let Some(step) = step
                && !step.parse::<u32>().is_ok_and(|n| n >= 1 && n <= max)
            {
                return Err(format!("{name} step {step:?} is not within 1-{max}"));
            }
            match base {
                "*" => {}
                "?" if matches!(name, "day-of-month" | "day-of-week") => {}
                "L" | "LW" if name == "day-of-month" => {}
                "L" if name == "day-of-week" => {}
                b if name == "day-of-month" && b.starts_with("L-") => {
                    if !b[2..].parse::<u32>().is_ok_and(|n| n <= 30) {
                        return Err(format!("{name} offset {b:?} is not within L-0 to L-30"));
                    }
                }
                b if name == "day-of-month" && b.len() > 1 && b.ends_with('W') => {
                    value(&b[..b.len() - 1])?
                }
                b if name == "day-of-week" && b.len() > 1 && b.ends_with('L') => {
                    value(&b[..b.len() - 1])?
                }
                b if name == "day-of-week" && b.contains('#') => {
                    let (d, k) = b.split_once('#').unwrap_or((b, ""));
                    value(d)?;
                    if !k.parse::<u32>().is_ok_and(|n| (1..=5).contains(&n)) {
                        return Err(format!("{name} {b:?}: the week after # must be 1-5"));
                    }
                }
                b => match b.split_once('-') {
                    Some((from, to)) => {
                        value(from)?;
                        value(to)?;
                    }
                    None => value(b)?,
                },
            }
        }
    }
    Ok(())
}
