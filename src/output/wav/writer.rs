//! The writer thread: drains the ring into the current file, keeps the
//! header up to date, starts a new file when the day, the hour or the
//! header's 32-bit lengths run out, and after a failed write repairs the
//! file and carries on (module docs of `wav.rs`).

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use super::files::{hound_to_io, move_aside, prune, RecordingFile, Writer};
use crate::output::OutputHealth;

/// How often the writer updates the WAV header.
pub const HEADER_INTERVAL: Duration = Duration::from_secs(1);
/// How long the writer sleeps when the ring is empty.
const IDLE_SLEEP: Duration = Duration::from_millis(20);
/// After a failed write, the first retry comes this soon...
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// ...and each further one twice as late, up to this.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

/// When to try writing again after a failure: [`RETRY_FIRST`], then twice
/// as long each time, at most [`RETRY_MAX`]. Never blocks: the writer asks
/// [`Retry::due`] between drains of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Retry {
    next: Instant,
    delay: Duration,
}

impl Retry {
    /// A first failure at `now`.
    pub(super) fn after_failure(now: Instant) -> Retry {
        Retry {
            next: now + RETRY_FIRST,
            delay: RETRY_FIRST,
        }
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// The attempt at `now` failed too: wait longer next time.
    pub(super) fn failed_again(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(RETRY_MAX);
        self.next = now + self.delay;
    }
}

/// The writer's state: writing, or waiting to retry.
pub(super) enum State {
    Writing { wav: Writer, data_bytes: u64 },
    Failed { retry: Retry, since: Instant },
}

/// The writer thread: drain the ring into the file until the producer is
/// gone, updating the header every [`HEADER_INTERVAL`], and starting a new
/// file before the data outgrows [`RecordingFile::max_data_bytes`]. A
/// failed write waits for a retry (module docs).
pub(super) fn run_writer(
    wav: Writer,
    mut file: RecordingFile,
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
                    match write_chunk(wav, data_bytes, &mut file, a, b) {
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

/// Write one drained chunk, rotating the file first when it would not fit
/// or its day or hour is over. Returns the writer and its data bytes; on
/// failure, the error and the writer if there still is one (a failed
/// rotation consumed it).
#[allow(clippy::type_complexity)]
pub(super) fn write_chunk(
    mut wav: Writer,
    mut data_bytes: u64,
    file: &mut RecordingFile,
    a: &[i16],
    b: &[i16],
) -> Result<(Writer, u64), (Option<Writer>, io::Error)> {
    let bytes = 2 * (a.len() + b.len()) as u64;
    if let Err(e) = file.injected() {
        return Err((Some(wav), e));
    }
    if data_bytes + bytes > file.max_data_bytes || file.period_over() {
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
pub(super) fn fail(wav: Option<Writer>, file: &RecordingFile, e: io::Error) -> State {
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

/// Close the current file, move it aside (daily or hourly: under the day
/// or hour it holds) and start a new one at the path. Then prune.
pub(super) fn rotate(wav: Writer, file: &mut RecordingFile) -> io::Result<Writer> {
    wav.finalize().map_err(hound_to_io)?;
    let moved = file.move_aside(None)?;
    tracing::info!(
        from = %file.path.display(),
        to = %moved.display(),
        "recording rotated: {} closed as {}, a new one begun",
        file.path.display(),
        moved.display()
    );
    let wav = file.create()?;
    if let (Some(r), Some(now)) = (&file.rotation, file.now()) {
        prune(&file.path, &r.retention, now.into());
    }
    Ok(wav)
}

/// After a failure: make the file at the path valid again and open it to
/// append. The file is cut to the last whole frame that reached the disk,
/// and its header's RIFF and data lengths are rewritten to match. Room for
/// a second of audio is reserved and given back first, so that a disk
/// still full fails here rather than at the next write. A file that is gone
/// (or too damaged to repair) is started anew. Returns the writer and the
/// data bytes already in the file.
pub(super) fn reopen(file: &RecordingFile) -> io::Result<(Writer, u64)> {
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

pub(super) fn new_file(file: &RecordingFile) -> io::Result<(Writer, u64)> {
    let wav = hound::WavWriter::create(&file.path, file.spec).map_err(hound_to_io)?;
    Ok((wav, 0))
}

/// Check that `bytes` more fit after `at`: allocate them, then cut the file
/// back. (posix_fallocate writes zeros where the filesystem cannot
/// allocate.)
pub(super) fn reserve(f: &File, at: u64, bytes: u64) -> io::Result<()> {
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
pub(super) fn find_data_chunk(head: &[u8]) -> Option<(u64, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
