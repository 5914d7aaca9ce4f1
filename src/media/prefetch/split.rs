//! Voices that fall out of step with the others of their feed (one paused
//! under a higher priority, one that skipped on its own) get a feed of
//! their own, a fork, that goes on from exactly where they are.

use std::time::Instant;

use super::{Feed, Output, DETACH_AFTER, SKIP_SETTLE, STEP_PUSHES};
use crate::ring::{ZoneId, CHUNK_FRAMES};

impl Feed {
    /// Frames a ring needs free before a decode step: the chunk being
    /// filled, a step's worth, and the fade-out held back.
    pub(super) fn step_room(&self) -> usize {
        let ch = self.channels as usize;
        let pending = self.pending.map_or(0, |i| self.pool[i].len() / ch);
        pending + CHUNK_FRAMES + self.ramp_frames
    }

    /// Whether every output has room for a step. Looks for outputs left
    /// behind (full for [`DETACH_AFTER`] while another has room) and splits
    /// them off into a fork.
    pub(super) fn room(&mut self, now: Instant) -> bool {
        let need = self.step_room();
        let (mut all, mut any) = (true, false);
        for o in self.outputs.iter_mut() {
            o.room = o.input.room_frames() >= need
                && o.input.chunk_slots() >= STEP_PUSHES
                && o.input.markers.slots() > 0;
            all &= o.room;
            any |= o.room;
        }
        if all || !any {
            // In step (all ready or all full): nobody is behind.
            for o in self.outputs.iter_mut() {
                o.behind_since = None;
            }
            return all;
        }
        let mut late = false;
        for o in self.outputs.iter_mut() {
            if o.room {
                o.behind_since = None;
            } else {
                let since = *o.behind_since.get_or_insert(now);
                late |= now.duration_since(since) >= DETACH_AFTER;
            }
        }
        if !late {
            return false;
        }
        let is_late = |o: &Output| {
            !o.room
                && o.behind_since
                    .is_some_and(|s| now.duration_since(s) >= DETACH_AFTER)
        };
        let (go, stay): (Vec<Output>, Vec<Output>) = std::mem::take(&mut self.outputs)
            .into_iter()
            .partition(is_late);
        self.outputs = stay;
        let zones: Vec<ZoneId> = go.iter().map(|o| o.zone).collect();
        tracing::info!(
            job = %self.job,
            ?zones,
            "zones left behind get a decoder of their own"
        );
        let fork = self.fork(go, 0);
        self.forks.push(fork);
        self.outputs.iter().all(|o| o.room)
    }

    /// Voices that asked to skip on their own (others of the feed did not)
    /// get a feed of their own that goes on from the next item. Returns
    /// false while the requests settle (the feed waits).
    pub(super) fn settle_skips(&mut self, now: Instant) -> bool {
        if self.outputs.len() < 2 {
            return true;
        }
        for o in self.outputs.iter_mut() {
            o.skip = o
                .input
                .shared
                .skip_to
                .load(std::sync::atomic::Ordering::Acquire);
        }
        let min = self.outputs.iter().map(|o| o.skip).min().unwrap_or(0);
        let max = self.outputs.iter().map(|o| o.skip).max().unwrap_or(0);
        if min == max {
            self.skip_split_since = None;
            return true;
        }
        let since = *self.skip_split_since.get_or_insert(now);
        if now.duration_since(since) < SKIP_SETTLE {
            return false;
        }
        self.skip_split_since = None;
        // One fork per distinct request: voices that asked the same go on
        // together.
        while let Some(top) = self
            .outputs
            .iter()
            .map(|o| o.skip)
            .filter(|&s| s > min)
            .max()
        {
            let (go, stay): (Vec<Output>, Vec<Output>) = std::mem::take(&mut self.outputs)
                .into_iter()
                .partition(|o| o.skip == top);
            self.outputs = stay;
            let zones: Vec<ZoneId> = go.iter().map(|o| o.zone).collect();
            tracing::info!(
                job = %self.job,
                ?zones,
                "zones that skipped get a decoder of their own"
            );
            let fork = self.fork(go, top);
            self.forks.push(fork);
        }
        true
    }

    /// A feed for `outputs` that goes on exactly where they are: the frames
    /// pushed to them so far (not what this feed holds back), in the same
    /// running order; from item `skip_to` on when the item they are at is
    /// before it.
    pub(super) fn fork(&mut self, outputs: Vec<Output>, skip_to: u32) -> Feed {
        let at = self.published;
        debug_assert!(outputs.iter().all(|o| o.input.frames_pushed() == at));
        let item = match (&self.current, &self.resume) {
            (Some((item, path, _)), _) | (None, Some((item, path, _))) => {
                Some((*item, path.clone()))
            }
            (None, None) => None,
        };
        let resume = item
            .filter(|(item, _)| *item >= skip_to)
            .map(|(item, path)| (item, path, at - self.item_start));
        let item_start = resume.as_ref().map_or(at, |r| at - r.2);
        Feed {
            job: self.job,
            fed: outputs.iter().map(|o| o.input.shared.clone()).collect(),
            outputs: outputs
                .into_iter()
                .map(|o| Output::new(o.zone, o.input))
                .collect(),
            channels: self.channels,
            files: self.files.clone(),
            order: self.order.clone(),
            rate: self.rate,
            decode: self.decode.clone(),
            next_file: self.next_file,
            next_item: self.next_item,
            current: None,
            frames_written: at,
            published: at,
            item_start,
            scratch: Vec::with_capacity(CHUNK_FRAMES * self.channels as usize),
            events: self.events.clone(),
            loudness: self.loudness.clone(),
            gain: self.gain,
            provisional: self.provisional.clone(),
            dead_air_frames: self.dead_air_frames,
            silent_run: 0,
            ramp_frames: self.ramp_frames,
            tail: Vec::new(),
            item_frames: 0,
            pool: Vec::new(),
            pending: None,
            resume,
            discard: 0,
            skip_split_since: None,
            forks: Vec::new(),
            opened: 0,
        }
    }

    /// Whether every voice this feed wrote to is gone, so that no ring
    /// holds one of its chunks any more.
    pub(super) fn released(&self) -> bool {
        self.fed
            .iter()
            .all(|s| s.dropped.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The feed is over: let go of everything but its chunks.
    pub(super) fn wind_down(&mut self) {
        self.outputs.clear();
        self.current = None;
        self.scratch = Vec::new();
        self.tail = Vec::new();
        self.files = Vec::new();
    }
}
