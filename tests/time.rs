//! Time you can trust, end to end: fires missed while the daemon was down,
//! exception dates, quiet hours.

mod common;

use std::time::Duration;

use chrono::{Timelike, Utc};
use common::station::{cron_in, Station};
use common::{ffmpeg_tone, require_peer};

/// A cron expression (UTC) for the second `secs_ago` seconds ago.
fn cron_ago(secs_ago: i64) -> String {
    let t = Utc::now() - chrono::Duration::seconds(secs_ago);
    format!("{} {} {} * * *", t.second(), t.minute(), t.hour())
}

fn station_with(schedule_extra: &str, cron: &str, alive_secs_ago: Option<i64>) -> Station {
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 0.5, 48_000, 1, &[]);
    st.playlist("p", &["../media/a.wav"]);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{cron}\"\nplaylist = \"p\"\nzones = [\"pasar\"]\n{schedule_extra}"
    ));
    if let Some(ago) = alive_secs_ago {
        std::fs::create_dir_all(st.path("state")).unwrap();
        let t = Utc::now() - chrono::Duration::seconds(ago);
        std::fs::write(st.path("state/alive"), t.to_rfc3339()).unwrap();
    }
    st
}

/// `missed = "catch-up"`: a fire missed while the daemon was down, within
/// the grace, plays at start, once.
#[test]
fn a_missed_fire_within_grace_is_caught_up_once() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = station_with(
        "missed = \"catch-up\"\ngrace_s = 300\n",
        &cron_ago(60),
        Some(120),
    );
    let d = st.start();
    d.wait_log("catching up a fire missed", Duration::from_secs(5));
    d.wait_log(
        "ended zone=pasar job=1 how=completed",
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.log_lines(&["schedule fired"]).len(), 1);
    assert!(d.stop().success());
    // A restart right after: the fire was handled, so it is not caught up
    // again.
    let d = st.start();
    std::thread::sleep(Duration::from_millis(800));
    assert!(d.log_lines(&["catching up"]).is_empty(), "{}", d.log_text());
    assert!(d.stop().success());
}

/// `missed = "skip"` (the default), or a fire older than the grace: not
/// played.
#[test]
fn a_missed_fire_is_skipped_by_default_or_past_its_grace() {
    if !require_peer("ffmpeg") {
        return;
    }
    for (extra, cron) in [
        ("", cron_ago(60)),
        ("missed = \"catch-up\"\ngrace_s = 30\n", cron_ago(60)),
    ] {
        let st = station_with(extra, &cron, Some(120));
        let d = st.start();
        std::thread::sleep(Duration::from_millis(800));
        assert!(
            d.log_lines(&["schedule fired"]).is_empty(),
            "{extra}: {}",
            d.log_text()
        );
        assert!(d.stop().success());
    }
}

/// A schedule does not fire on an exception date.
#[test]
fn no_fire_on_an_exception_date() {
    if !require_peer("ffmpeg") {
        return;
    }
    let today = Utc::now().date_naive();
    let st = station_with(
        &format!("except_dates = [\"{today}\"]\n"),
        &cron_in(2),
        None,
    );
    let d = st.start();
    d.wait_log("not fired", Duration::from_secs(6));
    assert!(d.log_lines(&["schedule fired"]).is_empty());
    assert!(d.stop().success());
}

/// Quiet hours: a schedule does not fire, an announcement is refused with
/// the way out, an emergency plays.
#[test]
fn quiet_hours_hold_everything_below_emergency() {
    if !require_peer("ffmpeg") {
        return;
    }
    let now = Utc::now();
    let from = (now - chrono::Duration::minutes(1)).format("%H:%M");
    let to = (now + chrono::Duration::minutes(2)).format("%H:%M");
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 0.5, 48_000, 1, &[]);
    st.playlist("p", &["../media/a.wav"]);
    st.config(&format!(
        "[quiet_hours]\nfrom = \"{from}\"\nto = \"{to}\"\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"p\"\nzones = [\"pasar\"]\n",
        cron_in(2)
    ));
    let d = st.start();
    let (code, out, err) = st.client(&["announce", "media/a.wav"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("quiet hours") && err.contains("--at"), "{err}");
    let (code, out, err) = st.client(&["emergency", "media/a.wav"]);
    assert_eq!(code, 0, "{out} {err}");
    d.wait_log("not fired: quiet hours", Duration::from_secs(6));
    d.wait_log("on air zone=pasar", Duration::from_secs(3));
    assert!(d.stop().success());
}

/// A repeat that comes due inside the quiet hours waits for their end,
/// then plays (quiet hours given to the second).
#[test]
fn a_repeat_due_in_quiet_hours_waits_for_their_end() {
    if !require_peer("ffmpeg") {
        return;
    }
    let now = Utc::now();
    // Whole seconds, as the config says them.
    let now = now.with_nanosecond(0).unwrap();
    let from = now + chrono::Duration::seconds(4);
    let to = now + chrono::Duration::seconds(9);
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 0.5, 48_000, 1, &[]);
    st.config(&format!(
        "[quiet_hours]\nfrom = \"{}\"\nto = \"{}\"\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n",
        from.format("%H:%M:%S"),
        to.format("%H:%M:%S")
    ));
    let d = st.start();
    let (code, out, err) = st.client(&[
        "announce",
        "media/a.wav",
        "--no-chime",
        "--repeat",
        "2",
        "--interval",
        "4",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    // First play now; the second falls due about 4.5 s from now, inside
    // the quiet hours, and waits until they end.
    d.wait_log("held: quiet hours", Duration::from_secs(8));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while d.log_lines(&["on air zone=pasar"]).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the repeat never played: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second_on_air = Utc::now();
    assert!(
        second_on_air >= to,
        "the repeat played at {second_on_air}, inside quiet hours ending {to}"
    );
    assert!(
        second_on_air < to + chrono::Duration::seconds(2),
        "the repeat played late: {second_on_air}, quiet hours ended {to}"
    );
    assert!(d.stop().success());
}

/// `wait_for_clock_sync`: schedules wait while the clock is not
/// synchronized (announcements do not), and start once it is, without
/// catching up what passed meanwhile.
#[test]
fn schedules_wait_for_the_clock_to_be_synchronized() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 0.3, 48_000, 1, &[]);
    st.playlist("p", &["../media/a.wav"]);
    st.config(
        "[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"*/2 * * * * *\"\nplaylist = \"p\"\nzones = [\"pasar\"]\n",
    );
    // Append the key to [daemon], which `config` writes first.
    let path = st.path("config.toml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "[daemon]\n",
        "[daemon]\nwait_for_clock_sync = true\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let synced = st.path("clock-synchronized");
    let d = st.start_with_env(&[(
        corong::schedule::sync::TEST_SYNC_FILE_ENV,
        synced.as_os_str(),
    )]);
    d.wait_log(
        "schedules wait until the system clock is synchronized",
        Duration::from_secs(3),
    );
    // An announcement plays meanwhile.
    let (code, out, err) = st.client(&["announce", "media/a.wav", "--no-chime"]);
    assert_eq!(code, 0, "{out} {err}");
    d.wait_log("on air zone=pasar", Duration::from_secs(3));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        d.log_lines(&["schedule fired"]).is_empty(),
        "fired before the clock was synchronized: {}",
        d.log_text()
    );
    std::fs::write(&synced, "").unwrap();
    d.wait_log(
        "system clock synchronized: schedules start",
        Duration::from_secs(3),
    );
    d.wait_log("schedule fired", Duration::from_secs(4));
    assert!(d.stop().success());
}
