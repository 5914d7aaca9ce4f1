//! Cron expressions with seconds, evaluated in an IANA time zone.
//!
//! Parsing and matching are croner's; this file fixes the dialect corong
//! accepts and states what happens on the days a clock changes.
//!
//! A leaf: it imports nothing from corong, so that `config` can hold a
//! parsed [`CronSchedule`] (checked once, at load) and `schedule` can run
//! it without either importing the other's layer.

use chrono::{DateTime, LocalResult, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A parsed 6-field cron expression: `sec min hour day-of-month month
/// day-of-week`, for example `0 */5 * * * *` or `0 0 6 * * Mon-Sat`.
///
/// # Dialect
///
/// - Exactly six fields; the seconds field is required and there is no year
///   field. The `@daily`-style nicknames are accepted (they fire at second 0).
/// - Day of week: 0-7 (0 and 7 are Sunday) or `Sun`..`Sat`, case-insensitive.
///   Month: 1-12 or `Jan`..`Dec`.
/// - Day of month and day of week combine as in classic (Vixie) cron: when
///   both fields are restricted, a day matches if *either* matches
///   (`0 0 6 13 * Fri` fires on every 13th and on every Friday); when one of
///   them is `*`, only the other counts. A `+` before the day of week
///   (`0 0 6 13 * +Fri`) asks for both: Friday the 13th.
/// - Steps are `*/N` or `A-B/N`; `A/N` is rejected (croner 4 default).
/// - croner's extensions are allowed: `L` (last day of month, or `5#L` last
///   Friday), `#` (`1#2` second Monday), `W` (nearest weekday).
///
/// # Clock changes
///
/// See [`fires_between`] for what happens on daylight-saving days.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
    /// No `*` in the second, minute and hour fields: each matching wall time
    /// fires once, also on clock-change days (see [`fires_between`]).
    once_per_wall_time: bool,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl CronSchedule {
    /// Parses `expr` in corong's dialect (see the type's docs).
    ///
    /// The error is one sentence naming the expression and what is wrong,
    /// fit to follow a `file:line:col:` prefix.
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let trimmed = expr.trim();
        let fields = trimmed.split_whitespace().count();
        if fields == 0 {
            return Err(format!(
                "cron expression is empty, but corong needs 6 fields: {FIELDS}"
            ));
        }
        if !trimmed.starts_with('@') && fields != 6 {
            return Err(format!(
                "cron expression `{trimmed}` has {fields} field{}, but corong needs 6: {FIELDS}",
                if fields == 1 { "" } else { "s" }
            ));
        }
        if trimmed.starts_with('@') && fields == 1 {
            let known = [
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@hourly",
            ];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(trimmed)) {
                return Err(format!(
                    "cron expression `{trimmed}` is not a known nickname: \
                     use @yearly, @annually, @monthly, @weekly, @daily or @hourly"
                ));
            }
        }
        let cron = parser().parse(trimmed).map_err(|e| {
            match culprit(trimmed) {
                Some((field, value, allowed, e)) => format!(
                    "invalid cron expression `{trimmed}`: {field} field `{value}`: {} (allowed: {allowed})",
                    reason(&e)
                ),
                None => format!("invalid cron expression `{trimmed}`: {}", reason(&e)),
            }
        })?;
        // croner has expanded nicknames and names; fields are in order.
        let once_per_wall_time = cron
            .pattern
            .as_str()
            .split_whitespace()
            .take(3)
            .all(|field| !field.contains('*'));
        Ok(CronSchedule {
            expr: trimmed.to_string(),
            cron,
            once_per_wall_time,
        })
    }

    /// The expression as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `t`, in `t`'s time zone, or `None`
    /// if the expression never fires again (for example `0 0 0 30 2 *`).
    pub fn next_after(&self, t: DateTime<Tz>) -> Option<DateTime<Tz>> {
        let mut next = self.croner_next(&t);
        if !self.once_per_wall_time {
            return next;
        }
        // croner fires a list such as `0 30 2,14 * * *` on both passes of a
        // repeated hour: keep only the first pass.
        while let Some(n) = next.as_ref().filter(|n| is_second_pass(n)) {
            next = self.croner_next(n);
        }
        // ... and skips it when the clock springs over 02:30: fire at the end
        // of the gap instead, if that comes first.
        let horizon = next
            .as_ref()
            .map(|n| n.with_timezone(&Utc))
            .unwrap_or_else(|| t.with_timezone(&Utc) + chrono::Duration::days(400));
        match self.gap_fire(&t, horizon) {
            Some(g) if next.as_ref().is_none_or(|n| g < *n) => Some(g),
            _ => next,
        }
    }

    /// croner's next occurrence strictly after `t`.
    fn croner_next(&self, t: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let mut candidate = self.cron.find_next_occurrence(t, false).ok()?;
        // croner promises "after"; this guard keeps the contract even if a
        // clock-change corner case ever hands back `t` itself.
        let mut guard = 0;
        while candidate <= *t {
            guard += 1;
            if guard > 4 {
                return None;
            }
            candidate = self.cron.find_next_occurrence(&candidate, false).ok()?;
        }
        Some(candidate)
    }

    /// The end of the first clock gap in `(t, horizon]` whose skipped wall
    /// times include one this expression matches: the first valid instant
    /// after that gap.
    fn gap_fire(&self, t: &DateTime<Tz>, horizon: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let tz = t.timezone();
        let offset_at = |secs: i64| -> Option<i32> {
            let utc = DateTime::<Utc>::from_timestamp(secs, 0)?.naive_utc();
            Some(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
        };
        // Sample the offset every 6 hours (no zone changes its clock twice
        // within that) and bisect to the second where it grows.
        const STEP: i64 = 6 * 3600;
        let end = horizon.timestamp();
        let mut a = t.timestamp();
        while a < end {
            let b = (a + STEP).min(end);
            let (before, after) = (offset_at(a)?, offset_at(b)?);
            if after > before {
                let (mut lo, mut hi) = (a, b);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_at(mid)? == before {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                // `hi` is the first second on the new offset; the wall times
                // [hi + before, hi + after) never happen.
                let change = DateTime::<Utc>::from_timestamp(hi, 0)?.naive_utc();
                let skipped_from = change + chrono::Duration::seconds(before as i64);
                let skipped_to = change + chrono::Duration::seconds(after as i64);
                let matches_in_gap = self
                    .cron
                    .find_next_occurrence(&skipped_from, true)
                    .is_ok_and(|m| m < skipped_to);
                if matches_in_gap {
                    return Some(tz.from_utc_datetime(&change));
                }
            }
            a = b;
        }
        None
    }
}

/// Whether `t` is the later of two instants that share its wall time (the
/// second pass of an hour repeated when the clock goes back).
fn is_second_pass(t: &DateTime<Tz>) -> bool {
    matches!(
        t.timezone().from_local_datetime(&t.naive_local()),
        LocalResult::Ambiguous(first, _) if first < *t
    )
}

/// The fields, for error messages.
const FIELDS: &str = "second minute hour day-of-month month day-of-week";

/// The parser for corong's dialect.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        // Classic cron: restricted day-of-month OR restricted day-of-week.
        .dom_and_dow(false)
        .build()
}

/// Which field of a 6-field expression croner rejects, found by parsing each
/// field on its own with `*` in the others (croner's messages do not say).
/// Returns the field's name, its text, its allowed values and croner's error.
fn culprit(expr: &str) -> Option<(&'static str, &str, &'static str, CronError)> {
    const NAMES: [(&str, &str); 6] = [
        ("second", "0-59"),
        ("minute", "0-59"),
        ("hour", "0-23"),
        ("day-of-month", "1-31, L, W"),
        ("month", "1-12, Jan-Dec"),
        ("day-of-week", "0-7 (0 and 7 are Sunday), Sun-Sat, #, L"),
    ];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 6 {
        return None;
    }
    fields.iter().enumerate().find_map(|(i, value)| {
        let probe: Vec<&str> = (0..6).map(|j| if j == i { *value } else { "*" }).collect();
        let e = parser().parse(&probe.join(" ")).err()?;
        Some((NAMES[i].0, *value, NAMES[i].1, e))
    })
}

/// croner's message as a clause: first letter lowercase, no final period,
/// without its "Invalid pattern:" style prefixes.
fn reason(e: &CronError) -> String {
    let text = match e {
        CronError::EmptyPattern => "it is empty".to_string(),
        CronError::InvalidPattern(m) => m.clone(),
        CronError::IllegalCharacters(_) => "not a value this field understands".to_string(),
        CronError::ComponentError(m) => m.clone(),
        other => other.to_string(),
    };
    // One sentence: croner's occasional second sentence becomes a clause.
    let text = text
        .trim()
        .trim_end_matches('.')
        .replace(". Use ", "; use ");
    let text = text.as_str();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_string(),
    }
}

/// Every fire instant `f` of `cron`, read in `tz`, with `from < f <= to`, in
/// increasing order and without duplicates.
///
/// This is the one definition of "when does a schedule fire" that the runner,
/// `corong schedule` and the tests share. It is pure: same input, same output.
///
/// # Clock changes (checked by `tests/schedule.rs`)
///
/// As in Vixie cron, an expression is either *wall-clock* or *interval*. A
/// wall-clock expression has no `*` in its second, minute and hour fields
/// (`0 30 2 * * *`, `0 30 2,14 * * *`, `0 0 6-8 * * *`): it names times of
/// day, and each matching wall time fires once, clock change or not. An
/// interval expression (`0 */15 * * * *`, `0 0 * * * *`) runs on elapsed
/// time.
///
/// - Spring forward (wall times are skipped, e.g. Europe/Berlin 2026-03-29
///   02:00 -> 03:00): a wall-clock expression that matches a skipped time
///   fires once, at the first valid instant after the gap (03:00:00 local),
///   however many skipped times it matches. Interval expressions do not fire
///   inside the gap and carry on from 03:00.
/// - Fall back (wall times happen twice, e.g. 2026-10-25 03:00 -> 02:00): a
///   wall-clock expression fires on the first (summer-time) pass only.
///   Interval expressions fire on both passes, because each is real elapsed
///   time: `0 */15 * * * *` fires at 02:00, 02:15, 02:30, 02:45 CEST and
///   again at 02:00 .. 02:45 CET, eight distinct UTC instants 15 minutes
///   apart.
///
/// croner 4 does exactly this for a single time of day (`0 30 2 * * *`); for
/// lists and ranges it treats the expression as an interval, so
/// [`CronSchedule::next_after`] corrects it: it drops second-pass instants
/// and adds the end-of-gap fire. Either way the result is strictly
/// increasing. Indonesia has no daylight saving, so none of this happens
/// with the default `Asia/Jakarta`.
pub fn fires_between(
    cron: &CronSchedule,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    fires_after(cron, tz, from)
        .take_while(|f| *f <= to)
        .collect()
}

/// The fire instants strictly after `from`, in increasing order, for as long
/// as the expression fires.
pub(crate) fn fires_after(
    cron: &CronSchedule,
    tz: Tz,
    from: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let mut cursor = from.with_timezone(&tz);
    std::iter::from_fn(move || {
        let next = cron.next_after(cursor)?;
        cursor = next;
        Some(next.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn six_fields_with_seconds_parse() {
        for expr in [
            "0 */5 * * * *",
            "0 0 6 * * Mon-Sat",
            "30 15 7 1 Jan *",
            "0 0 6 13 * +Fri",
            "@daily",
        ] {
            CronSchedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        }
    }

    #[test]
    fn wrong_field_counts_are_one_clear_sentence() {
        let e = CronSchedule::parse("0 6 * * *").unwrap_err();
        assert_eq!(
            e,
            "cron expression `0 6 * * *` has 5 fields, but corong needs 6: \
             second minute hour day-of-month month day-of-week"
        );
        let e = CronSchedule::parse("  ").unwrap_err();
        assert!(e.starts_with("cron expression is empty"), "{e}");
        assert!(CronSchedule::parse("0 0 6 * * * 2026").is_err());
        assert!(CronSchedule::parse("").is_err());
    }

    #[test]
    fn bad_values_name_the_expression() {
        let e = CronSchedule::parse("0 61 * * * *").unwrap_err();
        assert!(
            e.starts_with("invalid cron expression `0 61 * * * *`: "),
            "{e}"
        );
        assert!(!e.ends_with('.'), "{e}");
        let e = CronSchedule::parse("0 0 6 * * Funday").unwrap_err();
        assert!(
            e.starts_with(
                "invalid cron expression `0 0 6 * * Funday`: day-of-week field `Funday`: "
            ),
            "{e}"
        );
        assert!(!e.ends_with('.'), "{e}");
    }

    #[test]
    fn dom_and_dow_combine_like_classic_cron() {
        let tz = chrono_tz::Asia::Jakarta;
        // 2026-11-13 is a Friday; 2026-11-06 is a Friday but not the 13th;
        // 2026-12-13 is a Sunday.
        let either = CronSchedule::parse("0 0 6 13 * Fri").unwrap();
        let both = CronSchedule::parse("0 0 6 13 * +Fri").unwrap();
        let start = tz.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let got: Vec<_> = fires_after(&either, tz, start.with_timezone(&Utc))
            .take(3)
            .map(|f| f.with_timezone(&tz).format("%m-%d").to_string())
            .collect();
        assert_eq!(got, ["11-06", "11-13", "11-20"]);
        let got: Vec<_> = fires_after(&both, tz, start.with_timezone(&Utc))
            .take(1)
            .map(|f| f.with_timezone(&tz).format("%Y-%m-%d").to_string())
            .collect();
        assert_eq!(got, ["2026-11-13"]);
    }

    #[test]
    fn next_after_is_strictly_after() {
        let tz = chrono_tz::Asia::Jakarta;
        let cron = CronSchedule::parse("0 0 6 * * *").unwrap();
        let six = tz.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap();
        assert_eq!(
            cron.next_after(six).unwrap(),
            tz.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap()
        );
        let just_before = six - chrono::Duration::milliseconds(1);
        assert_eq!(cron.next_after(just_before).unwrap(), six);
    }

    #[test]
    fn an_impossible_date_never_fires() {
        let cron = CronSchedule::parse("0 0 0 30 2 *").unwrap();
        let t = chrono_tz::Asia::Jakarta
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap();
        assert_eq!(cron.next_after(t), None);
    }
}
