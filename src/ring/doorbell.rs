//! A doorbell: wakes a thread that sleeps until there is work.
//!
//! The ringing side is often the engine thread, which must never make a
//! syscall in its steady state (a futex wake can block on the kernel's hash
//! bucket lock and costs microseconds of jitter on every packet). So the
//! sleeper says that it is asleep with an atomic flag, and [`Doorbell::ring`]
//! makes the wake-up syscall (an unpark) only when it sees that flag: on the
//! rare transition from idle to busy. While the sleeper is awake, ringing is
//! two atomic operations.
//!
//! No wake-up is lost: the sleeper sets `asleep` and then looks at `rung`;
//! the ringer sets `rung` and then looks at `asleep` (both sequentially
//! consistent), so at least one of them sees the other. An unpark that
//! comes before the park makes the park return at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// Wakes one sleeping thread (the first to call [`Doorbell::sleep`]).
#[derive(Debug, Default)]
pub struct Doorbell {
    sleeper: OnceLock<Thread>,
    asleep: AtomicBool,
    rung: AtomicBool,
    /// Wake-up syscalls made (for tests and diagnostics).
    wakes: std::sync::atomic::AtomicU64,
}

impl Doorbell {
    pub fn new() -> Doorbell {
        Doorbell::default()
    }

    /// Tell the sleeper there is work. No syscall unless it is asleep.
    pub fn ring(&self) {
        self.rung.store(true, Ordering::SeqCst);
        if self.asleep.load(Ordering::SeqCst) {
            if let Some(t) = self.sleeper.get() {
                self.wakes.fetch_add(1, Ordering::Relaxed);
                t.unpark();
            }
        }
    }

    /// Sleep until rung, or at most `limit` (`None`: no limit). Returns at
    /// once if the bell rang since the last sleep. Only one thread may
    /// sleep on a doorbell.
    pub fn sleep(&self, limit: Option<Duration>) {
        let me = self.sleeper.get_or_init(std::thread::current);
        debug_assert_eq!(me.id(), std::thread::current().id());
        self.asleep.store(true, Ordering::SeqCst);
        if !self.rung.swap(false, Ordering::SeqCst) {
            match limit {
                // park can wake spuriously: sleep on until rung or the end.
                Some(limit) => {
                    let end = Instant::now() + limit;
                    loop {
                        let now = Instant::now();
                        if now >= end || self.rung.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::park_timeout(end - now);
                    }
                }
                None => {
                    while !self.rung.load(Ordering::SeqCst) {
                        std::thread::park();
                    }
                }
            }
            self.rung.store(false, Ordering::SeqCst);
        }
        self.asleep.store(false, Ordering::SeqCst);
    }

    /// Wake-up syscalls made so far.
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }
}

/// Join `thread` if it finishes within `limit`; otherwise leave it running
/// (detached) and return false.
pub fn join_within(thread: JoinHandle<()>, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while !thread.is_finished() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = thread.join();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_ring_wakes_the_sleeper_and_an_early_ring_is_not_lost() {
        // Rung before anyone sleeps: the first sleep returns at once.
        let early = Doorbell::new();
        early.ring();
        let t = Instant::now();
        early.sleep(Some(Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(5));

        let bell = Arc::new(Doorbell::new());
        let (tx, rx) = std::sync::mpsc::channel();
        let b = bell.clone();
        let sleeper = std::thread::spawn(move || {
            for _ in 0..100 {
                b.sleep(None);
                tx.send(()).unwrap();
            }
        });
        for _ in 0..100 {
            // Wait until it sleeps again, then ring.
            let end = Instant::now() + Duration::from_secs(10);
            while !bell.asleep.load(Ordering::SeqCst) {
                assert!(Instant::now() < end, "the sleeper never slept");
                std::thread::yield_now();
            }
            bell.ring();
            rx.recv_timeout(Duration::from_secs(10)).expect("woken");
        }
        sleeper.join().unwrap();
        assert!(bell.wakes() >= 1);
    }

    #[test]
    fn ringing_an_awake_thread_makes_no_syscall() {
        let bell = Doorbell::new();
        bell.sleep(Some(Duration::from_millis(1)));
        for _ in 0..1000 {
            bell.ring();
        }
        assert_eq!(bell.wakes(), 0);
    }
}
