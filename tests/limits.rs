//! Limits on outside input that need a running daemon: the longest one
//! media item may play (`[daemon] max_item_s`).

mod common;

use std::time::Duration;

use common::station::{cron_in, Station};
use common::{count_near, ffmpeg_tone, frequency_track, read_wav_mono, require_peer};

/// An item longer than `max_item_s` is cut off there, with one warning
/// naming the file, and the playlist goes on with the next item.
#[test]
fn an_item_longer_than_max_item_s_is_cut_off_with_a_warning() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/long.flac"), 1000.0, 4.0, 48_000, 1, &[]);
    ffmpeg_tone(&st.path("media/next.wav"), 500.0, 0.5, 48_000, 1, &[]);
    st.playlist("p", &["../media/long.flac", "../media/next.wav"]);
    let text = std::fs::read_to_string(st.config(&format!(
        "[[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"p\"\nzones = [\"arsip\"]\n",
        cron_in(2)
    )))
    .unwrap();
    // `[daemon]` is the first table that `Station::config` writes.
    let text = text.replacen("[daemon]\n", "[daemon]\nmax_item_s = 1\n", 1);
    std::fs::write(st.path("config.toml"), text).unwrap();

    let d = st.start();
    d.wait_log(
        "ended zone=arsip job=1 how=completed",
        Duration::from_secs(15),
    );
    let warnings = d.log_lines(&["WARN", "the longest an item may play"]);
    assert!(d.stop().success());
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    assert!(warnings[0].contains("long.flac"), "{warnings:?}");
    assert!(warnings[0].contains("1s"), "names the limit: {warnings:?}");

    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    // Frames of 1920 samples at 48 kHz: 25 a second.
    let track = frequency_track(&s, rate, 1920);
    let long = count_near(&track, 1000.0, 0.03) as f64 / 25.0;
    assert!(
        (long - 1.0).abs() <= 0.08,
        "the long item played {long:.2} s"
    );
    let next = count_near(&track, 500.0, 0.03) as f64 / 25.0;
    assert!(
        (next - 0.5).abs() <= 0.08,
        "the next item played {next:.2} s"
    );
}
