//! The orders other kiosks sent (see `docs/regency.md`), so that each is
//! carried out at most once, across restarts, and a stop outranks every
//! emergency issued before it. [`OrderBook`] has a connection of its own
//! beside the daemon's store, as [`super::Accounts`] has.
//!
//! The table is created here if missing rather than by a schema migration:
//! a kiosk without `[mqtt]` never has it, and an older corong opening the
//! file ignores it.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::error::classify;
use super::StoreError;

/// How long an order's id is kept: far past any order's expiry.
const KEEP_MS: i64 = 30 * 24 * 3600 * 1000;

/// What an order asked, as far as ordering matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    Stop,
    Other,
}

pub struct OrderBook {
    conn: Connection,
    path: PathBuf,
}

impl OrderBook {
    /// Opens `state_dir/corong.db` (WAL, shared with the daemon's store).
    pub fn open(state_dir: &Path) -> Result<OrderBook, StoreError> {
        let (conn, path) = super::open_beside(state_dir)?;
        Self::with(conn, path)
    }

    /// In memory, for tests.
    pub fn open_in_memory() -> Result<OrderBook, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| classify(&path, e))?;
        Self::with(conn, path)
    }

    fn with(conn: Connection, path: PathBuf) -> Result<OrderBook, StoreError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS site_orders (
                 id          TEXT    PRIMARY KEY,
                 origin      TEXT    NOT NULL,
                 issued_ms   INTEGER NOT NULL,
                 received_ms INTEGER NOT NULL,
                 stop        INTEGER NOT NULL
             );",
        )
        .map_err(|e| classify(&path, e))?;
        Ok(OrderBook { conn, path })
    }

    /// Notes order `id`; false if it was noted before (it must not be
    /// carried out again). Durable when it returns. Ids older than a month
    /// are forgotten on the way.
    pub fn remember(
        &mut self,
        id: &str,
        origin: &str,
        issued_ms: i64,
        kind: OrderKind,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        tx.execute(
            "DELETE FROM site_orders WHERE received_ms < ?1",
            [now_ms - KEEP_MS],
        )
        .map_err(|e| classify(&path, e))?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO site_orders (id, origin, issued_ms, received_ms, stop)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, origin, issued_ms, now_ms, kind == OrderKind::Stop],
            )
            .map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(n == 1)
    }

    /// When the newest stop was issued: an emergency issued before it is
    /// not carried out.
    pub fn last_stop_ms(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT MAX(issued_ms) FROM site_orders WHERE stop = 1",
                [],
                |r| r.get(0),
            )
            .map_err(|e| classify(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_is_remembered_once_and_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = OrderBook::open(dir.path()).unwrap();
        assert!(book
            .remember("a-1", "a", 10, OrderKind::Other, 100)
            .unwrap());
        assert!(!book
            .remember("a-1", "a", 10, OrderKind::Other, 101)
            .unwrap());
        assert_eq!(book.last_stop_ms().unwrap(), None);
        assert!(book.remember("a-2", "a", 20, OrderKind::Stop, 102).unwrap());
        drop(book);
        let mut book = OrderBook::open(dir.path()).unwrap();
        assert!(!book
            .remember("a-1", "a", 10, OrderKind::Other, 103)
            .unwrap());
        assert_eq!(book.last_stop_ms().unwrap(), Some(20));
        // A month later the id is forgotten.
        assert!(book
            .remember("a-1", "a", 10, OrderKind::Other, 103 + KEEP_MS + 1)
            .unwrap());
    }
}
