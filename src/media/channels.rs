//! Channel mixing: any source layout to the zone's 1 or 2 channels.
//!
//! Mono becomes both sides of stereo; stereo becomes mono by averaging; more
//! channels are folded down to stereo with the ITU-R BS.775 coefficients
//! (front 1.0, centre and surround -3 dB, LFE dropped), normalised so that a
//! full-scale signal in every channel can't clip, and to mono by averaging
//! that stereo pair.

use symphonia::core::audio::Channels;

/// -3 dB: the weight of a centre channel in each side, and of a surround
/// channel in its own side.
const MINUS_3_DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Mixes interleaved frames of `in_channels` channels to `out_channels`.
#[derive(Debug, Clone)]
pub struct ChannelMixer {
    in_channels: usize,
    out_channels: usize,
    /// Weight of each input channel in the (left, right) output; used only
    /// for layouts other than the mono/stereo fast paths.
    gains: Vec<(f32, f32)>,
}

impl ChannelMixer {
    /// A mixer for `in_channels` channels laid out as `layout` (symphonia's
    /// channel order is the order of the bits), to `out_channels` (1 or 2;
    /// anything above 2 is treated as 2).
    pub fn new(in_channels: usize, layout: Option<Channels>, out_channels: usize) -> ChannelMixer {
        let in_channels = in_channels.max(1);
        let out_channels = out_channels.clamp(1, 2);
        let gains = if in_channels <= 2 {
            Vec::new()
        } else {
            downmix_gains(in_channels, layout)
        };
        ChannelMixer {
            in_channels,
            out_channels,
            gains,
        }
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Append `input` (whole interleaved frames) mixed to the output layout
    /// onto `out`. A trailing partial frame is ignored.
    pub fn mix(&self, input: &[f32], out: &mut Vec<f32>) {
        let frames = input.len() / self.in_channels;
        out.reserve(frames * self.out_channels);
        match (self.in_channels, self.out_channels) {
            (1, 1) | (2, 2) => out.extend_from_slice(&input[..frames * self.in_channels]),
            (1, 2) => {
                for &s in input {
                    out.push(s);
                    out.push(s);
                }
            }
            (2, 1) => out.extend(input.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1]))),
            (_, out_ch) => {
                for frame in input.chunks_exact(self.in_channels) {
                    let (mut l, mut r) = (0.0f32, 0.0f32);
                    for (&s, &(gl, gr)) in frame.iter().zip(&self.gains) {
                        l += s * gl;
                        r += s * gr;
                    }
                    if out_ch == 1 {
                        out.push(0.5 * (l + r));
                    } else {
                        out.push(l);
                        out.push(r);
                    }
                }
            }
        }
    }
}

/// (left, right) weight of each of `count` input channels, normalised so each
/// side's weights sum to 1. Unknown layouts average every channel into both.
fn downmix_gains(count: usize, layout: Option<Channels>) -> Vec<(f32, f32)> {
    let positional = layout
        .filter(|l| l.count() == count)
        .map(|l| l.iter().map(side_weights).collect::<Vec<_>>());
    let mut gains = match positional {
        // A layout with nothing audible on one side (all unknown positions)
        // would be silent there: fall back to averaging.
        Some(g) if g.iter().any(|&(l, _)| l > 0.0) && g.iter().any(|&(_, r)| r > 0.0) => g,
        _ => vec![(1.0, 1.0); count],
    };
    let sum_l: f32 = gains.iter().map(|g| g.0).sum();
    let sum_r: f32 = gains.iter().map(|g| g.1).sum();
    for g in &mut gains {
        g.0 /= sum_l;
        g.1 /= sum_r;
    }
    gains
}

/// Weight of one speaker position in the (left, right) stereo fold-down.
fn side_weights(position: Channels) -> (f32, f32) {
    const FRONT_LEFT: Channels = Channels::FRONT_LEFT
        .union(Channels::FRONT_LEFT_CENTRE)
        .union(Channels::FRONT_LEFT_WIDE)
        .union(Channels::FRONT_LEFT_HIGH)
        .union(Channels::TOP_FRONT_LEFT);
    const FRONT_RIGHT: Channels = Channels::FRONT_RIGHT
        .union(Channels::FRONT_RIGHT_CENTRE)
        .union(Channels::FRONT_RIGHT_WIDE)
        .union(Channels::FRONT_RIGHT_HIGH)
        .union(Channels::TOP_FRONT_RIGHT);
    const BACK_LEFT: Channels = Channels::REAR_LEFT
        .union(Channels::SIDE_LEFT)
        .union(Channels::REAR_LEFT_CENTRE)
        .union(Channels::TOP_REAR_LEFT);
    const BACK_RIGHT: Channels = Channels::REAR_RIGHT
        .union(Channels::SIDE_RIGHT)
        .union(Channels::REAR_RIGHT_CENTRE)
        .union(Channels::TOP_REAR_RIGHT);
    const CENTRE: Channels = Channels::FRONT_CENTRE
        .union(Channels::REAR_CENTRE)
        .union(Channels::TOP_CENTRE)
        .union(Channels::TOP_FRONT_CENTRE)
        .union(Channels::TOP_REAR_CENTRE)
        .union(Channels::FRONT_CENTRE_HIGH);
    if FRONT_LEFT.contains(position) {
        (1.0, 0.0)
    } else if FRONT_RIGHT.contains(position) {
        (0.0, 1.0)
    } else if BACK_LEFT.contains(position) {
        (MINUS_3_DB, 0.0)
    } else if BACK_RIGHT.contains(position) {
        (0.0, MINUS_3_DB)
    } else if CENTRE.contains(position) {
        (MINUS_3_DB, MINUS_3_DB)
    } else {
        // LFE (ITU drops it) and positions this mixer does not know.
        (0.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_to_stereo_duplicates() {
        let mut out = Vec::new();
        ChannelMixer::new(1, None, 2).mix(&[0.1, -0.2], &mut out);
        assert_eq!(out, [0.1, 0.1, -0.2, -0.2]);
    }

    #[test]
    fn stereo_to_mono_averages() {
        let mut out = Vec::new();
        ChannelMixer::new(2, None, 1).mix(&[0.2, 0.4, -1.0, 1.0], &mut out);
        assert_eq!(out, [0.3f32, 0.0]);
    }

    #[test]
    fn five_one_folds_down_without_clipping_or_lfe() {
        let layout = Channels::FRONT_LEFT
            | Channels::FRONT_RIGHT
            | Channels::FRONT_CENTRE
            | Channels::LFE1
            | Channels::REAR_LEFT
            | Channels::REAR_RIGHT;
        let mixer = ChannelMixer::new(6, Some(layout), 2);
        let mut out = Vec::new();
        // Full scale everywhere: exactly full scale out.
        mixer.mix(&[1.0; 6], &mut out);
        assert!((out[0] - 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6);
        // Only the LFE: silence.
        out.clear();
        mixer.mix(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &mut out);
        assert_eq!(out, [0.0, 0.0]);
        // Only front left: left only.
        out.clear();
        mixer.mix(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut out);
        assert!(out[0] > 0.3 && out[1] == 0.0);
    }

    #[test]
    fn unknown_layout_averages() {
        let mixer = ChannelMixer::new(3, None, 1);
        let mut out = Vec::new();
        mixer.mix(&[0.3, 0.6, 0.9], &mut out);
        assert!((out[0] - 0.6).abs() < 1e-6);
    }
}
