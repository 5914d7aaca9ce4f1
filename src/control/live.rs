//! The audio of a live page on the control socket.
//!
//! After the daemon accepts a `page_live` request (its first progress line,
//! `queued`), the same connection carries the page's audio from the client
//! to the daemon as frames: a little-endian `u16` count of samples, then
//! that many signed 16-bit little-endian mono samples at the rate the
//! request named. A count of 0 ends the page cleanly; the connection
//! closing without it (the client died) ends it too. Replies keep coming
//! the other way as JSON lines.
//!
//! Frames are small so that each reaches the daemon as soon as it is
//! captured; [`MAX_FRAME_SAMPLES`] bounds what the daemon buffers for one.

/// Most samples in one frame (85 ms at 48 kHz).
pub const MAX_FRAME_SAMPLES: usize = 4096;

/// Most samples a second a live page may carry (mono).
pub const MAX_LIVE_RATE: u32 = 48_000;

/// A frame's bytes: its header and samples.
pub fn encode_frame(samples: &[i16], out: &mut Vec<u8>) {
    debug_assert!(samples.len() <= MAX_FRAME_SAMPLES);
    let n = samples.len().min(MAX_FRAME_SAMPLES);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for s in &samples[..n] {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// The end-of-page frame.
pub const END_FRAME: [u8; 2] = [0, 0];

/// What the reader found in the bytes given so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `n` samples are ready in [`FrameReader::samples`].
    Samples(usize),
    /// The client ended the page.
    End,
}

/// The stream's framing was broken: the connection is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a live page frame of {0} samples (at most {MAX_FRAME_SAMPLES})")]
pub struct BadFrame(pub usize);

/// Reads frames from bytes as they arrive, in pieces of any size, with a
/// fixed buffer (no allocation after it is made).
#[derive(Debug)]
pub struct FrameReader {
    /// Header bytes seen of the frame in progress (0..=2) and its count.
    header: [u8; 2],
    header_len: usize,
    /// Samples the current frame still needs; `None` while reading a header.
    expect: Option<usize>,
    /// A sample split across two pieces: its first byte.
    half: Option<u8>,
    samples: Vec<i16>,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader {
            header: [0; 2],
            header_len: 0,
            expect: None,
            half: None,
            samples: Vec::with_capacity(MAX_FRAME_SAMPLES),
        }
    }
}

impl FrameReader {
    /// The samples of the last [`Frame::Samples`].
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Take bytes from the front of `input` until a frame completes (or the
    /// input is used up). Returns how many bytes were taken and the frame,
    /// if one completed: call again with the rest.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Frame>), BadFrame> {
        let mut used = 0;
        if self.expect.is_none() {
            if self.header_len == 0 {
                // A new frame: the previous one's samples are done with.
                self.samples.clear();
            }
            while self.header_len < 2 && used < input.len() {
                self.header[self.header_len] = input[used];
                self.header_len += 1;
                used += 1;
            }
            if self.header_len < 2 {
                return Ok((used, None));
            }
            let n = u16::from_le_bytes(self.header) as usize;
            self.header_len = 0;
            if n == 0 {
                return Ok((used, Some(Frame::End)));
            }
            if n > MAX_FRAME_SAMPLES {
                return Err(BadFrame(n));
            }
            self.expect = Some(n);
        }
        let want = self.expect.unwrap_or(0);
        while self.samples.len() < want && used < input.len() {
            match self.half.take() {
                Some(lo) => {
                    self.samples.push(i16::from_le_bytes([lo, input[used]]));
                    used += 1;
                }
                None if used + 1 < input.len() => {
                    self.samples
                        .push(i16::from_le_bytes([input[used], input[used + 1]]));
                    used += 2;
                }
                None => {
                    self.half = Some(input[used]);
                    used += 1;
                }
            }
        }
        if self.samples.len() == want {
            self.expect = None;
            return Ok((used, Some(Frame::Samples(want))));
        }
        Ok((used, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8], piece: usize) -> Result<Vec<Vec<i16>>, BadFrame> {
        let mut r = FrameReader::default();
        let mut out = Vec::new();
        for mut p in bytes.chunks(piece) {
            while !p.is_empty() {
                let (used, f) = r.feed(p)?;
                p = &p[used..];
                match f {
                    Some(Frame::Samples(n)) => {
                        assert_eq!(n, r.samples().len());
                        out.push(r.samples().to_vec())
                    }
                    Some(Frame::End) => return Ok(out),
                    None => assert!(p.is_empty()),
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn frames_come_back_whatever_the_pieces() {
        let a: Vec<i16> = (0..300).map(|i| i * 97 - 14_000).collect();
        let b: Vec<i16> = vec![-32768, 32767, 1];
        let mut bytes = Vec::new();
        encode_frame(&a, &mut bytes);
        encode_frame(&b, &mut bytes);
        bytes.extend_from_slice(&END_FRAME);
        bytes.extend_from_slice(b"ignored after the end");
        for piece in [1, 2, 3, 7, 601, 10_000] {
            assert_eq!(frames(&bytes, piece).unwrap(), vec![a.clone(), b.clone()]);
        }
    }

    #[test]
    fn an_oversized_frame_is_refused() {
        let bytes = 5000u16.to_le_bytes();
        assert_eq!(frames(&bytes, 2), Err(BadFrame(5000)));
    }
}
