//! The config loader on arbitrary bytes: what `corong daemon` and `corong
//! check` run once the file is read (size bound, UTF-8, TOML, validation).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A folder that does not exist: relative paths in the config resolve
    // against it, and nothing is found there.
    let path = Path::new("/nonexistent/corong-fuzz/config.toml");
    if let Err(errors) = corong::config::load_bytes_with_warnings(data, path) {
        // Every error renders as lines naming the file.
        let _ = errors.to_string();
    }
});
