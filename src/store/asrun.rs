//! The as-run log: every item that went on air, on which zone, from when to
//! when, and how it ended. It answers "did the flood warning play in
//! Sukorejo at 14:02?".

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::error::{bad_value, Failure, StoreError};
use super::model::{from_ms, to_ms, AsRunEntry, How, JobId};
use super::Store;

impl Store {
    /// Appends one row to the as-run log, on disk when this returns.
    pub fn record_as_run(&mut self, entry: &AsRunEntry) -> Result<(), StoreError> {
        self.write(|tx| insert_as_run(tx, entry))
    }

    /// The as-run log, ordered by start time (then by the order written).
    ///
    /// - `since`: only items on air at or after that time (those that ended
    ///   at or after it), so an item that started before and ran across it is
    ///   included.
    /// - `zone`: only that zone.
    /// - `limit`: at most that many rows: the latest ones (still returned in
    ///   ascending order). `None`: all.
    pub fn query_as_run(
        &self,
        since: Option<DateTime<Utc>>,
        zone: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<AsRunEntry>, StoreError> {
        let since = since.map(to_ms).unwrap_or(i64::MIN);
        // SQLite: a negative LIMIT means no limit.
        let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT zone, job, origin, file, started_at_ms, ended_at_ms, how, reason
                 FROM as_run
                 WHERE ended_at_ms >= ?1 AND (?2 IS NULL OR zone = ?2)
                 ORDER BY started_at_ms DESC, id DESC
                 LIMIT ?3",
            )?;
            let mut rows = stmt.query(params![since, zone, limit])?;
            let mut entries = Vec::new();
            while let Some(row) = rows.next()? {
                let how: String = row.get(6)?;
                entries.push(AsRunEntry {
                    zone: row.get(0)?,
                    job: row.get::<_, Option<i64>>(1)?.map(JobId),
                    origin: row.get(2)?,
                    file: row.get(3)?,
                    started_at: from_ms(row.get(4)?),
                    ended_at: from_ms(row.get(5)?),
                    how: How::parse(&how).ok_or_else(|| bad_value("as_run.how", &how))?,
                    reason: row.get(7)?,
                });
            }
            entries.reverse();
            Ok(entries)
        })
    }

    /// Housekeeping: deletes as-run rows of items that started before
    /// `cutoff`. Returns how many. The log is the only table that grows
    /// with time; the daemon calls this with its retention (say, a year).
    pub fn prune_as_run(&mut self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM as_run WHERE started_at_ms < ?1",
                [to_ms(cutoff)],
            )?)
        })
    }
}

/// The zone name of the row that records a pruning: it concerns every zone.
pub const PRUNED_ZONE: &str = "all";

/// The outcome of [`Store::prune_as_run_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Rows deleted by this call.
    pub removed: usize,
    /// Rows older than the cutoff remain: call again.
    pub more: bool,
}

impl Store {
    /// Retention: deletes at most `batch` as-run rows of items that started
    /// before `cutoff` (oldest first), in one short transaction, so that a
    /// caller on the daemon's loop is never held long; call again while
    /// [`Pruned::more`]. Then record the whole pruning with
    /// [`Store::record_as_run_pruned`].
    pub fn prune_as_run_batch(
        &mut self,
        cutoff: DateTime<Utc>,
        batch: usize,
    ) -> Result<Pruned, StoreError> {
        let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
        let removed = self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM as_run WHERE id IN (
                     SELECT id FROM as_run WHERE started_at_ms < ?1
                     ORDER BY started_at_ms LIMIT ?2)",
                params![to_ms(cutoff), batch],
            )?)
        })?;
        Ok(Pruned {
            removed,
            more: removed as i64 == batch,
        })
    }

    /// The row an auditor reads for a pruning: zone `all`, origin
    /// `corong`, how `pruned`, at `now`, the reason naming how many rows
    /// of items started before `cutoff` were deleted.
    pub fn record_as_run_pruned(
        &mut self,
        removed: usize,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_as_run(&AsRunEntry {
            zone: PRUNED_ZONE.into(),
            job: None,
            origin: "corong".into(),
            file: "as-run log".into(),
            started_at: now,
            ended_at: now,
            how: How::Pruned,
            reason: Some(format!(
                "{removed} rows of items started before {} deleted (asrun_keep_days)",
                cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        })
    }
}

pub(crate) fn insert_as_run(conn: &Connection, entry: &AsRunEntry) -> Result<(), Failure> {
    conn.prepare_cached(
        "INSERT INTO as_run (zone, job, origin, file, started_at_ms, ended_at_ms, how, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        entry.zone,
        entry.job.map(|j| j.0),
        entry.origin,
        entry.file,
        to_ms(entry.started_at),
        to_ms(entry.ended_at),
        entry.how.as_str(),
        entry.reason,
    ])?;
    Ok(())
}
