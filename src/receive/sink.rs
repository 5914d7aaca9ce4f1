//! Where the played audio goes: the [`Sink`] trait and the WAV recording.
//!
//! A sink is handed one block of f32 frames at a time (mono, or the
//! stream's channels interleaved), together with
//! the wall-clock time its first sample is due, by the playout thread
//! against its deadlines. The sound-card sink (`CardSink`, cargo feature
//! `local-audio`; `corong receive --local`) plays through the daemon's own
//! sound-card output (`output::local::SoundCard`) and reports its
//! nominal output delay (the ring's prefill and the device buffer) through
//! [`Sink::delay`]; the playout renders each block that much earlier.
//!
//! # The WAV recording and its sidecar
//! [`WavSink`] writes a 16-bit WAV at the stream's own rate and channels
//! (48 kHz for L16, mono or stereo; 8 kHz mono for PCMU: what was sent,
//! not resampled), through the
//! daemon's recorder ([`crate::output::wav::WavRecorder`]: a ring and a
//! writer thread, the header kept valid every second). Next to `PATH` it
//! writes `PATH.json`:
//!
//! ```json
//! {"first_sample_unix_ns": 1763900000123456789, "sample_rate": 48000,
//!  "codec": "l16", "latency_ms": 200, "clock": "CLOCK_REALTIME", ...}
//! ```
//!
//! `first_sample_unix_ns` is the wall-clock time (ns since the Unix epoch)
//! at which the WAV's first sample played; sample `i` played at
//! `first_sample_unix_ns + i * 1e9 / sample_rate`: the file has no gaps
//! (silence is written while nothing arrives). Two recordings line up by
//! these times. When the receiver stops, the sidecar is rewritten with a
//! `summary` of the run (packets, losses, concealment, corrections).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::output::wav::WavRecorder;
use crate::output::{Output, Tick};

/// Something that plays (or keeps) the receiver's output.
pub trait Sink {
    /// Take the next block; its first sample is due at `wall`.
    fn write(&mut self, block: &[f32], wall: SystemTime) -> io::Result<()>;

    /// How long after [`Sink::write`] returns the block's first sample is
    /// heard (the device buffer). Zero for a file.
    fn delay(&self) -> Duration {
        Duration::ZERO
    }

    /// The receiver is stopping: flush and close. `summary` describes the
    /// run; a sink may keep it.
    fn finish(&mut self, summary: serde_json::Value) -> io::Result<()>;
}

/// A WAV file and its JSON sidecar. See the module docs.
pub struct WavSink {
    recorder: Option<WavRecorder>,
    sidecar: PathBuf,
    meta: serde_json::Value,
    index: u64,
}

impl WavSink {
    /// Create `path` (and its folders) for audio at `rate` with `channels`
    /// interleaved. `meta` is written to the sidecar as well (codec,
    /// latency, where from).
    pub fn create(
        path: &Path,
        rate: u32,
        channels: u16,
        meta: serde_json::Value,
    ) -> io::Result<WavSink> {
        let recorder = WavRecorder::new(path, rate, channels)?;
        let mut sidecar = path.as_os_str().to_owned();
        sidecar.push(".json");
        let mut meta = meta;
        meta["sample_rate"] = rate.into();
        meta["channels"] = channels.into();
        meta["clock"] = "CLOCK_REALTIME".into();
        Ok(WavSink {
            recorder: Some(recorder),
            sidecar: sidecar.into(),
            meta,
            index: 0,
        })
    }

    /// Write the sidecar atomically (a temporary file, then a rename).
    fn write_sidecar(&self) -> io::Result<()> {
        let mut tmp = self.sidecar.as_os_str().to_owned();
        tmp.push(".tmp");
        let text = serde_json::to_string_pretty(&self.meta).map_err(io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, &self.sidecar)
    }
}

impl Sink for WavSink {
    fn write(&mut self, block: &[f32], wall: SystemTime) -> io::Result<()> {
        if self.recorder.is_none() {
            return Ok(());
        }
        if self.index == 0 {
            let ns = wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            self.meta["first_sample_unix_ns"] = (ns as u64).into();
            self.write_sidecar()?;
        }
        let tick = Tick {
            index: self.index,
            deadline: Instant::now(),
            wall,
        };
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.write(block, &tick);
        }
        self.index += 1;
        Ok(())
    }

    fn finish(&mut self, summary: serde_json::Value) -> io::Result<()> {
        let Some(recorder) = self.recorder.take() else {
            return Ok(());
        };
        let health = recorder.health();
        drop(recorder); // drains the ring, finalizes the header
        let dropped = health
            .dropped_frames
            .load(std::sync::atomic::Ordering::Relaxed);
        self.meta["summary"] = summary;
        self.meta["summary"]["wav_dropped_samples"] = dropped.into();
        if self.index > 0 {
            self.write_sidecar()?;
        }
        Ok(())
    }
}

/// The sound card (`corong receive --local`), through the same output the
/// daemon's `local` zones use. A card that goes away ends the receiver
/// with an error (systemd restarts it).
#[cfg(feature = "local-audio")]
pub struct CardSink {
    card: Option<crate::output::local::SoundCard>,
    fault: std::sync::Arc<crate::output::Fault>,
    index: u64,
}

#[cfg(feature = "local-audio")]
impl CardSink {
    /// Open `device` (ALSA name; `None`: the default) for `rate` Hz and
    /// `channels` interleaved.
    pub fn open(device: Option<&str>, rate: u32, channels: u16) -> io::Result<CardSink> {
        let card = crate::output::local::SoundCard::open(device, rate, channels)
            .map_err(io::Error::other)?;
        tracing::info!("playing through the sound card {}", card.description);
        Ok(CardSink {
            fault: card.fault(),
            card: Some(card),
            index: 0,
        })
    }
}

#[cfg(feature = "local-audio")]
impl Sink for CardSink {
    fn write(&mut self, block: &[f32], wall: SystemTime) -> io::Result<()> {
        let Some(card) = self.card.as_mut() else {
            return Ok(());
        };
        // About once a second at 20 ms blocks.
        if self.index % 50 == 0 {
            if let Some(why) = self.fault.get() {
                return Err(io::Error::other(why));
            }
        }
        let tick = Tick {
            index: self.index,
            deadline: Instant::now(),
            wall,
        };
        card.write(block, &tick);
        self.index += 1;
        Ok(())
    }

    fn delay(&self) -> Duration {
        self.card.as_ref().map_or(Duration::ZERO, |c| c.delay())
    }

    fn finish(&mut self, _summary: serde_json::Value) -> io::Result<()> {
        if let Some(card) = self.card.take() {
            let health = card.health();
            let underruns = health.underruns.load(std::sync::atomic::Ordering::Relaxed);
            let dropped = health
                .dropped_frames
                .load(std::sync::atomic::Ordering::Relaxed);
            tracing::info!(underruns, dropped_frames = dropped, "sound card closed");
            card.close();
        }
        Ok(())
    }
}
