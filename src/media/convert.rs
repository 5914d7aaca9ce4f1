//! The conversion stage between the decoder and the engine: channel mixing
//! first (so the resampler works on as few channels as possible), then
//! resampling.

use symphonia::core::audio::Channels;

use super::channels::ChannelMixer;
use super::resample::StreamResampler;

/// Converts decoded audio of one signal spec (rate, channels) to the
/// engine's rate and channel count. A stream whose spec changes midway gets
/// a new `Converter` after [`Converter::finish`] on the old one.
pub struct Converter {
    in_rate: u32,
    mixer: ChannelMixer,
    /// `None` when the rates are equal.
    resampler: Option<StreamResampler>,
    /// Mixed frames at the source rate; reused.
    mixed: Vec<f32>,
}

impl Converter {
    pub fn new(
        in_rate: u32,
        in_channels: usize,
        layout: Option<Channels>,
        out_rate: u32,
        out_channels: usize,
    ) -> Result<Converter, String> {
        let mixer = ChannelMixer::new(in_channels, layout, out_channels);
        let resampler = if in_rate == out_rate {
            None
        } else {
            let r = StreamResampler::new(in_rate, out_rate, mixer.out_channels())
                .map_err(|e| format!("can't resample {in_rate} Hz to {out_rate} Hz: {e}"))?;
            Some(r)
        };
        Ok(Converter {
            in_rate,
            mixer,
            resampler,
            mixed: Vec::new(),
        })
    }

    /// Whether audio of this rate and channel count can go through `self`.
    pub fn accepts(&self, rate: u32, channels: usize) -> bool {
        self.in_rate == rate && self.mixer.in_channels() == channels
    }

    /// Source frames per resampler block (1 when the rates are equal): a
    /// decoder that seeks starts a new converter on a multiple of this from
    /// the stream's start, so its output lines up with a decode from the
    /// start (see [`super::resample::StreamResampler::block_frames`]).
    pub fn block_frames(&self) -> usize {
        self.resampler.as_ref().map_or(1, |r| r.block_frames())
    }

    /// Convert interleaved source frames; append the output ready so far.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        match &mut self.resampler {
            None => self.mixer.mix(input, out),
            Some(r) => {
                self.mixed.clear();
                self.mixer.mix(input, &mut self.mixed);
                r.push(&self.mixed, out);
            }
        }
    }

    /// End of this spec's audio: append the resampler's tail.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if let Some(r) = &mut self.resampler {
            r.finish(out);
        }
    }
}
