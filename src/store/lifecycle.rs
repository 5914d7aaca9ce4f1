//! What the state directory says about the last run: two marker files beside
//! the database, so that a database that was lost, or lost its write-ahead
//! log, is said loudly in the log instead of being found out later as an
//! empty queue.
//!
//! - `corong.db.created`: written when a writable store is opened and it is
//!   not there yet (a new store, or one from a corong before markers), and
//!   never removed. A database created afresh (no schema: absent, or
//!   truncated to nothing) beside it means the one before was lost: logged
//!   at error level, naming the file.
//! - `corong.db.clean-stop`: written when the store is closed (dropped) after
//!   a checkpoint has merged the whole write-ahead log into `corong.db`;
//!   removed at the next open. Without it the last stop was not clean (a
//!   crash, SIGKILL, a power cut) and what changed since the last checkpoint
//!   lives only in `corong.db-wal`; if that file is missing then, those
//!   changes are lost: logged at warn level, naming the file.
//!
//! The checkpoint on close also means `corong.db` copied alone after a
//! clean stop (as a naive backup would) holds everything. A backup taken
//! while the daemon runs must use `corong backup` (see `backup.rs`).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// Suffix of the marker kept since the store was first created.
pub const CREATED_SUFFIX: &str = ".created";
/// Suffix of the marker of a clean stop.
pub const CLEAN_STOP_SUFFIX: &str = ".clean-stop";

/// How long the closing checkpoint waits for another connection (the
/// loudness cache's) to finish a write: shutdown has well under 2 s in all.
const CLOSE_BUSY_TIMEOUT: Duration = Duration::from_millis(300);

/// `db` with `suffix` appended to its file name.
pub fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = db.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The state directory as found before the database is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Before {
    created_marker: bool,
    clean_stop: bool,
    wal_present: bool,
}

/// Look at the files beside `db`. Call before opening a connection (which
/// creates the `-wal` file).
pub(crate) fn look(db: &Path) -> Before {
    Before {
        created_marker: beside(db, CREATED_SUFFIX).exists(),
        clean_stop: beside(db, CLEAN_STOP_SUFFIX).exists(),
        wal_present: beside(db, "-wal").exists(),
    }
}

/// What an open found, given what was there before and whether the
/// database had to be created (no schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Nothing to say.
    Fine,
    /// The database was created afresh beside the marker of an earlier one.
    CreatedAfresh { db: PathBuf, marker: PathBuf },
    /// An unclean stop, and the write-ahead log is gone. `everything`: the
    /// database had not even its schema without it (a young store whose
    /// every change was still in the log).
    WalMissing { wal: PathBuf, everything: bool },
}

pub(crate) fn judge(db: &Path, before: Before, created_now: bool) -> Finding {
    if !before.created_marker {
        // A new state directory, or a store from a corong without markers:
        // nothing to compare with.
        return Finding::Fine;
    }
    if !before.clean_stop && !before.wal_present {
        // The more precise cause, even when the database came up empty.
        return Finding::WalMissing {
            wal: beside(db, "-wal"),
            everything: created_now,
        };
    }
    if created_now {
        return Finding::CreatedAfresh {
            db: db.to_path_buf(),
            marker: beside(db, CREATED_SUFFIX),
        };
    }
    Finding::Fine
}

/// Log a finding: one line naming the file.
pub(crate) fn report(finding: &Finding) {
    match finding {
        Finding::Fine => {}
        Finding::CreatedAfresh { db, marker } => tracing::error!(
            db = %db.display(),
            "state store {} was created afresh although corong kept state there before ({} exists): \
             the queue and the as-run log it held are lost; restore it from a backup if there is one",
            db.display(),
            marker.display()
        ),
        Finding::WalMissing {
            wal,
            everything: true,
        } => tracing::error!(
            wal = %wal.display(),
            "the last stop was not clean and the state store's write-ahead log {} is missing: \
             the store was started afresh; the queue and the as-run log that were in it are lost",
            wal.display()
        ),
        Finding::WalMissing {
            wal,
            everything: false,
        } => tracing::warn!(
            wal = %wal.display(),
            "the last stop was not clean and the state store's write-ahead log {} is missing: \
             announcements accepted or changed shortly before the stop may be lost",
            wal.display()
        ),
    }
}

/// After a read-write open: keep the created marker, forget the clean stop
/// (a crash from now on must not look clean).
pub(crate) fn mark_open(db: &Path) {
    let created = beside(db, CREATED_SUFFIX);
    if !created.exists() {
        let text = format!(
            "corong state store {} created or first seen {}; kept so that corong can tell when \
             the database is lost. Do not delete.\n",
            db.display(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        if let Err(e) = write_synced(&created, text.as_bytes()) {
            tracing::warn!(file = %created.display(), "cannot write the state store's marker: {e}");
        }
    }
    match fs::remove_file(beside(db, CLEAN_STOP_SUFFIX)) {
        Ok(()) => sync_dir(db),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(db = %db.display(), "cannot remove the clean-stop marker: {e}"),
    }
}

/// On close: merge the write-ahead log into the database and truncate it,
/// then write the clean-stop marker. When another connection keeps the
/// checkpoint from completing, no marker is written (the log still holds
/// changes the database lacks).
pub(crate) fn close(conn: &Connection, db: &Path) {
    let _ = conn.busy_timeout(CLOSE_BUSY_TIMEOUT);
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok((0, _, _)) => {
            if let Err(e) = write_synced(&beside(db, CLEAN_STOP_SUFFIX), b"") {
                tracing::warn!(db = %db.display(), "cannot write the clean-stop marker: {e}");
            }
            tracing::debug!(db = %db.display(), "state store checkpointed and closed");
        }
        Ok((_, log, done)) => tracing::warn!(
            db = %db.display(),
            "state store checkpoint incomplete at close ({done} of {log} pages, another \
             connection was busy): its changes stay in corong.db-wal until the next start"
        ),
        Err(e) => tracing::warn!(db = %db.display(), "state store checkpoint at close failed: {e}"),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(created_marker: bool, clean_stop: bool, wal_present: bool) -> Before {
        Before {
            created_marker,
            clean_stop,
            wal_present,
        }
    }

    #[test]
    fn judges_what_the_directory_says() {
        let db = Path::new("/srv/state/corong.db");
        // A first start, or a store from before the markers.
        assert_eq!(judge(db, before(false, false, false), true), Finding::Fine);
        assert_eq!(judge(db, before(false, false, false), false), Finding::Fine);
        // Lost database.
        assert_eq!(
            judge(db, before(true, true, false), true),
            Finding::CreatedAfresh {
                db: db.into(),
                marker: "/srv/state/corong.db.created".into()
            }
        );
        // Unclean stop with its log: fine; clean stop without: fine.
        assert_eq!(judge(db, before(true, false, true), false), Finding::Fine);
        assert_eq!(judge(db, before(true, true, false), false), Finding::Fine);
        // Unclean stop and the log gone, with or without the schema.
        for everything in [false, true] {
            assert_eq!(
                judge(db, before(true, false, false), everything),
                Finding::WalMissing {
                    wal: "/srv/state/corong.db-wal".into(),
                    everything
                }
            );
        }
    }
}
