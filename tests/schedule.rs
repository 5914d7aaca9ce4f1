//! Schedules on a clock the test controls: cron across midnight and across
//! daylight-saving changes, the runner's rules for clock jumps, and
//! `corong schedule`'s output.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use corong::config::Schedule;
use corong::priority::Priority;
use corong::schedule::{
    fires_between, format_human, upcoming, Clock, CronSchedule, Fire, ManualClock, Scheduler,
    UpcomingJson,
};

const JAKARTA: Tz = chrono_tz::Asia::Jakarta;
const BERLIN: Tz = chrono_tz::Europe::Berlin;

fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .unwrap_or_else(|| panic!("{y}-{mo}-{d} {h}:{mi}:{s} is not a single instant in {tz}"))
        .with_timezone(&Utc)
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn cron(expr: &str) -> CronSchedule {
    CronSchedule::parse(expr).unwrap_or_else(|e| panic!("{e}"))
}

fn schedule(name: &str, cron: &str) -> Schedule {
    common::schedule(name, cron, &["alun-alun", "arsip"])
}

/// Fires over one whole local calendar day (midnight exists on every day
/// used here).
fn fires_on_day(expr: &str, tz: Tz, y: i32, mo: u32, d: u32) -> Vec<DateTime<Utc>> {
    let day = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
    let next = day.succ_opt().unwrap();
    let from = local(tz, y, mo, d, 0, 0, 0) - Duration::nanoseconds(1);
    let to = local(tz, next.year(), next.month(), next.day(), 0, 0, 0) - Duration::nanoseconds(1);
    fires_between(&cron(expr), tz, from, to)
}

fn assert_strictly_increasing(fires: &[DateTime<Utc>]) {
    for pair in fires.windows(2) {
        assert!(pair[0] < pair[1], "not strictly increasing: {pair:?}");
    }
}

// ---------------------------------------------------------------------------
// fires_between
// ---------------------------------------------------------------------------

#[test]
fn every_five_minutes_across_midnight_in_jakarta() {
    let from = local(JAKARTA, 2026, 11, 23, 23, 50, 0);
    let to = local(JAKARTA, 2026, 11, 24, 0, 10, 0);
    let fires = fires_between(&cron("0 */5 * * * *"), JAKARTA, from, to);
    // Jakarta is UTC+7 all year: 23:55 local is 16:55 UTC.
    assert_eq!(
        fires,
        [
            utc(2026, 11, 23, 16, 55, 0),
            utc(2026, 11, 23, 17, 0, 0),
            utc(2026, 11, 23, 17, 5, 0),
            utc(2026, 11, 23, 17, 10, 0),
        ]
    );
}

#[test]
fn the_window_is_open_at_from_and_closed_at_to() {
    let at = local(JAKARTA, 2026, 11, 23, 6, 0, 0);
    let c = cron("0 0 6 * * *");
    assert!(fires_between(&c, JAKARTA, at, at + Duration::hours(1)).is_empty());
    assert_eq!(
        fires_between(&c, JAKARTA, at - Duration::seconds(1), at),
        [at]
    );
    assert_eq!(
        fires_between(&c, JAKARTA, at - Duration::nanoseconds(1), at),
        [at]
    );
}

// Europe/Berlin 2026-03-29: 02:00 CET (+01:00) becomes 03:00 CEST (+02:00),
// at 01:00 UTC. Wall times 02:00..03:00 do not exist.

#[test]
fn spring_forward_fixed_time_in_the_gap_fires_once_at_the_end_of_the_gap() {
    let fires = fires_on_day("0 30 2 * * *", BERLIN, 2026, 3, 29);
    // 03:00 CEST, the first valid instant after the gap.
    assert_eq!(fires, [utc(2026, 3, 29, 1, 0, 0)]);
    // The days around it are ordinary.
    assert_eq!(
        fires_on_day("0 30 2 * * *", BERLIN, 2026, 3, 28),
        [utc(2026, 3, 28, 1, 30, 0)]
    );
    assert_eq!(
        fires_on_day("0 30 2 * * *", BERLIN, 2026, 3, 30),
        [utc(2026, 3, 30, 0, 30, 0)]
    );
}

#[test]
fn spring_forward_interval_has_no_duplicate_and_nothing_in_the_gap() {
    let fires = fires_on_day("0 */5 * * * *", BERLIN, 2026, 3, 29);
    // A 23-hour day.
    assert_eq!(fires.len(), 23 * 12);
    assert_strictly_increasing(&fires);
    for pair in fires.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::minutes(5), "{pair:?}");
    }
    assert!(fires.iter().all(|f| f.with_timezone(&BERLIN).hour() != 2));
    // 01:55 CET is followed by 03:00 CEST, five real minutes later.
    assert!(fires.contains(&utc(2026, 3, 29, 0, 55, 0)));
    assert!(fires.contains(&utc(2026, 3, 29, 1, 0, 0)));
}

#[test]
fn spring_forward_list_in_the_gap_fires_once_like_a_single_time() {
    // croner alone would skip 02:30 here; corong fires it at the gap's end.
    let fires = fires_on_day("0 30 2,14 * * *", BERLIN, 2026, 3, 29);
    assert_eq!(
        fires,
        [utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 29, 12, 30, 0)]
    );
}

// Europe/Berlin 2026-10-25: 03:00 CEST (+02:00) becomes 02:00 CET (+01:00),
// at 01:00 UTC. Wall times 02:00..03:00 happen twice.

#[test]
fn fall_back_fixed_time_in_the_repeated_hour_fires_once_on_the_first_pass() {
    let fires = fires_on_day("0 30 2 * * *", BERLIN, 2026, 10, 25);
    // 02:30 CEST, not 02:30 CET (01:30 UTC).
    assert_eq!(fires, [utc(2026, 10, 25, 0, 30, 0)]);
    let fires = fires_on_day("0 30 2,14 * * *", BERLIN, 2026, 10, 25);
    assert_eq!(
        fires,
        [utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 25, 13, 30, 0)]
    );
}

#[test]
fn fall_back_interval_fires_on_both_passes_strictly_increasing() {
    let fires = fires_on_day("0 */15 * * * *", BERLIN, 2026, 10, 25);
    // A 25-hour day: every quarter hour of real time, no duplicates.
    assert_eq!(fires.len(), 25 * 4);
    assert_strictly_increasing(&fires);
    for pair in fires.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::minutes(15), "{pair:?}");
    }
    let repeated: Vec<String> = fires
        .iter()
        .map(|f| f.with_timezone(&BERLIN))
        .filter(|f| f.hour() == 2)
        .map(|f| f.format("%H:%M%:z").to_string())
        .collect();
    assert_eq!(
        repeated,
        [
            "02:00+02:00",
            "02:15+02:00",
            "02:30+02:00",
            "02:45+02:00",
            "02:00+01:00",
            "02:15+01:00",
            "02:30+01:00",
            "02:45+01:00",
        ]
    );
}

#[test]
fn a_window_inside_the_second_pass_does_not_refire_a_fixed_time() {
    // From 02:40 CET (second pass) to 03:30 CET: 02:30 already fired on the
    // first pass, an hour earlier.
    let from = utc(2026, 10, 25, 1, 40, 0);
    let to = utc(2026, 10, 25, 2, 30, 0);
    assert!(fires_between(&cron("0 30 2 * * *"), BERLIN, from, to).is_empty());
    // And a window that starts between the passes does not fire it either.
    let from = utc(2026, 10, 25, 0, 45, 0);
    assert!(fires_between(&cron("0 30 2 * * *"), BERLIN, from, to).is_empty());
}

// ---------------------------------------------------------------------------
// The runner's step
// ---------------------------------------------------------------------------

fn scheduler(schedules: &[Schedule], tz: Tz) -> Scheduler {
    Scheduler::new(schedules, tz)
}

fn times(fires: &[Fire]) -> Vec<DateTime<Utc>> {
    fires.iter().map(|f| f.at).collect()
}

#[test]
fn poll_does_not_catch_up_at_startup() {
    let mut s = scheduler(&[schedule("tiap-menit", "0 * * * * *")], JAKARTA);
    let start = utc(2026, 11, 23, 0, 0, 30);
    assert_eq!(s.poll(start), []);
    assert_eq!(s.last_checked(), Some(start));
    assert_eq!(s.poll(start + Duration::seconds(29)), []);
    assert_eq!(
        s.poll(start + Duration::seconds(30)),
        [Fire {
            schedule: "tiap-menit".to_string(),
            index: 0,
            at: utc(2026, 11, 23, 0, 1, 0),
        }]
    );
}

#[test]
fn poll_ticking_every_second_fires_each_time_once_in_order() {
    let schedules = [schedule("a", "0 */2 * * * *"), schedule("b", "0 * * * * *")];
    let mut s = scheduler(&schedules, JAKARTA);
    let start = utc(2026, 11, 23, 0, 0, 0);
    let mut all = Vec::new();
    for i in 0..=300 {
        all.extend(s.poll(start + Duration::seconds(i)));
    }
    let got: Vec<(String, i64)> = all
        .iter()
        .map(|f| (f.schedule.clone(), (f.at - start).num_minutes()))
        .collect();
    // At minute 2 and 4 both fire; "a" first (config order).
    let want: Vec<(String, i64)> = [
        ("b", 1),
        ("a", 2),
        ("b", 2),
        ("b", 3),
        ("a", 4),
        ("b", 4),
        ("b", 5),
    ]
    .iter()
    .map(|(n, m)| (n.to_string(), *m))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn poll_forward_jump_within_grace_fires_the_missed_times_once() {
    let mut s = scheduler(&[schedule("tiap-menit", "0 * * * * *")], JAKARTA);
    let start = utc(2026, 11, 23, 0, 0, 30);
    s.poll(start);
    // Jump 4 min: 00:01, 00:02, 00:03, 00:04 are all younger than 5 min.
    let now = start + Duration::minutes(4);
    assert_eq!(
        times(&s.poll(now)),
        [
            utc(2026, 11, 23, 0, 1, 0),
            utc(2026, 11, 23, 0, 2, 0),
            utc(2026, 11, 23, 0, 3, 0),
            utc(2026, 11, 23, 0, 4, 0),
        ]
    );
    assert_eq!(s.poll(now), []);
    assert_eq!(s.poll(now + Duration::seconds(1)), []);
}

#[test]
fn poll_forward_jump_beyond_grace_skips_the_old_times() {
    let mut s = scheduler(&[schedule("tiap-menit", "0 * * * * *")], JAKARTA);
    let start = utc(2026, 11, 23, 0, 0, 30);
    s.poll(start);
    // Jump to 01:00:30: only fires after 00:55:30 are sent.
    let now = utc(2026, 11, 23, 1, 0, 30);
    assert_eq!(
        times(&s.poll(now)),
        [
            utc(2026, 11, 23, 0, 56, 0),
            utc(2026, 11, 23, 0, 57, 0),
            utc(2026, 11, 23, 0, 58, 0),
            utc(2026, 11, 23, 0, 59, 0),
            utc(2026, 11, 23, 1, 0, 0),
        ]
    );
    // 00:01 to 00:55 were skipped, and counted (`/metrics`).
    assert_eq!(
        s.skipped_counter()
            .load(std::sync::atomic::Ordering::Relaxed),
        55
    );
    // A jump of a year over an every-second schedule stays cheap.
    let mut s = scheduler(&[schedule("tiap-detik", "* * * * * *")], JAKARTA);
    s.poll(start);
    let fires = s.poll(start + Duration::days(365));
    assert_eq!(fires.len(), 5 * 60);
}

#[test]
fn poll_backward_jump_does_not_refire() {
    let mut s = scheduler(&[schedule("tiap-menit", "0 * * * * *")], JAKARTA);
    let start = utc(2026, 11, 23, 0, 0, 30);
    s.poll(start);
    let high = utc(2026, 11, 23, 0, 3, 30);
    assert_eq!(s.poll(high).len(), 3);
    // The clock goes back 10 minutes and then runs forward again.
    let mut t = high - Duration::minutes(10);
    let mut refired = Vec::new();
    while t <= high {
        refired.extend(s.poll(t));
        t += Duration::seconds(1);
    }
    assert_eq!(refired, []);
    assert_eq!(s.last_checked(), Some(high));
    // Past the high-water mark, fires resume.
    assert_eq!(
        times(&s.poll(utc(2026, 11, 23, 0, 4, 0))),
        [utc(2026, 11, 23, 0, 4, 0)]
    );
}

#[test]
fn replace_keeps_the_high_water_mark() {
    let mut s = scheduler(&[schedule("a", "0 * * * * *")], JAKARTA);
    let start = utc(2026, 11, 23, 0, 0, 30);
    s.poll(start);
    s.replace(&[schedule("b", "0 */2 * * * *")]);
    assert_eq!(s.last_checked(), Some(start));
    let fires = s.poll(utc(2026, 11, 23, 0, 2, 0));
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].schedule, "b");
    // A list can only hold parsed expressions: a bad one is refused where
    // it is parsed, before it could reach the scheduler.
    let err = CronSchedule::parse("0 6 * * *").unwrap_err();
    assert!(err.starts_with("cron expression"), "{err}");
}

// ---------------------------------------------------------------------------
// The runner task, on a manual clock
// ---------------------------------------------------------------------------

#[tokio::test]
async fn run_sends_fires_from_the_manual_clock_and_stops_on_shutdown() {
    // The fire is 5 ms of manual time away, so the runner naps only a few
    // milliseconds of real time between looks.
    let start = utc(2026, 11, 23, 0, 0, 59) + Duration::milliseconds(995);
    let clock = ManualClock::new(start);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let s = scheduler(&[schedule("tiap-menit", "0 * * * * *")], JAKARTA);
    let task = tokio::spawn(s.run(shared, tx, stopped));

    // On this single-threaded runtime, yielding lets the runner take its
    // first look (the start time) before the clock moves.
    tokio::task::yield_now().await;
    assert!(rx.try_recv().is_err(), "fired before its time");
    clock.set(utc(2026, 11, 23, 0, 1, 0));
    let fire = tokio::time::timeout(StdDuration::from_secs(5), rx.recv())
        .await
        .expect("the runner fired within 5 s")
        .expect("the runner is alive");
    assert_eq!(fire.at, utc(2026, 11, 23, 0, 1, 0));
    assert_eq!(fire.schedule, "tiap-menit");

    stop.send(()).unwrap();
    tokio::time::timeout(StdDuration::from_secs(5), task)
        .await
        .expect("the runner stopped on shutdown")
        .unwrap();
}

#[tokio::test]
async fn run_stops_when_the_receiver_is_gone() {
    let clock = ManualClock::new(utc(2026, 11, 23, 0, 0, 0) + Duration::milliseconds(995));
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    drop(rx);
    let s = scheduler(&[schedule("tiap-detik", "* * * * * *")], JAKARTA);
    let task = tokio::spawn(s.run(Arc::new(clock.clone()), tx, std::future::pending::<()>()));
    // The runner notices the closed channel when it has a fire to send.
    tokio::task::yield_now().await;
    clock.advance(Duration::milliseconds(5));
    tokio::time::timeout(StdDuration::from_secs(5), task)
        .await
        .expect("the runner stopped when its receiver went away")
        .unwrap();
}

// ---------------------------------------------------------------------------
// corong schedule --next N
// ---------------------------------------------------------------------------

#[test]
fn upcoming_mon_sat_skips_sunday() {
    // 2026-11-21 is a Saturday.
    let from = local(JAKARTA, 2026, 11, 21, 7, 0, 0);
    let up = upcoming(
        &[schedule("lagu-pagi", "0 0 6 * * Mon-Sat")],
        JAKARTA,
        from,
        3,
        None,
    );
    assert_eq!(up.len(), 1);
    let next: Vec<String> = up[0].next.iter().map(|t| t.to_rfc3339()).collect();
    assert_eq!(
        next,
        [
            "2026-11-23T06:00:00+07:00",
            "2026-11-24T06:00:00+07:00",
            "2026-11-25T06:00:00+07:00",
        ]
    );
}

#[test]
fn upcoming_json_is_the_stable_shape() {
    let from = local(JAKARTA, 2026, 11, 22, 12, 0, 0);
    let up = upcoming(
        &[schedule("lagu-pagi", "0 0 6 * * Mon-Sat")],
        JAKARTA,
        from,
        2,
        None,
    );
    let json = serde_json::to_value(UpcomingJson::new(&up)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"schedules": [{
            "name": "lagu-pagi",
            "playlist": "lagu-nasional",
            "zones": ["alun-alun", "arsip"],
            "priority": 50,
            "next": ["2026-11-23T06:00:00+07:00", "2026-11-24T06:00:00+07:00"],
        }]})
    );
}

#[test]
fn human_output_is_one_line_per_fire_in_time_order() {
    let from = local(JAKARTA, 2026, 11, 22, 12, 0, 0);
    let mut siang = schedule("siang", "0 0 12 * * *");
    siang.priority = Priority::ANNOUNCEMENT;
    siang.zones = vec!["alun-alun".to_string()];
    let up = upcoming(
        &[schedule("lagu-pagi", "0 0 6 * * Mon-Sat"), siang],
        JAKARTA,
        from,
        2,
        None,
    );
    assert_eq!(
        format_human(&up),
        "2026-11-23 06:00:00 +07:00  lagu-pagi  playlist lagu-nasional  zones alun-alun,arsip  priority program\n\
         2026-11-23 12:00:00 +07:00  siang      playlist lagu-nasional  zones alun-alun  priority announcement\n\
         2026-11-24 06:00:00 +07:00  lagu-pagi  playlist lagu-nasional  zones alun-alun,arsip  priority program\n\
         2026-11-24 12:00:00 +07:00  siang      playlist lagu-nasional  zones alun-alun  priority announcement\n"
    );
    assert_eq!(format_human(&[]), "no scheduled fires\n");
}

/// `corong schedule --next` leaves out exception dates and dates outside
/// the active range.
#[test]
fn upcoming_skips_exception_dates_and_inactive_days() {
    let tz = chrono_tz::Asia::Jakarta;
    let mut s = schedule("pagi", "0 0 6 * * *");
    s.except_dates
        .insert(NaiveDate::from_ymd_opt(2026, 8, 17).unwrap());
    s.active_until = Some(NaiveDate::from_ymd_opt(2026, 8, 19).unwrap());
    let from = local(tz, 2026, 8, 16, 7, 0, 0);
    let up = upcoming(&[s], tz, from, 5, None);
    let days: Vec<u32> = up[0].next.iter().map(|t| t.day()).collect();
    assert_eq!(days, [18, 19], "17 is a holiday, nothing after the 19th");
}

/// `corong schedule --next` and `status` leave out fires inside the quiet
/// hours, which will not happen, except for emergency schedules.
#[test]
fn upcoming_skips_quiet_hours_below_emergency() {
    let tz = chrono_tz::Asia::Jakarta;
    let quiet = corong::config::QuietHours {
        from: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        to: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
    };
    let hourly = schedule("tiap-jam", "0 0 * * * *");
    let mut siren = schedule("sirene-uji", "0 0 * * * *");
    siren.priority = Priority::EMERGENCY;
    let from = local(tz, 2026, 8, 16, 19, 30, 0);
    let up = upcoming(&[hourly, siren], tz, from, 4, Some(quiet));
    let hours =
        |u: &corong::schedule::Upcoming| -> Vec<u32> { u.next.iter().map(|t| t.hour()).collect() };
    assert_eq!(hours(&up[0]), [20, 5, 6, 7], "21:00 to 04:00 are quiet");
    assert_eq!(
        hours(&up[1]),
        [20, 21, 22, 23],
        "emergencies are never held"
    );
}
