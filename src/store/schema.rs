//! The database schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! Each migration takes the database from version `n` to `n + 1` inside one
//! transaction together with the new `user_version`, so a power cut during a
//! migration leaves the old version intact. Migrations are only ever
//! appended: a released one is never edited.
//!
//! Times are integer milliseconds since the Unix epoch (UTC) in columns named
//! `*_ms`; lists are JSON arrays in TEXT columns.

use rusqlite::Connection;

use super::error::{Failure, StoreError};

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1
    r#"
    -- One row per accepted job. AUTOINCREMENT: an id is never reused, even
    -- after the newest rows are pruned, so `corong cancel 17` can never hit a
    -- later job.
    CREATE TABLE jobs (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        kind               TEXT    NOT NULL
                           CHECK (kind IN ('announcement', 'emergency', 'say', 'schedule')),
        origin             TEXT    NOT NULL,
        priority           INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 255),
        zones              TEXT    NOT NULL,  -- JSON array of zone names
        files              TEXT    NOT NULL,  -- JSON array of paths
        chime_before       INTEGER NOT NULL,
        chime_after        INTEGER NOT NULL,
        not_before_ms      INTEGER,
        repeat_total       INTEGER NOT NULL CHECK (repeat_total >= 1),
        repeat_interval_ms INTEGER NOT NULL CHECK (repeat_interval_ms >= 0),
        text               TEXT,
        accepted_at_ms     INTEGER NOT NULL,
        plays_done         INTEGER NOT NULL DEFAULT 0,
        next_due_ms        INTEGER,
        finished_at_ms     INTEGER,           -- NULL while unfinished
        cancelled          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_unfinished ON jobs (id) WHERE finished_at_ms IS NULL;
    CREATE INDEX jobs_finished_at ON jobs (finished_at_ms) WHERE finished_at_ms IS NOT NULL;

    -- A job's progress on each of its zones in the current play.
    CREATE TABLE job_zones (
        job                INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        zone               TEXT    NOT NULL,
        position           INTEGER NOT NULL,  -- order in jobs.zones
        state              TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'playing', 'done')),
        how                TEXT,              -- set when state = 'done'
        reason             TEXT,
        item               INTEGER NOT NULL DEFAULT 0,
        file               TEXT,              -- on air (or last on air)
        started_at_ms      INTEGER,           -- this play on this zone
        item_started_at_ms INTEGER,           -- the item `file`
        ended_at_ms        INTEGER,
        PRIMARY KEY (job, zone)
    ) WITHOUT ROWID;
    CREATE INDEX job_zones_playing ON job_zones (state) WHERE state = 'playing';

    -- The as-run log. `job` has no foreign key: the log outlives pruned jobs,
    -- and audio without a stored job has NULL.
    CREATE TABLE as_run (
        id             INTEGER PRIMARY KEY,
        zone           TEXT    NOT NULL,
        job            INTEGER,
        origin         TEXT    NOT NULL,
        file           TEXT    NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        ended_at_ms    INTEGER NOT NULL,
        how            TEXT    NOT NULL
                       CHECK (how IN ('completed', 'preempted', 'skipped', 'cancelled',
                                      'failed', 'interrupted')),
        reason         TEXT
    );
    CREATE INDEX as_run_zone_started ON as_run (zone, started_at_ms);
    CREATE INDEX as_run_started ON as_run (started_at_ms);
    CREATE INDEX as_run_ended ON as_run (ended_at_ms);

    -- Loudness measurements, keyed by the media file's content hash.
    CREATE TABLE loudness (
        content_hash    TEXT PRIMARY KEY,
        integrated_lufs REAL    NOT NULL,
        true_peak_dbtp  REAL    NOT NULL,
        measured_at_ms  INTEGER NOT NULL
    );
    "#,
    // v2: `how` may be 'damaged' (an item that played, but whose file was
    // not all there) or 'pruned' (the row that records a pruning of the log
    // itself). SQLite cannot change a CHECK in place: the table is rebuilt,
    // ids kept.
    r#"
    CREATE TABLE as_run_v2 (
        id             INTEGER PRIMARY KEY,
        zone           TEXT    NOT NULL,
        job            INTEGER,
        origin         TEXT    NOT NULL,
        file           TEXT    NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        ended_at_ms    INTEGER NOT NULL,
        how            TEXT    NOT NULL
                       CHECK (how IN ('completed', 'preempted', 'skipped', 'cancelled',
                                      'failed', 'interrupted', 'damaged', 'pruned')),
        reason         TEXT
    );
    INSERT INTO as_run_v2 SELECT id, zone, job, origin, file, started_at_ms, ended_at_ms,
                                 how, reason FROM as_run;
    DROP TABLE as_run;
    ALTER TABLE as_run_v2 RENAME TO as_run;
    CREATE INDEX as_run_zone_started ON as_run (zone, started_at_ms);
    CREATE INDEX as_run_started ON as_run (started_at_ms);
    CREATE INDEX as_run_ended ON as_run (ended_at_ms);
    "#,
    // v3: the web console's accounts and sessions (see `accounts.rs`). Only
    // hashes are kept: argon2id for passwords, SHA-256 for the random API
    // tokens and session ids.
    r#"
    CREATE TABLE accounts (
        name           TEXT    PRIMARY KEY,
        role           TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        password_hash  TEXT    NOT NULL,   -- argon2id, PHC string
        token_hash     TEXT,               -- SHA-256 hex of the API token
        created_at_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX accounts_token ON accounts (token_hash) WHERE token_hash IS NOT NULL;

    CREATE TABLE sessions (
        id_hash        TEXT    PRIMARY KEY, -- SHA-256 hex of the cookie's id
        account        TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
        created_at_ms  INTEGER NOT NULL,
        expires_at_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_account ON sessions (account);
    "#,
    // v4: `how` may be 'paused' or 'resumed': an admin paused or resumed a
    // schedule (not an item; the proof of play shows who and when). The
    // table is rebuilt as in v2, ids kept.
    r#"
    CREATE TABLE as_run_v4 (
        id             INTEGER PRIMARY KEY,
        zone           TEXT    NOT NULL,
        job            INTEGER,
        origin         TEXT    NOT NULL,
        file           TEXT    NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        ended_at_ms    INTEGER NOT NULL,
        how            TEXT    NOT NULL
                       CHECK (how IN ('completed', 'preempted', 'skipped', 'cancelled',
                                      'failed', 'interrupted', 'damaged', 'pruned',
                                      'paused', 'resumed')),
        reason         TEXT
    );
    INSERT INTO as_run_v4 SELECT id, zone, job, origin, file, started_at_ms, ended_at_ms,
                                 how, reason FROM as_run;
    DROP TABLE as_run;
    ALTER TABLE as_run_v4 RENAME TO as_run;
    CREATE INDEX as_run_zone_started ON as_run (zone, started_at_ms);
    CREATE INDEX as_run_started ON as_run (started_at_ms);
    CREATE INDEX as_run_ended ON as_run (ended_at_ms);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the schema up to [`SCHEMA_VERSION`]. A database from a newer corong
/// is left untouched and refused. Returns true when the database had no
/// schema at all (it was created now, or was an empty file).
pub(crate) fn migrate(conn: &mut Connection, db: &std::path::Path) -> Result<bool, Failure> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: db.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        }
        .into());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
        tracing::info!(db = %db.display(), version = from + 1, "state store schema migrated");
    }
    Ok(found == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 log keeps its rows through version 2, which also takes
    /// `damaged`.
    #[test]
    fn v2_keeps_the_as_run_log_and_takes_damaged() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let row =
            "INSERT INTO as_run (zone, job, origin, file, started_at_ms, ended_at_ms, how, reason)
                   VALUES ('pasar', 7, 'operator:budi', '/m/a.wav', 1, 2, ?1, ?2)";
        conn.execute(row, ("interrupted", "daemon restarted"))
            .unwrap();
        assert!(conn.execute(row, ("damaged", "cut short")).is_err());
        migrate(&mut conn, std::path::Path::new("test.db")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        conn.execute(row, ("damaged", "cut short")).unwrap();
        let rows: Vec<(i64, String, Option<String>)> = conn
            .prepare("SELECT id, how, reason FROM as_run ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [
                (1, "interrupted".into(), Some("daemon restarted".into())),
                (2, "damaged".into(), Some("cut short".into())),
            ]
        );
        assert!(conn.execute(row, ("mangled", "no")).is_err());
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'as_run'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 3);
    }

    /// A version 3 log keeps its rows (and ids) through version 4, which
    /// also takes a schedule's `paused` and `resumed`.
    #[test]
    fn v4_keeps_the_as_run_log_and_takes_paused_and_resumed() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        let row =
            "INSERT INTO as_run (zone, job, origin, file, started_at_ms, ended_at_ms, how, reason)
                   VALUES ('pasar', NULL, 'schedule:pagi', 'p.m3u', 1, 2, ?1, ?2)";
        conn.execute(row, ("damaged", "cut short")).unwrap();
        assert!(conn.execute(row, ("paused", "paused by ana")).is_err());
        migrate(&mut conn, std::path::Path::new("test.db")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        conn.execute(row, ("paused", "paused by ana")).unwrap();
        conn.execute(row, ("resumed", "resumed by ana")).unwrap();
        let hows: Vec<(i64, String)> = conn
            .prepare("SELECT id, how FROM as_run ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            hows,
            [
                (1, "damaged".into()),
                (2, "paused".into()),
                (3, "resumed".into())
            ]
        );
        assert!(conn.execute(row, ("mangled", "no")).is_err());
    }
}
