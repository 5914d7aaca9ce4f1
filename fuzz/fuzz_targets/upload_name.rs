//! The name a client gives an `upload`: whatever it is, the daemon keeps
//! only a plain extension (the decoder's format hint), so no name can
//! reach outside the upload folder or hide a path in the file's name.
#![no_main]

use corong::control::upload::extension;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    let ext = extension(&name);
    assert!(!ext.is_empty() && ext.len() <= 8, "{ext:?}");
    assert!(ext.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{ext:?}");
});
