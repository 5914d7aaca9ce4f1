//! The state store on a real disk: reopening, a real abrupt exit, per-zone
//! progress, repeats, cancelling, the as-run log, a read-only state dir, a
//! corrupt database, ids that are never reused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use corong::store::{
    AfterFinish, AsRunEntry, How, JobId, JobKind, NewJob, Store, StoreError, ZoneEnd, ZoneState,
};

/// Set in a child process: which part of which test it runs, and where.
const CHILD_ENV: &str = "CORONG_STORE_TEST_CHILD";
const DIR_ENV: &str = "CORONG_STORE_TEST_DIR";

fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 5, h, m, s).unwrap()
}

fn job(zones: &[&str]) -> NewJob {
    NewJob {
        kind: JobKind::Announcement,
        origin: "budi".into(),
        priority: 100,
        zones: zones.iter().map(|z| z.to_string()).collect(),
        files: vec![PathBuf::from("/srv/corong/banjir.wav")],
        chime_before: true,
        chime_after: false,
        not_before: None,
        repeat: 1,
        repeat_interval: Duration::ZERO,
        text: None,
    }
}

fn end(how: How, at: DateTime<Utc>) -> ZoneEnd {
    ZoneEnd {
        how,
        reason: None,
        at,
    }
}

fn completed(store: &mut Store, id: JobId, zone: &str, at: DateTime<Utc>) -> AfterFinish {
    store
        .finish_zone(id, zone, &end(How::Completed, at), &[])
        .unwrap()
}

/// Runs this test binary again, running only `test`, with `child` in
/// [`CHILD_ENV`] and `dir` in [`DIR_ENV`].
fn run_child(test: &str, child: &str, dir: &Path) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, child)
        .env(DIR_ENV, dir)
        .output()
        .unwrap()
}

fn child_role() -> Option<(String, PathBuf)> {
    let role = std::env::var(CHILD_ENV).ok()?;
    let dir = std::env::var_os(DIR_ENV).map(PathBuf::from)?;
    Some((role, dir))
}

#[test]
fn accepted_job_survives_reopen_with_all_fields() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let new = NewJob {
        kind: JobKind::Say,
        origin: "siti".into(),
        priority: 150,
        zones: vec!["sukorejo".into(), "alun-alun".into()],
        files: vec!["/a.wav".into(), "/b dua.mp3".into()],
        chime_before: false,
        chime_after: true,
        not_before: Some(t(14, 2, 0)),
        repeat: 3,
        repeat_interval: Duration::from_millis(90_500),
        text: Some("Perhatian, air sungai naik".into()),
    };
    let id = {
        let mut store = Store::open(&state).unwrap();
        store.accept(&new).unwrap()
    };
    let store = Store::open(&state).unwrap();
    let jobs = store.unfinished().unwrap();
    assert_eq!(jobs.len(), 1);
    let stored = &jobs[0];
    assert_eq!(stored.id, id);
    assert_eq!(stored.job, new);
    assert_eq!(stored.plays_done, 0);
    assert_eq!(stored.next_due, None);
    assert_eq!(stored.due(), Some(t(14, 2, 0)));
    assert_eq!(stored.finished_at, None);
    assert!(!stored.cancelled);
    let zones: Vec<_> = stored.progress.iter().map(|p| p.zone.as_str()).collect();
    assert_eq!(zones, ["sukorejo", "alun-alun"]);
    assert!(stored
        .progress
        .iter()
        .all(|p| p.state == ZoneState::Pending));
    assert!((Utc::now() - stored.accepted_at).num_seconds().abs() < 60);
    assert_eq!(store.queue().unwrap(), jobs);
}

/// The child half of [`abrupt_exit_loses_nothing_and_replays_only_the_unfinished`]:
/// does its writes and dies with `abort()`, no destructor, no shutdown.
fn crash_child(dir: &Path) -> ! {
    let mut store = Store::open(dir).unwrap();
    let j1 = store.accept(&job(&["A", "B"])).unwrap();
    let j2 = store.accept(&job(&["A", "B"])).unwrap();
    let j3 = store.accept(&job(&["A"])).unwrap();
    assert_eq!((j1, j2, j3), (JobId(1), JobId(2), JobId(3)));
    store
        .mark_playing(j1, "A", 1, "/srv/corong/banjir.wav", t(14, 2, 0))
        .unwrap();
    store
        .mark_playing(j2, "A", 0, "chime", t(14, 0, 0))
        .unwrap();
    store
        .mark_playing(j2, "B", 0, "chime", t(14, 0, 0))
        .unwrap();
    completed(&mut store, j2, "A", t(14, 1, 0));
    assert_eq!(
        completed(&mut store, j2, "B", t(14, 1, 1)),
        AfterFinish::JobFinished
    );
    std::process::abort();
}

#[test]
fn abrupt_exit_loses_nothing_and_replays_only_the_unfinished() {
    if let Some((role, dir)) = child_role() {
        assert_eq!(role, "crash");
        crash_child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_child(
        "abrupt_exit_loses_nothing_and_replays_only_the_unfinished",
        "crash",
        dir.path(),
    );
    // abort() ends the child by SIGABRT: no exit code.
    assert_eq!(
        out.status.code(),
        None,
        "the child should have aborted: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut store = Store::open(dir.path()).unwrap();
    let restart = t(15, 0, 0);
    let jobs = store.recover_after_restart(restart).unwrap();
    let ids: Vec<_> = jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, [JobId(1), JobId(3)], "job 2 had finished");
    let j1 = &jobs[0];
    assert_eq!(j1.zone("A").unwrap().state, ZoneState::Pending);
    assert_eq!(j1.zone("A").unwrap().item, 1, "the item on air is kept");
    assert_eq!(j1.zone("B").unwrap().state, ZoneState::Pending);

    let log = store.query_as_run(None, Some("A"), None).unwrap();
    assert_eq!(
        log,
        [AsRunEntry {
            zone: "A".into(),
            job: Some(JobId(1)),
            origin: "budi".into(),
            file: "/srv/corong/banjir.wav".into(),
            started_at: t(14, 2, 0),
            ended_at: restart,
            how: How::Interrupted,
            reason: Some("daemon restarted".into()),
        }]
    );
    // Recovering twice does not log it twice.
    assert_eq!(store.recover_after_restart(t(15, 1, 0)).unwrap(), jobs);
    assert_eq!(store.query_as_run(None, None, None).unwrap().len(), 1);
    // The next id continues after the ones the dead process handed out.
    assert_eq!(store.accept(&job(&["A"])).unwrap(), JobId(4));
}

#[test]
fn dropped_store_without_shutdown_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (j1, j2, j3) = {
        let mut store = Store::open(dir.path()).unwrap();
        let j1 = store.accept(&job(&["A"])).unwrap();
        let j2 = store.accept(&job(&["A", "B"])).unwrap();
        let j3 = store.accept(&job(&["B"])).unwrap();
        store.mark_playing(j1, "A", 0, "chime", t(9, 0, 0)).unwrap();
        completed(&mut store, j2, "A", t(9, 0, 5));
        completed(&mut store, j2, "B", t(9, 0, 6));
        std::mem::forget(store); // no Drop, no close
        (j1, j2, j3)
    };
    let mut store = Store::open(dir.path()).unwrap();
    let jobs = store.recover_after_restart(t(9, 5, 0)).unwrap();
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [j1, j3]);
    assert_eq!(
        store.job(j2).unwrap().unwrap().finished_at,
        Some(t(9, 0, 6))
    );
}

#[test]
fn multi_zone_job_done_on_two_of_three_plays_only_on_the_third() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut store = Store::open(dir.path()).unwrap();
        let id = store.accept(&job(&["A", "B", "C"])).unwrap();
        for zone in ["A", "B", "C"] {
            store
                .mark_playing(id, zone, 0, "chime", t(8, 0, 0))
                .unwrap();
        }
        assert_eq!(
            completed(&mut store, id, "A", t(8, 1, 0)),
            AfterFinish::ZonesRemaining
        );
        let preempted = store
            .finish_zone(id, "B", &end(How::Preempted, t(8, 0, 30)), &[])
            .unwrap();
        assert_eq!(preempted, AfterFinish::ZonesRemaining);
        id
    };
    let mut store = Store::open(dir.path()).unwrap();
    let jobs = store.recover_after_restart(t(8, 10, 0)).unwrap();
    assert_eq!(jobs.len(), 1);
    let states: Vec<_> = jobs[0]
        .progress
        .iter()
        .map(|p| (p.zone.as_str(), p.state, p.how))
        .collect();
    assert_eq!(
        states,
        [
            ("A", ZoneState::Done, Some(How::Completed)),
            ("B", ZoneState::Done, Some(How::Preempted)),
            ("C", ZoneState::Pending, None),
        ]
    );
    // A zone that is done cannot start again in this play.
    assert!(matches!(
        store.mark_playing(id, "A", 0, "chime", t(8, 11, 0)),
        Err(StoreError::ZoneFinished { .. })
    ));
    assert!(matches!(
        store.mark_playing(id, "D", 0, "chime", t(8, 11, 0)),
        Err(StoreError::NoSuchZone { .. })
    ));
    store
        .mark_playing(id, "C", 0, "chime", t(8, 11, 0))
        .unwrap();
    assert_eq!(
        completed(&mut store, id, "C", t(8, 12, 0)),
        AfterFinish::JobFinished
    );
    assert!(store.unfinished().unwrap().is_empty());
}

#[test]
fn repeats_wait_for_the_interval_after_the_last_zone_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store
        .accept(&NewJob {
            repeat: 2,
            repeat_interval: Duration::from_secs(600),
            ..job(&["A", "B"])
        })
        .unwrap();
    store.mark_playing(id, "A", 0, "f", t(10, 0, 0)).unwrap();
    store.mark_playing(id, "B", 0, "f", t(10, 0, 0)).unwrap();
    completed(&mut store, id, "B", t(10, 1, 0));
    assert_eq!(
        completed(&mut store, id, "A", t(10, 1, 30)),
        AfterFinish::NextPlayAt(t(10, 11, 30))
    );
    drop(store);

    let mut store = Store::open(dir.path()).unwrap();
    let jobs = store.unfinished().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].plays_done, 1);
    assert_eq!(jobs[0].next_due, Some(t(10, 11, 30)));
    assert_eq!(jobs[0].due(), Some(t(10, 11, 30)));
    assert!(jobs[0]
        .progress
        .iter()
        .all(|p| p.state == ZoneState::Pending && p.how.is_none()));

    store.mark_playing(id, "A", 0, "f", t(10, 11, 30)).unwrap();
    store.mark_playing(id, "B", 0, "f", t(10, 11, 30)).unwrap();
    completed(&mut store, id, "A", t(10, 12, 0));
    assert_eq!(
        completed(&mut store, id, "B", t(10, 12, 0)),
        AfterFinish::JobFinished
    );
    assert!(store.unfinished().unwrap().is_empty());
    let done = store.job(id).unwrap().unwrap();
    assert_eq!(done.plays_done, 2);
    assert_eq!(done.finished_at, Some(t(10, 12, 0)));
}

#[test]
fn cancel_finishes_the_job_and_logs_what_was_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store.accept(&job(&["A", "B"])).unwrap();
    store
        .mark_playing(id, "B", 0, "/srv/corong/banjir.wav", t(11, 0, 0))
        .unwrap();
    let stop = store
        .cancel_job(id, t(11, 0, 20), Some("cancelled by siti"))
        .unwrap();
    assert_eq!(stop, ["B"]);
    assert!(store.unfinished().unwrap().is_empty());
    let job = store.job(id).unwrap().unwrap();
    assert!(job.cancelled);
    assert!(job
        .progress
        .iter()
        .all(|p| p.state == ZoneState::Done && p.how == Some(How::Cancelled)));
    let log = store.query_as_run(None, None, None).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].zone.as_str(), log[0].how), ("B", How::Cancelled));
    assert_eq!(
        (log[0].started_at, log[0].ended_at),
        (t(11, 0, 0), t(11, 0, 20))
    );

    // Again: already finished. Unknown id: no such job.
    let again = store.cancel_job(id, t(11, 1, 0), None).unwrap_err();
    assert!(
        matches!(again, StoreError::JobFinished(j) if j == id),
        "{again}"
    );
    let unknown = store.cancel_job(JobId(999), t(11, 1, 0), None).unwrap_err();
    assert!(matches!(unknown, StoreError::NoSuchJob(JobId(999))));
    assert_eq!(unknown.to_string(), "no job 999");
    assert!(!unknown.refuses_new_jobs());
    assert!(matches!(
        store.finish_zone(id, "A", &end(How::Completed, t(11, 2, 0)), &[]),
        Err(StoreError::JobFinished(_))
    ));
}

#[test]
fn as_run_query_by_since_and_zone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let entry = |zone: &str, from: DateTime<Utc>, to: DateTime<Utc>, how| AsRunEntry {
        zone: zone.into(),
        job: None,
        origin: "schedule lagu-pagi".into(),
        file: format!("{zone}-{}.mp3", from.format("%H%M")),
        started_at: from,
        ended_at: to,
        how,
        reason: (how == How::Failed).then(|| "cannot decode".to_string()),
    };
    // Written out of order: the query sorts by start.
    let rows = [
        entry("sukorejo", t(14, 0, 0), t(14, 3, 0), How::Completed),
        entry("alun-alun", t(13, 0, 0), t(13, 4, 0), How::Completed),
        entry("sukorejo", t(13, 50, 0), t(13, 55, 0), How::Preempted),
        entry("sukorejo", t(14, 5, 0), t(14, 5, 1), How::Failed),
        entry("alun-alun", t(14, 1, 0), t(14, 2, 0), How::Skipped),
    ];
    for row in &rows {
        store.record_as_run(row).unwrap();
    }
    let store = {
        drop(store);
        Store::open(dir.path()).unwrap()
    };

    let all = store.query_as_run(None, None, None).unwrap();
    let starts: Vec<_> = all.iter().map(|e| e.started_at).collect();
    assert_eq!(
        starts,
        [
            t(13, 0, 0),
            t(13, 50, 0),
            t(14, 0, 0),
            t(14, 1, 0),
            t(14, 5, 0)
        ]
    );

    // "Did it play in Sukorejo at 14:02?" An item that started before and ran
    // across `since` is included.
    let at_1402 = store
        .query_as_run(Some(t(14, 2, 0)), Some("sukorejo"), None)
        .unwrap();
    assert_eq!(at_1402, [rows[0].clone(), rows[3].clone()]);

    let alun = store.query_as_run(None, Some("alun-alun"), None).unwrap();
    assert_eq!(alun, [rows[1].clone(), rows[4].clone()]);

    // A limit keeps the latest rows, still in ascending order.
    let last2 = store.query_as_run(None, None, Some(2)).unwrap();
    assert_eq!(last2, [rows[4].clone(), rows[3].clone()]);

    assert!(store
        .query_as_run(None, Some("nowhere"), None)
        .unwrap()
        .is_empty());

    let mut store = store;
    assert_eq!(store.prune_as_run(t(14, 0, 0)).unwrap(), 2);
    assert_eq!(store.query_as_run(None, None, None).unwrap().len(), 3);
}

#[test]
fn ids_are_never_reused_after_pruning_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut last = JobId(0);
    for _ in 0..3 {
        let id = store.accept(&job(&["A"])).unwrap();
        assert!(id > last);
        last = id;
        completed(&mut store, id, "A", t(7, 0, 0));
    }
    // The newest rows are pruned: a plain rowid would hand out their ids again.
    assert_eq!(store.prune_finished_jobs(t(8, 0, 0)).unwrap(), 3);
    assert_eq!(store.job(last).unwrap(), None);
    drop(store);
    let mut store = Store::open(dir.path()).unwrap();
    let next = store.accept(&job(&["A"])).unwrap();
    assert_eq!(next, JobId(last.0 + 1));
}

#[test]
fn corrupt_database_is_moved_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = b"this is not an SQLite database, it is a shopping list".repeat(100);
    std::fs::write(dir.path().join("corong.db"), &garbage).unwrap();

    let mut store = Store::open(dir.path()).unwrap();
    let aside = store.moved_aside().expect("moved aside").to_path_buf();
    assert!(aside
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("corong.db.corrupt-"));
    assert_eq!(std::fs::read(&aside).unwrap(), garbage);
    // The fresh store works.
    assert!(store.unfinished().unwrap().is_empty());
    store.accept(&job(&["A"])).unwrap();
}

/// The child half of [`read_only_state_dir_refuses_announcements`]: as a user
/// that may not write the state dir, opens the store and tries to accept.
fn read_only_child(dir: &Path, drop_root: bool) {
    if drop_root {
        // SAFETY: plain libc calls with constant arguments; the child is
        // single-purpose and exits after this test body.
        let ok = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
        if !ok {
            println!("SKIP: cannot drop root here");
            return;
        }
    }
    // SQLite itself reports the database as not writable; the store opens
    // it read-only, so the queue can still be restored and the log read...
    let mut store = Store::open(dir).unwrap();
    assert!(!store.is_writable());
    assert_eq!(store.unfinished().unwrap().len(), 1);
    assert_eq!(store.query_as_run(None, None, None).unwrap(), []);
    // ...but nothing new is accepted, and nothing is written.
    let err = store.accept(&job(&["A"])).unwrap_err();
    assert!(matches!(
        store.mark_playing(JobId(1), "A", 0, "f", t(1, 0, 0)),
        Err(StoreError::ReadOnly { .. })
    ));
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    assert!(err.refuses_new_jobs());
    println!("REFUSED: {err}");
}

#[test]
fn read_only_state_dir_refuses_announcements() {
    use std::os::unix::fs::PermissionsExt;
    let set_mode = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    if let Some((role, dir)) = child_role() {
        assert_eq!(role, "read-only");
        read_only_child(&dir, true);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    Store::open(&state).unwrap().accept(&job(&["A"])).unwrap();
    set_mode(&state.join("corong.db"), 0o444);
    set_mode(&state, 0o555);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // Root writes through any mode bits, so the write would not really
        // fail. A child process that gives up root (becomes `nobody`) meets
        // the same wall a real daemon meets on a read-only or foreign state
        // dir. `nobody` must be able to reach the directory.
        set_mode(dir.path(), 0o755);
        let out = run_child(
            "read_only_state_dir_refuses_announcements",
            "read-only",
            &state,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if stdout.contains("SKIP:") {
            eprintln!("skipping: this machine does not let the test drop root");
        } else {
            assert!(stdout.contains("REFUSED: state store "), "{stdout}");
            assert!(
                stdout.contains("is read-only: announcements are refused until it is writable"),
                "{stdout}"
            );
        }
    } else {
        read_only_child(&state, false);
    }
    set_mode(&state, 0o755);
}

#[test]
fn as_run_retention_deletes_old_rows_in_batches_and_records_the_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 3, 0, 0).unwrap();
    let row = |days_ago: i64, file: &str| {
        let at = now - chrono::Duration::days(days_ago);
        AsRunEntry {
            zone: "pasar".into(),
            job: None,
            origin: "schedule lagu-pagi".into(),
            file: file.into(),
            started_at: at,
            ended_at: at + chrono::Duration::minutes(3),
            how: How::Completed,
            reason: None,
        }
    };
    // Five rows older than a year, three younger, one just at the cutoff.
    for d in [800, 500, 400, 367, 366] {
        store.record_as_run(&row(d, "lama.mp3")).unwrap();
    }
    for d in [365, 200, 1, 0] {
        store.record_as_run(&row(d, "baru.mp3")).unwrap();
    }
    let cutoff = now - chrono::Duration::days(365);
    // Batches of 2: 2, 2, 1 and done.
    let mut batches = Vec::new();
    loop {
        let p = store.prune_as_run_batch(cutoff, 2).unwrap();
        batches.push(p.removed);
        if !p.more {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1]);
    store.record_as_run_pruned(5, cutoff, now).unwrap();
    drop(store);
    // On disk, and what `corong log` shows.
    let store = Store::open(dir.path()).unwrap();
    let log = store.query_as_run(None, None, None).unwrap();
    let kept: Vec<&str> = log.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(
        kept,
        ["baru.mp3", "baru.mp3", "baru.mp3", "baru.mp3", "as-run log"]
    );
    let pruned = log.last().unwrap();
    assert_eq!(pruned.how, How::Pruned);
    assert_eq!(pruned.origin, "corong");
    assert_eq!(pruned.zone, corong::store::PRUNED_ZONE);
    assert_eq!(pruned.started_at, now);
    let reason = pruned.reason.as_deref().unwrap();
    assert!(
        reason.contains("5 rows") && reason.contains("before 2025-12-06T03:00:00Z"),
        "{reason}"
    );
    // Its JSON, as `corong log --json` prints it.
    assert!(serde_json::to_string(pruned)
        .unwrap()
        .contains("\"how\":\"pruned\""));
}
