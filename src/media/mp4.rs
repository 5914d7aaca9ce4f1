//! The edit list of an MP4/M4A audio track: which stretch of the decoded
//! samples is the real audio.
//!
//! AAC encoders put priming samples before the audio (1024 with ffmpeg and
//! Apple's encoders) and pad the last frame; the MP4 edit list (`elst`)
//! says what to skip and how long the presentation is. symphonia 0.5 reads
//! the atom but does not apply it, so without this an M4A starts ~23 ms late
//! and runs ~45 ms long. (If a later symphonia applies edit lists itself,
//! this module must go, or the trim is applied twice.)

use std::io::{Read, Seek, SeekFrom};

/// The one edit of an audio track, in seconds as exact fractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditList {
    /// Media time where presentation starts, in `media_timescale` units.
    pub media_start: u64,
    pub media_timescale: u32,
    /// Presentation length, in `movie_timescale` units.
    pub duration: u64,
    pub movie_timescale: u32,
}

impl EditList {
    /// Source frames to skip at `rate` Hz.
    pub fn skip_frames(&self, rate: u32) -> u64 {
        scale(self.media_start, rate, self.media_timescale)
    }

    /// Source frames to keep after the skipped ones, at `rate` Hz.
    pub fn keep_frames(&self, rate: u32) -> u64 {
        scale(self.duration, rate, self.movie_timescale)
    }

    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.duration as f64 / self.movie_timescale as f64)
    }
}

fn scale(value: u64, rate: u32, timescale: u32) -> u64 {
    let v = value as u128 * rate as u128;
    ((v + timescale as u128 / 2) / timescale as u128) as u64
}

/// The largest `moov` atom we read into memory.
const MAX_MOOV_BYTES: u64 = 64 << 20;

/// The edit list of the first sound track of the MP4 file read from `file`,
/// when it is an MP4 file and the track has exactly one non-empty edit at
/// normal rate. Any doubt (other files, unusual lists, damaged atoms) gives
/// `None`: then nothing is trimmed. Leaves `file` at any position.
pub fn edit_list<R: Read + Seek>(file: &mut R) -> Option<EditList> {
    let len = file.seek(SeekFrom::End(0)).ok()?;
    let mut pos = 0u64;
    let mut first = true;
    while pos + 8 <= len {
        file.seek(SeekFrom::Start(pos)).ok()?;
        let mut hdr = [0u8; 16];
        file.read_exact(&mut hdr[..8]).ok()?;
        let kind: [u8; 4] = hdr[4..8].try_into().ok()?;
        if first && &kind != b"ftyp" {
            return None;
        }
        first = false;
        let (size, header_len) = match u32::from_be_bytes(hdr[..4].try_into().ok()?) {
            0 => (len - pos, 8),
            1 => {
                file.read_exact(&mut hdr[8..16]).ok()?;
                (u64::from_be_bytes(hdr[8..16].try_into().ok()?), 16)
            }
            n => (n as u64, 8),
        };
        if size < header_len || pos.checked_add(size)? > len {
            return None;
        }
        if &kind == b"moov" {
            let body = size - header_len;
            if body > MAX_MOOV_BYTES {
                return None;
            }
            let mut moov = vec![0u8; body as usize];
            file.read_exact(&mut moov).ok()?;
            return parse_moov(&moov);
        }
        pos += size;
    }
    None
}

/// Atoms whose bodies are only child atoms, as symphonia descends into
/// them while it reads `moov`.
const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"edts", b"mdia", b"minf", b"stbl", b"dinf", b"mvex", b"udta",
];

/// Check, before symphonia reads it, that every atom in the `moov` of an MP4
/// file fits inside its parent and inside the file. symphonia 0.5 allocates
/// an atom's claimed size before reading it: a 1.6 KB file whose `hdlr`
/// claimed 3 GB made it allocate 3 GB (found by the `decode` fuzz target),
/// and a bigger claim would abort the process. Files that are not MP4, and
/// a `moov` over [`MAX_MOOV_BYTES`], are not checked. Leaves `file` at any
/// position.
pub fn check_atoms<R: Read + Seek>(file: &mut R) -> Result<(), String> {
    check_atoms_from(file, 0)
}

/// [`check_atoms`] for an MP4 file that starts at byte `start` (after an
/// ID3v2 tag, where symphonia's probe finds it too).
pub fn check_atoms_from<R: Read + Seek>(file: &mut R, start: u64) -> Result<(), String> {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return Ok(());
    };
    let mut pos = start;
    let mut first = true;
    while pos + 8 <= len {
        let mut hdr = [0u8; 16];
        if file.seek(SeekFrom::Start(pos)).is_err() || file.read_exact(&mut hdr[..8]).is_err() {
            return Ok(());
        }
        let kind: [u8; 4] = hdr[4..8].try_into().expect("4 bytes");
        if first && &kind != b"ftyp" {
            return Ok(());
        }
        first = false;
        let (size, header_len) = match u32::from_be_bytes(hdr[..4].try_into().expect("4 bytes")) {
            0 => (len - pos, 8),
            1 => {
                if file.read_exact(&mut hdr[8..16]).is_err() {
                    return Ok(());
                }
                (
                    u64::from_be_bytes(hdr[8..16].try_into().expect("8 bytes")),
                    16,
                )
            }
            n => (n as u64, 8),
        };
        if size < header_len {
            return Err(format!("damaged MP4: atom at byte {pos} has size {size}"));
        }
        if &kind == b"moov" {
            // What the file holds of it, if the claim runs past the end.
            let avail = (size - header_len).min(len - pos - header_len);
            if avail > MAX_MOOV_BYTES {
                return Ok(());
            }
            let mut moov = vec![0u8; avail as usize];
            if file.read_exact(&mut moov).is_err() {
                return Ok(());
            }
            return check_children(&moov, pos + header_len, 0, len);
        }
        // Other top-level atoms (`mdat` above all) may run past the end of
        // a truncated file: symphonia streams them.
        pos = pos.saturating_add(size);
    }
    Ok(())
}

/// Every child atom of `body` (at byte `at` of the file) fits in it;
/// recursively for the containers. Sample sizes in `stsz` must fit in the
/// file (`file_len` bytes): symphonia allocates each sample's size.
fn check_children(mut body: &[u8], mut at: u64, depth: u32, file_len: u64) -> Result<(), String> {
    if depth > 16 {
        return Err(format!("damaged MP4: atoms nested too deep at byte {at}"));
    }
    while body.len() >= 8 {
        let kind = &body[4..8];
        let name = String::from_utf8_lossy(kind).into_owned();
        let (size, header_len) = match u32::from_be_bytes(body[..4].try_into().expect("4 bytes")) {
            0 => (body.len() as u64, 8),
            1 if body.len() >= 16 => (
                u64::from_be_bytes(body[8..16].try_into().expect("8 bytes")),
                16,
            ),
            1 => {
                return Err(format!(
                    "damaged MP4: atom `{name}` at byte {at} is cut off"
                ))
            }
            n => (n as u64, 8),
        };
        if size < header_len || size > body.len() as u64 {
            return Err(format!(
                "damaged MP4: atom `{name}` at byte {at} claims {size} bytes, {} remain where it is",
                body.len()
            ));
        }
        let (size, header_len) = (size as usize, header_len as usize);
        if CONTAINERS.iter().any(|c| &c[..] == kind) {
            check_children(
                &body[header_len..size],
                at + header_len as u64,
                depth + 1,
                file_len,
            )?;
        }
        if kind == b"stsz" {
            check_sample_sizes(&body[header_len..size], at, file_len)?;
        }
        check_table(&name, &body[header_len..size], at)?;
        body = &body[size..];
        at += size as u64;
    }
    Ok(())
}

/// Bytes per entry of the sample tables whose body is a version and flags,
/// an entry count, then the entries: symphonia reserves room for the count
/// it reads before it reads the entries (an `stsc` claiming 2.9 billion
/// entries in a 1.5 KB file made it allocate 32 GB; found by the `decode`
/// fuzz target).
const TABLES: [(&str, u64); 6] = [
    ("stts", 8),
    ("ctts", 8),
    ("stsc", 12),
    ("stss", 4),
    ("stco", 4),
    ("co64", 8),
];

/// A sample table atom's (`kind`, body at byte `at`) entry count must fit
/// in its body; so must `stsz`'s sizes when they are listed.
fn check_table(kind: &str, body: &[u8], at: u64) -> Result<(), String> {
    let (count_at, entry) = match TABLES.iter().find(|(k, _)| *k == kind) {
        Some(&(_, entry)) => (4, entry),
        None if kind == "stsz" && be_u32(body, 4) == Some(0) => (8, 4),
        None => return Ok(()),
    };
    let Some(count) = be_u32(body, count_at) else {
        return Ok(());
    };
    let room = (body.len() as u64).saturating_sub(count_at as u64 + 4);
    if u64::from(count) * entry > room {
        return Err(format!(
            "damaged MP4: atom `{kind}` at byte {at} claims {count} entries, it holds {room} bytes"
        ));
    }
    Ok(())
}

/// The sample sizes of an `stsz` body (at byte `at`): none larger than the
/// file.
fn check_sample_sizes(stsz: &[u8], at: u64, file_len: u64) -> Result<(), String> {
    let Some(fixed) = be_u32(stsz, 4) else {
        return Ok(());
    };
    let sizes = stsz.get(12..).unwrap_or_default().chunks_exact(4);
    let largest = if fixed != 0 {
        fixed
    } else {
        sizes
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
            .max()
            .unwrap_or(0)
    };
    if u64::from(largest) > file_len {
        return Err(format!(
            "damaged MP4: atom `stsz` at byte {at} gives a sample of {largest} bytes, the file has {file_len}"
        ));
    }
    Ok(())
}

/// Child atoms of an atom body: (type, body).
fn atoms(mut data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let size32 = u32::from_be_bytes(data[..4].try_into().ok()?);
        let (size, header_len) = match size32 {
            0 => (data.len(), 8),
            1 if data.len() >= 16 => (
                usize::try_from(u64::from_be_bytes(data[8..16].try_into().ok()?)).ok()?,
                16,
            ),
            1 => return None,
            n => (n as usize, 8),
        };
        if size < header_len || size > data.len() {
            return None;
        }
        let kind = &data[4..8];
        let body = &data[header_len..size];
        data = &data[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    atoms(data).find(|(k, _)| *k == kind).map(|(_, b)| b)
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Timescale of an `mvhd` or `mdhd` body (same layout up to it).
fn header_timescale(body: &[u8]) -> Option<u32> {
    let ts = match body.first()? {
        0 => be_u32(body, 12)?,
        1 => be_u32(body, 20)?,
        _ => return None,
    };
    (ts > 0).then_some(ts)
}

fn parse_moov(moov: &[u8]) -> Option<EditList> {
    let movie_timescale = header_timescale(child(moov, b"mvhd")?)?;
    let trak = atoms(moov)
        .filter(|(k, _)| *k == b"trak")
        .map(|(_, b)| b)
        .find(|trak| {
            child(trak, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .and_then(|h| h.get(8..12))
                == Some(b"soun")
        })?;
    let media_timescale = header_timescale(child(child(trak, b"mdia")?, b"mdhd")?)?;
    let elst = child(child(trak, b"edts")?, b"elst")?;
    let version = *elst.first()?;
    let count = be_u32(elst, 4)? as usize;
    let entry_len = if version == 1 { 20 } else { 12 };
    let mut edit = None;
    for i in 0..count.min(16) {
        let at = 8 + i * entry_len;
        let (duration, media_time, rate_at) = if version == 1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64, at + 16)
        } else {
            (
                be_u32(elst, at)? as u64,
                be_u32(elst, at + 4)? as i32 as i64,
                at + 8,
            )
        };
        if media_time == -1 {
            // An empty edit (leading silence): rare for audio; not handled.
            return None;
        }
        if edit.is_some() || media_time < 0 || be_u32(elst, rate_at)? != 0x0001_0000 {
            return None;
        }
        edit = Some((duration, media_time as u64));
    }
    let (duration, media_start) = edit?;
    if count > 16 || duration == 0 {
        return None;
    }
    Some(EditList {
        media_start,
        media_timescale,
        duration,
        movie_timescale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(kind: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn timescale_header(ts: u32) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b
    }

    fn file_with_edit(media_time: i32, duration: u32) -> Vec<u8> {
        let mut elst = vec![0, 0, 0, 0, 0, 0, 0, 1];
        elst.extend_from_slice(&duration.to_be_bytes());
        elst.extend_from_slice(&media_time.to_be_bytes());
        elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0u8; 12]);
        // A sample-to-chunk table of one entry: version and flags, count, entry.
        let mut stsc = vec![0u8; 4];
        stsc.extend_from_slice(&1u32.to_be_bytes());
        stsc.extend_from_slice(&[0, 0, 0, 1, 0, 0, 4, 0, 0, 0, 0, 1]);
        let mdia = [
            atom(b"mdhd", &timescale_header(44100)),
            atom(b"hdlr", &hdlr),
            atom(b"minf", &atom(b"stbl", &atom(b"stsc", &stsc))),
        ]
        .concat();
        let trak = [atom(b"edts", &atom(b"elst", &elst)), atom(b"mdia", &mdia)].concat();
        let moov = [atom(b"mvhd", &timescale_header(1000)), atom(b"trak", &trak)].concat();
        [
            atom(b"ftyp", b"M4A \0\0\0\0"),
            atom(b"mdat", &[0u8; 100]),
            atom(b"moov", &moov),
        ]
        .concat()
    }

    #[test]
    fn atoms_must_fit_in_their_parents() {
        let good = file_with_edit(1024, 2000);
        assert_eq!(check_atoms(&mut std::io::Cursor::new(&good)), Ok(()));
        // Not MP4: not checked.
        assert_eq!(
            check_atoms(&mut std::io::Cursor::new(b"RIFF\0\0\0\0WAVE")),
            Ok(())
        );
        // `hdlr` claims far more than its `mdia` holds.
        let mut bad = good.clone();
        let at = bad.windows(4).position(|w| w == b"hdlr").unwrap() - 4;
        bad[at..at + 4].copy_from_slice(&0xb500_0000u32.to_be_bytes());
        let e = check_atoms(&mut std::io::Cursor::new(&bad)).unwrap_err();
        assert!(
            e.contains("atom `hdlr`") && e.contains("claims 3036676096 bytes"),
            "{e}"
        );
        // A sample table whose entry count runs past its atom.
        let mut bad = good.clone();
        let at = bad.windows(4).position(|w| w == b"stsc").unwrap() + 8;
        bad[at..at + 4].copy_from_slice(&0xaaaa_aaaau32.to_be_bytes());
        let e = check_atoms(&mut std::io::Cursor::new(&bad)).unwrap_err();
        assert!(
            e.contains("atom `stsc`") && e.contains("claims 2863311530 entries"),
            "{e}"
        );
        // A truncated `mdat` is fine (the file plays what it has).
        let mut cut = [atom(b"ftyp", b"M4A \0\0\0\0"), atom(b"mdat", &[0u8; 100])].concat();
        cut.truncate(cut.len() - 50);
        assert_eq!(check_atoms(&mut std::io::Cursor::new(&cut)), Ok(()));
    }

    #[test]
    fn reads_the_edit_of_the_sound_track() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.m4a");
        std::fs::write(&path, file_with_edit(1024, 2000)).unwrap();
        let e = edit_list(&mut std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(e.skip_frames(44100), 1024);
        assert_eq!(e.keep_frames(44100), 88200);
    }

    #[test]
    fn empty_edits_and_other_files_give_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.m4a");
        std::fs::write(&path, file_with_edit(-1, 2000)).unwrap();
        assert_eq!(edit_list(&mut std::fs::File::open(&path).unwrap()), None);
        std::fs::write(&path, b"RIFF\0\0\0\0WAVEfmt ").unwrap();
        assert_eq!(edit_list(&mut std::fs::File::open(&path).unwrap()), None);
        // Truncated in the middle of an atom.
        let mut bytes = file_with_edit(1024, 2000);
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(edit_list(&mut std::fs::File::open(&path).unwrap()), None);
    }
}
