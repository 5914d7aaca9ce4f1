//! The recorder's files: the one being written (always the configured
//! path), what a file moved aside is called (by its day, hour or UTC
//! time), which files are the zone's recordings, and which old ones are
//! deleted (`wav_keep_days`, `wav_max_total_mb`).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::config::{WavRetention, WavRotate};
use crate::output::Fault;

/// The open recording.
pub(super) type Writer = hound::WavWriter<BufWriter<File>>;

/// The wall clock a recorder splits its files by (tests inject their own).
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How a recorder zone splits and prunes its files (module docs).
#[derive(Clone)]
pub struct Rotation {
    pub retention: WavRetention,
    /// The daemon's time zone: the days and hours files are named by.
    pub timezone: Tz,
    pub clock: WallClock,
}

impl Rotation {
    /// `retention` by the system clock in `timezone`.
    pub fn new(retention: WavRetention, timezone: Tz) -> Rotation {
        Rotation {
            retention,
            timezone,
            clock: Arc::new(Utc::now),
        }
    }
}

/// Where the writer records, and when it starts a new file.
pub(super) struct RecordingFile {
    /// The file being written: always the configured path.
    pub(super) path: PathBuf,
    pub(super) spec: hound::WavSpec,
    pub(super) max_data_bytes: u64,
    /// `None`: a plain recording (`corong receive --wav`): one path, never
    /// pruned.
    pub(super) rotation: Option<Rotation>,
    /// With daily or hourly files: the label of the day or hour the
    /// current file holds, and when it ends.
    pub(super) period: Option<(String, DateTime<Utc>)>,
    pub(super) fault: Arc<Fault>,
    #[cfg(test)]
    pub(super) fail_writes: Arc<std::sync::atomic::AtomicBool>,
}

impl RecordingFile {
    /// Tests: the injected failure, if switched on.
    pub(super) fn injected(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_writes.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }

    pub(super) fn bytes_per_frame(&self) -> u64 {
        2 * self.spec.channels as u64
    }

    /// Daily or hourly files (else the configured path is the file).
    pub(super) fn timed(&self) -> bool {
        self.rotation
            .as_ref()
            .is_some_and(|r| r.retention.rotate != WavRotate::None)
    }

    pub(super) fn now(&self) -> Option<DateTime<Utc>> {
        self.rotation.as_ref().map(|r| (r.clock)())
    }

    /// Past the end of the current file's day or hour. One clock read.
    pub(super) fn period_over(&self) -> bool {
        match (&self.period, &self.rotation) {
            (Some((_, end)), Some(r)) => (r.clock)() >= *end,
            _ => false,
        }
    }

    /// Start a new file at the path; with daily or hourly files, note the
    /// day or hour it holds.
    pub(super) fn create(&mut self) -> io::Result<Writer> {
        let wav = hound::WavWriter::create(&self.path, self.spec).map_err(hound_to_io)?;
        self.period = self
            .rotation
            .as_ref()
            .filter(|_| self.timed())
            .and_then(|r| period((r.clock)(), r.timezone, r.retention.rotate));
        Ok(wav)
    }

    /// Rename the file at the path beside it: daily or hourly, under the
    /// day or hour it holds (`written`: the time of its last write when
    /// that is not the current file's); else under the UTC time now.
    pub(super) fn move_aside(&self, written: Option<DateTime<Utc>>) -> io::Result<PathBuf> {
        let label = match (&self.rotation, written) {
            (Some(r), Some(at)) if self.timed() => {
                period(at, r.timezone, r.retention.rotate).map(|(label, _)| label)
            }
            _ => self.period.as_ref().map(|(label, _)| label.clone()),
        };
        match label {
            Some(label) => {
                let target = free_name(&self.path, &label)?;
                std::fs::rename(&self.path, &target)?;
                Ok(target)
            }
            None => move_aside(&self.path),
        }
    }
}

/// The label and the end of the day or hour (in `tz`) that `now` is in.
/// `None` for [`WavRotate::None`]. A boundary that does not exist in local
/// time (a daylight-saving gap) is the first local time after it.
pub(super) fn period(
    now: DateTime<Utc>,
    tz: Tz,
    rotate: WavRotate,
) -> Option<(String, DateTime<Utc>)> {
    let local = now.with_timezone(&tz).naive_local();
    let (label, start, step) = match rotate {
        WavRotate::None => return None,
        WavRotate::Daily => (
            local.format("%Y-%m-%d").to_string(),
            local.date().and_time(NaiveTime::MIN),
            chrono::Duration::days(1),
        ),
        WavRotate::Hourly => (
            local.format("%Y-%m-%dT%H").to_string(),
            local
                .date()
                .and_time(NaiveTime::from_hms_opt(local.hour(), 0, 0)?),
            chrono::Duration::hours(1),
        ),
    };
    let mut next = start + step;
    let end = loop {
        match tz.from_local_datetime(&next).earliest() {
            Some(t) => break t.with_timezone(&Utc),
            None => next += chrono::Duration::minutes(15),
        }
    };
    // Never a period that is already over (clocks are odd around gaps).
    Some((label, end.max(now + chrono::Duration::seconds(1))))
}

/// `STEM-LABEL.wav` beside `base`, or `STEM-LABEL-N.wav` when that is
/// taken (a restart within the day, a file that outgrew its header): files
/// already there are never overwritten.
pub(super) fn free_name(base: &Path, label: &str) -> io::Result<PathBuf> {
    let (stem, ext) = stem_and_ext(base);
    for n in 0..10_000 {
        let name = if n == 0 {
            format!("{stem}-{label}.{ext}")
        } else {
            format!("{stem}-{label}-{n}.{ext}")
        };
        let path = base.with_file_name(name);
        if !path.exists() {
            return Ok(path);
        }
    }
    Err(io::Error::other(format!(
        "no free name for the recording {stem}-{label}.{ext}"
    )))
}

pub(super) fn stem_and_ext(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wav".into());
    (stem, ext)
}

/// Whether `name` is one of the files of the recorder writing `base`: the
/// name itself, or `STEM-` followed by a date (as [`free_name`] and
/// [`move_aside`] make them) and `.EXT`. The date is what keeps another
/// zone's `STEM-2.wav` out.
pub(super) fn is_recording_of(base: &Path, name: &str) -> bool {
    if base
        .file_name()
        .is_some_and(|b| b.to_string_lossy() == name)
    {
        return true;
    }
    let (stem, ext) = stem_and_ext(base);
    let Some(middle) = name
        .strip_prefix(&format!("{stem}-"))
        .and_then(|rest| rest.strip_suffix(&format!(".{ext}")))
    else {
        return false;
    };
    let b = middle.as_bytes();
    let dashed = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    let compact = b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit);
    (dashed || compact)
        && middle
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'-' || c == b'T' || c == b'Z')
}

/// Delete the oldest files of the recorder writing `base` (by their last
/// write) while they are older than the retention's days or together
/// larger than its size; never `base` itself, the file being written.
/// Logs each deletion; returns the files deleted. Problems (a folder that
/// cannot be listed, a file that cannot be deleted) are logged and leave
/// the files where they are.
pub(super) fn prune(base: &Path, retention: &WavRetention, now: SystemTime) -> Vec<PathBuf> {
    if retention.keep_days.is_none() && retention.max_total_bytes.is_none() {
        return Vec::new();
    }
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot list the recordings in {} to prune them: {e}", dir.display());
            return Vec::new();
        }
    };
    // (last write, path, bytes), the current file left out of the list but
    // not out of the total.
    let mut files: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
    let mut total = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_recording_of(base, &name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        total += meta.len();
        let path = entry.path();
        if path == base {
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        files.push((modified, path, meta.len()));
    }
    files.sort();
    let too_old = retention
        .keep_days
        .and_then(|d| now.checked_sub(Duration::from_secs(u64::from(d) * 86_400)));
    let mut deleted = Vec::new();
    for (modified, path, bytes) in files {
        let old = too_old.is_some_and(|cutoff| modified < cutoff);
        let over = retention.max_total_bytes.is_some_and(|max| total > max);
        if !old && !over {
            // Sorted oldest first: the rest are newer, and the total fits.
            break;
        }
        let why = if old {
            format!(
                "older than {} days",
                retention.keep_days.unwrap_or_default()
            )
        } else {
            format!(
                "the zone's recordings took {} MiB, more than {} MiB",
                total >> 20,
                retention.max_total_bytes.unwrap_or_default() >> 20
            )
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "deleted the recording {}: {why}", path.display());
                total -= bytes;
                deleted.push(path);
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot delete the recording {} ({why}): {e}", path.display())
            }
        }
    }
    deleted
}

/// Rename `path` to `STEM-YYYYMMDDTHHMMSSZ.wav` beside it (with `-N` added
/// when that name is taken).
pub(super) fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let (stem, ext) = stem_and_ext(path);
    for n in 0..1000 {
        let name = if n == 0 {
            format!("{stem}-{stamp}.{ext}")
        } else {
            format!("{stem}-{stamp}-{n}.{ext}")
        };
        let target = path.with_file_name(name);
        if !target.exists() {
            std::fs::rename(path, &target)?;
            return Ok(target);
        }
    }
    Err(io::Error::other(
        "no free name to move the old recording to",
    ))
}

pub(super) fn hound_to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other),
    }
}
