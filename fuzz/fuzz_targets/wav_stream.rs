//! What `corong page --from-stdin` reads from a pipe: a WAV stream whose
//! header may lie about its length. Every sample must come out or the
//! stream must end with an error; nothing may panic or loop.
#![no_main]

use corong::media::wav_stream::WavStream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut stream) = WavStream::open(data) else {
        return;
    };
    let format = stream.format();
    assert!(format.channels > 0 && format.rate > 0);
    // A stream yields at most one sample per input byte (8-bit PCM is the
    // densest), so more than that is a loop.
    let mut samples = 0usize;
    while let Some(sample) = stream.next_sample() {
        if sample.is_err() {
            break;
        }
        samples += 1;
        assert!(samples <= data.len(), "more samples than input bytes");
    }
});
