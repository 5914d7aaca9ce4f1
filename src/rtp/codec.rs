//! The payload formats corong sends and receives (RFC 3551), and how one
//! packet time of a zone's audio is cut into RTP packets.
//!
//! [`Codec`] says everything the rest of corong asks of a payload format:
//! its name in the config and on the command line, its payload type, its
//! RTP clock, the rate and channels its audio must have, and how many bytes
//! a sample takes. [`PacketLayout::new`] is the one place that turns a
//! codec, a rate, a channel count and a packet time into packets: the
//! sender sends what it says and the SDP announces it.
//!
//! Adding a codec: a variant here (and an arm in each `match` below), its
//! encoder in `encode.rs` and decoder in [`Codec::decode`].

use std::fmt;

use super::{l16, pcmu, MAX_PAYLOAD};

/// A payload format corong sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Codec {
    /// 16-bit linear PCM, big-endian, channels interleaved, dynamic PT 96,
    /// clock = sample rate (the zone's; for `corong receive`, `--rate`).
    L16,
    /// G.711 mu-law, PT 0, 8000 Hz mono.
    Pcmu,
}

impl Codec {
    /// Every codec, for messages that list them.
    pub const ALL: [Codec; 2] = [Codec::L16, Codec::Pcmu];

    /// As written in the config (`codec = "pcmu"`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Codec::L16 => "l16",
            Codec::Pcmu => "pcmu",
        }
    }

    /// The codec called `name` in the config.
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The RTP payload type corong sends it with.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::L16 => 96,
            Codec::Pcmu => 0,
        }
    }

    /// The codec a payload type stands for, as corong uses them.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }

    /// The sample rate the codec's audio must have, when it has its own
    /// (PCMU: 8000 Hz); `None`: any rate (L16 runs at the zone's).
    pub fn native_rate(self) -> Option<u32> {
        match self {
            Codec::L16 => None,
            Codec::Pcmu => Some(pcmu::PCMU_RATE),
        }
    }

    /// The sample rate on the wire for audio mixed at `mix_rate`.
    pub fn sample_rate(self, mix_rate: u32) -> u32 {
        self.native_rate().unwrap_or(mix_rate)
    }

    /// The RTP timestamp clock for audio mixed at `mix_rate`. (Equal to the
    /// sample rate for these codecs; G.722's is not.)
    pub fn clock_rate(self, mix_rate: u32) -> u32 {
        self.sample_rate(mix_rate)
    }

    /// The channels the codec carries, when it fixes them (PCMU: mono);
    /// `None`: the zone's.
    pub fn fixed_channels(self) -> Option<u16> {
        match self {
            Codec::L16 => None,
            Codec::Pcmu => Some(1),
        }
    }

    /// Channels on the wire for a zone of `channels`.
    pub fn channels(self, channels: u16) -> u16 {
        self.fixed_channels().unwrap_or(channels.max(1))
    }

    /// Payload bytes per sample of one channel.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Codec::L16 => 2,
            Codec::Pcmu => 1,
        }
    }

    /// Samples (of all channels together) in a payload of `bytes` bytes.
    pub fn samples_in(self, bytes: usize) -> usize {
        bytes / self.bytes_per_sample()
    }

    /// The SDP `a=rtpmap` encoding for `layout`: `L16/48000/1`, `PCMU/8000`.
    pub fn rtpmap(self, layout: &PacketLayout) -> String {
        match self {
            Codec::L16 => format!("L16/{}/{}", layout.clock_rate, layout.channels),
            Codec::Pcmu => format!("PCMU/{}", layout.clock_rate),
        }
    }

    /// Decode `payload` into `out` (as many samples as both hold), as f32
    /// in -1..1. A trailing odd byte of L16 is ignored.
    pub fn decode(self, payload: &[u8], out: &mut [f32]) {
        match self {
            Codec::L16 => l16::decode(payload, out),
            Codec::Pcmu => pcmu::decode_into(payload, out),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A codec that cannot be sent with the rate or packet time asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("{codec} needs a rate that is a multiple of {native} Hz, not {rate}")]
    Rate {
        codec: Codec,
        native: u32,
        rate: u32,
    },
    #[error("packet time too short for the codec")]
    TooShort,
}

/// How one packet time of a zone's audio is sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketLayout {
    pub codec: Codec,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP timestamp clock, Hz.
    pub clock_rate: u32,
    /// Channels in the payload.
    pub channels: u16,
    /// RTP packets per packet time (per `Output::write`).
    pub packets_per_write: usize,
    /// Samples per channel in each RTP packet, at `clock_rate`: the
    /// timestamp step between packets.
    pub samples_per_packet: usize,
    /// Payload bytes in each RTP packet.
    pub payload_bytes: usize,
}

impl PacketLayout {
    /// The layout for `codec` when the zone hands over `frames_per_packet`
    /// frames of `channels` at `mix_rate` every packet time. A packet time
    /// whose payload would exceed [`MAX_PAYLOAD`] is sent as several equal
    /// packets, of a whole number of milliseconds where possible. Errors
    /// when the codec has its own rate and `mix_rate` is not a whole
    /// multiple of it.
    pub fn new(
        codec: Codec,
        mix_rate: u32,
        channels: u16,
        frames_per_packet: usize,
    ) -> Result<Self, LayoutError> {
        let clock_rate = codec.clock_rate(mix_rate);
        let sample_rate = codec.sample_rate(mix_rate);
        if mix_rate == 0 || sample_rate == 0 || mix_rate % sample_rate != 0 {
            return Err(LayoutError::Rate {
                codec,
                native: sample_rate,
                rate: mix_rate,
            });
        }
        let samples = frames_per_packet / (mix_rate / sample_rate) as usize;
        if samples == 0 {
            return Err(LayoutError::TooShort);
        }
        let wire_channels = codec.channels(channels);
        let bytes_per_frame = codec.bytes_per_sample() * wire_channels as usize;
        // The fewest packets that fit MAX_PAYLOAD and divide the packet time
        // evenly (so that timestamps step regularly), preferring packets of
        // a whole number of milliseconds (what `a=ptime` can say).
        let fits = |n: usize| samples % n == 0 && (samples / n) * bytes_per_frame <= MAX_PAYLOAD;
        let whole_ms = |n: usize| (samples / n * 1000) % clock_rate as usize == 0;
        let fewest = (samples * bytes_per_frame).div_ceil(MAX_PAYLOAD).max(1);
        let n = (fewest..=samples)
            .find(|&n| fits(n) && whole_ms(n))
            .or_else(|| (fewest..=samples).find(|&n| fits(n)))
            .expect("one sample per packet always fits");
        Ok(Self {
            codec,
            payload_type: codec.payload_type(),
            clock_rate,
            channels: wire_channels,
            packets_per_write: n,
            samples_per_packet: samples / n,
            payload_bytes: samples / n * bytes_per_frame,
        })
    }

    /// Duration of one RTP packet in milliseconds (for SDP `a=ptime`),
    /// rounded to the nearest millisecond (at least 1).
    pub fn ptime_ms(&self) -> u32 {
        let ms = (self.samples_per_packet as u64 * 1000 + self.clock_rate as u64 / 2)
            / self.clock_rate as u64;
        ms.max(1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(l: &PacketLayout) -> (usize, usize, usize) {
        (l.packets_per_write, l.samples_per_packet, l.payload_bytes)
    }

    #[test]
    fn l16_mono_and_stereo_split_under_the_mtu() {
        let l = PacketLayout::new(Codec::L16, 48000, 1, 960).unwrap();
        assert_eq!(shape(&l), (2, 480, 960));
        assert_eq!(
            (l.payload_type, l.clock_rate, l.channels, l.ptime_ms()),
            (96, 48000, 1, 10)
        );
        let l = PacketLayout::new(Codec::L16, 48000, 2, 960).unwrap();
        assert_eq!(shape(&l), (4, 240, 960));
        assert_eq!((l.channels, l.ptime_ms()), (2, 5));
        let l = PacketLayout::new(Codec::L16, 48000, 1, 480).unwrap();
        assert_eq!(shape(&l), (1, 480, 960));
        // 44.1 kHz stereo 20 ms: 882 frames, 3528 bytes; no whole-ms split
        // fits, so the fewest equal packets under the limit.
        let l = PacketLayout::new(Codec::L16, 44100, 2, 882).unwrap();
        assert!(l.payload_bytes <= MAX_PAYLOAD);
        assert_eq!(l.samples_per_packet * l.packets_per_write, 882);
        assert_eq!(l.payload_bytes, l.samples_per_packet * 4);
    }

    #[test]
    fn pcmu_is_8k_mono_whatever_the_zone_mixes_at() {
        // A zone that mixes at 48 kHz (it also records) and one that mixes
        // at 8 kHz (PCMU only) put the same packets on the wire.
        for (rate, frames) in [(48000, 960), (8000, 160)] {
            let l = PacketLayout::new(Codec::Pcmu, rate, 2, frames).unwrap();
            assert_eq!(shape(&l), (1, 160, 160), "at {rate} Hz");
            assert_eq!(
                (l.payload_type, l.clock_rate, l.channels, l.ptime_ms()),
                (0, 8000, 1, 20)
            );
        }
        assert_eq!(
            PacketLayout::new(Codec::Pcmu, 44100, 1, 882),
            Err(LayoutError::Rate {
                codec: Codec::Pcmu,
                native: 8000,
                rate: 44100
            })
        );
        assert_eq!(
            PacketLayout::new(Codec::Pcmu, 48000, 1, 5),
            Err(LayoutError::TooShort)
        );
    }

    #[test]
    fn names_and_payload_types_go_both_ways() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
        }
        assert_eq!(Codec::from_name("mp3"), None);
        assert_eq!(Codec::from_payload_type(8), None);
        let l = PacketLayout::new(Codec::L16, 48000, 2, 960).unwrap();
        assert_eq!(Codec::L16.rtpmap(&l), "L16/48000/2");
        let l = PacketLayout::new(Codec::Pcmu, 48000, 1, 960).unwrap();
        assert_eq!(Codec::Pcmu.rtpmap(&l), "PCMU/8000");
    }

    #[test]
    fn decode_l16_and_pcmu() {
        let mut out = [0.0; 2];
        Codec::L16.decode(&[0x40, 0x00, 0xc0, 0x00, 0x7f], &mut out);
        assert_eq!(out, [0.5, -0.5]);
        Codec::Pcmu.decode(&[pcmu::encode(8000), pcmu::encode(-8000)], &mut out);
        assert!((out[0] - 8000.0 / 32768.0).abs() < 0.01 && out[1] < -0.2);
        assert_eq!(Codec::L16.samples_in(961), 480);
    }
}
