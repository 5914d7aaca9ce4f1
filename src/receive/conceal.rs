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
//! Why this is click-free: a raised-cosine fade of length `F` applied to a
//! tone whose half period is at most `F` never steps further from one
//! sample to the next than the tone itself does (its gain's slope is
//! largest where the gain is one half). [`FADE`] is 6 ms, so that holds for
//! everything from 84 Hz up.
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
    /// Ring of the unfaded signal (see the module docs); `head` is where the
    /// next sample goes.
    history: Vec<f32>,
    head: usize,
    /// The ring laid out oldest first, for the pitch search.
    linear: Vec<f32>,
    period: Vec<f32>,
    /// Correlation by candidate period (scratch for the search).
    corr: Vec<f32>,
    period_len: usize,
    min_period: usize,
    match_window: usize,
    hold: usize,
    decay: usize,
    fade: usize,
    state: State,
    /// Samples filled in (not played as they arrived), for the summary.
    pub concealed: u64,
}

impl Concealer {
    /// A concealer at `rate` samples a second. It starts as if after a long
    /// hole: the first audio fades in.
    pub fn new(rate: u32) -> Concealer {
        let n = |s: f64| ((s * rate as f64).round() as usize).max(1);
        let max_period = n(MAX_PERIOD);
        Concealer {
            history: vec![0.0; max_period + n(MATCH_WINDOW)],
            head: 0,
            linear: vec![0.0; max_period + n(MATCH_WINDOW)],
            period: vec![0.0; max_period],
            corr: vec![0.0; max_period + 1],
            period_len: 1,
            min_period: n(MIN_PERIOD),
            match_window: n(MATCH_WINDOW),
            hold: n(HOLD),
            decay: n(DECAY),
            fade: n(FADE),
            state: State::Concealing { k: usize::MAX / 2 },
            concealed: 0,
        }
    }

    /// Whether the last sample processed was played as it arrived.
    pub fn is_normal(&self) -> bool {
        self.state == State::Normal
    }

    /// The next sample starts a new timeline: crossfade from the old one.
    pub fn splice(&mut self) {
        if let State::Normal | State::Recovering { .. } = self.state {
            self.start_hole();
            self.state = State::Concealing { k: 0 };
        }
    }

    /// Samples past the block that [`Concealer::process`] wants to see.
    pub fn lookahead(&self) -> usize {
        self.fade
    }

    /// Fill the NaNs of `block` in place (see the module docs). `ahead` is
    /// what follows the block (NaN where missing), at least
    /// [`Concealer::lookahead`] samples of it for audio to return at the
    /// block's end.
    pub fn process(&mut self, block: &mut [f32], ahead: &[f32]) {
        for i in 0..block.len() {
            let x = block[i];
            let mut missing = x.is_nan();
            if !missing
                && matches!(self.state, State::Concealing { .. })
                && !self.enough_to_return(&block[i..], ahead)
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
            let (out, known) = match self.state {
                State::Normal => (x, x),
                State::Concealing { k } => {
                    if missing {
                        self.concealed += 1;
                        self.state = State::Concealing { k: k + 1 };
                        (self.repeated(k), self.period[k % self.period_len])
                    } else {
                        self.state = State::Recovering { k: k + 1, j: 1 };
                        (self.crossfade(x, k, 0), x)
                    }
                }
                State::Recovering { k, j } => {
                    self.state = if j + 1 >= self.fade {
                        State::Normal
                    } else {
                        State::Recovering { k: k + 1, j: j + 1 }
                    };
                    (self.crossfade(x, k, j), x)
                }
            };
            block[i] = out;
            self.history[self.head] = known;
            self.head = (self.head + 1) % self.history.len();
        }
    }

    /// Whether `block` then `ahead` start with [`FADE`] samples of audio.
    fn enough_to_return(&self, block: &[f32], ahead: &[f32]) -> bool {
        block
            .iter()
            .chain(ahead)
            .take(self.fade)
            .filter(|v| !v.is_nan())
            .count()
            == self.fade
    }

    fn crossfade(&self, x: f32, k: usize, j: usize) -> f32 {
        let w = 0.5 - 0.5 * (PI * (j + 1) as f32 / (self.fade + 1) as f32).cos();
        w * x + (1.0 - w) * self.repeated(k)
    }

    /// The repetition `k` samples into a hole, with its fade.
    fn repeated(&self, k: usize) -> f32 {
        let gain = if k < self.hold {
            1.0
        } else if k < self.hold + self.decay {
            0.5 + 0.5 * (PI * (k - self.hold) as f32 / self.decay as f32).cos()
        } else {
            return 0.0;
        };
        gain * self.period[k % self.period_len]
    }

    /// Pick the pitch period of the history and copy its last period.
    fn start_hole(&mut self) {
        let (newer, older) = self.history.split_at(self.head);
        self.linear[..older.len()].copy_from_slice(older);
        self.linear[older.len()..].copy_from_slice(newer);
        let h = &self.linear;
        let n = h.len();
        let w = self.match_window;
        let recent = &h[n - w..];
        let energy = |s: &[f32]| s.iter().map(|&v| v * v).sum::<f32>();
        let e_recent = energy(recent);
        let max_p = self.period.len();
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
        self.period_len = p;
        self.period[..p].copy_from_slice(&h[n - p..]);
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
}
