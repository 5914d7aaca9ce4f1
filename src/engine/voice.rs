//! A voice: one job playing on one zone.
//!
//! A voice is the consumer end of a lock-free ring that a decoder worker
//! ([`crate::media::prefetch`]) fills seconds ahead; [`VoiceInput`] is the
//! producer end. The ring holds [`Chunk`]s of decoded audio by reference
//! (`Arc`), so one decoder feeds many zones without copying: each zone's
//! ring gets a clone of the same chunk. Item boundaries travel beside the
//! samples as [`Marker`]s, so the engine knows the exact frame at which each
//! playlist item starts. The two ends share only atomics ([`FeedShared`]).
//!
//! The engine never drops the last reference to a chunk (that would free
//! memory on the audio thread): the feed that made it keeps one until every
//! voice it fed has been dropped ([`FeedShared::dropped`]).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::priority::Priority;

/// Frames in a full [`Chunk`]; a decoder step produces at most this many.
pub const CHUNK_FRAMES: usize = 4096;

/// A piece of decoded audio, interleaved f32, shared by every voice it was
/// pushed to. Up to [`CHUNK_FRAMES`] frames (fewer at the end of a feed or
/// while it waits).
#[derive(Debug, Default)]
pub struct Chunk {
    samples: Vec<f32>,
    /// Most samples it takes.
    capacity: usize,
}

impl Chunk {
    /// An empty chunk with room for `samples` samples.
    pub fn with_capacity(samples: usize) -> Chunk {
        Chunk {
            samples: Vec::with_capacity(samples),
            capacity: samples,
        }
    }

    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Samples that still fit.
    pub fn room(&self) -> usize {
        self.capacity - self.samples.len()
    }

    /// Empty it for reuse (keeps its memory).
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// Append `samples`, as many as fit; returns how many did.
    pub fn extend(&mut self, samples: &[f32]) -> usize {
        let n = samples.len().min(self.room());
        self.samples.extend_from_slice(&samples[..n]);
        n
    }
}

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
    /// Frames pushed into the ring so far (set by the producer after each
    /// push, so the chunks holding them are in the ring once it is seen).
    pub frames_pushed: AtomicU64,
    /// Frames the engine has read (or dropped) so far.
    pub frames_read: AtomicU64,
    /// Set when the engine's end (the [`Voice`]) is dropped, which happens
    /// off the engine thread: from then on nothing on the engine thread
    /// holds a chunk of this voice.
    pub dropped: AtomicBool,
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
    pub chunks: Producer<Arc<Chunk>>,
    pub markers: Producer<Marker>,
    pub shared: Arc<FeedShared>,
    pub channels: u16,
    /// Most frames the ring is meant to hold (the chunks it holds may be
    /// part full, so its slots alone don't say).
    capacity_frames: usize,
    /// Frames pushed so far (the producer's copy of `shared.frames_pushed`).
    frames_pushed: u64,
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

    /// Frames pushed so far.
    pub fn frames_pushed(&self) -> u64 {
        self.frames_pushed
    }

    /// Frames that fit before the ring holds its capacity.
    pub fn room_frames(&self) -> usize {
        let read = self.shared.frames_read.load(Ordering::Acquire);
        let buffered = self.frames_pushed.saturating_sub(read) as usize;
        self.capacity_frames.saturating_sub(buffered)
    }

    /// Free chunk slots in the ring.
    pub fn chunk_slots(&self) -> usize {
        self.chunks.slots()
    }

    /// Push a chunk (a clone of a shared one: no copy). Hands it back when
    /// the ring has no free slot.
    pub fn push(&mut self, chunk: Arc<Chunk>) -> Result<(), Arc<Chunk>> {
        let frames = (chunk.len() / self.channels.max(1) as usize) as u64;
        if let Err(rtrb::PushError::Full(c)) = self.chunks.push(chunk) {
            return Err(c);
        }
        self.frames_pushed += frames;
        self.shared
            .frames_pushed
            .store(self.frames_pushed, Ordering::Release);
        Ok(())
    }

    /// Push interleaved `samples` as one new chunk (allocates: for tests
    /// and tools, never on the engine thread).
    pub fn push_frames(&mut self, samples: &[f32]) -> Result<(), Arc<Chunk>> {
        let mut chunk = Chunk::with_capacity(samples.len());
        chunk.extend(samples);
        self.push(Arc::new(chunk))
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

/// A new voice and its producer end, with a ring for `capacity_frames`
/// frames of `channels` channels.
pub fn voice(spec: VoiceSpec, channels: u16, capacity_frames: usize) -> (Voice, VoiceInput) {
    // Twice the slots full chunks would need: part-full chunks (at the end
    // of a wait) must not cut the buffer short; frames are counted apart.
    let slots = capacity_frames.div_ceil(CHUNK_FRAMES) * 2 + 4;
    let (sp, sc) = RingBuffer::new(slots);
    let (mp, mc) = RingBuffer::new(MARKER_CAPACITY);
    let shared = Arc::new(FeedShared::default());
    let voice = Voice {
        spec,
        chunks: sc,
        offset: 0,
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
        chunks: sp,
        markers: mp,
        shared,
        channels,
        capacity_frames,
        frames_pushed: 0,
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
