//! The zone mixer: every packet time, the highest-priority voice of a zone
//! goes on air and the others yield (duck, pause or cancel) with ramps.
//!
//! Rules, in order:
//! - Only voices that are ready (a packet buffered, or finished producing)
//!   compete, so an announcement still filling its buffer does not silence
//!   the music early.
//! - The highest priority wins; among equals, the one that arrived first.
//! - A voice that has never played waits until it wins.
//! - A playing voice that loses yields as its [`Yield`] says: `Duck` keeps
//!   playing at a lower gain, `Pause` fades out and later resumes from the
//!   frame where it stopped, `Cancel` fades out and ends as preempted.
//! - A voice whose decoder falls behind (fewer than a packet and a fade
//!   buffered) fades out over what it has, waits silent, and fades back in
//!   once it has caught up: an underrun never cuts the signal dead.
//!
//! Nothing here allocates: voices live in a vector with fixed capacity, and
//! samples are read from the voice's ring in place.

use std::time::{Duration, Instant};

use super::voice::{EndReason, JobId, Voice, VoiceState, Yield};
use super::{Event, ZoneId};
use crate::output::Tick;

/// Most voices one zone holds at once (playing, paused and waiting).
pub const MAX_VOICES: usize = 64;

/// Ramp lengths, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramps {
    /// Fade in at a start or resume, fade out at a stop, pause or cancel.
    pub fade: f32,
    /// Going into and out of a duck.
    pub duck: f32,
}

impl Default for Ramps {
    /// 10 ms fades, 300 ms ducking.
    fn default() -> Self {
        Ramps {
            fade: 0.010,
            duck: 0.300,
        }
    }
}

/// Why a voice could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("zone already holds {MAX_VOICES} voices")]
pub struct ZoneFull;

/// One zone's voices and how to mix them.
pub struct ZoneMixer {
    channels: usize,
    rate: f32,
    /// Zone gain, linear.
    gain: f32,
    ramps: Ramps,
    // Voices arrive boxed through the command ring and leave boxed through
    // the retire ring: unboxing them here would mean boxing again (an
    // allocation) on the engine thread when they end.
    #[allow(clippy::vec_box)]
    voices: Vec<Box<Voice>>,
}

impl ZoneMixer {
    pub fn new(channels: u16, rate: u32, gain_db: f32, ramps: Ramps) -> ZoneMixer {
        ZoneMixer {
            channels: channels as usize,
            rate: rate as f32,
            gain: db_to_gain(gain_db),
            ramps,
            voices: Vec::with_capacity(MAX_VOICES),
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Add a voice; it competes from the next packet on. Hands the voice back
    /// when the zone is full.
    pub fn add(&mut self, voice: Box<Voice>) -> Result<(), Box<Voice>> {
        if self.voices.len() == self.voices.capacity() {
            return Err(voice);
        }
        self.voices.push(voice);
        Ok(())
    }

    pub fn voices(&self) -> impl Iterator<Item = &Voice> {
        self.voices.iter().map(|v| &**v)
    }

    /// End every voice of `job` (all voices when `job` is `None`) with
    /// `reason`: a playing one fades out first, the others end at the next
    /// packet.
    pub fn stop(&mut self, job: Option<JobId>, reason: EndReason) {
        let step = self.ramp_step(self.ramps.fade);
        for v in self.voices.iter_mut() {
            if job.is_none_or(|j| v.spec.job == j) && v.ending.is_none() {
                v.ending = Some(reason);
                v.target = 0.0;
                v.step = step;
            }
        }
    }

    /// Skip the rest of the item on air: it fades out, the samples left of
    /// it are dropped, and the next item (if any) fades in. Returns the job
    /// and item skipped, or `None` when nothing is on air.
    pub fn skip(&mut self) -> Option<(JobId, u32)> {
        let step = self.ramp_step(self.ramps.fade);
        // The voice on air: the playing one of highest priority, earliest
        // first (ducked voices play too, but under it).
        let mut top: Option<usize> = None;
        for (i, v) in self.voices.iter().enumerate() {
            if v.state == VoiceState::Playing
                && v.ending.is_none()
                && top.is_none_or(|t| v.spec.priority > self.voices[t].spec.priority)
            {
                top = Some(i);
            }
        }
        let v = &mut self.voices[top?];
        if v.current_item == u32::MAX || v.skip_to.is_some() {
            return None;
        }
        let next = v.current_item + 1;
        v.skip_to = Some(next);
        v.shared
            .skip_to
            .store(next, std::sync::atomic::Ordering::Release);
        // Its decoder may be asleep with a full ring: it must move on now.
        v.shared.wake_producer();
        v.target = 0.0;
        v.step = step;
        Some((v.spec.job, v.current_item))
    }

    /// Gain change per sample for a ramp of `seconds` over the full range.
    fn ramp_step(&self, seconds: f32) -> f32 {
        1.0 / (seconds * self.rate).max(1.0)
    }

    /// Mix one packet into `out` (interleaved, `channels` channels; its
    /// length sets the packet's frames). Voices that end are handed to
    /// `retire` (to be dropped off the engine thread); events go to `emit`.
    pub fn mix(
        &mut self,
        zone: ZoneId,
        out: &mut [f32],
        tick: &Tick,
        emit: &mut impl FnMut(Event),
        retire: &mut impl FnMut(Box<Voice>),
    ) {
        out.fill(0.0);
        let ch = self.channels;
        let frames = out.len() / ch;
        let top = self.on_air(frames);
        let fade = self.ramp_step(self.ramps.fade);
        let duck = self.ramp_step(self.ramps.duck);
        let at = |frame: usize, rate: f32| -> Instant {
            tick.deadline + Duration::from_secs_f64(frame as f64 / rate as f64)
        };

        // By job, not index: removing an ended voice shifts the indices.
        let top_job = top.map(|i| self.voices[i].spec.job);
        let top_priority = top.map(|i| self.voices[i].spec.priority);
        let mut i = 0;
        while i < self.voices.len() {
            let v = &mut self.voices[i];
            // Decide this packet's role.
            if v.ending.is_none() {
                if Some(v.spec.job) == top_job {
                    match v.state {
                        VoiceState::Waiting | VoiceState::Paused => {
                            if v.state == VoiceState::Paused {
                                emit(Event::Resumed {
                                    zone,
                                    job: v.spec.job,
                                    at: tick.deadline,
                                });
                            }
                            v.state = VoiceState::Playing;
                            v.gain = 0.0;
                            v.target = 1.0;
                            v.step = fade;
                        }
                        VoiceState::Playing => {
                            if v.target < 1.0 && v.skip_to.is_none() {
                                v.target = 1.0;
                                v.step = duck;
                            }
                        }
                    }
                } else if v.state == VoiceState::Playing
                    && top_priority.is_some_and(|p| p > v.spec.priority)
                {
                    match v.spec.yields {
                        Yield::Duck { gain } => {
                            if v.target != gain {
                                v.target = gain;
                                v.step = duck;
                            }
                        }
                        Yield::Pause => {
                            v.target = 0.0;
                            v.step = fade;
                        }
                        Yield::Cancel => {
                            v.ending = Some(EndReason::Preempted);
                            v.target = 0.0;
                            v.step = fade;
                        }
                    }
                }
            }

            let ended = match v.state {
                VoiceState::Playing => {
                    let ended = mix_voice(
                        v,
                        out,
                        ch,
                        frames,
                        fade,
                        zone,
                        &mut |e| emit(e),
                        &at,
                        self.rate,
                    );
                    if v.state == VoiceState::Paused {
                        emit(Event::Paused {
                            zone,
                            job: v.spec.job,
                            at: tick.deadline,
                        });
                    }
                    ended
                }
                // Waiting or paused: nothing is read. One told to end before
                // it played (or while paused) ends now, silently.
                _ => v.ending.is_some(),
            };
            if ended {
                let v = self.voices.remove(i);
                emit(Event::Ended {
                    zone,
                    job: v.spec.job,
                    reason: v.ending.unwrap_or(EndReason::Completed),
                    at: tick.deadline,
                });
                retire(v);
            } else {
                i += 1;
            }
        }

        if self.gain != 1.0 {
            for s in out.iter_mut() {
                *s *= self.gain;
            }
        }
    }

    /// The voice that goes on air this packet. The one in line is the voice
    /// of highest priority, the earliest among equals; it goes on air once
    /// it is ready. Until then the best ready voice of a lower priority
    /// plays on, but never a later one of the same priority: that would
    /// break first come, first served and leave two announcements playing
    /// over each other once the first is ready. Ending voices don't compete.
    fn on_air(&self, frames: usize) -> Option<usize> {
        // Ending or drained voices leave this packet: the next in line takes
        // the zone without a packet of silence in between.
        let competing = |v: &Voice| v.ending.is_none() && !v.drained();
        let ready = |v: &Voice| v.state != VoiceState::Waiting || v.ready(frames);
        // The first voice of the highest priority among those `keep` lets by.
        let first_best = |keep: &dyn Fn(&Voice) -> bool| {
            let mut best: Option<usize> = None;
            for (i, v) in self.voices.iter().enumerate() {
                if keep(v) && best.is_none_or(|b| v.spec.priority > self.voices[b].spec.priority) {
                    best = Some(i);
                }
            }
            best
        };
        let head = first_best(&|v| competing(v))?;
        if ready(&self.voices[head]) {
            return Some(head);
        }
        let waiting_for = self.voices[head].spec.priority;
        first_best(&|v| competing(v) && ready(v) && v.spec.priority < waiting_for)
    }
}

/// Read one packet of a playing voice into `out` with its gain ramp. Returns
/// whether the voice has ended.
#[allow(clippy::too_many_arguments)]
fn mix_voice(
    v: &mut Voice,
    out: &mut [f32],
    ch: usize,
    frames: usize,
    fade: f32,
    zone: ZoneId,
    emit: &mut impl FnMut(Event),
    at: &impl Fn(usize, f32) -> Instant,
    rate: f32,
) -> bool {
    if v.skip_to.is_some() && v.gain == 0.0 {
        return drop_skipped(v, ch, frames * 8);
    }
    // An underrun ahead (the decoder is behind): fade out over what is left
    // rather than stop dead, wait silent, and fade back in once a packet and
    // a fade's worth are buffered again. An ending or a skip fades anyway.
    let in_ring = v.frames_available();
    // A live voice has no more than its input brings: a packet will do.
    let fade_frames = if v.live {
        0
    } else {
        (1.0 / fade).round() as usize
    };
    let producer_done = v
        .shared
        .producer_done
        .load(std::sync::atomic::Ordering::Acquire);
    let steady = v.ending.is_none() && v.skip_to.is_none() && v.target > 0.0;
    if v.starved {
        if producer_done || in_ring >= frames + fade_frames || !steady {
            v.starved = false;
            v.step = fade;
        } else {
            v.shared
                .underrun_frames
                .fetch_add(frames as u64, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
    }
    let starving = steady && !producer_done && v.gain > 0.0 && in_ring < frames + fade_frames;
    let available = in_ring.min(frames);
    let pausing = v.ending.is_none() && v.skip_to.is_none() && v.target == 0.0;
    let mut consumed = 0;
    if available > 0 {
        // The chunks ahead, shared with the other zones of the feed: the
        // packet reads from the front one at `offset`, and on into the next
        // when it crosses a chunk's end. Nothing is copied or freed here.
        let Ok(ring) = v.chunks.read_chunk(v.chunks.slots()) else {
            return false;
        };
        let (ca, cb) = ring.as_slices();
        let offset = v.offset;
        let parts = || {
            ca.iter().chain(cb).enumerate().map(move |(i, c)| {
                let s = c.samples();
                if i == 0 {
                    &s[offset.min(s.len())..]
                } else {
                    s
                }
            })
        };
        let mut frame = 0;
        while frame < available {
            // Item boundaries at this frame.
            while let Ok(m) = v.markers.peek() {
                if m.at_frame > v.frames_read + frame as u64 {
                    break;
                }
                let item = m.item;
                let _ = v.markers.pop();
                v.current_item = item;
                emit(Event::ItemStarted {
                    zone,
                    job: v.spec.job,
                    item,
                    at: at(frame, rate),
                });
            }
            // This run goes to the next item boundary or the end of what
            // is here, whichever comes first.
            let run_end = match v.markers.peek() {
                Ok(m) => (m.at_frame - v.frames_read).min(available as u64) as usize,
                Err(_) => available,
            };
            if starving {
                // Fading out over what is left before the underrun, frame
                // by frame (rare: the decoder fell behind).
                while frame < run_end {
                    step_gain(&mut v.gain, v.target, v.step);
                    let g = v.gain * (available - 1 - frame) as f32 / available as f32;
                    add_scaled(out, parts(), frame * ch, (frame + 1) * ch, g);
                    frame += 1;
                    if v.gain == 0.0 && v.target == 0.0 {
                        break;
                    }
                }
                if v.gain == 0.0 && v.target == 0.0 {
                    break;
                }
                continue;
            }
            if v.gain == v.target {
                if v.gain == 0.0 {
                    // A pause or an end stops reading where the fade reached
                    // silence, so a paused speech resumes exactly there.
                    frame += 1;
                    break;
                }
                // Steady gain: one multiply-add per sample, in slices the
                // compiler can vectorise.
                add_scaled(out, parts(), frame * ch, run_end * ch, v.gain);
                frame = run_end;
                continue;
            }
            // Ramping: the gain moves one step a frame until it arrives.
            while frame < run_end && v.gain != v.target {
                step_gain(&mut v.gain, v.target, v.step);
                let base = frame * ch;
                add_scaled(out, parts(), base, base + ch, v.gain);
                frame += 1;
            }
            if v.gain == 0.0 && v.target == 0.0 {
                break;
            }
        }
        consumed = frame;
        v.consume(consumed, ch);
    }
    if starving {
        v.gain = 0.0;
        v.starved = true;
    }

    if v.gain == 0.0 && v.target == 0.0 {
        if v.ending.is_some() {
            return true;
        }
        if v.skip_to.is_some() {
            // Faded out: the rest of the item is dropped from the next
            // packet on.
            return false;
        }
        if pausing {
            v.state = VoiceState::Paused;
            return false;
        }
    }
    if consumed < frames {
        if v.drained() {
            // Markers for items that produced nothing are left; the voice is
            // over.
            return true;
        }
        v.shared.underrun_frames.fetch_add(
            (frames - consumed) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    false
}

/// Move a voice's gain one step towards its target.
fn step_gain(gain: &mut f32, target: f32, step: f32) {
    if *gain < target {
        *gain = (*gain + step).min(target);
    } else if *gain > target {
        *gain = (*gain - step).max(target);
    }
}

/// `out[i] += g * ring[i]` for samples `from..to` of a ring read as the
/// consecutive slices `parts` (the rest of the front chunk, then the next).
fn add_scaled<'a>(
    out: &mut [f32],
    parts: impl IntoIterator<Item = &'a [f32]>,
    from: usize,
    to: usize,
    g: f32,
) {
    // Where the current part starts, in samples of the whole read.
    let mut start = 0;
    for part in parts {
        if start >= to {
            break;
        }
        let end = start + part.len();
        let (lo, hi) = (from.max(start), to.min(end));
        if lo < hi {
            for (o, s) in out[lo..hi].iter_mut().zip(&part[lo - start..hi - start]) {
                *o += s * g;
            }
        }
        start = end;
    }
}

/// Drop the samples of a skipped item, up to `max_frames` a packet, until
/// the next item's marker. Returns whether the voice has ended (the skipped
/// item was its last).
fn drop_skipped(v: &mut Voice, ch: usize, max_frames: usize) -> bool {
    let Some(next) = v.skip_to else {
        return false;
    };
    let available = v.frames_available().min(max_frames);
    // Frames left of the skipped item: up to the next item's marker, or all
    // that is there when the producer has not reached it yet.
    let until_next = match v.markers.peek() {
        Ok(m) if m.item >= next => Some(m.at_frame.saturating_sub(v.frames_read) as usize),
        _ => None,
    };
    let drop_frames = until_next.map_or(available, |n| n.min(available));
    v.consume(drop_frames, ch);
    if until_next.is_some_and(|n| n <= drop_frames) {
        // At the next item: it fades in from the next packet, and its marker
        // is reported when it is read.
        v.skip_to = None;
        v.target = 1.0;
        return false;
    }
    v.drained()
}

/// dB to linear gain.
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::SystemTime;

    use super::*;

    /// A ring read wraps: its samples come as two slices. Every range, also
    /// one that starts past the first slice (an item boundary or a ramp
    /// after the wrap point), adds the right samples. (The first version
    /// sliced the first part from past its end and panicked the engine.)
    #[test]
    fn add_scaled_reads_both_slices_of_a_wrapped_ring() {
        let a: Vec<f32> = (0..5).map(|i| i as f32).collect();
        let b: Vec<f32> = (5..12).map(|i| i as f32).collect();
        for from in 0..=12 {
            for to in from..=12 {
                let mut out = vec![0.0f32; 12];
                add_scaled(&mut out, [&a[..], &b[..]], from, to, 2.0);
                for (i, v) in out.iter().enumerate() {
                    let want = if (from..to).contains(&i) {
                        2.0 * i as f32
                    } else {
                        0.0
                    };
                    assert_eq!(*v, want, "from {from} to {to}, sample {i}");
                }
            }
        }
    }
    use crate::engine::voice::{voice, Marker, VoiceInput, VoiceSpec};
    use crate::priority::Priority;

    const RATE: u32 = 1000;
    const FRAMES: usize = 10;

    fn tick(index: u64) -> Tick {
        Tick {
            index,
            deadline: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// A mono voice whose samples are `value + n * 1e-4` for frame n (so the
    /// position can be read back from the output), all produced up front.
    fn ramp_voice(job: i64, priority: u8, yields: Yield, value: f32, len: usize) -> Box<Voice> {
        let (v, mut input) = mono_voice(job, priority, yields, len);
        mark(&mut input, 0, 0);
        let samples: Vec<f32> = (0..len).map(|n| value + n as f32 * 1e-4).collect();
        input.push_frames(&samples).unwrap();
        input.finish();
        Box::new(v)
    }

    /// A mono voice with a ring of `capacity` frames, nothing in it yet.
    fn mono_voice(job: i64, priority: u8, yields: Yield, capacity: usize) -> (Voice, VoiceInput) {
        let spec = VoiceSpec {
            job: JobId(job),
            priority: Priority(priority),
            yields,
        };
        voice(spec, 1, capacity)
    }

    /// Announce that item `item` starts at frame `at_frame`.
    fn mark(input: &mut VoiceInput, item: u32, at_frame: u64) {
        input.markers.push(Marker { item, at_frame }).unwrap();
    }

    struct Run {
        mixer: ZoneMixer,
        events: Vec<Event>,
        out: Vec<f32>,
        index: u64,
    }

    impl Run {
        fn new() -> Run {
            // Fades of one frame make the arithmetic below exact.
            let ramps = Ramps {
                fade: 1.0 / RATE as f32,
                duck: 1.0 / RATE as f32,
            };
            Run {
                mixer: ZoneMixer::new(1, RATE, 0.0, ramps),
                events: Vec::new(),
                out: vec![0.0; FRAMES],
                index: 0,
            }
        }

        fn packet(&mut self) -> Vec<f32> {
            let t = tick(self.index);
            self.index += 1;
            let events = &mut self.events;
            self.mixer.mix(
                ZoneId(0),
                &mut self.out,
                &t,
                &mut |e| events.push(e),
                &mut drop,
            );
            self.out.clone()
        }

        fn ended(&self, job: i64) -> Option<EndReason> {
            self.events.iter().find_map(|e| match e {
                Event::Ended { job: j, reason, .. } if *j == JobId(job) => Some(*reason),
                _ => None,
            })
        }
    }

    #[test]
    fn a_single_voice_plays_to_the_end_and_completes() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 50, Yield::Pause, 0.5, 25))
            .unwrap();
        let p = r.packet();
        assert_eq!(p[0], 0.5, "a one-frame fade reaches full gain at once");
        assert!((p[9] - (0.5 + 9e-4)).abs() < 1e-6);
        r.packet();
        let p = r.packet();
        assert!((p[4] - (0.5 + 24e-4)).abs() < 1e-6);
        assert_eq!(p[5], 0.0);
        assert_eq!(r.ended(1), Some(EndReason::Completed));
        assert!(matches!(
            r.events[0],
            Event::ItemStarted {
                job: JobId(1),
                item: 0,
                ..
            }
        ));
    }

    #[test]
    fn a_higher_priority_pauses_the_lower_which_resumes_where_it_stopped() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 50, Yield::Pause, 0.1, 100))
            .unwrap();
        r.packet(); // frames 0..10 of the music
        r.mixer
            .add(ramp_voice(2, 100, Yield::Pause, 0.7, 20))
            .unwrap();
        let p = r.packet();
        // The music fades out over one frame (frame 10 at gain 0), then the
        // announcement plays alone.
        assert!((p[0] - 0.7).abs() < 1e-6, "{p:?}");
        let p = r.packet();
        assert!((p[9] - (0.7 + 19e-4)).abs() < 1e-6);
        assert!(r
            .events
            .iter()
            .any(|e| matches!(e, Event::Paused { job: JobId(1), .. })));
        let p = r.packet();
        // Back to the music right after the last frame read, which the
        // one-frame fade played at gain 0.
        assert!((p[0] - (0.1 + 11e-4)).abs() < 1e-6, "{p:?}");
        assert_eq!(r.ended(2), Some(EndReason::Completed));
        assert!(r
            .events
            .iter()
            .any(|e| matches!(e, Event::Resumed { job: JobId(1), .. })));
    }

    #[test]
    fn a_ducked_voice_keeps_playing_lower() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 10, Yield::Duck { gain: 0.1 }, 0.5, 100))
            .unwrap();
        r.packet();
        r.mixer
            .add(ramp_voice(2, 100, Yield::Pause, 0.2, 100))
            .unwrap();
        let p = r.packet();
        // music at 0.1 gain plus the announcement at full gain
        let expected = (0.5 + 19e-4) * 0.1 + (0.2 + 9e-4);
        assert!((p[9] - expected).abs() < 1e-5, "{} vs {expected}", p[9]);
    }

    #[test]
    fn a_cancelling_voice_ends_as_preempted() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 50, Yield::Cancel, 0.5, 100))
            .unwrap();
        r.packet();
        r.mixer
            .add(ramp_voice(2, 250, Yield::Pause, 0.2, 100))
            .unwrap();
        r.packet();
        assert_eq!(r.ended(1), Some(EndReason::Preempted));
    }

    #[test]
    fn equal_priorities_play_first_come_first_served() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 100, Yield::Pause, 0.3, 10))
            .unwrap();
        r.mixer
            .add(ramp_voice(2, 100, Yield::Pause, 0.6, 10))
            .unwrap();
        let p = r.packet();
        assert!((p[0] - 0.3).abs() < 1e-6);
        let p = r.packet();
        assert!((p[0] - 0.6).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn skipping_drops_the_rest_of_the_item_and_plays_the_next() {
        let mut r = Run::new();
        let (v, mut input) = mono_voice(1, 50, Yield::Pause, 200);
        // Item 0: 60 frames of 0.2; item 1: 20 frames of 0.8.
        mark(&mut input, 0, 0);
        input.push_frames(&[0.2; 60]).unwrap();
        mark(&mut input, 1, 60);
        input.push_frames(&[0.8; 20]).unwrap();
        input.finish();
        r.mixer.add(Box::new(v)).unwrap();
        r.packet();
        assert_eq!(r.mixer.skip(), Some((JobId(1), 0)));
        assert!(input.skip_requested(0), "the decoder is told too");
        let faded = r.packet();
        assert!(faded.iter().all(|&s| s <= 0.2 + 1e-6));
        let dropped = r.packet();
        assert!(dropped.iter().all(|&s| s == 0.0), "{dropped:?}");
        let next = r.packet();
        assert!(next.iter().all(|&s| (s - 0.8).abs() < 1e-6), "{next:?}");
        assert!(r
            .events
            .iter()
            .any(|e| matches!(e, Event::ItemStarted { item: 1, .. })));
        // Item 1's last 10 frames, then the voice is over.
        r.packet();
        r.packet();
        assert_eq!(r.ended(1), Some(EndReason::Completed));
        assert_eq!(r.mixer.skip(), None, "nothing on air to skip");
    }

    #[test]
    fn stopping_a_waiting_job_ends_it_without_sound() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 100, Yield::Pause, 0.3, 100))
            .unwrap();
        r.mixer
            .add(ramp_voice(2, 50, Yield::Pause, 0.6, 100))
            .unwrap();
        r.packet();
        r.mixer.stop(Some(JobId(2)), EndReason::Cancelled);
        let p = r.packet();
        assert!(p.iter().all(|&s| (s - 0.3).abs() < 0.01));
        assert_eq!(r.ended(2), Some(EndReason::Cancelled));
        assert_eq!(r.ended(1), None);
    }

    #[test]
    fn a_voice_still_filling_does_not_take_the_zone() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 50, Yield::Pause, 0.3, 100))
            .unwrap();
        let (v, mut input) = mono_voice(2, 100, Yield::Pause, 100);
        r.mixer.add(Box::new(v)).unwrap();
        let p = r.packet();
        assert!((p[0] - 0.3).abs() < 1e-6, "music plays while job 2 fills");
        input.push_frames(&[0.9; FRAMES]).unwrap();
        let p = r.packet();
        assert!((p[0] - 0.9).abs() < 1e-6, "{p:?}");
        // Underruns are counted, not fatal.
        r.packet();
        assert_eq!(input.shared.underrun_frames.load(Ordering::Relaxed), 10);
    }

    /// An announcement still filling (its loudness being measured, its
    /// file being opened) keeps its place: a later one of the same
    /// priority that is ready first does not jump ahead (and the two never
    /// play over each other); the music below plays on meanwhile. This
    /// happened after a restart, when the first job's longer file took
    /// longer to measure.
    #[test]
    fn a_later_equal_priority_voice_does_not_overtake_one_still_filling() {
        let mut r = Run::new();
        r.mixer
            .add(ramp_voice(1, 10, Yield::Pause, 0.1, 1000))
            .unwrap();
        let (v, mut first) = mono_voice(2, 100, Yield::Pause, 100);
        r.mixer.add(Box::new(v)).unwrap();
        r.mixer
            .add(ramp_voice(3, 100, Yield::Pause, 0.6, 20))
            .unwrap();
        let p = r.packet();
        assert!((p[0] - 0.1).abs() < 1e-6, "the music plays on: {p:?}");
        mark(&mut first, 0, 0);
        first.push_frames(&[0.3; 20]).unwrap();
        first.finish();
        for _ in 0..2 {
            let p = r.packet();
            assert!(
                p.iter().all(|&s| (s - 0.3).abs() < 1e-6),
                "job 2 alone: {p:?}"
            );
        }
        let p = r.packet();
        assert!((p[0] - 0.6).abs() < 1e-6, "then job 3: {p:?}");
        assert_eq!(r.ended(2), Some(EndReason::Completed));
        let started: Vec<i64> = r
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ItemStarted { job, .. } => Some(job.0),
                _ => None,
            })
            .collect();
        assert_eq!(started, [1, 2, 3]);
    }

    /// Chunks of any size (a part-full one at a feed's pause) follow each
    /// other: a packet that spans several reads each at the right place,
    /// and the next packet goes on where it stopped.
    #[test]
    fn a_packet_reads_across_chunks_of_any_size() {
        let mut r = Run::new();
        let (v, mut input) = mono_voice(1, 50, Yield::Pause, 100);
        mark(&mut input, 0, 0);
        let all: Vec<f32> = (0..25).map(|n| 0.5 + n as f32 * 1e-3).collect();
        for part in [&all[..3], &all[3..5], &all[5..7], &all[7..25]] {
            input.push_frames(part).unwrap();
        }
        input.finish();
        r.mixer.add(Box::new(v)).unwrap();
        let mut got = r.packet();
        got.extend(r.packet());
        got.extend(&r.packet()[..5]);
        for (n, (g, w)) in got.iter().zip(&all).enumerate() {
            assert!((g - w).abs() < 1e-6, "frame {n}: {g} vs {w}");
        }
        assert_eq!(r.ended(1), Some(EndReason::Completed));
    }

    /// The decoder falls behind: the voice fades out over what is left
    /// instead of stopping dead, stays silent, and fades back in once a
    /// packet and a fade's worth are buffered again.
    #[test]
    fn an_underrun_fades_out_and_back_in() {
        let ramps = Ramps {
            fade: 0.005, // 5 frames at 1000 Hz
            duck: 0.005,
        };
        let mut run = Run::new();
        run.mixer = ZoneMixer::new(1, RATE, 0.0, ramps);
        let (v, mut input) = mono_voice(1, 50, Yield::Pause, 100);
        mark(&mut input, 0, 0);
        input.push_frames(&[0.5; 22]).unwrap();
        let shared = input.shared.clone();
        assert!(run.mixer.add(Box::new(v)).is_ok());
        let p1 = run.packet();
        assert_eq!(p1[9], 0.5, "faded in, playing: {p1:?}");
        // 12 frames left: fewer than a packet and a fade. The next packet
        // plays 10 of them fading to silence.
        let p2 = run.packet();
        assert!(p2[0] <= 0.5 && p2[9] == 0.0, "{p2:?}");
        let steps = |p: &[f32], prev: f32| {
            std::iter::once(prev)
                .chain(p.iter().copied())
                .collect::<Vec<_>>()
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0f32, f32::max)
        };
        assert!(steps(&p2, p1[9]) <= 0.5 / 9.0, "{p2:?}");
        // Two frames are left, not enough: silence, counted as underrun.
        let p3 = run.packet();
        assert_eq!(p3, vec![0.0; FRAMES]);
        assert!(shared.underrun_frames.load(Ordering::Relaxed) >= FRAMES as u64);
        // The decoder catches up: back in with a fade, not a step.
        input.push_frames(&[0.5; 40]).unwrap();
        let p4 = run.packet();
        assert!(steps(&p4, 0.0) <= 0.5 / 5.0 + 1e-6, "{p4:?}");
        assert_eq!(p4[9], 0.5, "{p4:?}");
    }
}
