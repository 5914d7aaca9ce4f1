//! The voice ring: how decoded audio travels from a decoder worker (the
//! producer, [`VoiceInput`]) to the engine (the consumer, which wraps a
//! [`RingOutput`] in its `Voice`).
//!
//! The ring holds [`Chunk`]s of decoded audio by reference (`Arc`), so one
//! decoder feeds many zones without copying: each zone's ring gets a clone
//! of the same chunk. Item boundaries travel beside the samples as
//! [`Marker`]s, so the engine knows the exact frame at which each playlist
//! item starts. The two ends share only atomics ([`FeedShared`]).
//!
//! The contract:
//! - the producer counts frames in `frames_pushed` after pushing the chunks
//!   that hold them, so a consumer that sees the count finds the chunks;
//! - the consumer counts frames in `frames_read`, which tells the producer
//!   how much room there is (the ring's slots alone don't: chunks may be
//!   part full);
//! - the consumer never drops the last reference to a chunk (that would
//!   free memory on the audio thread): the producer keeps one until the
//!   consumer's end is gone ([`FeedShared::dropped`]);
//! - the consumer asks for things (stop, skip) through the atomics and, for
//!   a skip, which the producer must act on at once, rings the producer's
//!   [`Doorbell`] (a syscall only if the producer sleeps; see there).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rtrb::{Consumer, Producer, RingBuffer};

use super::Doorbell;

/// Frames in a full [`Chunk`]; a decoder step produces at most this many.
pub const CHUNK_FRAMES: usize = 4096;

/// Most playlist items a voice announces in its marker ring at once.
const MARKER_CAPACITY: usize = 64;

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
    /// Set when the engine's end (the `Voice`) is dropped, which happens
    /// off the engine thread: from then on nothing on the engine thread
    /// holds a chunk of this voice.
    pub dropped: AtomicBool,
    /// The doorbell of the thread that fills this ring, once one does.
    producer_bell: OnceLock<Arc<Doorbell>>,
}

impl FeedShared {
    /// Say which thread fills this ring (the first call wins: a fork stays
    /// on its parent's worker).
    pub fn set_producer_bell(&self, bell: Arc<Doorbell>) {
        let _ = self.producer_bell.set(bell);
    }

    /// Wake the producer if it sleeps (a request it must act on at once).
    /// Safe on the engine thread: no syscall unless the producer sleeps.
    pub fn wake_producer(&self) {
        if let Some(bell) = self.producer_bell.get() {
            bell.ring();
        }
    }
}

/// The consumer's end of a voice ring, as [`ring`] makes it.
pub struct RingOutput {
    pub chunks: Consumer<Arc<Chunk>>,
    pub markers: Consumer<Marker>,
    pub shared: Arc<FeedShared>,
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

    /// Most frames the ring is meant to hold.
    pub fn capacity_frames(&self) -> usize {
        self.capacity_frames
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

/// A new voice ring for `capacity_frames` frames of `channels` channels:
/// the consumer's end and the producer's.
pub fn ring(channels: u16, capacity_frames: usize) -> (RingOutput, VoiceInput) {
    // Twice the slots full chunks would need: part-full chunks (at the end
    // of a wait) must not cut the buffer short; frames are counted apart.
    let slots = capacity_frames.div_ceil(CHUNK_FRAMES) * 2 + 4;
    let (sp, sc) = RingBuffer::new(slots);
    let (mp, mc) = RingBuffer::new(MARKER_CAPACITY);
    let shared = Arc::new(FeedShared::default());
    let output = RingOutput {
        chunks: sc,
        markers: mc,
        shared: shared.clone(),
    };
    let input = VoiceInput {
        chunks: sp,
        markers: mp,
        shared,
        channels,
        capacity_frames,
        frames_pushed: 0,
    };
    (output, input)
}
