//! Media: decode any supported file to the engine's format.
//!
//! [`Decoder`] opens a file with symphonia (MP3, FLAC, Ogg Vorbis, WAV, AAC in
//! MP4/M4A), mixes it to the zone's channel count and resamples it to the
//! engine rate with rubato. It runs on worker threads, never on the engine
//! thread.
//!
//! # Layout
//!
//! - `decode.rs`: [`Decoder`]: probing, packet loop, symphonia's error
//!   contract (skip bad packets, recreate on reset, end on EOF).
//! - `mp4.rs`: the MP4 edit list, to cut AAC priming and padding; a check
//!   that atoms fit before symphonia reads them.
//! - `flac.rs`: a check that FLAC comments and pictures fit their blocks
//!   before symphonia reads them; `id3.rs`: the same for ID3v2 frames.
//! - `convert.rs`: the stage after the decoder: channels, then rate.
//! - [`channels`]: mono/stereo/surround to 1 or 2 channels.
//! - [`resample`]: streaming FFT resampler with start delay trimmed and tail
//!   flushed, so durations are exact and nothing is shifted.
//! - [`loudness`]: EBU R128 measurement (ebur128), the gain that brings a
//!   file to a zone's target under its true-peak ceiling, and the cache of
//!   measurements by content hash.
//! - [`measure`]: the pool of low-priority threads that measure whole files
//!   in the background, soonest needed first.
//! - [`tone`]: signals corong makes itself (chime, alert tone) and a WAV
//!   writer.
//! - [`panics`]: decoder panics caught and reported once, with the file.
//! - [`prefetch`]: the decoder workers that keep every voice's ring filled
//!   seconds ahead of the engine.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod channels;
mod convert;
mod decode;
mod flac;
mod id3;
pub mod loudness;
pub mod measure;
mod mp4;
pub mod panics;
pub mod prefetch;
pub mod resample;
pub mod tone;
pub mod wav_stream;

pub use decode::{DecodeOptions, Decoder, SOURCE_RATES};

/// What a file holds before conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub sample_rate: u32,
    pub channels: u16,
    /// Codec name as symphonia reports it (`mp3`, `flac`, ...).
    pub codec: String,
    /// Length, when the container says.
    pub duration: Option<Duration>,
}

/// Why a file can't be played. Display is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file can't be opened or read: missing, permissions, I/O.
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not audio corong can decode: unknown format, no audio track, codec
    /// not built in. Converting the file (e.g. with ffmpeg) is the fix.
    #[error("{}: unsupported: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    /// The file is damaged beyond what skipping bad packets can repair.
    #[error("{}: decode error: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
}

impl MediaError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            MediaError::Open { path, .. }
            | MediaError::Unsupported { path, .. }
            | MediaError::Decode { path, .. } => path,
        }
    }
}

/// Open a media file for reading, refusing anything that is not a regular
/// file. A FIFO would block `open(2)` until someone writes to it, and
/// `/dev/zero` or a directory never end: whoever names one must not stall a
/// decoder or the control loop. The open is non-blocking, so even a FIFO
/// swapped in after a check is refused at once, not waited on.
pub fn open_regular(path: &Path) -> Result<std::fs::File, MediaError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let open_err = |source| MediaError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(open_err)?;
    let kind = file.metadata().map_err(open_err)?.file_type();
    let what = if kind.is_file() {
        return Ok(file);
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(MediaError::Unsupported {
        path: path.to_path_buf(),
        reason: format!("is {what}; corong plays only regular files"),
    })
}

/// Open `path` and decode its first second: what `corong check` runs on
/// every media file. A file that opens but holds no audio at all is an error
/// here, although [`Decoder`] would merely end at once.
pub fn check(path: &Path, out_rate: u32) -> Result<SourceInfo, MediaError> {
    let mut d = Decoder::open(path, out_rate, 1)?;
    let mut buf = Vec::new();
    let frames = d.read(&mut buf, out_rate as usize)?;
    if frames == 0 {
        return Err(MediaError::Decode {
            path: path.to_path_buf(),
            reason: "no audio in the file".into(),
        });
    }
    Ok(d.source_info().clone())
}
