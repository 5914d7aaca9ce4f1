//! The queue: accepted jobs and their progress on each zone.
//!
//! A job's life on one zone, within one play: `pending` -> `playing` ->
//! `done` (with a [`How`]). When every zone of a job is `done`, the play is
//! over: if repeats remain, every zone that was not cancelled goes back to
//! `pending` and `next_due` is set; otherwise the job is finished. A zone
//! ended as `interrupted` goes straight back to `pending` (it plays again).
//! A zone ended as `cancelled` is done for good (no further repeats there).
//!
//! A play counts towards `repeat` when it ended on at least one zone other
//! than by cancellation (completed, preempted, skipped, failed).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::asrun::insert_as_run;
use super::error::{bad_value, Failure, StoreError};
use super::model::{
    from_ms, to_ms, AfterFinish, AsRunEntry, How, JobId, JobKind, NewJob, StoredJob, ZoneEnd,
    ZoneProgress, ZoneState,
};
use super::Store;

/// The reason written in the as-run log for items cut off by a restart.
pub const RESTART_REASON: &str = "daemon restarted";

impl Store {
    /// Stores a new job, pending on all its zones. The job is on disk when
    /// this returns `Ok`; only then may the daemon tell the client its id.
    pub fn accept(&mut self, job: &NewJob) -> Result<JobId, StoreError> {
        let files = validate(job)?;
        let zones_json = to_json(&job.zones)?;
        let files_json = to_json(&files)?;
        let accepted_at = to_ms(Utc::now());
        self.write(|tx| {
            tx.execute(
                "INSERT INTO jobs (kind, origin, priority, zones, files, chime_before, chime_after,
                                   not_before_ms, repeat_total, repeat_interval_ms, text,
                                   accepted_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    job.kind.as_str(),
                    job.origin,
                    job.priority,
                    zones_json,
                    files_json,
                    job.chime_before,
                    job.chime_after,
                    job.not_before.map(to_ms),
                    job.repeat,
                    duration_to_ms(job.repeat_interval),
                    job.text,
                    accepted_at,
                ],
            )?;
            let id = JobId(tx.last_insert_rowid());
            insert_zones(tx, id, &job.zones)?;
            Ok(id)
        })
    }

    /// Records that `zone` is now playing item number `item` (`file`) of
    /// `job`, since `at`. Call it again for each item, so that a restart
    /// logs the item that was really on air.
    pub fn mark_playing(
        &mut self,
        job: JobId,
        zone: &str,
        item: u32,
        file: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let state = active_zone_state(tx, job, zone)?;
            let at = to_ms(at);
            // The play started on this zone when its first item did.
            let started = if state == ZoneState::Pending {
                Some(at)
            } else {
                None
            };
            tx.execute(
                "UPDATE job_zones
                 SET state = 'playing', item = ?3, file = ?4, item_started_at_ms = ?5,
                     started_at_ms = COALESCE(?6, started_at_ms)
                 WHERE job = ?1 AND zone = ?2",
                params![job.0, zone, item, file, at, started],
            )?;
            Ok(())
        })
    }

    /// Records how the current play of `job` on `zone` ended, together with
    /// the as-run rows of its last items (`log`, in the same transaction: a
    /// crash cannot leave an item logged as completed whose zone then plays
    /// again). Works on a pending zone too (it failed or was cancelled before
    /// it started).
    ///
    /// Returns what that did to the job; [`AfterFinish::JobFinished`] when
    /// all zones and all repeats are done.
    pub fn finish_zone(
        &mut self,
        job: JobId,
        zone: &str,
        end: &ZoneEnd,
        log: &[AsRunEntry],
    ) -> Result<AfterFinish, StoreError> {
        self.write(|tx| {
            active_zone_state(tx, job, zone)?;
            for entry in log {
                insert_as_run(tx, entry)?;
            }
            let at = to_ms(end.at);
            if end.how == How::Interrupted {
                tx.execute(
                    "UPDATE job_zones SET state = 'pending', started_at_ms = NULL,
                                          item_started_at_ms = NULL
                     WHERE job = ?1 AND zone = ?2",
                    params![job.0, zone],
                )?;
                return Ok(AfterFinish::ZonesRemaining);
            }
            tx.execute(
                "UPDATE job_zones SET state = 'done', how = ?3, reason = ?4, ended_at_ms = ?5
                 WHERE job = ?1 AND zone = ?2",
                params![job.0, zone, end.how.as_str(), end.reason, at],
            )?;
            end_of_play(tx, job, at)
        })
    }

    /// Cancels a job on every zone where it has not finished. For the zones
    /// where it was on air, writes the as-run row of the item cut off
    /// (`cancelled`, with `reason`) and returns those zones: the daemon stops
    /// them there and logs nothing more for them.
    ///
    /// Errors: [`StoreError::NoSuchJob`] for an unknown id,
    /// [`StoreError::JobFinished`] for a job that already finished.
    pub fn cancel_job(
        &mut self,
        job: JobId,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            let playing = cut_off(tx, job, at, reason)?;
            let at = to_ms(at);
            tx.execute(
                "UPDATE job_zones SET state = 'done', how = 'cancelled', reason = ?2,
                                      ended_at_ms = ?3
                 WHERE job = ?1 AND state != 'done'",
                params![job.0, reason, at],
            )?;
            tx.execute(
                "UPDATE jobs SET finished_at_ms = ?2, cancelled = 1 WHERE id = ?1",
                params![job.0, at],
            )?;
            Ok(playing)
        })
    }

    /// Puts `job` (its origin, priority, zones, files, repeats, text) in
    /// the place of unfinished job `id`, which keeps its number: an alert's
    /// Update, new words for the same warning. The items on air are
    /// written to the as-run log as cut off (`cancelled`, with `reason`);
    /// the new content starts a fresh first play on every zone it names.
    /// Returns the zones that were on air (the daemon stops them and logs
    /// nothing more for them).
    ///
    /// Errors: [`StoreError::NoSuchJob`], [`StoreError::JobFinished`] (also
    /// for a cancelled job), [`StoreError::InvalidJob`].
    pub fn replace_job(
        &mut self,
        id: JobId,
        job: &NewJob,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        let files = validate(job)?;
        let zones_json = to_json(&job.zones)?;
        let files_json = to_json(&files)?;
        self.write(|tx| {
            let playing = cut_off(tx, id, at, Some(reason))?;
            tx.execute(
                "UPDATE jobs SET origin = ?2, priority = ?3, zones = ?4, files = ?5,
                                 chime_before = ?6, chime_after = ?7, not_before_ms = ?8,
                                 repeat_total = ?9, repeat_interval_ms = ?10, text = ?11,
                                 plays_done = 0, next_due_ms = NULL
                 WHERE id = ?1",
                params![
                    id.0,
                    job.origin,
                    job.priority,
                    zones_json,
                    files_json,
                    job.chime_before,
                    job.chime_after,
                    job.not_before.map(to_ms),
                    job.repeat,
                    duration_to_ms(job.repeat_interval),
                    job.text,
                ],
            )?;
            tx.execute("DELETE FROM job_zones WHERE job = ?1", [id.0])?;
            insert_zones(tx, id, &job.zones)?;
            Ok(playing)
        })
    }

    /// Call once at start-up, before playing anything: every zone that was
    /// on air when the daemon stopped goes back to pending, with an as-run
    /// row `interrupted`, reason `RESTART_REASON` ("daemon restarted"),
    /// ending at `now` (an upper bound: the store cannot know when the power
    /// went). Returns
    /// [`Store::unfinished`]: what to restore.
    pub fn recover_after_restart(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredJob>, StoreError> {
        let restored = self.write(|tx| {
            let mut cut = Vec::new();
            {
                let mut stmt = tx.prepare(
                    "SELECT z.zone, z.job, j.origin, z.file,
                            COALESCE(z.item_started_at_ms, z.started_at_ms)
                     FROM job_zones z JOIN jobs j ON j.id = z.job
                     WHERE z.state = 'playing'
                     ORDER BY z.job, z.position",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok(AsRunEntry {
                        zone: row.get(0)?,
                        job: Some(JobId(row.get(1)?)),
                        origin: row.get(2)?,
                        file: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                        started_at: row.get::<_, Option<i64>>(4)?.map(from_ms).unwrap_or(now),
                        ended_at: now,
                        how: How::Interrupted,
                        reason: Some(RESTART_REASON.to_string()),
                    })
                })?;
                for row in rows {
                    cut.push(row?);
                }
            }
            for entry in &cut {
                insert_as_run(tx, entry)?;
            }
            tx.execute(
                "UPDATE job_zones SET state = 'pending', started_at_ms = NULL,
                                      item_started_at_ms = NULL
                 WHERE state = 'playing'",
                [],
            )?;
            Ok(cut.len())
        })?;
        if restored > 0 {
            tracing::warn!(
                zones = restored,
                "announcements cut off by the restart will play again"
            );
        }
        self.unfinished()
    }

    /// Every job not finished (pending, playing, or waiting for a repeat),
    /// scheduled runs included, in id order, with their per-zone progress.
    pub fn unfinished(&self) -> Result<Vec<StoredJob>, StoreError> {
        self.read(|conn| {
            load_jobs(
                conn,
                "WHERE finished_at_ms IS NULL ORDER BY id",
                rusqlite::params![],
            )
        })
    }

    /// What `corong queue` shows: unfinished announcements, emergencies and
    /// spoken jobs (not scheduled runs), in id order.
    pub fn queue(&self) -> Result<Vec<StoredJob>, StoreError> {
        self.read(|conn| {
            load_jobs(
                conn,
                "WHERE finished_at_ms IS NULL AND kind != 'schedule' ORDER BY id",
                rusqlite::params![],
            )
        })
    }

    /// One job, finished or not, or `None` if there is no such id (or it was
    /// pruned).
    pub fn job(&self, id: JobId) -> Result<Option<StoredJob>, StoreError> {
        self.read(|conn| Ok(load_jobs(conn, "WHERE id = ?1", params![id.0])?.pop()))
    }

    /// Housekeeping: deletes jobs that finished before `cutoff` (their ids
    /// are still never reused). Returns how many.
    pub fn prune_finished_jobs(&mut self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM jobs WHERE finished_at_ms IS NOT NULL AND finished_at_ms < ?1",
                [to_ms(cutoff)],
            )?)
        })
    }
}

/// Checks what the store itself relies on, and returns the file paths as
/// UTF-8 strings (JSON needs them so).
/// `job` pending on each of `zones`, in their order.
fn insert_zones(tx: &Connection, job: JobId, zones: &[String]) -> rusqlite::Result<()> {
    let mut insert =
        tx.prepare("INSERT INTO job_zones (job, zone, position) VALUES (?1, ?2, ?3)")?;
    for (position, zone) in zones.iter().enumerate() {
        insert.execute(params![job.0, zone, position as i64])?;
    }
    Ok(())
}

/// Unfinished `job`'s items on air end at `at`: their as-run rows are
/// written (`cancelled`, with `reason`) and their zones returned. Errors for
/// an unknown or finished job.
fn cut_off(
    tx: &Connection,
    job: JobId,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let (origin, finished): (String, Option<i64>) = tx
        .query_row(
            "SELECT origin, finished_at_ms FROM jobs WHERE id = ?1",
            [job.0],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?
        .ok_or(StoreError::NoSuchJob(job))?;
    if finished.is_some() {
        return Err(StoreError::JobFinished(job).into());
    }
    let mut stmt = tx.prepare(
        "SELECT zone, file, item_started_at_ms, started_at_ms FROM job_zones
         WHERE job = ?1 AND state = 'playing' ORDER BY position",
    )?;
    let playing = stmt
        .query_map([job.0], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<i64>>(2)?
                    .or(row.get::<_, Option<i64>>(3)?),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut zones = Vec::with_capacity(playing.len());
    for (zone, file, started) in playing {
        insert_as_run(
            tx,
            &AsRunEntry {
                zone: zone.clone(),
                job: Some(job),
                origin: origin.clone(),
                file: file.unwrap_or_default(),
                started_at: started.map(from_ms).unwrap_or(at),
                ended_at: at,
                how: How::Cancelled,
                reason: reason.map(str::to_string),
            },
        )?;
        zones.push(zone);
    }
    Ok(zones)
}

fn validate(job: &NewJob) -> Result<Vec<String>, StoreError> {
    let invalid = |why: String| Err(StoreError::InvalidJob(why));
    if job.zones.is_empty() {
        return invalid("it names no zone".into());
    }
    let mut seen = HashSet::new();
    for zone in &job.zones {
        if zone.is_empty() {
            return invalid("a zone name is empty".into());
        }
        if !seen.insert(zone.as_str()) {
            return invalid(format!("zone `{zone}` is named twice"));
        }
    }
    if job.repeat == 0 {
        return invalid("repeat must be at least 1".into());
    }
    job.files
        .iter()
        .map(|f| match f.to_str() {
            Some(s) => Ok(s.to_string()),
            None => Err(StoreError::InvalidJob(format!(
                "file name {} is not UTF-8",
                f.display()
            ))),
        })
        .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::InvalidJob(e.to_string()))
}

fn duration_to_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The state of `zone` in unfinished `job`, or the error that says why it
/// cannot change: no such job, job finished, no such zone, zone done.
fn active_zone_state(conn: &Connection, job: JobId, zone: &str) -> Result<ZoneState, Failure> {
    let finished: Option<i64> = conn
        .query_row(
            "SELECT finished_at_ms FROM jobs WHERE id = ?1",
            [job.0],
            |row| row.get(0),
        )
        .optional()?
        .ok_or(StoreError::NoSuchJob(job))?;
    if finished.is_some() {
        return Err(StoreError::JobFinished(job).into());
    }
    let state: String = conn
        .query_row(
            "SELECT state FROM job_zones WHERE job = ?1 AND zone = ?2",
            params![job.0, zone],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NoSuchZone {
            job,
            zone: zone.to_string(),
        })?;
    let state = ZoneState::parse(&state).ok_or_else(|| bad_value("job_zones.state", &state))?;
    if state == ZoneState::Done {
        return Err(StoreError::ZoneFinished {
            job,
            zone: zone.to_string(),
        }
        .into());
    }
    Ok(state)
}

/// After a zone finished: if every zone of the job is done, ends the play
/// (next repeat or job finished). `at` is when the zone finished.
fn end_of_play(conn: &Connection, job: JobId, at: i64) -> Result<AfterFinish, Failure> {
    let (not_done, counted, last_end): (i64, i64, Option<i64>) = conn.query_row(
        "SELECT count(*) FILTER (WHERE state != 'done'),
                count(*) FILTER (WHERE state = 'done' AND how != 'cancelled'),
                max(ended_at_ms)
         FROM job_zones WHERE job = ?1",
        [job.0],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    if not_done > 0 {
        return Ok(AfterFinish::ZonesRemaining);
    }
    let (plays_done, total, interval): (i64, i64, i64) = conn.query_row(
        "SELECT plays_done, repeat_total, repeat_interval_ms FROM jobs WHERE id = ?1",
        [job.0],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let plays_done = plays_done + i64::from(counted > 0);
    if counted > 0 && plays_done < total {
        let next_due = last_end.unwrap_or(at).saturating_add(interval);
        conn.execute(
            "UPDATE job_zones
             SET state = 'pending', how = NULL, reason = NULL, item = 0, file = NULL,
                 started_at_ms = NULL, item_started_at_ms = NULL, ended_at_ms = NULL
             WHERE job = ?1 AND how != 'cancelled'",
            [job.0],
        )?;
        conn.execute(
            "UPDATE jobs SET plays_done = ?2, next_due_ms = ?3 WHERE id = ?1",
            params![job.0, plays_done, next_due],
        )?;
        return Ok(AfterFinish::NextPlayAt(from_ms(next_due)));
    }
    conn.execute(
        "UPDATE jobs SET plays_done = ?2, finished_at_ms = ?3, next_due_ms = NULL WHERE id = ?1",
        params![job.0, plays_done, at],
    )?;
    Ok(AfterFinish::JobFinished)
}

/// Loads jobs selected by `filter` (a `WHERE ... ORDER BY ...` tail) with
/// their zone progress.
fn load_jobs(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredJob>, Failure> {
    let sql = format!(
        "SELECT id, kind, origin, priority, zones, files, chime_before, chime_after,
                not_before_ms, repeat_total, repeat_interval_ms, text, accepted_at_ms,
                plays_done, next_due_ms, finished_at_ms, cancelled
         FROM jobs {filter}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut jobs = Vec::new();
    let mut rows = stmt.query(params)?;
    while let Some(row) = rows.next()? {
        jobs.push(job_from_row(row)?);
    }
    let mut progress = conn.prepare_cached(
        "SELECT zone, state, how, reason, item, file, started_at_ms, ended_at_ms
         FROM job_zones WHERE job = ?1 ORDER BY position",
    )?;
    for job in &mut jobs {
        let mut rows = progress.query([job.id.0])?;
        while let Some(row) = rows.next()? {
            job.progress.push(zone_from_row(row)?);
        }
    }
    Ok(jobs)
}

fn job_from_row(row: &Row<'_>) -> Result<StoredJob, Failure> {
    let kind: String = row.get(1)?;
    let zones: String = row.get(4)?;
    let files: String = row.get(5)?;
    let interval: i64 = row.get(10)?;
    Ok(StoredJob {
        id: JobId(row.get(0)?),
        job: NewJob {
            kind: JobKind::parse(&kind).ok_or_else(|| bad_value("jobs.kind", &kind))?,
            origin: row.get(2)?,
            priority: row.get(3)?,
            zones: from_json(&zones, "jobs.zones")?,
            files: from_json::<Vec<String>>(&files, "jobs.files")?
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            chime_before: row.get(6)?,
            chime_after: row.get(7)?,
            not_before: row.get::<_, Option<i64>>(8)?.map(from_ms),
            repeat: row.get(9)?,
            repeat_interval: Duration::from_millis(u64::try_from(interval).unwrap_or(0)),
            text: row.get(11)?,
        },
        accepted_at: from_ms(row.get(12)?),
        plays_done: row.get(13)?,
        next_due: row.get::<_, Option<i64>>(14)?.map(from_ms),
        finished_at: row.get::<_, Option<i64>>(15)?.map(from_ms),
        cancelled: row.get(16)?,
        progress: Vec::new(),
    })
}

fn zone_from_row(row: &Row<'_>) -> Result<ZoneProgress, Failure> {
    let state: String = row.get(1)?;
    let how: Option<String> = row.get(2)?;
    Ok(ZoneProgress {
        zone: row.get(0)?,
        state: ZoneState::parse(&state).ok_or_else(|| bad_value("job_zones.state", &state))?,
        how: match how {
            Some(h) => Some(How::parse(&h).ok_or_else(|| bad_value("job_zones.how", &h))?),
            None => None,
        },
        reason: row.get(3)?,
        item: row.get(4)?,
        file: row.get(5)?,
        started_at: row.get::<_, Option<i64>>(6)?.map(from_ms),
        ended_at: row.get::<_, Option<i64>>(7)?.map(from_ms),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|_| bad_value(column, text))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 8, m, 0).unwrap()
    }

    fn alert_job(origin: &str, zones: &[&str], file: &str) -> NewJob {
        NewJob {
            kind: JobKind::Announcement,
            origin: origin.into(),
            priority: 200,
            zones: zones.iter().map(|z| z.to_string()).collect(),
            files: vec![PathBuf::from(file)],
            chime_before: true,
            chime_after: false,
            not_before: None,
            repeat: 3,
            repeat_interval: Duration::from_secs(600),
            text: Some("Hujan lebat".into()),
        }
    }

    /// An Update's new words take the place of a job half-way through its
    /// repeats: the same number, the item cut off logged once with the
    /// reason, a fresh first play on the new zones only.
    #[test]
    fn a_replaced_job_keeps_its_number_and_starts_a_fresh_play() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store
            .accept(&alert_job("alert:1", &["wlingi", "kanigoro"], "/s/a.wav"))
            .unwrap();
        store
            .mark_playing(id, "wlingi", 1, "/s/a.wav", t(0))
            .unwrap();
        let end = ZoneEnd {
            how: How::Completed,
            reason: None,
            at: t(1),
        };
        store.finish_zone(id, "kanigoro", &end, &[]).unwrap();
        let new = NewJob {
            text: Some("Hujan lebat disertai angin".into()),
            ..alert_job("alert:2", &["wlingi"], "/s/b.wav")
        };
        let cut = store
            .replace_job(id, &new, t(2), "replaced by alert 2")
            .unwrap();
        assert_eq!(cut, ["wlingi"]);
        let stored = store.job(id).unwrap().unwrap();
        assert_eq!(stored.job, new);
        assert_eq!(stored.plays_done, 0);
        assert_eq!(stored.next_due, None);
        assert!(stored.finished_at.is_none());
        let zones: Vec<_> = stored
            .progress
            .iter()
            .map(|p| (p.zone.as_str(), p.state))
            .collect();
        assert_eq!(zones, [("wlingi", ZoneState::Pending)]);
        let rows = store.query_as_run(None, None, None).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].origin, "alert:1");
        assert_eq!(rows[0].how, How::Cancelled);
        assert_eq!(rows[0].reason.as_deref(), Some("replaced by alert 2"));
        assert_eq!((rows[0].started_at, rows[0].ended_at), (t(0), t(2)));
        // A finished job cannot be replaced; an unknown one neither.
        store.cancel_job(id, t(3), Some("stop")).unwrap();
        assert!(matches!(
            store.replace_job(id, &new, t(4), "x"),
            Err(StoreError::JobFinished(_))
        ));
        assert!(matches!(
            store.replace_job(JobId(99), &new, t(4), "x"),
            Err(StoreError::NoSuchJob(_))
        ));
    }
}
