//! This kiosk's copy of a file an order names by its content
//! (`sha256:HEX`, see `control::protocol::FileRef`): looked for in the
//! folders it is given (the uploads the control socket and the console keep
//! under their content's name, and the config's `media/`), among the files
//! of exactly the order's size, each hashed to be sure. Bounded: at most
//! [`MAX_SCANNED`] entries and [`MAX_DEPTH`] folders deep are looked at;
//! symbolic links to folders are not followed (no loops).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::control::protocol::{file_ref_hash, FileRef, Request};

/// Entries looked at per search, at most.
pub const MAX_SCANNED: usize = 20_000;
/// Folders deep, at most.
pub const MAX_DEPTH: usize = 8;

/// `request` with each `sha256:HEX` path replaced by this kiosk's copy;
/// the reason, in one line, when a file is not here.
pub fn resolve(dirs: &[PathBuf], request: Request, refs: &[FileRef]) -> Result<Request, String> {
    let mut here = |p: PathBuf| -> Result<PathBuf, String> {
        let Some(hash) = file_ref_hash(&p) else {
            return Ok(p);
        };
        let r = refs
            .iter()
            .find(|r| r.sha256 == hash)
            .ok_or_else(|| format!("sha256:{hash} has no size and name in the order"))?;
        find(dirs, r).ok_or_else(|| {
            format!(
                "{} ({} bytes, sha256:{}) is not on this kiosk: copy it into {}",
                r.name,
                r.size,
                &r.sha256[..12],
                dirs.last()
                    .map_or_else(String::new, |d| d.display().to_string())
            )
        })
    };
    request.try_map_files(&mut here)
}

/// The first file under `dirs` of `r`'s size and content.
pub fn find(dirs: &[PathBuf], r: &FileRef) -> Option<PathBuf> {
    let mut budget = MAX_SCANNED;
    dirs.iter().find_map(|d| search(d, r, 0, &mut budget))
}

fn search(dir: &Path, r: &FileRef, depth: usize, budget: &mut usize) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut folders = Vec::new();
    for entry in entries.flatten() {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            folders.push(path);
            continue;
        }
        // A file, or a link to one (metadata follows the link).
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() && meta.len() == r.size && hash_of(&path).as_deref() == Some(&r.sha256) {
            return Some(path);
        }
    }
    if depth + 1 >= MAX_DEPTH {
        return None;
    }
    folders.iter().find_map(|f| search(f, r, depth + 1, budget))
}

fn hash_of(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Some(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{file_ref_path, Delivery};

    fn reference(bytes: &[u8], name: &str) -> FileRef {
        FileRef {
            sha256: Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            size: bytes.len() as u64,
            name: name.into(),
        }
    }

    #[test]
    fn a_copy_is_found_by_content_not_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        std::fs::create_dir_all(media.join("peringatan/banjir")).unwrap();
        // Same size, other content: not taken.
        std::fs::write(media.join("lain.wav"), b"RIFF-bukan-ini").unwrap();
        std::fs::write(media.join("peringatan/banjir/x.wav"), b"RIFF-yang-ini!").unwrap();
        let r = reference(b"RIFF-yang-ini!", "banjir.wav");
        assert_eq!(
            find(&[dir.path().join("uploads"), media.clone()], &r),
            Some(media.join("peringatan/banjir/x.wav"))
        );
        let req = Request::Announce {
            files: vec![file_ref_path(&r.sha256)],
            delivery: Delivery::default(),
        };
        let Request::Announce { files, .. } =
            resolve(std::slice::from_ref(&media), req, &[r]).unwrap()
        else {
            panic!()
        };
        assert_eq!(files, [media.join("peringatan/banjir/x.wav")]);

        // Not here: one line naming the file and where to put it.
        let missing = reference(b"tidak ada", "kelud.wav");
        let req = Request::Emergency {
            file: Some(file_ref_path(&missing.sha256)),
            text: None,
            zones: vec!["all".into()],
            stop: false,
        };
        let why = resolve(std::slice::from_ref(&media), req, &[missing]).unwrap_err();
        assert!(why.starts_with("kelud.wav (9 bytes, sha256:"), "{why}");
        assert!(why.contains("is not on this kiosk"), "{why}");
    }
}
