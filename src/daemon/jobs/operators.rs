//! Operators' changes to jobs under way (cancel, stop, skip) and the
//! answers that wait on them: `--wait` progress, and `stop`s answered once
//! their zones are silent.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{on_disk, Effect, Job, JobError, JobSpec, Ledger, Release};
use crate::control::protocol::{JobState, Reply, Response};
use crate::engine::voice::EndReason;
use crate::engine::ZoneId;
use crate::store::{How, JobId, StoreError};

impl Ledger {
    /// Cancel job `id` in the store and stop it wherever it plays.
    pub fn cancel(
        &mut self,
        id: JobId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<Effect>), JobError> {
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| JobError::Store("no state store".into()))?;
        let zones = on_disk(|| store.cancel_job(id, now, Some(reason))).map_err(|e| match e {
            StoreError::NoSuchJob(_) => JobError::NoSuchJob(id),
            StoreError::JobFinished(_) => JobError::Finished(id),
            e => JobError::Store(e.to_string()),
        })?;
        self.effects.push(Effect::Stop {
            job: id,
            zone: None,
            reason: EndReason::Cancelled,
        });
        if let Some(j) = self.jobs.get_mut(&id) {
            j.cancelled = true;
        }
        self.drop_waiting(id, None, EndReason::Cancelled, now);
        if self.jobs.get(&id).is_some_and(|j| j.playing.is_empty()) {
            self.finish(id, JobState::Cancelled, Some(reason.to_string()));
        }
        Ok((zones, self.take_effects()))
    }

    /// Put `spec`'s content in the place of job `id`'s (an alert's
    /// Update): the same job, its number kept, new words on the zones
    /// `spec` names. The old voices are stopped and the new content plays
    /// as soon as the last of them has ended (no two voices of one job on a
    /// zone, no end of an old voice taken for the new one's); a zone the
    /// new content no longer names falls silent.
    pub fn replace(
        &mut self,
        id: JobId,
        spec: JobSpec,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, JobError> {
        let new = self.new_job(&spec);
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| JobError::Store("no state store".into()))?;
        on_disk(|| store.replace_job(id, &new, now, reason)).map_err(|e| match e {
            StoreError::NoSuchJob(_) => JobError::NoSuchJob(id),
            StoreError::JobFinished(_) => JobError::Finished(id),
            e => JobError::Store(e.to_string()),
        })?;
        let j = self
            .jobs
            .entry(id)
            .or_insert_with(|| Job::new(new.kind, new.origin.clone(), spec.priority, 0));
        j.origin = new.origin;
        j.priority = spec.priority;
        j.text = spec.text;
        j.zones_total = spec.zones.len();
        j.zones_done = 0;
        j.items.clear();
        j.failed.clear();
        j.cut.clear();
        j.replacing = true;
        tracing::info!(job = %id, "job's content replaced: {reason}");
        self.effects.push(Effect::Stop {
            job: id,
            zone: None,
            reason: EndReason::Cancelled,
        });
        self.drop_waiting(id, None, EndReason::Cancelled, now);
        if self
            .jobs
            .get(&id)
            .is_some_and(|j| j.replacing && j.playing.is_empty())
        {
            self.play_replaced(id, now);
        }
        Ok(self.take_effects())
    }

    /// An old voice of a job whose content was replaced ended on `zone`
    /// (its item's as-run row was written at the replacement).
    pub(super) fn replaced_voice_ended(&mut self, zone: ZoneId, id: JobId, now: DateTime<Utc>) {
        let _ = self.close_item(id, zone, now, How::Cancelled);
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.playing.remove(&zone);
        j.paused.remove(&zone);
        if j.playing.is_empty() {
            self.play_replaced(id, now);
        }
    }

    /// Every old voice has ended: the new content plays (now, or when due).
    fn play_replaced(&mut self, id: JobId, now: DateTime<Utc>) {
        if let Some(j) = self.jobs.get_mut(&id) {
            j.replacing = false;
        }
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.job(id) {
            Ok(Some(job)) if job.finished_at.is_none() => self.resume_stored(&job, now),
            Ok(_) => {}
            Err(e) => tracing::error!(job = %id, "cannot read the job back: {e}"),
        }
    }

    /// End job `id` on `zone` only (it goes on on its other zones).
    pub fn stop_on(&mut self, id: JobId, zone: ZoneId, now: DateTime<Utc>) -> Vec<Effect> {
        self.effects.push(Effect::Stop {
            job: id,
            zone: Some(zone),
            reason: EndReason::Cancelled,
        });
        self.drop_waiting(id, Some(zone), EndReason::Cancelled, now);
        self.take_effects()
    }

    /// End everything on `zones`: the jobs that were sounding there.
    pub fn stop_zones(
        &mut self,
        zones: &[ZoneId],
        now: DateTime<Utc>,
    ) -> (Vec<JobId>, Vec<Effect>) {
        let mut sounding: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| zones.iter().any(|z| j.playing.contains(z)))
            .map(|(id, _)| *id)
            .collect();
        sounding.sort_unstable();
        for &zone in zones {
            self.effects.push(Effect::StopZone {
                zone,
                reason: EndReason::Cancelled,
            });
            for job in self.slots.remove_zone(zone) {
                self.on_ended(zone, job, EndReason::Cancelled, now);
            }
        }
        (sounding, self.take_effects())
    }

    /// Skip the item on air on `zones`, as `by` asked (for the as-run log).
    pub fn skip(&mut self, zones: &[ZoneId], by: &str) -> Vec<Effect> {
        for &zone in zones {
            self.skipped_by.insert(zone, format!("skipped by {by}"));
        }
        zones.iter().map(|&zone| Effect::Skip { zone }).collect()
    }

    /// Job `id` no longer waits on `zone` (every zone when `None`): those
    /// zones end for it as `reason` says, as if it had played there.
    pub(super) fn drop_waiting(
        &mut self,
        id: JobId,
        zone: Option<ZoneId>,
        reason: EndReason,
        now: DateTime<Utc>,
    ) {
        for z in self.slots.remove_job(id, zone) {
            self.on_ended(z, id, reason, now);
        }
    }

    /// `reply` hears job `id`'s progress until it ends (`--wait`); false if
    /// the job is no longer known.
    pub fn wait_for(&mut self, id: JobId, reply: mpsc::Sender<Response>) -> bool {
        match self.jobs.get_mut(&id) {
            Some(j) => {
                j.waiters.push(reply);
                true
            }
            None => false,
        }
    }

    /// The (job, zone) voices of `jobs` still sounding on `zones`.
    pub fn voices_of(&self, jobs: &[JobId], zones: &[ZoneId]) -> BTreeSet<(JobId, ZoneId)> {
        jobs.iter()
            .filter_map(|id| self.jobs.get(id).map(|j| (*id, j)))
            .flat_map(|(id, j)| {
                j.playing
                    .iter()
                    .filter(|z| zones.contains(z))
                    .map(move |z| (id, *z))
            })
            .collect()
    }

    /// Answer `done` once every voice in `ending` has ended, at the latest
    /// at `deadline`; at once (returned) when there is none.
    pub fn reply_when_released(
        &mut self,
        ending: BTreeSet<(JobId, ZoneId)>,
        done: Reply,
        reply: &mpsc::Sender<Response>,
        deadline: Instant,
    ) -> Option<Reply> {
        if ending.is_empty() {
            return Some(done);
        }
        self.releases.push(Release {
            ending,
            reply: reply.clone(),
            done,
            deadline,
        });
        None
    }

    /// Voice `ended` has ended (`None`: only look at the clock): answer the
    /// `stop`s it was the last to wait for, and those that waited too long.
    pub fn released(&mut self, ended: Option<(JobId, ZoneId)>, now: Instant) {
        self.releases.retain_mut(|r| {
            if let Some(v) = ended {
                r.ending.remove(&v);
            }
            if !r.ending.is_empty() && now < r.deadline {
                return true;
            }
            let _ = r.reply.try_send(Response::Ok(r.done.clone()));
            false
        });
    }

    /// Tell a job's waiters where it is.
    pub(super) fn notify(&mut self, id: JobId, state: JobState) {
        self.notify_with(id, state, None);
    }

    /// Tell a job's waiters where it is, and why.
    pub(super) fn notify_with(&mut self, id: JobId, state: JobState, reason: Option<String>) {
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        let p = j.progress(id, state, reason);
        j.waiters
            .retain(|w| w.try_send(Response::Progress(p.clone())).is_ok());
    }

    /// The job is over: give its waiters the final line and forget it.
    pub(super) fn finish(&mut self, id: JobId, state: JobState, reason: Option<String>) {
        let Some(j) = self.jobs.remove(&id) else {
            return;
        };
        let p = j.progress(id, state, reason);
        for w in j.waiters {
            let _ = w.try_send(Response::Ok(Reply::Finished(p.clone())));
        }
    }
}
