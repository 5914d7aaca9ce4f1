//! A file uploaded through the console, kept as the control socket's
//! uploads are (`control/upload.rs`'s rules): written under a temporary
//! name in the state directory's `uploads/` folder, then renamed to the
//! SHA-256 of its content with only a plain extension kept from the
//! uploader's name, so no name an uploader sends reaches outside the
//! folder. Bounded: past [`MAX_UPLOAD`] bytes, or when the sender stalls
//! for [`STALL`] or takes longer than [`MAX_TIME`] in all, the partial file
//! is deleted and nothing is kept (a client dribbling bytes cannot hold a
//! connection and a file open for ever).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::multipart::Field;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::control::upload::{kept_path, partial_path};

/// The largest file the console takes (several minutes of WAV; the
/// control socket takes larger files from the kiosk's own users).
pub const MAX_UPLOAD: u64 = 32 << 20;
/// The longest wait for the next part of an upload.
pub const STALL: Duration = Duration::from_secs(30);
/// The longest an upload may take in all (32 MiB at 1 Mbit/s takes about
/// 270 s).
pub const MAX_TIME: Duration = Duration::from_secs(600);

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is over {} MiB ({} bytes); nothing was stored", MAX_UPLOAD >> 20, MAX_UPLOAD)]
    TooLarge,
    #[error("the file's name must be a plain name, not a path (no `/`, `\\` or `..`)")]
    PathInName,
    #[error("the file is empty")]
    Empty,
    #[error("the upload broke off: {0}")]
    Body(String),
    #[error("the upload stalled or took too long (nothing for {} s, or over {} s in all); nothing was stored", STALL.as_secs(), MAX_TIME.as_secs())]
    TooSlow,
    #[error("cannot keep the upload in {}: {source}", dir.display())]
    Store {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// A kept file.
pub struct Kept {
    pub path: PathBuf,
    /// No file of the same content was there before: the upload made it
    /// (so a refused announcement may delete it again).
    pub fresh: bool,
}

/// Stream `field` into `dir`, at most `limit` bytes.
pub async fn keep(mut field: Field<'_>, dir: &Path, limit: u64) -> Result<Kept, UploadError> {
    let name = field.file_name().unwrap_or("upload").to_string();
    if !plain_name(&name) {
        return Err(UploadError::PathInName);
    }
    let store = |source| UploadError::Store {
        dir: dir.to_path_buf(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(store)?;
    let partial = partial_path(dir);
    let filled = async {
        let mut file = tokio::fs::File::create(&partial).await.map_err(store)?;
        let mut hash = Sha256::new();
        let mut got = 0u64;
        let end = tokio::time::Instant::now() + MAX_TIME;
        loop {
            let wait = STALL.min(end.saturating_duration_since(tokio::time::Instant::now()));
            let Ok(next) = tokio::time::timeout(wait, field.chunk()).await else {
                return Err(UploadError::TooSlow);
            };
            let chunk = match next {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(UploadError::TooLarge)
                }
                Err(e) => return Err(UploadError::Body(e.body_text())),
            };
            got += chunk.len() as u64;
            if got > limit {
                // Read the rest (the route's body limit bounds it) so the
                // client is not cut off before it can read the answer.
                while let Ok(Some(_)) = field.chunk().await {}
                return Err(UploadError::TooLarge);
            }
            hash.update(&chunk);
            file.write_all(&chunk).await.map_err(store)?;
        }
        if got == 0 {
            return Err(UploadError::Empty);
        }
        file.sync_all().await.map_err(store)?;
        Ok(hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>())
    }
    .await;
    let hash = match filled {
        Ok(h) => h,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let path = kept_path(dir, &hash, &name);
    let fresh = !tokio::fs::try_exists(&path).await.unwrap_or(false);
    if let Err(e) = tokio::fs::rename(&partial, &path).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(store(e));
    }
    Ok(Kept { path, fresh })
}

/// A browser sends a file's base name only; a name with a path in it is
/// someone trying to place the file, and is refused outright (the stored
/// name would not use it anyway).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains(['/', '\\', '\0'])
        && name != "."
        && !name.starts_with("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_the_name_is_refused() {
        assert!(plain_name("pengumuman pagi.wav"));
        assert!(plain_name("a..b.mp3"));
        for bad in [
            "../x.wav",
            "..",
            "/etc/passwd",
            "a/b.wav",
            "..\\x.wav",
            "c:\\x.wav",
            "",
        ] {
            assert!(!plain_name(bad), "{bad}");
        }
    }
}
