//! The state store: the announcement queue, the as-run log and the loudness
//! cache, in one SQLite database `corong.db` in the configured `state_dir`.
//!
//! # Contract
//!
//! - Nothing accepted is ever lost. Every write is one transaction that is on
//!   disk when the method returns (`journal_mode=WAL`, `synchronous=FULL`).
//!   The daemon instead calls [`Store::defer_sync`]: its commits return at
//!   once and a thread of the store's makes them durable (`durable.rs`);
//!   the daemon answers a client only when the commit behind the answer is
//!   reported on disk.
//! - After a crash or a power cut, [`Store::recover_after_restart`] puts every
//!   zone that was on air back to pending (and logs it as `interrupted`);
//!   what had finished stays finished.
//! - Synchronous: the daemon calls it from `spawn_blocking` or from a thread
//!   of its own. Writes take `&mut self`, so one `Store` behind a
//!   `std::sync::Mutex` serialises them.
//!
//! # Ids
//!
//! One id space: every stored job (announcement, emergency, say, and the
//! scheduled runs the daemon chooses to store) is a row of `jobs`, and its
//! [`JobId`] is that rowid. `AUTOINCREMENT` means an id is never reused,
//! across restarts and after pruning. As-run rows for audio with no stored
//! job have `job: None`.
//!
//! - A clean close (dropping the `Store`) merges the write-ahead log into
//!   `corong.db`, so the file copied alone after a clean stop is whole.
//!   Every open says, in one log line naming the file, when the database
//!   was created afresh beside an earlier one's marker, or when the
//!   write-ahead log is missing after an unclean stop (`lifecycle.rs`).
//!
//! # When the disk fails
//!
//! - Full disk, read-only filesystem or permissions: the write returns
//!   [`StoreError::Full`] / [`StoreError::ReadOnly`]; nothing was changed.
//!   [`Store::open`] on a database it can read but not write opens it
//!   read-only (the queue can still be restored and the log read); every
//!   write then returns [`StoreError::ReadOnly`]. See [`Store::is_writable`].
//! - Corrupt database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, or a failed
//!   `PRAGMA quick_check` at open): [`Store::open`] does not delete it. It
//!   renames `corong.db` (and its `-wal`, `-shm`) to
//!   `corong.db.corrupt-<UTC timestamp>`, logs that at error level, and starts
//!   an empty store; [`Store::moved_aside`] says where the old file went, so
//!   the daemon can report it. The queue that was in it is lost to the daemon
//!   (an operator may still recover rows from the moved file with `sqlite3`),
//!   which is the price of playing again after a power cut without a person
//!   at the kiosk. Corruption found while running is returned as
//!   [`StoreError::Corrupt`]; the next start moves the file aside.
//!
//! # Files
//! - `model.rs`: the values and their JSON shape.
//! - `schema.rs`: tables and migrations.
//! - `queue.rs`: jobs and their per-zone progress.
//! - `asrun.rs`: the as-run log.
//! - `loudness.rs`: the loudness cache.
//! - `lifecycle.rs`: the checkpoint at close, and the marker files that let
//!   a start say the database or its write-ahead log was lost.
//! - `backup.rs`: `corong backup`, an online copy.
//! - `accounts.rs`: the web console's accounts and sessions, on a
//!   connection of their own.
//! - `pauses.rs`: the schedules an admin paused, on a connection of their
//!   own.

mod accounts;
mod alert_book;
mod asrun;
mod backup;
pub mod durable;
mod error;
mod lifecycle;
mod loudness;
mod model;
mod orders;
mod pauses;
mod queue;
mod schema;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use accounts::{Account, Accounts, Role};
pub use alert_book::{AlertBook, AlertRow as KeptAlert, Kept as KeptAlerts};
pub use asrun::{Pruned, PRUNED_ZONE};
pub use backup::{backup, BackupSummary};
pub use error::{filesystem_full, free_bytes, StoreError};
pub use lifecycle::{CLEAN_STOP_SUFFIX, CREATED_SUFFIX};
pub use model::{
    AfterFinish, AsRunEntry, How, JobId, JobKind, Loudness, NewJob, StoredJob, ZoneEnd,
    ZoneProgress, ZoneState,
};
pub use orders::{OrderBook, OrderKind};
pub use pauses::{Pause, PauseBook};
pub use schema::SCHEMA_VERSION;

use error::{classify, classify_io, Failure};

/// The database's file name inside `state_dir`.
pub const DB_FILE: &str = "corong.db";

/// How long a write waits for a lock held by another connection (a `sqlite3`
/// shell an operator left open, say) before giving up with
/// [`StoreError::Locked`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Once a checkpoint has copied the WAL into the database, SQLite truncates
/// the WAL file down to this size, so it does not stay at its largest.
const WAL_SIZE_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

/// The state store. See the module docs for the durability contract.
pub struct Store {
    conn: Connection,
    /// The database file (for error messages).
    path: PathBuf,
    writable: bool,
    moved_aside: Option<PathBuf>,
    /// The database had no schema when opened: it was created now.
    created_now: bool,
    /// After [`Store::defer_sync`]: makes commits durable beside the caller.
    syncer: Option<durable::Syncer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("writable", &self.writable)
            .field("moved_aside", &self.moved_aside)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) `state_dir/corong.db` and brings its schema
    /// up to date.
    ///
    /// - A corrupt database is moved aside and a fresh one started (module
    ///   docs); [`Store::moved_aside`] then says where it went.
    /// - A database that can be read but not written opens read-only:
    ///   [`Store::is_writable`] is false and every write fails with
    ///   [`StoreError::ReadOnly`]. If it cannot even be read (or its schema
    ///   needs a migration) this returns [`StoreError::ReadOnly`].
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join(DB_FILE);
        if let Err(e) = fs::create_dir_all(state_dir) {
            return Err(classify_io(state_dir, &path, e));
        }
        // Before any connection creates the `-wal` file.
        let before = lifecycle::look(&path);
        match Self::open_read_write(&path) {
            Ok(store) => {
                lifecycle::report(&lifecycle::judge(&path, before, store.created_now));
                lifecycle::mark_open(&path);
                Ok(store)
            }
            Err(StoreError::Corrupt { .. }) => {
                let aside = move_aside(&path)?;
                tracing::error!(
                    db = %path.display(),
                    moved_to = %aside.display(),
                    "state store is corrupt: moved it aside and started an empty one; \
                     the queue it held is not restored"
                );
                let mut store = Self::open_read_write(&path)?;
                store.moved_aside = Some(aside);
                // Said above; the markers only say what comes next.
                lifecycle::mark_open(&path);
                Ok(store)
            }
            Err(StoreError::ReadOnly { .. }) => match Self::open_read_only(&path) {
                Ok(store) => {
                    lifecycle::report(&lifecycle::judge(&path, before, false));
                    tracing::error!(
                        db = %path.display(),
                        "state store is read-only: the queue is restored but \
                         announcements are refused until it is writable"
                    );
                    Ok(store)
                }
                Err(e) => {
                    tracing::debug!(db = %path.display(), error = %e, "read-only open failed too");
                    Err(StoreError::ReadOnly { path })
                }
            },
            Err(e) => Err(e),
        }
    }

    /// A store in memory, for tests: same schema, nothing durable.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|e| classify(&path, e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| classify(&path, e))?;
        schema::migrate(&mut conn, &path).map_err(|e| e.into_store_error(&path))?;
        Ok(Store {
            conn,
            path,
            writable: true,
            moved_aside: None,
            created_now: true,
            syncer: None,
        })
    }

    fn open_read_write(path: &Path) -> Result<Store, StoreError> {
        let fail = |e: Failure| e.into_store_error(path);
        let mut conn = Connection::open(path).map_err(|e| classify(path, e))?;
        // SQLite silently falls back to read-only when the file is
        // write-protected; we want to know.
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| classify(path, e))?
        {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        configure(&conn).map_err(|e| fail(e.into()))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(|e| classify(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(db = %path.display(), %mode, "state store could not use WAL; using its journal mode instead");
        }
        let created_now = schema::migrate(&mut conn, path).map_err(fail)?;
        quick_check(&conn).map_err(fail)?;
        // The directory entry of a new database must survive a power cut too.
        if let Some(dir) = path.parent() {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            writable: true,
            moved_aside: None,
            created_now,
            syncer: None,
        })
    }

    /// Opens a database we may read but not write. A WAL database can only
    /// be read when its `-shm` file exists or can be created; in a read-only
    /// directory after a clean shutdown it is gone, so then (and only when no
    /// `-wal` file holds changes the main file lacks) the database is opened
    /// `immutable`: safe, since nothing in it can change while no one can
    /// write the directory.
    fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        match Self::open_read_only_with(path, path.as_os_str().to_os_string()) {
            Err(first) if !wal_has_changes(path) => {
                tracing::debug!(db = %path.display(), error = %first, "plain read-only open failed; trying immutable");
                let mut uri = std::ffi::OsString::from("file:");
                uri.push(percent_encode_path(path));
                uri.push("?immutable=1");
                Self::open_read_only_with(path, uri)
            }
            other => other,
        }
    }

    fn open_read_only_with(path: &Path, name: std::ffi::OsString) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&name, flags).map_err(|e| classify(path, e))?;
        configure(&conn).map_err(|e| classify(path, e))?;
        let version = schema::user_version(&conn).map_err(|e| classify(path, e))?;
        if version != SCHEMA_VERSION {
            // Migrating needs a write.
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        // Reading a WAL database may need to create the `-shm` file; make
        // sure reads really work before promising the queue.
        conn.query_row("SELECT count(*) FROM jobs", [], |row| row.get::<_, i64>(0))
            .map_err(|e| classify(path, e))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            writable: false,
            moved_aside: None,
            created_now: false,
            syncer: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False when [`Store::open`] could only open the database read-only:
    /// every write returns [`StoreError::ReadOnly`] and the daemon must
    /// refuse announcements.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Where [`Store::open`] moved a corrupt database, if it did.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }

    /// Whether the database had no schema when it was opened (a new store,
    /// or one lost since the last start: see `lifecycle.rs`).
    pub fn created_now(&self) -> bool {
        self.created_now
    }

    /// Runs `f` in one immediate transaction and commits it: on disk when
    /// this returns `Ok`, not at all when it returns `Err`.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        if !self.writable {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        let path = &self.path;
        let run = || -> Result<T, Failure> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        let value = run().map_err(|e| e.into_store_error(path))?;
        if let Some(s) = &self.syncer {
            s.committed();
        }
        Ok(value)
    }

    /// From now on, commits return before the disk has them and a
    /// [`durable::Syncer`] thread makes them durable (see `durable.rs`):
    /// the caller waits for no `fsync`, and holds back an answer until the
    /// syncer's report (sent to `report`) covers the commit behind it.
    /// Errors: an in-memory or read-only store, or the syncer's own files.
    pub fn defer_sync(
        &mut self,
        report: tokio::sync::mpsc::UnboundedSender<durable::Durable>,
    ) -> Result<(), StoreError> {
        let refused = |why: &str| StoreError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(why.to_string()),
        };
        if !self.writable || self.path == Path::new(":memory:") {
            return Err(refused("no file to sync"));
        }
        let pragmas = self
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .and_then(|()| self.conn.pragma_update(None, "wal_autocheckpoint", 0));
        pragmas.map_err(|e| classify(&self.path, e))?;
        let commits = std::sync::Arc::new(durable::Commits::default());
        let syncer =
            durable::Syncer::start(&self.path, commits, report).map_err(|e| StoreError::Io {
                path: self.path.clone(),
                source: e,
            })?;
        self.syncer = Some(syncer);
        Ok(())
    }

    /// The syncer, after [`Store::defer_sync`].
    pub fn syncer(&self) -> Option<&durable::Syncer> {
        self.syncer.as_ref()
    }

    /// For a second connection whose writes need no durability of their
    /// own (the loudness cache: a lost entry is measured again): commit
    /// without `fsync` and leave checkpoints to the first connection's
    /// syncer, so it never holds the write lock through a slow disk.
    pub fn relax_sync(&self) {
        let _ = self.conn.pragma_update(None, "synchronous", "NORMAL");
        let _ = self.conn.pragma_update(None, "wal_autocheckpoint", 0);
    }

    /// Runs `f` in one read transaction, so it sees one consistent state.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Failure>) -> Result<T, StoreError> {
        let run = || -> Result<T, Failure> {
            let tx = self.conn.unchecked_transaction()?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        };
        run().map_err(|e| e.into_store_error(&self.path))
    }
}

impl Drop for Store {
    /// Checkpoints the write-ahead log into `corong.db` and marks the stop
    /// clean (see `lifecycle.rs`), so that `corong.db` copied alone after a
    /// clean stop holds everything. A process that dies skips this, and the
    /// next start knows.
    fn drop(&mut self) {
        if let Some(mut s) = self.syncer.take() {
            s.stop();
        }
        if self.writable && self.path != Path::new(":memory:") {
            lifecycle::close(&self.conn, &self.path);
        }
    }
}

/// SQLite's page cache per connection, KiB.
const PAGE_CACHE_KIB: u32 = 256;

/// A connection of its own to `state_dir/corong.db` (configured, WAL),
/// beside the daemon's store: for the books that keep a table of their own
/// there (accounts, orders, alerts, pauses). The folder is made if missing.
pub(crate) fn open_beside(state_dir: &Path) -> Result<(Connection, PathBuf), StoreError> {
    let path = state_dir.join(DB_FILE);
    std::fs::create_dir_all(state_dir).map_err(|e| error::classify_io(state_dir, &path, e))?;
    let conn = Connection::open(&path).map_err(|e| error::classify(&path, e))?;
    configure(&conn).map_err(|e| error::classify(&path, e))?;
    conn.pragma_update(None, "journal_mode", "wal")
        .map_err(|e| error::classify(&path, e))?;
    Ok((conn, path))
}

pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    // A small page cache: the daemon writes a row at a time and reads
    // little, and the default (2 MB) would let a daemon that runs for months
    // hold a copy of its growing as-run log in memory. Negative: KiB.
    conn.pragma_update(None, "cache_size", -(PAGE_CACHE_KIB as i64))?;
    Ok(())
}

/// `PRAGMA quick_check`: reads every page (a second or so for a large as-run
/// log, once per start) and reports a database that is structurally damaged
/// as [`StoreError::Corrupt`].
fn quick_check(conn: &Connection) -> Result<(), Failure> {
    let mut problems = Vec::new();
    conn.pragma_query(None, "quick_check", |row| {
        let line: String = row.get(0)?;
        if line != "ok" {
            problems.push(line);
        }
        Ok(())
    })?;
    if problems.is_empty() {
        return Ok(());
    }
    tracing::error!(problems = %problems.join("; "), "state store failed its integrity check");
    Err(Failure::Db(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        Some(problems.join("; ")),
    )))
}

/// Whether `db`'s `-wal` file exists and is not empty.
fn wal_has_changes(db: &Path) -> bool {
    let mut wal = db.as_os_str().to_os_string();
    wal.push("-wal");
    fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false)
}

/// A path as the path part of an SQLite `file:` URI: bytes other than
/// unreserved characters and `/` are percent-encoded.
fn percent_encode_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Renames `db` and its `-wal` and `-shm` to `DB.corrupt-<timestamp>[-wal|-shm]`
/// (kept together, so `sqlite3` can still open the moved copy). Returns the
/// new path of the database file.
fn move_aside(db: &Path) -> Result<PathBuf, StoreError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let file_name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DB_FILE.to_string());
    let aside = db.with_file_name(format!("{file_name}.corrupt-{stamp}"));
    let dir = db.parent().unwrap_or(Path::new("."));
    for suffix in ["", "-wal", "-shm"] {
        let mut from = db.as_os_str().to_os_string();
        from.push(suffix);
        let mut to = aside.as_os_str().to_os_string();
        to.push(suffix);
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(classify_io(dir, db, e)),
        }
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 5, h, m, s).unwrap()
    }

    fn job(zones: &[&str]) -> NewJob {
        NewJob {
            kind: JobKind::Emergency,
            origin: "budi".into(),
            priority: 250,
            zones: zones.iter().map(|z| z.to_string()).collect(),
            files: vec![PathBuf::from("/srv/banjir.wav")],
            chime_before: true,
            chime_after: true,
            not_before: None,
            repeat: 1,
            repeat_interval: Duration::ZERO,
            text: None,
        }
    }

    fn end(how: How, at: chrono::DateTime<Utc>) -> ZoneEnd {
        ZoneEnd {
            how,
            reason: None,
            at,
        }
    }

    #[test]
    fn full_disk_refuses_with_a_clear_message_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let id = store.accept(&job(&["A"])).unwrap();
        // SQLite reports SQLITE_FULL when the database may not grow past
        // max_page_count, exactly as when the disk is full.
        let pages: i64 = store
            .conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let big = NewJob {
            text: Some("x".repeat(64 * 1024)),
            ..job(&["A"])
        };
        let err = store.accept(&big).unwrap_err();
        assert!(matches!(err, StoreError::Full { .. }), "{err:?}");
        assert!(err.refuses_new_jobs());
        assert!(
            err.to_string().ends_with(
                "corong.db is on a full disk: announcements are refused until space is freed there"
            ),
            "{err}"
        );
        let ids: Vec<_> = store.unfinished().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(ids, [id]);
    }

    #[test]
    fn sqlite_read_only_error_is_classified_as_read_only() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let db = dir.path().join(DB_FILE);
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let e = conn
            .execute("DELETE FROM loudness", [])
            .expect_err("read-only connection");
        let err = classify(&db, e);
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "state store {} is read-only: announcements are refused until it is writable",
                db.display()
            )
        );
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let db = dir.path().join(DB_FILE);
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
            "{err:?}"
        );
        assert!(db.exists());
    }

    #[test]
    fn opened_database_uses_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let get = |name: &str| -> String {
            store
                .conn
                .pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(get("journal_mode"), "Text(\"wal\")");
        assert_eq!(get("synchronous"), "Integer(2)"); // FULL
        assert_eq!(get("foreign_keys"), "Integer(1)");
        assert_eq!(get("user_version"), format!("Integer({SCHEMA_VERSION})"));
    }

    /// After `defer_sync` commits return without an fsync; the syncer
    /// reports them durable when asked, and by itself within `SETTLE` when
    /// nobody asks; what it reported is there after a reopen.
    #[test]
    fn deferred_commits_are_reported_durable() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        store.defer_sync(tx).unwrap();
        let get = |name: &str| -> i64 {
            store
                .conn
                .pragma_query_value(None, name, |r| r.get(0))
                .unwrap()
        };
        assert_eq!(get("synchronous"), 1); // NORMAL
        assert_eq!(get("wal_autocheckpoint"), 0);
        let mut next_report = |within: Duration| {
            let end = std::time::Instant::now() + within;
            loop {
                if let Ok(d) = rx.try_recv() {
                    return d;
                }
                assert!(std::time::Instant::now() < end, "no report in {within:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let a = store.accept(&job(&["A"])).unwrap();
        assert_eq!(store.syncer().unwrap().commits().made(), 1);
        // Nobody asked: settled by itself.
        let settled = next_report(durable::SETTLE * 3);
        assert_eq!((settled.upto, settled.error), (1, None));
        let b = store.accept(&job(&["B"])).unwrap();
        store.syncer().unwrap().ask();
        let asked = next_report(Duration::from_secs(2));
        assert_eq!((asked.upto, asked.error), (2, None));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let ids: Vec<_> = store.unfinished().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(ids, [a, b]);
    }

    #[test]
    fn an_in_memory_store_keeps_syncing_every_write() {
        let mut store = Store::open_in_memory().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(store.defer_sync(tx).is_err());
        assert!(store.syncer().is_none());
    }

    #[test]
    fn jobs_the_store_cannot_keep_are_refused() {
        let mut store = Store::open_in_memory().unwrap();
        let cases = [
            (job(&[]), "it names no zone"),
            (job(&["A", "B", "A"]), "zone `A` is named twice"),
            (
                NewJob {
                    repeat: 0,
                    ..job(&["A"])
                },
                "repeat must be at least 1",
            ),
        ];
        for (bad, why) in cases {
            let err = store.accept(&bad).unwrap_err();
            assert_eq!(err.to_string(), format!("job not accepted: {why}"));
            assert!(!err.refuses_new_jobs());
        }
        assert!(store.unfinished().unwrap().is_empty());
    }

    #[test]
    fn interrupted_zone_plays_again() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store.accept(&job(&["A"])).unwrap();
        store
            .mark_playing(id, "A", 2, "/srv/banjir.wav", t(1, 0, 0))
            .unwrap();
        let after = store
            .finish_zone(id, "A", &end(How::Interrupted, t(1, 0, 5)), &[])
            .unwrap();
        assert_eq!(after, AfterFinish::ZonesRemaining);
        let a = store.job(id).unwrap().unwrap().progress[0].clone();
        assert_eq!(
            (a.state, a.item, a.started_at),
            (ZoneState::Pending, 2, None)
        );
    }

    #[test]
    fn a_cancelled_zone_gets_no_repeats_and_finish_logs_atomically() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store
            .accept(&NewJob {
                repeat: 3,
                repeat_interval: Duration::from_secs(60),
                ..job(&["A", "B"])
            })
            .unwrap();
        let cut = AsRunEntry {
            zone: "B".into(),
            job: Some(id),
            origin: "budi".into(),
            file: "/srv/banjir.wav".into(),
            started_at: t(2, 0, 0),
            ended_at: t(2, 0, 10),
            how: How::Cancelled,
            reason: Some("stop B".into()),
        };
        let stop_b = ZoneEnd {
            how: How::Cancelled,
            reason: Some("stop B".into()),
            at: t(2, 0, 10),
        };
        store
            .mark_playing(id, "B", 0, "/srv/banjir.wav", t(2, 0, 0))
            .unwrap();
        assert_eq!(
            store
                .finish_zone(id, "B", &stop_b, std::slice::from_ref(&cut))
                .unwrap(),
            AfterFinish::ZonesRemaining
        );
        assert_eq!(store.query_as_run(None, None, None).unwrap(), [cut]);
        // A plays three times; B never again.
        for round in 0..3u32 {
            store.mark_playing(id, "A", 0, "f", t(3, round, 0)).unwrap();
            let after = store
                .finish_zone(id, "A", &end(How::Completed, t(3, round, 30)), &[])
                .unwrap();
            let job = store.job(id).unwrap().unwrap();
            assert_eq!(job.zone("B").unwrap().how, Some(How::Cancelled));
            if round < 2 {
                assert_eq!(after, AfterFinish::NextPlayAt(t(3, round + 1, 30)));
                assert_eq!(job.zone("A").unwrap().state, ZoneState::Pending);
            } else {
                assert!(after.job_finished());
                assert_eq!(job.plays_done, 3);
            }
        }
    }

    #[test]
    fn cancelling_every_zone_before_a_play_finishes_the_job_without_counting_it() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store
            .accept(&NewJob {
                repeat: 2,
                ..job(&["A"])
            })
            .unwrap();
        let after = store
            .finish_zone(id, "A", &end(How::Cancelled, t(4, 0, 0)), &[])
            .unwrap();
        assert!(after.job_finished());
        assert_eq!(store.job(id).unwrap().unwrap().plays_done, 0);
    }

    #[test]
    fn json_shape_is_stable() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store
            .accept(&NewJob {
                not_before: Some(t(7, 2, 0)),
                repeat_interval: Duration::from_millis(1500),
                ..job(&["sukorejo"])
            })
            .unwrap();
        store
            .mark_playing(id, "sukorejo", 0, "chime", t(7, 2, 0))
            .unwrap();
        let mut stored = store.job(id).unwrap().unwrap();
        stored.accepted_at = t(7, 0, 0);
        let json = serde_json::to_value(&stored).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 1,
                "kind": "emergency",
                "origin": "budi",
                "priority": 250,
                "zones": ["sukorejo"],
                "files": ["/srv/banjir.wav"],
                "chime_before": true,
                "chime_after": true,
                "not_before": "2026-11-05T07:02:00.000Z",
                "repeat": 1,
                "repeat_interval_ms": 1500,
                "text": null,
                "accepted_at": "2026-11-05T07:00:00.000Z",
                "plays_done": 0,
                "next_due": null,
                "finished_at": null,
                "cancelled": false,
                "progress": [{
                    "zone": "sukorejo",
                    "state": "playing",
                    "how": null,
                    "reason": null,
                    "item": 0,
                    "file": "chime",
                    "started_at": "2026-11-05T07:02:00.000Z",
                    "ended_at": null,
                }],
            })
        );
        let back: StoredJob = serde_json::from_value(json).unwrap();
        assert_eq!(back, stored);

        let entry = AsRunEntry {
            zone: "sukorejo".into(),
            job: None,
            origin: "schedule lagu-pagi".into(),
            file: "indonesia-raya.mp3".into(),
            started_at: t(6, 0, 0),
            ended_at: t(6, 3, 12),
            how: How::Failed,
            reason: Some("cannot decode".into()),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "zone": "sukorejo",
                "job": null,
                "origin": "schedule lagu-pagi",
                "file": "indonesia-raya.mp3",
                "started_at": "2026-11-05T06:00:00.000Z",
                "ended_at": "2026-11-05T06:03:12.000Z",
                "how": "failed",
                "reason": "cannot decode",
            })
        );
        assert_eq!(serde_json::from_value::<AsRunEntry>(json).unwrap(), entry);
    }

    #[test]
    fn loudness_cache_gets_what_was_put_and_replaces_it() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.loudness("abc").unwrap(), None);
        let first = Loudness {
            integrated_lufs: -23.5,
            true_peak_dbtp: -1.25,
            measured_at: t(5, 0, 0),
        };
        store.put_loudness("abc", &first).unwrap();
        assert_eq!(store.loudness("abc").unwrap(), Some(first));
        let second = Loudness {
            integrated_lufs: -16.0,
            ..first
        };
        store.put_loudness("abc", &second).unwrap();
        assert_eq!(store.loudness("abc").unwrap(), Some(second));
    }
}
