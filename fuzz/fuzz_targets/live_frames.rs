//! The frames of a live page's audio as the daemon reads them from a
//! client (`control/live.rs`): whatever the bytes and however they are cut
//! into reads, the reader never panics, never holds more than a frame's
//! samples, and reads the same frames whole as in one-byte pieces.
#![no_main]

use corong::control::live::{Frame, FrameReader, MAX_FRAME_SAMPLES};
use libfuzzer_sys::fuzz_target;

/// The frames read from `data` in pieces of `piece` bytes, up to the end
/// frame or an error.
fn frames(data: &[u8], piece: usize) -> (Vec<Vec<i16>>, bool) {
    let mut r = FrameReader::default();
    let mut out = Vec::new();
    for mut p in data.chunks(piece.max(1)) {
        while !p.is_empty() {
            let Ok((used, f)) = r.feed(p) else {
                return (out, false);
            };
            assert!(used <= p.len() && (used > 0 || f.is_some()));
            p = &p[used..];
            assert!(r.samples().len() <= MAX_FRAME_SAMPLES);
            match f {
                Some(Frame::Samples(n)) => {
                    assert_eq!(n, r.samples().len());
                    out.push(r.samples().to_vec());
                }
                Some(Frame::End) => return (out, true),
                None => {}
            }
        }
    }
    (out, true)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let whole = frames(data, data.len());
    assert_eq!(frames(data, 1), whole);
    assert_eq!(frames(data, cut as usize + 1), whole);
});
