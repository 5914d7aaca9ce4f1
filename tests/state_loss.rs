//! Nothing accepted is lost in silence: the real daemon on a temporary
//! folder, stopped cleanly or killed, its state database then tampered with
//! as an operator or a bad backup script would. Each loss is said in the
//! log, naming the file; a clean stop leaves `corong.db` whole on its own;
//! `corong backup` copies a running daemon's queue.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::station::{corong, Daemon, Station};

/// A station with one recorder zone (no network, no peer program) and a
/// short announcement.
fn station() -> Station {
    let st = Station::new();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(st.path("media/short.wav"), spec).unwrap();
    for i in 0..4800 {
        w.write_sample(((i % 48) as i16 - 24) * 500).unwrap();
    }
    w.finalize().unwrap();
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    st
}

/// Queue `n` announcements for a day far ahead; returns their ids.
fn queue_later(st: &Station, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let (code, out, err) = st.client(&[
                "announce",
                "media/short.wav",
                "--no-chime",
                "--at",
                "2099-01-01 08:00",
            ]);
            assert_eq!(code, 0, "announce: {err}");
            out.trim()
                .parse()
                .unwrap_or_else(|_| panic!("an id: {out}"))
        })
        .collect()
}

/// SIGKILL: no shutdown path runs.
fn kill(mut d: Daemon) {
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    std::mem::forget(d);
}

/// Unfinished jobs in a database file opened alone, as a backup would be.
fn queued_in(db: &Path) -> Vec<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("opening {}: {e}", db.display()));
    let mut stmt = conn
        .prepare("SELECT id FROM jobs WHERE finished_at_ms IS NULL ORDER BY id")
        .unwrap_or_else(|e| panic!("reading {}: {e}", db.display()));
    let ids = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<i64>, _>>()
        .unwrap();
    ids
}

#[test]
fn the_log_says_how_many_queued_announcements_came_back() {
    let st = station();
    let d = st.start();
    let db = st.path("state/corong.db");
    d.wait_log(
        &format!("restored 0 queued announcements from {}", db.display()),
        Duration::from_secs(2),
    );
    queue_later(&st, 3);
    assert!(d.stop().success());
    let d = st.start();
    d.wait_log(
        &format!("restored 3 queued announcements from {}", db.display()),
        Duration::from_secs(2),
    );
    assert!(d.log_lines(&["created afresh"]).is_empty());
    assert!(d.log_lines(&["write-ahead log"]).is_empty());
}

#[test]
fn a_clean_stop_leaves_corong_db_whole_on_its_own() {
    let st = station();
    let d = st.start();
    let ids = queue_later(&st, 3);
    assert!(d.stop().success());
    // As a backup script would: the database file alone, to another folder.
    let copy = tempfile::tempdir().unwrap();
    let db = copy.path().join("corong.db");
    fs::copy(st.path("state/corong.db"), &db).unwrap();
    assert_eq!(queued_in(&db), ids);
}

#[test]
fn a_write_ahead_log_deleted_after_a_kill_is_said_in_the_log() {
    let st = station();
    let d = st.start();
    queue_later(&st, 3);
    kill(d);
    let wal = st.path("state/corong.db-wal");
    assert!(wal.exists(), "a killed daemon leaves its write-ahead log");
    fs::remove_file(&wal).unwrap();
    let d = st.start();
    let lines = d.log_lines(&["write-ahead log", &wal.display().to_string()]);
    assert_eq!(lines.len(), 1, "{}", d.log_text());
    // A store this young had everything in its log: it is all gone, and
    // said so; an older one hears "may be lost".
    assert!(
        lines[0].contains("ERROR") || lines[0].contains("WARN"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("lost"), "{}", lines[0]);
    assert!(d.log_lines(&["created afresh"]).is_empty(), "said twice");
    // Said once: a clean stop and a start say nothing more.
    assert!(d.stop().success());
    let d = st.start();
    assert!(
        d.log_lines(&["write-ahead log"]).is_empty(),
        "{}",
        d.log_text()
    );
}

#[test]
fn a_database_truncated_to_nothing_is_said_to_be_created_afresh() {
    let st = station();
    let d = st.start();
    queue_later(&st, 2);
    assert!(d.stop().success());
    let db = st.path("state/corong.db");
    fs::File::create(&db).unwrap(); // truncates to 0 bytes
    let d = st.start();
    let lines = d.log_lines(&["created afresh", &db.display().to_string()]);
    assert_eq!(lines.len(), 1, "{}", d.log_text());
    assert!(lines[0].contains("ERROR"), "{}", lines[0]);
    assert!(lines[0].contains("are lost"), "{}", lines[0]);
    d.wait_log("restored 0 queued announcements", Duration::from_secs(1));
}

#[test]
fn a_deleted_database_is_said_to_be_created_afresh() {
    let st = station();
    let d = st.start();
    queue_later(&st, 1);
    assert!(d.stop().success());
    for f in ["corong.db", "corong.db-wal", "corong.db-shm"] {
        let _ = fs::remove_file(st.path(&format!("state/{f}")));
    }
    let d = st.start();
    assert_eq!(
        d.log_lines(&["created afresh", "corong.db"]).len(),
        1,
        "{}",
        d.log_text()
    );
}

#[test]
fn backup_while_the_daemon_runs_copies_the_queue() {
    let st = station();
    let d = st.start();
    let ids = queue_later(&st, 3);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("nightly.db");
    let run = corong()
        .args(["backup", dest.to_str().unwrap(), "--config"])
        .arg(st.path("config.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains(&dest.display().to_string()), "{stdout}");
    assert!(stdout.contains("3 jobs (3 queued)"), "{stdout}");
    assert_eq!(queued_in(&dest), ids);
    // One file, nothing beside it.
    let names: Vec<_> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["nightly.db"]);
    // The daemon still takes announcements.
    queue_later(&st, 1);
    drop(d);
}

#[test]
fn backup_without_a_state_store_fails_in_one_line() {
    let st = station();
    let dest = st.path("copy.db");
    let run = corong()
        .args(["backup", dest.to_str().unwrap(), "--config"])
        .arg(st.path("config.toml"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "there is no state store at {}",
            st.path("state/corong.db").display()
        )),
        "{err}"
    );
    assert!(!dest.exists());
}
