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

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{to_i16, Fault, Output, OutputHealth, Tick};

/// Seconds of audio the ring holds before packets are dropped.
pub const RING_SECONDS: usize = 4;
/// How often the writer updates the WAV header.
pub const HEADER_INTERVAL: Duration = Duration::from_secs(1);
/// Data bytes after which the current file is closed and a new one begun:
/// 2 GiB, about 6 hours of 48 kHz mono.
pub const MAX_DATA_BYTES: u64 = 1 << 31;
/// How long the writer sleeps when the ring is empty.
const IDLE_SLEEP: Duration = Duration::from_millis(20);
/// After a failed write, the first retry comes this soon...
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// ...and each further one twice as late, up to this.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

type Writer = hound::WavWriter<BufWriter<File>>;

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
        let fault = Arc::new(Fault::default());
        #[cfg(test)]
        let fail_writes = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let file = RecordingFile {
            path: path.to_path_buf(),
            spec,
            max_data_bytes: max_data_bytes.max(2 * channels as u64),
            fault: fault.clone(),
            #[cfg(test)]
            fail_writes: fail_writes.clone(),
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

/// Where the writer records, and when it starts a new file.
struct RecordingFile {
    path: PathBuf,
    spec: hound::WavSpec,
    max_data_bytes: u64,
    fault: Arc<Fault>,
    #[cfg(test)]
    fail_writes: Arc<std::sync::atomic::AtomicBool>,
}

impl RecordingFile {
    /// Tests: the injected failure, if switched on.
    fn injected(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_writes.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }

    fn bytes_per_frame(&self) -> u64 {
        2 * self.spec.channels as u64
    }
}

/// When to try writing again after a failure: [`RETRY_FIRST`], then twice
/// as long each time, at most [`RETRY_MAX`]. Never blocks: the writer asks
/// [`Retry::due`] between drains of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    next: Instant,
    delay: Duration,
}

impl Retry {
    /// A first failure at `now`.
    fn after_failure(now: Instant) -> Retry {
        Retry {
            next: now + RETRY_FIRST,
            delay: RETRY_FIRST,
        }
    }

    fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// The attempt at `now` failed too: wait longer next time.
    fn failed_again(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(RETRY_MAX);
        self.next = now + self.delay;
    }
}

/// The writer's state: writing, or waiting to retry.
enum State {
    Writing { wav: Writer, data_bytes: u64 },
    Failed { retry: Retry, since: Instant },
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
/// file before the data outgrows [`RecordingFile::max_data_bytes`]. A
/// failed write waits for a retry (module docs).
fn run_writer(
    wav: Writer,
    file: RecordingFile,
    mut ring: rtrb::Consumer<i16>,
    health: &OutputHealth,
) {
    let mut last_header = Instant::now();
    let mut state = State::Writing { wav, data_bytes: 0 };
    loop {
        // Seen before draining: everything pushed before the producer went
        // away is in the ring now and is written below.
        let finished = ring.is_abandoned();
        let available = ring.slots();
        if let State::Failed { retry, since } = &mut state {
            let now = Instant::now();
            if retry.due(now) || finished {
                match reopen(&file) {
                    Ok((wav, data_bytes)) => {
                        file.fault.clear();
                        tracing::info!(
                            file = %file.path.display(),
                            "recording to {} again after {} s without",
                            file.path.display(),
                            since.elapsed().as_secs()
                        );
                        state = State::Writing { wav, data_bytes };
                        last_header = now;
                    }
                    Err(e) => {
                        tracing::debug!(file = %file.path.display(), "recording still failing: {e}");
                        retry.failed_again(now);
                    }
                }
            }
        }
        if available > 0 {
            let chunk = ring.read_chunk(available).expect("slots are available");
            let (a, b) = chunk.as_slices();
            let frames = available / file.spec.channels as usize;
            // Packets arrive whole, so a chunk boundary is a frame boundary.
            state = match state {
                State::Writing { wav, data_bytes } => {
                    match write_chunk(wav, data_bytes, &file, a, b) {
                        Ok((wav, data_bytes)) => State::Writing { wav, data_bytes },
                        Err((wav, e)) => {
                            health.record_dropped(frames);
                            fail(wav, &file, e)
                        }
                    }
                }
                // Still failed: the audio is lost, and counted.
                failed @ State::Failed { .. } => {
                    health.record_dropped(frames);
                    failed
                }
            };
            chunk.commit_all();
        }
        if last_header.elapsed() >= HEADER_INTERVAL {
            last_header = Instant::now();
            state = match state {
                State::Writing {
                    mut wav,
                    data_bytes,
                } => match file
                    .injected()
                    .and_then(|_| wav.flush().map_err(hound_to_io))
                {
                    Ok(()) => State::Writing { wav, data_bytes },
                    Err(e) => fail(Some(wav), &file, e),
                },
                failed => failed,
            };
        }
        if finished {
            break;
        }
        if available == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
    match state {
        State::Writing { wav, .. } => {
            if let Err(e) = wav.finalize() {
                tracing::error!(file = %file.path.display(), "cannot finish the recording {}: {e}", file.path.display());
            }
        }
        State::Failed { since, .. } => tracing::warn!(
            file = %file.path.display(),
            "the recording {} ends {} s short: it could not be written since",
            file.path.display(),
            since.elapsed().as_secs()
        ),
    }
}

/// Write one drained chunk, rotating the file first when it would not fit.
/// Returns the writer and its data bytes; on failure, the error and the
/// writer if there still is one (a failed rotation consumed it).
#[allow(clippy::type_complexity)]
fn write_chunk(
    mut wav: Writer,
    mut data_bytes: u64,
    file: &RecordingFile,
    a: &[i16],
    b: &[i16],
) -> Result<(Writer, u64), (Option<Writer>, io::Error)> {
    let bytes = 2 * (a.len() + b.len()) as u64;
    if let Err(e) = file.injected() {
        return Err((Some(wav), e));
    }
    if data_bytes + bytes > file.max_data_bytes {
        wav = rotate(wav, file).map_err(|e| (None, e))?;
        data_bytes = 0;
    }
    data_bytes += bytes;
    for &s in a.iter().chain(b) {
        if let Err(e) = wav.write_sample(s) {
            return Err((Some(wav), hound_to_io(e)));
        }
    }
    Ok((wav, data_bytes))
}

/// Writing failed with `e`: drop the writer (it finalizes what it can; the
/// retry repairs the rest), set the fault, log once, wait for a retry.
fn fail(wav: Option<Writer>, file: &RecordingFile, e: io::Error) -> State {
    drop(wav);
    let why = format!(
        "cannot write the recording {}: {e}; retrying every few seconds, the zone plays on",
        file.path.display(),
    );
    tracing::error!(file = %file.path.display(), "{why}");
    file.fault.set(why);
    let now = Instant::now();
    State::Failed {
        retry: Retry::after_failure(now),
        since: now,
    }
}

/// Close the current file, move it aside and open a new one at the path.
fn rotate(wav: Writer, file: &RecordingFile) -> io::Result<Writer> {
    wav.finalize().map_err(hound_to_io)?;
    let moved = move_aside(&file.path)?;
    tracing::info!(from = %file.path.display(), to = %moved.display(), "recording rotated");
    hound::WavWriter::create(&file.path, file.spec).map_err(hound_to_io)
}

/// After a failure: make the file at the path valid again and open it to
/// append. The file is cut to the last whole frame that reached the disk,
/// and its header's RIFF and data lengths are rewritten to match. Room for
/// a second of audio is reserved and given back first, so that a disk
/// still full fails here rather than at the next write. A file that is gone
/// (or too damaged to repair) is started anew. Returns the writer and the
/// data bytes already in the file.
fn reopen(file: &RecordingFile) -> io::Result<(Writer, u64)> {
    use std::io::{Read, Seek, SeekFrom, Write};
    file.injected()?;
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file.path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return new_file(file);
        }
        Err(e) => return Err(e),
    };
    let mut head = vec![0u8; 4096];
    let n = f.read(&mut head)?;
    head.truncate(n);
    let Some((data_len_offset, data_start)) = find_data_chunk(&head) else {
        drop(f);
        move_aside(&file.path)?;
        return new_file(file);
    };
    let len = f.metadata()?.len();
    let frame = file.bytes_per_frame();
    let data = (len.saturating_sub(data_start) / frame * frame).min(u32::MAX as u64 - data_start);
    let end = data_start + data;
    reserve(&f, end, file.spec.sample_rate as u64 * frame)?;
    f.set_len(end)?;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&((end - 8) as u32).to_le_bytes())?;
    f.seek(SeekFrom::Start(data_len_offset))?;
    f.write_all(&(data as u32).to_le_bytes())?;
    f.sync_all()?;
    drop(f);
    let wav = hound::WavWriter::append(&file.path).map_err(hound_to_io)?;
    Ok((wav, data))
}

fn new_file(file: &RecordingFile) -> io::Result<(Writer, u64)> {
    let wav = hound::WavWriter::create(&file.path, file.spec).map_err(hound_to_io)?;
    Ok((wav, 0))
}

/// Check that `bytes` more fit after `at`: allocate them, then cut the file
/// back. (posix_fallocate writes zeros where the filesystem cannot
/// allocate.)
fn reserve(f: &File, at: u64, bytes: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fallocate on a file descriptor we own; no memory passed.
    let rc =
        unsafe { libc::posix_fallocate(f.as_raw_fd(), at as libc::off_t, bytes as libc::off_t) };
    let result = if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    };
    f.set_len(at)?;
    result
}

/// In a RIFF/WAVE header: where the `data` chunk's length field is, and
/// where its samples begin. `None` when `head` is not such a header.
fn find_data_chunk(head: &[u8]) -> Option<(u64, u64)> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes(head[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"data" {
            return Some((at as u64 + 4, at as u64 + 8));
        }
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
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
    fn retries_back_off_to_the_bound_and_never_wait_longer() {
        let t0 = Instant::now();
        let mut r = Retry::after_failure(t0);
        assert!(!r.due(t0));
        assert!(r.due(t0 + RETRY_FIRST));
        let mut now = t0 + RETRY_FIRST;
        let mut delays = Vec::new();
        for _ in 0..6 {
            r.failed_again(now);
            delays.push(r.delay);
            assert!(!r.due(now));
            now = r.next;
            assert!(r.due(now));
        }
        let s = Duration::from_secs;
        assert_eq!(delays, [s(2), s(4), s(5), s(5), s(5), s(5)]);
    }

    #[test]
    fn finds_the_data_chunk_after_other_chunks() {
        let mut h = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        h.extend([0u8; 16]);
        h.extend(b"LIST\x03\0\0\0abc\0");
        h.extend(b"data\0\0\0\0");
        assert_eq!(find_data_chunk(&h), Some((52, 56)));
        assert_eq!(find_data_chunk(b"not a wav file at all"), None);
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

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(WavRecorder::new(&file.join("below-a-file.wav"), 48000, 1).is_err());
    }
}
