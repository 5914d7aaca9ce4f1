//! The measuring pool: worker threads that take whole-file loudness
//! measurements off everything that must stay on time.
//!
//! A measurement decodes a whole file (seconds of CPU for an hour of MP3),
//! so it runs here and never on a decoder worker or the engine thread.
//! The pool has as many threads as the kiosk can spare ([`spare_workers`]:
//! every core but one, at least one) and each runs at the lowest CPU
//! priority (nice [`NICE`]): the engine thread and the decoder workers,
//! at normal or real-time priority, take a core from a measuring thread the
//! moment they wake, so a measurement slows down under load instead of
//! delaying a packet.
//!
//! The queue is a plain FIFO with a front: work asked for ahead (the
//! playlists, in the order of their next fire time) goes to the back, work
//! needed now (an item playing at a provisional gain) to the front, and a
//! job already queued can be moved to the front. [`crate::media::loudness`]
//! and `corong check --measure` both use it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// The niceness of every measuring thread: the lowest priority Linux has
/// short of `SCHED_IDLE` (which starves outright on a busy machine, so a
/// playlist would stay unmeasured while anything else runs).
pub const NICE: i32 = 19;

/// Threads a kiosk can spare for measuring: every core but one (the engine
/// and the decoder workers keep that one to themselves), at least one.
pub fn spare_workers() -> usize {
    all_workers().saturating_sub(1).max(1)
}

/// Every core: for `corong check --measure`, which has nothing to keep on
/// time (its threads are niced all the same, so a daemon on the same
/// machine keeps its cores).
pub fn all_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Lower the calling thread to nice [`NICE`]. On Linux, nice is per
/// thread (and the programs it starts inherit it). A failure is harmless
/// (the thread works at normal priority) and is only logged.
pub fn lower_priority() {
    // SAFETY: setpriority on the calling thread (who 0: on Linux, the
    // calling thread's own nice); no memory is passed.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
    if r != 0 {
        tracing::debug!(
            "measuring thread stays at normal priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Jobs waiting for a worker, and whether the pool is closing.
struct Queue<J> {
    state: Mutex<(VecDeque<J>, bool)>,
    ready: Condvar,
}

impl<J> Queue<J> {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<J>, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next job, or `None` once closed (jobs still queued are dropped:
    /// a closing pool has nobody left to tell the results to).
    fn pop(&self) -> Option<J> {
        let mut q = self.lock();
        loop {
            if q.1 {
                return None;
            }
            if let Some(j) = q.0.pop_front() {
                return Some(j);
            }
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A pool of measuring threads running `work` on each job. Dropping it
/// closes the queue: each thread finishes the job it is in and ends
/// (nobody waits for that: an hour-long file would hold up the exit).
pub struct Pool<J> {
    queue: Arc<Queue<J>>,
    threads: Vec<JoinHandle<()>>,
}

impl<J: PartialEq + Send + 'static> Pool<J> {
    /// Start `workers` threads named `name` (at least one), each at nice
    /// [`NICE`], each running `work` on the jobs it takes.
    pub fn start<F>(name: &str, workers: usize, work: F) -> std::io::Result<Pool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        let queue = Arc::new(Queue {
            state: Mutex::new((VecDeque::new(), false)),
            ready: Condvar::new(),
        });
        let work = Arc::new(work);
        let mut threads = Vec::new();
        for n in 0..workers.max(1) {
            let (q, w) = (queue.clone(), work.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    lower_priority();
                    while let Some(job) = q.pop() {
                        w(job);
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                // Fewer threads than asked is still a pool; none is not.
                Err(e) if threads.is_empty() => return Err(e),
                Err(e) => {
                    tracing::warn!("{} measuring threads, not {workers}: {e}", threads.len());
                    break;
                }
            }
        }
        Ok(Pool { queue, threads })
    }

    /// How many threads measure.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Queue `job` at the back (asked for ahead), unless it is queued
    /// already.
    pub fn push_back(&self, job: J) {
        let mut q = self.queue.lock();
        if !q.0.contains(&job) {
            q.0.push_back(job);
            self.queue.ready.notify_one();
        }
    }

    /// Queue `job` at the front (needed now), or move it there if it is
    /// queued already.
    pub fn push_front(&self, job: J) {
        let mut q = self.queue.lock();
        q.0.retain(|j| *j != job);
        q.0.push_front(job);
        self.queue.ready.notify_one();
    }

    /// Move `job` to the front if it is still queued; whether it was (a job
    /// a thread has taken already is not queued).
    pub fn promote(&self, job: &J) -> bool {
        let mut q = self.queue.lock();
        let Some(at) = q.0.iter().position(|j| j == job) else {
            return false;
        };
        if let Some(j) = q.0.remove(at) {
            q.0.push_front(j);
        }
        true
    }
}

impl<J> Pool<J> {
    fn close(&self) {
        let mut q = self.queue.lock();
        q.1 = true;
        q.0.clear();
        drop(q);
        self.queue.ready.notify_all();
    }

    /// Close the queue and wait for every thread to end (after the job it
    /// is in): for a caller that has had all its results, so that what
    /// `work` holds (a store to close cleanly) is dropped before it goes on.
    pub fn finish(mut self) {
        self.close();
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

impl<J> Drop for Pool<J> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// The jobs a one-thread pool runs, in the order it runs them, while
    /// the first job holds the thread until `go` is sent.
    #[test]
    fn the_front_comes_first_and_the_back_keeps_its_order() {
        let (done_tx, done) = mpsc::channel();
        let (go_tx, go) = mpsc::channel::<()>();
        let go = Mutex::new(go);
        let pool = Pool::start("test-measure", 1, move |j: u32| {
            if j == 0 {
                let _ = go.lock().unwrap().recv();
            }
            done_tx.send(j).unwrap();
        })
        .unwrap();
        pool.push_back(0);
        // Wait until the thread holds job 0, so the rest queue behind it.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while !pool.queue.lock().0.is_empty() {
            assert!(std::time::Instant::now() < end, "job 0 never taken");
            std::thread::yield_now();
        }
        for j in [1, 2, 3, 2] {
            pool.push_back(j);
        }
        pool.push_front(9);
        assert!(pool.promote(&3));
        assert!(!pool.promote(&7));
        go_tx.send(()).unwrap();
        let got: Vec<u32> = (0..5)
            .map(|_| done.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, vec![0, 3, 9, 1, 2]);
        assert!(done.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn every_thread_runs_niced_and_jobs_spread_over_them() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        // No job ends before all three have started: three threads.
        let all_in = std::sync::Barrier::new(3);
        let pool = Pool::start("test-measure", 3, move |_: u32| {
            // SAFETY: getpriority of the calling thread; no memory.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            let name = std::thread::current().name().unwrap().to_string();
            all_in.wait();
            tx.lock().unwrap().send((name, nice)).unwrap();
        })
        .unwrap();
        assert_eq!(pool.workers(), 3);
        for j in 0..3 {
            pool.push_back(j);
        }
        let got: Vec<(String, i32)> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert!(got.iter().all(|(_, n)| *n == NICE), "{got:?}");
        let mut names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 3, "{got:?}");
        assert!(spare_workers() >= 1 && spare_workers() < all_workers().max(2));
    }
}
