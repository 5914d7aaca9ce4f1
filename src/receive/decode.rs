//! Payloads to samples, per codec, for the jitter buffer.
//!
//! L16 and PCMU decode each packet on its own. G.722 and Opus are streams:
//! a packet decodes right only after the one before it, so [`Decoder`]
//! keeps their state and the position it has decoded up to, and takes
//! packets in timeline order:
//! - A packet that comes after a hole: Opus fills the hole first, with
//!   libopus's own concealment and, for the packet just before this one,
//!   the copy this packet carries (in-band FEC): so one lost packet costs
//!   no gap at all. G.722 leaves the hole to the receiver's concealment
//!   (`conceal.rs`) and decodes on; its adaptation recovers within a few
//!   milliseconds.
//! - A packet for audio already decoded past (reordered behind its
//!   successor) is refused: decoding it now would corrupt the state, and
//!   its audio was already filled in.
//!
//! Positions count frames at the codec's sample rate (G.722: 16 kHz, two
//! per tick of its 8 kHz RTP clock; Opus: 48 kHz). Nothing allocates after
//! [`Decoder::new`]. Hostile payloads are errors (refused packets), never
//! panics.

use audiopus::coder::{Decoder as LibOpus, GenericCtl};
use audiopus::packet::Packet;
use audiopus::{Channels, MutSignals, SampleRate};

use crate::rtp::{g722, l16, opus, pcmu, Codec};

/// The longest hole Opus fills by itself, frames at 48 kHz (120 ms: what
/// one call of libopus conceals). Longer holes are the concealer's.
pub const OPUS_MAX_FILL: usize = 5760;

/// What [`Decoder::decode`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Position of the first frame written (before the packet's own when
    /// a hole before it was filled).
    pub start: i64,
    /// Frames written.
    pub frames: usize,
}

/// Why [`Decoder::decode`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its audio is behind what a stream codec has decoded.
    Behind,
    /// It does not decode (empty, or not a packet of the codec).
    Corrupt,
}

/// See the module docs.
pub struct Decoder {
    codec: Codec,
    channels: usize,
    state: State,
    /// The position decoded up to, for the stream codecs.
    next: Option<i64>,
}

enum State {
    Stateless,
    G722(Box<g722::Decoder>),
    Opus(Box<LibOpus>),
}

impl Decoder {
    /// A decoder for `codec` with `channels` interleaved (L16 and Opus: 1
    /// or 2; PCMU and G.722 are mono).
    pub fn new(codec: Codec, channels: u16) -> Decoder {
        let channels = codec.channels(channels).clamp(1, 2) as usize;
        let state = match codec {
            Codec::L16 | Codec::Pcmu => State::Stateless,
            Codec::G722 => State::G722(Box::default()),
            Codec::Opus => {
                let ch = if channels == 2 {
                    Channels::Stereo
                } else {
                    Channels::Mono
                };
                // 48 kHz with one or two channels are settings libopus
                // always accepts; it fails only without memory.
                let d = LibOpus::new(SampleRate::Hz48000, ch).expect("an Opus decoder");
                State::Opus(Box::new(d))
            }
        };
        Decoder {
            codec,
            channels,
            state,
            next: None,
        }
    }

    /// The sample rate the codec decodes to (for `corong receive`'s
    /// output; L16's is the stream's, given by the operator).
    pub fn rate(codec: Codec, l16_rate: u32) -> u32 {
        match codec {
            Codec::L16 => l16_rate,
            Codec::Pcmu => pcmu::PCMU_RATE,
            Codec::G722 => g722::G722_RATE,
            Codec::Opus => opus::OPUS_CLOCK,
        }
    }

    /// Frames per tick of the codec's RTP clock (G.722: 2).
    pub fn frames_per_tick(codec: Codec) -> i64 {
        match codec {
            Codec::G722 => (g722::G722_RATE / g722::G722_CLOCK) as i64,
            _ => 1,
        }
    }

    /// The most frames one packet (with a hole filled before it) decodes
    /// to, for the caller's buffer.
    pub fn max_frames(codec: Codec) -> usize {
        match codec {
            Codec::L16 | Codec::Pcmu => crate::rtp::MAX_DATAGRAM,
            Codec::G722 => 2 * crate::rtp::MAX_DATAGRAM,
            Codec::Opus => 2 * OPUS_MAX_FILL,
        }
    }

    /// Frames `payload` decodes to; `None` when it is no payload of this
    /// codec (empty, or an Opus packet whose table of contents is wrong).
    pub fn frames_in(&self, payload: &[u8]) -> Option<usize> {
        let n = match self.codec {
            Codec::L16 => payload.len() / 2 / self.channels,
            Codec::Pcmu => payload.len(),
            Codec::G722 => 2 * payload.len(),
            Codec::Opus => opus::packet_ticks(payload)?,
        };
        (n > 0).then_some(n)
    }

    /// A new stream: forget the state.
    pub fn reset(&mut self) {
        self.next = None;
        match &mut self.state {
            State::Stateless => {}
            State::G722(d) => **d = g722::Decoder::new(),
            State::Opus(d) => {
                let _ = d.reset_state();
            }
        }
    }

    /// Decode `payload`, whose first frame is at position `pos`, into
    /// `out` (interleaved, at least [`Decoder::max_frames`] frames);
    /// refused when it comes behind what was decoded (see the module
    /// docs) or does not decode.
    pub fn decode(
        &mut self,
        payload: &[u8],
        pos: i64,
        out: &mut [f32],
    ) -> Result<Decoded, Refused> {
        let ch = self.channels;
        let n = self.frames_in(payload).ok_or(Refused::Corrupt)?;
        let corrupt = |_| Refused::Corrupt;
        match &mut self.state {
            State::Stateless => {
                let out = out.get_mut(..n * ch).ok_or(Refused::Corrupt)?;
                match self.codec {
                    Codec::Pcmu => pcmu::decode_into(payload, out),
                    _ => l16::decode(payload, out),
                }
                Ok(Decoded {
                    start: pos,
                    frames: n,
                })
            }
            State::G722(d) => {
                if self.next.is_some_and(|next| pos < next) {
                    return Err(Refused::Behind);
                }
                let written = d.decode(payload, out.get_mut(..n).ok_or(Refused::Corrupt)?);
                self.next = Some(pos + written as i64);
                Ok(Decoded {
                    start: pos,
                    frames: written,
                })
            }
            State::Opus(d) => {
                let mut start = pos;
                let mut filled = 0;
                if let Some(next) = self.next {
                    if pos < next {
                        return Err(Refused::Behind);
                    }
                    let hole = (pos - next) as usize;
                    // libopus fills holes in whole 2.5 ms steps: PLC for
                    // all but the last frame, FEC from this packet for it.
                    if hole > 0 && hole <= OPUS_MAX_FILL && hole % 120 == 0 {
                        let hole_out = out.get_mut(..hole * ch).ok_or(Refused::Corrupt)?;
                        let signals = MutSignals::try_from(hole_out).map_err(corrupt)?;
                        let packet = Packet::try_from(payload).map_err(corrupt)?;
                        if let Ok(k) = d.decode_float(Some(packet), signals, true) {
                            start = next;
                            filled = k;
                        }
                    }
                }
                let packet = Packet::try_from(payload).map_err(corrupt)?;
                let room = out
                    .get_mut(filled * ch..(filled + n) * ch)
                    .ok_or(Refused::Corrupt)?;
                let signals = MutSignals::try_from(room).map_err(corrupt)?;
                match d.decode_float(Some(packet), signals, false) {
                    Ok(k) => {
                        // libopus's float output may overshoot full scale.
                        for s in &mut out[..(filled + k) * ch] {
                            *s = s.clamp(-1.0, 1.0);
                        }
                        self.next = Some(pos + k as i64);
                        Ok(Decoded {
                            start,
                            frames: filled + k,
                        })
                    }
                    // A packet libopus refuses: what it filled before it
                    // still stands.
                    Err(_) if filled > 0 => {
                        self.next = Some(start + filled as i64);
                        Ok(Decoded {
                            start,
                            frames: filled,
                        })
                    }
                    Err(_) => Err(Refused::Corrupt),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::opus::OpusEncoder;

    fn sine(freq: f32, rate: f32, start: usize, n: usize) -> Vec<f32> {
        (start..start + n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin())
            .collect()
    }

    #[test]
    fn opus_fills_a_lost_packet_from_the_next_one() {
        let mut enc = OpusEncoder::new(48000, 1, 32).unwrap();
        let mut packets = Vec::new();
        for k in 0..20 {
            let mut buf = [0u8; 1280];
            let n = enc.encode(&sine(440.0, 48000.0, k * 960, 960), &mut buf);
            packets.push(buf[..n].to_vec());
        }
        let mut dec = Decoder::new(Codec::Opus, 1);
        let mut out = vec![0.0; Decoder::max_frames(Codec::Opus)];
        for (k, p) in packets.iter().enumerate() {
            let pos = 1000 + k as i64 * 960;
            if k == 10 {
                continue; // lost
            }
            let got = dec.decode(p, pos, &mut out).unwrap();
            if k == 11 {
                // The hole and the packet: 40 ms from where packet 10 began.
                assert_eq!(
                    got,
                    Decoded {
                        start: pos - 960,
                        frames: 1920
                    }
                );
                let hole = &out[..960];
                let rms = (hole.iter().map(|s| s * s).sum::<f32>() / 960.0).sqrt();
                assert!(rms > 0.2, "the lost packet came back at rms {rms}");
            } else {
                assert_eq!(
                    got,
                    Decoded {
                        start: pos,
                        frames: 960
                    }
                );
            }
        }
        // Packet 10 arriving now is behind what was decoded: refused.
        assert_eq!(
            dec.decode(&packets[10], 1000 + 9600, &mut out),
            Err(Refused::Behind)
        );
    }

    #[test]
    fn hostile_payloads_are_refused_not_panics() {
        let mut out = vec![0.0; Decoder::max_frames(Codec::Opus)];
        for codec in Codec::ALL {
            for channels in [1, 2] {
                let mut dec = Decoder::new(codec, channels);
                let mut pos = 0;
                for seed in 0..300u32 {
                    let len = (seed * 7 % 200) as usize;
                    let p: Vec<u8> = (0..len as u32)
                        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 11) as u8)
                        .collect();
                    if let Ok(d) = dec.decode(&p, pos, &mut out) {
                        let got = &out[..d.frames * dec.channels];
                        assert!(got.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
                        pos = d.start + d.frames as i64;
                    }
                    pos += (seed % 3) as i64 * 120;
                }
            }
        }
    }

    #[test]
    fn g722_positions_count_16k_frames() {
        let mut dec = Decoder::new(Codec::G722, 2);
        assert_eq!(dec.channels, 1);
        let mut out = vec![0.0; Decoder::max_frames(Codec::G722)];
        assert_eq!(
            dec.decode(&[0xfa; 160], 320, &mut out),
            Ok(Decoded {
                start: 320,
                frames: 320
            })
        );
        assert_eq!(dec.decode(&[0xfa; 160], 0, &mut out), Err(Refused::Behind));
        assert_eq!(dec.decode(&[], 640, &mut out), Err(Refused::Corrupt));
        assert_eq!(Decoder::frames_per_tick(Codec::G722), 2);
        assert_eq!(dec.frames_in(&[]), None);
    }
}
