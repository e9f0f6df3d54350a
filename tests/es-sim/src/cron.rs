//! Quartz-style cron expressions as Elasticsearch's scheduler accepts them:
//! `sec min hour day-of-month month day-of-week [year]`, with `*`, `?`,
//! ranges, steps, lists, month/day names, `L`, `W` and `#`. Pure.
//!
//! The evaluator is the operator's ([`meshlogging_operator::validate::Cron`]): the runs the
//! stand-in schedules and the intervals the operator expects of a schedule come from one
//! piece of code; the tests here check it as the stand-in uses it.

pub use meshlogging_operator::validate::Cron;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::parse_date;

    #[test]
    fn parse_and_next() {
        let t = parse_date("2024-01-01T00:00:00Z").expect("date");
        let c = Cron::parse("0 30 1 * * ?").expect("cron");
        assert_eq!(c.next_after(t), parse_date("2024-01-01T01:30:00Z"));
        let c = Cron::parse("0 * * * * ?").expect("cron");
        assert_eq!(c.next_after(t), Some(t + 60_000));
        let c = Cron::parse("0 1 2 3 4 ?").expect("cron");
        assert_eq!(c.next_after(t), parse_date("2024-04-03T02:01:00Z"));
        let c = Cron::parse("0 0 12 ? * MON-FRI").expect("cron");
        // 2024-01-01 is a Monday
        assert_eq!(c.next_after(t), parse_date("2024-01-01T12:00:00Z"));
        assert!(Cron::parse("* * * * *").is_err());
        assert!(Cron::parse("0 0 0 * * *").is_err());
        assert!(Cron::parse("0 61 * * * ?").is_err());
        assert!(Cron::parse("0 0 0 L * ?").is_ok());
    }
}
