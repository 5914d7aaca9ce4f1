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
//! frame it had reached, decoding the item again from its start and dropping
//! what was already pushed. So is a voice that skips an item on its own.
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

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rand::seq::SliceRandom;

use super::loudness::{self, Lookup, LoudnessCache, Target};
use super::{panics, DecodeOptions, Decoder};
use crate::engine::voice::{Chunk, FeedShared, JobId, Marker, VoiceInput};
use crate::engine::ZoneId;
use std::sync::Arc;

/// Frames decoded per step (and in a full chunk); a ring needs this much
/// room, and more, before a step runs.
pub use crate::engine::voice::CHUNK_FRAMES;
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
/// How long an idle worker waits for new feeds before looking again.
const IDLE_WAIT: Duration = Duration::from_millis(10);
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

/// The gain for `path` from a measurement of its opening (see the module
/// docs); unchanged (1.0) when the opening cannot be measured: the decoder
/// that opens the item next reports why, once.
fn provisional_gain(path: &Path, rate: u32, channels: u16, target: &Target) -> f32 {
    let begin = Instant::now();
    match panics::contain(|| loudness::measure_opening(path, rate, channels)) {
        Ok(Ok(m)) => {
            let gain = loudness::plan(&m, target);
            tracing::info!(file = %path.display(),
                lufs = format!("{:.1}", m.integrated_lufs),
                gain_db = format!("{:.1}", gain.db),
                ms = begin.elapsed().as_millis() as u64,
                "loudness not measured yet: plays at a provisional gain from its opening");
            gain.linear()
        }
        _ => 1.0,
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

impl Feed {
    /// A feed of `files` into the voices `outputs` (one per zone, all with
    /// the same channels) at `rate` Hz, each file decoded with the limits in
    /// `decode`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: JobId,
        outputs: Vec<(ZoneId, VoiceInput)>,
        mut files: Vec<PathBuf>,
        order: Order,
        rate: u32,
        decode: DecodeOptions,
        events: Sender<FeedEvent>,
    ) -> Feed {
        if order.shuffle {
            let from = order.repeat_from.min(files.len());
            files[from..].shuffle(&mut rand::rng());
        }
        let channels = outputs.first().map_or(1, |(_, i)| i.channels);
        debug_assert!(outputs.iter().all(|(_, i)| i.channels == channels));
        let fed = outputs.iter().map(|(_, i)| i.shared.clone()).collect();
        Feed {
            job,
            outputs: outputs
                .into_iter()
                .map(|(zone, input)| Output::new(zone, input))
                .collect(),
            channels,
            files,
            order,
            rate,
            decode,
            next_file: 0,
            next_item: 0,
            current: None,
            frames_written: 0,
            published: 0,
            item_start: 0,
            scratch: Vec::with_capacity(CHUNK_FRAMES * channels as usize),
            events,
            loudness: None,
            gain: 1.0,
            provisional: None,
            dead_air_frames: None,
            silent_run: 0,
            ramp_frames: (ITEM_RAMP.as_secs_f64() * rate as f64).round().max(1.0) as usize,
            tail: Vec::new(),
            item_frames: 0,
            pool: Vec::new(),
            pending: None,
            fed,
            resume: None,
            discard: 0,
            skip_split_since: None,
            forks: Vec::new(),
            opened: 0,
        }
    }

    /// Play every item at the gain that brings it to `target`, with
    /// measurements from `cache`. Asks `cache` to measure the whole list now.
    /// An item whose measurement is not there yet never waits for it: it
    /// starts at once, at a provisional gain from its opening when
    /// `provisional`, else (an emergency, which must not spend even the
    /// opening's few tens of milliseconds) unchanged. The whole-file
    /// measurement applies from the file's next play.
    pub fn with_loudness(
        mut self,
        cache: Arc<LoudnessCache>,
        target: Target,
        provisional: bool,
    ) -> Feed {
        cache.prepare(&self.files, self.channels);
        self.loudness = Some((cache, target, provisional));
        self
    }

    /// Skip an item (reported as failed, "dead air") once it has been
    /// silent for `after`.
    pub fn with_dead_air(mut self, after: Duration) -> Feed {
        self.dead_air_frames = Some((after.as_secs_f64() * self.rate as f64).round() as u64);
        self
    }

    /// Send `event(zone)` for every zone of the feed.
    fn report(&self, event: impl Fn(ZoneId) -> FeedEvent) {
        for o in &self.outputs {
            let _ = self.events.send(event(o.zone));
        }
    }

    /// Open the next playable file, skipping (and reporting) those that fail.
    fn open_next(&mut self) -> Next {
        loop {
            if self.next_file >= self.files.len() {
                let again = match self.order.looping {
                    Looping::Once => false,
                    Looping::Until(until) => SystemTime::now() < until,
                    Looping::Forever => true,
                };
                let from = self.order.repeat_from.min(self.files.len());
                // A loop where nothing at all played would spin: stop.
                if !again || from == self.files.len() || self.frames_written == 0 {
                    return Next::End;
                }
                if self.order.shuffle {
                    self.files[from..].shuffle(&mut rand::rng());
                }
                self.next_file = from;
            }
            let path = self.files[self.next_file].clone();
            let gain = match &self.loudness {
                None => 1.0,
                Some((cache, target, provisional)) => match cache.lookup(&path, self.channels) {
                    Lookup::Pending if *provisional => match &self.provisional {
                        Some((p, gain)) if *p == path => *gain,
                        _ => {
                            let gain = provisional_gain(&path, self.rate, self.channels, target);
                            self.provisional = Some((path.clone(), gain));
                            gain
                        }
                    },
                    Lookup::Pending | Lookup::Failed => 1.0,
                    Lookup::Ready(m) => loudness::plan(&m, target).linear(),
                },
            };
            self.next_file += 1;
            let item = self.next_item;
            self.next_item += 1;
            match self.open_decoder(&path) {
                Ok(decoder) => {
                    let job = self.job;
                    self.report(|zone| FeedEvent::ItemOpened {
                        zone,
                        job,
                        item,
                        path: path.clone(),
                    });
                    self.current = Some((item, path, decoder));
                    self.gain = gain;
                    self.silent_run = 0;
                    self.item_frames = 0;
                    return Next::Opened;
                }
                Err(reason) => self.fail(item, path, reason),
            }
        }
    }

    /// A decoder for `path`, with a panic inside it caught.
    fn open_decoder(&mut self, path: &Path) -> Result<Decoder, String> {
        self.opened += 1;
        let (rate, channels, decode) = (self.rate, self.channels, self.decode.clone());
        match panics::contain(|| Decoder::open_with(path, rate, channels, decode)) {
            Ok(Ok(decoder)) => Ok(decoder),
            Ok(Err(e)) => Err(e.to_string()),
            Err(what) => Err(format!("decoder panicked: {what}")),
        }
    }

    /// A fork goes on with the item its voices were playing: open it again
    /// (its marker is already in their rings) and drop, as it decodes, the
    /// `offset` frames of it they already have.
    fn reopen(&mut self, item: u32, path: PathBuf, offset: u64) {
        match self.open_decoder(&path) {
            Ok(decoder) => {
                self.current = Some((item, path, decoder));
                self.silent_run = 0;
                self.item_frames = 0;
                self.tail.clear();
                self.discard = offset;
            }
            Err(reason) => self.fail(item, path, reason),
        }
    }

    fn fail(&self, item: u32, path: PathBuf, reason: String) {
        let job = self.job;
        self.report(|zone| FeedEvent::ItemFailed {
            zone,
            job,
            item,
            path: path.clone(),
            reason: reason.clone(),
        });
    }

    /// Whether every voice asked to skip past item `item`.
    fn skip_requested(&self, item: u32) -> bool {
        self.outputs.iter().all(|o| o.input.skip_requested(item))
    }

    /// Tell every voice that no more samples will come.
    fn finish(&mut self) {
        self.publish();
        for o in &self.outputs {
            o.input.finish();
        }
    }

    /// Decode into the rings while they all have room, up to
    /// [`PASS_FRAMES`]. Returns whether anything was done, and whether the
    /// feed is over. Voices split off go to `forks`.
    fn fill(&mut self) -> (bool, bool) {
        self.outputs.retain(|o| !o.input.stop_requested());
        if self.outputs.is_empty() {
            return (false, true);
        }
        let now = Instant::now();
        if !self.settle_skips(now) {
            return (false, false);
        }
        let mut worked = false;
        let mut budget = PASS_FRAMES;
        // Catching up (decoding to drop) is cheaper than playing, but
        // bounded too.
        let mut catch_up = PASS_FRAMES * 8;
        while budget > 0 && catch_up > 0 && self.room(now) {
            if self.current.is_none() {
                if let Some((item, path, offset)) = self.resume.take() {
                    self.reopen(item, path, offset);
                    worked = true;
                    continue;
                }
                match self.open_next() {
                    Next::Opened => {}
                    Next::End => {
                        self.finish();
                        return (true, true);
                    }
                }
                // Announce the item's first frame; with a marker ring full,
                // wait for the engine to play some items first.
                let item = self.current.as_ref().map(|c| c.0).unwrap_or_default();
                let marker = Marker {
                    item,
                    at_frame: self.frames_written,
                };
                if self.outputs.iter().any(|o| o.input.markers.slots() == 0) {
                    self.current = None;
                    self.next_file -= 1;
                    self.next_item -= 1;
                    return (worked, false);
                }
                for o in self.outputs.iter_mut() {
                    let _ = o.input.markers.push(marker);
                }
                self.item_start = self.frames_written;
            }
            let Some((item, _, _)) = self.current.as_ref() else {
                continue;
            };
            if self.skip_requested(*item) {
                // The operator skipped this item: the engine drops what was
                // already decoded of it (and fades); decode no more.
                self.current = None;
                self.tail.clear();
                self.discard = 0;
                self.publish();
                continue;
            }
            let catching_up = self.discard > 0;
            let frames = self.decode_step();
            worked = true;
            if frames == 0 {
                self.current = None;
                self.flush_tail();
                self.publish();
                continue;
            }
            let dead = self.dead_air(frames);
            self.push_item_frames(frames);
            if catching_up {
                catch_up = catch_up.saturating_sub(frames);
            } else {
                budget = budget.saturating_sub(frames);
            }
            if let Some(seconds) = dead {
                if let Some((item, path, _)) = self.current.take() {
                    self.flush_tail();
                    self.publish();
                    self.fail(item, path, format!("dead air: silent for {seconds:.1} s"));
                }
            }
        }
        (worked, false)
    }

    /// Decode the next frames of the current item into `scratch`; 0 at its
    /// end, also when it fails (reported) or is damaged (reported).
    fn decode_step(&mut self) -> usize {
        let Some((item, path, decoder)) = self.current.as_mut() else {
            return 0;
        };
        self.scratch.clear();
        let read = panics::contain(|| decoder.read(&mut self.scratch, CHUNK_FRAMES));
        let (item, path) = (*item, path.clone());
        match read {
            Ok(Ok(0)) => {
                // Reported before the voices hear of the item's end, so the
                // control plane knows before the engine ends it.
                if let Some(reason) = decoder.damage() {
                    let job = self.job;
                    self.report(|zone| FeedEvent::ItemDamaged {
                        zone,
                        job,
                        item,
                        path: path.clone(),
                        reason: reason.clone(),
                    });
                }
                0
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                self.fail(item, path, e.to_string());
                0
            }
            Err(what) => {
                self.fail(item, path, format!("decoder panicked: {what}"));
                0
            }
        }
    }

    /// Whether every output has room for a step. Looks for outputs left
    /// behind (full for [`DETACH_AFTER`] while another has room) and splits
    /// them off into a fork.
    fn room(&mut self, now: Instant) -> bool {
        let ch = self.channels as usize;
        let pending = self.pending.map_or(0, |i| self.pool[i].len() / ch);
        let need = pending + CHUNK_FRAMES + self.ramp_frames;
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
            job = self.job,
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
    fn settle_skips(&mut self, now: Instant) -> bool {
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
                job = self.job,
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
    fn fork(&mut self, outputs: Vec<Output>, skip_to: u32) -> Feed {
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
    fn released(&self) -> bool {
        self.fed
            .iter()
            .all(|s| s.dropped.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The feed is over: let go of everything but its chunks.
    fn wind_down(&mut self) {
        self.outputs.clear();
        self.current = None;
        self.scratch = Vec::new();
        self.tail = Vec::new();
        self.files = Vec::new();
    }
}

impl Feed {
    /// Apply the item's gain and its fade-in to the `frames` in `scratch`
    /// and push them, holding back the last [`ITEM_RAMP`] of them: when the
    /// item ends, they fade out ([`Feed::flush_tail`]). So every item starts
    /// from and ends at silence, whether it ends by itself, by a decode
    /// error or as dead air, and the next item does not step.
    fn push_item_frames(&mut self, frames: usize) {
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
    fn flush_tail(&mut self) {
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
    fn write(&mut self, n: usize) {
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
    fn pending_chunk(&mut self) -> usize {
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
    fn publish(&mut self) {
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
                tracing::error!(job = self.job, zone = o.zone, "voice ring full; audio lost");
            }
        }
        self.published += (chunk.len() / self.channels as usize) as u64;
    }

    /// Count the silence at the end of the `frames` just decoded into
    /// `scratch`; the silence's length in seconds once it is dead air.
    fn dead_air(&mut self, frames: usize) -> Option<f64> {
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

/// The pool of decoder workers.
pub struct Prefetcher {
    workers: Vec<(Sender<Feed>, JoinHandle<()>)>,
    next: std::sync::atomic::AtomicUsize,
}

impl Prefetcher {
    /// Start `workers` threads (at least one).
    pub fn start(workers: usize) -> std::io::Result<Prefetcher> {
        let mut list = Vec::new();
        for n in 0..workers.max(1) {
            let (tx, rx) = mpsc::channel();
            let handle = std::thread::Builder::new()
                .name(format!("corong-decode-{n}"))
                .spawn(move || worker(rx))?;
            list.push((tx, handle));
        }
        Ok(Prefetcher {
            workers: list,
            next: Default::default(),
        })
    }

    /// Hand a feed to a worker (round robin). It starts decoding at once.
    pub fn submit(&self, feed: Feed) {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.workers.len();
        // A worker only goes away when its channel is closed, which happens
        // in Drop below; a send can't fail before that.
        let _ = self.workers[n].0.send(feed);
    }
}

/// How long dropping the [`Prefetcher`] waits for all its workers together.
/// A worker finishes the fill it is in (a fraction of a second of audio)
/// before it sees the closed channel; one stuck in a read from a dead
/// network mount is left behind so that shutdown stays bounded.
pub const SHUTDOWN_JOIN_LIMIT: Duration = Duration::from_millis(500);

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Close every channel first, so the workers stop in parallel.
        let handles: Vec<JoinHandle<()>> = self
            .workers
            .drain(..)
            .map(|(tx, handle)| {
                drop(tx);
                handle
            })
            .collect();
        let end = std::time::Instant::now() + SHUTDOWN_JOIN_LIMIT;
        for handle in handles {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if !crate::engine::join_within(handle, left) {
                tracing::error!("a decoder worker did not stop in time; exiting without it");
            }
        }
    }
}

/// Shared between tests and the daemon: how many workers suit this machine.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().clamp(1, 4))
        .unwrap_or(2)
}

fn worker(rx: Receiver<Feed>) {
    let mut feeds: Vec<Feed> = Vec::new();
    // Feeds that are over but whose chunks may still be in a voice's ring:
    // kept until every voice they fed is dropped (off the engine thread), so
    // that the engine never frees a chunk.
    let mut spent: Vec<Feed> = Vec::new();
    let mut born: Vec<Feed> = Vec::new();
    let mut worked = true;
    loop {
        let wait = if worked { Duration::ZERO } else { IDLE_WAIT };
        match rx.recv_timeout(wait) {
            Ok(feed) => feeds.push(feed),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Shutting down: the feeds' producers drop, which tells the
                // engine that nothing more will come. Chunks a voice may
                // still hold are left allocated (the process is ending):
                // freeing them here could leave the engine the last
                // reference.
                for feed in feeds.iter_mut().chain(spent.iter_mut()) {
                    if !feed.released() {
                        std::mem::forget(std::mem::take(&mut feed.pool));
                    }
                }
                return;
            }
        }
        while let Ok(feed) = rx.try_recv() {
            feeds.push(feed);
        }
        worked = false;
        let mut ended = false;
        for feed in feeds.iter_mut() {
            let (did, done) = feed.fill();
            worked |= did;
            if done {
                feed.wind_down();
                ended = true;
            }
            born.append(&mut feed.forks);
        }
        if ended {
            let (over, live): (Vec<Feed>, Vec<Feed>) =
                feeds.drain(..).partition(|f| f.outputs.is_empty());
            feeds = live;
            spent.extend(over);
        }
        if !born.is_empty() {
            worked = true;
            feeds.append(&mut born);
        }
        spent.retain(|f| !f.released());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::voice::{self, Voice, VoiceSpec, Yield};
    use crate::priority::Priority;

    const RATE: u32 = 8000;

    /// A mono WAV of `seconds` of noise-like samples that differ from
    /// frame to frame (so an offset shows).
    fn wav(dir: &Path, name: &str, seconds: f32, seed: u32) -> PathBuf {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        let samples: Vec<f32> = (0..(seconds * RATE as f32) as usize)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 20_000) as f32 / 40_000.0 + 0.1
            })
            .collect();
        let path = dir.join(name);
        crate::media::tone::write_wav(&path, &samples, RATE, 1).unwrap();
        path
    }

    /// `n` voices of `capacity` frames and their producer ends, zones 0..n.
    fn voices(n: u32, capacity: usize) -> (Vec<Voice>, Vec<(ZoneId, VoiceInput)>) {
        let spec = VoiceSpec {
            job: 7,
            priority: Priority(50),
            yields: Yield::Pause,
        };
        (0..n)
            .map(|zone| {
                let (v, input) = voice::voice(spec, 1, capacity);
                (v, (zone, input))
            })
            .unzip()
    }

    fn feed(outputs: Vec<(ZoneId, VoiceInput)>, files: &[PathBuf]) -> (Feed, Receiver<FeedEvent>) {
        let (tx, rx) = mpsc::channel();
        let feed = Feed::new(
            7,
            outputs,
            files.to_vec(),
            Order::default(),
            RATE,
            DecodeOptions::default(),
            tx,
        );
        (feed, rx)
    }

    /// What one zone alone gets from `files`.
    fn reference(files: &[PathBuf]) -> Vec<f32> {
        let (mut v, outputs) = voices(1, RATE as usize * 60);
        let (mut f, _rx) = feed(outputs, files);
        while !f.fill().1 {}
        v[0].read_frames(usize::MAX, 1)
    }

    /// Fill a feed and its fork to their ends, reading voice 0 into `a`
    /// and voice 1 into `b` as they go.
    fn drain_both(
        f: &mut Feed,
        fork: &mut Feed,
        vs: &mut [Voice],
        a: &mut Vec<f32>,
        b: &mut Vec<f32>,
    ) {
        let (mut done_f, mut done_fork) = (false, false);
        while !(done_f && done_fork) {
            done_f = done_f || f.fill().1;
            done_fork = done_fork || fork.fill().1;
            read_all(&mut vs[0], a);
            read_all(&mut vs[1], b);
        }
        read_all(&mut vs[0], a);
        read_all(&mut vs[1], b);
    }

    fn read_all(v: &mut Voice, into: &mut Vec<f32>) {
        into.extend(v.read_frames(usize::MAX, 1));
    }

    #[test]
    fn one_decoder_fills_three_zones_with_the_same_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let file = wav(dir.path(), "a.wav", 3.0, 1);
        let (mut vs, outputs) = voices(3, RATE as usize * 10);
        let (mut f, rx) = feed(outputs, std::slice::from_ref(&file));
        while !f.fill().1 {}
        assert_eq!(f.opened, 1, "one decoder for the three zones");
        // The rings hold the same chunks, not copies.
        let front: Vec<&Arc<Chunk>> = vs.iter().map(|v| v.chunks.peek().unwrap()).collect();
        assert!(Arc::ptr_eq(front[0], front[1]) && Arc::ptr_eq(front[0], front[2]));
        let got: Vec<Vec<f32>> = vs
            .iter_mut()
            .map(|v| v.read_frames(usize::MAX, 1))
            .collect();
        assert_eq!(got[0].len(), 3 * RATE as usize);
        assert!(got[0] == got[1] && got[0] == got[2]);
        assert!(got[0] == reference(&[file]));
        let opened: Vec<ZoneId> = rx
            .try_iter()
            .filter_map(|e| match e {
                FeedEvent::ItemOpened { zone, item: 0, .. } => Some(zone),
                _ => None,
            })
            .collect();
        assert_eq!(
            opened,
            [0, 1, 2],
            "the as-run log hears of the item per zone"
        );
    }

    /// A zone that stops reading (paused under an announcement) while the
    /// other plays on gets a decoder of its own, which goes on exactly
    /// where its ring stopped: both zones get every sample, in order.
    #[test]
    fn a_zone_left_behind_is_detached_and_goes_on_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = wav(dir.path(), "a.wav", 6.0, 2);
        let (mut vs, outputs) = voices(2, CHUNK_FRAMES * 3);
        let (mut f, _rx) = feed(outputs, std::slice::from_ref(&file));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            f.fill();
            a.extend(vs[0].read_frames(1000, 1));
            b.extend(vs[1].read_frames(1000, 1));
        }
        assert!(f.forks.is_empty(), "in step: nobody is behind");
        // Zone 0 stops reading; zone 1 reads all it gets.
        let start = Instant::now();
        let mut seen_full = 0;
        let mut fork = loop {
            assert!(start.elapsed() < Duration::from_secs(5), "never detached");
            f.fill();
            read_all(&mut vs[1], &mut b);
            if let Some(fork) = f.forks.pop() {
                break fork;
            }
            seen_full += 1;
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            start.elapsed() >= DETACH_AFTER && seen_full > 1,
            "not on one look"
        );
        assert_eq!(f.outputs.len(), 1);
        assert_eq!(fork.outputs[0].zone, 0);
        let (_, _, offset) = fork.resume.clone().expect("goes on mid-item");
        assert!(offset > 0 && offset == fork.published);
        drain_both(&mut f, &mut fork, &mut vs, &mut a, &mut b);
        assert_eq!(fork.opened, 1);
        let r = reference(&[file]);
        assert_eq!(a.len(), r.len());
        assert!(
            a == r,
            "the detached zone's samples differ from a decode of its own"
        );
        assert!(b == r);
        assert!(vs[0]
            .shared
            .producer_done
            .load(std::sync::atomic::Ordering::Acquire));
    }

    /// A file truncated while its feed decodes it ends where it was cut,
    /// reported damaged (once per zone) with the reason; the next item
    /// plays whole and is not.
    #[test]
    fn a_file_truncated_while_it_plays_is_reported_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let long = wav(dir.path(), "long.wav", 10.0, 1);
        let next = wav(dir.path(), "next.wav", 1.0, 2);
        let (mut vs, outputs) = voices(2, RATE as usize * 2);
        let (mut f, rx) = feed(outputs, &[long.clone(), next.clone()]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        f.fill();
        std::fs::File::options()
            .write(true)
            .open(&long)
            .unwrap()
            .set_len(44 + 4 * RATE as u64 * 2)
            .unwrap();
        let mut done = false;
        while !done {
            done = f.fill().1;
            read_all(&mut vs[0], &mut a);
            read_all(&mut vs[1], &mut b);
        }
        read_all(&mut vs[0], &mut a);
        // At most what the stream had read ahead past the cut, then the
        // next item's second.
        assert!(a.len() < 6 * RATE as usize, "{} frames", a.len());
        let damaged: Vec<(ZoneId, u32, PathBuf, String)> = rx
            .try_iter()
            .filter_map(|e| match e {
                FeedEvent::ItemDamaged {
                    zone,
                    item,
                    path,
                    reason,
                    ..
                } => Some((zone, item, path, reason)),
                _ => None,
            })
            .collect();
        assert_eq!(damaged.len(), 2, "{damaged:?}");
        for (zone, (z, item, path, reason)) in damaged.iter().enumerate() {
            assert_eq!((*z, *item, path), (zone as ZoneId, 0, &long));
            assert!(reason.contains("changed while it played"), "{reason}");
            assert!(reason.contains("cut short"), "{reason}");
        }
    }

    /// Every zone of the feed skips: the feed skips as it always did, on
    /// its one decoder.
    #[test]
    fn a_skip_on_every_zone_skips_the_shared_feed() {
        let dir = tempfile::tempdir().unwrap();
        let first = wav(dir.path(), "a.wav", 4.0, 5);
        let second = wav(dir.path(), "b.wav", 1.0, 6);
        let files = [first, second.clone()];
        let (mut vs, outputs) = voices(2, CHUNK_FRAMES * 3);
        let (mut f, _rx) = feed(outputs, &files);
        f.fill();
        for v in &vs {
            v.shared
                .skip_to
                .store(1, std::sync::atomic::Ordering::Release);
        }
        let mut got = [Vec::new(), Vec::new()];
        while !f.fill().1 {
            for (v, g) in vs.iter_mut().zip(got.iter_mut()) {
                read_all(v, g);
            }
        }
        for (v, g) in vs.iter_mut().zip(got.iter_mut()) {
            read_all(v, g);
        }
        assert!(f.forks.is_empty());
        assert_eq!(f.opened, 2, "item 0, then item 1: one decoder each");
        assert!(got[0] == got[1]);
        // Item 1 starts where its marker says, from its start.
        let markers: Vec<Marker> = std::iter::from_fn(|| vs[0].markers.pop().ok()).collect();
        assert_eq!(markers.len(), 2);
        assert_eq!(markers[1].item, 1);
        let at = markers[1].at_frame as usize;
        assert!(got[0][at..] == reference(&[second])[..]);
    }

    /// A finished feed keeps its chunks until every voice it fed is gone:
    /// the engine never holds the last reference.
    #[test]
    fn a_feed_keeps_its_chunks_until_its_voices_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = wav(dir.path(), "a.wav", 1.0, 7);
        let (mut vs, outputs) = voices(2, RATE as usize * 10);
        let (mut f, _rx) = feed(outputs, &[file]);
        while !f.fill().1 {}
        f.wind_down();
        let held: Vec<Arc<Chunk>> = f.pool.clone();
        assert!(!f.released());
        vs[0].read_frames(usize::MAX, 1);
        drop(vs.remove(0));
        assert!(!f.released(), "one voice still holds chunks");
        drop(vs);
        assert!(f.released());
        // Only the feed (and this test) hold them now.
        assert!(held.iter().all(|c| Arc::strong_count(c) == 2));
    }

    /// One zone of two skips the item: it goes on with the next item from
    /// its start, on a decoder of its own; the other plays on.
    #[test]
    fn a_skip_on_one_zone_detaches_it_to_the_next_item() {
        let dir = tempfile::tempdir().unwrap();
        let first = wav(dir.path(), "a.wav", 4.0, 3);
        let second = wav(dir.path(), "b.wav", 1.0, 4);
        let files = [first.clone(), second.clone()];
        let (mut vs, outputs) = voices(2, CHUNK_FRAMES * 3);
        let (mut f, _rx) = feed(outputs, &files);
        f.fill();
        let (mut a, mut b) = (vs[0].read_frames(500, 1), vs[1].read_frames(500, 1));
        vs[0]
            .shared
            .skip_to
            .store(1, std::sync::atomic::Ordering::Release);
        f.fill();
        assert!(
            f.forks.is_empty(),
            "a skip settles before it splits the feed"
        );
        std::thread::sleep(SKIP_SETTLE + Duration::from_millis(5));
        f.fill();
        let mut fork = f.forks.pop().expect("the zone that skipped is detached");
        assert!(fork.resume.is_none());
        assert_eq!(fork.next_item, 1);
        let at = fork.published as usize;
        drain_both(&mut f, &mut fork, &mut vs, &mut a, &mut b);
        let whole = reference(&files);
        assert!(b == whole, "the other zone plays both items");
        assert!(a[..at] == whole[..at]);
        assert!(a[at..] == reference(&[second])[..], "item 1 from its start");
        let markers: Vec<Marker> = std::iter::from_fn(|| vs[0].markers.pop().ok()).collect();
        assert_eq!(
            markers,
            [
                Marker {
                    item: 0,
                    at_frame: 0
                },
                Marker {
                    item: 1,
                    at_frame: at as u64
                }
            ]
        );
    }
}
