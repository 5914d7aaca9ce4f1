//! Arbitrary bytes as a media file, through the daemon's decoder
//! ([`Decoder::open_bytes`] is [`Decoder::open_with`] minus opening the
//! file): probe, open, then read to the end as a decoder worker does.
#![no_main]

use std::path::Path;
use std::time::Duration;

use corong::media::{DecodeOptions, Decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A low output rate and a short duration limit keep one input fast; the
    // code paths are those of the daemon's defaults.
    let options = DecodeOptions {
        max_duration: Duration::from_secs(20),
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
