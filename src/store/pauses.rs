//! Schedules an admin paused (`corong schedule pause NAME`): who paused
//! each and when, kept across restarts and reloads. [`PauseBook`] has a
//! connection of its own beside the daemon's store, as [`super::OrderBook`]
//! has.
//!
//! Kept by the schedule's name: a schedule removed from the config stays
//! paused by name, harmlessly, and is paused again if it comes back. The
//! table is created here if missing rather than by a schema migration: an
//! older corong opening the file ignores it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::error::classify;
use super::StoreError;

/// Who paused a schedule, and when (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// `alice` (a Unix user on the socket) or `web:sri`.
    pub by: String,
    pub since_ms: i64,
}

pub struct PauseBook {
    conn: Connection,
    path: PathBuf,
}

impl PauseBook {
    /// Opens `state_dir/corong.db` (WAL, shared with the daemon's store).
    pub fn open(state_dir: &Path) -> Result<PauseBook, StoreError> {
        let (conn, path) = super::open_beside(state_dir)?;
        Self::with(conn, path)
    }

    /// In memory, for tests.
    pub fn open_in_memory() -> Result<PauseBook, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| classify(&path, e))?;
        Self::with(conn, path)
    }

    fn with(conn: Connection, path: PathBuf) -> Result<PauseBook, StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schedule_pauses (
                 name      TEXT    PRIMARY KEY,
                 paused_by TEXT    NOT NULL,
                 since_ms  INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(|e| classify(&path, e))?;
        Ok(PauseBook { conn, path })
    }

    /// Every paused schedule by name.
    pub fn all(&self) -> Result<BTreeMap<String, Pause>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, paused_by, since_ms FROM schedule_pauses")
            .map_err(|e| classify(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Pause {
                        by: r.get(1)?,
                        since_ms: r.get(2)?,
                    },
                ))
            })
            .map_err(|e| classify(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| classify(&self.path, e))
    }

    /// Notes `name` paused (replacing an earlier pause of it). Durable when
    /// it returns.
    pub fn pause(&mut self, name: &str, pause: &Pause) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO schedule_pauses (name, paused_by, since_ms)
                 VALUES (?1, ?2, ?3)",
                params![name, pause.by, pause.since_ms],
            )
            .map_err(|e| classify(&self.path, e))?;
        Ok(())
    }

    /// Forgets `name`'s pause; false if it was not paused. Durable when it
    /// returns.
    pub fn resume(&mut self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM schedule_pauses WHERE name = ?1", [name])
            .map_err(|e| classify(&self.path, e))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_kept_across_reopening_until_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = PauseBook::open(dir.path()).unwrap();
        assert!(book.all().unwrap().is_empty());
        let p = Pause {
            by: "web:sri".into(),
            since_ms: 1_000,
        };
        book.pause("pagi", &p).unwrap();
        drop(book);
        let mut book = PauseBook::open(dir.path()).unwrap();
        assert_eq!(book.all().unwrap().get("pagi"), Some(&p));
        assert!(book.resume("pagi").unwrap());
        assert!(!book.resume("pagi").unwrap());
        drop(book);
        assert!(PauseBook::open(dir.path())
            .unwrap()
            .all()
            .unwrap()
            .is_empty());
    }
}
