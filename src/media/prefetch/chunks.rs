//! An item's decoded samples on their way into the voices' rings: its
//! gain and fades, dead-air detection, and the pool of shared chunks.

use std::sync::Arc;

use super::{Feed, SILENCE_LEVEL};
use crate::ring::{Chunk, CHUNK_FRAMES};

impl Feed {
    /// Apply the item's gain and its fade-in to the `frames` in `scratch`
    /// and push them, holding back the last [`ITEM_RAMP`](super::ITEM_RAMP) of them: when the
    /// item ends, they fade out ([`Feed::flush_tail`]). So every item starts
    /// from and ends at silence, whether it ends by itself, by a decode
    /// error or as dead air, and the next item does not step.
    pub(super) fn push_item_frames(&mut self, frames: usize) {
        let ch = self.channels as usize;
        let ramp = self.ramp_frames as u64;
        let gain = self.gain;
        for (i, frame) in self.scratch[..frames * ch].chunks_mut(ch).enumerate() {
            let pos = self.item_frames + i as u64;
            let g = if pos < ramp {
                gain * pos as f32 / ramp as f32
            } else {
                gain
            };
            frame.iter_mut().for_each(|s| *s *= g);
        }
        self.item_frames += frames as u64;
        self.tail.extend_from_slice(&self.scratch[..frames * ch]);
        let keep = self.ramp_frames * ch;
        if self.tail.len() > keep {
            let n = self.tail.len() - keep;
            self.write(n);
            self.tail.drain(..n);
        }
    }

    /// The item has ended: fade out the frames held back and push them.
    pub(super) fn flush_tail(&mut self) {
        let ch = self.channels as usize;
        let len = self.tail.len() / ch;
        for (i, frame) in self.tail.chunks_mut(ch).enumerate() {
            let g = (len - 1 - i) as f32 / len as f32;
            frame.iter_mut().for_each(|s| *s *= g);
        }
        let n = self.tail.len();
        self.write(n);
        self.tail.clear();
        self.item_frames = 0;
    }

    /// Hand the first `n` samples of `tail` to the outputs, by way of the
    /// chunk being filled (pushed once full). A fork catching up drops them
    /// instead, while it has frames to drop.
    pub(super) fn write(&mut self, n: usize) {
        let ch = self.channels as usize;
        let mut i = 0;
        if self.discard > 0 {
            let drop = (self.discard as usize * ch).min(n);
            self.discard -= (drop / ch) as u64;
            i = drop;
        }
        while i < n {
            let idx = self.pending_chunk();
            let chunk =
                Arc::get_mut(&mut self.pool[idx]).expect("no voice holds the chunk in fill");
            let took = chunk.extend(&self.tail[i..n]);
            let full = chunk.room() == 0;
            i += took;
            self.frames_written += (took / ch) as u64;
            if full {
                self.publish();
            }
        }
    }

    /// The chunk being filled: a free one of the pool (no voice holds it any
    /// more), else a new one.
    pub(super) fn pending_chunk(&mut self) -> usize {
        if let Some(i) = self.pending {
            return i;
        }
        let i = match self.pool.iter_mut().position(|c| Arc::get_mut(c).is_some()) {
            Some(i) => {
                if let Some(c) = Arc::get_mut(&mut self.pool[i]) {
                    c.clear();
                }
                i
            }
            None => {
                let samples = CHUNK_FRAMES * self.channels as usize;
                self.pool.push(Arc::new(Chunk::with_capacity(samples)));
                self.pool.len() - 1
            }
        };
        self.pending = Some(i);
        i
    }

    /// Push the chunk being filled, if any, to every output: a reference
    /// each, no copy.
    pub(super) fn publish(&mut self) {
        let Some(i) = self.pending.take() else {
            return;
        };
        let chunk = &self.pool[i];
        if chunk.is_empty() {
            return;
        }
        for o in self.outputs.iter_mut() {
            // `room` made sure of a free slot.
            if o.input.push(chunk.clone()).is_err() {
                tracing::error!(job = %self.job, zone = %o.zone, "voice ring full; audio lost");
            }
        }
        self.published += (chunk.len() / self.channels as usize) as u64;
    }

    /// Count the silence at the end of the `frames` just decoded into
    /// `scratch`; the silence's length in seconds once it is dead air.
    pub(super) fn dead_air(&mut self, frames: usize) -> Option<f64> {
        let limit = self.dead_air_frames?;
        let ch = self.channels as usize;
        let samples = &self.scratch[..frames * ch];
        match samples.iter().rposition(|s| s.abs() >= SILENCE_LEVEL) {
            Some(last) => self.silent_run = (frames - 1 - last / ch) as u64,
            None => self.silent_run += frames as u64,
        }
        (self.silent_run >= limit).then(|| self.silent_run as f64 / self.rate as f64)
    }
}
