//! The hazard alerts' inbox kept in SQLite (`corong.db`, tables
//! `alerts`, `alerts_seen`, `alerts_meta`), so that nothing seen before
//! starts again after a restart or a power cut. [`AlertBook`] has a
//! connection of its own beside the daemon's store, as
//! [`super::OrderBook`] has, with `synchronous = FULL`: a save is on disk
//! when it returns, before the daemon acts on what it saved.
//!
//! The store knows rows, not alerts: each alert is its number, its
//! identity, its state and job (columns a town's IT person can query with
//! `sqlite3`), and the whole alert as JSON, which only `alerts::inbox`
//! reads. A save writes only what changed since the last one (an alert's
//! row, a new identity) and deletes what the inbox pruned, in one
//! transaction.
//!
//! The tables are created here if missing rather than by a schema
//! migration: a kiosk without alerts never has them, and an older corong
//! opening the file ignores them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::error::classify;
use super::StoreError;

/// One alert as the book keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: u64,
    pub identity: String,
    /// As `corong alerts` says it (`pending`, `on-air`, ...).
    pub state: String,
    /// The job that plays it, if any.
    pub job: Option<u64>,
    /// The whole alert, JSON.
    pub body: String,
}

/// Everything the book holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kept {
    pub alerts: Vec<AlertRow>,
    pub seen: HashSet<String>,
    /// The number the next alert gets.
    pub next_id: u64,
}

/// See the module docs.
pub struct AlertBook {
    conn: Connection,
    path: PathBuf,
    /// What is on disk: each alert's row, the identities, the next number.
    rows: HashMap<u64, AlertRow>,
    seen: HashSet<String>,
    next_id: u64,
}

impl AlertBook {
    /// Opens `state_dir/corong.db` (WAL, shared with the daemon's store).
    pub fn open(state_dir: &Path) -> Result<AlertBook, StoreError> {
        let (conn, path) = super::open_beside(state_dir)?;
        Self::with(conn, path)
    }

    /// In memory, for tests.
    pub fn open_in_memory() -> Result<AlertBook, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| classify(&path, e))?;
        Self::with(conn, path)
    }

    fn with(conn: Connection, path: PathBuf) -> Result<AlertBook, StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS alerts (
                 id       INTEGER PRIMARY KEY,
                 identity TEXT    NOT NULL,
                 state    TEXT    NOT NULL,
                 job      INTEGER,
                 body     TEXT    NOT NULL
             );
             CREATE TABLE IF NOT EXISTS alerts_seen (
                 identity TEXT PRIMARY KEY
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS alerts_meta (
                 key   TEXT    PRIMARY KEY,
                 value INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(|e| classify(&path, e))?;
        let mut book = AlertBook {
            conn,
            path,
            rows: HashMap::new(),
            seen: HashSet::new(),
            next_id: 0,
        };
        let kept = book.read()?;
        book.rows = kept.alerts.into_iter().map(|r| (r.id, r)).collect();
        book.seen = kept.seen;
        book.next_id = kept.next_id;
        Ok(book)
    }

    fn read(&self) -> Result<Kept, StoreError> {
        let e = |e| classify(&self.path, e);
        let mut stmt = self
            .conn
            .prepare("SELECT id, identity, state, job, body FROM alerts ORDER BY id")
            .map_err(e)?;
        let alerts = stmt
            .query_map([], |r| {
                Ok(AlertRow {
                    id: r.get::<_, i64>(0)? as u64,
                    identity: r.get(1)?,
                    state: r.get(2)?,
                    job: r.get::<_, Option<i64>>(3)?.map(|j| j as u64),
                    body: r.get(4)?,
                })
            })
            .map_err(e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        let mut stmt = self
            .conn
            .prepare("SELECT identity FROM alerts_seen")
            .map_err(e)?;
        let seen = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(e)?
            .collect::<Result<HashSet<_>, _>>()
            .map_err(e)?;
        let next_id = self
            .conn
            .query_row(
                "SELECT value FROM alerts_meta WHERE key = 'next_id'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(e)?
            .unwrap_or(0) as u64;
        Ok(Kept {
            alerts,
            seen,
            next_id,
        })
    }

    /// What the book holds (as it was opened, or last saved).
    pub fn kept(&self) -> Kept {
        let mut alerts: Vec<AlertRow> = self.rows.values().cloned().collect();
        alerts.sort_by_key(|r| r.id);
        Kept {
            alerts,
            seen: self.seen.clone(),
            next_id: self.next_id,
        }
    }

    /// Whether the book has never been written (a first start, or one
    /// before the inbox moved here).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.seen.is_empty() && self.next_id == 0
    }

    /// Make the book hold `kept`: rows that changed are written, rows and
    /// identities no longer in it deleted, new identities added. On disk
    /// when it returns; nothing is written when nothing changed.
    pub fn save(&mut self, kept: &Kept) -> Result<(), StoreError> {
        let changed: Vec<&AlertRow> = kept
            .alerts
            .iter()
            .filter(|r| self.rows.get(&r.id) != Some(r))
            .collect();
        let ids: HashSet<u64> = kept.alerts.iter().map(|r| r.id).collect();
        let gone: Vec<u64> = self
            .rows
            .keys()
            .filter(|id| !ids.contains(id))
            .copied()
            .collect();
        let new_seen: Vec<&String> = kept.seen.difference(&self.seen).collect();
        let forgotten: Vec<&String> = self.seen.difference(&kept.seen).collect();
        if changed.is_empty()
            && gone.is_empty()
            && new_seen.is_empty()
            && forgotten.is_empty()
            && kept.next_id == self.next_id
        {
            return Ok(());
        }
        let path = self.path.clone();
        let e = |e| classify(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        for r in &changed {
            tx.execute(
                "INSERT OR REPLACE INTO alerts (id, identity, state, job, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    r.id as i64,
                    r.identity,
                    r.state,
                    r.job.map(|j| j as i64),
                    r.body
                ],
            )
            .map_err(e)?;
        }
        for id in &gone {
            tx.execute("DELETE FROM alerts WHERE id = ?1", [*id as i64])
                .map_err(e)?;
        }
        for s in &new_seen {
            tx.execute(
                "INSERT OR IGNORE INTO alerts_seen (identity) VALUES (?1)",
                [s],
            )
            .map_err(e)?;
        }
        for s in &forgotten {
            tx.execute("DELETE FROM alerts_seen WHERE identity = ?1", [s])
                .map_err(e)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO alerts_meta (key, value) VALUES ('next_id', ?1)",
            [kept.next_id as i64],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        for r in changed {
            self.rows.insert(r.id, r.clone());
        }
        for id in gone {
            self.rows.remove(&id);
        }
        self.seen.clone_from(&kept.seen);
        self.next_id = kept.next_id;
        Ok(())
    }

    /// Rows written, for tests: how many statements a save took is not
    /// visible, but what is on disk is.
    #[cfg(test)]
    fn on_disk(&self) -> Kept {
        self.read().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64, state: &str) -> AlertRow {
        AlertRow {
            id,
            identity: format!("bmkg,{id},2026-12-06T15:00:00+07:00"),
            state: state.into(),
            job: (state == "on-air").then_some(id * 10),
            body: format!("{{\"id\":{id},\"state\":\"{state}\"}}"),
        }
    }

    #[test]
    fn what_is_saved_is_what_a_reopened_book_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = AlertBook::open(dir.path()).unwrap();
        assert!(book.is_empty());
        let mut kept = Kept {
            alerts: vec![row(1, "pending"), row(2, "on-air")],
            seen: ["a".to_string(), "b".to_string()].into(),
            next_id: 3,
        };
        book.save(&kept).unwrap();
        assert_eq!(book.on_disk(), kept);
        drop(book);

        // Reopened: the same; then a change of state, a prune and a new
        // identity, each reflected on disk.
        let mut book = AlertBook::open(dir.path()).unwrap();
        assert!(!book.is_empty());
        assert_eq!(book.kept(), kept);
        kept.alerts = vec![row(2, "cancelled"), row(3, "pending")];
        kept.seen = ["b".to_string(), "c".to_string()].into();
        kept.next_id = 4;
        book.save(&kept).unwrap();
        assert_eq!(book.on_disk(), kept);
        drop(book);
        assert_eq!(AlertBook::open(dir.path()).unwrap().kept(), kept);
    }

    #[test]
    fn the_columns_say_what_an_alert_is_doing() {
        let mut book = AlertBook::open_in_memory().unwrap();
        book.save(&Kept {
            alerts: vec![row(7, "on-air")],
            seen: HashSet::new(),
            next_id: 8,
        })
        .unwrap();
        let (state, job): (String, i64) = book
            .conn
            .query_row("SELECT state, job FROM alerts WHERE id = 7", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((state.as_str(), job), ("on-air", 70));
    }
}
