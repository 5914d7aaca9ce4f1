//! Decoder workers: fill each voice's ring seconds ahead of playback.
//!
//! A [`Feed`] is one decoder and the list of files it plays, fanned out to
//! the producer ends of one or more voices (the zones of a job that play the
//! same audio: same channels, same loudness target). A small pool of worker
//! threads ([`Prefetcher`]) owns the feeds and keeps every ring topped up,
//! decoding with [`Decoder`] (which allocates and does file I/O: that is why
//! it runs here and never on the engine thread).
//!
//! The decoded audio goes out in shared [`Chunk`]s: every voice's ring gets a
//! reference to the same chunk, never a copy. A feed reuses a chunk once no
//! voice holds it any more, and keeps a reference to each until every voice
//! it fed is gone, so the engine never frees one.
//!
//! The voices of a feed play in step. A feed writes only when every voice has
//! room; a voice that stays full for [`DETACH_AFTER`] while another has room
//! (it waits or is paused under a higher priority) is detached: a private
//! feed (a fork) takes over its producer end and goes on from the exact
//! frame it had reached, seeking its decoder there ([`Decoder::seek_to`]:
//! milliseconds, even an hour into an item). So is a voice that skips an
//! item on its own.
//!
//! A file that is missing, corrupt or unsupported is reported once (a
//! [`FeedEvent::ItemFailed`], logged by the control plane with its path and
//! reason) and skipped; the playlist goes on. So is dead air: an item that
//! stays below [`SILENCE_LEVEL`] for longer than the feed's dead-air time
//! (a blank or broken file) is cut there and the next item follows. A file
//! that plays to its end but was not all there (packets that would not
//! decode, cut short, written to while it played) is reported as a
//! [`FeedEvent::ItemDamaged`] with the reason, before its end reaches the
//! voices.
//!
//! With [`Feed::with_loudness`], each item plays at the gain that brings it
//! to the zone's loudness target ([`super::loudness`]). A file's measurement
//! comes from the [`LoudnessCache`]'s own thread. An item never waits for
//! it: one whose file is not measured yet starts at once, at a provisional
//! gain from a measurement of its opening that the worker makes itself
//! ([`loudness::measure_opening`], bounded to a few tens of milliseconds),
//! and keeps that gain to its end; the whole-file measurement, asked for at
//! the same moment, applies from the file's next play. (Moving to it in the
//! middle of an item would be a level change the listeners hear.)
//! A panic inside a decoder is caught at the worker's boundary and treated the same way, so it never
//! takes down the worker, the engine or another zone.
//!
//! The files: [`feed`] plays a feed's list (opening items, the fill loop);
//! [`chunks`] turns an item's samples into shared chunks (gain, fades,
//! dead air, the chunk pool); [`split`] gives voices that fall out of step
//! a feed of their own; [`worker`] runs feeds on a pool of threads that
//! sleep until a ring has room or a feed arrives.

mod chunks;
mod feed;
mod split;
mod worker;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::loudness::{LoudnessCache, Target};
use super::{DecodeOptions, Decoder};
use crate::ring::{Chunk, FeedShared, JobId, VoiceInput, ZoneId};

pub use worker::{default_workers, Prefetcher, SHUTDOWN_JOIN_LIMIT};

/// Frames decoded per step (and in a full chunk); a ring needs this much
/// room, and more, before a step runs.
pub use crate::ring::CHUNK_FRAMES;
/// How long a voice's ring must stay full while another voice of its feed
/// has room before the voice gets a decoder of its own. Voices in step are
/// read microseconds apart: one look is never enough to tell.
pub const DETACH_AFTER: Duration = Duration::from_millis(200);
/// How long differing skip requests from the voices of one feed settle
/// (an operator skipping several zones reaches them one after the other)
/// before the voices that skipped are detached.
const SKIP_SETTLE: Duration = Duration::from_millis(20);
/// Most chunks one decode step pushes: a full one, one more with the
/// fade-out held back, and the part-full last chunk of an item.
const STEP_PUSHES: usize = 3;
/// Most frames one feed gets per pass, so one busy feed can't starve the
/// others sharing its worker.
const PASS_FRAMES: usize = 48_000;
/// Fade at the start and end of every item, so that items follow each
/// other without a step (the engine's own ramps cover starts, stops,
/// preemption and ducking).
pub const ITEM_RAMP: Duration = Duration::from_millis(10);
/// Samples below this (linear, before any gain; -60 dBFS) count as silence
/// for dead-air detection.
pub const SILENCE_LEVEL: f32 = 0.001;

/// What a worker reports to the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// Item `item` of `job` on `zone` was opened: it is `path`.
    ItemOpened {
        zone: ZoneId,
        job: JobId,
        item: u32,
        path: PathBuf,
    },
    /// A file could not be played (or failed mid-way) and was skipped.
    ItemFailed {
        zone: ZoneId,
        job: JobId,
        item: u32,
        path: PathBuf,
        reason: String,
    },
    /// A file played to its end, but what it held was not the whole of it
    /// ([`Decoder::damage`]: packets left out, cut short, changed while it
    /// played): it is damaged, and `reason` says how.
    ItemDamaged {
        zone: ZoneId,
        job: JobId,
        item: u32,
        path: PathBuf,
        reason: String,
    },
}

/// How a feed walks its list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Order {
    /// Shuffle the list (again at each loop). Items before `repeat_from`
    /// stay in place.
    pub shuffle: bool,
    /// Whether and how long to start over at the end of the list.
    pub looping: Looping,
    /// Where a loop starts over: items before it play once (an emergency's
    /// alert tone before the message that repeats). Default 0.
    pub repeat_from: usize,
}

/// Whether a feed starts over at the end of its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Looping {
    /// Play the list once.
    #[default]
    Once,
    /// Start over until this wall-clock time.
    Until(SystemTime),
    /// Start over until the job is stopped.
    Forever,
}

/// One voice a feed writes to.
struct Output {
    zone: ZoneId,
    input: VoiceInput,
    /// Whether its ring had room at the last look.
    room: bool,
    /// Since when it has been full while another voice had room.
    behind_since: Option<Instant>,
    /// Its skip request at the last look.
    skip: u32,
}

impl Output {
    fn new(zone: ZoneId, input: VoiceInput) -> Output {
        Output {
            zone,
            input,
            room: true,
            behind_since: None,
            skip: 0,
        }
    }
}

/// One decoder and the voices it fills: files to decode into their rings.
pub struct Feed {
    job: JobId,
    outputs: Vec<Output>,
    channels: u16,
    files: Vec<PathBuf>,
    order: Order,
    rate: u32,
    /// Limits on each item's decoding.
    decode: DecodeOptions,
    /// Position in `files` of the next file to open.
    next_file: usize,
    /// Item number of the next item (counts across loops).
    next_item: u32,
    current: Option<(u32, PathBuf, Decoder)>,
    /// Frames handed to the outputs so far, counting the chunk being filled.
    frames_written: u64,
    /// Frames pushed into the outputs' rings (whole chunks) so far.
    published: u64,
    /// Frame at which the current item starts (its marker).
    item_start: u64,
    scratch: Vec<f32>,
    events: Sender<FeedEvent>,
    /// Loudness normalisation: the measurements, this zone's target, and
    /// whether an item not measured yet gets a provisional gain from its
    /// opening (else it plays unchanged).
    loudness: Option<(Arc<LoudnessCache>, Target, bool)>,
    /// Linear gain of the current item.
    gain: f32,
    /// The last provisional gain worked out, and its file: an item put
    /// back (its marker ring was full) or played again before its
    /// measurement is there does not measure its opening again.
    provisional: Option<(PathBuf, f32)>,
    /// Frames of silence after which an item is skipped as dead air.
    dead_air_frames: Option<u64>,
    /// Frames of silence at the end of what was decoded of the current item.
    silent_run: u64,
    /// Frames of each item's fade-in and fade-out ([`ITEM_RAMP`]).
    ramp_frames: usize,
    /// The last `ramp_frames` frames of the current item, held back until
    /// it is known whether they are its end (then they fade out).
    tail: Vec<f32>,
    /// Frames of the current item decoded so far.
    item_frames: u64,
    /// Every chunk this feed made. One is reused once the feed's is the only
    /// reference left; all are kept until every voice fed is dropped.
    pool: Vec<Arc<Chunk>>,
    /// The chunk being filled (in `pool`; no voice holds it yet).
    pending: Option<usize>,
    /// Every voice this feed ever wrote to, detached ones too.
    fed: Vec<Arc<FeedShared>>,
    /// A fork: the item to open first, without announcing it again, and
    /// the frames of it already pushed.
    resume: Option<(u32, PathBuf, u64)>,
    /// Frames of the current item to decode and drop (a fork catching up).
    discard: u64,
    /// Since when the outputs' skip requests differ.
    skip_split_since: Option<Instant>,
    /// Feeds split off during the last fill, for the worker to run.
    forks: Vec<Feed>,
    /// Decoders opened (for tests and diagnostics).
    opened: u32,
}

/// What [`Feed::open_next`] found.
enum Next {
    Opened,
    End,
}
