//! One datagram on an RTCP port: the receiver's sender-report reader and
//! the daemon's reader of receivers' reports.
#![no_main]

use corong::rtp::rtcp::{ntp_to_unix_ns, parse_feedback, parse_sender_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(sr) = parse_sender_report(data) {
        let _ = ntp_to_unix_ns(sr.ntp);
    }
    let _ = parse_feedback(data, 0x1234_5678);
});
