//! Crashes the fuzz targets found (see fuzz/README.md), each kept as a test
//! of the public function on the bytes that crashed it.

use std::path::Path;

use corong::media::{DecodeOptions, Decoder, MediaError};

/// Decode `bytes` as the file `name` to `rate` Hz stereo, to the end.
fn decode_all(name: &str, bytes: &[u8], rate: u32) -> Vec<f32> {
    let mut d = Decoder::open_bytes(
        Path::new(name),
        bytes.to_vec(),
        rate,
        2,
        DecodeOptions::default(),
    )
    .expect("the file opens");
    let mut out = Vec::new();
    while d.read(&mut out, 4096).expect("decodes") > 0 {}
    out
}

/// Open `bytes` as the file `name`; it must be refused with a decode error
/// (a damaged file). Returns the error as the daemon logs it.
fn refused_as_damaged(name: &str, bytes: &[u8]) -> String {
    match Decoder::open_bytes(
        Path::new(name),
        bytes.to_vec(),
        48_000,
        2,
        DecodeOptions::default(),
    ) {
        Err(e @ MediaError::Decode { .. }) => e.to_string(),
        Err(e) => panic!("expected a decode error, got {e}"),
        Ok(_) => panic!("the file opened"),
    }
}

/// fuzz target `decode`, 2026-12-02: a 32-bit float WAV whose samples
/// include NaN and values near f32::MAX decoded to NaN and huge samples,
/// which would have reached the zone's mixer (a NaN poisons whatever it is
/// mixed with; a huge value plays at full scale).
#[test]
fn a_float_wav_with_nan_and_huge_samples_decodes_to_finite_samples_in_range() {
    let bytes = include_bytes!("data/fuzz/decode-float-wav-nonfinite-samples.wav");
    // At the file's own rate (8000 Hz): no resampling, so exactly in range.
    let out = decode_all("crash.wav", bytes, 8000);
    assert!(out.len() > 1000, "it decodes: {} samples", out.len());
    assert!(out.iter().all(|s| s.is_finite()), "no NaN or infinity");
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak <= 1.0, "peak {peak}");
    // Resampled to 48 kHz: still finite, and at most the resampler's
    // overshoot above full scale.
    let out = decode_all("crash.wav", bytes, 48_000);
    assert!(out.iter().all(|s| s.is_finite()), "no NaN or infinity");
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak <= 1.5, "peak {peak}");
}

/// fuzz target `decode`, 2026-12-02 (out of memory): a WAV header claiming
/// 4 143 980 352 Hz made the resampler allocate over 2 GB for one item.
/// Rates outside 1000..=384000 Hz are now refused as unsupported, naming
/// the file and the rate.
#[test]
fn a_wav_claiming_a_4_ghz_sample_rate_is_refused_without_allocating_gigabytes() {
    let bytes = include_bytes!("data/fuzz/decode-wav-4ghz-sample-rate.wav");
    let opened = Decoder::open_bytes(
        Path::new("crash.wav"),
        bytes.to_vec(),
        48_000,
        2,
        DecodeOptions::default(),
    );
    match opened {
        Err(e @ MediaError::Unsupported { .. }) => {
            let shown = e.to_string();
            assert!(shown.starts_with("crash.wav: unsupported: "), "{shown}");
            assert!(shown.contains("sample rate 4143980352 Hz"), "{shown}");
        }
        Err(e) => panic!("expected unsupported, got {e}"),
        Ok(_) => panic!("a 4 GHz file opened"),
    }
}

/// fuzz target `decode`, 2026-12-02 (out of memory): a 1.6 KB M4A whose
/// `hdlr` atom claims 3 036 676 141 bytes made symphonia allocate about that much
/// before reading it (a bigger claim would abort the daemon). The atoms of
/// `moov` are now checked to fit before symphonia reads them.
#[test]
fn an_m4a_whose_hdlr_atom_claims_3_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.m4a",
        include_bytes!("data/fuzz/decode-m4a-hdlr-atom-claims-3gb.m4a"),
    );
    assert!(
        shown.starts_with("crash.m4a: decode error: damaged MP4: atom `hdlr`"),
        "{shown}"
    );
    assert!(shown.contains("claims 3036676141 bytes"), "{shown}");
}

/// fuzz target `decode`, 2026-12-02 (out of memory): a 5 KB FLAC whose
/// Vorbis comment claims 2 728 555 636 bytes made symphonia allocate that
/// much before reading it. FLAC comments and pictures are now checked to fit
/// their blocks before symphonia reads them.
#[test]
fn a_flac_whose_vorbis_comment_claims_2_7_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.flac",
        include_bytes!("data/fuzz/decode-flac-vorbis-comment-claims-2gb.flac"),
    );
    assert!(
        shown.starts_with("crash.flac: decode error: damaged FLAC: Vorbis comment entry"),
        "{shown}"
    );
    assert!(shown.contains("claims 2728555636 bytes"), "{shown}");
}

/// fuzz target `decode`, 2026-12-02 (out of memory): junk, then an ID3v2.3
/// tag whose `TSSE` frame claims 4 294 602 496 bytes: symphonia's probe
/// allocated that much before reading it. ID3v2 tags the probe would read
/// are now checked first.
#[test]
fn an_id3v2_frame_claiming_4_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.mp3",
        include_bytes!("data/fuzz/decode-id3v2-frame-claims-4gb.bin"),
    );
    assert!(
        shown.starts_with("crash.mp3: decode error: damaged ID3v2 tag: frame `TSSE`"),
        "{shown}"
    );
    assert!(shown.contains("claims 4294602496 bytes"), "{shown}");
}

/// fuzz target `decode`, 2026-12-02 (out of memory): an M4A whose sample
/// size table (`stsz`) gives a sample of about 2.9 GB: symphonia allocated
/// it before reading the sample. Sample sizes larger than the file are now
/// refused before symphonia reads the file.
#[test]
fn an_m4a_whose_sample_size_table_claims_2_9_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.m4a",
        include_bytes!("data/fuzz/decode-m4a-sample-size-claims-2-9gb.m4a"),
    );
    assert!(
        shown.starts_with("crash.m4a: decode error: damaged MP4: atom `stsz`"),
        "{shown}"
    );
}

/// fuzz target `decode`, 2026-12-02 (out of memory): an ID3v2 tag, then a
/// FLAC stream whose Vorbis comment claims 2 880 154 539 bytes. The FLAC
/// check looked at byte 0 only; it now starts where the probe finds the
/// stream, after the tags.
#[test]
fn a_flac_after_an_id3_tag_whose_comment_claims_2_9_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.flac",
        include_bytes!("data/fuzz/decode-flac-after-id3-comment-claims-2-9gb.flac"),
    );
    assert!(
        shown.starts_with("crash.flac: decode error: damaged FLAC:"),
        "{shown}"
    );
}

/// fuzz target `decode`, 2026-12-02, second session (out of memory): a
/// 1.5 KB M4A whose sample-to-chunk table (`stsc`) claims 2.9 billion
/// entries: symphonia reserved 32 GB for them before reading them. Every
/// sample table's entry count is now checked to fit its atom first.
#[test]
fn an_m4a_whose_stsc_table_claims_32_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.m4a",
        include_bytes!("data/fuzz/decode-m4a-stsc-claims-32gb.m4a"),
    );
    assert!(
        shown.starts_with("crash.m4a: decode error: damaged MP4: atom `stsc`"),
        "{shown}"
    );
    assert!(shown.contains("entries"), "{shown}");
}

/// fuzz target `decode`, 2026-12-02, second session (out of memory): an
/// ID3v2 tag, then an M4A whose `stts` table claims 8 GB of entries. The
/// MP4 check looked at files starting with `ftyp` only; it now also starts
/// where the probe finds the MP4 file, after the tags.
#[test]
fn an_m4a_after_an_id3_tag_whose_stts_claims_8_gb_is_refused_as_damaged() {
    let shown = refused_as_damaged(
        "crash.m4a",
        include_bytes!("data/fuzz/decode-id3-then-m4a-stts-claims-8gb.m4a"),
    );
    assert!(
        shown.starts_with("crash.m4a: decode error: damaged MP4: atom `stts`"),
        "{shown}"
    );
}
