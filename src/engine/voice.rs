//! A voice: one job playing on one zone.
//!
//! A voice is the consumer end of a lock-free ring that a decoder worker
//! ([`crate::media::prefetch`]) fills seconds ahead; [`VoiceInput`] is the
//! producer end. Item boundaries travel beside the samples as [`Marker`]s, so
//! the engine knows the exact frame at which each playlist item starts. The
//! two ends share only atomics ([`FeedShared`]).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::priority::Priority;

/// Identifies a job across zones, the queue and the as-run log.
pub type JobId = u64;

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

/// Where item `item` of a voice's job starts, in frames since the voice began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub item: u32,
    pub at_frame: u64,
}

/// State shared by the two ends of a voice. Atomics only.
#[derive(Debug, Default)]
pub struct FeedShared {
    /// Set by the producer: no more samples will come.
    pub producer_done: AtomicBool,
    /// Set by the engine (the voice ended) or the control plane (cancelled):
    /// the producer stops decoding and drops its end.
    pub stop: AtomicBool,
    /// Set by the engine to skip the rest of the current item: the producer
    /// moves on to item `skip_to` (0: no request).
    pub skip_to: AtomicU32,
    /// Items the producer could not play (missing, corrupt, unsupported).
    pub items_failed: AtomicU32,
    /// Frames the engine found missing when it needed them (decoder behind).
    pub underrun_frames: AtomicU64,
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
    pub(crate) samples: Consumer<f32>,
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

/// The decoder's end of a voice.
pub struct VoiceInput {
    pub samples: Producer<f32>,
    pub markers: Producer<Marker>,
    pub shared: Arc<FeedShared>,
    pub channels: u16,
}

impl VoiceInput {
    /// Whether the engine or the control plane asked the producer to stop.
    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    /// Whether the engine asked to skip past item `item`.
    pub fn skip_requested(&self, item: u32) -> bool {
        item < self.shared.skip_to.load(Ordering::Acquire)
    }

    /// Tell the engine no more samples will come.
    pub fn finish(&self) {
        self.shared.producer_done.store(true, Ordering::Release);
    }
}

impl Drop for VoiceInput {
    fn drop(&mut self) {
        // A producer that goes away for any reason (an error, a panic caught
        // at the worker's boundary) must not leave the engine waiting.
        self.finish();
    }
}

/// Most playlist items a voice announces in its marker ring at once.
const MARKER_CAPACITY: usize = 64;

/// A new voice and its producer end, with a ring of `capacity_frames` frames
/// of `channels` channels.
pub fn voice(spec: VoiceSpec, channels: u16, capacity_frames: usize) -> (Voice, VoiceInput) {
    let (sp, sc) = RingBuffer::new(capacity_frames * channels as usize);
    let (mp, mc) = RingBuffer::new(MARKER_CAPACITY);
    let shared = Arc::new(FeedShared::default());
    let voice = Voice {
        spec,
        samples: sc,
        markers: mc,
        shared: shared.clone(),
        frames_read: 0,
        current_item: u32::MAX,
        state: VoiceState::Waiting,
        gain: 0.0,
        target: 0.0,
        step: 0.0,
        ending: None,
        skip_to: None,
        starved: false,
    };
    let input = VoiceInput {
        samples: sp,
        markers: mp,
        shared,
        channels,
    };
    (voice, input)
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
    /// Frames ready to read now.
    pub(crate) fn frames_available(&self, channels: usize) -> usize {
        self.samples.slots() / channels
    }

    /// Whether every sample has been produced and read.
    pub(crate) fn drained(&self) -> bool {
        // Read `producer_done` before the ring: the producer sets it after
        // its last push, so done-then-empty means nothing more will come.
        self.shared.producer_done.load(Ordering::Acquire) && self.samples.is_empty()
    }

    /// Ready to go on air: a packet is buffered, or the producer has finished
    /// (a voice that produced nothing ends at once).
    pub(crate) fn ready(&self, channels: usize, frames: usize) -> bool {
        self.frames_available(channels) >= frames
            || self.shared.producer_done.load(Ordering::Acquire)
    }

    pub fn job(&self) -> JobId {
        self.spec.job
    }
}

impl Drop for Voice {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}
