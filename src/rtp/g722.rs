//! G.722 (ITU-T G.722, 64 kbit/s mode): 16 kHz audio as one byte per two
//! samples, what wideband IP speakers and paging adapters take (RTP PT 9).
//!
//! Written from the Recommendation's description: a 24-tap quadrature
//! mirror filter splits the 16 kHz signal into a low and a high sub-band
//! at 8 kHz each; each band is coded by adaptive differential PCM (the low
//! band with 6 bits, the high band with 2), with a backward-adaptive
//! scale factor and a pole-zero predictor (two poles, six zeros) that
//! encoder and decoder update alike from what was sent. A byte carries
//! the high band's 2 bits above the low band's 6.
//!
//! [`Encoder`] and [`Decoder`] keep their state between calls (the codec
//! is a stream: a packet decodes right only after the one before it) and
//! never allocate. The encoder takes 16-bit samples scaled to f32 and
//! writes one byte per pair; the decoder writes two samples per byte.

/// The rate G.722 samples at; its RTP clock is 8000 (RFC 3551 4.5.2).
pub const G722_RATE: u32 = 16_000;
/// G.722's RTP timestamp clock, for historical reasons half its rate.
pub const G722_CLOCK: u32 = 8_000;

/// The QMF's 24 taps (symmetric), Recommendation Table 11.
const QMF: [i32; 24] = [
    3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32,
    -156, 12, 53, -11, -11, 3,
];

/// Low band: quantizer decision levels (times the scale factor / 4096).
const Q6: [i32; 31] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
];
/// Low band codes for a negative / positive difference, by interval.
const ILN: [i32; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4,
];
const ILP: [i32; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32,
];
/// Low band: the 4-bit inverse quantizer (what the predictor sees).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// Low band: the 6-bit inverse quantizer (what the decoder outputs).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Low band: 4-bit code to the scale factor's adaptation step.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// The scale factor's antilog table (2048 * 2^(i/32)).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// High band: inverse quantizer, adaptation steps, codes.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const RH2: [usize; 4] = [2, 1, 2, 1];
const WH: [i32; 3] = [0, -214, 798];
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];

/// The QMF's two polyphase sums over the delay line: even taps, odd taps.
#[inline]
fn qmf_sums(x: &[i32; 24]) -> (i32, i32) {
    let (mut even, mut odd) = (0, 0);
    for (x, h) in x.chunks_exact(2).zip(QMF.chunks_exact(2)) {
        even += x[0] * h[0];
        odd += x[1] * h[1];
    }
    (even, odd)
}

#[inline]
fn sat16(x: i32) -> i32 {
    x.clamp(-32768, 32767)
}

/// One sub-band's ADPCM state: scale factor and pole-zero predictor.
#[derive(Debug, Clone)]
struct Band {
    /// Signal estimate and its zero-section part.
    s: i32,
    sz: i32,
    /// Log scale factor and scale factor.
    nb: i32,
    det: i32,
    /// Pole coefficients a1, a2 and reconstructed signal r(n-1), r(n-2).
    a: [i32; 2],
    r: [i32; 2],
    /// Partially reconstructed p(n-1), p(n-2).
    p: [i32; 2],
    /// Zero coefficients and quantized differences d(n-1..n-6).
    b: [i32; 6],
    d: [i32; 6],
}

impl Band {
    fn new(det: i32) -> Band {
        Band {
            s: 0,
            sz: 0,
            nb: 0,
            det,
            a: [0; 2],
            r: [0; 2],
            p: [0; 2],
            b: [0; 6],
            d: [0; 6],
        }
    }

    /// The new log scale factor `nb` from adaptation step `w`, its bound,
    /// and the scale factor from it (`shift`: 8 low band, 10 high).
    fn adapt_scale(&mut self, w: i32, max: i32, shift: i32) {
        self.nb = ((self.nb * 127) >> 7) + w;
        self.nb = self.nb.clamp(0, max);
        let mantissa = ILB[((self.nb >> 6) & 31) as usize];
        let exp = shift - (self.nb >> 11);
        let det = if exp < 0 {
            mantissa << -exp
        } else {
            mantissa >> exp
        };
        self.det = det << 2;
    }

    /// Update the predictor with the quantized difference `d` and compute
    /// the next estimate (the Recommendation's blocks RECONS, PARREC,
    /// UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC).
    fn update(&mut self, d: i32) {
        let r = sat16(self.s + d);
        let p = sat16(self.sz + d);
        // Signs as the Recommendation takes them: zero is positive.
        let neg = |x: i32| x < 0;
        let (s0, s1, s2) = (neg(p), neg(self.p[0]), neg(self.p[1]));

        // Second pole, then the first, bounded by the second.
        let a1x4 = sat16(self.a[0] << 2);
        let t = if s0 == s1 { -a1x4 } else { a1x4 };
        let t = t.min(32767) >> 7;
        let t = t + if s0 == s2 { 128 } else { -128 };
        let a2 = (t + ((self.a[1] * 127) >> 7)).clamp(-12288, 12288);
        let step = if s0 == s1 { 192 } else { -192 };
        let a1 = sat16(step + ((self.a[0] * 255) >> 8));
        let bound = sat16(15360 - a2);
        let a1 = a1.clamp(-bound, bound);
        self.a = [a1, a2];

        // Zeros: each leans toward agreeing in sign with the new difference.
        let step = if d == 0 { 0 } else { 128 };
        for (b, &di) in self.b.iter_mut().zip(&self.d) {
            let t = if neg(di) == neg(d) { step } else { -step };
            *b = sat16(t + ((*b * 255) >> 8));
        }

        // Delays.
        self.d.copy_within(0..5, 1);
        self.d[0] = d;
        self.r = [r, self.r[0]];
        self.p = [p, self.p[0]];

        // The next estimate: poles on r, zeros on d.
        let pole = |a: i32, r: i32| (a * sat16(r + r)) >> 15;
        let sp = sat16(pole(self.a[0], self.r[0]) + pole(self.a[1], self.r[1]));
        let mut sz = 0;
        for (&b, &d) in self.b.iter().zip(&self.d) {
            sz += (b * sat16(d + d)) >> 15;
        }
        self.sz = sat16(sz);
        self.s = sat16(sp + self.sz);
    }
}

/// The G.722 encoder. See the module docs.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The QMF's last 24 input samples, oldest first.
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            x: [0; 24],
            low: Band::new(32),
            high: Band::new(8),
        }
    }

    /// Encode `pcm` (16 kHz, -1..1; an odd last sample is ignored) into
    /// `out`, one byte per two samples, as many as both hold; returns the
    /// bytes written.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> usize {
        let mut n = 0;
        for (pair, o) in pcm.chunks_exact(2).zip(out.iter_mut()) {
            *o = self.encode_pair(super::l16::to_i16(pair[0]), super::l16::to_i16(pair[1]));
            n += 1;
        }
        n
    }

    /// Two 16 kHz samples to one G.722 byte.
    pub fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        self.x.copy_within(2.., 0);
        self.x[22] = first as i32;
        self.x[23] = second as i32;
        let (even, odd) = qmf_sums(&self.x);
        let xl = (odd + even) >> 14;
        let xh = (odd - even) >> 14;

        // Low band: 6 bits.
        let band = &mut self.low;
        let el = sat16(xl - band.s);
        let mag = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && mag >= (Q6[i] * band.det) >> 12 {
            i += 1;
        }
        let il = if el < 0 { ILN[i] } else { ILP[i] };
        let il4 = (il >> 2) as usize;
        let dl = (band.det * QM4[il4]) >> 15;
        band.adapt_scale(WL[RL42[il4]], 18432, 8);
        band.update(dl);

        // High band: 2 bits.
        let band = &mut self.high;
        let eh = sat16(xh - band.s);
        let mag = if eh >= 0 { eh } else { -(eh + 1) };
        let m = if mag >= (564 * band.det) >> 12 { 2 } else { 1 };
        let ih = if eh < 0 { IHN[m] } else { IHP[m] };
        let dh = (band.det * QM2[ih as usize]) >> 15;
        band.adapt_scale(WH[RH2[ih as usize]], 22528, 10);
        band.update(dh);

        ((ih << 6) | il) as u8
    }
}

/// The G.722 decoder. See the module docs.
#[derive(Debug, Clone)]
pub struct Decoder {
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            x: [0; 24],
            low: Band::new(32),
            high: Band::new(8),
        }
    }

    /// Decode `payload` into `out` (16 kHz, -1..1), two samples per byte,
    /// as many as both hold; returns the samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> usize {
        let mut n = 0;
        for (&byte, o) in payload.iter().zip(out.chunks_exact_mut(2)) {
            let [a, b] = self.decode_byte(byte);
            o[0] = a as f32 / 32768.0;
            o[1] = b as f32 / 32768.0;
            n += 2;
        }
        n
    }

    /// One G.722 byte to two 16 kHz samples.
    pub fn decode_byte(&mut self, byte: u8) -> [i16; 2] {
        let il = (byte & 0x3f) as usize;
        let ih = (byte >> 6) as usize;

        let band = &mut self.low;
        let out = (band.det * QM6[il]) >> 15;
        let rl = (band.s + out).clamp(-16384, 16383);
        let il4 = il >> 2;
        let dl = (band.det * QM4[il4]) >> 15;
        band.adapt_scale(WL[RL42[il4]], 18432, 8);
        band.update(dl);

        let band = &mut self.high;
        let dh = (band.det * QM2[ih]) >> 15;
        let rh = (band.s + dh).clamp(-16384, 16383);
        band.adapt_scale(WH[RH2[ih]], 22528, 10);
        band.update(dh);

        self.x.copy_within(2.., 0);
        self.x[22] = rl + rh;
        self.x[23] = rl - rh;
        let (even, odd) = qmf_sums(&self.x);
        [sat16(odd >> 11) as i16, sat16(even >> 11) as i16]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn tone(freq: f32, amp: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (2.0 * PI * freq * i as f32 / G722_RATE as f32).sin())
            .collect()
    }

    fn roundtrip(pcm: &[f32]) -> Vec<f32> {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let mut bytes = vec![0u8; pcm.len() / 2];
        assert_eq!(enc.encode(pcm, &mut bytes), pcm.len() / 2);
        let mut back = vec![0.0; pcm.len()];
        assert_eq!(dec.decode(&bytes, &mut back), pcm.len());
        back
    }

    /// Amplitude of `freq` in `s` (Goertzel).
    fn amplitude(s: &[f32], freq: f32) -> f32 {
        let w = 2.0 * PI * freq / G722_RATE as f32;
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in s {
            let s0 = x + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        2.0 * (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2)
            .max(0.0)
            .sqrt()
            / s.len() as f32
    }

    #[test]
    fn tones_in_both_bands_come_back_at_their_level() {
        // 1 kHz (low band) and 5 kHz (high band), after the codec settles.
        for (freq, tolerance_db) in [(1000.0, 0.3), (300.0, 0.3), (5000.0, 1.0)] {
            let pcm = tone(freq, 0.5, 16_000);
            let back = roundtrip(&pcm);
            let a = amplitude(&back[8000..], freq);
            let db = 20.0 * (a / 0.5).log10();
            assert!(db.abs() < tolerance_db, "{freq} Hz came back at {db:.2} dB");
            // The error is small next to the signal (SNR > 25 dB at 1 kHz),
            // once the QMF's delay (22 samples) is taken out.
            if freq == 1000.0 {
                let delay = (0..40)
                    .min_by_key(|&d| {
                        let e: f32 = pcm[8000..12000]
                            .iter()
                            .zip(&back[8000 + d..])
                            .map(|(a, b)| (a - b).powi(2))
                            .sum();
                        (e * 1e6) as i64
                    })
                    .unwrap();
                assert_eq!(delay, 22, "QMF delay");
                let (mut sig, mut err) = (0.0f32, 0.0f32);
                for (a, b) in pcm[8000..15000].iter().zip(&back[8000 + delay..]) {
                    sig += a * a;
                    err += (a - b).powi(2);
                }
                let snr = 10.0 * (sig / err).log10();
                assert!(snr > 25.0, "SNR {snr:.1} dB");
            }
        }
    }

    #[test]
    fn silence_stays_silent() {
        let back = roundtrip(&[0.0; 3200]);
        assert!(back.iter().all(|s| s.abs() < 0.001));
    }

    #[test]
    fn full_scale_and_garbage_never_overflow() {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let square: Vec<f32> = (0..8000)
            .map(|i| if (i / 7) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut bytes = vec![0u8; 4000];
        enc.encode(&square, &mut bytes);
        let mut out = vec![0.0; 8000];
        dec.decode(&bytes, &mut out);
        let noise: Vec<u8> = (0..4000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        dec.decode(&noise, &mut out);
        assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
    }
}
