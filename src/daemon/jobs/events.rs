//! What the audio world tells the ledger: decoders opened, failed or found
//! damage in an item; the engine put an item on air, paused, resumed,
//! skipped or ended a voice. Each ends in as-run rows, the store's
//! progress, the next repeat, or the job's end.

use chrono::{DateTime, Utc};

use super::{on_disk, Effect, Ledger};
use crate::control::protocol::JobState;
use crate::engine::voice::EndReason;
use crate::engine::{Event, ZoneId};
use crate::media::prefetch::FeedEvent;
use crate::store::{AfterFinish, AsRunEntry, How, JobId, ZoneEnd};
use std::path::PathBuf;
use std::time::Instant;

impl Ledger {
    /// A decoder opened, failed or found damage in an item.
    pub fn on_feed_event(&mut self, event: FeedEvent, now: DateTime<Utc>) {
        match event {
            FeedEvent::ItemOpened {
                zone,
                job,
                item,
                path,
            } => {
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.items.insert((zone, item), path);
                }
            }
            FeedEvent::ItemFailed {
                zone,
                job,
                item,
                path,
                reason,
            } => {
                self.decode_errors += 1;
                self.on_item_failed(zone, job, item, path, reason, now)
            }
            FeedEvent::ItemDamaged {
                zone,
                job,
                item,
                path,
                reason,
            } => {
                self.decode_errors += 1;
                let zone_name = self.zone_name(zone).to_string();
                let id = job;
                if let Some(j) = self.jobs.get_mut(&id) {
                    // One report per file and job, as for failures.
                    if j.failed.insert(path.clone()) {
                        tracing::warn!(zone = %zone_name, job = %id, file = %path.display(), "damaged: {reason}");
                    }
                    j.cut.insert((zone, item), (How::Damaged, reason));
                }
            }
        }
    }

    pub(super) fn on_item_failed(
        &mut self,
        zone: ZoneId,
        id: JobId,
        item: u32,
        path: PathBuf,
        reason: String,
        now: DateTime<Utc>,
    ) {
        let zone_name = self.zone_name(zone).to_string();
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        if j.failed.insert(path.clone()) {
            tracing::warn!(zone = %zone_name, job = %id, file = %path.display(), "skipped: {reason}");
        }
        if j.items.contains_key(&(zone, item)) {
            // It opened, so it goes on air (what was decoded of it): its
            // own row, written when it ends, says failed and why.
            j.cut.insert((zone, item), (How::Failed, reason));
            return;
        }
        let row = AsRunEntry {
            zone: zone_name,
            job: Some(id),
            origin: j.origin.clone(),
            file: path.display().to_string(),
            started_at: now,
            ended_at: now,
            how: How::Failed,
            reason: Some(reason),
        };
        self.record(&row);
    }

    /// The engine said `event`, which reached the outputs at `at`.
    pub fn on_engine_event(&mut self, event: Event, at: DateTime<Utc>) -> Vec<Effect> {
        match event {
            Event::ItemStarted {
                zone, job, item, ..
            } => self.on_item_started(zone, job, item, at),
            Event::Paused { zone, job, .. } => {
                tracing::info!(zone = %self.zone_name(zone), job = %job, "paused for a higher priority");
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.paused.insert(zone);
                }
            }
            Event::Resumed { zone, job, .. } => {
                tracing::info!(zone = %self.zone_name(zone), job = %job, "resumed");
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.paused.remove(&zone);
                }
            }
            Event::Skipped {
                zone, job, item, ..
            } => {
                let id = job;
                tracing::info!(zone = %self.zone_name(zone), job = %id, item, "skipped by an operator");
                if let Some(mut row) = self.close_item(id, zone, at, How::Skipped) {
                    row.reason = self.skipped_by.remove(&zone).or(row.reason);
                    self.record(&row);
                }
            }
            Event::Ended {
                zone, job, reason, ..
            } => {
                self.on_ended(zone, job, reason, at);
                self.admit_waiting(zone);
                self.released(Some((job, zone)), Instant::now());
            }
            Event::Rejected { zone, job } => {
                // The slots keep a zone below the mixer's limit, so this is
                // a zone that went away (reload) as the job started.
                tracing::error!(zone = %self.zone_name(zone), job = %job, "the zone did not take the job");
                self.on_ended(zone, job, EndReason::Cancelled, at);
                self.admit_waiting(zone);
            }
        }
        self.take_effects()
    }

    pub(super) fn on_item_started(
        &mut self,
        zone: ZoneId,
        id: JobId,
        item: u32,
        at: DateTime<Utc>,
    ) {
        // An old voice's next item in the packet before its stop took:
        // the store has already closed the old content.
        if self.jobs.get(&id).is_some_and(|j| j.replacing) {
            return;
        }
        if let Some(row) = self.close_item(id, zone, at, How::Completed) {
            self.record(&row);
        }
        let name = self.zone_name(zone).to_string();
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.current.insert(zone, (item, at));
        let file = j
            .items
            .get(&(zone, item))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        tracing::info!(zone = %name, job = %id, item, origin = %j.origin, file = %file, "on air");
        // A cancelled job's next item can reach the air in the packet
        // before the engine takes the stop: the store has already closed
        // the job, so there is nothing to write.
        if j.persisted && !j.cancelled {
            if let Some(store) = self.store.as_mut() {
                let r = on_disk(|| store.mark_playing(id, &name, item, &file, at));
                if let Err(e) = r {
                    tracing::error!(zone = %name, job = %id, "queue progress not written: {e}");
                }
            }
        }
        self.notify(id, JobState::Playing);
    }

    /// The as-run row of the item on air for (`id`, `zone`), ending at
    /// `ended`.
    pub(super) fn close_item(
        &mut self,
        id: JobId,
        zone: ZoneId,
        ended: DateTime<Utc>,
        how: How,
    ) -> Option<AsRunEntry> {
        let zone_name = self.zone_name(zone).to_string();
        let j = self.jobs.get_mut(&id)?;
        let (item, started) = j.current.remove(&zone)?;
        let file = j
            .items
            .get(&(zone, item))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let (how, reason) = match j.cut.remove(&(zone, item)) {
            Some((cut, why)) if how == How::Completed => (cut, Some(why)),
            _ => (how, None),
        };
        Some(AsRunEntry {
            zone: zone_name,
            job: Some(id),
            origin: j.origin.clone(),
            file,
            started_at: started,
            ended_at: ended,
            how,
            reason,
        })
    }

    /// Job `id` ended on `zone` as `reason` says: close its item, tell the
    /// store, and go on with the next repeat or finish the job.
    pub(super) fn on_ended(
        &mut self,
        zone: ZoneId,
        id: JobId,
        reason: EndReason,
        at: DateTime<Utc>,
    ) {
        if self.jobs.get(&id).is_some_and(|j| j.replacing) {
            self.replaced_voice_ended(zone, id, at);
            return;
        }
        let how = match reason {
            EndReason::Completed => How::Completed,
            EndReason::Preempted => How::Preempted,
            EndReason::Cancelled => How::Cancelled,
            // A zone a reload took away will not come back to finish it.
            EndReason::Interrupted if self.gone.contains_key(&zone) => How::Cancelled,
            EndReason::Interrupted => How::Interrupted,
        };
        tracing::info!(zone = %self.zone_name(zone), job = %id, how = %how, "ended");
        let zone_name = self.zone_name(zone).to_string();
        let row = self.close_item(id, zone, at, how);
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.playing.remove(&zone);
        j.paused.remove(&zone);
        let left = if j.playing.is_empty() {
            AfterFinish::JobFinished
        } else {
            AfterFinish::ZonesRemaining
        };
        let after = if j.cancelled {
            // The store logged the cut-off item when it cancelled the job.
            left
        } else if j.persisted && self.store.is_some() {
            let store = self.store.as_mut().expect("checked");
            let end = ZoneEnd {
                how,
                reason: None,
                at,
            };
            let rows: Vec<AsRunEntry> = row.into_iter().collect();
            match on_disk(|| store.finish_zone(id, &zone_name, &end, &rows)) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(zone = %zone_name, job = %id, "queue progress not written: {e}");
                    left
                }
            }
        } else {
            if let Some(row) = row {
                self.record(&row);
            }
            left
        };
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        match after {
            AfterFinish::ZonesRemaining => {
                j.zones_done += 1;
                self.notify(id, JobState::Playing);
            }
            AfterFinish::NextPlayAt(t) => {
                // Every zone finished this play; another is due at `t`.
                self.notify(id, JobState::Queued);
                self.effects.push(Effect::WakeAt { job: id, at: t });
            }
            AfterFinish::JobFinished => {
                j.zones_done = j.zones_total;
                let state = if j.cancelled || how == How::Cancelled {
                    JobState::Cancelled
                } else {
                    JobState::Done
                };
                // A page's speaker is told a higher priority cut it short.
                let reason = (how == How::Preempted).then(|| "preempted".to_string());
                self.finish(id, state, reason);
            }
        }
    }
}
