//! As-run log retention (`[daemon] asrun_keep_days`): at start and once a
//! day, rows of items that started longer ago are deleted, a bounded batch
//! per tick of the daemon's health timer so that its loop is never held
//! long (the audio never waits for it: the engine is another thread). A
//! pruning that deleted anything is recorded as an as-run row of its own
//! (origin `corong`, how `pruned`) and an info line.

use chrono::{DateTime, Duration, Utc};

use crate::store::Store;

/// Rows deleted per tick: a few milliseconds of SQLite work.
pub const BATCH: usize = 2000;

/// Where the daily pruning is.
pub struct AsRunRetention {
    keep_days: Option<u32>,
    /// When the next pruning starts.
    next: DateTime<Utc>,
    /// A pruning under way: its cutoff and the rows deleted so far.
    running: Option<(DateTime<Utc>, usize)>,
}

impl AsRunRetention {
    /// The first pruning starts at the first tick. `None`: keep forever.
    pub fn new(keep_days: Option<u32>) -> AsRunRetention {
        AsRunRetention {
            keep_days,
            next: DateTime::<Utc>::MIN_UTC,
            running: None,
        }
    }

    /// One step: start a pruning when one is due, delete one batch, and
    /// record the pruning when it is done. A store that fails is logged and
    /// tried again the next day.
    pub fn tick(&mut self, store: Option<&mut Store>, now: DateTime<Utc>) {
        let (Some(days), Some(store)) = (self.keep_days, store) else {
            return;
        };
        if self.running.is_none() {
            if now < self.next {
                return;
            }
            self.next = now + Duration::days(1);
            self.running = Some((now - Duration::days(i64::from(days)), 0));
        }
        let Some((cutoff, removed)) = self.running.as_mut() else {
            return;
        };
        let cutoff = *cutoff;
        match store.prune_as_run_batch(cutoff, BATCH) {
            Ok(p) => {
                *removed += p.removed;
                if p.more {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("cannot prune the as-run log: {e}; trying again tomorrow");
                self.running = None;
                return;
            }
        }
        let removed = self.running.take().map_or(0, |(_, n)| n);
        if removed == 0 {
            return;
        }
        let before = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        tracing::info!(
            rows = removed,
            "as-run log pruned: {removed} rows of items started before {before} deleted (asrun_keep_days = {days})"
        );
        if let Err(e) = store.record_as_run_pruned(removed, cutoff, now) {
            tracing::warn!("cannot record the as-run log's pruning in it: {e}");
        }
    }
}
