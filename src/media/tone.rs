//! Signals corong makes itself: the pre-announcement chime, the emergency
//! alert tone, plain sines; and a 16-bit WAV writer for them.
//!
//! All return mono f32 samples in -1.0..=1.0. Every sound that starts or
//! stops does so through a raised-cosine envelope, so no speaker clicks.

use std::f64::consts::PI;
use std::path::Path;

/// Peak level of the chime and the alert tone: 0.5 is -6 dBFS, leaving room
/// for zone gain and the PCMU encoder.
const PEAK: f64 = 0.5;

/// `seconds` of a sine of `freq` Hz at `rate` Hz, peak `amplitude`; no
/// envelope, so it starts at zero phase and stops wherever it is.
pub fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f32) -> Vec<f32> {
    let n = (seconds * rate as f64).round().max(0.0) as usize;
    let w = 2.0 * PI * freq / rate as f64;
    (0..n)
        .map(|i| (amplitude as f64 * (w * i as f64).sin()) as f32)
        .collect()
}

/// Raised-cosine ramp: 0 at `x <= 0`, 1 at `x >= 1`, with zero slope at
/// both ends.
fn ramp(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    0.5 - 0.5 * (PI * x).cos()
}

/// Envelope that rises over `fade_in` s from the start and falls over
/// `fade_out` s to zero at `len` s.
fn fade(t: f64, len: f64, fade_in: f64, fade_out: f64) -> f64 {
    ramp(t / fade_in) * ramp((len - t) / fade_out)
}

/// The pre-announcement chime: three rising bell notes (C5, E5, G5, a major
/// triad) that ring out over about two seconds, peak -6 dBFS.
pub fn chime(rate: u32) -> Vec<f32> {
    const LEN: f64 = 2.2;
    // (frequency Hz, onset s)
    const NOTES: [(f64, f64); 3] = [(523.25, 0.0), (659.25, 0.42), (783.99, 0.84)];
    // Bell-like partials: (multiple of the fundamental, level).
    const PARTIALS: [(f64, f64); 3] = [(1.0, 1.0), (2.0, 0.3), (3.0, 0.08)];
    const ATTACK: f64 = 0.012;
    const DECAY: f64 = 0.45; // time constant, s
    let n = (LEN * rate as f64).round() as usize;
    let mut out: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let mut s = 0.0;
            for &(f, onset) in &NOTES {
                let u = t - onset;
                if u <= 0.0 {
                    continue;
                }
                let env = ramp(u / ATTACK) * (-u / DECAY).exp();
                for &(k, level) in &PARTIALS {
                    // Higher partials die away faster, as on a real bell.
                    s += env * level * (-u * (k - 1.0) * 2.0).exp() * (2.0 * PI * f * k * u).sin();
                }
            }
            // Let the last note ring down to silence, not stop.
            s * ramp((LEN - t) / 0.3)
        })
        .collect();
    normalize(&mut out, PEAK)
}

/// The emergency alert: alternating 800 Hz and 1000 Hz, a quarter second
/// each (two changes a second, as voice-alarm systems sound), phase
/// continuous so the changes don't click, faded in and out over 20 ms;
/// peak -6 dBFS.
pub fn alert_tone(rate: u32, seconds: f64) -> Vec<f32> {
    const LOW: f64 = 800.0;
    const HIGH: f64 = 1000.0;
    const SEGMENT: f64 = 0.25;
    const FADE: f64 = 0.02;
    let n = (seconds * rate as f64).round().max(0.0) as usize;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let freq = if ((t / SEGMENT) as u64) % 2 == 0 {
                LOW
            } else {
                HIGH
            };
            let s = PEAK * fade(t, seconds, FADE, FADE) * phase.sin();
            phase = (phase + 2.0 * PI * freq / rate as f64) % (2.0 * PI);
            s as f32
        })
        .collect()
}

/// Scale to the given peak and convert to f32.
fn normalize(samples: &mut [f64], peak: f64) -> Vec<f32> {
    let max = samples.iter().fold(0.0f64, |m, s| m.max(s.abs()));
    let gain = if max > 0.0 { peak / max } else { 0.0 };
    samples.iter().map(|s| (s * gain) as f32).collect()
}

/// Write interleaved `samples` as a 16-bit PCM WAV file. Samples outside
/// -1.0..=1.0 are clipped.
pub fn write_wav(
    path: &Path,
    samples: &[f32],
    rate: u32,
    channels: u16,
) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    let mut w16 = w.get_i16_writer(samples.len() as u32);
    for &s in samples {
        w16.write_sample((s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16);
    }
    w16.flush()?;
    w.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_has_length_and_peak() {
        let s = sine(1000.0, 48000, 0.5, 0.25);
        assert_eq!(s.len(), 24000);
        let peak = s.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.25).abs() < 1e-3);
    }

    #[test]
    fn chime_is_about_two_seconds_at_minus_six_dbfs() {
        let c = chime(48000);
        assert!((1.8..=2.5).contains(&(c.len() as f64 / 48000.0)));
        let peak = c.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.5).abs() < 1e-3);
        assert_eq!(c[0], 0.0);
        assert!(c[c.len() - 1].abs() < 1e-4);
    }

    #[test]
    fn wav_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        write_wav(&path, &[0.0, 0.5, -0.5, 1.5], 8000, 2).unwrap();
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        assert_eq!(r.spec().channels, 2);
        let v: Vec<i16> = r.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(v, [0, 16384, -16384, 32767]);
    }
}
