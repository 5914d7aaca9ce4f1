//! Carries events from the audio world (the engine's lock-free ring, the
//! decoder workers' channel) into the tokio world.
//!
//! The engine must never block on the control plane, so it writes to a ring
//! and this thread polls it every couple of milliseconds. Polling costs a few
//! microseconds a wake-up and keeps the engine free of any wake-up syscall.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::engine::{EngineOutbox, Event};
use crate::media::prefetch::FeedEvent;

/// Anything the control plane hears from the audio world.
#[derive(Debug)]
pub enum AudioEvent {
    Engine(Event),
    Feed(FeedEvent),
}

const POLL: Duration = Duration::from_millis(2);

/// The bridge thread; stops (after a last drain) when dropped.
pub struct Bridge {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    pub fn start(
        mut outbox: EngineOutbox,
        feeds: Receiver<FeedEvent>,
        tx: UnboundedSender<AudioEvent>,
    ) -> std::io::Result<Bridge> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("corong-bridge".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| loop {
                    let stopping = thread_stop.load(Ordering::Acquire);
                    // Decoder events first: a decoder reports an item opened
                    // before it hands the engine a sample of it, so this order
                    // delivers "opened" before "on air" (nearly always; the
                    // station copes with the rare reverse).
                    while let Ok(e) = feeds.try_recv() {
                        let _ = tx.send(AudioEvent::Feed(e));
                    }
                    while let Some(e) = outbox.try_event() {
                        let _ = tx.send(AudioEvent::Engine(e));
                    }
                    if stopping {
                        return;
                    }
                    std::thread::sleep(POLL);
                });
                if std::panic::catch_unwind(run).is_err() {
                    // The panic hook has logged it. Without the bridge the
                    // daemon would no longer hear of items starting and
                    // ending: end the process, as for the engine, so the
                    // service manager restarts it.
                    std::process::abort();
                }
            })?;
        Ok(Bridge {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
