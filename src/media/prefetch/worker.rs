//! The pool of decoder workers: threads that run feeds, sleeping until a
//! ring they feed has room for a useful amount or a feed arrives.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Feed;
use crate::ring::Doorbell;

/// A ring is topped up once it has room for this part of its capacity (or
/// for a decode step, if that is more): with two seconds buffered, a worker
/// has nothing to do for a second, then decodes a second's worth in a few
/// milliseconds and sleeps again.
const REFILL_FRACTION: f64 = 0.5;
/// Shortest sleep of a worker that found nothing to do (a ring with room
/// for frames but not for chunks, which the engine frees as it reads).
const MIN_IDLE: Duration = Duration::from_millis(5);
/// Longest sleep while a worker has feeds: it looks again at voices that
/// are paused (their rings do not drain), stopped or released.
const MAX_IDLE: Duration = Duration::from_secs(2);
/// How long a feed waits when a voice's marker ring is full (64 items not
/// yet played: very short items).
const MARKER_RETRY: Duration = Duration::from_millis(50);

/// The pool of decoder workers.
pub struct Prefetcher {
    workers: Vec<Worker>,
    next: std::sync::atomic::AtomicUsize,
}

/// One worker thread and how to reach it.
struct Worker {
    feeds: Sender<Feed>,
    /// Rung for a new feed, at shutdown, and by the engine when a voice
    /// asks to skip (see [`crate::ring::FeedShared::wake_producer`]).
    bell: Arc<Doorbell>,
    thread: JoinHandle<()>,
}

impl Prefetcher {
    /// Start `workers` threads (at least one).
    pub fn start(workers: usize) -> std::io::Result<Prefetcher> {
        let mut list = Vec::new();
        for n in 0..workers.max(1) {
            let (tx, rx) = mpsc::channel();
            let bell = Arc::new(Doorbell::new());
            let thread_bell = bell.clone();
            let thread = std::thread::Builder::new()
                .name(format!("corong-decode-{n}"))
                .spawn(move || worker(rx, &thread_bell))?;
            list.push(Worker {
                feeds: tx,
                bell,
                thread,
            });
        }
        Ok(Prefetcher {
            workers: list,
            next: Default::default(),
        })
    }

    /// Hand a feed to a worker (round robin). It starts decoding at once.
    pub fn submit(&self, feed: Feed) {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.workers.len();
        let w = &self.workers[n];
        for o in &feed.outputs {
            o.input.shared.set_producer_bell(w.bell.clone());
        }
        // A worker only goes away when its channel is closed, which happens
        // in Drop below; a send can't fail before that.
        let _ = w.feeds.send(feed);
        w.bell.ring();
    }
}

/// How long dropping the [`Prefetcher`] waits for all its workers together.
/// A worker finishes the fill it is in (a fraction of a second of audio)
/// before it sees the closed channel; one stuck in a read from a dead
/// network mount is left behind so that shutdown stays bounded.
pub const SHUTDOWN_JOIN_LIMIT: Duration = Duration::from_millis(500);

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Close every channel first, so the workers stop in parallel.
        let handles: Vec<JoinHandle<()>> = self
            .workers
            .drain(..)
            .map(|w| {
                drop(w.feeds);
                w.bell.ring();
                w.thread
            })
            .collect();
        let end = Instant::now() + SHUTDOWN_JOIN_LIMIT;
        for handle in handles {
            let left = end.saturating_duration_since(Instant::now());
            if !crate::ring::join_within(handle, left) {
                tracing::error!("a decoder worker did not stop in time; exiting without it");
            }
        }
    }
}

/// Shared between tests and the daemon: how many workers suit this machine.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().clamp(1, 4))
        .unwrap_or(2)
}

impl Feed {
    /// How long this feed has nothing to do, from `now` (a fill just found
    /// nothing to do): until its voices have read enough that a refill is
    /// worth it, at the rate the engine reads (paused voices read nothing:
    /// the worker looks again then, and sleeps again); or until a voice
    /// left behind or a split skip request is due to be split off.
    pub(super) fn idle_for(&self, now: Instant) -> Duration {
        let due = |since: Instant, after: Duration| (since + after).saturating_duration_since(now);
        let mut wait = MAX_IDLE;
        if let Some(since) = self.skip_split_since {
            wait = wait.min(due(since, super::SKIP_SETTLE));
        }
        // A voice left behind blocks the feed until it is split off: the
        // others' room does not matter before then.
        if let Some(since) = self.outputs.iter().filter_map(|o| o.behind_since).min() {
            return wait.min(due(since, super::DETACH_AFTER));
        }
        let need = self.step_room();
        for o in &self.outputs {
            if o.input.markers.slots() == 0 {
                wait = wait.min(MARKER_RETRY);
                continue;
            }
            let refill = (o.input.capacity_frames() as f64 * REFILL_FRACTION) as usize;
            let short = need.max(refill).saturating_sub(o.input.room_frames());
            wait = wait.min(Duration::from_secs_f64(short as f64 / self.rate as f64));
        }
        wait
    }
}

fn worker(rx: Receiver<Feed>, bell: &Doorbell) {
    let mut feeds: Vec<Feed> = Vec::new();
    // Feeds that are over but whose chunks may still be in a voice's ring:
    // kept until every voice they fed is dropped (off the engine thread), so
    // that the engine never frees a chunk.
    let mut spent: Vec<Feed> = Vec::new();
    let mut born: Vec<Feed> = Vec::new();
    let mut worked = true;
    loop {
        if !worked {
            // Nothing to do: sleep until there is (see `Feed::idle_for`), or
            // until rung (a new feed, a skip, shutdown). No feeds at all:
            // sleep until rung.
            let now = Instant::now();
            let wait = feeds.iter().map(|f| f.idle_for(now)).min();
            let wait = match wait {
                Some(w) => Some(w.clamp(MIN_IDLE, MAX_IDLE)),
                None if !spent.is_empty() => Some(MAX_IDLE),
                None => None,
            };
            bell.sleep(wait);
        }
        loop {
            match rx.try_recv() {
                Ok(feed) => feeds.push(feed),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // Shutting down: the feeds' producers drop, which tells
                    // the engine that nothing more will come. Chunks a voice
                    // may still hold are left allocated (the process is
                    // ending): freeing them here could leave the engine the
                    // last reference.
                    for feed in feeds.iter_mut().chain(spent.iter_mut()) {
                        if !feed.released() {
                            std::mem::forget(std::mem::take(&mut feed.pool));
                        }
                    }
                    return;
                }
            }
        }
        worked = false;
        let mut ended = false;
        for feed in feeds.iter_mut() {
            let (did, done) = feed.fill();
            worked |= did;
            if done {
                feed.wind_down();
                ended = true;
            }
            born.append(&mut feed.forks);
        }
        if ended {
            let (over, live): (Vec<Feed>, Vec<Feed>) =
                feeds.drain(..).partition(|f| f.outputs.is_empty());
            feeds = live;
            spent.extend(over);
        }
        if !born.is_empty() {
            worked = true;
            feeds.append(&mut born);
        }
        spent.retain(|f| !f.released());
    }
}
