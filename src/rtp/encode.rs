//! One packet time of a zone's audio to RTP payloads, per codec.
//!
//! The sender hands [`Encoder::start`] each packet time's audio
//! (interleaved f32 at the zone's mix rate and channels), then asks for the
//! payload of each of the layout's packets in turn. Everything is
//! allocated in [`Encoder::new`]: it runs on the engine thread.

use super::codec::{Codec, LayoutError, PacketLayout};
use super::pcmu::{self, Decimator};
use super::{l16, l16::to_i16};

/// A codec's encoder with its buffers and state. See the module docs.
#[derive(Debug, Clone)]
pub struct Encoder {
    layout: PacketLayout,
    input_channels: usize,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    /// Sent as it comes.
    L16,
    /// Mixed down to mono, low-passed and decimated to 8 kHz.
    Pcmu {
        mono: Vec<f32>,
        narrow: Vec<f32>,
        decimator: Decimator,
        /// Samples of `narrow` this packet time.
        produced: usize,
    },
}

impl Encoder {
    /// An encoder for `layout` (from [`PacketLayout::new`] with the same
    /// `mix_rate`, `channels` and `frames_per_packet`).
    pub fn new(
        layout: PacketLayout,
        mix_rate: u32,
        channels: u16,
        frames_per_packet: usize,
    ) -> Result<Encoder, LayoutError> {
        let state = match layout.codec {
            Codec::L16 => State::L16,
            Codec::Pcmu => {
                let decimator =
                    Decimator::new(mix_rate, pcmu::PCMU_RATE).ok_or(LayoutError::Rate {
                        codec: Codec::Pcmu,
                        native: pcmu::PCMU_RATE,
                        rate: mix_rate,
                    })?;
                State::Pcmu {
                    mono: vec![0.0; frames_per_packet],
                    narrow: vec![0.0; frames_per_packet.div_ceil(decimator.factor())],
                    decimator,
                    produced: 0,
                }
            }
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
    /// before the first payload: PCMU's filter runs here).
    pub fn start(&mut self, pcm: &[f32]) {
        match &mut self.state {
            State::L16 => {}
            State::Pcmu {
                mono,
                narrow,
                decimator,
                produced,
            } => {
                let ch = self.input_channels;
                let scale = 1.0 / ch as f32;
                for (i, m) in mono.iter_mut().enumerate() {
                    let frame = pcm.get(i * ch..(i + 1) * ch).unwrap_or(&[]);
                    *m = frame.iter().sum::<f32>() * scale;
                }
                *produced = decimator.process(mono, narrow);
            }
        }
    }

    /// Write the payload of packet `k` (of `layout.packets_per_write`) of
    /// the packet time `pcm` given to [`Self::start`] into `out`
    /// (`layout.payload_bytes` long). Audio the packet time lacks is sent
    /// as silence.
    pub fn payload(&self, pcm: &[f32], k: usize, out: &mut [u8]) {
        let spp = self.layout.samples_per_packet;
        match &self.state {
            State::L16 => {
                let start = k * spp * self.input_channels;
                l16::encode(pcm.get(start..).unwrap_or(&[]), out);
            }
            State::Pcmu {
                narrow, produced, ..
            } => {
                let start = k * spp;
                for (i, o) in out.iter_mut().enumerate() {
                    let s = if start + i < *produced {
                        narrow[start + i]
                    } else {
                        0.0
                    };
                    *o = pcmu::encode(to_i16(s));
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
        Encoder::new(layout, rate, channels, frames).unwrap()
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
            e.payload(&pcm, k, &mut out);
            all.extend_from_slice(&out);
        }
        let mut back = vec![0.0f32; 1920];
        l16::decode(&all, &mut back);
        for (a, b) in pcm.iter().zip(&back) {
            assert!((a - b).abs() < 1e-4);
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
}
