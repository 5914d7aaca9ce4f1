//! Times as operators type them: `--at` (a time of day, today or
//! tomorrow, or a date and time) and `log --since`, read in the daemon's
//! time zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::refusal::{refuse, Refusal};
use crate::control::protocol::ErrorCode;

/// `--at` as an operator types it, read in the daemon's time zone: `HH:MM`
/// or `HH:MM:SS` (today, or tomorrow when that time has passed), or
/// `YYYY-MM-DD HH:MM[:SS]` (an error when it has passed).
pub fn parse_at(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
    let text = text.trim();
    let bad = || {
        refuse(
            ErrorCode::BadRequest,
            format!("--at `{text}`: expected HH:MM (or HH.MM), HH:MM:SS or YYYY-MM-DD HH:MM[:SS]"),
        )
    };
    if let Some(time) = parse_time(text) {
        let local_now = now.with_timezone(&tz);
        let mut date = local_now.date_naive();
        for _ in 0..3 {
            if let Some(t) = tz.from_local_datetime(&date.and_time(time)).earliest() {
                if t > local_now {
                    return Ok(t.with_timezone(&Utc));
                }
            }
            date = date.succ_opt().ok_or_else(bad)?;
        }
        return Err(bad());
    }
    let dt = match parse_datetime(text) {
        Some(dt) => dt,
        None => {
            return Err(
                no_such_date(text).map_or_else(bad, |why| refuse(ErrorCode::BadRequest, why))
            )
        }
    };
    let t = tz
        .from_local_datetime(&dt)
        .earliest()
        .ok_or_else(|| {
            refuse(
                ErrorCode::BadRequest,
                format!("--at `{text}` does not exist in {}", tz.name()),
            )
        })?
        .with_timezone(&Utc);
    if t <= now {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "--at `{text}` is in the past (it is now {})",
                now.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S")
            ),
        ));
    }
    Ok(t)
}

/// "14:00 has passed today: it plays tomorrow, 2026-12-07 14:00", when a
/// bare time of day (`at`) was taken as tomorrow's.
pub(super) fn tomorrow_warning(
    at: &str,
    when: DateTime<Utc>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<String> {
    parse_time(at.trim())?;
    let local = when.with_timezone(&tz);
    if local.date_naive() == now.with_timezone(&tz).date_naive() {
        return None;
    }
    Some(format!(
        "{} has passed today: it plays tomorrow, {}",
        at.trim(),
        local.format("%Y-%m-%d %H:%M")
    ))
}

/// `log --since`: the same forms as `--at` (a bare time means today, even
/// when it is later than now: then it is yesterday), or RFC 3339.
pub(super) fn parse_since(
    text: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Refusal> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(time) = parse_time(text) {
        let local_now = now.with_timezone(&tz);
        let mut date = local_now.date_naive();
        for _ in 0..2 {
            if let Some(t) = tz.from_local_datetime(&date.and_time(time)).earliest() {
                if t <= local_now {
                    return Ok(t.with_timezone(&Utc));
                }
            }
            date = date.pred_opt().unwrap_or(date);
        }
    }
    if let Some(dt) = parse_datetime(text) {
        if let Some(t) = tz.from_local_datetime(&dt).earliest() {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = tz
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(refuse(
        ErrorCode::BadRequest,
        format!("--since `{text}`: expected HH:MM, YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or RFC 3339"),
    ))
}

/// `HH:MM[:SS]`, or `HH.MM[.SS]` as times are written in Indonesia.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = dotted_time(text);
    NaiveTime::parse_from_str(&text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M"))
        .ok()
}

/// `14.30` as `14:30`: a time of day of digits and dots only.
fn dotted_time(text: &str) -> String {
    if text.contains('.') && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        text.replace('.', ":")
    } else {
        text.to_string()
    }
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let (date, time) = text.split_once([' ', 'T'])?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(date.and_time(parse_time(time)?))
}

/// Why `YYYY-MM-DD HH:MM` names no day, when that is what is wrong:
/// "2027-02-30 does not exist: February 2027 has 28 days".
fn no_such_date(text: &str) -> Option<String> {
    let (date, time) = text.split_once([' ', 'T'])?;
    parse_time(time)?;
    let mut parts = date.split('-').map(|p| p.parse::<u32>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() {
        return None;
    }
    if !(1..=12).contains(&m) {
        return Some(format!("--at `{text}`: there is no month {m}"));
    }
    let first = NaiveDate::from_ymd_opt(y as i32, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y as i32 + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y as i32, m + 1, 1)?
    };
    let days = (next - first).num_days();
    (d == 0 || i64::from(d) > days).then(|| {
        format!(
            "--at `{text}`: {date} does not exist: {} {y} has {days} days",
            first.format("%B")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn at_a_time_of_day_is_today_or_tomorrow() {
        let tz = chrono_tz::Asia::Jakarta;
        // 10:00 WIB
        let now = utc("2026-11-23T03:00:00Z");
        assert_eq!(
            parse_at("14:02", tz, now).unwrap(),
            utc("2026-11-23T07:02:00Z")
        );
        assert_eq!(
            parse_at("09:00", tz, now).unwrap(),
            utc("2026-11-24T02:00:00Z")
        );
        assert_eq!(
            parse_at("2026-11-25 06:30", tz, now).unwrap(),
            utc("2026-11-24T23:30:00Z")
        );
    }

    #[test]
    fn at_in_the_past_or_garbled_is_refused() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = utc("2026-11-23T03:00:00Z");
        let Refusal { code, message: msg } = parse_at("2026-11-22 08:00", tz, now).unwrap_err();
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.contains("in the past"), "{msg}");
        let Refusal { message: msg, .. } = parse_at("besok pagi", tz, now).unwrap_err();
        assert!(msg.contains("expected HH:MM"), "{msg}");
        let Refusal { message: msg, .. } = parse_at("2027-02-30 10:00", tz, now).unwrap_err();
        assert_eq!(
            msg,
            "--at `2027-02-30 10:00`: 2027-02-30 does not exist: February 2027 has 28 days"
        );
        let Refusal { message: msg, .. } = parse_at("2028-02-30 10.00", tz, now).unwrap_err();
        assert!(msg.contains("February 2028 has 29 days"), "{msg}");
        let Refusal { message: msg, .. } = parse_at("2027-13-01 10:00", tz, now).unwrap_err();
        assert!(msg.contains("there is no month 13"), "{msg}");
    }

    #[test]
    fn at_takes_dotted_times_and_warns_of_tomorrow() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = utc("2026-11-23T03:00:00Z"); // 10:00 WIB
        assert_eq!(
            parse_at("14.30", tz, now).unwrap(),
            utc("2026-11-23T07:30:00Z")
        );
        assert_eq!(
            parse_at("2026-11-25 06.30", tz, now).unwrap(),
            utc("2026-11-24T23:30:00Z")
        );
        let later = parse_at("09.00", tz, now).unwrap();
        assert_eq!(
            tomorrow_warning("09.00", later, tz, now).as_deref(),
            Some("09.00 has passed today: it plays tomorrow, 2026-11-24 09:00")
        );
        let today = parse_at("14:30", tz, now).unwrap();
        assert_eq!(tomorrow_warning("14:30", today, tz, now), None);
        let dated = parse_at("2026-11-25 06:30", tz, now).unwrap();
        assert_eq!(tomorrow_warning("2026-11-25 06:30", dated, tz, now), None);
    }

    #[test]
    fn since_a_time_of_day_looks_back() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = utc("2026-11-23T03:00:00Z"); // 10:00 WIB
        assert_eq!(
            parse_since("14:02", tz, now).unwrap(),
            utc("2026-11-22T07:02:00Z")
        );
        assert_eq!(
            parse_since("08:00", tz, now).unwrap(),
            utc("2026-11-23T01:00:00Z")
        );
    }
}
