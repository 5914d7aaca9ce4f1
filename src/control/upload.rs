//! The daemon's side of `upload`: a file's bytes, sent by a client after
//! the request line, kept in the daemon's upload folder under the SHA-256 of
//! their content.
//!
//! An operator's file is often where the daemon's user cannot read it (a
//! home folder, a private /tmp under systemd). The client can, so it sends
//! the content; the daemon keeps a copy it can always read. The bytes are
//! written to a temporary name first and renamed when all have come, so a
//! client that stops half-way leaves nothing behind. Whether the bytes are
//! audio is checked later, as for any file named to `announce`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt};

use super::protocol::UploadResult;

/// Why an upload was not kept. After any of these the connection is out of
/// step (some of the bytes may be unread), so the server closes it.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("this daemon takes no uploads")]
    NoFolder,
    #[error("the upload stopped after {got} of {size} bytes")]
    Short { got: u64, size: u64 },
    #[error("no byte of the upload came for {} s", .0.as_secs())]
    Stalled(Duration),
    #[error("cannot keep the upload in {}: {source}", dir.display())]
    Store { dir: PathBuf, source: io::Error },
}

/// The extension kept from the client's file name: the decoder's format
/// hint. Anything else in the name is the client's business.
pub fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "bin".into())
}

/// A new temporary name in `dir` for bytes still coming (`prune` deletes
/// such leftovers after a day). The web console's uploads use it too.
pub fn partial_path(dir: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        ".incoming-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Where complete bytes are kept: `dir/SHA256.EXT`, `hash` their SHA-256
/// in hex, the extension from the client's `name` (see [`extension`]).
pub fn kept_path(dir: &Path, hash: &str, name: &str) -> PathBuf {
    dir.join(format!("{hash}.{}", extension(name)))
}

/// Read exactly `size` bytes from `reader` into `dir`, each read within
/// `stall`; the file is `dir/SHA256.EXT`.
pub async fn receive<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    dir: Option<&Path>,
    name: &str,
    size: u64,
    stall: Duration,
) -> Result<UploadResult, UploadError> {
    let dir = dir.ok_or(UploadError::NoFolder)?;
    let store = |source| UploadError::Store {
        dir: dir.to_path_buf(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(store)?;
    let partial = partial_path(dir);
    let result = fill(reader, &partial, size, stall).await;
    let hash = match result {
        Ok(hash) => hash,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let path = kept_path(dir, &hash, name);
    // Same content uploaded before: the same name, so this overwrites it
    // with identical bytes.
    if let Err(e) = tokio::fs::rename(&partial, &path).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(store(e));
    }
    Ok(UploadResult { path, size })
}

/// Copy `size` bytes into a new file at `partial`; their SHA-256 in hex.
async fn fill<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    partial: &Path,
    size: u64,
    stall: Duration,
) -> Result<String, UploadError> {
    let dir = partial.parent().unwrap_or(Path::new(".")).to_path_buf();
    let store = |source| UploadError::Store {
        dir: dir.clone(),
        source,
    };
    let mut file = tokio::fs::File::create(partial).await.map_err(store)?;
    let mut hash = Sha256::new();
    let mut got = 0u64;
    while got < size {
        let buf = match tokio::time::timeout(stall, reader.fill_buf()).await {
            Err(_) => return Err(UploadError::Stalled(stall)),
            Ok(Err(_)) => return Err(UploadError::Short { got, size }),
            Ok(Ok(buf)) => buf,
        };
        if buf.is_empty() {
            return Err(UploadError::Short { got, size });
        }
        let take = buf.len().min((size - got) as usize);
        hash.update(&buf[..take]);
        file.write_all(&buf[..take]).await.map_err(store)?;
        reader.consume(take);
        got += take as u64;
    }
    file.sync_all().await.map_err(store)?;
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// How long an uploaded file is kept when no unfinished job names it, by
/// default (`[daemon] uploads_keep_days`).
pub const KEEP_UNUSED: Duration = Duration::from_secs(30 * 24 * 3600);

/// Delete the files in `dir` last changed more than `older_than` ago that
/// `in_use` does not name (the files of unfinished jobs), and the leftovers
/// of uploads that never finished. Returns what was deleted. Small and
/// bounded (one folder, no recursion): fine on the control plane once a day.
pub fn prune(
    dir: &Path,
    older_than: Duration,
    in_use: &std::collections::HashSet<PathBuf>,
) -> io::Result<Vec<PathBuf>> {
    let now = std::time::SystemTime::now();
    let mut gone = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(gone),
        Err(e) => return Err(e),
    };
    for entry in entries.take(100_000) {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let partial = entry
            .file_name()
            .to_string_lossy()
            .starts_with(".incoming-");
        let stale = if partial {
            age > Duration::from_secs(24 * 3600)
        } else {
            age > older_than && !in_use.contains(&path)
        };
        if meta.is_file() && stale && std::fs::remove_file(&path).is_ok() {
            gone.push(path);
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_unused_uploads_go_and_used_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(40 * 24 * 3600);
        let mk = |name: &str, when: std::time::SystemTime| {
            let p = dir.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
            p
        };
        let unused = mk("a.wav", old);
        let used = mk("b.wav", old);
        let fresh = mk("c.wav", std::time::SystemTime::now());
        let broken = mk(".incoming-1-2", old);
        let in_use = [used.clone()].into_iter().collect();
        let mut gone = prune(dir.path(), KEEP_UNUSED, &in_use).unwrap();
        gone.sort();
        assert_eq!(gone, vec![broken, unused]);
        assert!(used.exists() && fresh.exists());
        assert!(prune(&dir.path().join("none"), KEEP_UNUSED, &in_use)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn only_a_plain_extension_is_kept() {
        assert_eq!(extension("pengumuman.MP3"), "mp3");
        assert_eq!(extension("/home/budi/x.flac"), "flac");
        assert_eq!(extension("../../etc/passwd"), "bin");
        assert_eq!(extension("a.w/av"), "bin");
        assert_eq!(extension("noext"), "bin");
        assert_eq!(extension("a.verylongextension"), "bin");
    }

    #[tokio::test]
    async fn bytes_are_kept_by_content_and_a_short_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"RIFF....WAVEfmt ".repeat(1000);
        let mut reader = tokio::io::BufReader::new(&data[..]);
        let r = receive(
            &mut reader,
            Some(dir.path()),
            "../a.WAV",
            data.len() as u64,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert_eq!(r.path.parent().unwrap(), dir.path());
        assert!(r.path.to_str().unwrap().ends_with(".wav"));
        assert_eq!(std::fs::read(&r.path).unwrap(), data);

        let mut short = tokio::io::BufReader::new(&data[..100]);
        let e = receive(
            &mut short,
            Some(dir.path()),
            "b.wav",
            200,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                e,
                UploadError::Short {
                    got: 100,
                    size: 200
                }
            ),
            "{e}"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the first upload is kept");
    }
}
