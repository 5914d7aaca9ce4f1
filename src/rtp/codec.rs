//! The payload formats corong sends and receives (RFC 3551, RFC 7587), and
//! how one packet time of a zone's audio is cut into RTP packets.
//!
//! [`Codec`] says everything the rest of corong asks of a payload format:
//! its name in the config and on the command line, its payload type, its
//! RTP clock, the rate and channels its audio must have, and how many bytes
//! a tick of its clock takes. [`PacketLayout::new`] is the one place that
//! turns a codec, a rate, a channel count and a packet time into packets:
//! the sender sends what it says and the SDP announces it.
//!
//! Adding a codec: a variant here (and an arm in each `match` below), its
//! encoder in `encode.rs` and its decoder in the receiver
//! (`receive/decode.rs`).

use std::fmt;

use super::{g722, opus, pcmu, MAX_PAYLOAD};

/// A payload format corong sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Codec {
    /// 16-bit linear PCM, big-endian, channels interleaved, dynamic PT 96,
    /// clock = sample rate (the zone's; for `corong receive`, `--rate`).
    L16,
    /// G.711 mu-law, PT 0, 8000 Hz mono.
    Pcmu,
    /// G.722, PT 9: 16 kHz mono at 64 kbit/s, RTP clock 8000 (RFC 3551).
    G722,
    /// Opus, PT 111 (dynamic): 48 kHz clock, mono or stereo, the bitrate
    /// the zone asks (`opus_kbps`), in-band FEC on, 20 ms packets.
    Opus,
}

impl Codec {
    /// Every codec, for messages that list them.
    pub const ALL: [Codec; 4] = [Codec::L16, Codec::Pcmu, Codec::G722, Codec::Opus];

    /// As written in the config (`codec = "pcmu"`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Codec::L16 => "l16",
            Codec::Pcmu => "pcmu",
            Codec::G722 => "g722",
            Codec::Opus => "opus",
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
            Codec::G722 => 9,
            Codec::Opus => opus::PAYLOAD_TYPE,
        }
    }

    /// The codec a payload type stands for, as corong uses them.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }

    /// The sample rate the codec's audio must have, when it has its own
    /// (PCMU: 8000 Hz, G.722: 16000, Opus: 48000); `None`: any rate (L16
    /// runs at the zone's). A zone whose only output is this codec mixes
    /// at this rate, so nothing is resampled per packet.
    pub fn native_rate(self) -> Option<u32> {
        match self {
            Codec::L16 => None,
            Codec::Pcmu => Some(pcmu::PCMU_RATE),
            Codec::G722 => Some(g722::G722_RATE),
            Codec::Opus => Some(opus::OPUS_CLOCK),
        }
    }

    /// The sample rate of the audio the codec takes when the zone mixes
    /// at `mix_rate`: its native rate, which the encoder filters the mix
    /// down to (PCMU, G.722), or for Opus and L16 the mix rate itself
    /// (libopus takes 8, 12, 16, 24 or 48 kHz).
    pub fn sample_rate(self, mix_rate: u32) -> u32 {
        match self {
            Codec::Opus | Codec::L16 => mix_rate,
            _ => self.native_rate().unwrap_or(mix_rate),
        }
    }

    /// The RTP timestamp clock for audio mixed at `mix_rate`: the sample
    /// rate, except G.722's 8000 (RFC 3551 4.5.2) and Opus's 48000
    /// whatever its input (RFC 7587).
    pub fn clock_rate(self, mix_rate: u32) -> u32 {
        match self {
            Codec::G722 => g722::G722_CLOCK,
            Codec::Opus => opus::OPUS_CLOCK,
            _ => self.sample_rate(mix_rate),
        }
    }

    /// The channels the codec carries, when it fixes them (PCMU, G.722:
    /// mono); `None`: the zone's.
    pub fn fixed_channels(self) -> Option<u16> {
        match self {
            Codec::L16 | Codec::Opus => None,
            Codec::Pcmu | Codec::G722 => Some(1),
        }
    }

    /// Channels on the wire for a zone of `channels`.
    pub fn channels(self, channels: u16) -> u16 {
        self.fixed_channels().unwrap_or(channels.max(1))
    }

    /// Payload bytes per tick of the RTP clock, per channel, for codecs
    /// of a constant rate (G.722: one byte for two samples at 16 kHz, one
    /// tick of its 8 kHz clock); `None` for Opus, whose packets vary.
    pub fn bytes_per_tick(self) -> Option<usize> {
        match self {
            Codec::L16 => Some(2),
            Codec::Pcmu | Codec::G722 => Some(1),
            Codec::Opus => None,
        }
    }

    /// The SDP `a=rtpmap` encoding for `layout`: `L16/48000/1`,
    /// `PCMU/8000`, `G722/8000`, `opus/48000/2` (RFC 7587: always `/2`,
    /// mono or not).
    pub fn rtpmap(self, layout: &PacketLayout) -> String {
        match self {
            Codec::L16 => format!("L16/{}/{}", layout.clock_rate, layout.channels),
            Codec::Pcmu => format!("PCMU/{}", layout.clock_rate),
            Codec::G722 => format!("G722/{}", layout.clock_rate),
            Codec::Opus => format!("opus/{}/2", layout.clock_rate),
        }
    }

    /// The SDP `a=fmtp` parameters, when the codec has any: Opus says it
    /// sends in-band FEC, and whether it sends stereo (RFC 7587 7.1).
    pub fn fmtp(self, layout: &PacketLayout) -> Option<String> {
        match self {
            Codec::Opus if layout.channels == 2 => {
                Some("useinbandfec=1; stereo=1; sprop-stereo=1".into())
            }
            Codec::Opus => Some("useinbandfec=1; stereo=0; sprop-stereo=0".into()),
            _ => None,
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
    #[error("opus takes audio at 8000, 12000, 16000, 24000 or 48000 Hz, not {rate}")]
    OpusRate { rate: u32 },
    #[error("packet time too short for the codec")]
    TooShort,
    #[error("opus packets last 2.5, 5, 10 or 20 ms: a packet time of {ticks} ticks at 48 kHz is no whole number of them")]
    OpusPacket { ticks: usize },
    #[error("the opus encoder refused its settings: {0}")]
    OpusEncoder(String),
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
    /// Ticks of `clock_rate` in each RTP packet: the timestamp step
    /// between packets.
    pub samples_per_packet: usize,
    /// Payload bytes in each RTP packet; for Opus, whose packets vary, the
    /// most one may take.
    pub payload_bytes: usize,
}

impl PacketLayout {
    /// The layout for `codec` when the zone hands over `frames_per_packet`
    /// frames of `channels` at `mix_rate` every packet time. A packet time
    /// whose payload would exceed [`MAX_PAYLOAD`] is sent as several equal
    /// packets, of a whole number of milliseconds where possible; Opus is
    /// cut into packets of 20 ms (or the longest of 10, 5 and 2.5 ms that
    /// divides the packet time). Errors when the codec cannot take audio
    /// at `mix_rate` (PCMU and G.722: a whole multiple of their rate; Opus:
    /// one of libopus's rates).
    pub fn new(
        codec: Codec,
        mix_rate: u32,
        channels: u16,
        frames_per_packet: usize,
    ) -> Result<Self, LayoutError> {
        let clock_rate = codec.clock_rate(mix_rate);
        let sample_rate = codec.sample_rate(mix_rate);
        let wire_channels = codec.channels(channels);
        if codec == Codec::Opus {
            if !opus::INPUT_RATES.contains(&mix_rate) {
                return Err(LayoutError::OpusRate { rate: mix_rate });
            }
            let ticks = frames_per_packet * (opus::OPUS_CLOCK / mix_rate) as usize;
            let n = (1..=ticks)
                .find(|&n| ticks % n == 0 && opus::FRAME_TICKS.contains(&(ticks / n)))
                .ok_or(LayoutError::OpusPacket { ticks })?;
            return Ok(Self {
                codec,
                payload_type: codec.payload_type(),
                clock_rate,
                channels: wire_channels,
                packets_per_write: n,
                samples_per_packet: ticks / n,
                payload_bytes: MAX_PAYLOAD,
            });
        }
        if mix_rate == 0 || sample_rate == 0 || mix_rate % sample_rate != 0 {
            return Err(LayoutError::Rate {
                codec,
                native: sample_rate,
                rate: mix_rate,
            });
        }
        let samples = frames_per_packet / (mix_rate / sample_rate) as usize;
        // Ticks of the RTP clock in the packet time (G.722: half the samples).
        let ticks = samples * clock_rate as usize / sample_rate as usize;
        if ticks == 0 {
            return Err(LayoutError::TooShort);
        }
        let bytes_per_tick = codec.bytes_per_tick().unwrap_or(1);
        let bytes_per_frame = bytes_per_tick * wire_channels as usize;
        // The fewest packets that fit MAX_PAYLOAD and divide the packet time
        // evenly (so that timestamps step regularly), preferring packets of
        // a whole number of milliseconds (what `a=ptime` can say).
        let fits = |n: usize| ticks % n == 0 && (ticks / n) * bytes_per_frame <= MAX_PAYLOAD;
        let whole_ms = |n: usize| (ticks / n * 1000) % clock_rate as usize == 0;
        let fewest = (ticks * bytes_per_frame).div_ceil(MAX_PAYLOAD).max(1);
        let n = (fewest..=ticks)
            .find(|&n| fits(n) && whole_ms(n))
            .or_else(|| (fewest..=ticks).find(|&n| fits(n)))
            .expect("one tick per packet always fits");
        Ok(Self {
            codec,
            payload_type: codec.payload_type(),
            clock_rate,
            channels: wire_channels,
            packets_per_write: n,
            samples_per_packet: ticks / n,
            payload_bytes: ticks / n * bytes_per_frame,
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
    fn g722_is_16k_mono_on_an_8k_clock() {
        for (rate, frames) in [(48000, 960), (16000, 320)] {
            let l = PacketLayout::new(Codec::G722, rate, 2, frames).unwrap();
            assert_eq!(shape(&l), (1, 160, 160), "at {rate} Hz");
            assert_eq!(
                (l.payload_type, l.clock_rate, l.channels, l.ptime_ms()),
                (9, 8000, 1, 20)
            );
        }
        assert!(matches!(
            PacketLayout::new(Codec::G722, 44100, 1, 882),
            Err(LayoutError::Rate { native: 16000, .. })
        ));
        assert_eq!(Codec::G722.sample_rate(48000), 16000);
    }

    #[test]
    fn opus_is_cut_into_20_ms_packets_on_a_48k_clock() {
        let l = PacketLayout::new(Codec::Opus, 48000, 1, 960).unwrap();
        assert_eq!(shape(&l), (1, 960, MAX_PAYLOAD));
        assert_eq!(
            (l.payload_type, l.clock_rate, l.channels, l.ptime_ms()),
            (111, 48000, 1, 20)
        );
        let l = PacketLayout::new(Codec::Opus, 48000, 2, 1920).unwrap();
        assert_eq!(
            (l.packets_per_write, l.samples_per_packet, l.channels),
            (2, 960, 2)
        );
        // A 16 kHz mix still counts 48 kHz ticks.
        let l = PacketLayout::new(Codec::Opus, 16000, 1, 320).unwrap();
        assert_eq!(shape(&l), (1, 960, MAX_PAYLOAD));
        // 25 ms: five 5 ms packets; 1 ms: none fits.
        let l = PacketLayout::new(Codec::Opus, 48000, 1, 1200).unwrap();
        assert_eq!((l.packets_per_write, l.samples_per_packet), (5, 240));
        assert_eq!(
            PacketLayout::new(Codec::Opus, 48000, 1, 48),
            Err(LayoutError::OpusPacket { ticks: 48 })
        );
        assert_eq!(
            PacketLayout::new(Codec::Opus, 44100, 1, 882),
            Err(LayoutError::OpusRate { rate: 44100 })
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
        let l = PacketLayout::new(Codec::G722, 16000, 1, 320).unwrap();
        assert_eq!(Codec::G722.rtpmap(&l), "G722/8000");
        assert_eq!(Codec::G722.fmtp(&l), None);
        let l = PacketLayout::new(Codec::Opus, 48000, 1, 960).unwrap();
        assert_eq!(Codec::Opus.rtpmap(&l), "opus/48000/2");
        assert!(Codec::Opus.fmtp(&l).unwrap().contains("sprop-stereo=0"));
    }
}
