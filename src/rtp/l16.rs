//! L16 (RFC 3551 section 4.5.11): 16-bit linear samples, big-endian,
//! channels interleaved.

/// f32 in -1..1 to a 16-bit sample: clipped, rounded half away from zero.
/// Written out rather than with `f32::round`, which is a libm call on
/// baseline x86-64 and showed up in the engine thread's profile.
#[inline]
pub fn to_i16(s: f32) -> i16 {
    let x = s.clamp(-1.0, 1.0) * 32767.0;
    (x + 0.5f32.copysign(x)) as i16
}

/// `pcm` into `out` as big-endian 16-bit samples, two bytes each; samples
/// past the end of `pcm` are silence.
pub fn encode(pcm: &[f32], out: &mut [u8]) {
    for (i, o) in out.chunks_exact_mut(2).enumerate() {
        let s = pcm.get(i).copied().unwrap_or(0.0);
        o.copy_from_slice(&to_i16(s).to_be_bytes());
    }
}

/// `payload` into `out` (as many samples as both hold) as f32 in -1..1; a
/// trailing odd byte is ignored.
pub fn decode(payload: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
        *o = i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_i16_rounds_half_away_from_zero_and_clips() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32767);
        assert_eq!(to_i16(2.0), 32767);
        assert_eq!(to_i16(-7.5), -32767);
        assert_eq!(to_i16(1.5 / 32767.0), 2);
        assert_eq!(to_i16(-1.5 / 32767.0), -2);
        assert_eq!(to_i16(1.4 / 32767.0), 1);
        assert_eq!(to_i16(-0.4 / 32767.0), 0);
        for i in -1000..=1000 {
            let s = i as f32 / 1000.0;
            assert_eq!(to_i16(s), (s * 32767.0).round() as i16, "{s}");
        }
    }

    #[test]
    fn encode_pads_with_silence_and_decodes_back() {
        let mut out = [0xaau8; 6];
        encode(&[0.5, -0.5], &mut out);
        assert_eq!(out, [0x40, 0x00, 0xc0, 0x00, 0, 0]);
        let mut back = [1.0f32; 3];
        decode(&out, &mut back);
        assert_eq!(back, [16384.0 / 32768.0, -16384.0 / 32768.0, 0.0]);
    }
}
