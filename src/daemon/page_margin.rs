//! How far a live page's speech leads the engine, and how that lead comes
//! back down.
//!
//! The page thread holds a packet and a margin of the speaker's audio
//! before the voice plays. When the engine finds the ring short (the input
//! came late: the client, this thread or the machine stalled), the margin
//! grows by a step, as a jitter buffer's does; and what the input held
//! back while it stalled then comes all at once, on top of that lead.
//! Once the input has come on time for [`STEADY`] the margin shrinks
//! again by a step; and whatever the ring held beyond the margin all
//! through [`WATCH`] of input on time is dropped from the input: the delay a hiccup
//! added does not stay for the whole page. A pre-chime's lead is kept (it
//! is the listener's, not the machine's). Dropping is inaudible: a quiet stretch loses samples
//! from its end; sound loses at most one sample in [`SPAN`], where the
//! waveform is flattest (as the pole's receiver corrects its clock). It
//! works in place on the thread's scratch buffer: nothing allocates.

use std::time::Duration;

/// Audio beyond a packet the ring holds before a live voice starts (and
/// after the input ran dry), so that input arriving a little late does not
/// starve it: the margin's floor, and the step it grows and shrinks by.
pub const MARGIN: Duration = Duration::from_millis(10);

/// The margin grows by a step at each underrun, up to this many steps.
const MAX_STEPS: usize = 12;

/// Input on time for this long (no underrun) takes a step off the margin.
const STEADY: Duration = Duration::from_secs(1);

/// What was held beyond the margin all through this much input on time
/// is dropped (a stall's backlog goes within a quarter second of quiet).
const WATCH: Duration = Duration::from_millis(250);

/// At most one sample of sound is dropped in this many (0.2 %, 3.5 cents
/// at any rate: no one hears the pitch move; 2 ms of lead a second).
const SPAN: usize = 500;

/// A piece of input this quiet throughout (about -60 dBFS) is silence: it
/// may lose any number of samples.
const QUIET: f32 = 1.0 / 1024.0;

/// The lead of one group of a page, in frames at the group's rate.
#[derive(Debug)]
pub struct Margin {
    step: usize,
    /// The lead the speech is held to after an underrun: a packet and
    /// the margin.
    pub prime_frames: usize,
    /// The least `prime_frames` gets: a packet and one step.
    pub floor_frames: usize,
    packet: usize,
    /// Lead never dropped: the pre-chime's.
    keep: usize,
    steady_frames: usize,
    steady_after: usize,
    watch_frames: usize,
    watch_after: usize,
    /// The least audio held ahead of the engine as input arrived, in this
    /// watch.
    low: usize,
    /// Frames still to be dropped.
    debt: usize,
    /// Sound frames since the last dropped one.
    since_drop: usize,
    span: usize,
    /// Frames dropped in all.
    pub dropped: u64,
}

impl Margin {
    pub fn new(rate: u32, packet: Duration) -> Margin {
        let at = |d: Duration| (rate as f64 * d.as_secs_f64()).round() as usize;
        let step = at(MARGIN).max(1);
        let packet = at(packet);
        Margin {
            step,
            prime_frames: packet + step,
            floor_frames: packet + step,
            packet,
            keep: 0,
            steady_frames: 0,
            steady_after: at(STEADY).max(1),
            watch_frames: 0,
            watch_after: at(WATCH).max(1),
            low: usize::MAX,
            debt: 0,
            since_drop: 0,
            span: SPAN,
            dropped: 0,
        }
    }

    /// The lead added since the page started, in frames.
    pub fn added(&self) -> usize {
        self.prime_frames - self.floor_frames
    }

    /// The speech is held behind a pre-chime of `frames`: that lead stays.
    pub fn keep_lead(&mut self, frames: usize) {
        self.keep = frames;
    }

    /// The engine ran short: more lead from now on, and nothing dropped.
    pub fn underrun(&mut self) {
        if self.prime_frames < self.floor_frames + (MAX_STEPS - 1) * self.step {
            self.prime_frames += self.step;
        }
        self.steady_frames = 0;
        self.watch_frames = 0;
        self.low = usize::MAX;
        self.debt = 0;
    }

    /// Input arrived while `held` frames were still ahead of the engine
    /// (in its ring and waiting to go in); `mono` is that input at the
    /// group's rate, which loses what is to be dropped.
    pub fn arrived(&mut self, held: usize, mono: &mut Vec<f32>) {
        self.low = self.low.min(held);
        self.steady_frames += mono.len();
        self.watch_frames += mono.len();
        if self.steady_frames >= self.steady_after {
            if self.prime_frames > self.floor_frames {
                self.prime_frames -= self.step.min(self.prime_frames - self.floor_frames);
            }
            self.steady_frames = 0;
        }
        if self.watch_frames >= self.watch_after {
            // What was held beyond the margin each time input arrived
            // (after a re-prime the ring may hold more or less than the
            // lead) goes: at once from quiet input, slowly from sound.
            let margin = self.prime_frames - self.packet + self.keep;
            let more = self.low.saturating_sub(margin + self.debt);
            self.debt += more;
            if more > 0 {
                tracing::debug!(
                    added_frames = self.added(),
                    least_held = self.low,
                    dropping = self.debt,
                    dropped = self.dropped,
                    "live page: held more than its margin"
                );
            }
            self.watch_frames = 0;
            self.low = usize::MAX;
        }
        self.trim(mono);
    }

    fn trim(&mut self, mono: &mut Vec<f32>) {
        if self.debt == 0 || mono.is_empty() {
            return;
        }
        if mono.iter().all(|s| s.abs() < QUIET) {
            let n = self.debt.min(mono.len());
            mono.truncate(mono.len() - n);
            self.debt -= n;
            self.dropped += n as u64;
            return;
        }
        self.since_drop += mono.len();
        if self.since_drop < self.span || mono.len() < 3 {
            return;
        }
        // The sample whose neighbours are closest: without it the wave
        // steps no further than it did.
        let k = (1..mono.len() - 1)
            .min_by(|&a, &b| {
                let da = (mono[a + 1] - mono[a - 1]).abs();
                let db = (mono[b + 1] - mono[b - 1]).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(1);
        mono.remove(k);
        self.debt -= 1;
        self.dropped += 1;
        self.since_drop = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_at_underruns_and_comes_back_when_steady() {
        let mut m = Margin::new(48_000, Duration::from_millis(20));
        assert_eq!(m.floor_frames, 960 + 480);
        for _ in 0..3 {
            m.underrun();
        }
        assert_eq!(m.added(), 3 * 480);
        // Plenty held, silence coming: each steady second takes a step
        // off and drops it from the quiet input.
        // 3000 frames held (a stall's backlog on top of the lead), less
        // what was dropped; silence coming: each steady second takes a
        // step off the margin and drops what is held beyond it.
        let mut piece = Vec::with_capacity(240);
        for _ in 0..900 {
            piece.clear();
            piece.resize(240, 0.0);
            m.arrived(3_000 - m.dropped as usize, &mut piece);
        }
        assert_eq!(m.added(), 0);
        assert_eq!(m.dropped, 3_000 - 480);
    }

    #[test]
    fn drops_nothing_when_the_ring_holds_no_more_than_the_margin() {
        let mut m = Margin::new(48_000, Duration::from_millis(20));
        m.underrun();
        let mut piece = Vec::with_capacity(240);
        for _ in 0..(3 * 200) {
            piece.clear();
            piece.resize(240, 0.0);
            m.arrived(480, &mut piece);
            assert_eq!(piece.len(), 240);
        }
        assert_eq!(m.added(), 0);
        assert_eq!(m.dropped, 0);
    }

    #[test]
    fn sound_loses_a_sample_where_it_is_flattest() {
        let mut m = Margin::new(48_000, Duration::from_millis(20));
        m.underrun();
        m.debt = 5;
        let tone = |i: usize| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin();
        m.since_drop = SPAN;
        let mut piece: Vec<f32> = (0..240).map(tone).collect();
        let step = piece
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        m.arrived(5_000, &mut piece);
        assert_eq!(piece.len(), 239);
        let after = piece
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(after <= step, "{after} > {step}");
    }
}
