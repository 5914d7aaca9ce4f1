//! Streaming sample-rate conversion with rubato's FFT resampler.
//!
//! The FFT resampler is synchronous (fixed ratio) and filters with a
//! Blackman-Harris windowed sinc, so downsampling doesn't alias and
//! upsampling doesn't image. It delays its output by half an FFT block; this
//! wrapper drops that delay at the start and flushes it at the end, so the
//! output is exactly `round(input_frames * out_rate / in_rate)` frames with
//! no time shift.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler, WindowFunction};

/// Input frames per FFT block we aim for. Larger blocks move the
/// anti-aliasing cutoff closer to Nyquist (about 0.99 of it at 2048) at the
/// cost of a longer start-up delay, which is trimmed anyway.
const TARGET_BLOCK_FRAMES: usize = 2048;

/// Converts a stream of interleaved frames from one rate to another.
pub struct StreamResampler {
    inner: Fft<f32>,
    channels: usize,
    in_rate: u32,
    out_rate: u32,
    /// Input frames waiting to fill a whole chunk, interleaved.
    pending: Vec<f32>,
    /// One chunk of output, interleaved; reused.
    chunk_out: Vec<f32>,
    /// Output frames of start-up delay still to drop.
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    /// A resampler from `in_rate` to `out_rate` Hz for `channels` channels.
    pub fn new(
        in_rate: u32,
        out_rate: u32,
        channels: usize,
    ) -> Result<StreamResampler, rubato::ResamplerConstructionError> {
        let inner = Fft::<f32>::new_custom(
            in_rate as usize,
            out_rate as usize,
            TARGET_BLOCK_FRAMES,
            1,
            channels,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )?;
        let chunk_out = vec![0.0; inner.output_frames_max() * channels];
        let pending = Vec::with_capacity(inner.input_frames_max() * channels * 2);
        let delay_left = inner.output_delay();
        Ok(StreamResampler {
            inner,
            channels,
            in_rate,
            out_rate,
            pending,
            chunk_out,
            delay_left,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Input frames per block. The resampler works block by block from its
    /// first input frame, so a new one started on a block boundary of an
    /// old one's input gives, once a block or two in, the same output.
    pub fn block_frames(&self) -> usize {
        self.inner.input_frames_next()
    }

    /// Output frames the whole input so far is worth.
    fn target_frames(&self) -> u64 {
        let num = self.frames_in as u128 * self.out_rate as u128;
        ((num + self.in_rate as u128 / 2) / self.in_rate as u128) as u64
    }

    /// Feed interleaved `input`; append whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let ch = self.channels;
        self.frames_in += (input.len() / ch) as u64;
        self.pending
            .extend_from_slice(&input[..input.len() / ch * ch]);
        let chunk_in = self.inner.input_frames_next();
        let mut offset = 0;
        while self.pending.len() / ch - offset >= chunk_in {
            let indexing = Indexing::new().input_offset(offset);
            let produced = self.process(Some(&indexing));
            offset += chunk_in;
            self.emit(produced, u64::MAX, out);
        }
        self.pending.drain(..offset * ch);
    }

    /// End of input: flush the resampler's tail into `out`, so that the
    /// whole output is exactly as long as the input times the ratio.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let target = self.target_frames();
        let left = self.pending.len() / self.channels;
        if left > 0 {
            let produced = self.process(Some(&Indexing::new().partial_len(left)));
            self.emit(produced, target, out);
        }
        self.pending.clear();
        while self.frames_out < target {
            let produced = self.process(Some(&Indexing::new().partial_len(0)));
            self.emit(produced, target, out);
        }
    }

    /// Run one chunk from `pending` into `chunk_out`; return output frames.
    fn process(&mut self, indexing: Option<&Indexing>) -> usize {
        let ch = self.channels;
        let in_frames = self.pending.len() / ch;
        let out_frames = self.chunk_out.len() / ch;
        // The buffers are sized from the resampler's own maxima, so the
        // checks inside rubato can't fail; a failure is a bug here.
        let input = InterleavedSlice::new(&self.pending[..], ch, in_frames)
            .expect("interleaved input has whole frames");
        let mut output = InterleavedSlice::new_mut(&mut self.chunk_out[..], ch, out_frames)
            .expect("interleaved output has whole frames");
        let (_, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, indexing)
            .expect("resampler buffers are sized from its own maxima");
        produced
    }

    /// Append the first `produced` frames of `chunk_out` to `out`, after
    /// dropping what is left of the start-up delay, up to `limit` frames in
    /// all.
    fn emit(&mut self, produced: usize, limit: u64, out: &mut Vec<f32>) {
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        let room = limit.saturating_sub(self.frames_out);
        let take = ((produced - skip) as u64).min(room) as usize;
        let ch = self.channels;
        out.extend_from_slice(&self.chunk_out[skip * ch..(skip + take) * ch]);
        self.frames_out += take as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|n| {
                (0.5 * (2.0 * std::f64::consts::PI * freq * n as f64 / rate as f64).sin()) as f32
            })
            .collect()
    }

    fn run(input: &[f32], in_rate: u32, out_rate: u32, piece: usize) -> Vec<f32> {
        let mut r = StreamResampler::new(in_rate, out_rate, 1).unwrap();
        let mut out = Vec::new();
        for p in input.chunks(piece) {
            r.push(p, &mut out);
        }
        r.finish(&mut out);
        out
    }

    #[test]
    fn length_is_exact_for_any_piece_size() {
        for (inr, outr, n) in [
            (44100, 48000, 44100),
            (8000, 48000, 1234),
            (96000, 48000, 7),
            (22050, 48000, 0),
        ] {
            for piece in [1, 100, 4096] {
                let out = run(&vec![0.0; n], inr, outr, piece);
                let want = (n as u64 * outr as u64 + inr as u64 / 2) / inr as u64;
                assert_eq!(
                    out.len() as u64,
                    want,
                    "{inr}->{outr}, {n} frames, pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn no_time_shift() {
        // An impulse in the middle stays in the middle.
        let mut input = vec![0.0f32; 44100];
        input[22050] = 1.0;
        let out = run(&input, 44100, 48000, 512);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert!((peak as i64 - 24000).abs() <= 1, "peak at {peak}");
    }

    #[test]
    fn downsampling_does_not_alias() {
        // 30 kHz at 96 kHz is above the 24 kHz Nyquist of 48 kHz: it must be
        // removed, not folded to 18 kHz.
        let out = run(&sine(30000.0, 96000, 96000), 96000, 48000, 1000);
        let mid = &out[4800..43200];
        let rms = (mid.iter().map(|s| s * s).sum::<f32>() / mid.len() as f32).sqrt();
        assert!(rms < 1e-3, "alias rms {rms}");
    }

    #[test]
    fn upsampling_does_not_image() {
        // 3 kHz at 8 kHz, upsampled: the output must be the same 3 kHz sine,
        // in time, without images at 5, 11, 13 kHz...
        let out = run(&sine(3000.0, 8000, 8000), 8000, 48000, 160);
        let want = sine(3000.0, 48000, 48000);
        let err: Vec<f32> = out[4800..43200]
            .iter()
            .zip(&want[4800..43200])
            .map(|(a, b)| a - b)
            .collect();
        let rms = (err.iter().map(|s| s * s).sum::<f32>() / err.len() as f32).sqrt();
        assert!(rms < 1e-3, "residual rms {rms}");
    }
}
