//! Lock-free counters an output shares with the control plane.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

/// Written by the engine thread, read by the control plane. Relaxed atomics:
/// each counter is meaningful on its own.
#[derive(Debug, Default)]
pub struct OutputHealth {
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Raw OS error of the last failed send (0: none yet).
    pub last_error: AtomicI32,
    /// Frames an output had to throw away because it could not keep up
    /// (the WAV recorder when its writer thread falls behind).
    pub dropped_frames: AtomicU64,
    /// Times a sound card found nothing to play and played silence.
    pub underruns: AtomicU64,
}

impl OutputHealth {
    pub fn record_sent(&self, bytes: usize) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn record_error(&self, err: &std::io::Error) {
        self.send_errors.fetch_add(1, Ordering::Relaxed);
        self.last_error
            .store(err.raw_os_error().unwrap_or(-1), Ordering::Relaxed);
    }

    pub fn record_dropped(&self, frames: usize) {
        self.dropped_frames
            .fetch_add(frames as u64, Ordering::Relaxed);
    }
}

/// An output that has stopped working (a sound card that could not be
/// opened, or went away, for good; a WAV recording that cannot be written,
/// until its writer recovers), with why. Set off the engine thread (at open,
/// or from the sound card's own thread); read by the control plane.
#[derive(Debug, Default)]
pub struct Fault(Mutex<Option<String>>);

impl Fault {
    pub fn set(&self, why: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The output works again (a WAV recorder that recovered).
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
