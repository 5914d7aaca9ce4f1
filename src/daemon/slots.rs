//! How many voices each zone's mixer holds, and the jobs that wait for a
//! place.
//!
//! The engine preallocates [`MAX_VOICES`] voices a zone (it never allocates
//! on its thread) and drops a voice beyond that. An accepted job must never
//! meet that wall: the station counts the voices it gave each zone, and a
//! job that finds its zone full waits here, in priority order, for a voice
//! on that zone to end. A few places stay reserved for emergencies, so that
//! a zone full of queued announcements still takes one at once.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::engine::mixer::MAX_VOICES;
use crate::engine::ZoneId;
use crate::ids::JobId;
use crate::media::prefetch::Order;
use crate::priority::Priority;

/// Places of each zone kept for priority `emergency` and above.
pub const EMERGENCY_RESERVE: usize = 4;

/// A job waiting for a place on one zone, with what it will play there.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub job: JobId,
    pub priority: Priority,
    pub files: Vec<PathBuf>,
    pub order: Order,
}

/// Voices given to each zone, and who waits for a place.
#[derive(Debug, Default)]
pub struct ZoneSlots {
    voices: HashMap<ZoneId, usize>,
    /// Per zone: highest priority first, then first come.
    waiting: HashMap<ZoneId, Vec<Waiting>>,
}

/// How many voices a zone may hold when the newest is at `priority`.
pub fn limit(priority: Priority) -> usize {
    if priority >= Priority::EMERGENCY {
        MAX_VOICES
    } else {
        MAX_VOICES - EMERGENCY_RESERVE
    }
}

impl ZoneSlots {
    /// Whether a job at `priority` may start on `zone` now. A job never
    /// overtakes one already waiting there at the same or a higher priority.
    pub fn has_room(&self, zone: ZoneId, priority: Priority) -> bool {
        let ahead = self
            .waiting
            .get(&zone)
            .is_some_and(|w| w.iter().any(|w| w.priority >= priority));
        !ahead && self.voices(zone) < limit(priority)
    }

    /// Voices given to `zone` and not yet ended.
    pub fn voices(&self, zone: ZoneId) -> usize {
        self.voices.get(&zone).copied().unwrap_or(0)
    }

    /// How many jobs wait for a place on `zone`.
    pub fn waiting(&self, zone: ZoneId) -> usize {
        self.waiting.get(&zone).map_or(0, Vec::len)
    }

    /// A voice was given to `zone`.
    pub fn started(&mut self, zone: ZoneId) {
        *self.voices.entry(zone).or_default() += 1;
    }

    /// `w` waits for a place on `zone`, behind every job of its priority or
    /// higher.
    pub fn wait(&mut self, zone: ZoneId, w: Waiting) {
        let queue = self.waiting.entry(zone).or_default();
        let at = queue
            .iter()
            .position(|q| q.priority < w.priority)
            .unwrap_or(queue.len());
        queue.insert(at, w);
    }

    /// A voice of `zone` ended: the jobs that may start there now, in order
    /// (the caller starts them, calling [`ZoneSlots::started`]).
    pub fn ended(&mut self, zone: ZoneId) -> Vec<Waiting> {
        let count = self.voices.entry(zone).or_default();
        *count = count.saturating_sub(1);
        let mut room = *count;
        let mut admit = Vec::new();
        if let Some(queue) = self.waiting.get_mut(&zone) {
            while queue.first().is_some_and(|w| room < limit(w.priority)) {
                admit.push(queue.remove(0));
                room += 1;
            }
        }
        admit
    }

    /// Job `job` no longer waits on `zone` (every zone when `None`): the
    /// zones it was waiting on.
    pub fn remove_job(&mut self, job: JobId, zone: Option<ZoneId>) -> Vec<ZoneId> {
        let mut zones = Vec::new();
        for (z, queue) in self.waiting.iter_mut() {
            if zone.is_some_and(|only| only != *z) {
                continue;
            }
            let before = queue.len();
            queue.retain(|w| w.job != job);
            if queue.len() != before {
                zones.push(*z);
            }
        }
        zones.sort_unstable();
        zones
    }

    /// Everything waiting on `zone` (it is stopped, or gone): the jobs.
    pub fn remove_zone(&mut self, zone: ZoneId) -> Vec<JobId> {
        self.waiting
            .remove(&zone)
            .unwrap_or_default()
            .into_iter()
            .map(|w| w.job)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(job: JobId, priority: Priority) -> Waiting {
        Waiting {
            job,
            priority,
            files: vec![PathBuf::from("a.wav")],
            order: Order::default(),
        }
    }

    fn fill(slots: &mut ZoneSlots, zone: ZoneId, n: usize) {
        for _ in 0..n {
            slots.started(zone);
        }
    }

    #[test]
    fn a_full_zone_keeps_places_for_emergencies() {
        let mut slots = ZoneSlots::default();
        let normal = limit(Priority::ANNOUNCEMENT);
        fill(&mut slots, ZoneId(1), normal);
        assert!(!slots.has_room(ZoneId(1), Priority::ANNOUNCEMENT));
        assert!(slots.has_room(ZoneId(1), Priority::EMERGENCY));
        assert!(
            slots.has_room(ZoneId(2), Priority::ANNOUNCEMENT),
            "zones count apart"
        );
        fill(&mut slots, ZoneId(1), EMERGENCY_RESERVE);
        assert!(!slots.has_room(ZoneId(1), Priority::EMERGENCY));
    }

    #[test]
    fn waiting_jobs_start_in_priority_then_arrival_order() {
        let mut slots = ZoneSlots::default();
        fill(&mut slots, ZoneId(1), limit(Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(1), waiting(JobId(10), Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(1), waiting(JobId(11), Priority::BACKGROUND));
        slots.wait(ZoneId(1), waiting(JobId(12), Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(1), waiting(JobId(13), Priority::LIVE));
        assert_eq!(slots.waiting(ZoneId(1)), 4);
        let order: Vec<JobId> = (0..4)
            .flat_map(|_| {
                let admitted = slots.ended(ZoneId(1));
                for _ in &admitted {
                    slots.started(ZoneId(1));
                }
                admitted.into_iter().map(|w| w.job)
            })
            .collect();
        assert_eq!(order, [13, 10, 12, 11].map(JobId));
        assert_eq!(slots.waiting(ZoneId(1)), 0);
    }

    #[test]
    fn a_later_job_does_not_overtake_one_waiting() {
        let mut slots = ZoneSlots::default();
        fill(&mut slots, ZoneId(1), limit(Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(1), waiting(JobId(10), Priority::ANNOUNCEMENT));
        // One voice ends but nobody starts it yet: still not the newcomer's.
        slots
            .voices
            .insert(ZoneId(1), limit(Priority::ANNOUNCEMENT) - 1);
        assert!(!slots.has_room(ZoneId(1), Priority::ANNOUNCEMENT));
        assert!(
            slots.has_room(ZoneId(1), Priority::LIVE),
            "a higher priority may"
        );
    }

    #[test]
    fn cancelled_and_stopped_jobs_leave_the_queue() {
        let mut slots = ZoneSlots::default();
        fill(&mut slots, ZoneId(1), limit(Priority::ANNOUNCEMENT));
        fill(&mut slots, ZoneId(2), limit(Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(1), waiting(JobId(10), Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(2), waiting(JobId(10), Priority::ANNOUNCEMENT));
        slots.wait(ZoneId(2), waiting(JobId(11), Priority::ANNOUNCEMENT));
        assert_eq!(slots.remove_job(JobId(10), Some(ZoneId(2))), [ZoneId(2)]);
        assert_eq!(slots.remove_job(JobId(10), None), [ZoneId(1)]);
        assert_eq!(slots.remove_zone(ZoneId(2)), [JobId(11)]);
        assert!(slots.ended(ZoneId(1)).is_empty());
        assert!(slots.ended(ZoneId(2)).is_empty());
    }

    #[test]
    fn counts_never_go_below_zero() {
        let mut slots = ZoneSlots::default();
        assert!(slots.ended(ZoneId(7)).is_empty());
        assert_eq!(slots.voices(ZoneId(7)), 0);
    }
}
