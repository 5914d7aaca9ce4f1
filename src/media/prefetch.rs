//! Decoder workers: fill each voice's ring seconds ahead of playback.
//!
//! A [`Feed`] is the producer end of one voice plus the list of files it
//! plays. A small pool of worker threads ([`Prefetcher`]) owns the feeds and
//! keeps every ring topped up, decoding with [`Decoder`] (which allocates and
//! does file I/O: that is why it runs here and never on the engine thread).
//!
//! A file that is missing, corrupt or unsupported is reported once (a
//! [`FeedEvent::ItemFailed`], logged by the control plane with its path and
//! reason) and skipped; the playlist goes on. So is dead air: an item that
//! stays below [`SILENCE_LEVEL`] for longer than the feed's dead-air time
//! (a blank or broken file) is cut there and the next item follows.
//!
//! With [`Feed::with_loudness`], each item plays at the gain that brings it
//! to the zone's loudness target ([`super::loudness`]). A file's measurement
//! comes from the [`LoudnessCache`]'s own thread; until it is there the item
//! waits (its voice is not ready yet) and the worker serves its other feeds. A panic inside a decoder is
//! caught at the worker's boundary and treated the same way, so it never
//! takes down the worker, the engine or another zone.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use rand::seq::SliceRandom;

use super::loudness::{self, Lookup, LoudnessCache, Target};
use super::{panics, DecodeOptions, Decoder};
use crate::engine::voice::{JobId, Marker, VoiceInput};
use crate::engine::ZoneId;
use std::sync::Arc;

/// Frames decoded per step; a ring needs this much room before a step runs.
pub const CHUNK_FRAMES: usize = 4096;
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
    /// A file played to its end, but `skipped` of its packets could not be
    /// decoded and were left out: it is damaged.
    ItemDamaged {
        zone: ZoneId,
        job: JobId,
        item: u32,
        path: PathBuf,
        skipped: u64,
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

/// The producer side of one voice: files to decode into its ring.
pub struct Feed {
    zone: ZoneId,
    job: JobId,
    input: VoiceInput,
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
    frames_written: u64,
    scratch: Vec<f32>,
    events: Sender<FeedEvent>,
    /// Loudness normalisation: the measurements, this zone's target, and
    /// whether an item waits for its measurement (else it plays unchanged).
    loudness: Option<(Arc<LoudnessCache>, Target, bool)>,
    /// Linear gain of the current item.
    gain: f32,
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
}

/// What [`Feed::open_next`] found.
enum Next {
    Opened,
    /// The next item's loudness is being measured: try again later.
    Wait,
    End,
}

impl Feed {
    /// A feed of `files` into `input` at `rate` Hz, each file decoded with
    /// the limits in `decode`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        zone: ZoneId,
        job: JobId,
        input: VoiceInput,
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
        let channels = input.channels as usize;
        Feed {
            zone,
            job,
            input,
            files,
            order,
            rate,
            decode,
            next_file: 0,
            next_item: 0,
            current: None,
            frames_written: 0,
            scratch: Vec::with_capacity(CHUNK_FRAMES * channels),
            events,
            loudness: None,
            gain: 1.0,
            dead_air_frames: None,
            silent_run: 0,
            ramp_frames: (ITEM_RAMP.as_secs_f64() * rate as f64).round().max(1.0) as usize,
            tail: Vec::new(),
            item_frames: 0,
        }
    }

    /// Play every item at the gain that brings it to `target`, with
    /// measurements from `cache`. Asks `cache` to measure the whole list now.
    /// An item whose measurement is not there yet waits for it when `wait`;
    /// otherwise (an emergency, which must not wait) it plays unchanged.
    pub fn with_loudness(mut self, cache: Arc<LoudnessCache>, target: Target, wait: bool) -> Feed {
        cache.prepare(&self.files, self.input.channels);
        self.loudness = Some((cache, target, wait));
        self
    }

    /// Skip an item (reported as failed, "dead air") once it has been
    /// silent for `after`.
    pub fn with_dead_air(mut self, after: Duration) -> Feed {
        self.dead_air_frames = Some((after.as_secs_f64() * self.rate as f64).round() as u64);
        self
    }

    fn report(&self, e: FeedEvent) {
        let _ = self.events.send(e);
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
                Some((cache, target, wait)) => match cache.lookup(&path, self.input.channels) {
                    Lookup::Pending if *wait => return Next::Wait,
                    Lookup::Pending | Lookup::Failed => 1.0,
                    Lookup::Ready(m) => loudness::plan(&m, target).linear(),
                },
            };
            self.next_file += 1;
            let item = self.next_item;
            self.next_item += 1;
            let opened = panics::contain(|| {
                Decoder::open_with(&path, self.rate, self.input.channels, self.decode.clone())
            });
            match opened {
                Ok(Ok(decoder)) => {
                    self.report(FeedEvent::ItemOpened {
                        zone: self.zone,
                        job: self.job,
                        item,
                        path: path.clone(),
                    });
                    self.current = Some((item, path, decoder));
                    self.gain = gain;
                    self.silent_run = 0;
                    self.item_frames = 0;
                    return Next::Opened;
                }
                Ok(Err(e)) => self.fail(item, path, e.to_string()),
                Err(what) => self.fail(item, path, format!("decoder panicked: {what}")),
            }
        }
    }

    fn fail(&self, item: u32, path: PathBuf, reason: String) {
        self.report(FeedEvent::ItemFailed {
            zone: self.zone,
            job: self.job,
            item,
            path,
            reason,
        });
    }

    /// Decode into the ring while it has room, up to [`PASS_FRAMES`].
    /// Returns whether anything was done, and whether the feed is over.
    fn fill(&mut self) -> (bool, bool) {
        if self.input.stop_requested() {
            return (false, true);
        }
        let ch = self.input.channels as usize;
        let mut worked = false;
        let mut budget = PASS_FRAMES;
        let room = (CHUNK_FRAMES + self.ramp_frames) * ch;
        while budget > 0 && self.input.samples.slots() >= room {
            if self.current.is_none() {
                match self.open_next() {
                    Next::Opened => {}
                    Next::Wait => return (worked, false),
                    Next::End => {
                        self.input.finish();
                        return (true, true);
                    }
                }
                // Announce the item's first frame; with the marker ring full,
                // wait for the engine to play some items first.
                let item = self.current.as_ref().map(|c| c.0).unwrap_or_default();
                let marker = Marker {
                    item,
                    at_frame: self.frames_written,
                };
                if self.input.markers.push(marker).is_err() {
                    self.current = None;
                    self.next_file -= 1;
                    self.next_item -= 1;
                    return (worked, false);
                }
            }
            let Some((item, path, decoder)) = self.current.as_mut() else {
                continue;
            };
            if self.input.skip_requested(*item) {
                // The operator skipped this item: the engine drops what was
                // already decoded of it (and fades); decode no more.
                self.current = None;
                self.tail.clear();
                continue;
            }
            self.scratch.clear();
            let read = panics::contain(|| decoder.read(&mut self.scratch, CHUNK_FRAMES));
            let frames = match read {
                Ok(Ok(0)) if decoder.skipped_packets() > 0 => {
                    let e = FeedEvent::ItemDamaged {
                        zone: self.zone,
                        job: self.job,
                        item: *item,
                        path: path.clone(),
                        skipped: decoder.skipped_packets(),
                    };
                    let _ = self.events.send(e);
                    0
                }
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    let (item, path) = (*item, path.clone());
                    self.fail(item, path, e.to_string());
                    0
                }
                Err(what) => {
                    let (item, path) = (*item, path.clone());
                    self.fail(item, path, format!("decoder panicked: {what}"));
                    0
                }
            };
            worked = true;
            if frames == 0 {
                self.current = None;
                self.flush_tail();
                continue;
            }
            let dead = self.dead_air(frames);
            self.push_item_frames(frames);
            budget = budget.saturating_sub(frames);
            if let Some(seconds) = dead {
                if let Some((item, path, _)) = self.current.take() {
                    self.flush_tail();
                    self.fail(item, path, format!("dead air: silent for {seconds:.1} s"));
                }
            }
        }
        (worked, false)
    }
}

impl Feed {
    /// Apply the item's gain and its fade-in to the `frames` in `scratch`
    /// and push them, holding back the last [`ITEM_RAMP`] of them: when the
    /// item ends, they fade out ([`Feed::flush_tail`]). So every item starts
    /// from and ends at silence, whether it ends by itself, by a decode
    /// error or as dead air, and the next item does not step.
    fn push_item_frames(&mut self, frames: usize) {
        let ch = self.input.channels as usize;
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
        let ch = self.input.channels as usize;
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

    /// Push the first `n` samples of `tail` into the ring.
    fn write(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let Ok(chunk) = self.input.samples.write_chunk_uninit(n) {
            chunk.fill_from_iter(self.tail[..n].iter().copied());
            self.frames_written += (n / self.input.channels as usize) as u64;
        }
    }

    /// Count the silence at the end of the `frames` just decoded into
    /// `scratch`; the silence's length in seconds once it is dead air.
    fn dead_air(&mut self, frames: usize) -> Option<f64> {
        let limit = self.dead_air_frames?;
        let ch = self.input.channels as usize;
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
    let mut worked = true;
    loop {
        let wait = if worked { Duration::ZERO } else { IDLE_WAIT };
        match rx.recv_timeout(wait) {
            Ok(feed) => feeds.push(feed),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Shutting down: the feeds' producers drop, which tells the
                // engine that nothing more will come.
                return;
            }
        }
        while let Ok(feed) = rx.try_recv() {
            feeds.push(feed);
        }
        worked = false;
        feeds.retain_mut(|feed| {
            let (did, done) = feed.fill();
            worked |= did;
            !done
        });
    }
}
