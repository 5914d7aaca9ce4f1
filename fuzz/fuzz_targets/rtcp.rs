//! One datagram on the receiver's RTCP port: find the sender report.
#![no_main]

use corong::receive::packet::{ntp_to_unix_ns, parse_sender_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(sr) = parse_sender_report(data) {
        let _ = ntp_to_unix_ns(sr.ntp);
    }
});
