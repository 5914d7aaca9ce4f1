//! Commits that do not wait for the disk, and answers that do.
//!
//! The daemon's event loop writes the queue and the as-run log as jobs come
//! and go. With `synchronous=FULL` every one of those commits waits for an
//! `fsync`: tens of milliseconds on a kiosk's SD card, seconds on a failing
//! one, during which the loop answers no one and pings no watchdog. After
//! [`Store::defer_sync`] the loop's connection commits at
//! `synchronous=NORMAL` (into the write-ahead log in the page cache, no
//! `fsync`) and never checkpoints; a [`Syncer`] thread makes the log durable
//! and checkpoints it:
//!
//! - An answer that promises something is kept (an accepted announcement, a
//!   cancel) is held by the daemon until the syncer reports the commit
//!   behind it durable ([`Syncer::ask`], then a [`Durable`] report). Many
//!   answers waiting together share one `fsync`.
//! - Everything else (progress, as-run rows) is made durable within
//!   [`SETTLE`] of its commit. A power cut loses at most that much of the
//!   as-run log; a process that is killed loses nothing (the page cache
//!   outlives it).
//! - The write-ahead log is checkpointed into `corong.db` on the syncer's
//!   own connection when it has grown past [`CHECKPOINT_BYTES`].
//!
//! [`Store::defer_sync`]: super::Store::defer_sync

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Longest a commit waits to be made durable when no answer waits for it.
pub const SETTLE: Duration = Duration::from_secs(1);

/// A write-ahead log larger than this is checkpointed into `corong.db`.
pub const CHECKPOINT_BYTES: u64 = 4 * 1024 * 1024;

/// Commits made on the loop's connection, counted; shared with the syncer.
#[derive(Debug, Default)]
pub struct Commits {
    made: AtomicU64,
    /// The syncer has been told there is something to make durable.
    nudged: AtomicBool,
}

impl Commits {
    /// Commits made so far: the number an answer waits for.
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::Acquire)
    }
}

/// What the syncer says when it has made commits durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// Every commit up to this count is on disk.
    pub upto: u64,
    /// The `fsync` failed: the commits are in the page cache only.
    pub error: Option<String>,
}

enum Ask {
    /// Make what is committed durable now: an answer waits for it.
    Now,
    /// Something was committed; make it durable soon.
    Soon,
    Stop,
}

/// The thread that makes the loop's commits durable (see the module docs).
pub struct Syncer {
    commits: Arc<Commits>,
    ask: mpsc::Sender<Ask>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start syncing `db` (its `-wal` file must exist: the database is open
    /// in WAL mode). Reports go to `report`.
    pub(super) fn start(
        db: &Path,
        commits: Arc<Commits>,
        report: tokio::sync::mpsc::UnboundedSender<Durable>,
    ) -> std::io::Result<Syncer> {
        let wal_path = wal_of(db);
        let wal = File::open(&wal_path)?;
        let checkpoints = Connection::open(db).map_err(std::io::Error::other)?;
        // Never waits long on the loop's writes: a busy checkpoint is
        // tried again after the next commit.
        let _ = checkpoints.busy_timeout(Duration::from_millis(100));
        let (ask, asks) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("corong-syncer".into())
            .spawn({
                let commits = commits.clone();
                move || run(asks, &commits, &wal, &wal_path, &checkpoints, &report)
            })?;
        Ok(Syncer {
            commits,
            ask,
            thread: Some(thread),
        })
    }

    /// Make everything committed so far durable now; the report says when.
    /// Never blocks.
    pub fn ask(&self) {
        let _ = self.ask.send(Ask::Now);
    }

    /// Called after every commit: wakes the syncer, once, to settle it.
    pub(super) fn committed(&self) {
        self.commits.made.fetch_add(1, Ordering::AcqRel);
        if !self.commits.nudged.swap(true, Ordering::AcqRel) {
            let _ = self.ask.send(Ask::Soon);
        }
    }

    pub fn commits(&self) -> &Arc<Commits> {
        &self.commits
    }

    /// Sync what is left and stop the thread.
    pub(super) fn stop(&mut self) {
        let _ = self.ask.send(Ask::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wal_of(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn run(
    asks: mpsc::Receiver<Ask>,
    commits: &Commits,
    wal: &File,
    wal_path: &Path,
    checkpoints: &Connection,
    report: &tokio::sync::mpsc::UnboundedSender<Durable>,
) {
    let mut synced = 0u64;
    let mut settling = false;
    loop {
        let ask = if settling {
            match asks.recv_timeout(SETTLE) {
                Ok(a) => a,
                Err(RecvTimeoutError::Timeout) => Ask::Now,
                Err(RecvTimeoutError::Disconnected) => Ask::Stop,
            }
        } else {
            asks.recv().unwrap_or(Ask::Stop)
        };
        let mut now = false;
        let mut stop = false;
        match ask {
            Ask::Now => now = true,
            Ask::Soon => settling = true,
            Ask::Stop => stop = true,
        }
        // Whatever else is asked meanwhile is served by the same sync.
        while let Ok(more) = asks.try_recv() {
            match more {
                Ask::Now => now = true,
                Ask::Soon => settling = true,
                Ask::Stop => stop = true,
            }
        }
        if !(now || stop) {
            continue;
        }
        // Read before syncing: every commit counted here is in the page
        // cache, so the sync makes it durable.
        commits.nudged.store(false, Ordering::Release);
        let upto = commits.made();
        settling = false;
        if upto > synced {
            let error = wal.sync_data().err().map(|e| {
                tracing::error!(wal = %wal_path.display(), "state store not made durable: {e}");
                e.to_string()
            });
            if error.is_none() {
                synced = upto;
            }
            let _ = report.send(Durable { upto, error });
            if wal.metadata().is_ok_and(|m| m.len() > CHECKPOINT_BYTES) {
                checkpoint(checkpoints, wal_path);
            }
        }
        if stop {
            return;
        }
    }
}

/// Copy the write-ahead log into the database (syncing both) without
/// waiting for the loop's connection; what a busy moment leaves is copied
/// next time.
fn checkpoint(conn: &Connection, wal_path: &Path) {
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match r {
        Ok((_, log, done)) => {
            tracing::debug!(wal = %wal_path.display(), log, done, "state store checkpoint")
        }
        Err(e) => tracing::warn!(wal = %wal_path.display(), "state store checkpoint failed: {e}"),
    }
}
