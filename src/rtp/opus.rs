//! Opus (RFC 6716) in RTP (RFC 7587): the encoder a zone sends with, over
//! the system's libopus (Debian's `libopus-dev`) through the `audiopus`
//! binding.
//!
//! Settings, and why: application VOIP (speech first: announcements and
//! warnings; music at 32 kbit/s is still good), the zone's bitrate
//! (`opus_kbps`, default 32), variable bitrate, in-band FEC on with an
//! expected loss of 5% (each packet carries a coarse copy of the one
//! before, so a receiver recovers one lost packet without a gap; libopus
//! only codes it when it expects loss), complexity 5 (half the CPU of the
//! default 10 for a fraction of a dB: a kiosk encodes hundreds of zones).
//!
//! libopus does not allocate while encoding: the engine thread calls
//! [`OpusEncoder::encode`] every packet time.

use audiopus::coder::Encoder;
use audiopus::{Application, Bitrate, Channels, SampleRate};

/// The dynamic payload type corong sends Opus with (what WebRTC and most
/// SDPs use).
pub const PAYLOAD_TYPE: u8 = 111;
/// Opus's RTP clock, whatever rate its audio has (RFC 7587 4.1).
pub const OPUS_CLOCK: u32 = 48_000;
/// The rates libopus takes audio at.
pub const INPUT_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// Packet durations corong sends, longest first, in ticks of 48 kHz: 20,
/// 10, 5 and 2.5 ms. (Longer frames exist, but 20 ms is what paging
/// equipment and WebRTC expect, and every packet stays under the MTU at
/// any bitrate.)
pub const FRAME_TICKS: [usize; 4] = [960, 480, 240, 120];
/// The default bitrate, kbit/s (zone key `opus_kbps`).
pub const DEFAULT_KBPS: u32 = 32;
/// The bitrates libopus accepts, kbit/s.
pub const KBPS_RANGE: std::ops::RangeInclusive<u32> = 6..=510;
/// The loss libopus is told to expect, percent: what makes it code FEC.
const EXPECTED_LOSS_PERCENT: u8 = 5;
/// See the module docs.
const COMPLEXITY: u8 = 5;

/// A zone's Opus encoder. See the module docs.
pub struct OpusEncoder {
    encoder: Encoder,
    channels: usize,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// libopus's names for `rate` (one of [`INPUT_RATES`]) and `channels`
/// (2: stereo, else mono); every Opus encoder here is made from them.
pub fn libopus_format(rate: u32, channels: u16) -> Result<(SampleRate, Channels), String> {
    let sample_rate = match rate {
        8000 => SampleRate::Hz8000,
        12000 => SampleRate::Hz12000,
        16000 => SampleRate::Hz16000,
        24000 => SampleRate::Hz24000,
        48000 => SampleRate::Hz48000,
        _ => return Err(format!("{rate} Hz is not a rate libopus takes")),
    };
    let ch = if channels == 2 {
        Channels::Stereo
    } else {
        Channels::Mono
    };
    Ok((sample_rate, ch))
}

impl OpusEncoder {
    /// An encoder for `channels` (1 or 2) at `rate` (one of
    /// [`INPUT_RATES`]) and `kbps`.
    pub fn new(rate: u32, channels: u16, kbps: u32) -> Result<OpusEncoder, String> {
        let (sample_rate, ch) = libopus_format(rate, channels)?;
        let e = |e: audiopus::Error| e.to_string();
        let mut encoder = Encoder::new(sample_rate, ch, Application::Voip).map_err(e)?;
        let bits = kbps.clamp(*KBPS_RANGE.start(), *KBPS_RANGE.end()) * 1000;
        encoder
            .set_bitrate(Bitrate::BitsPerSecond(bits as i32))
            .map_err(e)?;
        encoder.set_inband_fec(true).map_err(e)?;
        encoder
            .set_packet_loss_perc(EXPECTED_LOSS_PERCENT)
            .map_err(e)?;
        encoder.set_complexity(COMPLEXITY).map_err(e)?;
        Ok(OpusEncoder {
            encoder,
            channels: if channels == 2 { 2 } else { 1 },
        })
    }

    /// Encode one frame (`pcm`: interleaved, a duration Opus allows) into
    /// `out`; the payload's length. An error (which libopus gives only for
    /// a wrong frame length or a buffer too small) sends an empty payload,
    /// which a receiver conceals as a lost packet.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> usize {
        debug_assert_eq!(pcm.len() % self.channels, 0);
        self.encoder.encode_float(pcm, out).unwrap_or(0)
    }
}

/// The number of samples (per channel, at 48 kHz) an Opus packet decodes
/// to, read from its table of contents; `None` for a packet that is not
/// Opus (RFC 6716 3.1-3.2: no frames, a frame count or duration out of
/// bounds).
pub fn packet_ticks(payload: &[u8]) -> Option<usize> {
    let toc = *payload.first()?;
    let config = toc >> 3;
    // Frame duration in ticks of 48 kHz by configuration (RFC 6716 3.1).
    let per_frame = match config {
        0..=11 => [480, 960, 1920, 2880][(config % 4) as usize],
        12..=15 => [480, 960][(config % 2) as usize],
        _ => [120, 240, 480, 960][(config % 4) as usize],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => (*payload.get(1)? & 0x3f) as usize,
    };
    let total = per_frame * frames;
    // At most 120 ms in a packet; at least one frame.
    (frames > 0 && total <= 5760).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_20ms_frame_encodes_to_about_the_bitrate() {
        let mut enc = OpusEncoder::new(48000, 1, 32).unwrap();
        let mut out = [0u8; 1280];
        let mut total = 0;
        for k in 0..50 {
            let pcm: Vec<f32> = (0..960)
                .map(|i| {
                    let t = (k * 960 + i) as f32 / 48000.0;
                    0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                })
                .collect();
            let n = enc.encode(&pcm, &mut out);
            assert!(n > 0);
            assert_eq!(packet_ticks(&out[..n]), Some(960));
            total += n;
        }
        // One second of audio: about 4000 bytes at 32 kbit/s.
        assert!((2500..5500).contains(&total), "{total} bytes a second");
        // A wrong frame length is an empty payload, not a panic.
        assert_eq!(enc.encode(&[0.0; 100], &mut out), 0);
    }

    #[test]
    fn packet_ticks_reads_the_toc() {
        assert_eq!(packet_ticks(&[]), None);
        assert_eq!(packet_ticks(&[9 << 3]), Some(960)); // config 9: SILK WB 20 ms
        assert_eq!(packet_ticks(&[(31 << 3) | 1]), Some(1920)); // CELT 20 ms, two frames
        assert_eq!(packet_ticks(&[(16 << 3) | 3, 0x02]), Some(240)); // 2 x 2.5 ms
        assert_eq!(packet_ticks(&[(3 << 3) | 3, 0x03]), None); // 3 x 60 ms
        assert_eq!(packet_ticks(&[3, 0]), None); // code 3 with no frames
        assert_eq!(packet_ticks(&[3]), None);
        assert!(OpusEncoder::new(44100, 1, 32).is_err());
    }
}
