//! `corong page --from-mic` (cargo feature `local-audio`): the kiosk's
//! sound card input, the default ALSA capture device, through cpal (the
//! library under rodio, which plays the `local` zones). The capture
//! callback runs on cpal's thread: it only converts to 16-bit and hands
//! the block over a bounded channel; the page reads the samples as from any
//! other input. A block that finds the channel full waits for room up to
//! [`ROOM_WAIT`], then is dropped and counted. A real microphone's channel
//! is full only when the page fell seconds behind (and a short wait then
//! costs no more than the drop would); a capture that runs faster than real
//! time (ALSA's `file` plugin, which CI uses as a microphone) is so held to
//! the page's pace instead of losing whole blocks.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rodio::cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rodio::cpal::{self, SampleFormat};

use super::page_input::{Samples, INTERRUPTED};

/// How long a wait for sound lasts before Ctrl-C and the daemon's answers
/// are looked at.
const TICK: Duration = Duration::from_millis(100);
/// Blocks of captured sound waiting to be read (a few seconds at the
/// usual period sizes); more are dropped.
const QUEUED_BLOCKS: usize = 256;
/// How long a captured block waits for room in a full channel.
const ROOM_WAIT: Duration = Duration::from_millis(100);
/// How often it looks for room meanwhile.
const ROOM_POLL: Duration = Duration::from_millis(2);

enum Captured {
    Sound(Vec<i16>),
    Failed(String),
}

/// Open the default capture device: its rate, channels and samples.
/// Errors are one line.
pub fn open() -> Result<(u32, u16, Samples<'static>), String> {
    let (tx, rx) = mpsc::sync_channel::<Captured>(QUEUED_BLOCKS);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(u32, u16), String>>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let dropped = Arc::new(AtomicU64::new(0));
    let counted = dropped.clone();
    // The stream lives on a thread of its own (cpal's streams may not move
    // between threads) until the samples below are dropped.
    std::thread::Builder::new()
        .name("corong-mic".into())
        .spawn(move || match start(tx, counted) {
            Ok((stream, rate, channels)) => {
                let _ = ready_tx.send(Ok((rate, channels)));
                let _ = stop_rx.recv();
                drop(stream);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })
        .map_err(|e| format!("--from-mic: cannot start the capture thread: {e}"))?;
    let (rate, channels) = ready_rx
        .recv()
        .map_err(|_| "--from-mic: the capture thread stopped".to_string())??;
    let mut block: Vec<i16> = Vec::new();
    let mut at = 0usize;
    let next = move || -> Option<io::Result<i16>> {
        let _keep = &stop_tx;
        while at >= block.len() {
            if INTERRUPTED.load(Ordering::Relaxed) {
                return None;
            }
            match rx.recv_timeout(TICK) {
                Ok(Captured::Sound(b)) => {
                    block = b;
                    at = 0;
                }
                Ok(Captured::Failed(e)) => {
                    return Some(Err(io::Error::other(format!("the microphone failed: {e}"))))
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Nothing yet: the caller looks at Ctrl-C and the daemon.
                    return Some(Err(io::Error::from(io::ErrorKind::Interrupted)));
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        if dropped.load(Ordering::Relaxed) > 0 {
            let n = dropped.swap(0, Ordering::Relaxed);
            eprintln!(
                "\ncorong: {n} blocks of microphone sound were dropped (the page fell behind)"
            );
        }
        let s = block[at];
        at += 1;
        Some(Ok(s))
    };
    Ok((rate, channels, Box::new(next)))
}

/// Build and start the input stream on the default device.
fn start(
    tx: SyncSender<Captured>,
    dropped: Arc<AtomicU64>,
) -> Result<(cpal::Stream, u32, u16), String> {
    let host = cpal::default_host();
    let device = host
        .default_input_device()
        .ok_or("--from-mic: this machine has no sound card input (no default capture device)")?;
    let supported = device
        .default_input_config()
        .map_err(|e| format!("--from-mic: the capture device gives no format: {e}"))?;
    let config = supported.config();
    let (rate, channels) = (config.sample_rate, config.channels);
    let failed = tx.clone();
    let on_error = move |e: cpal::Error| {
        let _ = failed.try_send(Captured::Failed(e.to_string()));
    };
    let hand_over = move |block: Vec<i16>| {
        let deadline = Instant::now() + ROOM_WAIT;
        let mut captured = Captured::Sound(block);
        loop {
            match tx.try_send(captured) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    captured = back;
                    std::thread::sleep(ROOM_POLL);
                }
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    let stream = match supported.sample_format() {
        SampleFormat::I16 => device.build_input_stream(
            config,
            move |data: &[i16], _: &_| hand_over(data.to_vec()),
            on_error,
            None,
        ),
        SampleFormat::F32 => device.build_input_stream(
            config,
            move |data: &[f32], _: &_| {
                hand_over(
                    data.iter()
                        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
                        .collect(),
                )
            },
            on_error,
            None,
        ),
        SampleFormat::I32 => device.build_input_stream(
            config,
            move |data: &[i32], _: &_| hand_over(data.iter().map(|s| (s >> 16) as i16).collect()),
            on_error,
            None,
        ),
        other => {
            return Err(format!(
                "--from-mic: the capture device gives {other} samples: only 16-bit, 32-bit and float are read"
            ))
        }
    }
    .map_err(|e| format!("--from-mic: cannot open the capture device: {e}"))?;
    stream
        .play()
        .map_err(|e| format!("--from-mic: cannot start capturing: {e}"))?;
    Ok((stream, rate, channels))
}
