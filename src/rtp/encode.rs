//! One packet time of a zone's audio to RTP payloads, per codec.
//!
//! The sender hands [`Encoder::start`] each packet time's audio
//! (interleaved f32 at the zone's mix rate and channels), then asks for the
//! payload of each of the layout's packets in turn, in order (G.722 and
//! Opus are streams: each packet is coded from the state the one before
//! left). Everything is allocated in [`Encoder::new`]: it runs on the
//! engine thread.

use super::codec::{Codec, LayoutError, PacketLayout};
use super::g722;
use super::opus::{OpusEncoder, DEFAULT_KBPS};
use super::pcmu::{self, Decimator};
use super::{l16, l16::to_i16};

/// What an encoder is tuned with beyond its layout (zone keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Opus bitrate, kbit/s (`opus_kbps`).
    pub opus_kbps: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            opus_kbps: DEFAULT_KBPS,
        }
    }
}

/// A codec's encoder with its buffers and state. See the module docs.
#[derive(Debug)]
pub struct Encoder {
    layout: PacketLayout,
    input_channels: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Sent as it comes.
    L16,
    /// Mixed down to mono, low-passed and decimated to 8 kHz.
    Pcmu(Narrowed),
    /// Mixed down to mono, decimated to 16 kHz if the mix is faster, coded.
    G722 {
        narrowed: Narrowed,
        codec: Box<g722::Encoder>,
    },
    /// Coded as it comes (libopus takes the mix rate and channels).
    Opus {
        codec: Box<OpusEncoder>,
        /// Input frames per RTP packet.
        frames: usize,
    },
}

/// The packet time mixed to mono at the codec's rate.
#[derive(Debug)]
struct Narrowed {
    mono: Vec<f32>,
    narrow: Vec<f32>,
    /// `None` when the mix is already at the codec's rate.
    decimator: Option<Decimator>,
    /// Samples of `narrow` this packet time.
    produced: usize,
    /// The packet time is mono at the codec's rate already (a PCMU-only
    /// zone, mixed at 8 kHz): it is coded from the zone's buffer as it
    /// is, not copied into `narrow` first (with two thousand zones the
    /// copy was a tenth of the engine's memory traffic).
    as_is: bool,
}

impl Narrowed {
    fn new(codec: Codec, mix_rate: u32, to: u32, frames: usize) -> Result<Narrowed, LayoutError> {
        let decimator = if mix_rate == to {
            None
        } else {
            Some(Decimator::new(mix_rate, to).ok_or(LayoutError::Rate {
                codec,
                native: to,
                rate: mix_rate,
            })?)
        };
        let factor = decimator.as_ref().map_or(1, Decimator::factor);
        Ok(Narrowed {
            mono: vec![0.0; frames],
            narrow: vec![0.0; frames.div_ceil(factor)],
            decimator,
            produced: 0,
            as_is: false,
        })
    }

    fn take(&mut self, pcm: &[f32], ch: usize) {
        self.as_is = ch == 1 && self.decimator.is_none();
        if self.as_is {
            self.produced = pcm.len().min(self.narrow.len());
            return;
        }
        let scale = 1.0 / ch as f32;
        let mono = if self.decimator.is_some() {
            &mut self.mono
        } else {
            &mut self.narrow
        };
        for (i, m) in mono.iter_mut().enumerate() {
            let frame = pcm.get(i * ch..(i + 1) * ch).unwrap_or(&[]);
            *m = frame.iter().sum::<f32>() * scale;
        }
        self.produced = match &mut self.decimator {
            Some(d) => d.process(&self.mono, &mut self.narrow),
            None => self.narrow.len(),
        };
    }

    /// Samples `start..start + len` of this packet time `pcm` (the one
    /// given to `take`), silence past what was produced.
    fn get<'a>(
        &'a self,
        pcm: &'a [f32],
        start: usize,
        len: usize,
    ) -> impl Iterator<Item = f32> + 'a {
        let from = if self.as_is { pcm } else { &self.narrow[..] };
        let part = from[..self.produced].get(start..).unwrap_or(&[]);
        part.iter().copied().chain(std::iter::repeat(0.0)).take(len)
    }
}

impl Encoder {
    /// An encoder for `layout` (from [`PacketLayout::new`] with the same
    /// `mix_rate`, `channels` and `frames_per_packet`).
    pub fn new(
        layout: PacketLayout,
        mix_rate: u32,
        channels: u16,
        frames_per_packet: usize,
        options: EncodeOptions,
    ) -> Result<Encoder, LayoutError> {
        let state = match layout.codec {
            Codec::L16 => State::L16,
            Codec::Pcmu => State::Pcmu(Narrowed::new(
                Codec::Pcmu,
                mix_rate,
                pcmu::PCMU_RATE,
                frames_per_packet,
            )?),
            Codec::G722 => State::G722 {
                narrowed: Narrowed::new(Codec::G722, mix_rate, g722::G722_RATE, frames_per_packet)?,
                codec: Box::new(g722::Encoder::new()),
            },
            Codec::Opus => State::Opus {
                codec: Box::new(
                    OpusEncoder::new(mix_rate, layout.channels, options.opus_kbps)
                        .map_err(LayoutError::OpusEncoder)?,
                ),
                frames: frames_per_packet / layout.packets_per_write,
            },
        };
        Ok(Encoder {
            layout,
            input_channels: channels.max(1) as usize,
            state,
        })
    }

    pub fn layout(&self) -> &PacketLayout {
        &self.layout
    }

    /// Take one packet time of audio (what the codec must see of all of it
    /// before the first payload: PCMU's and G.722's filters run here).
    pub fn start(&mut self, pcm: &[f32]) {
        match &mut self.state {
            State::L16 | State::Opus { .. } => {}
            State::Pcmu(n) | State::G722 { narrowed: n, .. } => n.take(pcm, self.input_channels),
        }
    }

    /// Write the payload of packet `k` (of `layout.packets_per_write`) of
    /// the packet time `pcm` given to [`Self::start`] into `out` (at least
    /// `layout.payload_bytes` long); returns the payload's length (fixed
    /// but for Opus). Packets are asked for in order. Audio the packet
    /// time lacks is sent as silence.
    pub fn payload(&mut self, pcm: &[f32], k: usize, out: &mut [u8]) -> usize {
        let spp = self.layout.samples_per_packet;
        let bytes = self.layout.payload_bytes;
        match &mut self.state {
            State::L16 => {
                let start = k * spp * self.input_channels;
                l16::encode(pcm.get(start..).unwrap_or(&[]), &mut out[..bytes]);
                bytes
            }
            State::Pcmu(n) => {
                for (o, s) in out[..bytes].iter_mut().zip(n.get(pcm, k * spp, spp)) {
                    *o = pcmu::encode(to_i16(s));
                }
                bytes
            }
            State::G722 { narrowed, codec } => {
                // Two samples at 16 kHz per tick of the 8 kHz clock.
                let mut samples = narrowed.get(pcm, 2 * k * spp, 2 * spp);
                for o in out[..bytes].iter_mut() {
                    let a = to_i16(samples.next().unwrap_or(0.0));
                    let b = to_i16(samples.next().unwrap_or(0.0));
                    *o = codec.encode_pair(a, b);
                }
                bytes
            }
            State::Opus { codec, frames } => {
                let ch = self.layout.channels as usize;
                let len = *frames * ch;
                match pcm.get(k * len..(k + 1) * len) {
                    Some(frame) => codec.encode(frame, out),
                    None => 0,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder(codec: Codec, rate: u32, channels: u16, frames: usize) -> Encoder {
        let layout = PacketLayout::new(codec, rate, channels, frames).unwrap();
        Encoder::new(layout, rate, channels, frames, EncodeOptions::default()).unwrap()
    }

    #[test]
    fn l16_stereo_packets_follow_each_other() {
        let mut e = encoder(Codec::L16, 48000, 2, 960);
        let pcm: Vec<f32> = (0..1920).map(|i| (i % 200) as f32 / 1000.0).collect();
        e.start(&pcm);
        let l = *e.layout();
        let mut out = vec![0u8; l.payload_bytes];
        let mut all = Vec::new();
        for k in 0..l.packets_per_write {
            assert_eq!(e.payload(&pcm, k, &mut out), l.payload_bytes);
            all.extend_from_slice(&out);
        }
        let mut back = vec![0.0f32; 1920];
        l16::decode(&all, &mut back);
        for (a, b) in pcm.iter().zip(&back) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    /// A zone mixed mono at the codec's rate is coded from its buffer as
    /// it is: every PCMU byte is that sample's mu-law, and G.722 writes
    /// what it writes for the same audio taken through the mix-down (two
    /// equal channels).
    #[test]
    fn mono_at_the_codecs_rate_is_coded_as_it_is() {
        let mut e = encoder(Codec::Pcmu, 8000, 1, 160);
        let pcm: Vec<f32> = (0..160).map(|i| (i as f32 * 0.3).sin() * 0.7).collect();
        let mut out = [0u8; 160];
        for _ in 0..2 {
            e.start(&pcm);
            assert_eq!(e.payload(&pcm, 0, &mut out), 160);
            for (o, s) in out.iter().zip(&pcm) {
                assert_eq!(*o, pcmu::encode(to_i16(*s)));
            }
        }
        let mut mono = encoder(Codec::G722, 16000, 1, 320);
        let mut stereo = encoder(Codec::G722, 16000, 2, 320);
        let (mut a, mut b) = ([0u8; 160], [0u8; 160]);
        for n in 0..3 {
            let pcm: Vec<f32> = (0..320)
                .map(|i| ((n * 320 + i) as f32 * 0.2).sin() * 0.5)
                .collect();
            let both: Vec<f32> = pcm.iter().flat_map(|&s| [s, s]).collect();
            mono.start(&pcm);
            stereo.start(&both);
            mono.payload(&pcm, 0, &mut a);
            stereo.payload(&both, 0, &mut b);
            assert_eq!(a, b, "packet {n}");
        }
    }

    #[test]
    fn pcmu_mixes_down_and_decimates() {
        let mut e = encoder(Codec::Pcmu, 48000, 2, 960);
        // A 400 Hz tone in the left channel only, for long enough that the
        // filter's delay has passed.
        let mut out = [0u8; 160];
        for n in 0..5 {
            let pcm: Vec<f32> = (0..960)
                .flat_map(|i| {
                    let t = (n * 960 + i) as f32 / 48000.0;
                    [(2.0 * std::f32::consts::PI * 400.0 * t).sin() * 0.5, 0.0]
                })
                .collect();
            e.start(&pcm);
            e.payload(&pcm, 0, &mut out);
        }
        let mut back = [0.0f32; 160];
        pcmu::decode_into(&out, &mut back);
        let peak = back.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        // Half the amplitude: the mix-down of one channel of two.
        assert!((peak - 0.25).abs() < 0.02, "peak {peak}");
    }

    #[test]
    fn g722_from_a_48k_stereo_mix() {
        let mut e = encoder(Codec::G722, 48000, 2, 960);
        let mut dec = g722::Decoder::new();
        let mut out = [0u8; 160];
        let mut back = vec![0.0f32; 320];
        for n in 0..10 {
            // 1 kHz in both channels.
            let pcm: Vec<f32> = (0..960)
                .flat_map(|i| {
                    let t = (n * 960 + i) as f32 / 48000.0;
                    let s = (2.0 * std::f32::consts::PI * 1000.0 * t).sin() * 0.5;
                    [s, s]
                })
                .collect();
            e.start(&pcm);
            assert_eq!(e.payload(&pcm, 0, &mut out), 160);
            dec.decode(&out, &mut back);
        }
        let peak = back.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.03, "peak {peak}");
    }

    #[test]
    fn opus_payloads_vary_and_fit() {
        let mut e = encoder(Codec::Opus, 48000, 1, 960);
        assert_eq!(e.layout().payload_bytes, super::super::MAX_PAYLOAD);
        let mut out = vec![0u8; e.layout().payload_bytes];
        let silence = vec![0.0f32; 960];
        let tone: Vec<f32> = (0..960).map(|i| (i as f32 * 0.07).sin() * 0.5).collect();
        e.start(&silence);
        let quiet = e.payload(&silence, 0, &mut out);
        e.start(&tone);
        let loud = e.payload(&tone, 0, &mut out);
        assert!(
            quiet > 0 && quiet < loud && loud < 400,
            "{quiet} then {loud} bytes"
        );
        assert_eq!(super::super::opus::packet_ticks(&out[..loud]), Some(960));
    }
}
