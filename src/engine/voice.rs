//! A voice: one job playing on one zone.
//!
//! A voice is the consumer end of a voice ring ([`crate::ring::audio`],
//! where the contract between its two ends is written down) that a decoder
//! worker fills seconds ahead, plus what the engine's mixer keeps about it:
//! its priority, its state on the zone, its gain.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtrb::Consumer;

use crate::priority::Priority;
pub use crate::ring::{Chunk, FeedShared, JobId, Marker, VoiceInput, CHUNK_FRAMES};

/// What a playing voice does while a higher priority holds its zone.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum Yield {
    /// Keep playing, lowered to `gain` (linear, 0..1).
    Duck { gain: f32 },
    /// Stop, and resume later where it left off.
    Pause,
    /// End it; the as-run log records it as preempted.
    Cancel,
}

/// Everything the engine needs to know about a voice besides its samples.
#[derive(Debug, Clone, Copy)]
pub struct VoiceSpec {
    pub job: JobId,
    pub priority: Priority,
    /// What this voice does when a higher priority takes the zone.
    pub yields: Yield,
}

/// The engine's end of a voice.
pub struct Voice {
    pub spec: VoiceSpec,
    pub(crate) chunks: Consumer<Arc<Chunk>>,
    /// Samples already read of the chunk at the front of the ring.
    pub(crate) offset: usize,
    pub(crate) markers: Consumer<Marker>,
    pub shared: Arc<FeedShared>,
    /// Frames consumed so far (played or ducked).
    pub(crate) frames_read: u64,
    /// Item playing now (`u32::MAX` before the first marker).
    pub(crate) current_item: u32,
    pub(crate) state: VoiceState,
    /// Gain now and the gain being ramped to, linear.
    pub(crate) gain: f32,
    pub(crate) target: f32,
    /// Gain change per sample while ramping.
    pub(crate) step: f32,
    /// Why the voice ends once its fade-out completes.
    pub(crate) ending: Option<EndReason>,
    /// Skipping: fade out, then drop samples until item `skip_to` starts.
    pub(crate) skip_to: Option<u32>,
    /// The decoder fell behind: the voice faded out and waits, silent,
    /// until a packet and a fade's worth are buffered again.
    pub(crate) starved: bool,
    /// Filled as a person speaks (a live page): it plays with a packet
    /// buffered, not a packet and a fade's worth, so it goes on air with as
    /// little delay as the input allows.
    pub(crate) live: bool,
}

/// Where a voice is in its life on the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceState {
    /// Not played yet (its ring is filling, or a higher or earlier job holds
    /// the zone).
    Waiting,
    /// Consuming samples (on air, ducked, or fading).
    Playing,
    /// Held by a higher priority; resumes where it stopped.
    Paused,
}

/// How a voice left its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// Every item played.
    Completed,
    /// A higher priority took the zone and this voice yields by cancelling.
    Preempted,
    /// An operator cancelled the job or stopped the zone.
    Cancelled,
    /// The daemon is shutting down (or the zone was removed).
    Interrupted,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::Preempted => "preempted",
            EndReason::Cancelled => "cancelled",
            EndReason::Interrupted => "interrupted",
        }
    }
}

/// A new voice and its producer end, with a ring for `capacity_frames`
/// frames of `channels` channels.
pub fn voice(spec: VoiceSpec, channels: u16, capacity_frames: usize) -> (Voice, VoiceInput) {
    let (ring, input) = crate::ring::ring(channels, capacity_frames);
    let voice = Voice {
        spec,
        chunks: ring.chunks,
        offset: 0,
        markers: ring.markers,
        shared: ring.shared,
        frames_read: 0,
        current_item: u32::MAX,
        state: VoiceState::Waiting,
        gain: 0.0,
        target: 0.0,
        step: 0.0,
        ending: None,
        skip_to: None,
        starved: false,
        live: false,
    };
    (voice, input)
}

/// A voice for a live page (see [`Voice::live`]).
pub fn live_voice(spec: VoiceSpec, channels: u16, capacity_frames: usize) -> (Voice, VoiceInput) {
    let (mut v, input) = voice(spec, channels, capacity_frames);
    v.live = true;
    (v, input)
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("spec", &self.spec)
            .field("state", &self.state)
            .field("frames_read", &self.frames_read)
            .field("gain", &self.gain)
            .finish_non_exhaustive()
    }
}

impl Voice {
    /// Frames ready to read now. (The chunks holding them are in the ring:
    /// the producer counts frames after pushing them.)
    pub(crate) fn frames_available(&self) -> usize {
        let pushed = self.shared.frames_pushed.load(Ordering::Acquire);
        pushed.saturating_sub(self.frames_read) as usize
    }

    /// Whether every sample has been produced and read.
    pub(crate) fn drained(&self) -> bool {
        // Read `producer_done` before the count: the producer sets it after
        // its last push, so done-then-empty means nothing more will come.
        self.shared.producer_done.load(Ordering::Acquire) && self.frames_available() == 0
    }

    /// Mark `frames` more frames as read: release the chunks they used up
    /// (the feed still holds each, so nothing is freed here).
    pub(crate) fn consume(&mut self, frames: usize, channels: usize) {
        if frames == 0 {
            return;
        }
        let mut rest = self.offset + frames * channels;
        let mut done = 0;
        if let Ok(read) = self.chunks.read_chunk(self.chunks.slots()) {
            let (a, b) = read.as_slices();
            for c in a.iter().chain(b) {
                if rest < c.len() {
                    break;
                }
                rest -= c.len();
                done += 1;
            }
            read.commit(done);
        }
        self.offset = rest;
        self.frames_read += frames as u64;
        self.shared
            .frames_read
            .store(self.frames_read, Ordering::Release);
    }

    /// Ready to go on air: a packet is buffered, or the producer has finished
    /// (a voice that produced nothing ends at once).
    pub(crate) fn ready(&self, frames: usize) -> bool {
        self.frames_available() >= frames || self.shared.producer_done.load(Ordering::Acquire)
    }

    pub fn job(&self) -> JobId {
        self.spec.job
    }
}

#[cfg(test)]
impl Voice {
    /// Read up to `frames` frames as they are (tests only: allocates).
    pub(crate) fn read_frames(&mut self, frames: usize, channels: usize) -> Vec<f32> {
        let n = self.frames_available().min(frames);
        let mut out = Vec::with_capacity(n * channels);
        if let Ok(read) = self.chunks.read_chunk(self.chunks.slots()) {
            let (a, b) = read.as_slices();
            let mut skip = self.offset;
            for c in a.iter().chain(b) {
                let s = &c.samples()[skip.min(c.len())..];
                skip = 0;
                let want = n * channels - out.len();
                out.extend_from_slice(&s[..want.min(s.len())]);
                if out.len() == n * channels {
                    break;
                }
            }
        }
        self.consume(n, channels);
        out
    }
}

impl Drop for Voice {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.dropped.store(true, Ordering::Release);
    }
}
