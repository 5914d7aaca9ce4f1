//! A WAV stream read as it comes: what `arecord`, `sox` and `ffmpeg` write
//! into a pipe.
//!
//! A program writing WAV into a pipe cannot go back to fill in the lengths
//! in the header, so it writes a guess (ffmpeg `0xFFFFFFFF`, sox
//! `0x7FFFF000`, arecord its maximum). Readers of files (hound, symphonia)
//! rightly refuse such a header or read up to the claimed length; here the
//! data chunk's length is only an upper bound and the stream's end is the
//! end. PCM (8, 16, 24, 32-bit), 32-bit float and their
//! `WAVE_FORMAT_EXTENSIBLE` forms are read, as 16-bit samples.

use std::io::{self, Read};

/// The stream's format, from its `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    pub rate: u32,
    pub channels: u16,
    pub bits: u16,
    pub float: bool,
}

/// Samples of a WAV stream (see the module docs).
pub struct WavStream<R> {
    input: R,
    format: WavFormat,
    /// Bytes of the data chunk left by its header's claim.
    left: u64,
}

/// Chunks before `data` larger than this are refused: a header is small.
const MAX_CHUNK: u32 = 1 << 20;

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<R: Read> WavStream<R> {
    /// Read the header up to the first sample. Errors (one line): not RIFF
    /// WAVE, no `fmt ` before `data`, a format that is not PCM or float.
    pub fn open(mut input: R) -> io::Result<WavStream<R>> {
        let mut riff = [0u8; 12];
        input
            .read_exact(&mut riff)
            .map_err(|_| bad("too short for a WAV header"))?;
        if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
            return Err(bad("no RIFF WAVE header"));
        }
        let mut format = None;
        loop {
            let mut head = [0u8; 8];
            input
                .read_exact(&mut head)
                .map_err(|_| bad("the header ended before the data chunk"))?;
            let len = u32_at(&head, 4);
            if &head[0..4] == b"data" {
                let format = format.ok_or_else(|| bad("a data chunk before the fmt chunk"))?;
                return Ok(WavStream {
                    input,
                    format,
                    left: u64::from(len),
                });
            }
            if len > MAX_CHUNK {
                return Err(bad(format!(
                    "a {len}-byte `{}` chunk before the data",
                    String::from_utf8_lossy(&head[0..4])
                )));
            }
            // Chunks are padded to an even length.
            let mut body = vec![0u8; (len + (len & 1)) as usize];
            input
                .read_exact(&mut body)
                .map_err(|_| bad("the header ended inside a chunk"))?;
            if &head[0..4] == b"fmt " {
                format = Some(parse_fmt(&body[..len as usize])?);
            }
        }
    }

    pub fn format(&self) -> WavFormat {
        self.format
    }

    /// The next sample as 16-bit; `None` at the end of the stream (or of
    /// the data its header claimed).
    pub fn next_sample(&mut self) -> Option<io::Result<i16>> {
        let width = usize::from(self.format.bits / 8);
        if (self.left as usize) < width {
            return None;
        }
        let mut b = [0u8; 4];
        match self.input.read_exact(&mut b[..width]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return None,
            Err(e) => return Some(Err(e)),
        }
        self.left -= width as u64;
        let s = match (self.format.float, width) {
            (true, _) => {
                let v = f32::from_le_bytes(b);
                (v.clamp(-1.0, 1.0) * 32767.0).round() as i16
            }
            (false, 1) => (i16::from(b[0]) - 128) << 8,
            (false, 2) => i16::from_le_bytes([b[0], b[1]]),
            (false, 3) => i16::from_le_bytes([b[1], b[2]]),
            (false, _) => i16::from_le_bytes([b[2], b[3]]),
        };
        Some(Ok(s))
    }
}

fn parse_fmt(f: &[u8]) -> io::Result<WavFormat> {
    if f.len() < 16 {
        return Err(bad("the fmt chunk is too short"));
    }
    let mut tag = u16_at(f, 0);
    if tag == 0xFFFE {
        // WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID.
        if f.len() < 26 {
            return Err(bad("the extensible fmt chunk is too short"));
        }
        tag = u16_at(f, 24);
    }
    let channels = u16_at(f, 2);
    let rate = u32_at(f, 4);
    let bits = u16_at(f, 14);
    let float = match (tag, bits) {
        (1, 8 | 16 | 24 | 32) => false,
        (3, 32) => true,
        _ => {
            return Err(bad(format!(
                "format {tag} with {bits}-bit samples: only PCM and 32-bit float are read"
            )))
        }
    };
    if channels == 0 {
        return Err(bad("the fmt chunk says 0 channels"));
    }
    // A rate of 0 would divide by zero in the resampler; above 384 kHz no
    // sound card or program that feeds a page records.
    if !(1..=384_000).contains(&rate) {
        return Err(bad(format!(
            "the fmt chunk says {rate} Hz: only 1 to 384000 Hz is read"
        )));
    }
    Ok(WavFormat {
        rate,
        channels,
        bits,
        float,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(tag: u16, channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
        let mut h = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
        h.extend(b"LIST\x04\x00\x00\x00INFO");
        h.extend(b"fmt \x10\x00\x00\x00");
        h.extend(tag.to_le_bytes());
        h.extend(channels.to_le_bytes());
        h.extend(rate.to_le_bytes());
        h.extend((rate * u32::from(channels * bits / 8)).to_le_bytes());
        h.extend((channels * bits / 8).to_le_bytes());
        h.extend(bits.to_le_bytes());
        h.extend(b"data");
        h.extend(data_len.to_le_bytes());
        h
    }

    fn all(mut w: WavStream<&[u8]>) -> Vec<i16> {
        std::iter::from_fn(|| w.next_sample().map(|r| r.unwrap())).collect()
    }

    #[test]
    fn a_pipe_header_reads_to_the_end_of_the_stream() {
        let mut b = header(1, 1, 16_000, 16, u32::MAX);
        for s in [0i16, 1000, -1000, i16::MAX, i16::MIN] {
            b.extend(s.to_le_bytes());
        }
        let w = WavStream::open(&b[..]).unwrap();
        assert_eq!(
            w.format(),
            WavFormat {
                rate: 16_000,
                channels: 1,
                bits: 16,
                float: false
            }
        );
        assert_eq!(all(w), [0, 1000, -1000, i16::MAX, i16::MIN]);
    }

    #[test]
    fn a_true_length_is_kept_and_other_widths_become_16_bit() {
        let mut b = header(1, 2, 8000, 24, 6);
        b.extend([0x00, 0x00, 0x40, 0x00, 0x00, 0xC0, 0xAA, 0xBB, 0xCC]);
        assert_eq!(all(WavStream::open(&b[..]).unwrap()), [0x4000, -0x4000]);
        let mut f = header(3, 1, 8000, 32, u32::MAX);
        for v in [0.5f32, -1.5] {
            f.extend(v.to_le_bytes());
        }
        assert_eq!(all(WavStream::open(&f[..]).unwrap()), [16384, -32767]);
    }

    #[test]
    fn what_is_not_a_wav_stream_is_one_clear_line() {
        let cases: [(&[u8], &str); 6] = [
            (b"not a wav", "too short for a WAV header"),
            (b"RIFF\0\0\0\0AVI LIST", "no RIFF WAVE header"),
            (
                &header(85, 1, 8000, 16, 0),
                "format 85 with 16-bit samples: only PCM and 32-bit float are read",
            ),
            (
                &header(1, 1, 0, 16, 0),
                "the fmt chunk says 0 Hz: only 1 to 384000 Hz is read",
            ),
            (&header(1, 0, 8000, 16, 0), "the fmt chunk says 0 channels"),
            (
                b"RIFF\0\0\0\0WAVEdata\0\0\0\0",
                "a data chunk before the fmt chunk",
            ),
        ];
        for (bytes, want) in cases {
            let e = WavStream::open(bytes).err().unwrap();
            assert_eq!(e.to_string(), want);
        }
        let mut huge = b"RIFF\0\0\0\0WAVEjunk".to_vec();
        huge.extend(u32::MAX.to_le_bytes());
        let e = WavStream::open(&huge[..]).err().unwrap();
        assert_eq!(
            e.to_string(),
            "a 4294967295-byte `junk` chunk before the data"
        );
    }
}
