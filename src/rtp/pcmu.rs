//! G.711 mu-law (PCMU) and the decimator that takes the engine rate down to
//! its 8000 Hz.
//!
//! The codec follows ITU-T G.711 with the usual 16-bit linear scaling (as in
//! the reference `linear2ulaw`/`ulaw2linear`): magnitudes are clipped at
//! 32635, biased by 132, and coded as a 3-bit segment and a 4-bit mantissa,
//! all bits inverted. Decoding returns the middle of the coded interval.
//!
//! [`Decimator`] is a Kaiser-windowed sinc FIR low-pass (pass band to about
//! 3.2 kHz, at least 60 dB down from 4 kHz, where aliases would start) that
//! keeps every M-th sample, M = input rate / 8000. It keeps its delay line
//! between calls, so packets join without clicks, and it never allocates
//! after [`Decimator::new`].

/// Magnitudes above this are clipped before coding (G.711's 16-bit range).
const CLIP: i32 = 32635;
/// Added to the magnitude so that every segment starts at a power of two.
const BIAS: i32 = 0x84;

/// Encode one 16-bit linear sample as a mu-law byte.
pub fn encode(sample: i16) -> u8 {
    let s = sample as i32;
    let (sign, magnitude) = if s < 0 { (0x80, -s) } else { (0x00, s) };
    // 132..=32767; the segment is the position of its highest set bit
    // above bit 7.
    let biased = magnitude.min(CLIP) + BIAS;
    let segment = (31 - (biased as u32).leading_zeros()) as i32 - 7; // 0..=7
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    !(sign | (segment << 4) as u8 | mantissa as u8)
}

/// Decode one mu-law byte to a 16-bit linear sample.
pub fn decode(byte: u8) -> i16 {
    let u = !byte;
    let segment = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << segment) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Decode mu-law bytes into `out` (as many as both hold) as f32 in -1..1.
pub fn decode_into(payload: &[u8], out: &mut [f32]) {
    for (o, &b) in out.iter_mut().zip(payload) {
        *o = decode(b) as f32 / 32768.0;
    }
}

/// The G.711 / RTP PCMU sample rate.
pub const PCMU_RATE: u32 = 8000;

/// Attenuation the decimator's low-pass is designed for, in dB.
const STOPBAND_DB: f64 = 70.0;
/// Pass band edge, Hz (telephone band ends at 3.4 kHz).
const PASS_EDGE_HZ: f64 = 3200.0;
/// Stop band edge, Hz: the output's Nyquist frequency.
const STOP_EDGE_HZ: f64 = 4000.0;

/// Integer-ratio decimator: low-pass, then keep every `factor`-th sample.
/// Mono; stateful across calls; allocation-free after `new`.
#[derive(Debug, Clone)]
pub struct Decimator {
    factor: usize,
    taps: Vec<f32>,
    /// The last `taps.len()` inputs, stored twice (at `i` and
    /// `i + taps.len()`) so that the newest window is always one contiguous
    /// slice.
    delay: Vec<f32>,
    /// Where the next input goes, in `0..taps.len()`.
    pos: usize,
    /// Inputs taken since the last output, in `0..factor`.
    phase: usize,
}

impl Decimator {
    /// A decimator from `input_rate` to `output_rate` with the pass band and
    /// stop band above (scaled to `output_rate` / 8000). `None` when the
    /// ratio is not a whole number.
    pub fn new(input_rate: u32, output_rate: u32) -> Option<Self> {
        if output_rate == 0 || input_rate == 0 || input_rate % output_rate != 0 {
            return None;
        }
        let factor = (input_rate / output_rate) as usize;
        let scale = output_rate as f64 / PCMU_RATE as f64;
        let taps = if factor == 1 {
            vec![1.0]
        } else {
            design_low_pass(
                input_rate as f64,
                PASS_EDGE_HZ * scale,
                STOP_EDGE_HZ * scale,
                STOPBAND_DB,
            )
        };
        let n = taps.len();
        Some(Self {
            factor,
            taps,
            delay: vec![0.0; 2 * n],
            pos: 0,
            phase: 0,
        })
    }

    /// Input samples per output sample.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Number of FIR taps (the filter's delay is half of it, in input
    /// samples).
    pub fn taps(&self) -> usize {
        self.taps.len()
    }

    /// Filter `input` and write the outputs it completes to the front of
    /// `output`; returns how many were written. `output` must hold at least
    /// `(input.len() + factor - 1) / factor` samples (fewer: the extra
    /// outputs are dropped). When `input.len()` is a multiple of the factor,
    /// exactly `input.len() / factor` samples come out every call.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> usize {
        let n = self.taps.len();
        let mut written = 0;
        for &x in input {
            self.delay[self.pos] = x;
            self.delay[self.pos + n] = x;
            self.pos += 1;
            if self.pos == n {
                self.pos = 0;
            }
            self.phase += 1;
            if self.phase == self.factor {
                self.phase = 0;
                // delay[pos..pos + n] runs oldest to newest; the taps are
                // symmetric, so their order does not matter.
                let window = &self.delay[self.pos..self.pos + n];
                let y = dot(window, &self.taps);
                if let Some(slot) = output.get_mut(written) {
                    *slot = y;
                    written += 1;
                }
            }
        }
        written
    }

    /// Forget the past input (as after silence).
    pub fn reset(&mut self) {
        self.delay.fill(0.0);
        self.pos = 0;
        self.phase = 0;
    }
}

/// The dot product of two slices of equal length, in eight running sums so
/// that the compiler can keep them in one vector register (a single sum
/// fixes the order of the additions, and the loop stays scalar: the FIR
/// of every PCMU zone runs this on the engine thread, 160 times a packet).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Kaiser-windowed sinc low-pass with unity gain at DC. The cut-off sits in
/// the middle of the transition band; the length and window follow Kaiser's
/// design formulas for `atten_db` of stop band attenuation.
fn design_low_pass(rate: f64, pass_hz: f64, stop_hz: f64, atten_db: f64) -> Vec<f32> {
    use std::f64::consts::PI;
    let transition = 2.0 * PI * (stop_hz - pass_hz) / rate;
    let mut len = ((atten_db - 7.95) / (2.285 * transition)).ceil() as usize + 1;
    if len % 2 == 0 {
        len += 1; // odd length: a whole-sample delay, symmetric taps
    }
    let beta = if atten_db > 50.0 {
        0.1102 * (atten_db - 8.7)
    } else if atten_db >= 21.0 {
        0.5842 * (atten_db - 21.0).powf(0.4) + 0.07886 * (atten_db - 21.0)
    } else {
        0.0
    };
    let cutoff = (pass_hz + stop_hz) / 2.0 / rate; // cycles per sample
    let mid = (len - 1) as f64 / 2.0;
    let i0_beta = bessel_i0(beta);
    let mut taps: Vec<f64> = (0..len)
        .map(|i| {
            let t = i as f64 - mid;
            let sinc = if t == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * PI * cutoff * t).sin() / (PI * t)
            };
            let r = t / mid;
            let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            sinc * window
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    for t in &mut taps {
        *t /= sum;
    }
    taps.into_iter().map(|t| t as f32).collect()
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= half / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes() {
        // Values from the G.711 mu-law tables.
        assert_eq!(encode(0), 0xFF);
        assert_eq!(encode(-1), 0x7F);
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(i16::MIN), 0x00);
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(decode(0xFE), 8);
        assert_eq!(decode(0xF0), 120);
        assert_eq!(decode(0xEF), 132);
        assert_eq!(decode(0x81), 31100);
        assert_eq!(decode(0x80), 32124);
        assert_eq!(decode(0x00), -32124);
        assert_eq!(encode(120), 0xF0);
        assert_eq!(encode(-120), 0x70);
    }

    #[test]
    fn every_code_round_trips() {
        for byte in 0..=255u8 {
            let back = encode(decode(byte));
            // 0x7F is "negative zero": it decodes to 0, which codes as 0xFF.
            let expected = if byte == 0x7F { 0xFF } else { byte };
            assert_eq!(back, expected, "code {byte:#04x}");
        }
    }

    #[test]
    fn round_trip_error_is_half_a_step() {
        let mut previous = i16::MIN;
        for x in i16::MIN..=i16::MAX {
            let y = decode(encode(x));
            assert!(y >= previous, "not monotonic at {x}");
            previous = y;
            let m = (x as i32).abs();
            let err = (y as i32 - x as i32).abs();
            if m <= CLIP {
                // Step in a segment is 8 << seg; the biased magnitude is at
                // least 128 << seg, so half a step is at most (m + 132) / 32.
                let bound = (m + BIAS + 31) / 32;
                assert!(err <= bound, "x={x} y={y} err={err} bound={bound}");
            } else {
                assert_eq!(y.unsigned_abs(), 32124, "clipped x={x}");
            }
        }
    }

    fn tone_gain(freq: f64, rate: u32, dec: &mut Decimator) -> f64 {
        dec.reset();
        let n = rate as usize; // one second
        let input: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32)
            .collect();
        let mut out = vec![0.0f32; n / dec.factor() + 1];
        let mut got = 0;
        // Odd-sized blocks: state must carry across calls.
        for block in input.chunks(937) {
            got += dec.process(block, &mut out[got..]);
        }
        assert_eq!(got, n / dec.factor());
        let settled = &out[dec.taps() / dec.factor() + 1..got];
        let rms = (settled.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / settled.len() as f64)
            .sqrt();
        rms * 2f64.sqrt()
    }

    #[test]
    fn decimator_passes_voice_band_and_rejects_aliases() {
        let mut dec = Decimator::new(48000, 8000).unwrap();
        assert_eq!(dec.factor(), 6);
        for f in [300.0, 1000.0, 3000.0] {
            let g = tone_gain(f, 48000, &mut dec);
            assert!((g - 1.0).abs() < 0.01, "{f} Hz gain {g}");
        }
        for f in [4000.0, 4500.0, 6000.0, 11000.0, 20000.0] {
            let g = tone_gain(f, 48000, &mut dec);
            let db = 20.0 * g.log10();
            assert!(db < -60.0, "{f} Hz only {db:.1} dB down");
        }
    }

    #[test]
    fn dot_matches_a_plain_sum_for_every_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum();
            assert!((dot(&a, &b) as f64 - plain).abs() < 1e-5, "length {n}");
        }
    }

    #[test]
    fn decimator_other_ratios() {
        assert!(Decimator::new(44100, 8000).is_none());
        let mut dec = Decimator::new(16000, 8000).unwrap();
        assert_eq!(dec.factor(), 2);
        assert!((tone_gain(1000.0, 16000, &mut dec) - 1.0).abs() < 0.01);
        assert!(tone_gain(5000.0, 16000, &mut dec) < 1e-3);
        let mut same = Decimator::new(8000, 8000).unwrap();
        let mut out = [0.0; 4];
        assert_eq!(same.process(&[0.1, 0.2, 0.3], &mut out), 3);
        assert_eq!(&out[..3], &[0.1, 0.2, 0.3]);
    }
}
