//! The recorder zone: a 16-bit WAV file of everything the zone plays.
//!
//! The engine thread converts each packet to i16 and pushes it into a
//! lock-free single-producer ring ([`rtrb`]) that holds [`RING_SECONDS`] of
//! audio; a writer thread drains it into the file. File I/O never happens
//! on the engine thread. When the writer falls so far behind that a packet
//! does not fit, the packet is dropped whole and counted in
//! [`OutputHealth::dropped_frames`]; the engine never waits.
//!
//! The writer updates the WAV header about once a second, so a daemon that
//! is killed leaves a readable file missing at most the last second or so.
//! Dropping the recorder drains what is left, finalizes the header and
//! joins the writer thread.
//!
//! # When writing fails
//!
//! A full disk (or any other write error) does not end the recording. The
//! writer logs it once, sets the recorder's [`Fault`] (the zone shows
//! `degraded` with the error) and keeps draining the ring, counting what it
//! cannot keep as dropped frames; the engine never notices. Every
//! [`RETRY_FIRST`] at first, backing off to every [`RETRY_MAX`], it tries
//! again: it repairs the file (cuts it to the last whole frame on disk and
//! rewrites the header's lengths, so the file stays valid), checks that
//! there is room for a second of audio, and appends from there. Then it
//! clears the fault and logs "recording to PATH again". The gap is silent
//! in the file's timeline: the file holds what was recorded, back to back.
//!
//! A recorder runs for months: the configured path is always the current
//! recording. A file already there at start is moved aside, never
//! truncated, and the current file is closed and moved aside before its
//! data reaches [`MAX_DATA_BYTES`] (a WAV header counts bytes in 32 bits).
//! A file moved aside is named `STEM-YYYYMMDDTHHMMSSZ.wav`, by the UTC time
//! it was closed.
//!
//! # Rotation and retention (recorder zones)
//!
//! A recorder zone ([`WavRecorder::recorder`]) runs unattended for months,
//! so it splits and prunes its files by itself (zone keys `wav_rotate`,
//! `wav_keep_days`, `wav_max_total_mb`). The configured path stays the
//! current recording in every mode (scripts and operators find it there;
//! `corong zones` lists it). With `daily` (the default), at the end of each
//! day in the daemon's time zone the file is finalized and renamed to
//! `STEM-YYYY-MM-DD.wav` beside it, named by the day it holds, and a new
//! file begun at the path; with `hourly`, `STEM-YYYY-MM-DDTHH.wav`; with
//! `none`, only the moves aside above. A file found at the path at start is
//! moved aside under the day (or hour) of its last write; a name already
//! taken (a restart within the day, a file that would outgrow its header)
//! gets `-1`, `-2`, ... The writer reads the wall clock once per drained
//! batch, so the audio is split at a batch boundary without losing a frame.
//! At start and after every new file it deletes the zone's oldest
//! files (by their last write) while they are older than `wav_keep_days` or
//! all of them together take more than `wav_max_total_mb`; the file being
//! written is never deleted, so the zone's files take at most the bound plus
//! the current file. Every new file and every deletion is one info line
//! naming the files. The engine never waits for any of it: all of it runs on
//! the writer thread.
//!
//! This file is the recorder the engine holds; `wav/files.rs` names, moves
//! aside and prunes the files; `wav/writer.rs` is the writer thread.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};

use super::{to_i16, Fault, Output, OutputHealth, Tick};

mod files;
mod writer;

use files::{prune, RecordingFile};
pub use files::{Rotation, WallClock};
use writer::run_writer;
pub use writer::{HEADER_INTERVAL, RETRY_FIRST, RETRY_MAX};

/// Seconds of audio the ring holds before packets are dropped.
pub const RING_SECONDS: usize = 4;
/// Data bytes after which the current file is closed and a new one begun:
/// 2 GiB, about 6 hours of 48 kHz mono.
pub const MAX_DATA_BYTES: u64 = 1 << 31;
/// Writes what the zone plays to a WAV file. See the module docs.
pub struct WavRecorder {
    path: PathBuf,
    channels: usize,
    /// `None` only while dropping (dropping it tells the writer to finish).
    producer: Option<rtrb::Producer<i16>>,
    writer: Option<JoinHandle<()>>,
    health: Arc<OutputHealth>,
    /// Set while the file cannot be written (the writer retries).
    fault: Arc<Fault>,
    /// Tests: make every write and reopen fail with ENOSPC while set.
    #[cfg(test)]
    fail_writes: Arc<std::sync::atomic::AtomicBool>,
}

impl WavRecorder {
    /// Create (or truncate) the file at `path`, creating its parent
    /// folders, and start the writer thread. `rate` and `channels` are those
    /// of the audio [`Output::write`] will be handed. Errors: the file or a
    /// folder cannot be created, or the thread cannot be started.
    pub fn new(path: &Path, rate: u32, channels: u16) -> io::Result<Self> {
        Self::with_limit(path, rate, channels, MAX_DATA_BYTES)
    }

    /// A recorder zone's recorder: [`WavRecorder::new`] with its files
    /// split and pruned as `rotation` says (module docs). `path` is the
    /// configured `wav`: the current file, that the others are named after.
    pub fn recorder(path: &Path, rate: u32, channels: u16, rotation: Rotation) -> io::Result<Self> {
        Self::with_options(path, rate, channels, MAX_DATA_BYTES, Some(rotation))
    }

    /// [`WavRecorder::new`] with files closed and moved aside after
    /// `max_data_bytes` of audio (tests use a small limit).
    pub fn with_limit(
        path: &Path,
        rate: u32,
        channels: u16,
        max_data_bytes: u64,
    ) -> io::Result<Self> {
        Self::with_options(path, rate, channels, max_data_bytes, None)
    }

    fn with_options(
        path: &Path,
        rate: u32,
        channels: u16,
        max_data_bytes: u64,
        rotation: Option<Rotation>,
    ) -> io::Result<Self> {
        if channels == 0 || rate == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a WAV recording needs at least one channel and a sample rate",
            ));
        }
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let fault = Arc::new(Fault::default());
        #[cfg(test)]
        let fail_writes = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut file = RecordingFile {
            path: path.to_path_buf(),
            spec,
            max_data_bytes: max_data_bytes.max(2 * channels as u64),
            rotation,
            period: None,
            fault: fault.clone(),
            #[cfg(test)]
            fail_writes: fail_writes.clone(),
        };
        if let Ok(m) = std::fs::metadata(path) {
            if m.len() > 0 {
                // Named by when it was last written: the day it holds.
                let last = m.modified().map(DateTime::<Utc>::from).ok();
                let moved = file.move_aside(last)?;
                tracing::info!(file = %path.display(), "the recording found at {} was moved aside to {}", path.display(), moved.display());
            }
        }
        let wav = file.create()?;
        if let Some(r) = &file.rotation {
            prune(&file.path, &r.retention, (r.clock)().into());
        }
        let (producer, consumer) =
            rtrb::RingBuffer::new(rate as usize * channels as usize * RING_SECONDS);
        let health = Arc::new(OutputHealth::default());
        let writer_health = health.clone();
        let writer = std::thread::Builder::new()
            .name("wav-recorder".into())
            .spawn(move || run_writer(wav, file, consumer, &writer_health))?;
        Ok(Self {
            path: path.to_path_buf(),
            channels: channels as usize,
            producer: Some(producer),
            writer: Some(writer),
            health,
            fault,
            #[cfg(test)]
            fail_writes,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Set while the recording cannot be written, with why; cleared when
    /// the writer has recovered. Watch it for the zone's health.
    pub fn fault(&self) -> Arc<Fault> {
        self.fault.clone()
    }
}

impl Output for WavRecorder {
    fn write(&mut self, pcm: &[f32], _tick: &Tick) {
        let Some(producer) = self.producer.as_mut() else {
            return;
        };
        let frames = pcm.len() / self.channels;
        let samples = frames * self.channels; // whole frames only
        match producer.write_chunk_uninit(samples) {
            Ok(chunk) => {
                chunk.fill_from_iter(pcm[..samples].iter().map(|&s| to_i16(s)));
                self.health.record_sent(samples * 2);
            }
            Err(_) => self.health.record_dropped(frames),
        }
    }

    fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }
}

impl Drop for WavRecorder {
    fn drop(&mut self) {
        // Abandoning the ring tells the writer to drain it and finish.
        drop(self.producer.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::files::{is_recording_of, period};
    use super::*;
    use crate::config::{WavRetention, WavRotate};
    use chrono::TimeZone;
    use std::fs::File;
    use std::time::{Duration, Instant, SystemTime};

    fn tick(index: u64) -> Tick {
        Tick {
            index,
            deadline: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn sine(freq: f64, rate: u32, start: usize, frames: usize, channels: usize) -> Vec<f32> {
        (start..start + frames)
            .flat_map(|i| {
                let s = 0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin();
                std::iter::repeat_n(s as f32, channels)
            })
            .collect()
    }

    #[test]
    fn records_two_seconds_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/folder/zone.wav");
        let mut rec = WavRecorder::new(&path, 48000, 2).unwrap();
        let health = rec.health();
        for k in 0..100 {
            rec.write(&sine(1000.0, 48000, k * 960, 960, 2), &tick(k as u64));
        }
        drop(rec);
        assert_eq!(
            health
                .dropped_frames
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        let mut reader = hound::WavReader::open(&path).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 48000, 16)
        );
        assert_eq!(reader.duration(), 96000);
        let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        let expected = sine(1000.0, 48000, 0, 96000, 2);
        for (i, (&got, &want)) in samples.iter().zip(&expected).enumerate() {
            assert!(
                (got as f32 / 32767.0 - want).abs() < 1.0 / 32767.0,
                "sample {i}"
            );
        }
    }

    #[test]
    fn an_old_recording_is_moved_aside_and_a_long_one_rotates_without_losing_a_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arsip.wav");
        std::fs::write(&path, b"yesterday").unwrap();
        // 0.5 s of 48 kHz mono per file; 2 s written in 20 ms packets.
        let mut rec = WavRecorder::with_limit(&path, 48000, 1, 48000).unwrap();
        for k in 0..100 {
            rec.write(&sine(440.0, 48000, k * 960, 960, 1), &tick(k as u64));
            // Let the writer keep up, as it does at real time.
            if k % 10 == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        drop(rec);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let old: Vec<&PathBuf> = files
            .iter()
            .filter(|p| std::fs::read(p).unwrap() == b"yesterday")
            .collect();
        assert_eq!(old.len(), 1, "the old file was kept: {files:?}");
        assert!(old[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("arsip-"));
        let mut total = 0;
        for f in files
            .iter()
            .filter(|p| std::fs::read(p).unwrap() != b"yesterday")
        {
            let r = hound::WavReader::open(f).unwrap();
            assert!(
                r.duration() as u64 * 2 <= 48000,
                "{f:?} holds {} frames",
                r.duration()
            );
            total += r.duration();
        }
        assert_eq!(total, 96000, "every frame is in some file: {files:?}");
        assert!(files.len() >= 5, "{files:?}");
    }

    #[test]
    fn header_is_readable_while_recording() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.wav");
        let mut rec = WavRecorder::new(&path, 8000, 1).unwrap();
        rec.write(&sine(1000.0, 8000, 0, 8000, 1), &tick(0));
        // The writer updates the header within about a second; also give it
        // a chance to drain first.
        std::thread::sleep(HEADER_INTERVAL + Duration::from_millis(300));
        rec.write(&[0.0; 160], &tick(1));
        std::thread::sleep(Duration::from_millis(200));
        let reader = hound::WavReader::open(&path).unwrap();
        assert!(
            reader.duration() >= 8000,
            "header says {}",
            reader.duration()
        );
        drop(rec);
        assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 8160);
    }

    #[test]
    fn full_ring_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.wav");
        let mut rec = WavRecorder::new(&path, 8000, 1).unwrap();
        let health = rec.health();
        // Far more than the ring holds, pushed at once: some packets must be
        // dropped (the writer cannot drain 40 s of audio in microseconds),
        // and every frame is either recorded or counted as dropped.
        let packet = vec![0.25f32; 8000];
        for k in 0..40 {
            rec.write(&packet, &tick(k));
        }
        drop(rec);
        let dropped = health
            .dropped_frames
            .load(std::sync::atomic::Ordering::Relaxed);
        let recorded = hound::WavReader::open(&path).unwrap().duration() as u64;
        assert!(dropped > 0);
        assert_eq!(dropped + recorded, 40 * 8000);
    }

    /// Write `seconds` of 20 ms packets of `freq` at 8 kHz, at about real
    /// time (so the writer keeps up, as with the engine).
    fn feed(rec: &mut WavRecorder, freq: f64, start: usize, packets: usize) -> usize {
        for k in 0..packets {
            rec.write(&sine(freq, 8000, start + k * 160, 160, 1), &tick(k as u64));
            std::thread::sleep(Duration::from_millis(20));
        }
        start + packets * 160
    }

    #[test]
    fn a_failing_disk_degrades_the_recorder_then_it_records_again_with_a_valid_file() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arsip.wav");
        let mut rec = WavRecorder::new(&path, 8000, 1).unwrap();
        let fault = rec.fault();
        let health = rec.health();
        // 1 s recorded, then writes fail (ENOSPC) for 1.5 s, then work.
        let at = feed(&mut rec, 440.0, 0, 50);
        std::thread::sleep(HEADER_INTERVAL);
        rec.fail_writes.store(true, Ordering::Relaxed);
        let at = feed(&mut rec, 440.0, at, 75);
        let why = fault.get().expect("degraded while writes fail");
        assert!(why.contains("No space left on device"), "{why}");
        assert!(why.contains(&path.display().to_string()), "{why}");
        // While failed, the file on disk stays a valid WAV.
        let mid = hound::WavReader::open(&path).unwrap().duration();
        assert!(mid >= 7000, "what was recorded before is kept: {mid}");
        rec.fail_writes.store(false, Ordering::Relaxed);
        // Audio after recovery: a different tone, 2 s (covering the
        // longest backoff so far).
        let _ = feed(&mut rec, 1000.0, at, 150);
        assert_eq!(fault.get(), None, "recovered by itself");
        drop(rec);
        let dropped = health.dropped_frames.load(Ordering::Relaxed);
        assert!(dropped >= 8000, "the lost audio is counted: {dropped}");
        let mut reader = hound::WavReader::open(&path).unwrap();
        let total = reader.duration() as usize;
        let samples: Vec<f32> = reader
            .samples::<i16>()
            .map(|s| s.unwrap() as f32 / 32768.0)
            .collect();
        assert_eq!(samples.len(), total, "the header is right");
        let head = crossings(&samples[..4000]);
        let tail = crossings(&samples[total - 4000..]);
        // 0.5 s at 8 kHz: 220 crossings of 440 Hz, 500 of 1000 Hz.
        assert!((210..=230).contains(&head), "{head}");
        assert!(
            (490..=510).contains(&tail),
            "new audio after recovery: {tail}"
        );
    }

    fn crossings(s: &[f32]) -> usize {
        s.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count()
    }

    /// A clock the test moves by hand.
    fn manual_clock(start: DateTime<Utc>) -> (WallClock, Arc<std::sync::atomic::AtomicI64>) {
        let ms = Arc::new(std::sync::atomic::AtomicI64::new(start.timestamp_millis()));
        let read = ms.clone();
        let clock: WallClock = Arc::new(move || {
            DateTime::from_timestamp_millis(read.load(std::sync::atomic::Ordering::Relaxed))
                .unwrap()
        });
        (clock, ms)
    }

    fn jakarta(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Jakarta
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn at_local_midnight_the_recording_goes_on_in_the_next_days_file_without_losing_a_frame() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("rec/arsip.wav");
        // 23:59:58 in Jakarta is 16:59:58 UTC: the day is the local one.
        let (clock, ms) = manual_clock(jakarta(2026, 12, 6, 23, 59, 58));
        let rotation = Rotation {
            retention: WavRetention::default(),
            timezone: chrono_tz::Asia::Jakarta,
            clock,
        };
        let mut rec = WavRecorder::recorder(&base, 8000, 1, rotation).unwrap();
        let health = rec.health();
        // 1 s of 440 Hz before midnight, 1 s of 1000 Hz after.
        let at = feed(&mut rec, 440.0, 0, 50);
        std::thread::sleep(Duration::from_millis(200));
        ms.store(
            jakarta(2026, 12, 7, 0, 0, 0).timestamp_millis(),
            Ordering::Relaxed,
        );
        let _ = feed(&mut rec, 1000.0, at, 50);
        std::thread::sleep(Duration::from_millis(200));
        drop(rec);
        assert_eq!(health.dropped_frames.load(Ordering::Relaxed), 0);
        // The day that ended under its date; the current one at the path.
        assert_eq!(
            names(base.parent().unwrap()),
            ["arsip-2026-12-06.wav", "arsip.wav"]
        );
        let (first, second) = (base.with_file_name("arsip-2026-12-06.wav"), base.clone());
        let read = |p: &Path| -> Vec<f32> {
            let mut r = hound::WavReader::open(p).unwrap();
            let n = r.duration() as usize;
            let s: Vec<f32> = r
                .samples::<i16>()
                .map(|s| s.unwrap() as f32 / 32768.0)
                .collect();
            assert_eq!(s.len(), n, "{p:?}: the header is right");
            s
        };
        let (a, b) = (read(&first), read(&second));
        assert_eq!((a.len(), b.len()), (8000, 8000), "split at the boundary");
        assert_eq!(crossings(&a), 440, "the day before: 440 Hz");
        assert_eq!(crossings(&b), 1000, "the next day: 1000 Hz");
        // Back to back: the samples continue the same sine across files.
        let whole: Vec<f32> = a.iter().chain(&b).copied().collect();
        let expected: Vec<f32> = sine(440.0, 8000, 0, 8000, 1)
            .into_iter()
            .chain(sine(1000.0, 8000, 8000, 8000, 1))
            .collect();
        for (i, (g, w)) in whole.iter().zip(&expected).enumerate() {
            assert!((g - w).abs() < 2.0 / 32767.0, "sample {i}");
        }
    }

    #[test]
    fn a_file_found_at_start_is_moved_aside_under_the_day_or_hour_of_its_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("arsip.wav");
        let tz = chrono_tz::Asia::Jakarta;
        let now = Utc::now().with_timezone(&tz);
        for rotate in [WavRotate::Daily, WavRotate::Daily, WavRotate::Hourly] {
            let retention = WavRetention {
                rotate,
                ..WavRetention::default()
            };
            let mut rec =
                WavRecorder::recorder(&base, 8000, 1, Rotation::new(retention, tz)).unwrap();
            rec.write(&[0.1; 160], &tick(0));
        }
        let day = now.format("%Y-%m-%d");
        let hour = now.format("%Y-%m-%dT%H");
        // The first run's file moved aside by the second run, whose file
        // the third (hourly) run moved aside under the hour.
        assert_eq!(
            names(dir.path()),
            [
                format!("arsip-{day}.wav"),
                format!("arsip-{hour}.wav"),
                "arsip.wav".to_string()
            ],
            "(fails only if the test straddles an hour)"
        );
        for n in names(dir.path()) {
            assert_eq!(
                hound::WavReader::open(dir.path().join(n))
                    .unwrap()
                    .duration(),
                160
            );
        }
        // A second part of the same day gets -1.
        let retention = WavRetention::default();
        drop(WavRecorder::recorder(&base, 8000, 1, Rotation::new(retention, tz)).unwrap());
        assert!(dir.path().join(format!("arsip-{day}-1.wav")).exists());
    }

    #[test]
    fn periods_end_at_the_local_boundary() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = jakarta(2026, 12, 6, 23, 59, 59);
        let (label, end) = period(now, tz, WavRotate::Daily).unwrap();
        assert_eq!(label, "2026-12-06");
        assert_eq!(end, jakarta(2026, 12, 7, 0, 0, 0));
        let (label, end) = period(now, tz, WavRotate::Hourly).unwrap();
        assert_eq!(label, "2026-12-06T23");
        assert_eq!(end, jakarta(2026, 12, 7, 0, 0, 0));
        assert_eq!(period(now, tz, WavRotate::None), None);
        // A day that starts in a daylight-saving gap (Santiago, 2026-09-06:
        // 00:00 does not exist) ends at the first local time after it.
        let tz = chrono_tz::America::Santiago;
        let before = tz
            .with_ymd_and_hms(2026, 9, 5, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let (_, end) = period(before, tz, WavRotate::Daily).unwrap();
        assert!(
            end > before && end - before <= chrono::Duration::hours(12),
            "{end}"
        );
    }

    #[test]
    fn only_the_zones_own_files_are_its_recordings() {
        let base = Path::new("/r/arsip.wav");
        for yes in [
            "arsip.wav",
            "arsip-2026-12-06.wav",
            "arsip-2026-12-06-3.wav",
            "arsip-2026-12-06T14.wav",
            "arsip-20261206T101010Z.wav",
            "arsip-20261206T101010Z-1.wav",
        ] {
            assert!(is_recording_of(base, yes), "{yes}");
        }
        for no in [
            "arsip-2.wav",
            "arsip-lama.wav",
            "arsip-2026-12-06.mp3",
            "arsip2-2026-12-06.wav",
            "pasar-2026-12-06.wav",
            "arsip-2026-12-06.wav.bak",
        ] {
            assert!(!is_recording_of(base, no), "{no}");
        }
    }

    /// A file of `bytes` last written `days_ago` days before `now`.
    fn aged(dir: &Path, name: &str, bytes: usize, now: SystemTime, days_ago: u64) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let f = File::options().write(true).open(&path).unwrap();
        f.set_modified(now - Duration::from_secs(days_ago * 86_400))
            .unwrap();
        path
    }

    #[test]
    fn pruning_by_age_deletes_the_old_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let now = SystemTime::now();
        aged(d, "arsip-2026-11-20.wav", 100, now, 16);
        aged(d, "arsip-20261125T000000Z.wav", 100, now, 8);
        aged(d, "arsip-2026-11-28.wav", 100, now, 6);
        aged(d, "arsip-2026-12-03.wav", 100, now, 1);
        // Not this zone's, however old.
        aged(d, "arsip-lama.wav", 100, now, 90);
        aged(d, "pasar-2026-11-01.wav", 100, now, 40);
        // The current file is never deleted, even if its mtime is old.
        aged(d, "arsip.wav", 100, now, 30);
        let retention = WavRetention {
            rotate: WavRotate::Daily,
            keep_days: Some(7),
            max_total_bytes: None,
        };
        let mut deleted = prune(&d.join("arsip.wav"), &retention, now);
        deleted.sort();
        assert_eq!(
            deleted,
            [
                d.join("arsip-2026-11-20.wav"),
                d.join("arsip-20261125T000000Z.wav"),
            ]
        );
        assert_eq!(
            names(d),
            [
                "arsip-2026-11-28.wav",
                "arsip-2026-12-03.wav",
                "arsip-lama.wav",
                "arsip.wav",
                "pasar-2026-11-01.wav"
            ]
        );
    }

    #[test]
    fn pruning_by_size_deletes_the_oldest_until_the_total_fits() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let now = SystemTime::now();
        let mib = 1 << 20;
        aged(d, "arsip-2026-12-01.wav", mib, now, 5);
        aged(d, "arsip-2026-12-02.wav", mib, now, 4);
        aged(d, "arsip-2026-12-03.wav", mib, now, 3);
        aged(d, "arsip-2026-12-04.wav", mib, now, 2);
        aged(d, "pasar-2026-11-01.wav", 5 * mib, now, 40);
        let current = aged(d, "arsip.wav", 2 * mib, now, 0);
        let retention = WavRetention {
            rotate: WavRotate::Daily,
            keep_days: None,
            max_total_bytes: Some(4 * mib as u64),
        };
        // 6 MiB of this zone's, 4 allowed: the two oldest go.
        let deleted = prune(&current, &retention, now);
        assert_eq!(
            deleted,
            [
                d.join("arsip-2026-12-01.wav"),
                d.join("arsip-2026-12-02.wav")
            ]
        );
        // A current file over the bound by itself: everything else goes,
        // never the current file.
        std::fs::write(&current, vec![0u8; 5 * mib]).unwrap();
        let deleted = prune(&current, &retention, now);
        assert_eq!(deleted.len(), 2);
        assert_eq!(names(d), ["arsip.wav", "pasar-2026-11-01.wav"]);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(WavRecorder::new(&file.join("below-a-file.wav"), 48000, 1).is_err());
    }
}
