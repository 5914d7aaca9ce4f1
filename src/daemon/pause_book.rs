//! The schedules an admin paused, as the station holds them: the map it
//! reads at every fire and the book (`store::PauseBook`) that keeps them
//! across restarts. The requests and the fires that use it are in
//! `pauses.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::store::{Pause, PauseBook, StoreError};

/// The paused schedules, as the book keeps them.
pub(super) struct SchedulePauses {
    /// `None`: the database could not be opened; pauses then last until
    /// the daemon stops (said in the log and in the answer).
    book: Option<PauseBook>,
    paused: BTreeMap<String, Pause>,
}

impl SchedulePauses {
    /// The pauses kept in `state_dir/corong.db`.
    pub(super) fn open(state_dir: &Path) -> SchedulePauses {
        let opened = PauseBook::open(state_dir).and_then(|b| b.all().map(|all| (b, all)));
        match opened {
            Ok((book, paused)) => {
                for (name, p) in &paused {
                    tracing::info!(schedule = %name, by = %p.by, "schedule is paused");
                }
                SchedulePauses {
                    book: Some(book),
                    paused,
                }
            }
            Err(e) => {
                tracing::error!("schedule pauses cannot be kept: {e}");
                SchedulePauses {
                    book: None,
                    paused: BTreeMap::new(),
                }
            }
        }
    }

    /// Who paused `name`, if it is paused.
    pub(super) fn get(&self, name: &str) -> Option<&Pause> {
        self.paused.get(name)
    }

    /// Keep `name` paused: on disk first (synced), then in the map.
    pub(super) fn pause(&mut self, name: &str, pause: Pause) -> Result<(), String> {
        let Some(book) = self.book.as_mut() else {
            return Err("the state database could not be opened (see the log)".into());
        };
        book.pause(name, &pause)
            .map_err(|e: StoreError| e.to_string())?;
        self.paused.insert(name.to_string(), pause);
        Ok(())
    }

    /// Forget `name`'s pause, on disk then in the map; who had paused it.
    pub(super) fn resume(&mut self, name: &str) -> Result<Option<Pause>, String> {
        if let Some(book) = self.book.as_mut() {
            book.resume(name).map_err(|e: StoreError| e.to_string())?;
        }
        Ok(self.paused.remove(name))
    }
}
