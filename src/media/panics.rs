//! Containing decoder panics, so that each is reported once, on the line
//! that names the file.
//!
//! Decoders have panicked on malformed input (symphonia's MP4 reader, for
//! one). [`contain`] runs a call under `catch_unwind`; while it runs, the
//! daemon's panic hook hands the message and place to [`hand_over`] instead
//! of logging a line of its own (which could not name the file), and
//! [`contain`] returns them as the error. The caller reports the item as
//! skipped with the file and that description.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// How many [`contain`] calls are running on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The last panic handed over on this thread.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Run `f`; a panic in it becomes `Err("MESSAGE at FILE:LINE")`.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| {
            // No hook handed it over (tests, fuzzing): the payload is all
            // there is.
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into())
        })
    })
}

/// For the panic hook: when this thread is inside [`contain`], keep
/// `message` and `place` for it and return true (the hook then logs
/// nothing); otherwise return false.
pub fn hand_over(message: &str, place: &str) -> bool {
    if DEPTH.with(|d| d.get()) == 0 {
        return false;
    }
    let text = if place.is_empty() {
        message.to_string()
    } else {
        format!("{message} at {place}")
    };
    LAST.with(|l| *l.borrow_mut() = Some(text));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_what_the_hook_handed_over() {
        assert_eq!(contain(|| 5), Ok(5));
        let r: Result<(), String> = contain(|| {
            // What the daemon's hook does on this thread.
            assert!(hand_over("boom", "src/x.rs:1"));
            std::panic::resume_unwind(Box::new("boom"));
        });
        assert_eq!(r, Err("boom at src/x.rs:1".to_string()));
        // Outside `contain` the hook logs as usual.
        assert!(!hand_over("boom", "src/x.rs:1"));
    }

    #[test]
    fn without_a_hook_the_payload_is_the_message() {
        let r: Result<(), String> = contain(|| std::panic::resume_unwind(Box::new("bang")));
        assert_eq!(r, Err("bang".to_string()));
    }
}
