//! Carries events from the audio world (the engine's lock-free ring, the
//! decoder workers' channel) into the tokio world.
//!
//! Nothing here wakes on a timer: a daemon with nothing on air should cost
//! nothing. The engine must never block on the control plane nor make a
//! wake-up syscall on every packet, so it writes to a ring and rings a
//! [`crate::ring::Doorbell`], which unparks this thread only when it is
//! asleep: one syscall on the rare transition from nothing to carry to
//! something, none in steady state. The decoder workers may make syscalls,
//! so their events come through a plain channel, on a second thread that
//! blocks on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc::UnboundedSender;

use crate::engine::{EngineOutbox, Event};
use crate::media::prefetch::FeedEvent;
use crate::ring::Doorbell;

/// Anything the control plane hears from the audio world.
#[derive(Debug)]
pub enum AudioEvent {
    Engine(Event),
    Feed(FeedEvent),
}

/// The bridge threads; the engine's stops (after a last drain) when
/// dropped, the decoders' when their channel closes.
pub struct Bridge {
    stop: Arc<AtomicBool>,
    bell: Arc<Doorbell>,
    thread: Option<JoinHandle<()>>,
}

/// Run `body` on a thread named `name`; end the process if it panics.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
                // The panic hook has logged it. Without the bridge the
                // daemon would no longer hear of items starting and
                // ending: end the process, as for the engine, so the
                // service manager restarts it.
                std::process::abort();
            }
        })
}

impl Bridge {
    pub fn start(
        mut outbox: EngineOutbox,
        feeds: Receiver<FeedEvent>,
        tx: UnboundedSender<AudioEvent>,
    ) -> std::io::Result<Bridge> {
        let stop = Arc::new(AtomicBool::new(false));
        let bell = outbox.doorbell();
        // A decoder reports an item opened before it hands the engine a
        // sample of it, and this thread wakes as soon as it does, so
        // "opened" arrives before "on air" (nearly always; the station
        // copes with the rare reverse). It ends when every sender is gone
        // or nobody listens any more; it is not joined.
        let feed_tx = tx.clone();
        spawn("corong-bridge-feed", move || {
            while let Ok(e) = feeds.recv() {
                if feed_tx.send(AudioEvent::Feed(e)).is_err() {
                    return;
                }
            }
        })?;
        let (thread_stop, thread_bell) = (stop.clone(), bell.clone());
        let thread = spawn("corong-bridge", move || loop {
            let stopping = thread_stop.load(Ordering::Acquire);
            while let Some(e) = outbox.try_event() {
                let _ = tx.send(AudioEvent::Engine(e));
            }
            if stopping {
                return;
            }
            thread_bell.sleep(None);
        })?;
        Ok(Bridge {
            stop,
            bell,
            thread: Some(thread),
        })
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.bell.ring();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
