//! Arbitrary bytes as a media file, through the daemon's decoder
//! ([`Decoder::open_bytes`] is [`Decoder::open_with`] minus opening the
//! file): probe, open, then read to the end as a decoder worker does.
//!
//! A panic inside symphonia that the decoder contains (as the daemon does,
//! through `media::panics`) ends the item with an error, as in the daemon,
//! and is printed once per place as `contained panic: ...`; any other panic
//! aborts, and libFuzzer records a crash.
#![no_main]

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, Once};
use std::time::Duration;

use corong::media::{panics, DecodeOptions, Decoder};
use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The daemon's hook, in short: a contained panic is handed over;
/// anything else is a crash.
fn install_hook() {
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if panics::hand_over(&msg, &at) {
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                eprintln!("contained panic: {msg} at {at}");
            }
            return;
        }
        fuzzer_hook(info);
    }));
}

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(install_hook);
    // A short duration limit keeps one input fast; the code paths are those
    // of the daemon's defaults.
    let options = DecodeOptions {
        max_duration: Duration::from_secs(2),
        ..DecodeOptions::default()
    };
    let name = Path::new("fuzz-input");
    let Ok(mut decoder) = Decoder::open_bytes(name, data.to_vec(), 8000, 2, options) else {
        return;
    };
    let mut out = Vec::new();
    loop {
        out.clear();
        match decoder.read(&mut out, 4096) {
            Ok(0) | Err(_) => break,
            Ok(frames) => {
                assert_eq!(out.len(), frames * 2);
                assert!(out.iter().all(|s| s.is_finite()));
            }
        }
    }
});
