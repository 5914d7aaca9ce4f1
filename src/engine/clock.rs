//! Packet pacing against absolute monotonic deadlines.
//!
//! Deadline `n` is `start + n * packet_time`, computed from the start each
//! time, so rounding never accumulates: over any stretch the packets produced
//! equal the elapsed time divided by the packet time, plus or minus one.
//! Sleeping uses `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`: an
//! absolute wake-up, so time spent mixing and sending is not added to the
//! period, and the timer slack of the thread is set to 1 µs so the kernel does
//! not batch the wake-up 50 µs late.
//!
//! Each tick also carries the wall-clock (`CLOCK_REALTIME`) time of its
//! deadline, for RTCP sender reports and the receiver's playout. It is the
//! monotonic deadline plus an offset that is measured again at every tick,
//! so that a step of the wall clock (NTP setting a kiosk's clock after a
//! power cut, an operator's `date -s`) reaches the sender reports within
//! one packet instead of never: receivers compare those times with their
//! own synchronized clocks. Between steps the offset stays put (both clocks
//! run at the rate NTP disciplines), so its measuring noise never moves it.

use std::time::{Duration, Instant, SystemTime};

use crate::output::Tick;

/// How far behind the engine may fall before it stops catching up packet by
/// packet and re-anchors its deadlines at the present (after a suspend, or a
/// stall of the whole machine). Below this, late packets are sent back to
/// back so the receivers' timelines stay intact.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(500);

/// A wall clock that differs from the one the pacer last measured by more
/// than this has been stepped; the ticks follow it from then on.
pub const WALL_STEP: Duration = Duration::from_millis(1);

/// A measurement of the wall-clock offset counts only when the two monotonic
/// readings around it are closer than this (the thread was not preempted
/// between them).
const TIGHT_READ: Duration = Duration::from_micros(50);

/// Hands out one [`Tick`] per packet time, sleeping until each deadline.
#[derive(Debug)]
pub struct Pacer {
    packet_time: Duration,
    start: Instant,
    wall_at_start: SystemTime,
    next_index: u64,
    /// Packets since the last re-anchoring, the index `start` counts from.
    anchor_index: u64,
    /// How many times the pacer gave up catching up and re-anchored.
    pub resyncs: u64,
    /// How many times the wall clock was found stepped (see [`WALL_STEP`]).
    pub wall_steps: u64,
    /// Reads the wall clock: `SystemTime::now`, or a test's stand-in.
    wall_clock: fn() -> SystemTime,
}

impl Pacer {
    /// A pacer whose first deadline is now.
    pub fn new(packet_time: Duration) -> Pacer {
        assert!(!packet_time.is_zero(), "packet time must be positive");
        Pacer {
            packet_time,
            start: Instant::now(),
            wall_at_start: SystemTime::now(),
            next_index: 0,
            anchor_index: 0,
            resyncs: 0,
            wall_steps: 0,
            wall_clock: SystemTime::now,
        }
    }

    /// Read the wall clock through `clock` instead of `SystemTime::now`
    /// (tests step it).
    pub fn with_wall_clock(mut self, clock: fn() -> SystemTime) -> Pacer {
        self.wall_clock = clock;
        self.wall_at_start = clock();
        self
    }

    /// Measure the wall clock against `start` again; if it moved by more
    /// than [`WALL_STEP`] from what the pacer assumed, follow it.
    fn follow_wall_clock(&mut self) {
        let before = Instant::now();
        let wall = (self.wall_clock)();
        let after = Instant::now();
        if after - before > TIGHT_READ {
            return; // preempted mid-reading: try again next tick
        }
        let since_start = (before + (after - before) / 2).saturating_duration_since(self.start);
        let assumed = self.wall_at_start + since_start;
        let moved = match wall.duration_since(assumed) {
            Ok(ahead) => ahead,
            Err(e) => e.duration(),
        };
        if moved > WALL_STEP {
            self.wall_at_start = match wall.checked_sub(since_start) {
                Some(t) => t,
                None => return,
            };
            self.wall_steps += 1;
        }
    }

    /// Set the calling thread's timer slack to 1 µs (Linux; elsewhere a
    /// no-op). Call once from the thread that paces.
    pub fn tighten_timer_slack() {
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and
        // affects only the calling thread; no memory is passed.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
        }
    }

    /// Ask for real-time scheduling for the calling thread: `SCHED_FIFO` at
    /// a modest priority, else a raised nice level. Best effort: without the
    /// privilege (`CAP_SYS_NICE`, or systemd's `CPUSchedulingPolicy=fifo`,
    /// or an rtprio limit) the thread runs as a normal one. Returns what
    /// was obtained, for the log.
    pub fn request_realtime() -> &'static str {
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 20 };
            // SAFETY: pid 0 is the calling thread; `param` is a valid
            // sched_param that outlives the call.
            if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
                return "SCHED_FIFO priority 20";
            }
            // SAFETY: setpriority on the calling thread (who 0); no memory.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) } == 0 {
                return "nice -10";
            }
        }
        "normal scheduling"
    }

    /// The deadline of packet `index` (counted since the last anchor).
    fn deadline_of(&self, index: u64) -> Instant {
        let n = (index - self.anchor_index) as u32;
        // `Duration * u32` is exact in nanoseconds; 2^32 packets of 5 ms is
        // 248 days, and re-anchoring below resets the count long before
        // overflow matters.
        self.start + self.packet_time * n
    }

    /// Sleep until the next packet's deadline and return its tick. When the
    /// deadline has already passed it returns at once (catching up), unless
    /// the pacer is more than [`MAX_CATCH_UP`] behind: then it re-anchors at
    /// the present and counts a resync.
    pub fn wait_next(&mut self) -> Tick {
        if self.next_index - self.anchor_index >= u32::MAX as u64 / 2 {
            self.reanchor(self.deadline_of(self.next_index));
        }
        let mut deadline = self.deadline_of(self.next_index);
        let now = Instant::now();
        if now > deadline + MAX_CATCH_UP {
            self.resyncs += 1;
            self.reanchor(now);
            deadline = now;
        }
        sleep_until(deadline);
        self.follow_wall_clock();
        let wall = self.wall_at_start + (deadline - self.start);
        let tick = Tick {
            index: self.next_index,
            deadline,
            wall,
        };
        self.next_index += 1;
        tick
    }

    fn reanchor(&mut self, at: Instant) {
        self.wall_at_start += at - self.start;
        self.start = at;
        self.anchor_index = self.next_index;
    }
}

/// Sleep until the monotonic instant `deadline`.
pub fn sleep_until(deadline: Instant) {
    #[cfg(target_os = "linux")]
    {
        // std's Instant is CLOCK_MONOTONIC on Linux, but its representation
        // is private: convert through the distance from now.
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let wait = deadline - now;
        // time_t and c_long are 32 bits on some targets: widen explicitly.
        #[allow(clippy::unnecessary_cast)]
        let mut nsec = ts.tv_nsec as i64 + wait.subsec_nanos() as i64;
        #[allow(clippy::unnecessary_cast)]
        let mut sec = ts.tv_sec as i64 + wait.as_secs() as i64;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec += 1;
        }
        let target = libc::timespec {
            tv_sec: sec as libc::time_t,
            tv_nsec: nsec as libc::c_long,
        };
        loop {
            // SAFETY: `target` is a valid timespec; with TIMER_ABSTIME the
            // remaining-time pointer is unused and may be null.
            let rc = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &target,
                    std::ptr::null_mut(),
                )
            };
            if rc != libc::EINTR {
                break;
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_exact_multiples_of_the_packet_time() {
        let mut p = Pacer::new(Duration::from_millis(5));
        let first = p.wait_next();
        for _ in 0..20 {
            p.wait_next();
        }
        let t = p.wait_next();
        assert_eq!(t.index, 21);
        assert_eq!(t.deadline - first.deadline, Duration::from_millis(105));
        assert_eq!(
            t.wall.duration_since(first.wall).unwrap(),
            Duration::from_millis(105)
        );
        assert!(Instant::now() >= t.deadline);
    }

    /// The wall clock a test steps: the real one plus `STEP_NS`.
    static STEP_NS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

    fn stepped_wall() -> SystemTime {
        let step = STEP_NS.load(std::sync::atomic::Ordering::Relaxed);
        if step >= 0 {
            SystemTime::now() + Duration::from_nanos(step as u64)
        } else {
            SystemTime::now() - Duration::from_nanos(step.unsigned_abs())
        }
    }

    fn off_by(a: SystemTime, b: SystemTime) -> Duration {
        match a.duration_since(b) {
            Ok(d) => d,
            Err(e) => e.duration(),
        }
    }

    /// A kiosk's clock set by NTP after a power cut jumps by minutes: the
    /// ticks' wall-clock times (what the sender reports carry) follow it
    /// at the next tick, forward and back, and the deadlines do not move.
    #[test]
    fn a_stepped_wall_clock_is_followed_at_the_next_tick() {
        let mut p = Pacer::new(Duration::from_millis(5)).with_wall_clock(stepped_wall);
        let first = p.wait_next();
        assert!(off_by(first.wall, stepped_wall()) < Duration::from_millis(2));
        for step_s in [3600i64, -600] {
            STEP_NS.store(step_s * 1_000_000_000, std::sync::atomic::Ordering::Relaxed);
            // A preempted reading is skipped; a few ticks are enough.
            let mut t = p.wait_next();
            for _ in 0..20 {
                if off_by(t.wall, stepped_wall()) < Duration::from_millis(2) {
                    break;
                }
                t = p.wait_next();
            }
            assert!(
                off_by(t.wall, stepped_wall()) < Duration::from_millis(2),
                "after a step of {step_s} s the tick is {:?} off",
                off_by(t.wall, stepped_wall())
            );
            let next = p.wait_next();
            assert_eq!(next.deadline - t.deadline, Duration::from_millis(5));
            assert_eq!(
                next.wall.duration_since(t.wall).unwrap(),
                Duration::from_millis(5)
            );
        }
        assert_eq!(p.wall_steps, 2);
        STEP_NS.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    #[test]
    fn a_long_stall_reanchors_instead_of_bursting() {
        let mut p = Pacer::new(Duration::from_millis(5));
        p.wait_next();
        std::thread::sleep(MAX_CATCH_UP + Duration::from_millis(50));
        let t = p.wait_next();
        assert_eq!(p.resyncs, 1);
        assert_eq!(t.index, 1, "indices stay contiguous across a resync");
        let next = p.wait_next();
        assert_eq!(next.deadline - t.deadline, Duration::from_millis(5));
    }

    #[test]
    fn a_short_stall_catches_up_back_to_back() {
        let mut p = Pacer::new(Duration::from_millis(5));
        let first = p.wait_next();
        std::thread::sleep(Duration::from_millis(30));
        let t = p.wait_next();
        assert_eq!(p.resyncs, 0);
        assert_eq!(t.deadline - first.deadline, Duration::from_millis(5));
    }
}
