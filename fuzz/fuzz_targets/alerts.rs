//! The hazard-warning readers on arbitrary bytes: a CAP 1.2 or InaTEWS
//! document (`alerts::read_any`, what `corong alerts test` and the feeds
//! run on what they fetched) and a `cap-rss` index. A refusal must be one
//! line; nothing may panic, whatever the nesting, entities or size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = corong::alerts::read_any(data) {
        assert!(!e.0.contains('\n'), "a refusal of more than one line: {e}");
    }
    if let Ok(items) = corong::alerts::rss::read(data) {
        for item in items {
            assert!(item.link.starts_with("http"));
        }
    }
});
