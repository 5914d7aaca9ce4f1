//! The scheduler task: turns wall-clock time into [`Fire`] events.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;

use super::clock::Clock;
use crate::config::Schedule;
use crate::cron::{fires_after, fires_between, CronSchedule};

/// A fire that the wall clock jumped past is still sent if it is less than
/// this before now; older missed fires are skipped with a warning.
pub const FORWARD_JUMP_GRACE: Duration = Duration::minutes(5);

/// The longest the runner sleeps between looks at the clock, so that a wall
/// clock set by hand or by NTP is noticed within this time.
pub const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// A schedule fired: play its playlist now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// The schedule's name.
    pub schedule: String,
    /// The schedule's position in the list the [`Scheduler`] was given
    /// (config order).
    pub index: usize,
    /// The instant the schedule was due. Normally within a second of now;
    /// up to [`FORWARD_JUMP_GRACE`] earlier after the clock jumped forward.
    pub at: DateTime<Utc>,
}

/// Watches the wall clock and reports each schedule's fire times once.
///
/// # Contract
///
/// - **No catch-up at start.** The first look at the clock (the first
///   [`poll`](Self::poll), which [`run`](Self::run) makes at once) only
///   records the time; fires before it are not sent. A daemon restarted at
///   06:00:30 does not play the 06:00 program.
/// - **Every fire once, in time order.** Each look sends the fires `f` with
///   `last_checked < f <= now` of every schedule, sorted by time, then by
///   schedule index; then `last_checked = now`.
/// - **Clock set backwards** (`now < last_checked`): nothing is sent and
///   `last_checked` stays where it was, a high-water mark. Fires resume once
///   the clock passes it again, so no time is fired twice.
/// - **Clock set forwards**: a missed fire is still sent if it is at most
///   less than [`FORWARD_JUMP_GRACE`] (5 min) before now; older ones are
///   skipped with a `tracing::warn`. At a normal pace every fire is less
///   than a second old, so this rule only bites after a jump or a suspended
///   machine.
/// - Daylight-saving days follow [`super::fires_between`].
#[derive(Debug, Clone)]
pub struct Scheduler {
    tz: Tz,
    schedules: Vec<(String, CronSchedule)>,
    last_checked: Option<DateTime<Utc>>,
    /// Fires skipped because a forward jump made them too old (`/metrics`).
    skipped: Arc<AtomicU64>,
}

impl Scheduler {
    /// A scheduler for `schedules`, read in `tz`.
    pub fn new(schedules: &[Schedule], tz: Tz) -> Scheduler {
        Scheduler {
            tz,
            schedules: crons(schedules),
            last_checked: None,
            skipped: Arc::default(),
        }
    }

    /// The count of fires skipped after forward clock jumps, read while
    /// the scheduler runs on its task.
    pub fn skipped_counter(&self) -> Arc<AtomicU64> {
        self.skipped.clone()
    }

    /// Swaps in a new list of schedules (after a config reload), keeping the
    /// high-water mark so that nothing already due is fired again and
    /// nothing between the two lists' lifetimes is caught up. [`Fire::index`]
    /// then refers to the new list.
    pub fn replace(&mut self, schedules: &[Schedule]) {
        self.schedules = crons(schedules);
    }

    /// The time up to which fires have been sent (`None` before the first
    /// poll).
    pub fn last_checked(&self) -> Option<DateTime<Utc>> {
        self.last_checked
    }

    /// One look at the clock: the fires due by `now`, in the order to send
    /// them. See the type's contract. This is what [`run`](Self::run) calls
    /// on every wake-up; tests call it directly.
    pub fn poll(&mut self, now: DateTime<Utc>) -> Vec<Fire> {
        let Some(last) = self.last_checked else {
            self.last_checked = Some(now);
            return Vec::new();
        };
        if now <= last {
            if now < last {
                tracing::debug!(%now, high_water = %last, "wall clock is behind the last check; waiting for it to pass");
            }
            return Vec::new();
        }
        self.last_checked = Some(now);

        let oldest_allowed = now - FORWARD_JUMP_GRACE;
        // Fires in (last, start] are too old; start is at most `now`.
        let start = last.max(oldest_allowed);
        let mut fires = Vec::new();
        for (index, (name, cron)) in self.schedules.iter().enumerate() {
            if start > last {
                let n = warn_skipped(name, cron, self.tz, last, start, now);
                self.skipped.fetch_add(n, Ordering::Relaxed);
            }
            fires.extend(
                fires_between(cron, self.tz, start, now)
                    .into_iter()
                    .map(|at| Fire {
                        schedule: name.clone(),
                        index,
                        at,
                    }),
            );
        }
        fires.sort_by(|a, b| a.at.cmp(&b.at).then(a.index.cmp(&b.index)));
        // After a jump, one line per schedule rather than one per fire.
        for (index, (name, _)) in self.schedules.iter().enumerate() {
            let mine: Vec<&Fire> = fires.iter().filter(|f| f.index == index).collect();
            if let [first, .., last] = mine.as_slice() {
                tracing::info!(
                    schedule = %name,
                    count = mine.len(),
                    first = %first.at.with_timezone(&self.tz),
                    last = %last.at.with_timezone(&self.tz),
                    "fire times passed at once (the clock jumped or the machine slept); each is handled in turn"
                );
            }
        }
        fires
    }

    /// The next fire instant of any schedule after the last check.
    fn next_due(&self) -> Option<DateTime<Utc>> {
        let last = self.last_checked?;
        self.schedules
            .iter()
            .filter_map(|(_, cron)| fires_after(cron, self.tz, last).next())
            .min()
    }

    /// Runs until `shutdown` completes or the receiver of `tx` is dropped.
    ///
    /// Wakes at the next fire time or after [`MAX_SLEEP`], whichever is
    /// sooner, and sends what [`poll`](Self::poll) returns. tokio's timer is
    /// precise to about a millisecond, which is plenty for starting a
    /// playlist; audio is paced elsewhere.
    pub async fn run(self, clock: Arc<dyn Clock>, tx: mpsc::Sender<Fire>, shutdown: impl Future) {
        // A sender that is never used: no replacements come.
        let (_keep, updates) = mpsc::channel(1);
        self.run_with_updates(clock, tx, updates, shutdown).await
    }

    /// [`run`](Self::run), also taking new schedule lists from `updates`
    /// (a config reload) and swapping them in with
    /// [`replace`](Self::replace): the high-water mark is kept, so a fire
    /// due around the reload is sent once, neither twice nor never.
    pub async fn run_with_updates(
        mut self,
        clock: Arc<dyn Clock>,
        tx: mpsc::Sender<Fire>,
        mut updates: mpsc::Receiver<Vec<Schedule>>,
        shutdown: impl Future,
    ) {
        tokio::pin!(shutdown);
        loop {
            let now = clock.now();
            for fire in self.poll(now) {
                tracing::debug!(schedule = %fire.schedule, at = %fire.at, "fire due");
                tokio::select! {
                    sent = tx.send(fire) => if sent.is_err() { return },
                    _ = &mut shutdown => return,
                }
            }
            let nap = match self.next_due() {
                Some(due) => (due - clock.now())
                    .to_std()
                    .unwrap_or(std::time::Duration::ZERO)
                    .clamp(std::time::Duration::from_millis(1), MAX_SLEEP),
                None => MAX_SLEEP,
            };
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                Some(list) = updates.recv() => self.replace(&list),
                _ = &mut shutdown => return,
            }
        }
    }
}

/// Each schedule's name and its (already parsed) cron expression.
fn crons(schedules: &[Schedule]) -> Vec<(String, CronSchedule)> {
    schedules
        .iter()
        .map(|s| (s.name.clone(), s.cron.clone()))
        .collect()
}

/// Logs the fires in `(last, cutoff]` that a forward jump made too old.
fn warn_skipped(
    name: &str,
    cron: &CronSchedule,
    tz: Tz,
    last: DateTime<Utc>,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> u64 {
    // Counted with a cap: a jump of a year over an every-second schedule
    // must not stall the scheduler.
    const CAP: usize = 10_000;
    let mut skipped = fires_after(cron, tz, last).take_while(|f| *f <= cutoff);
    let Some(first) = skipped.next() else {
        return 0;
    };
    let more = skipped.take(CAP).count();
    let count = if more == CAP {
        format!("more than {CAP}")
    } else {
        (more + 1).to_string()
    };
    tracing::warn!(
        schedule = name,
        first_skipped = %first.with_timezone(&tz),
        skipped = %count,
        last_checked = %last.with_timezone(&tz),
        now = %now.with_timezone(&tz),
        "wall clock jumped forward; skipping fires older than {} minutes",
        FORWARD_JUMP_GRACE.num_minutes()
    );
    more as u64 + 1
}
