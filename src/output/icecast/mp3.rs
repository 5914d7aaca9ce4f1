//! MP3 through LAME (the `mp3lame-encoder` crate, which builds LAME 3.100
//! into corong): constant bitrate, at the zone's own rate (MPEG-1 takes
//! 32, 44.1 and 48 kHz, MPEG-2 the halves and MPEG-2.5 the quarters), so
//! nothing is resampled.
//!
//! LAME keeps its buffers from its start on: encoding a frame allocates
//! nothing here or in LAME (the output buffer is sized once for a frame's
//! worst case).

use std::mem::MaybeUninit;
use std::num::NonZeroU32;

use mp3lame_encoder::{
    max_required_buffer_size, Bitrate, Builder, Encoder, FlushGap, InterleavedPcm, Mode, MonoPcm,
    Quality,
};

/// Rates LAME writes as they are.
pub const MP3_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

/// LAME's name for a bitrate (`config::MP3_BITRATES_KBPS`, which the
/// config checks a zone's `bitrate_kbps` against).
fn lame_bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

/// A connection's LAME encoder.
pub struct Mp3 {
    encoder: Encoder,
    mono: bool,
    /// LAME writes here; copied to the connection's buffer.
    buf: Vec<MaybeUninit<u8>>,
}

impl Mp3 {
    pub fn new(rate: u32, channels: u16, kbps: u32) -> Result<Mp3, String> {
        if !MP3_RATES.contains(&rate) {
            return Err(format!("{rate} Hz is not a rate MP3 takes"));
        }
        let brate = lame_bitrate(kbps)
            .filter(|_| crate::config::mp3_bitrate_fits(rate, kbps))
            .ok_or_else(|| format!("{kbps} kbit/s is not an MP3 bitrate at {rate} Hz"))?;
        let mono = channels < 2;
        let err = |e: mp3lame_encoder::BuildError| format!("cannot set up LAME: {e}");
        let mut b = Builder::new().ok_or("cannot start LAME (out of memory)")?;
        b.set_num_channels(if mono { 1 } else { 2 }).map_err(err)?;
        b.set_sample_rate(rate).map_err(err)?;
        // Left to itself LAME would pick a lower rate for a low bitrate.
        b.set_output_sample_rate(NonZeroU32::new(rate))
            .map_err(err)?;
        b.set_brate(brate).map_err(err)?;
        b.set_mode(if mono { Mode::Mono } else { Mode::JointStereo })
            .map_err(err)?;
        // LAME's -q 5: its default speed/quality balance.
        b.set_quality(Quality::Good).map_err(err)?;
        // No Xing/Info frame: a stream has no start to seek from.
        b.set_to_write_vbr_tag(false).map_err(err)?;
        let encoder = b.build().map_err(err)?;
        // A frame is 20 ms; LAME's own worst case for that many samples.
        let frame = rate as usize / 50;
        Ok(Mp3 {
            encoder,
            mono,
            buf: vec![MaybeUninit::uninit(); max_required_buffer_size(frame).max(7200)],
        })
    }

    /// Encode one 20 ms frame (interleaved), appending the MP3 frames
    /// LAME completes (a frame is 1152 samples: most calls give one or
    /// none).
    pub fn encode(&mut self, frame: &[f32], out: &mut Vec<u8>) {
        let r = if self.mono {
            self.encoder.encode(MonoPcm(frame), &mut self.buf)
        } else {
            self.encoder.encode(InterleavedPcm(frame), &mut self.buf)
        };
        if let Ok(n) = r {
            self.append(n, out);
        }
    }

    /// What LAME still holds, padded to a whole frame.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Ok(n) = self.encoder.flush::<FlushGap>(&mut self.buf) {
            self.append(n, out);
        }
    }

    fn append(&self, n: usize, out: &mut Vec<u8>) {
        // SAFETY: LAME wrote the first `n` bytes (it said so).
        let written = unsafe {
            std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), n.min(self.buf.len()))
        };
        out.extend_from_slice(written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One second of a tone gives about a second of 64 kbit/s MP3 frames,
    /// each starting with the frame sync and saying MPEG-1 Layer III,
    /// 48 kHz, mono.
    #[test]
    fn a_second_of_tone_is_a_second_of_mono_48k_mp3_frames() {
        let mut e = Mp3::new(48000, 1, 64).unwrap();
        let mut out = Vec::new();
        for k in 0..50 {
            let frame: Vec<f32> = (0..960)
                .map(|i| {
                    let t = (k * 960 + i) as f32 / 48000.0;
                    0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                })
                .collect();
            e.encode(&frame, &mut out);
        }
        e.finish(&mut out);
        // 64 kbit/s: 8000 bytes a second, give or take a frame or two of
        // LAME's delay and padding.
        assert!((7000..=10000).contains(&out.len()), "{} bytes", out.len());
        // Walk the frames: 1152 samples at 48 kHz, 64 kbit/s = 192 bytes
        // (no padding at 48 kHz).
        let mut at = 0;
        let mut frames = 0;
        while at + 4 <= out.len() {
            let h = &out[at..at + 4];
            assert_eq!((h[0], h[1] & 0xfe), (0xff, 0xfa), "sync, MPEG-1 L3 at {at}");
            assert_eq!(h[2] >> 4, 0b0101, "64 kbit/s");
            assert_eq!((h[2] >> 2) & 3, 1, "48 kHz");
            assert_eq!(h[3] >> 6, 3, "mono");
            at += 192;
            frames += 1;
        }
        assert_eq!(at, out.len(), "whole frames");
        assert!(frames >= 41, "{frames} frames");
    }

    /// Every bitrate the config lets a zone ask for builds, and a second of
    /// audio comes out at about that many bits; one it refuses does not.
    #[test]
    fn every_bitrate_the_config_allows_is_what_lame_writes() {
        for rate in [48000, 16000] {
            for &kbps in crate::config::MP3_BITRATES_KBPS.iter() {
                if !crate::config::mp3_bitrate_fits(rate, kbps) {
                    assert!(Mp3::new(rate, 1, kbps).is_err(), "{rate} Hz {kbps} kbit/s");
                    continue;
                }
                let mut e = Mp3::new(rate, 1, kbps).unwrap();
                let mut out = Vec::new();
                let frame: Vec<f32> = (0..rate as usize / 50)
                    .map(|i| 0.3 * (i as f32 * 0.13).sin())
                    .collect();
                for _ in 0..50 {
                    e.encode(&frame, &mut out);
                }
                let second = kbps as usize * 125;
                assert!(
                    out.len() * 10 >= second * 8 && out.len() * 10 <= second * 13,
                    "{rate} Hz {kbps} kbit/s: {} bytes",
                    out.len()
                );
            }
        }
        assert!(Mp3::new(48000, 1, 65).is_err());
    }

    /// A stereo zone: interleaved frames in, 128 kbit/s joint stereo out
    /// (MPEG-1 at 44.1 kHz: 417 or 418 bytes a frame, with padding).
    #[test]
    fn a_stereo_zone_at_44k1_is_joint_stereo_at_128k() {
        let mut e = Mp3::new(44100, 2, 128).unwrap();
        let mut out = Vec::new();
        for _ in 0..50 {
            e.encode(&[0.25f32; 882 * 2], &mut out);
        }
        e.finish(&mut out);
        let h = &out[..4];
        assert_eq!((h[0], h[1] & 0xfe), (0xff, 0xfa));
        assert_eq!(h[2] >> 4, 0b1001, "128 kbit/s");
        assert_eq!((h[2] >> 2) & 3, 0, "44.1 kHz");
        assert_eq!(h[3] >> 6, 1, "joint stereo");
        // About a second at 16000 bytes a second.
        assert!((14000..=19000).contains(&out.len()), "{} bytes", out.len());
    }

    #[test]
    fn a_rate_mp3_does_not_take_is_refused() {
        let err = Mp3::new(96000, 1, 64).err().unwrap();
        assert!(err.contains("96000 Hz"), "{err}");
    }
}
