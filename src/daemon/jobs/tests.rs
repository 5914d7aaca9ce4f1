//! The ledger driven in-process with a manual clock: each test feeds it
//! requests, fires and engine events at chosen times and checks the effects
//! it asks for, the answers its clients get and the rows in a real SQLite
//! store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::mpsc;

use super::*;
use crate::control::protocol::{DoneResult, JobState, Reply, Response};
use crate::engine::mixer::MAX_VOICES;
use crate::engine::voice::{EndReason, Yield};
use crate::engine::Event;
use crate::media::prefetch::{FeedEvent, Looping};
use crate::priority::Priority;
use crate::store::{How, JobId, JobKind, Store};

mod replace;

const PASAR: ZoneId = ZoneId(1);
const ALUN: ZoneId = ZoneId(2);
const MASJID: ZoneId = ZoneId(3);

struct Bench {
    ledger: Ledger,
    dir: tempfile::TempDir,
}

/// A ledger over three recorder zones and an in-memory store; `extra` is
/// appended to the config.
fn bench(extra: &str) -> Bench {
    bench_with(extra, |_| Some(Store::open_in_memory().unwrap()))
}

fn bench_with(extra: &str, store: impl FnOnce(&Path) -> Option<Store>) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[daemon]
timezone = "Asia/Jakarta"
state_dir = "state"

[[zones]]
name = "pasar"
wav = "pasar.wav"

[[zones]]
name = "alun"
wav = "alun.wav"

[[zones]]
name = "masjid"
wav = "masjid.wav"
{extra}
"#
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, &text).unwrap();
    let config = crate::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let store = store(&config.daemon.state_dir);
    let wrapping = Wrapping {
        chime: PathBuf::from("/sounds/chime.wav"),
        alert: PathBuf::from("/sounds/alert.wav"),
    };
    let mut ledger = Ledger::new(config, wrapping, store);
    for (id, name) in [(PASAR, "pasar"), (ALUN, "alun"), (MASJID, "masjid")] {
        ledger.zone_added(id, name);
    }
    Bench { ledger, dir }
}

/// 2026-12-07 at `h:m:s` WIB.
fn wib(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Jakarta
        .with_ymd_and_hms(2026, 12, 7, h, m, s)
        .unwrap()
        .with_timezone(&Utc)
}

fn announcement(zones: &[ZoneId], file: &str) -> JobSpec {
    JobSpec {
        kind: JobKind::Announcement,
        origin: Origin::Operator("budi".into()),
        priority: Priority::ANNOUNCEMENT,
        zones: zones.to_vec(),
        files: vec![PathBuf::from(file)],
        chime_before: true,
        chime_after: false,
        not_before: None,
        repeat: 1,
        interval: Duration::from_secs(60),
        text: None,
        run: None,
    }
}

fn emergency(zones: &[ZoneId]) -> JobSpec {
    JobSpec {
        kind: JobKind::Emergency,
        origin: Origin::Emergency("sari".into()),
        priority: Priority::EMERGENCY,
        chime_before: false,
        ..announcement(zones, "/media/evakuasi.wav")
    }
}

fn scheduled(name: &str, zones: &[ZoneId]) -> JobSpec {
    JobSpec {
        kind: JobKind::Schedule,
        origin: Origin::Schedule(name.into()),
        priority: Priority::PROGRAM,
        chime_before: false,
        run: Some(Run {
            shuffle: false,
            loop_until: None,
        }),
        ..announcement(zones, "/media/indonesia-raya.mp3")
    }
}

fn plays(effects: &[Effect]) -> Vec<(JobId, Vec<ZoneId>, Vec<PathBuf>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Play {
                job, zones, files, ..
            } => Some((*job, zones.clone(), files.clone())),
            _ => None,
        })
        .collect()
}

fn wakes(effects: &[Effect]) -> Vec<(JobId, DateTime<Utc>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::WakeAt { job, at } => Some((*job, *at)),
            _ => None,
        })
        .collect()
}

fn started(zone: ZoneId, job: JobId, item: u32) -> Event {
    Event::ItemStarted {
        zone,
        job,
        item,
        at: Instant::now(),
    }
}

fn ended(zone: ZoneId, job: JobId, reason: EndReason) -> Event {
    Event::Ended {
        zone,
        job,
        reason,
        at: Instant::now(),
    }
}

fn opened(zone: ZoneId, job: JobId, item: u32, path: &str) -> FeedEvent {
    FeedEvent::ItemOpened {
        zone,
        job,
        item,
        path: PathBuf::from(path),
    }
}

fn rows(ledger: &Ledger) -> Vec<(String, String, How, Option<String>)> {
    let store = ledger.store().unwrap();
    let mut rows: Vec<_> = store
        .query_as_run(None, None, None)
        .unwrap()
        .into_iter()
        .map(|r| (r.zone, r.file, r.how, r.reason))
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows
}

#[test]
fn an_announcement_is_stored_and_plays_at_once_after_its_chime() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let (id, fx) = b
        .ledger
        .start_job(announcement(&[PASAR, ALUN], "/media/pasar.wav"), now)
        .unwrap();
    assert_eq!(
        plays(&fx),
        vec![(
            id,
            vec![PASAR, ALUN],
            vec!["/sounds/chime.wav".into(), "/media/pasar.wav".into()]
        )]
    );
    let queue = b.ledger.store().unwrap().queue().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, id);
    assert_eq!(queue[0].job.origin, "operator:budi");
    assert_eq!(queue[0].job.zones, ["pasar", "alun"]);
}

#[test]
fn without_a_chime_only_the_files_play() {
    let mut b = bench("");
    let spec = JobSpec {
        chime_before: false,
        ..announcement(&[PASAR], "/media/a.wav")
    };
    let (_, fx) = b.ledger.start_job(spec, wib(10, 0, 0)).unwrap();
    assert_eq!(plays(&fx)[0].2, vec![PathBuf::from("/media/a.wav")]);
}

#[test]
fn an_emergency_plays_the_alert_once_then_its_message_until_stopped() {
    let mut b = bench("");
    let (id, fx) = b
        .ledger
        .start_job(emergency(&[PASAR, ALUN, MASJID]), wib(10, 0, 0))
        .unwrap();
    let Some(Effect::Play {
        job,
        zones,
        priority,
        files,
        order,
        ..
    }) = fx.first()
    else {
        panic!("no play: {fx:?}");
    };
    assert_eq!(*job, id);
    assert_eq!(zones, &[PASAR, ALUN, MASJID]);
    assert_eq!(*priority, Priority::EMERGENCY);
    assert_eq!(
        files,
        &[
            PathBuf::from("/sounds/alert.wav"),
            PathBuf::from("/media/evakuasi.wav")
        ]
    );
    assert_eq!(order.looping, Looping::Forever);
    assert_eq!(order.repeat_from, 1);
}

#[test]
fn a_job_for_later_wakes_then_plays_when_due() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let due = wib(10, 30, 0);
    let spec = JobSpec {
        not_before: Some(due),
        ..announcement(&[PASAR], "/media/a.wav")
    };
    let (id, fx) = b.ledger.start_job(spec, now).unwrap();
    assert!(plays(&fx).is_empty());
    assert_eq!(wakes(&fx), vec![(id, due)]);
    // Woken early (the wall clock went back): it waits again.
    let fx = b.ledger.on_wake(id, wib(10, 29, 0));
    assert_eq!(wakes(&fx), vec![(id, due)]);
    assert!(plays(&fx).is_empty());
    let fx = b.ledger.on_wake(id, due);
    assert_eq!(plays(&fx).len(), 1);
}

#[test]
fn quiet_hours_hold_an_announcement_until_they_end() {
    let mut b = bench("[quiet_hours]\nfrom = \"22:00\"\nto = \"05:00\"\n");
    let (id, fx) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), wib(23, 0, 0))
        .unwrap();
    assert!(plays(&fx).is_empty());
    let end = chrono_tz::Asia::Jakarta
        .with_ymd_and_hms(2026, 12, 8, 5, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(wakes(&fx), vec![(id, end)]);
}

#[test]
fn an_emergency_plays_in_quiet_hours() {
    let mut b = bench("[quiet_hours]\nfrom = \"22:00\"\nto = \"05:00\"\n");
    let (_, fx) = b
        .ledger
        .start_job(emergency(&[PASAR]), wib(23, 0, 0))
        .unwrap();
    assert_eq!(plays(&fx).len(), 1);
    assert!(wakes(&fx).is_empty());
}

#[test]
fn a_job_finishes_once_every_zone_has_ended_and_its_waiter_hears_it() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let (id, _) = b
        .ledger
        .start_job(announcement(&[PASAR, ALUN], "/media/a.wav"), now)
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    assert!(b.ledger.wait_for(id, tx));
    b.ledger.on_engine_event(started(PASAR, id, 0), now);
    assert!(matches!(
        rx.try_recv(),
        Ok(Response::Progress(p)) if p.state == JobState::Playing
    ));
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), now);
    assert!(b.ledger.jobs().contains_key(&id));
    b.ledger
        .on_engine_event(ended(ALUN, id, EndReason::Completed), now);
    assert!(!b.ledger.jobs().contains_key(&id));
    let last = std::iter::from_fn(|| rx.try_recv().ok()).last();
    match last {
        Some(Response::Ok(Reply::Finished(p))) => {
            assert_eq!(p.state, JobState::Done);
            assert_eq!((p.zones_done, p.zones_total), (2, 2));
        }
        other => panic!("{other:?}"),
    }
    let job = b.ledger.store().unwrap().job(id).unwrap().unwrap();
    assert!(job.finished_at.is_some());
}

#[test]
fn a_repeat_is_due_an_interval_after_the_play_ends_on_its_last_zone() {
    let mut b = bench("");
    let spec = JobSpec {
        repeat: 2,
        interval: Duration::from_secs(60),
        ..announcement(&[PASAR, ALUN], "/media/a.wav")
    };
    let (id, _) = b.ledger.start_job(spec, wib(10, 0, 0)).unwrap();
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), wib(10, 0, 20));
    let fx = b
        .ledger
        .on_engine_event(ended(ALUN, id, EndReason::Completed), wib(10, 0, 30));
    assert_eq!(wakes(&fx), vec![(id, wib(10, 1, 30))]);
    let fx = b.ledger.on_wake(id, wib(10, 1, 30));
    assert_eq!(plays(&fx)[0].1, vec![PASAR, ALUN]);
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), wib(10, 2, 0));
    let fx = b
        .ledger
        .on_engine_event(ended(ALUN, id, EndReason::Completed), wib(10, 2, 0));
    assert!(wakes(&fx).is_empty(), "{fx:?}");
    assert!(!b.ledger.jobs().contains_key(&id));
}

#[test]
fn each_item_gets_an_as_run_row_when_the_next_starts_or_the_job_ends() {
    let mut b = bench("");
    let t0 = wib(10, 0, 0);
    let (id, _) = b.ledger.start_job(scheduled("pagi", &[PASAR]), t0).unwrap();
    b.ledger
        .on_feed_event(opened(PASAR, id, 0, "/media/satu.mp3"), t0);
    b.ledger.on_engine_event(started(PASAR, id, 0), t0);
    b.ledger
        .on_feed_event(opened(PASAR, id, 1, "/media/dua.mp3"), t0);
    b.ledger
        .on_engine_event(started(PASAR, id, 1), wib(10, 3, 0));
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), wib(10, 6, 0));
    let rows = b
        .ledger
        .store()
        .unwrap()
        .query_as_run(None, None, None)
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].file, "/media/satu.mp3");
    assert_eq!((rows[0].started_at, rows[0].ended_at), (t0, wib(10, 3, 0)));
    assert_eq!(rows[1].file, "/media/dua.mp3");
    assert_eq!(rows[1].ended_at, wib(10, 6, 0));
    assert!(rows.iter().all(|r| r.how == How::Completed));
    assert!(rows.iter().all(|r| r.origin == "schedule:pagi"));
}

#[test]
fn a_file_that_never_opened_gets_a_failed_row_naming_why() {
    let mut b = bench("");
    let t0 = wib(10, 0, 0);
    let (id, _) = b.ledger.start_job(scheduled("pagi", &[PASAR]), t0).unwrap();
    b.ledger.on_feed_event(
        FeedEvent::ItemFailed {
            zone: PASAR,
            job: id,
            item: 0,
            path: "/media/rusak.mp3".into(),
            reason: "not a media file".into(),
        },
        t0,
    );
    assert_eq!(
        rows(&b.ledger),
        vec![(
            "pasar".into(),
            "/media/rusak.mp3".into(),
            How::Failed,
            Some("not a media file".into())
        )]
    );
}

#[test]
fn a_damaged_item_plays_out_and_its_row_says_damaged() {
    let mut b = bench("");
    let t0 = wib(10, 0, 0);
    let (id, _) = b.ledger.start_job(scheduled("pagi", &[PASAR]), t0).unwrap();
    b.ledger
        .on_feed_event(opened(PASAR, id, 0, "/media/potong.mp3"), t0);
    b.ledger.on_engine_event(started(PASAR, id, 0), t0);
    b.ledger.on_feed_event(
        FeedEvent::ItemDamaged {
            zone: PASAR,
            job: id,
            item: 0,
            path: "/media/potong.mp3".into(),
            reason: "cut short".into(),
        },
        t0,
    );
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), wib(10, 1, 0));
    assert_eq!(
        rows(&b.ledger),
        vec![(
            "pasar".into(),
            "/media/potong.mp3".into(),
            How::Damaged,
            Some("cut short".into())
        )]
    );
}

#[test]
fn a_skip_closes_the_item_as_skipped() {
    let mut b = bench("");
    let t0 = wib(10, 0, 0);
    let (id, _) = b.ledger.start_job(scheduled("pagi", &[PASAR]), t0).unwrap();
    assert_eq!(
        b.ledger.skip(&[PASAR], "budi"),
        vec![Effect::Skip { zone: PASAR }]
    );
    b.ledger
        .on_feed_event(opened(PASAR, id, 0, "/media/satu.mp3"), t0);
    b.ledger.on_engine_event(started(PASAR, id, 0), t0);
    b.ledger.on_engine_event(
        Event::Skipped {
            zone: PASAR,
            job: id,
            item: 0,
            at: Instant::now(),
        },
        wib(10, 0, 5),
    );
    assert_eq!(rows(&b.ledger)[0].2, How::Skipped);
}

#[test]
fn cancel_stops_the_job_everywhere_and_the_store_keeps_it_cancelled() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let (id, _) = b
        .ledger
        .start_job(announcement(&[PASAR, ALUN], "/media/a.wav"), now)
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    b.ledger.wait_for(id, tx);
    b.ledger
        .on_feed_event(opened(PASAR, id, 0, "/media/a.wav"), now);
    b.ledger.on_engine_event(started(PASAR, id, 0), now);
    let (zones, fx) = b.ledger.cancel(id, "cancelled by budi", now).unwrap();
    // The zone it was on air on: its item's row is written, cancelled.
    assert_eq!(zones, ["pasar"]);
    assert_eq!(
        fx,
        vec![Effect::Stop {
            job: id,
            zone: None,
            reason: EndReason::Cancelled
        }]
    );
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Cancelled), now);
    b.ledger
        .on_engine_event(ended(ALUN, id, EndReason::Cancelled), now);
    let last = std::iter::from_fn(|| rx.try_recv().ok()).last();
    assert!(
        matches!(last, Some(Response::Ok(Reply::Finished(ref p))) if p.state == JobState::Cancelled),
        "{last:?}"
    );
    let job = b.ledger.store().unwrap().job(id).unwrap().unwrap();
    assert!(job.cancelled);
    assert!(b.ledger.store().unwrap().queue().unwrap().is_empty());
    assert_eq!(
        rows(&b.ledger),
        vec![(
            "pasar".into(),
            "/media/a.wav".into(),
            How::Cancelled,
            Some("cancelled by budi".into())
        )]
    );
}

#[test]
fn cancelling_an_unknown_or_finished_job_is_refused_by_kind() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    assert_eq!(
        b.ledger.cancel(JobId(99), "x", now).unwrap_err(),
        JobError::NoSuchJob(JobId(99))
    );
    let (id, _) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), now)
        .unwrap();
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), now);
    let err = b.ledger.cancel(id, "x", now).unwrap_err();
    assert_eq!(err, JobError::Finished(id));
    assert_eq!(err.to_string(), format!("job {id} has already finished"));
}

#[test]
fn stop_ends_everything_on_the_zones_and_answers_when_they_are_released() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let (a, _) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), now)
        .unwrap();
    let (other, _) = b
        .ledger
        .start_job(announcement(&[MASJID], "/media/b.wav"), now)
        .unwrap();
    let (sounding, fx) = b.ledger.stop_zones(&[PASAR, ALUN], now);
    assert_eq!(sounding, vec![a]);
    assert_eq!(
        fx,
        vec![
            Effect::StopZone {
                zone: PASAR,
                reason: EndReason::Cancelled
            },
            Effect::StopZone {
                zone: ALUN,
                reason: EndReason::Cancelled
            }
        ]
    );
    let (tx, mut rx) = mpsc::channel(4);
    let ending = b.ledger.voices_of(&sounding, &[PASAR, ALUN]);
    let done = Reply::Done(DoneResult {
        message: "stopped".into(),
        zones: vec!["pasar".into()],
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    assert!(b
        .ledger
        .reply_when_released(ending, done, &tx, deadline)
        .is_none());
    assert!(
        rx.try_recv().is_err(),
        "answered before the zone was silent"
    );
    b.ledger
        .on_engine_event(ended(PASAR, a, EndReason::Cancelled), now);
    assert!(matches!(rx.try_recv(), Ok(Response::Ok(Reply::Done(_)))));
    assert!(
        b.ledger.jobs().contains_key(&other),
        "another zone's job ended"
    );
}

#[test]
fn a_stop_whose_zones_stay_busy_is_answered_at_its_deadline() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let (a, _) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), now)
        .unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let ending = b.ledger.voices_of(&[a], &[PASAR]);
    let done = Reply::Done(DoneResult {
        message: "stopped".into(),
        zones: vec![],
    });
    let t = Instant::now();
    b.ledger
        .reply_when_released(ending, done, &tx, t + Duration::from_secs(2));
    b.ledger.released(None, t + Duration::from_secs(1));
    assert!(rx.try_recv().is_err());
    b.ledger.released(None, t + Duration::from_secs(2));
    assert!(matches!(rx.try_recv(), Ok(Response::Ok(Reply::Done(_)))));
}

#[test]
fn a_full_zone_keeps_places_for_emergencies_and_admits_the_next_job_when_one_ends() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let room = MAX_VOICES - super::super::slots::EMERGENCY_RESERVE;
    let mut ids = Vec::new();
    for n in 0..room {
        let (id, fx) = b
            .ledger
            .start_job(announcement(&[PASAR], &format!("/media/{n}.wav")), now)
            .unwrap();
        assert_eq!(plays(&fx).len(), 1, "job {n} did not start");
        ids.push(id);
    }
    let (tx, mut rx) = mpsc::channel(8);
    let (waiting, fx) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/late.wav"), now)
        .unwrap();
    assert!(plays(&fx).is_empty(), "a full zone took a job: {fx:?}");
    b.ledger.wait_for(waiting, tx);
    // An emergency still finds a place.
    let (_, fx) = b.ledger.start_job(emergency(&[PASAR]), now).unwrap();
    assert_eq!(plays(&fx).len(), 1);
    // One ends: the emergency holds a place of its own reserve, so the
    // zone is still full for announcements.
    let fx = b
        .ledger
        .on_engine_event(ended(PASAR, ids[0], EndReason::Completed), now);
    assert!(plays(&fx).is_empty(), "{fx:?}");
    // Another ends: the waiting job gets its place.
    let fx = b
        .ledger
        .on_engine_event(ended(PASAR, ids[1], EndReason::Completed), now);
    assert_eq!(
        plays(&fx),
        vec![(
            waiting,
            vec![PASAR],
            vec!["/sounds/chime.wav".into(), "/media/late.wav".into()]
        )]
    );
    drop(rx.try_recv());
}

#[test]
fn a_waiting_job_tells_its_client_why_it_waits() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let room = MAX_VOICES - super::super::slots::EMERGENCY_RESERVE;
    for n in 0..room {
        b.ledger
            .start_job(announcement(&[ALUN], &format!("/media/{n}.wav")), now)
            .unwrap();
    }
    // The `--wait` client registers after the job is accepted, so the
    // reason reaches it on the next change; the ledger's own log says it at
    // once. Here: a second waiting job is queued behind the first.
    let (w1, _) = b
        .ledger
        .start_job(announcement(&[ALUN], "/media/w1.wav"), now)
        .unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    b.ledger.wait_for(w1, tx);
    let fx = b.ledger.cancel(w1, "cancelled by budi", now).unwrap().1;
    assert!(plays(&fx).is_empty());
    let last = std::iter::from_fn(|| rx.try_recv().ok()).last();
    assert!(
        matches!(last, Some(Response::Ok(Reply::Finished(ref p))) if p.state == JobState::Cancelled),
        "{last:?}"
    );
    assert_eq!(b.ledger.slots().waiting(ALUN), 0);
}

#[test]
fn a_schedule_plays_without_a_store_but_an_operator_is_refused() {
    let mut b = bench_with("", |_| None);
    // Make reopening fail: the state folder is a file.
    let state = b.ledger.state_dir().to_path_buf();
    std::fs::write(&state, b"not a folder").unwrap();
    let now = wib(10, 0, 0);
    let (id, fx) = b
        .ledger
        .start_job(scheduled("pagi", &[PASAR]), now)
        .unwrap();
    assert!(id > LOCAL_ID_BASE);
    assert_eq!(plays(&fx).len(), 1);
    let err = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), now)
        .unwrap_err();
    assert!(matches!(err, StartError::Store(_)));
    assert_eq!(err.code(), crate::control::protocol::ErrorCode::Failed);
    drop(b.dir);
}

#[test]
fn a_fire_skips_zones_where_its_previous_run_still_plays() {
    let extra = r#"
[[schedules]]
name = "pagi"
cron = "0 0 6 * * *"
text = "Selamat pagi"
zones = ["pasar", "alun"]
"#;
    let mut b = bench(extra);
    let sched = b.ledger.config.schedules[0].clone();
    assert_eq!(
        b.ledger.fire_zones(&sched, wib(6, 0, 0)),
        Some(vec![PASAR, ALUN])
    );
    let (id, _) = b
        .ledger
        .start_job(scheduled("pagi", &[PASAR]), wib(6, 0, 0))
        .unwrap();
    assert_eq!(b.ledger.fire_zones(&sched, wib(6, 1, 0)), Some(vec![ALUN]));
    b.ledger
        .start_job(scheduled("pagi", &[ALUN]), wib(6, 1, 0))
        .unwrap();
    assert_eq!(b.ledger.fire_zones(&sched, wib(6, 2, 0)), None);
    assert!(b.ledger.jobs()[&id].skipped_fires >= 1);
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), wib(6, 3, 0));
    assert_eq!(b.ledger.fire_zones(&sched, wib(6, 4, 0)), Some(vec![PASAR]));
}

#[test]
fn a_fire_in_quiet_hours_or_before_its_first_day_does_not_play() {
    let extra = r#"
[quiet_hours]
from = "22:00"
to = "05:00"

[[schedules]]
name = "malam"
cron = "0 0 * * * *"
text = "Jam"
zones = ["pasar"]

[[schedules]]
name = "baru"
cron = "0 0 * * * *"
text = "Baru"
zones = ["pasar"]
active_from = "2026-12-08"
"#;
    let mut b = bench(extra);
    let [malam, baru] = [0, 1].map(|i| b.ledger.config.schedules[i].clone());
    assert_eq!(b.ledger.fire_zones(&malam, wib(23, 0, 0)), None);
    assert_eq!(
        b.ledger.fire_zones(&malam, wib(12, 0, 0)),
        Some(vec![PASAR])
    );
    assert_eq!(b.ledger.fire_zones(&baru, wib(12, 0, 0)), None);
}

#[test]
fn a_loop_until_run_asks_to_be_stopped_then() {
    let mut b = bench("");
    let until = std::time::SystemTime::from(wib(6, 30, 0));
    let spec = JobSpec {
        run: Some(Run {
            shuffle: true,
            loop_until: Some(until),
        }),
        ..scheduled("pagi", &[PASAR])
    };
    let (id, fx) = b.ledger.start_job(spec, wib(6, 0, 0)).unwrap();
    assert!(fx.contains(&Effect::StopAt { job: id, until }));
    let Some(Effect::Play { order, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert!(order.shuffle);
    assert_eq!(order.looping, Looping::Until(until));
}

#[test]
fn each_priority_yields_as_the_preemption_table_says() {
    let mut b = bench("[preemption]\nprogram = \"duck\"\nduck_db = -12.0\n");
    let (_, fx) = b
        .ledger
        .start_job(scheduled("pagi", &[PASAR]), wib(6, 0, 0))
        .unwrap();
    let Some(Effect::Play { yields, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    let gain = 10f32.powf(-12.0 / 20.0);
    assert!(matches!(yields, Yield::Duck { gain: g } if (g - gain).abs() < 1e-4));
    let (_, fx) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), wib(6, 0, 0))
        .unwrap();
    assert!(matches!(
        fx.first(),
        Some(Effect::Play {
            yields: Yield::Pause,
            ..
        })
    ));
}

#[test]
fn a_restart_restores_unfinished_announcements_but_not_scheduled_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let now = wib(10, 0, 0);
    let (ann, sched) = {
        let mut b = bench_with("", |_| Some(Store::open(&state).unwrap()));
        let (ann, _) = b
            .ledger
            .start_job(announcement(&[PASAR, ALUN], "/media/a.wav"), now)
            .unwrap();
        b.ledger
            .on_engine_event(ended(PASAR, ann, EndReason::Completed), now);
        let (sched, _) = b
            .ledger
            .start_job(scheduled("pagi", &[MASJID]), now)
            .unwrap();
        b.ledger.on_engine_event(started(MASJID, sched, 0), now);
        (ann, sched)
        // Dropped here without the voices ending: a power cut.
    };
    let mut b = bench_with("", |_| Some(Store::open(&state).unwrap()));
    let fx = b.ledger.restore(wib(10, 5, 0));
    // Only the zone it had not finished.
    assert_eq!(
        plays(&fx),
        vec![(
            ann,
            vec![ALUN],
            vec!["/sounds/chime.wav".into(), "/media/a.wav".into()]
        )]
    );
    let run = b.ledger.store().unwrap().job(sched).unwrap().unwrap();
    assert!(run.cancelled, "a scheduled run came back");
}

#[test]
fn a_zone_removed_by_reload_ends_the_jobs_waiting_for_it_as_cancelled() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let room = MAX_VOICES - super::super::slots::EMERGENCY_RESERVE;
    for n in 0..room {
        b.ledger
            .start_job(announcement(&[MASJID], &format!("/media/{n}.wav")), now)
            .unwrap();
    }
    let (w, _) = b
        .ledger
        .start_job(announcement(&[MASJID], "/media/w.wav"), now)
        .unwrap();
    b.ledger.zone_removed(MASJID, now);
    assert!(!b.ledger.jobs().contains_key(&w));
    let job = b.ledger.store().unwrap().job(w).unwrap().unwrap();
    assert_eq!(job.progress[0].how, Some(How::Cancelled));
    // Events for the gone zone still name it.
    assert_eq!(b.ledger.zone_name(MASJID), "masjid");
    assert_eq!(b.ledger.zone_id("masjid"), None);
}

#[test]
fn an_interrupted_zone_plays_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let now = wib(10, 0, 0);
    let id = {
        let mut b = bench_with("", |_| Some(Store::open(&state).unwrap()));
        let (id, _) = b
            .ledger
            .start_job(announcement(&[PASAR], "/media/a.wav"), now)
            .unwrap();
        b.ledger.on_engine_event(started(PASAR, id, 0), now);
        // A clean stop: the engine interrupts the voice.
        b.ledger
            .on_engine_event(ended(PASAR, id, EndReason::Interrupted), now);
        id
    };
    let mut b = bench_with("", |_| Some(Store::open(&state).unwrap()));
    let fx = b.ledger.restore(wib(10, 1, 0));
    assert_eq!(plays(&fx)[0].0, id);
}

/// The title of the item on air (for Icecast): none for the chime, the
/// file's name once the decoder has said which file the item is, even when
/// that word comes after the engine's that the item went on air.
#[test]
fn the_title_on_air_is_the_file_name_once_the_file_is_known() {
    let mut b = bench("");
    let now = wib(10, 0, 0);
    let (id, _) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/Adzan Subuh.wav"), now)
        .unwrap();
    let opened = |item: u32, path: PathBuf| FeedEvent::ItemOpened {
        zone: PASAR,
        job: id,
        item,
        path,
    };
    let chime = b.ledger.wrapping.chime.clone();
    b.ledger.on_feed_event(opened(0, chime), now);
    b.ledger.on_engine_event(started(PASAR, id, 0), now);
    assert_eq!(b.ledger.title_on(id, PASAR), None, "the chime has none");
    b.ledger.on_engine_event(started(PASAR, id, 1), now);
    assert_eq!(b.ledger.title_if_on_air(id, PASAR, 1), None, "no file yet");
    b.ledger
        .on_feed_event(opened(1, PathBuf::from("/media/Adzan Subuh.wav")), now);
    assert_eq!(
        b.ledger.title_if_on_air(id, PASAR, 1).as_deref(),
        Some("Adzan Subuh")
    );
    assert_eq!(b.ledger.title_if_on_air(id, PASAR, 0), None, "not on air");
}
