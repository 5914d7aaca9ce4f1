//! The title of what plays on a zone, handed from the control plane to the
//! zone's Icecast threads. The engine never touches it: the daemon sets it
//! when an item goes on air (from the job ledger's events), and the source
//! and metadata threads read it when its version moves.
//!
//! The writer takes a short mutex (the control plane may wait a moment);
//! readers only `try_lock`, and a reader that finds it taken looks again at
//! its next turn, so neither side can hold the other up for long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Longest title sent, in bytes (cut at a character boundary): Icecast and
/// players show a line, not a paragraph.
pub const TITLE_MAX: usize = 200;

/// A zone's current title. See the module docs.
#[derive(Debug, Default)]
pub struct NowPlaying {
    /// Bumped after each change; 0: never set.
    version: AtomicU64,
    title: Mutex<String>,
}

impl NowPlaying {
    /// Say that `title` plays now (cut to [`TITLE_MAX`] bytes, line breaks
    /// made spaces). The same title again is not a change.
    pub fn set(&self, title: &str) {
        let mut cut = title.trim();
        if cut.len() > TITLE_MAX {
            let mut end = TITLE_MAX;
            while !cut.is_char_boundary(end) {
                end -= 1;
            }
            cut = &cut[..end];
        }
        let mut t = self.title.lock().unwrap_or_else(|e| e.into_inner());
        if self.version.load(Ordering::Acquire) != 0 && t.as_str() == cut {
            return;
        }
        t.clear();
        t.extend(cut.chars().map(|c| if c.is_control() { ' ' } else { c }));
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The version of the title: it moves when the title changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Copy the title into `into` (reusing its buffer) and return its
    /// version, unless the writer holds it just now.
    pub fn try_read(&self, into: &mut String) -> Option<u64> {
        let t = self.title.try_lock().ok()?;
        into.clear();
        into.push_str(&t);
        Some(self.version.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_moves_the_version_and_the_same_title_does_not() {
        let np = NowPlaying::default();
        assert_eq!(np.version(), 0);
        np.set("Adzan Subuh");
        let v = np.version();
        assert_eq!(v, 1);
        np.set("Adzan Subuh");
        assert_eq!(np.version(), v);
        np.set("line\nbreak");
        let mut s = String::new();
        assert_eq!(np.try_read(&mut s), Some(2));
        assert_eq!(s, "line break");
    }

    #[test]
    fn a_long_title_is_cut_at_a_character_boundary() {
        let np = NowPlaying::default();
        np.set(&"é".repeat(300));
        let mut s = String::new();
        np.try_read(&mut s).unwrap();
        assert!(s.len() <= TITLE_MAX && s.len() >= TITLE_MAX - 1);
        assert!(s.chars().all(|c| c == 'é'));
    }
}
