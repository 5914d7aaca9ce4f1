//! One datagram on the receiver's RTP port: parse, then decode the payload
//! as the receiver does for the payload types it knows.
#![no_main]

use corong::receive::packet::{parse_rtp, Codec, MAX_DATAGRAM};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(rtp) = parse_rtp(data) {
        assert!(data.len() <= MAX_DATAGRAM);
        assert!(rtp.payload.len() <= data.len());
        if let Some(codec) = Codec::from_payload_type(rtp.payload_type) {
            let mut out = vec![0.0f32; codec.samples_in(rtp.payload.len())];
            codec.decode(rtp.payload, &mut out);
            assert!(out.iter().all(|s| (-1.0..=1.0).contains(s)));
        }
    }
});
