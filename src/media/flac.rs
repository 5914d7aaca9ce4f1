//! A check of a FLAC file's metadata blocks before symphonia reads them.
//!
//! symphonia 0.5 allocates the length a Vorbis comment or a picture claims
//! before reading it: a 5 KB FLAC whose comment claimed 2.7 GB made it
//! allocate 2.7 GB (found by the `decode` fuzz target), and on a small
//! kiosk such an allocation can fail, which aborts the process. Here every
//! length inside those blocks must fit in its block, and the block in the
//! file.

use std::io::{Read, Seek, SeekFrom};

const VORBIS_COMMENT: u8 = 4;
const PICTURE: u8 = 6;

/// `Err` with a one-line reason when the FLAC stream at byte `start` (where
/// the probe finds `fLaC`, after any ID3v2 tags) has a comment or picture
/// block claiming more bytes than it holds. Leaves `file` at any position.
pub fn check_metadata<R: Read + Seek>(file: &mut R, start: u64) -> Result<(), String> {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return Ok(());
    };
    let mut magic = [0u8; 4];
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_exact(&mut magic).is_err() {
        return Ok(());
    }
    if &magic != b"fLaC" {
        return Ok(());
    }
    let mut pos = start + 4;
    loop {
        let mut h = [0u8; 4];
        if file.seek(SeekFrom::Start(pos)).is_err() || file.read_exact(&mut h).is_err() {
            return Ok(());
        }
        let (last, kind) = (h[0] & 0x80 != 0, h[0] & 0x7f);
        let block_len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as u64;
        if kind == VORBIS_COMMENT || kind == PICTURE {
            if pos + 4 + block_len > len {
                return Err(format!(
                    "damaged FLAC: metadata block at byte {pos} claims {block_len} bytes, the file ends before"
                ));
            }
            // At most 16 MiB: the length field has 24 bits.
            let mut block = vec![0u8; block_len as usize];
            if file.read_exact(&mut block).is_err() {
                return Ok(());
            }
            let at = pos + 4;
            if kind == VORBIS_COMMENT {
                check_comments(&block, at)?;
            } else {
                check_picture(&block, at)?;
            }
        }
        pos += 4 + block_len;
        if last || pos >= len {
            return Ok(());
        }
    }
}

/// Reads lengths from a block and checks each fits in what remains.
struct Fields<'a> {
    data: &'a [u8],
    used: usize,
    at: u64,
    what: &'static str,
}

impl Fields<'_> {
    fn u32(&mut self, little_endian: bool) -> Result<u32, String> {
        let b: [u8; 4] = self
            .data
            .get(self.used..self.used + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.too_short())?;
        self.used += 4;
        Ok(if little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// Skip `n` bytes the block must hold.
    fn skip(&mut self, n: u32, field: &str) -> Result<(), String> {
        let left = self.data.len() - self.used;
        if n as usize > left {
            return Err(format!(
                "damaged FLAC: {} {field} at byte {} claims {n} bytes, {left} remain in the block",
                self.what,
                self.at + self.used as u64
            ));
        }
        self.used += n as usize;
        Ok(())
    }

    fn too_short(&self) -> String {
        format!(
            "damaged FLAC: {} block at byte {} is cut short",
            self.what, self.at
        )
    }
}

fn check_comments(block: &[u8], at: u64) -> Result<(), String> {
    let mut f = Fields {
        data: block,
        used: 0,
        at,
        what: "Vorbis comment",
    };
    let vendor = f.u32(true)?;
    f.skip(vendor, "vendor string")?;
    let count = f.u32(true)?;
    for _ in 0..count {
        let n = f.u32(true)?;
        f.skip(n, "entry")?;
    }
    Ok(())
}

fn check_picture(block: &[u8], at: u64) -> Result<(), String> {
    let mut f = Fields {
        data: block,
        used: 0,
        at,
        what: "picture",
    };
    f.u32(false)?; // picture type
    let mime = f.u32(false)?;
    f.skip(mime, "media type")?;
    let desc = f.u32(false)?;
    f.skip(desc, "description")?;
    for _ in 0..4 {
        f.u32(false)?; // width, height, depth, colours
    }
    let data = f.u32(false)?;
    f.skip(data, "data")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn flac_with_comment(comment_len: u32, body: &[u8]) -> Vec<u8> {
        let mut block = 3u32.to_le_bytes().to_vec();
        block.extend_from_slice(b"abc");
        block.extend_from_slice(&1u32.to_le_bytes());
        block.extend_from_slice(&comment_len.to_le_bytes());
        block.extend_from_slice(body);
        let mut v = b"fLaC".to_vec();
        v.push(0x80 | VORBIS_COMMENT);
        v.extend_from_slice(&(block.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&block);
        v
    }

    #[test]
    fn comments_must_fit_in_their_block() {
        let good = flac_with_comment(5, b"A=xyz");
        assert_eq!(check_metadata(&mut Cursor::new(&good), 0), Ok(()));
        let bad = flac_with_comment(0xa2a2_7474, b"A=xyz");
        let e = check_metadata(&mut Cursor::new(&bad), 0).unwrap_err();
        assert!(
            e.contains("Vorbis comment entry") && e.contains("claims 2728555636 bytes"),
            "{e}"
        );
        // Not FLAC: not checked.
        assert_eq!(check_metadata(&mut Cursor::new(b"RIFF....WAVE"), 0), Ok(()));
    }
}
