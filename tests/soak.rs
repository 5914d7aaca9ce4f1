//! A soak on an accelerated clock: a day and a half of schedules and random
//! announcements, run in seconds.
//!
//! The parts of the daemon that hold time, jobs and the queue are driven
//! together by a simulated wall clock: the [`Scheduler`] is polled the way
//! its runner polls it (every few hundred milliseconds to a few seconds,
//! with the clock now and then nudged back by NTP or forward by a late
//! wake-up), and every fire and every announcement goes through the real
//! job [`Ledger`] over the real on-disk [`Store`], the daemon's one
//! entrance for jobs. A small stand-in for the engine plays what the ledger
//! asks for: each item goes on air and ends at simulated times, and its
//! events go back into the ledger as the engine's would.
//!
//! What is checked:
//! - every fire time of every schedule fires exactly once (the expected
//!   times come from an independent matcher that walks every second of the
//!   run), in time order;
//! - every accepted announcement finishes on every zone, once, and the
//!   queue ends empty; the ledger holds no job; the as-run log has exactly
//!   the rows of the items played;
//! - the process's resident memory grows by less than 1 MB from the end of
//!   the first simulated hour to the end of the run.
//!
//! It is one test in its own binary, so its memory is its own.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use corong::config::Schedule;
use corong::daemon::jobs::{Effect, JobSpec, Ledger, Origin, Run, Wrapping};
use corong::engine::voice::EndReason;
use corong::engine::Event;
use corong::ids::{JobId, ZoneId};
use corong::media::prefetch::FeedEvent;
use corong::priority::Priority;
use corong::schedule::Scheduler;
use corong::store::{JobKind, Store};

const TZ: Tz = chrono_tz::Asia::Jakarta;
const SIM_HOURS: i64 = 36;
const ZONES: [&str; 4] = ["alun-alun", "pasar", "kelurahan", "arsip"];

/// The schedules of the run: (name, cron).
const SCHEDULES: [(&str, &str); 6] = [
    ("setiap-5-menit", "0 */5 * * * *"),
    ("jam-lewat-15", "30 15 * * * *"),
    ("lagu-pagi", "0 0 6 * * Mon-Sat"),
    ("siang", "0 0 12 * * *"),
    ("apel-pagi", "*/20 * 7-8 * * *"),
    ("minggu-sore", "0 30 18 * * Sun"),
];

fn schedule(name: &str, cron: &str) -> Schedule {
    common::schedule(name, cron, &ZONES)
}

/// Whether one cron field matches `value`. Handles the forms the schedules
/// above use (`*`, `*/n`, `a`, `a-b`, day names), written apart from the
/// crate's cron code so that it is an independent check.
fn field_matches(field: &str, value: u32) -> bool {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let num = |s: &str| -> u32 {
        DAYS.iter()
            .position(|d| d.eq_ignore_ascii_case(s))
            .map(|p| p as u32)
            .unwrap_or_else(|| s.parse().unwrap())
    };
    field.split(',').any(|part| {
        if part == "*" {
            true
        } else if let Some(step) = part.strip_prefix("*/") {
            value % step.parse::<u32>().unwrap() == 0
        } else if let Some((a, b)) = part.split_once('-') {
            (num(a)..=num(b)).contains(&value)
        } else {
            num(part) == value
        }
    })
}

fn cron_matches(cron: &str, t: DateTime<Tz>) -> bool {
    let f: Vec<&str> = cron.split_whitespace().collect();
    field_matches(f[0], t.second())
        && field_matches(f[1], t.minute())
        && field_matches(f[2], t.hour())
        && field_matches(f[3], t.day())
        && field_matches(f[4], t.month())
        && field_matches(f[5], t.weekday().num_days_from_sunday())
}

/// Resident set size of this process, bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// xorshift64: reproducible randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the stand-in engine does at a simulated time.
enum Sim {
    /// Item `item` (the file `path`) goes on air.
    Start {
        zone: ZoneId,
        job: JobId,
        item: u32,
        path: PathBuf,
    },
    /// The job's voice on the zone ends.
    End { zone: ZoneId, job: JobId },
}

/// The stand-in engine: plays each item of a `Play` for `item_len`, one
/// after the other, on each of its zones.
#[derive(Default)]
struct Engine {
    due: BTreeMap<(DateTime<Utc>, u64), Sim>,
    seq: u64,
    items_played: usize,
}

impl Engine {
    fn at(&mut self, t: DateTime<Utc>, sim: Sim) {
        self.seq += 1;
        self.due.insert((t, self.seq), sim);
    }

    /// Carry out the ledger's effects at `now`.
    fn apply(&mut self, effects: Vec<Effect>, now: DateTime<Utc>, item_len: Duration) {
        for e in effects {
            match e {
                Effect::Play {
                    job, zones, files, ..
                } => {
                    for zone in zones {
                        let mut t = now;
                        for (item, path) in files.iter().enumerate() {
                            let item = item as u32;
                            let path = path.clone();
                            self.at(
                                t,
                                Sim::Start {
                                    zone,
                                    job,
                                    item,
                                    path,
                                },
                            );
                            t += item_len;
                        }
                        self.at(t, Sim::End { zone, job });
                    }
                }
                other => panic!("the soak's jobs ask for no {other:?}"),
            }
        }
    }

    /// Run what is due by `now` through the ledger, in time order.
    fn run_until(&mut self, ledger: &mut Ledger, now: DateTime<Utc>) {
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((t, _), sim) = entry.remove_entry();
            let effects = match sim {
                Sim::Start {
                    zone,
                    job,
                    item,
                    path,
                } => {
                    ledger.on_feed_event(
                        FeedEvent::ItemOpened {
                            zone,
                            job,
                            item,
                            path,
                        },
                        t,
                    );
                    self.items_played += 1;
                    let started = Event::ItemStarted {
                        zone,
                        job,
                        item,
                        at: Instant::now(),
                    };
                    ledger.on_engine_event(started, t)
                }
                Sim::End { zone, job } => {
                    let ended = Event::Ended {
                        zone,
                        job,
                        reason: EndReason::Completed,
                        at: Instant::now(),
                    };
                    ledger.on_engine_event(ended, t)
                }
            };
            assert!(effects.is_empty(), "{effects:?}");
        }
    }
}

/// The ledger over a config with [`ZONES`] and `schedules`, on a store in
/// `dir`.
fn ledger(dir: &std::path::Path, schedules: &[Schedule]) -> Ledger {
    let mut text = String::from("[daemon]\ntimezone = \"Asia/Jakarta\"\nstate_dir = \"state\"\n");
    for zone in ZONES {
        text.push_str(&format!(
            "\n[[zones]]\nname = \"{zone}\"\nwav = \"{zone}.wav\"\n"
        ));
    }
    let mut config =
        corong::config::load_str(&text, &dir.join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    config.schedules = schedules.to_vec();
    let store = Store::open(&config.daemon.state_dir).unwrap();
    let wrapping = Wrapping {
        chime: "/etc/corong/media/chime.wav".into(),
        alert: "/etc/corong/media/alert.wav".into(),
    };
    let mut ledger = Ledger::new(config, wrapping, Some(store));
    for (n, zone) in ZONES.iter().enumerate() {
        ledger.zone_added(ZoneId(n as u32 + 1), zone);
    }
    ledger
}

#[test]
fn a_simulated_day_and_a_half_fires_every_time_once_and_keeps_every_announcement() {
    // Sunday 1 March 2026, 00:00 in Jakarta: the run covers a Sunday
    // evening, a Monday morning and two midnights.
    let start = TZ
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    let end = start + Duration::hours(SIM_HOURS);

    // What must fire, from the independent matcher: every second of the
    // run, after the first poll (the scheduler does not catch up at start).
    let mut expected: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut t = start + Duration::seconds(1);
    while t <= end {
        let local = t.with_timezone(&TZ);
        for (name, cron) in SCHEDULES {
            if cron_matches(cron, local) {
                expected.push((t, name.to_string()));
            }
        }
        t += Duration::seconds(1);
    }

    let schedules: Vec<Schedule> = SCHEDULES.iter().map(|(n, c)| schedule(n, c)).collect();
    let mut scheduler = Scheduler::new(&schedules, TZ);
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = ledger(dir.path(), &schedules);
    let mut engine = Engine::default();
    let mut rng = Rng(0x00c0_ffee_d00d_f00d);

    let mut fired: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut accepted: Vec<JobId> = Vec::new();
    let mut next_announcement = start + Duration::minutes(7);
    let mut rss_after_first_hour = None;
    let mut clock_nudges = 0;

    let mut now = start;
    assert!(scheduler.poll(now).is_empty(), "no catch-up at start");
    while now < end {
        // How the runner wakes: at the next fire or within a second, a
        // little late; now and then the clock itself moves.
        let mut step = Duration::milliseconds(50 + rng.below(1450) as i64);
        match rng.below(2000) {
            0 => {
                // NTP steps the clock back up to 30 s.
                step = -Duration::seconds(1 + rng.below(30) as i64);
                clock_nudges += 1;
            }
            1 => {
                // A wake-up 1 to 120 s late (a busy or suspended machine),
                // well within the runner's 5-minute grace.
                step = Duration::seconds(1 + rng.below(120) as i64);
                clock_nudges += 1;
            }
            _ => {}
        }
        now = (now + step).min(end);

        engine.run_until(&mut ledger, now);
        for fire in scheduler.poll(now) {
            // A fire goes through the ledger: a run of its schedule on
            // every zone (each item a second long).
            // What the engine did up to the fire comes first (a late
            // wake-up hands over several fires at once).
            engine.run_until(&mut ledger, fire.at);
            let sched = schedules[fire.index].clone();
            let zones = ledger
                .fire_zones(&sched, fire.at)
                .expect("a run ends long before its schedule fires again");
            let spec = JobSpec {
                kind: JobKind::Schedule,
                origin: Origin::Schedule(sched.name.clone()),
                priority: sched.priority,
                zones,
                files: vec![PathBuf::from("/etc/corong/media/lagu.mp3")],
                chime_before: false,
                chime_after: false,
                not_before: None,
                repeat: 1,
                interval: StdDuration::ZERO,
                text: None,
                run: Some(Run {
                    shuffle: false,
                    loop_until: None,
                }),
            };
            let (_, effects) = ledger.start_job(spec, fire.at).unwrap();
            engine.apply(effects, fire.at, Duration::seconds(1));
            fired.push((fire.at, fire.schedule));
        }

        // An operator announces something about every ten minutes: a
        // chime, then the message, on one to four zones.
        if now >= next_announcement {
            let n = 1 + rng.below(ZONES.len() as u64) as usize;
            let first = rng.below(ZONES.len() as u64) as usize;
            let zones: Vec<ZoneId> = (0..n)
                .map(|i| ZoneId(((first + i) % ZONES.len()) as u32 + 1))
                .collect();
            let spec = JobSpec {
                kind: JobKind::Announcement,
                origin: Origin::Operator("budi".into()),
                priority: Priority::ANNOUNCEMENT,
                zones,
                files: vec![PathBuf::from("/srv/corong/pengumuman.mp3")],
                chime_before: true,
                chime_after: false,
                not_before: None,
                repeat: 1,
                interval: StdDuration::from_secs(60),
                text: None,
                run: None,
            };
            let (id, effects) = ledger.start_job(spec, now).unwrap();
            let item_len = Duration::seconds(2 + rng.below(30) as i64);
            engine.apply(effects, now, item_len);
            accepted.push(id);
            next_announcement = now + Duration::seconds(300 + rng.below(600) as i64);
        }

        if rss_after_first_hour.is_none() && now >= start + Duration::hours(1) {
            rss_after_first_hour = Some(rss_bytes());
        }
    }
    // Let the last items end.
    engine.run_until(&mut ledger, end + Duration::hours(1));
    let rss_end = rss_bytes();
    let rss_start = rss_after_first_hour.unwrap();

    // Every fire once, in order.
    let mut counts: BTreeMap<(DateTime<Utc>, String), usize> = BTreeMap::new();
    for f in &fired {
        *counts.entry(f.clone()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    let missed: Vec<_> = expected
        .iter()
        .filter(|e| !counts.contains_key(*e))
        .collect();
    let unexpected: Vec<_> = counts.keys().filter(|k| !expected.contains(k)).collect();
    assert!(
        fired.windows(2).all(|w| w[0].0 <= w[1].0),
        "fires out of order"
    );

    // Every announcement finished, none left behind.
    let store = ledger.store().unwrap();
    let unfinished = store.unfinished().unwrap();
    let logged = store
        .query_as_run(Some(start - Duration::hours(1)), None, None)
        .unwrap()
        .len();

    eprintln!(
        "soak: {SIM_HOURS} simulated hours; {} fires expected, {} fired, {} missed, {} duplicated, {} unexpected; \
         {} announcements accepted, {} unfinished; {} as-run rows; {clock_nudges} clock nudges; \
         RSS {:.2} MB after the first hour, {:.2} MB at the end ({:+} KB)",
        expected.len(),
        fired.len(),
        missed.len(),
        duplicated.len(),
        unexpected.len(),
        accepted.len(),
        unfinished.len(),
        logged,
        rss_start as f64 / 1e6,
        rss_end as f64 / 1e6,
        (rss_end as i64 - rss_start as i64) / 1024,
    );
    assert!(
        expected.len() > 1000,
        "the run has enough fires to mean something"
    );
    assert!(missed.is_empty(), "missed: {missed:?}");
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    assert!(unexpected.is_empty(), "unexpected: {unexpected:?}");
    assert!(accepted.len() >= 100, "{} announcements", accepted.len());
    assert!(unfinished.is_empty(), "unfinished: {unfinished:?}");
    assert_eq!(logged, engine.items_played);
    assert!(
        ledger.jobs().is_empty(),
        "{} jobs left",
        ledger.jobs().len()
    );
    assert!(
        rss_end < rss_start + 1_000_000,
        "memory grew {} KB",
        (rss_end - rss_start) / 1024
    );
}
