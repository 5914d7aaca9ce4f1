//! The jitter buffer: packets in, samples out by RTP timestamp.
//!
//! Frames (one sample per channel: L16 may be stereo) are stored at their
//! extended (64-bit, unwrapped) RTP timestamp in a ring of
//! [`BUFFER_SECONDS`], each with a flag saying it arrived. The
//! playout reads any stretch it wants ([`JitterBuffer::read`]: missing
//! samples come back as NaN, for the concealment to fill) and then consumes
//! it ([`JitterBuffer::consume`]): the consumed edge is the *floor*, and a
//! packet that arrives for samples below it is late and dropped. Reordered
//! packets simply land in their place; a duplicate (seen by its extended
//! sequence number) is counted and dropped.
//!
//! # One stream at a time
//! The buffer follows one source (SSRC). It starts a new stream, clearing
//! itself and bumping [`JitterBuffer::generation`], when
//! - a packet from another SSRC arrives after the current one has been
//!   silent for [`STALE_AFTER`] (a sender restart; two live senders on one
//!   group do not flap: the newcomer is counted as foreign and dropped), or
//! - two consecutive packets of the same SSRC jump away from the stream: a
//!   sequence jump over [`MAX_DROPOUT`] (RFC 3550 A.1), or a timestamp
//!   outside the buffer's reach. One such packet alone is dropped as a
//!   stray (a corrupted or misdirected packet must not derail the stream).
//!
//! The extended timestamps of a new stream start afresh: whoever holds a
//! position from before must notice the generation change and resync.
//!
//! # Reception statistics
//! [`Stream`] keeps what an RTCP receiver report needs (RFC 3550 6.4.1,
//! A.3, A.8): extended highest sequence number, packets received (duplicates
//! and late packets included, as the RFC says) and interarrival jitter.
//!
//! Nothing here allocates after [`JitterBuffer::new`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::decode::{Decoder, Refused};
use crate::rtp::header::Rtp;
use crate::rtp::Codec;

/// How much audio the buffer holds, seconds (ahead of the playout position).
pub const BUFFER_SECONDS: usize = 4;
/// A source that has sent nothing for this long may be replaced by another.
pub const STALE_AFTER: Duration = Duration::from_millis(100);
/// A forward sequence jump larger than this is not a loss but a new
/// timeline (RFC 3550 A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// A backward sequence step up to this is a reordered packet (RFC 3550 A.1).
pub const MAX_MISORDER: u16 = 100;
/// Sequence numbers remembered for duplicate detection.
const SEEN_WINDOW: i64 = 1024;

/// What became of a packet handed to [`JitterBuffer::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Its samples are in the buffer.
    Stored,
    /// Stored, and it began a new stream (first packet, new SSRC, or a jump).
    NewStream,
    /// Already had it.
    Duplicate,
    /// Its samples were already played.
    Late,
    /// From another SSRC while the current one is alive.
    Foreign,
    /// Far from the stream's timeline; dropped (a second one in a row
    /// starts a new stream).
    Stray,
    /// Not the payload type being received.
    WrongPayload,
    /// Its payload does not decode (a malformed Opus packet).
    Corrupt,
}

/// Counters of everything the buffer refused or did, for the summary.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Counters {
    pub packets: u64,
    pub duplicates: u64,
    pub late: u64,
    pub foreign: u64,
    pub strays: u64,
    pub wrong_payload: u64,
    /// Payloads that did not decode.
    pub corrupt: u64,
    /// New streams after the first.
    pub restarts: u64,
}

/// The source being received and its reception statistics.
#[derive(Debug, Clone)]
pub struct Stream {
    pub ssrc: u32,
    /// Where its packets come from (RTCP reports go to its SR's source, or
    /// here until one arrives).
    pub source: SocketAddr,
    /// Extended timestamp of its first packet.
    pub first_ts: i64,
    ts_ref: u32,
    ext_ts_ref: i64,
    /// Frames per tick of the RTP clock (G.722: 2).
    scale: i64,
    /// Highest extended sequence number seen, and the first one.
    pub max_seq: i64,
    pub base_seq: i64,
    /// Packets received, duplicates and late ones included (RFC 3550 A.3).
    pub received: u64,
    /// Interarrival jitter in timestamp units (RFC 3550 A.8).
    pub jitter: f64,
    last_transit: Option<i32>,
    pub last_arrival: Instant,
    /// Bitmap of the last [`SEEN_WINDOW`] extended sequence numbers.
    seen: [u64; (SEEN_WINDOW / 64) as usize],
}

impl Stream {
    /// The extended form of an RTP timestamp of this stream: the value
    /// nearest the last one stored, counted in frames (which for G.722 are
    /// two to a tick of its clock).
    pub fn extend_ts(&self, ts: u32) -> i64 {
        self.ext_ts_ref + ts.wrapping_sub(self.ts_ref) as i32 as i64 * self.scale
    }

    /// Packets expected from the first to the highest sequence number.
    pub fn expected(&self) -> i64 {
        self.max_seq - self.base_seq + 1
    }

    fn seen_bit(&mut self, ext_seq: i64) -> (usize, u64) {
        let i = ext_seq.rem_euclid(SEEN_WINDOW) as usize;
        (i / 64, 1u64 << (i % 64))
    }
}

/// See the module docs.
pub struct JitterBuffer {
    codec: Codec,
    channels: usize,
    /// Interleaved: frame `k` is `samples[k * channels..][..channels]`.
    samples: Vec<f32>,
    /// Per frame.
    valid: Vec<bool>,
    floor: i64,
    stream: Option<Stream>,
    generation: u64,
    /// Sequence number of the last stray packet, if the last packet was one.
    stray: Option<(u32, u16)>,
    decoder: Decoder,
    decoded: Vec<f32>,
    pub counters: Counters,
}

impl JitterBuffer {
    /// A buffer for `codec` at `rate` frames a second (what the codec
    /// decodes to), of `channels` interleaved channels.
    pub fn new(codec: Codec, rate: u32, channels: u16) -> JitterBuffer {
        let cap = rate as usize * BUFFER_SECONDS;
        let channels = channels.max(1) as usize;
        let decoder = Decoder::new(codec, channels as u16);
        JitterBuffer {
            codec,
            channels,
            samples: vec![0.0; cap * channels],
            valid: vec![false; cap],
            floor: 0,
            stream: None,
            generation: 0,
            stray: None,
            decoded: vec![0.0; Decoder::max_frames(codec) * channels],
            decoder,
            counters: Counters::default(),
        }
    }

    /// Frames the ring holds.
    pub fn capacity(&self) -> usize {
        self.valid.len()
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Bumped every time a new stream starts.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn stream(&self) -> Option<&Stream> {
        self.stream.as_ref()
    }

    /// Take a packet that arrived at `now` (`arrival_ts`: the arrival time
    /// in timestamp units, for the jitter estimate) from `from`.
    pub fn insert(
        &mut self,
        p: &Rtp<'_>,
        arrival_ts: u32,
        now: Instant,
        from: SocketAddr,
    ) -> Insert {
        if p.payload_type != self.codec.payload_type() {
            self.counters.wrong_payload += 1;
            return Insert::WrongPayload;
        }
        let ch = self.channels;
        // Whole frames only: a trailing partial frame is ignored.
        let n = self.decoder.frames_in(p.payload).unwrap_or(0);
        if n == 0 || n >= self.capacity() / 2 {
            self.counters.strays += 1;
            return Insert::Stray;
        }
        self.counters.packets += 1;
        let mut outcome = Insert::Stored;
        match &self.stream {
            None => {
                self.start_stream(p, now, from);
                outcome = Insert::NewStream;
            }
            Some(s) if s.ssrc != p.ssrc => {
                if now.duration_since(s.last_arrival) < STALE_AFTER {
                    self.counters.foreign += 1;
                    return Insert::Foreign;
                }
                self.start_stream(p, now, from);
                outcome = Insert::NewStream;
            }
            Some(s) => {
                let delta = p.seq.wrapping_sub(s.max_seq as u16);
                let seq_jump = (MAX_DROPOUT..=u16::MAX - MAX_MISORDER).contains(&delta);
                let ext_ts = s.extend_ts(p.timestamp);
                let cap = self.capacity() as i64;
                let ts_jump = ext_ts < self.floor - cap || ext_ts + n as i64 > self.floor + cap;
                if seq_jump || ts_jump {
                    let follows = self.stray == Some((p.ssrc, p.seq.wrapping_sub(1)));
                    if !follows {
                        self.stray = Some((p.ssrc, p.seq));
                        self.counters.strays += 1;
                        return Insert::Stray;
                    }
                    self.start_stream(p, now, from);
                    outcome = Insert::NewStream;
                }
            }
        }
        self.stray = None;

        let floor = self.floor;
        let s = self.stream.as_mut().expect("a stream was started above");
        s.last_arrival = now;
        s.received += 1;
        // RFC 3550 A.8: transit time differences, in timestamp units.
        let transit = arrival_ts.wrapping_sub(p.timestamp) as i32;
        if let Some(last) = s.last_transit {
            let d = transit.wrapping_sub(last).unsigned_abs() as f64;
            s.jitter += (d - s.jitter) / 16.0;
        }
        s.last_transit = Some(transit);

        let delta = p.seq.wrapping_sub(s.max_seq as u16);
        let ext_seq = if delta < MAX_DROPOUT {
            s.max_seq + delta as i64
        } else {
            s.max_seq - (u16::MAX - delta) as i64 - 1
        };
        if ext_seq <= s.max_seq - SEEN_WINDOW {
            self.counters.late += 1;
            return Insert::Late;
        }
        if ext_seq > s.max_seq {
            // Forget the sequence numbers that fall out of the window.
            for old in (s.max_seq + 1).max(ext_seq - SEEN_WINDOW + 1)..=ext_seq {
                let (w, b) = s.seen_bit(old);
                s.seen[w] &= !b;
            }
            s.max_seq = ext_seq;
        }
        let (w, b) = s.seen_bit(ext_seq);
        if s.seen[w] & b != 0 && outcome != Insert::NewStream {
            self.counters.duplicates += 1;
            return Insert::Duplicate;
        }
        s.seen[w] |= b;

        let ext_ts = s.extend_ts(p.timestamp);
        if ext_ts > s.ext_ts_ref {
            s.ts_ref = p.timestamp;
            s.ext_ts_ref = ext_ts;
        }
        let end = ext_ts + n as i64;
        if end <= floor {
            self.counters.late += 1;
            return Insert::Late;
        }
        // A stream codec refuses a packet behind what it decoded (its
        // audio was filled in already): late, too.
        let got = match self.decoder.decode(p.payload, ext_ts, &mut self.decoded) {
            Ok(got) => got,
            Err(Refused::Behind) => {
                self.counters.late += 1;
                return Insert::Late;
            }
            Err(Refused::Corrupt) => {
                self.counters.corrupt += 1;
                return Insert::Corrupt;
            }
        };
        let cap = self.capacity();
        for (i, frame) in self.decoded[..got.frames * ch].chunks_exact(ch).enumerate() {
            let pos = got.start + i as i64;
            if pos < floor {
                continue;
            }
            let k = pos.rem_euclid(cap as i64) as usize;
            self.samples[k * ch..(k + 1) * ch].copy_from_slice(frame);
            self.valid[k] = true;
        }
        outcome
    }

    fn start_stream(&mut self, p: &Rtp<'_>, now: Instant, from: SocketAddr) {
        if self.stream.is_some() {
            self.counters.restarts += 1;
        }
        self.generation += 1;
        self.valid.fill(false);
        self.decoder.reset();
        let scale = Decoder::frames_per_tick(self.codec);
        let ext_ts = p.timestamp as i64 * scale;
        self.floor = ext_ts;
        self.stream = Some(Stream {
            ssrc: p.ssrc,
            source: from,
            first_ts: ext_ts,
            ts_ref: p.timestamp,
            ext_ts_ref: ext_ts,
            scale,
            max_seq: p.seq as i64,
            base_seq: p.seq as i64,
            received: 0,
            jitter: 0.0,
            last_transit: None,
            last_arrival: now,
            seen: [0; (SEEN_WINDOW / 64) as usize],
        });
    }

    /// The frames at extended timestamps `pos..`, interleaved, as many as
    /// `out` holds (`out.len()` a multiple of the channels); NaN for each
    /// frame that is missing (never arrived, or already consumed).
    pub fn read(&self, pos: i64, out: &mut [f32]) {
        let ch = self.channels;
        let cap = self.capacity() as i64;
        for (i, o) in out.chunks_mut(ch).enumerate() {
            let p = pos + i as i64;
            let k = p.rem_euclid(cap) as usize;
            if p >= self.floor && p < self.floor + cap && self.valid[k] {
                o.copy_from_slice(&self.samples[k * ch..k * ch + o.len()]);
            } else {
                o.fill(f32::NAN);
            }
        }
    }

    /// Everything below `upto` has been played: forget it, and refuse
    /// packets for it from now on.
    pub fn consume(&mut self, upto: i64) {
        if upto <= self.floor {
            return;
        }
        let cap = self.capacity() as i64;
        if upto - self.floor >= cap {
            self.valid.fill(false);
        } else {
            for p in self.floor..upto {
                self.valid[p.rem_euclid(cap) as usize] = false;
            }
        }
        self.floor = upto;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "127.0.0.1:9";

    fn pkt(ssrc: u32, seq: u16, ts: u32, payload: &[u8]) -> Rtp<'_> {
        Rtp {
            ssrc,
            seq,
            timestamp: ts,
            payload_type: 96,
            payload,
        }
    }

    /// A 4-sample L16 payload whose samples are `base`, `base + 1`, ...
    /// (in units of 1/32768).
    fn payload(base: i16) -> Vec<u8> {
        (0..4).flat_map(|i| (base + i).to_be_bytes()).collect()
    }

    fn read(jb: &JitterBuffer, pos: i64, n: usize) -> Vec<Option<i16>> {
        let mut out = vec![0.0; n];
        jb.read(pos, &mut out);
        out.iter()
            .map(|v| (!v.is_nan()).then(|| (v * 32768.0) as i16))
            .collect()
    }

    #[test]
    fn reorders_drops_duplicates_and_late_packets() {
        let mut jb = JitterBuffer::new(Codec::L16, 8000, 1);
        let now = Instant::now();
        let from = ADDR.parse().unwrap();
        let (a, b, c) = (payload(10), payload(20), payload(30));
        // ts wraps across these packets; seq too.
        let t0 = u32::MAX - 5;
        assert_eq!(
            jb.insert(&pkt(1, 65535, t0, &a), 0, now, from),
            Insert::NewStream
        );
        assert_eq!(
            jb.insert(&pkt(1, 1, t0.wrapping_add(8), &c), 0, now, from),
            Insert::Stored
        );
        assert_eq!(
            jb.insert(&pkt(1, 0, t0.wrapping_add(4), &b), 0, now, from),
            Insert::Stored
        );
        assert_eq!(
            jb.insert(&pkt(1, 0, t0.wrapping_add(4), &b), 0, now, from),
            Insert::Duplicate
        );
        let start = t0 as i64;
        let got = read(&jb, start, 13);
        let want: Vec<Option<i16>> = [10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33]
            .into_iter()
            .map(Some)
            .chain([None])
            .collect();
        assert_eq!(got, want);
        let s = jb.stream().unwrap();
        assert_eq!((s.max_seq, s.base_seq, s.received), (65536 + 1, 65535, 4));
        assert_eq!(s.expected(), 3);
        // Played up to the middle of the last packet: a resend of it is
        // partly late, an older one wholly.
        jb.consume(start + 10);
        assert_eq!(
            read(&jb, start + 8, 4),
            vec![None, None, Some(32), Some(33)]
        );
        assert_eq!(
            jb.insert(&pkt(1, 65534, t0.wrapping_sub(4), &a), 0, now, from),
            Insert::Late
        );
        assert_eq!(jb.counters.duplicates, 1);
        // A gap (loss) leaves NaNs.
        jb.insert(&pkt(1, 3, t0.wrapping_add(16), &a), 0, now, from);
        assert_eq!(read(&jb, start + 12, 8)[..4], [None; 4]);
        // Duplicates and late packets count as received (RFC 3550 A.3).
        let s = jb.stream().unwrap();
        assert_eq!(s.expected() - s.received as i64, -1);
    }

    #[test]
    fn a_new_ssrc_takes_over_only_when_the_old_one_is_silent() {
        let mut jb = JitterBuffer::new(Codec::L16, 8000, 1);
        let t = Instant::now();
        let from = ADDR.parse().unwrap();
        let p = payload(1);
        jb.insert(&pkt(1, 100, 1000, &p), 0, t, from);
        assert_eq!(
            jb.insert(&pkt(2, 7, 5, &p), 0, t + Duration::from_millis(10), from),
            Insert::Foreign
        );
        assert_eq!(jb.generation(), 1);
        let later = t + STALE_AFTER + Duration::from_millis(1);
        assert_eq!(
            jb.insert(&pkt(2, 7, 5, &p), 0, later, from),
            Insert::NewStream
        );
        assert_eq!(jb.generation(), 2);
        assert_eq!(jb.stream().unwrap().ssrc, 2);
        assert_eq!(read(&jb, 5, 1), vec![Some(1)]);
        assert_eq!(jb.counters.restarts, 1);
    }

    #[test]
    fn a_jump_needs_two_packets_in_a_row() {
        let mut jb = JitterBuffer::new(Codec::L16, 8000, 1);
        let t = Instant::now();
        let from = ADDR.parse().unwrap();
        let p = payload(1);
        jb.insert(&pkt(1, 100, 1000, &p), 0, t, from);
        // A timestamp far away, once: a stray.
        assert_eq!(
            jb.insert(&pkt(1, 101, 9_000_000, &p), 0, t, from),
            Insert::Stray
        );
        assert_eq!(
            jb.insert(&pkt(1, 102, 1008, &p), 0, t, from),
            Insert::Stored
        );
        // A sequence jump twice in a row: a new timeline.
        assert_eq!(
            jb.insert(&pkt(1, 20000, 2_000_000, &p), 0, t, from),
            Insert::Stray
        );
        assert_eq!(
            jb.insert(&pkt(1, 20001, 2_000_004, &p), 0, t, from),
            Insert::NewStream
        );
        assert_eq!(jb.generation(), 2);
        assert_eq!(read(&jb, 2_000_004, 1), vec![Some(1)]);
    }

    #[test]
    fn wrong_payload_type_is_refused() {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 8000, 1);
        let p = payload(1);
        let got = jb.insert(&pkt(1, 1, 1, &p), 0, Instant::now(), ADDR.parse().unwrap());
        assert_eq!(got, Insert::WrongPayload);
        assert!(jb.stream().is_none());
    }

    #[test]
    fn stereo_frames_stay_together() {
        let mut jb = JitterBuffer::new(Codec::L16, 8000, 2);
        let now = Instant::now();
        let from = ADDR.parse().unwrap();
        // Two frames per packet: (L, R) = (base, -base), (base + 1, -base - 1).
        let frames = |base: i16| -> Vec<u8> {
            [base, -base, base + 1, -base - 1]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect()
        };
        let (a, c) = (frames(10), frames(30));
        jb.insert(&pkt(1, 1, 100, &a), 0, now, from);
        // Packet 2 (timestamps 102, 103) is lost; packet 3 carries a stray
        // odd byte, which is ignored.
        let mut c_odd = c.clone();
        c_odd.push(0x7f);
        assert_eq!(
            jb.insert(&pkt(1, 3, 104, &c_odd), 0, now, from),
            Insert::Stored
        );
        let mut out = vec![0.0; 12];
        jb.read(100, &mut out);
        let got: Vec<Option<i16>> = out
            .iter()
            .map(|v| (!v.is_nan()).then(|| (v * 32768.0).round() as i16))
            .collect();
        assert_eq!(
            got,
            [
                Some(10),
                Some(-10),
                Some(11),
                Some(-11),
                None,
                None,
                None,
                None,
                Some(30),
                Some(-30),
                Some(31),
                Some(-31),
            ]
        );
        assert_eq!(jb.capacity(), 8000 * BUFFER_SECONDS);
        // A payload shorter than one frame is not audio.
        assert_eq!(
            jb.insert(&pkt(1, 4, 106, &[0, 1]), 0, now, from),
            Insert::Stray
        );
        jb.consume(102);
        jb.read(100, &mut out[..4]);
        assert!(out[..4].iter().all(|v| v.is_nan()), "consumed");
    }
}
