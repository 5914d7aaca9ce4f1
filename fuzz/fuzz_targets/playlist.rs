//! The M3U/M3U8 parser on arbitrary bytes: what the daemon runs on a
//! playlist file once it is read.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/nonexistent/corong-fuzz/list.m3u");
    match corong::playlist::parse_bytes(data, path) {
        Ok(list) => {
            let _ = corong::playlist::check_media_paths(&list);
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
});
