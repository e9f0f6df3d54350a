//! When an SLM schedule fires: Quartz cron expressions as Elasticsearch's scheduler reads
//! them (`sec min hour day-of-month month day-of-week [year]`, with `*`, `?`, ranges,
//! steps, lists, names, `L`, `W` and `#`), and the interval between two runs, which
//! `SnapshotsHealthy` allows twice over before a policy that produced nothing is
//! `NeverSucceeded`. Pure (the time is an argument).
//!
//! [`Cron`] is also the Elasticsearch stand-in's scheduler (`tests/es-sim/src/cron.rs`
//! re-exports it), so the SLM runs the stand-in schedules and the intervals the operator
//! expects come from one evaluator.

#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::time::Duration;

/// How many gaps between runs [`schedule_interval`] looks at: enough to cover a week of a
/// weekday schedule (`MON-FRI`: the weekend's gap is the longest).
const GAPS: usize = 8;

/// The interval of `schedule` from `now_ms` (epoch milliseconds): the longest gap between
/// two of its next runs (a `MON-FRI` schedule's is the weekend's three days, so Monday
/// morning is not "overdue"). `None` when it does not parse or fires fewer than twice.
pub fn schedule_interval(schedule: &str, now_ms: u64) -> Option<Duration> {
    let cron = Cron::parse(schedule).ok()?;
    let mut run = cron.next_after(now_ms)?;
    let mut longest = None::<u64>;
    for _ in 0..GAPS {
        let Some(next) = cron.next_after(run) else {
            break;
        };
        longest = Some(longest.map_or(next - run, |l| l.max(next - run)));
        run = next;
    }
    longest.map(Duration::from_millis)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[derive(Debug, Clone)]
enum DaySpec {
    Any,
    Days(Vec<u32>),
    Last(u32),
    NearestWeekday(u32),
    LastWeekday,
}

#[derive(Debug, Clone)]
enum DowSpec {
    Any,
    Days(Vec<u32>),
    LastOf(u32),
    Nth(u32, u32),
}

/// A parsed Quartz cron expression: the set of values each field allows.
#[derive(Debug, Clone)]
pub struct Cron {
    seconds: Vec<u32>,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    dom: DaySpec,
    months: Vec<u32>,
    dow: DowSpec,
    years: Option<Vec<u32>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn parse_value(s: &str, names: &[&str], base: u32) -> Result<u32, String> {
    if let Ok(v) = s.parse::<u32>() {
        return Ok(v);
    }
    let up = s.to_ascii_uppercase();
    names
        .iter()
        .position(|n| *n == up)
        .map(|i| i as u32 + base)
        .ok_or_else(|| format!("invalid value [{s}]"))
}

fn parse_set(
    field: &str,
    min: u32,
    max: u32,
    names: &[&str],
    base: u32,
    what: &str,
) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in field.split(',') {
        if item.is_empty() {
            return Err(format!("empty {what} item"));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let s: u32 = s
                    .parse()
                    .map_err(|_| format!("invalid increment [{s}] in {what}"))?;
                if s == 0 || s > max {
                    return Err(format!("increment [{s}] out of range in {what}"));
                }
                (r, s)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (parse_value(a, names, base)?, parse_value(b, names, base)?)
        } else {
            let v = parse_value(range, names, base)?;
            (v, if item.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > max {
            return Err(format!(
                "{what} value out of range [{lo}-{hi}], must be within [{min}-{max}]"
            ));
        }
        if lo <= hi {
            out.extend((lo..=hi).step_by(step as usize));
        } else {
            // wrapping range like FRI-MON
            out.extend((lo..=max).chain(min..=hi).step_by(step as usize));
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Cron {
    /// Parses `expr` (six or seven fields), or says which field is wrong.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let f: Vec<&str> = expr.split_whitespace().collect();
        if f.len() < 6 || f.len() > 7 {
            return Err(format!("Unexpected end of expression [{expr}]"));
        }
        let seconds = parse_set(f[0], 0, 59, &[], 0, "seconds")?;
        let minutes = parse_set(f[1], 0, 59, &[], 0, "minutes")?;
        let hours = parse_set(f[2], 0, 23, &[], 0, "hours")?;
        let months = parse_set(f[4], 1, 12, &MONTHS, 1, "months")?;
        let dom = match f[3] {
            "?" => DaySpec::Any,
            "L" => DaySpec::Last(0),
            "LW" => DaySpec::LastWeekday,
            s if s.starts_with("L-") => DaySpec::Last(
                s[2..]
                    .parse()
                    .map_err(|_| format!("invalid day-of-month [{s}]"))?,
            ),
            s if s.ends_with('W') => {
                let d: u32 = s[..s.len() - 1]
                    .parse()
                    .map_err(|_| format!("invalid day-of-month [{s}]"))?;
                if !(1..=31).contains(&d) {
                    return Err(format!("invalid day-of-month [{s}]"));
                }
                DaySpec::NearestWeekday(d)
            }
            s => DaySpec::Days(parse_set(s, 1, 31, &[], 1, "day-of-month")?),
        };
        let dow = match f[5] {
            "?" => DowSpec::Any,
            "L" => DowSpec::Days(vec![7]),
            s if s.ends_with('L') => DowSpec::LastOf(parse_value(&s[..s.len() - 1], &DAYS, 1)?),
            s if s.contains('#') => {
                let (d, n) = s.split_once('#').unwrap_or((s, "1"));
                let n: u32 = n
                    .parse()
                    .map_err(|_| format!("invalid day-of-week [{s}]"))?;
                if !(1..=5).contains(&n) {
                    return Err("A numeric value between 1 and 5 must follow the '#' option".into());
                }
                DowSpec::Nth(parse_value(d, &DAYS, 1)?, n)
            }
            s => DowSpec::Days(parse_set(s, 1, 7, &DAYS, 1, "day-of-week")?),
        };
        match (&dom, &dow) {
            (DaySpec::Any, DowSpec::Any) => {
                return Err("'?' can only be specified for Day-of-Month -OR- Day-of-Week.".into());
            }
            (DaySpec::Any, _) | (_, DowSpec::Any) => {}
            _ => {
                return Err(
                    "Support for specifying both a day-of-week AND a day-of-month parameter is not implemented.".into(),
                );
            }
        }
        let years = match f.get(6) {
            Some(y) => Some(parse_set(y, 1970, 2199, &[], 0, "year")?),
            None => None,
        };
        Ok(Cron {
            seconds,
            minutes,
            hours,
            dom,
            months,
            dow,
            years,
        })
    }

    fn day_matches(&self, y: i64, m: u32, d: u32) -> bool {
        let days_in_month = {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32
        };
        let weekday = |day: u32| -> u32 {
            // 1 = Sunday .. 7 = Saturday; 1970-01-01 was a Thursday (5)
            ((days_from_civil(y, m, day) + 4).rem_euclid(7) + 1) as u32
        };
        let dom_ok = match &self.dom {
            DaySpec::Any => true,
            DaySpec::Days(v) => v.contains(&d),
            DaySpec::Last(off) => d + off == days_in_month,
            DaySpec::LastWeekday => {
                let mut last = days_in_month;
                while matches!(weekday(last), 1 | 7) {
                    last -= 1;
                }
                d == last
            }
            DaySpec::NearestWeekday(n) => {
                let n = (*n).min(days_in_month);
                let target = match weekday(n) {
                    7 if n == 1 => 3,
                    7 => n - 1,
                    1 if n == days_in_month => n - 2,
                    1 => n + 1,
                    _ => n,
                };
                d == target
            }
        };
        let wd = weekday(d);
        let dow_ok = match &self.dow {
            DowSpec::Any => true,
            DowSpec::Days(v) => v.contains(&wd),
            DowSpec::LastOf(x) => wd == *x && d + 7 > days_in_month,
            DowSpec::Nth(x, n) => wd == *x && (d - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }

    /// The first firing time strictly after `after_ms` (epoch millis, UTC).
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let start = after_ms / 1000 + 1;
        let first_day = (start / 86_400) as i64;
        for day in first_day..first_day + 366 * 400 {
            let first = day == first_day;
            let (y, m, d) = civil_from_days(day);
            let year_ok = self
                .years
                .as_ref()
                .is_none_or(|ys| ys.contains(&(y as u32)));
            if year_ok && self.months.contains(&m) && self.day_matches(y, m, d) {
                let day_start = day as u64 * 86_400;
                let floor = if first {
                    start.saturating_sub(day_start)
                } else {
                    0
                };
                for &h in &self.hours {
                    for &mi in &self.minutes {
                        for &s in &self.seconds {
                            let off = u64::from(h) * 3600 + u64::from(mi) * 60 + u64::from(s);
                            if off >= floor {
                                return Some((day_start + off) * 1000);
                            }
                        }
                    }
                }
            }
            if let Some(ys) = &self.years
                && ys.iter().all(|yy| i64::from(*yy) < y)
            {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u64 {
        let t: k8s_openapi::jiff::Timestamp = s.parse().expect("timestamp");
        u64::try_from(t.as_millisecond()).expect("after 1970")
    }

    #[test]
    fn next_runs_and_intervals() {
        let t = ms("2024-01-01T00:00:00Z");
        let c = Cron::parse("0 30 1 * * ?").expect("cron");
        assert_eq!(c.next_after(t), Some(ms("2024-01-01T01:30:00Z")));
        let c = Cron::parse("0 0 12 ? * MON-FRI").expect("cron");
        assert_eq!(c.next_after(t), Some(ms("2024-01-01T12:00:00Z")));
        let day = Duration::from_secs(86_400);
        assert_eq!(schedule_interval("0 30 1 * * ?", t), Some(day));
        assert_eq!(
            schedule_interval("0 0/15 * * * ?", t),
            Some(Duration::from_secs(900))
        );
        // Weekdays: the weekend's gap, wherever in the week it is asked.
        for now in ["2024-01-01T13:00:00Z", "2024-01-05T13:00:00Z"] {
            assert_eq!(
                schedule_interval("0 0 12 ? * MON-FRI", ms(now)),
                Some(3 * day),
                "{now}"
            );
        }
        assert_eq!(schedule_interval("0 0 3 ? * SUN", t), Some(7 * day));
        assert_eq!(schedule_interval("not cron", t), None);
        assert_eq!(schedule_interval("0 0 0 1 1 ? 2020", t), None);
    }
}
