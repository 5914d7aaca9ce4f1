//! One datagram on the receiver's RTP port: parse, then decode the payload
//! as the receiver does for the payload types it knows (the stream codecs,
//! G.722 and Opus, with a decoder that keeps its state from one datagram
//! to the next, at a position taken from the timestamp).
#![no_main]

use std::cell::RefCell;

use corong::receive::decode::Decoder;
use corong::rtp::header::parse;
use corong::rtp::{Codec, MAX_DATAGRAM};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static DECODERS: RefCell<Vec<(Codec, Decoder)>> = RefCell::new(
        Codec::ALL.iter().map(|&c| (c, Decoder::new(c, 2))).collect()
    );
}

fuzz_target!(|data: &[u8]| {
    if let Some(rtp) = parse(data) {
        assert!(data.len() <= MAX_DATAGRAM);
        assert!(rtp.payload.len() <= data.len());
        if let Some(codec) = Codec::from_payload_type(rtp.payload_type) {
            DECODERS.with(|d| {
                let mut d = d.borrow_mut();
                let (_, decoder) = d.iter_mut().find(|(c, _)| *c == codec).expect("every codec");
                let mut out = vec![0.0f32; Decoder::max_frames(codec) * 2];
                if let Ok(got) = decoder.decode(rtp.payload, rtp.timestamp as i64, &mut out) {
                    assert!(out[..got.frames].iter().all(|s| (-1.0..=1.0).contains(s)));
                }
            });
        }
    }
});
