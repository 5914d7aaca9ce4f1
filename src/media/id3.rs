//! A check of ID3v2 tags before symphonia reads them.
//!
//! While it looks for the format, symphonia's probe reads every ID3v2 tag
//! it meets in the first MiB, and allocates the size a frame claims before
//! reading it: a 5 KB file with a frame claiming 4 GB made it allocate
//! 4 GB (found by the `decode` fuzz target). Here every frame of such a tag
//! must fit in the tag, and the tag is cut to the file.
//!
//! The scan stops at the first byte pair that could start a format symphonia
//! knows (an MPEG audio frame sync, `fLaC`, `RIFF`, `OggS`, `ftyp`), as the
//! probe would: audio data that happens to hold `ID3` is never judged.

use std::io::{Read, Seek, SeekFrom};

/// How far symphonia's probe searches.
const PROBE_SEARCH_LIMIT: u64 = 1 << 20;

/// A stream the probe would find after the tags, whose headers the caller
/// checks in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `fLaC` at this byte: for [`super::flac::check_metadata`].
    Flac(u64),
    /// An MP4 `ftyp` atom starting at this byte: for
    /// [`super::mp4::check_atoms_from`].
    Mp4(u64),
}

/// `Err` with a one-line reason when an ID3v2 tag that the probe would
/// read has a frame claiming more bytes than the tag holds. `Ok(Some(..))`
/// when the probe would then find a FLAC or MP4 stream (after any tags),
/// and where. Leaves `file` at any position.
pub fn check_tags<R: Read + Seek>(file: &mut R) -> Result<Option<Stream>, String> {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return Ok(None);
    };
    let head_len = len.min(PROBE_SEARCH_LIMIT + 10) as usize;
    let mut head = vec![0u8; head_len];
    if file.seek(SeekFrom::Start(0)).is_err() || file.read_exact(&mut head).is_err() {
        return Ok(None);
    }
    let mut i = 0usize;
    while i + 4 <= head.len() && (i as u64) < PROBE_SEARCH_LIMIT {
        let w = &head[i..];
        let sync = w[0] == 0xff && w[1] & 0xe0 == 0xe0;
        if w.starts_with(b"fLaC") {
            return Ok(Some(Stream::Flac(i as u64)));
        }
        if w.starts_with(b"ftyp") && i >= 4 {
            // The atom's size comes first.
            return Ok(Some(Stream::Mp4(i as u64 - 4)));
        }
        if sync
            || [&b"RIFF"[..], b"OggS", b"ftyp"]
                .iter()
                .any(|m| w.starts_with(m))
        {
            return Ok(None);
        }
        if w.len() >= 10
            && w.starts_with(b"ID3")
            && (2..=4).contains(&w[3])
            && w[6..10].iter().all(|&b| b < 0x80)
        {
            let size = w[6..10].iter().fold(0usize, |s, &b| (s << 7) | b as usize);
            // The tag's body as far as the file holds it (from `len`, not
            // from the part read here).
            let end = (i as u64 + 10 + size as u64).min(len);
            let body_len = (end - (i as u64 + 10)) as usize;
            check_frames(file, i as u64 + 10, body_len, w[3], w[5])?;
            i += 10 + size;
            continue;
        }
        i += 1;
    }
    Ok(None)
}

/// The frames of a tag of version `version` and flags `flags` whose body
/// is `body_len` bytes at byte `at`.
fn check_frames<R: Read + Seek>(
    file: &mut R,
    at: u64,
    body_len: usize,
    version: u8,
    flags: u8,
) -> Result<(), String> {
    if flags & 0x40 != 0 {
        // An extended header: rare; its frames are not walked here.
        return Ok(());
    }
    let header_len = if version == 2 { 6 } else { 10 };
    let mut pos = 0usize;
    while pos + header_len <= body_len {
        let mut h = [0u8; 10];
        if file.seek(SeekFrom::Start(at + pos as u64)).is_err()
            || file.read_exact(&mut h[..header_len]).is_err()
        {
            return Ok(());
        }
        let id_len = if version == 2 { 3 } else { 4 };
        if !h[..id_len]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            // Padding, or not a frame: symphonia stops here too.
            return Ok(());
        }
        let size = match version {
            2 => u32::from_be_bytes([0, h[3], h[4], h[5]]) as usize,
            3 => u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize,
            _ => h[4..8]
                .iter()
                .fold(0usize, |s, &b| (s << 7) | (b & 0x7f) as usize),
        };
        let left = body_len - pos - header_len;
        if size > left {
            return Err(format!(
                "damaged ID3v2 tag: frame `{}` at byte {} claims {size} bytes, {left} remain in the tag",
                String::from_utf8_lossy(&h[..id_len]),
                at + pos as u64
            ));
        }
        pos += header_len + size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tag_v3(frame_size: u32, data: &[u8]) -> Vec<u8> {
        let mut frame = b"TSSE".to_vec();
        frame.extend_from_slice(&frame_size.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(data);
        let n = frame.len();
        let mut v = b"ID3\x03\x00\x00".to_vec();
        v.extend_from_slice(&[
            (n >> 21) as u8 & 0x7f,
            (n >> 14) as u8 & 0x7f,
            (n >> 7) as u8 & 0x7f,
            n as u8 & 0x7f,
        ]);
        v.extend_from_slice(&frame);
        v
    }

    #[test]
    fn frames_must_fit_in_their_tag() {
        let good = tag_v3(4, b"Lavf");
        assert_eq!(check_tags(&mut Cursor::new(&good)), Ok(None));
        let bad = tag_v3(0xfffa_6f00, b"Lavf");
        let e = check_tags(&mut Cursor::new(&bad)).unwrap_err();
        assert!(
            e.contains("frame `TSSE`") && e.contains("claims 4294602496 bytes"),
            "{e}"
        );
        // After an MPEG frame sync the probe has found its format: a bad
        // tag further on is audio data, not judged.
        let mut after_sync = vec![0xff, 0xfb, 0x90, 0x00];
        after_sync.extend_from_slice(&bad);
        assert_eq!(check_tags(&mut Cursor::new(&after_sync)), Ok(None));
        // A FLAC stream after a good tag: where it starts.
        let mut flac = good.clone();
        flac.extend_from_slice(b"fLaC\x80\0\0\0");
        assert_eq!(
            check_tags(&mut Cursor::new(&flac)),
            Ok(Some(Stream::Flac(good.len() as u64)))
        );
        // An MP4 file after a good tag: where its first atom starts.
        let mut mp4 = good.clone();
        mp4.extend_from_slice(b"\0\0\0\x10ftypM4A \0\0\0\0");
        assert_eq!(
            check_tags(&mut Cursor::new(&mp4)),
            Ok(Some(Stream::Mp4(good.len() as u64)))
        );
    }
}
