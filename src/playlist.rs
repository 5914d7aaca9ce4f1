//! M3U / M3U8 playlists.
//!
//! What is accepted, so that playlists saved by spreadsheets, Windows tools
//! and media players load as they are:
//! - an optional `#EXTM3U` header; `#EXTINF:duration,title` gives the next
//!   entry its title; any other `#` line is a comment; blank lines are
//!   ignored;
//! - CRLF line ends and a UTF-8 byte-order mark;
//! - entries as relative paths (resolved against the playlist's folder),
//!   absolute paths, or `file://` URLs (percent escapes decoded).
//!
//! http(s) and other URLs are errors: corong plays local files only, so a
//! broadcast never depends on a network that may be down.
//!
//! Missing media files are not errors here: the daemon logs and skips them
//! at play time. [`check_media_paths`] reports them for `corong check`.

use std::path::{Path, PathBuf};

use crate::config::{absolute_folder, line_col, Diagnostic, Diagnostics};

/// Most entries a playlist may have.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest line a playlist may have, in bytes (without the line end).
pub const MAX_LINE_BYTES: usize = 4096;
/// Largest playlist file read, in bytes. Bounds memory before the per-line
/// limits apply.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A parsed playlist: the items in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// One item of a playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Absolute path of the media file (relative entries resolve against the
    /// playlist's folder).
    pub path: PathBuf,
    /// 1-based line in the playlist file.
    pub line: usize,
    /// Title from `#EXTINF`, if any.
    pub title: Option<String>,
}

/// Read and parse the playlist at `path`. `Playlist::path` is `path` as
/// given; diagnostics name it that way too.
pub fn load(path: &Path) -> Result<Playlist, Diagnostics> {
    let whole_file_error =
        |message: String| Diagnostics(vec![Diagnostic::error(path, 1, 1, message)]);
    let size = std::fs::metadata(path)
        .map_err(|e| whole_file_error(format!("cannot read the playlist: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(whole_file_error(format!(
            "the playlist is {size} bytes: expected at most {MAX_FILE_BYTES} (at most {MAX_ENTRIES} entries of at most {MAX_LINE_BYTES} bytes)"
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| whole_file_error(format!("cannot read the playlist: {e}")))?;
    parse_bytes(&bytes, path)
}

/// Parse playlist text as if it were the file at `path` (relative entries
/// resolve against `path`'s folder).
pub fn parse_str(text: &str, path: &Path) -> Result<Playlist, Diagnostics> {
    parse_bytes(text.as_bytes(), path)
}

/// Parse the raw bytes of a playlist as if they were the file at `path`:
/// what [`load`] does once the file is read (UTF-8 is checked per line, so
/// each bad line gets its own error). The M3U fuzz target runs it.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Playlist, Diagnostics> {
    let folder = absolute_folder(path);
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    let mut title: Option<String> = None;

    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE_BYTES {
            errors.push(Diagnostic::error(
                path,
                line_no,
                1,
                format!(
                    "line is {} bytes long: expected at most {MAX_LINE_BYTES}",
                    raw.len()
                ),
            ));
            continue;
        }
        let line = match std::str::from_utf8(raw) {
            Ok(l) => l,
            Err(e) => {
                let valid = std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or("");
                errors.push(Diagnostic::error(
                    path,
                    line_no,
                    line_col(valid, valid.len()).1,
                    "not valid UTF-8: save the playlist as UTF-8 (.m3u8)",
                ));
                continue;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let column = line[..line.len() - line.trim_start().len()].chars().count() + 1;
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(info) = comment.strip_prefix("EXTINF:") {
                // `#EXTINF:duration[ attributes],title`: only the title is
                // kept; durations in playlists are often wrong anyway.
                title = info
                    .split_once(',')
                    .map(|(_, t)| t.trim())
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
            }
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            errors.push(Diagnostic::error(
                path,
                line_no,
                column,
                format!("too many entries: expected at most {MAX_ENTRIES}; split the playlist"),
            ));
            break;
        }
        match entry_path(trimmed, &folder) {
            Ok(media) => entries.push(Entry {
                path: media,
                line: line_no,
                title: title.take(),
            }),
            Err(message) => errors.push(Diagnostic::error(path, line_no, column, message)),
        }
    }

    if errors.is_empty() {
        Ok(Playlist {
            path: path.to_path_buf(),
            entries,
        })
    } else {
        Err(Diagnostics(errors))
    }
}

/// The media path an entry line names, or why it names none.
fn entry_path(text: &str, folder: &Path) -> Result<PathBuf, String> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Err(format!(
            "`{text}`: http(s) URLs are not supported: expected a local file path; download the file and list its path"
        ));
    }
    if let Some(rest) = strip_prefix_ignore_case(text, "file://") {
        // file:///abs/path or file://localhost/abs/path.
        let path = if rest.starts_with('/') {
            rest
        } else if let Some(p) = strip_prefix_ignore_case(rest, "localhost/") {
            &rest[rest.len() - p.len() - 1..]
        } else {
            return Err(format!(
                "`{text}`: file URLs on other hosts are not supported: expected file:///path"
            ));
        };
        let decoded = percent_decode(path).map_err(|e| format!("`{text}`: {e}"))?;
        return Ok(PathBuf::from(decoded));
    }
    if let Some((scheme, _)) = text.split_once("://") {
        let is_scheme = !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            return Err(format!(
                "`{text}`: {scheme}:// URLs are not supported: expected a local file path or a file:// URL"
            ));
        }
    }
    Ok(tidy(&folder.join(text)))
}

/// `playlists/../media/a.mp3` as `media/a.mp3`: what the log and the as-run
/// rows show. A `..` is folded only after a plain folder; after a symbolic
/// link it stays, because there it leads somewhere else.
pub fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                let foldable = matches!(out.components().next_back(), Some(Component::Normal(_)))
                    && !std::fs::symlink_metadata(&out).is_ok_and(|m| m.file_type().is_symlink());
                if foldable {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Decode `%XX` escapes; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    "bad percent escape: expected % followed by two hex digits".to_string()
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent escapes decode to invalid UTF-8".to_string())
}

/// One error per entry whose media file is missing (or is not a file), at
/// the entry's line, column 1. For `corong check`; the daemon skips such
/// entries at play time instead.
pub fn check_media_paths(playlist: &Playlist) -> Vec<Diagnostic> {
    playlist
        .entries
        .iter()
        .filter_map(|entry| {
            let problem = match std::fs::metadata(&entry.path) {
                Ok(m) if m.is_file() => return None,
                Ok(_) => "is not a file",
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "not found",
                Err(_) => "cannot be read",
            };
            Some(Diagnostic::error(
                &playlist.path,
                entry.line,
                1,
                format!("media file {}: {problem}", entry.path.display()),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_folders_are_folded_but_not_after_a_link() {
        assert_eq!(
            tidy(Path::new("/srv/corong/playlists/../media/./a.mp3")),
            PathBuf::from("/srv/corong/media/a.mp3")
        );
        assert_eq!(tidy(Path::new("../a.mp3")), PathBuf::from("../a.mp3"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        let through = dir.path().join("link/../x.wav");
        assert_eq!(tidy(&through), through);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b/%C3%A9.wav").unwrap(), "/a b/é.wav");
        assert!(percent_decode("/a%2").is_err());
        assert!(percent_decode("/a%zz").is_err());
        assert!(percent_decode("/%ff").is_err());
    }

    #[test]
    fn file_urls() {
        let f = Path::new("/pl");
        assert_eq!(
            entry_path("file:///media/a%20b.wav", f).unwrap(),
            Path::new("/media/a b.wav")
        );
        assert_eq!(
            entry_path("FILE://localhost/media/x.wav", f).unwrap(),
            Path::new("/media/x.wav")
        );
        assert!(entry_path("file://server/x.wav", f).is_err());
        assert!(entry_path("rtsp://cam/x", f)
            .unwrap_err()
            .contains("rtsp://"));
        assert!(entry_path("a://b", f).unwrap_err().contains("a://"));
    }
}
