//! Playing a feed's list: opening each item (at its loudness gain),
//! announcing it with a marker, and the fill loop that decodes into the
//! voices' rings while they have room.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::seq::SliceRandom;

use super::{Feed, FeedEvent, Looping, Next, Order, Output, ITEM_RAMP, PASS_FRAMES};
use crate::media::loudness::{self, Lookup, LoudnessCache, Target};
use crate::media::{panics, DecodeOptions, Decoder};
use crate::ring::{JobId, Marker, VoiceInput, ZoneId, CHUNK_FRAMES};

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
    pub(super) fn report(&self, event: impl Fn(ZoneId) -> FeedEvent) {
        for o in &self.outputs {
            let _ = self.events.send(event(o.zone));
        }
    }

    /// Open the next playable file, skipping (and reporting) those that fail.
    pub(super) fn open_next(&mut self) -> Next {
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
    pub(super) fn open_decoder(&mut self, path: &Path) -> Result<Decoder, String> {
        self.opened += 1;
        let (rate, channels, decode) = (self.rate, self.channels, self.decode.clone());
        match panics::contain(|| Decoder::open_with(path, rate, channels, decode)) {
            Ok(Ok(decoder)) => Ok(decoder),
            Ok(Err(e)) => Err(e.to_string()),
            Err(what) => Err(format!("decoder panicked: {what}")),
        }
    }

    /// A fork goes on with the item its voices were playing: open it again
    /// (its marker is already in their rings) at the `offset` frames of it
    /// they already have, by seeking its decoder there (milliseconds even
    /// an hour into an item). Where the format cannot seek, decode from the
    /// start and drop those frames instead.
    pub(super) fn reopen(&mut self, item: u32, path: PathBuf, offset: u64) {
        let begin = Instant::now();
        let mut decoder = match self.open_decoder(&path) {
            Ok(d) => d,
            Err(reason) => return self.fail(item, path, reason),
        };
        self.silent_run = 0;
        self.tail.clear();
        let seeked = panics::contain(|| decoder.seek_to(offset))
            .unwrap_or_else(|what| Err(format!("decoder panicked: {what}")));
        match seeked {
            Ok(()) => {
                // Mid-item: no fade-in.
                self.item_frames = offset;
                self.discard = 0;
                tracing::debug!(job = %self.job, file = %path.display(), offset,
                    ms = begin.elapsed().as_millis() as u64, "fork seeked to where its zones are");
            }
            Err(why) => {
                tracing::info!(job = %self.job, file = %path.display(), reason = %why,
                    "cannot seek: the fork decodes the item from its start");
                decoder = match self.open_decoder(&path) {
                    Ok(d) => d,
                    Err(reason) => return self.fail(item, path, reason),
                };
                self.item_frames = 0;
                self.discard = offset;
            }
        }
        self.current = Some((item, path, decoder));
    }

    pub(super) fn fail(&self, item: u32, path: PathBuf, reason: String) {
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
    pub(super) fn skip_requested(&self, item: u32) -> bool {
        self.outputs.iter().all(|o| o.input.skip_requested(item))
    }

    /// Tell every voice that no more samples will come.
    pub(super) fn finish(&mut self) {
        self.publish();
        for o in &self.outputs {
            o.input.finish();
        }
    }

    /// Decode into the rings while they all have room, up to
    /// [`PASS_FRAMES`]. Returns whether anything was done, and whether the
    /// feed is over. Voices split off go to `forks`.
    pub(super) fn fill(&mut self) -> (bool, bool) {
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
    pub(super) fn decode_step(&mut self) -> usize {
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
}
