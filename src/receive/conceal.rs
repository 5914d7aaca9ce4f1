//! Loss concealment and splices that never click.
//!
//! [`Concealer::process`] takes a block of samples in which missing ones are
//! NaN and fills them in:
//! - A hole is filled by repeating the last pitch period of what played
//!   before it (found by autocorrelation between [`MIN_PERIOD`] and
//!   [`MAX_PERIOD`]), which continues a tone or a vowel in phase; it plays
//!   at full level for [`HOLD`], then fades out over [`DECAY`] with a
//!   raised cosine, then is silence.
//! - When audio returns, it crossfades from the repetition (or from
//!   silence) over [`FADE`] with a raised cosine. It returns only when at
//!   least [`FADE`] samples of it are in hand (the block and the lookahead
//!   the caller passes): a crossfade cut short by the next hole would step
//!   from the half-faded mix straight back to the repetition, a click.
//!   Shorter runs of audio between holes are concealed over.
//! - [`Concealer::splice`] makes the next sample a new timeline (a sender
//!   restart, a timing correction too big to slew): the old audio continues
//!   as if lost and the new one crossfades in.
//!
//! Several channels (stereo L16) are concealed a frame at a time with one
//! state and one pitch period, searched on the channels' sum
//! ([`Concealer::with_channels`]): the channels stay in step with each
//! other, and the search, the costly part, runs once per hole.
//!
//! Why this is click-free: a raised-cosine fade of length `F` applied to a
//! tone whose half period is at most `F` never steps further from one
//! sample to the next than the tone itself does (its gain's slope is
//! largest where the gain is one half). [`FADE`] is 6 ms, so that holds for
//! everything from 84 Hz up.
//!
//! The loop itself joins without a step: among lags near the correlation
//! peak it takes the one whose stretch before the loop matches the last
//! one played, and whatever mismatch remains (a hole less than a period
//! after a sound began) is taken out by an offset that fades over the
//! loop's first quarter.
//!
//! It also keeps a history for the pitch search: not what was played but
//! the signal as best known, unfaded: what arrived where it arrived, the
//! plain repetition where it did not. A hole that opens soon after audio
//! returned from a long one (faded in from silence) then repeats a period
//! at the level the audio actually had, so it does not start with a step.
//! Nothing allocates after [`Concealer::new`].

use std::f32::consts::PI;

/// Shortest pitch period searched, seconds (400 Hz).
pub const MIN_PERIOD: f64 = 0.0025;
/// Longest pitch period searched, seconds (50 Hz).
pub const MAX_PERIOD: f64 = 0.020;
/// Stretch of history compared when searching, seconds.
const MATCH_WINDOW: f64 = 0.010;
/// Full-level repetition at the start of a hole, seconds.
pub const HOLD: f64 = 0.010;
/// The repetition then fades to silence over this, seconds.
pub const DECAY: f64 = 0.030;
/// Crossfade into returning audio, seconds.
pub const FADE: f64 = 0.006;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Playing what arrived.
    Normal,
    /// Filling a hole: `k` samples into it.
    Concealing { k: usize },
    /// Crossfading from the repetition (`k` into the hole) to what arrived
    /// (`j` samples into the fade).
    Recovering { k: usize, j: usize },
}

/// See the module docs.
pub struct Concealer {
    channels: usize,
    /// Ring of the unfaded signal (see the module docs), frames
    /// interleaved; `head` is the frame where the next one goes.
    history: Vec<f32>,
    head: usize,
    /// The ring's frames mixed to one channel, oldest first, for the pitch
    /// search.
    linear: Vec<f32>,
    /// The last pitch period of every channel, frames interleaved.
    period: Vec<f32>,
    /// Correlation by candidate period (scratch for the search).
    corr: Vec<f32>,
    /// In frames.
    period_len: usize,
    min_period: usize,
    match_window: usize,
    hold: usize,
    decay: usize,
    fade: usize,
    state: State,
    /// Frames filled in (not played as they arrived), for the summary.
    pub concealed: u64,
    /// One frame's output and known values (scratch).
    out: Vec<f32>,
    known: Vec<f32>,
}

impl Concealer {
    /// A mono concealer at `rate` samples a second. It starts as if after
    /// a long hole: the first audio fades in.
    pub fn new(rate: u32) -> Concealer {
        Concealer::with_channels(rate, 1)
    }

    /// A concealer for `channels` interleaved channels at `rate` frames a
    /// second. Every channel shares one state and one pitch period (found
    /// on the channels' sum), so the channels stay in step with each other
    /// through a hole.
    pub fn with_channels(rate: u32, channels: usize) -> Concealer {
        let channels = channels.max(1);
        let n = |s: f64| ((s * rate as f64).round() as usize).max(1);
        let max_period = n(MAX_PERIOD);
        let frames = max_period + n(MATCH_WINDOW);
        Concealer {
            channels,
            history: vec![0.0; frames * channels],
            head: 0,
            linear: vec![0.0; frames],
            period: vec![0.0; max_period * channels],
            corr: vec![0.0; max_period + 1],
            period_len: 1,
            min_period: n(MIN_PERIOD),
            match_window: n(MATCH_WINDOW),
            hold: n(HOLD),
            decay: n(DECAY),
            fade: n(FADE),
            state: State::Concealing { k: usize::MAX / 2 },
            concealed: 0,
            out: vec![0.0; channels],
            known: vec![0.0; channels],
        }
    }

    /// Whether the last frame processed was played as it arrived.
    pub fn is_normal(&self) -> bool {
        self.state == State::Normal
    }

    /// The next frame starts a new timeline: crossfade from the old one.
    pub fn splice(&mut self) {
        if let State::Normal | State::Recovering { .. } = self.state {
            self.start_hole();
            self.state = State::Concealing { k: 0 };
        }
    }

    /// Frames past the block that [`Concealer::process`] wants to see.
    pub fn lookahead(&self) -> usize {
        self.fade
    }

    /// Fill the missing frames of `block` (interleaved; a frame is missing
    /// when any of its samples is NaN) in place (see the module docs).
    /// `ahead` is what follows the block (NaN where missing), at least
    /// [`Concealer::lookahead`] frames of it for audio to return at the
    /// block's end.
    pub fn process(&mut self, block: &mut [f32], ahead: &[f32]) {
        let ch = self.channels;
        let frames = block.len() / ch;
        let hist_frames = self.history.len() / ch;
        for i in 0..frames {
            let x = &block[i * ch..(i + 1) * ch];
            let mut missing = x.iter().any(|v| v.is_nan());
            if !missing
                && matches!(self.state, State::Concealing { .. })
                && !self.enough_to_return(&block[i * ch..], ahead)
            {
                missing = true;
            }
            if missing && matches!(self.state, State::Normal | State::Recovering { .. }) {
                let k = match self.state {
                    State::Recovering { k, .. } => k,
                    _ => {
                        self.start_hole();
                        0
                    }
                };
                self.state = State::Concealing { k };
            }
            match self.state {
                State::Normal => {
                    self.out.copy_from_slice(x);
                    self.known.copy_from_slice(x);
                }
                State::Concealing { k } => {
                    if missing {
                        self.concealed += 1;
                        self.state = State::Concealing { k: k + 1 };
                        let at = (k % self.period_len) * ch;
                        for c in 0..ch {
                            self.out[c] = self.repeated(k, c);
                            self.known[c] = self.period[at + c];
                        }
                    } else {
                        self.state = State::Recovering { k: k + 1, j: 1 };
                        for (c, &v) in x.iter().enumerate() {
                            self.out[c] = self.crossfade(v, k, 0, c);
                        }
                        self.known.copy_from_slice(x);
                    }
                }
                State::Recovering { k, j } => {
                    self.state = if j + 1 >= self.fade {
                        State::Normal
                    } else {
                        State::Recovering { k: k + 1, j: j + 1 }
                    };
                    for (c, &v) in x.iter().enumerate() {
                        self.out[c] = self.crossfade(v, k, j, c);
                    }
                    self.known.copy_from_slice(x);
                }
            }
            block[i * ch..(i + 1) * ch].copy_from_slice(&self.out);
            self.history[self.head * ch..(self.head + 1) * ch].copy_from_slice(&self.known);
            self.head = (self.head + 1) % hist_frames;
        }
    }

    /// Whether `block` then `ahead` (interleaved) start with [`FADE`]
    /// frames of audio.
    fn enough_to_return(&self, block: &[f32], ahead: &[f32]) -> bool {
        let ch = self.channels;
        block
            .chunks(ch)
            .chain(ahead.chunks(ch))
            .take(self.fade)
            .filter(|f| f.len() == ch && !f.iter().any(|v| v.is_nan()))
            .count()
            == self.fade
    }

    fn crossfade(&self, x: f32, k: usize, j: usize, c: usize) -> f32 {
        let w = 0.5 - 0.5 * (PI * (j + 1) as f32 / (self.fade + 1) as f32).cos();
        w * x + (1.0 - w) * self.repeated(k, c)
    }

    /// Channel `c` of the repetition `k` frames into a hole, with its fade.
    fn repeated(&self, k: usize, c: usize) -> f32 {
        let gain = if k < self.hold {
            1.0
        } else if k < self.hold + self.decay {
            0.5 + 0.5 * (PI * (k - self.hold) as f32 / self.decay as f32).cos()
        } else {
            return 0.0;
        };
        gain * self.period[(k % self.period_len) * self.channels + c]
    }

    /// Pick the pitch period of the history (its channels summed) and copy
    /// every channel's last period.
    fn start_hole(&mut self) {
        let ch = self.channels;
        let hist_frames = self.history.len() / ch;
        // Oldest first: frame `i` of `linear` is ring frame `head + i`.
        for (i, l) in self.linear.iter_mut().enumerate() {
            let f = (self.head + i) % hist_frames;
            *l = self.history[f * ch..(f + 1) * ch].iter().sum();
        }
        let h = &self.linear;
        let n = h.len();
        let w = self.match_window;
        let recent = &h[n - w..];
        let energy = |s: &[f32]| s.iter().map(|&v| v * v).sum::<f32>();
        let e_recent = energy(recent);
        let max_p = self.period.len() / ch;
        let mut p = max_p;
        if e_recent > 1e-9 {
            let mut best = f32::MIN;
            for q in self.min_period..=max_p {
                let earlier = &h[n - w - q..n - q];
                let dot: f32 = recent.iter().zip(earlier).map(|(a, b)| a * b).sum();
                let c = dot / (e_recent * energy(earlier)).sqrt().max(1e-12);
                self.corr[q] = c;
                best = best.max(c);
            }
            // The shortest period that is a peak matching about as well as
            // the best (a tone matches at every multiple of its period).
            p = (self.min_period..=max_p)
                .find(|&q| {
                    let c = self.corr[q];
                    c >= best - 0.01
                        && (q == max_p || c >= self.corr[q + 1])
                        && (q == self.min_period || c >= self.corr[q - 1])
                })
                .unwrap_or(max_p);
        }
        // Near the peak, the lag whose loop joins best: the stretch before
        // the loop's start should match the last one played. (With only a
        // few periods of a sound in the history, an onset, the normalised
        // correlation peaks a sample or two short of the true period, and
        // each wrap of such a loop steps.)
        if e_recent > 1e-9 {
            let r = (p / 20).max(2);
            let floor = self.corr[p] - 0.1;
            let hist = &self.history;
            let join = |q: usize| {
                let span = (q / 8).max(4);
                let mut err = 0.0f32;
                for i in 1..=span {
                    let a = (self.head + hist_frames - i) % hist_frames;
                    let b = (self.head + 2 * hist_frames - i - q) % hist_frames;
                    for c in 0..ch {
                        let d = hist[a * ch + c] - hist[b * ch + c];
                        err += d * d;
                    }
                }
                err
            };
            p = (p.saturating_sub(r).max(self.min_period)..=(p + r).min(max_p))
                .filter(|&q| self.corr[q] >= floor)
                .min_by(|&a, &b| join(a).total_cmp(&join(b)))
                .unwrap_or(p);
        }
        self.period_len = p;
        for i in 0..p {
            let f = (self.head + hist_frames - p + i) % hist_frames;
            self.period[i * ch..(i + 1) * ch].copy_from_slice(&self.history[f * ch..(f + 1) * ch]);
        }
        // What is left of the join (all of it when no lag is a true period:
        // a hole less than a period after a sound began) is taken out by an
        // offset that fades over the loop's first quarter, so the loop
        // starts, and wraps, as the history stepped into its first sample.
        let last = (self.head + hist_frames - 1) % hist_frames;
        let before = (self.head + hist_frames - p - 1) % hist_frames;
        let m = (p / 4).max(1);
        for c in 0..ch {
            let d = self.history[last * ch + c] - self.history[before * ch + c];
            for i in 0..m {
                let g = 0.5 + 0.5 * (PI * i as f32 / m as f32).cos();
                self.period[i * ch + c] += d * g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    fn tone(freq: f32, n: usize, offset: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (2.0 * PI * freq * (i + offset) as f32 / RATE as f32).sin())
            .collect()
    }

    fn max_step(s: &[f32]) -> f32 {
        s.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    /// Run a tone through in 240-sample blocks with `holes` (sample ranges)
    /// missing; return the output.
    fn run(freq: f32, holes: &[(usize, usize)], splice_at: Option<usize>) -> Vec<f32> {
        let mut c = Concealer::new(RATE);
        let mut src = tone(freq, 48_000, 0);
        for &(a, b) in holes {
            src[a..b].fill(f32::NAN);
        }
        let mut out = Vec::new();
        for (i, block) in src.chunks(240).enumerate() {
            if splice_at == Some(i * 240) {
                c.splice();
            }
            let mut b = block.to_vec();
            let next = (i + 1) * 240;
            let ahead = &src[next.min(src.len())..(next + c.lookahead()).min(src.len())];
            c.process(&mut b, ahead);
            out.extend(b);
        }
        out
    }

    #[test]
    fn a_short_hole_is_filled_in_phase() {
        let src = tone(200.0, 48_000, 0);
        let out = run(200.0, &[(10_000, 10_480)], None);
        // After the start-up fade-in, the output is the tone itself.
        let err = out[1000..]
            .iter()
            .zip(&src[1000..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "{err}");
    }

    #[test]
    fn holes_and_splices_never_step_more_than_the_tone() {
        for freq in [100.0, 200.0, 1000.0] {
            let own = max_step(&tone(freq, 48_000, 0));
            let holes = [
                (5000, 5480),
                (9000, 9960),
                (15_000, 20_000),
                (30_001, 30_007),
            ];
            let out = run(freq, &holes, Some(24_000));
            let step = max_step(&out);
            assert!(step <= own * 1.001 + 1e-6, "{freq} Hz: {step} > {own}");
            // A long hole ends in silence.
            assert!(out[18_000..19_000].iter().all(|&v| v == 0.0));
            assert!(out.iter().all(|v| v.is_finite()));
        }
    }

    /// Audio that comes back for less than a crossfade between two holes
    /// (a late packet half used) is concealed over, not faded into and
    /// straight back out of.
    #[test]
    fn a_hole_during_recovery_does_not_click() {
        for freq in [100.0, 200.0, 440.0, 1000.0] {
            let own = max_step(&tone(freq, 48_000, 0));
            for gap in [1, 50, 120, 200, 240, 280] {
                for first in [100, 480, 960, 2400] {
                    let a = 10_000;
                    let holes = [(a, a + first), (a + first + gap, a + first + gap + 480)];
                    let out = run(freq, &holes, None);
                    let step = max_step(&out[2000..]);
                    assert!(
                        step <= own * 1.001 + 1e-6,
                        "{freq} Hz, hole {first}, audio {gap}: {step} > {own}"
                    );
                }
            }
        }
    }

    /// Loss as a real network makes it: holes of one to three packets at
    /// random, some soon after audio came back from a long one. Before the
    /// history kept the unfaded signal, a hole that opened while the audio
    /// was still fading in from silence repeated a faded period and started
    /// with a step.
    #[test]
    fn random_loss_never_steps_more_than_the_tone() {
        let mut seed: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % 1000
        };
        let freq = 200.0;
        let own = max_step(&tone(freq, 48_000, 0));
        for trial in 0..200 {
            let mut holes = Vec::new();
            let mut pos = 4800;
            while pos < 46_000 {
                if rnd() < 80 {
                    let unit = if rnd() < 500 { 480 } else { 240 };
                    let len = unit * (1 + (rnd() % 3) as usize);
                    holes.push((pos, pos + len));
                    pos += len;
                }
                pos += 240;
            }
            let out = run(freq, &holes, None);
            let step = max_step(&out[2000..]);
            assert!(
                step <= own * 1.001 + 1e-6,
                "trial {trial}, holes {holes:?}: {step} > {own}"
            );
        }
    }

    #[test]
    fn the_start_fades_in() {
        let out = run(1000.0, &[], None);
        assert!(out[0].abs() < 0.01);
        assert!((out[1000] - tone(1000.0, 1001, 0)[1000]).abs() < 1e-6);
    }

    /// Stereo: both channels conceal the same holes with the same period,
    /// each continuing its own tone without a step, and a channel's audio
    /// never leaks into the other.
    #[test]
    fn stereo_channels_conceal_together() {
        let (fl, fr) = (200.0, 1000.0);
        let left = tone(fl, 48_000, 0);
        let right: Vec<f32> = tone(fr, 48_000, 0).iter().map(|v| v * 0.5).collect();
        let mut src: Vec<f32> = left
            .iter()
            .zip(&right)
            .flat_map(|(&l, &r)| [l, r])
            .collect();
        for &(a, b) in &[
            (10_000usize, 10_480usize),
            (20_000, 25_000),
            (30_001, 30_007),
        ] {
            src[a * 2..b * 2].fill(f32::NAN);
        }
        let mut c = Concealer::with_channels(RATE, 2);
        let mut out = Vec::new();
        for (i, block) in src.chunks(480).enumerate() {
            let mut b = block.to_vec();
            let next = (i + 1) * 480;
            let ahead = &src[next.min(src.len())..(next + 2 * c.lookahead()).min(src.len())];
            c.process(&mut b, ahead);
            out.extend(b);
        }
        let ol: Vec<f32> = out.iter().step_by(2).copied().collect();
        let or: Vec<f32> = out.iter().skip(1).step_by(2).copied().collect();
        assert!(max_step(&ol[2000..]) <= max_step(&left) * 1.001 + 1e-6);
        assert!(max_step(&or[2000..]) <= max_step(&right) * 1.001 + 1e-6);
        // A short hole (a 1 kHz and a 200 Hz tone share the 5 ms period):
        // both continue in phase.
        for (o, s) in [(&ol, &left), (&or, &right)] {
            let err = o[1000..20_000]
                .iter()
                .zip(&s[1000..20_000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 0.01, "{err}");
        }
        // The long hole ends in silence in both; the right channel never
        // carries more than its own level (give or take the f32 rounding of
        // the test tone, which the loop's join correction carries along).
        assert!(ol[23_000..24_000].iter().all(|&v| v == 0.0));
        assert!(or[23_000..24_000].iter().all(|&v| v == 0.0));
        let peak = or.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak <= 0.25 + 1e-4, "{peak}");
        assert_eq!(c.concealed, 480 + 5000 + 6);
    }

    /// A packet lost soon after a sound began (the history holds silence,
    /// then a period or two of the sound): the loop still joins. Once two
    /// periods have played the hole is as smooth as anywhere; before that
    /// no lag is a true period and the join correction keeps the step within
    /// a few of the tone's own (it was a full-scale click: a loop of the
    /// last 178 samples of a 200 Hz tone stepped by 0.5).
    #[test]
    fn a_hole_soon_after_a_sound_begins_does_not_click() {
        for freq in [100.0f32, 200.0, 440.0] {
            let own = max_step(&tone(freq, 48_000, 0));
            let period = (RATE as f32 / freq) as usize;
            for onset in (4800..5280).step_by(11) {
                for hole in (5280..7680).step_by(480) {
                    for len in [480, 960] {
                        let mut src = vec![0.0; 14_400];
                        src[onset..].copy_from_slice(&tone(freq, 14_400 - onset, 0));
                        src[hole..hole + len].fill(f32::NAN);
                        let mut c = Concealer::new(RATE);
                        let mut out = Vec::new();
                        for (i, block) in src.chunks(240).enumerate() {
                            let mut b = block.to_vec();
                            let next = (i + 1) * 240;
                            let ahead = &src[next..(next + c.lookahead()).min(src.len())];
                            c.process(&mut b, ahead);
                            out.extend(b);
                        }
                        let step = max_step(&out[2000..]);
                        let bound = if hole - onset >= 2 * period {
                            1.001
                        } else {
                            5.0
                        };
                        assert!(
                            step <= own * bound + 1e-6,
                            "{freq} Hz, onset {onset}, hole {hole}+{len}: {step} > {own} x {bound}"
                        );
                    }
                }
            }
        }
    }
}
