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
//! A recorder runs for months: the configured path is always the current
//! recording. A file already there at start is moved aside, never
//! truncated, and the current file is closed and moved aside before its
//! data reaches [`MAX_DATA_BYTES`] (a WAV header counts bytes in 32 bits).
//! A file moved aside is named `STEM-YYYYMMDDTHHMMSSZ.wav`, by the UTC time
//! it was closed.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{to_i16, Output, OutputHealth, Tick};

/// Seconds of audio the ring holds before packets are dropped.
pub const RING_SECONDS: usize = 4;
/// How often the writer updates the WAV header.
pub const HEADER_INTERVAL: Duration = Duration::from_secs(1);
/// Data bytes after which the current file is closed and a new one begun:
/// 2 GiB, about 6 hours of 48 kHz mono.
pub const MAX_DATA_BYTES: u64 = 1 << 31;
/// How long the writer sleeps when the ring is empty.
const IDLE_SLEEP: Duration = Duration::from_millis(20);

/// Writes what the zone plays to a WAV file. See the module docs.
pub struct WavRecorder {
    path: PathBuf,
    channels: usize,
    /// `None` only while dropping (dropping it tells the writer to finish).
    producer: Option<rtrb::Producer<i16>>,
    writer: Option<JoinHandle<()>>,
    health: Arc<OutputHealth>,
}

impl WavRecorder {
    /// Create (or truncate) the file at `path`, creating its parent
    /// folders, and start the writer thread. `rate` and `channels` are those
    /// of the audio [`Output::write`] will be handed. Errors: the file or a
    /// folder cannot be created, or the thread cannot be started.
    pub fn new(path: &Path, rate: u32, channels: u16) -> io::Result<Self> {
        Self::with_limit(path, rate, channels, MAX_DATA_BYTES)
    }

    /// [`WavRecorder::new`] with files closed and moved aside after
    /// `max_data_bytes` of audio (tests use a small limit).
    pub fn with_limit(
        path: &Path,
        rate: u32,
        channels: u16,
        max_data_bytes: u64,
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
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            move_aside(path)?;
        }
        let wav = hound::WavWriter::create(path, spec).map_err(hound_to_io)?;
        let file = RecordingFile {
            path: path.to_path_buf(),
            spec,
            max_data_bytes: max_data_bytes.max(2 * channels as u64),
        };
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
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
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

/// Where the writer records, and when it starts a new file.
struct RecordingFile {
    path: PathBuf,
    spec: hound::WavSpec,
    max_data_bytes: u64,
}

/// Rename `path` to `STEM-YYYYMMDDTHHMMSSZ.wav` beside it (with `-N` added
/// when that name is taken).
fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wav".into());
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

/// The writer thread: drain the ring into the file until the producer is
/// gone, updating the header every [`HEADER_INTERVAL`], and starting a new
/// file before the data outgrows [`RecordingFile::max_data_bytes`].
fn run_writer(
    mut wav: hound::WavWriter<BufWriter<File>>,
    file: RecordingFile,
    mut ring: rtrb::Consumer<i16>,
    health: &OutputHealth,
) {
    let mut last_header = Instant::now();
    let mut failed = false;
    let mut data_bytes: u64 = 0;
    loop {
        // Seen before draining: everything pushed before the producer went
        // away is in the ring now and is written below.
        let finished = ring.is_abandoned();
        let available = ring.slots();
        if available > 0 {
            let chunk = ring.read_chunk(available).expect("slots are available");
            let (a, b) = chunk.as_slices();
            // Packets arrive whole, so a chunk boundary is a frame boundary.
            if !failed && data_bytes + 2 * available as u64 > file.max_data_bytes {
                match rotate(wav, &file) {
                    Ok(next) => {
                        wav = next;
                        data_bytes = 0;
                    }
                    Err(e) => {
                        health.record_error(&e);
                        // The old writer was consumed: nothing more can be
                        // written; the zone plays on without its recording.
                        ring_drain_forever(ring);
                        return;
                    }
                }
            }
            data_bytes += 2 * available as u64;
            if !failed {
                for &s in a.iter().chain(b) {
                    if let Err(e) = wav.write_sample(s) {
                        health.record_error(&hound_to_io(e));
                        failed = true;
                        break;
                    }
                }
            }
            chunk.commit_all();
        }
        if !failed && last_header.elapsed() >= HEADER_INTERVAL {
            last_header = Instant::now();
            if let Err(e) = wav.flush() {
                health.record_error(&hound_to_io(e));
            }
        }
        if finished {
            break;
        }
        if available == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
    if let Err(e) = wav.finalize() {
        health.record_error(&hound_to_io(e));
    }
}

/// Close the current file, move it aside and open a new one at the path.
fn rotate(
    wav: hound::WavWriter<BufWriter<File>>,
    file: &RecordingFile,
) -> io::Result<hound::WavWriter<BufWriter<File>>> {
    wav.finalize().map_err(hound_to_io)?;
    let moved = move_aside(&file.path)?;
    tracing::info!(from = %file.path.display(), to = %moved.display(), "recording rotated");
    hound::WavWriter::create(&file.path, file.spec).map_err(hound_to_io)
}

/// After a failed rotation: keep emptying the ring (so the engine never
/// sees it full) until the recorder is dropped.
fn ring_drain_forever(mut ring: rtrb::Consumer<i16>) {
    loop {
        let finished = ring.is_abandoned();
        let n = ring.slots();
        if n > 0 {
            if let Ok(c) = ring.read_chunk(n) {
                c.commit_all();
            }
        }
        if finished {
            return;
        }
        std::thread::sleep(IDLE_SLEEP);
    }
}

fn hound_to_io(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

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

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(WavRecorder::new(&file.join("below-a-file.wav"), 48000, 1).is_err());
    }
}
