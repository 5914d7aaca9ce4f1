//! Click-free transitions, end to end: files that start and end at full
//! swing follow each other, and an announcement pauses and resumes the
//! programme; on the recording, no transition steps further from one sample
//! to the next than the programme itself does.

mod common;

use std::process::Command;
use std::time::Duration;

use common::station::{cron_in, Station};
use common::{read_wav_mono, require_peer};

const RATE: u32 = 48_000;

fn make(st: &Station, name: &str, expr: &str, seconds: f64) {
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("aevalsrc={expr}:s={RATE}:d={seconds}"))
            .args(["-c:a", "pcm_s16le"])
            .arg(st.path(&format!("media/{name}"))),
    );
}

/// The largest sample-to-sample step, and where.
fn largest_step(s: &[f32]) -> (f32, usize) {
    s.windows(2)
        .enumerate()
        .map(|(i, w)| ((w[1] - w[0]).abs(), i))
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a })
}

#[test]
fn item_boundaries_pauses_and_resumes_step_no_more_than_the_programme() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    // Ends at +0.5 (a whole number of cycles of a cosine)...
    make(&st, "a.wav", "0.5*cos(2*PI*200*t)", 3.0);
    // ...and the next starts at -0.5: back to back, a step of 1.0.
    make(&st, "b.wav", "-0.5*cos(2*PI*300*t)", 2.0);
    // The announcement starts and ends at +0.4.
    make(&st, "c.wav", "0.4*cos(2*PI*250*t)", 1.0);
    st.playlist("p", &["../media/a.wav", "../media/b.wav"]);
    st.config(&format!(
        "[loudness]\nnormalize = false  # compare with the sources' own steps\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"p\"\ncron = \"{}\"\nplaylist = \"p\"\nzones = [\"pasar\"]\n",
        cron_in(2)
    ));
    let d = st.start();
    d.wait_log("on air zone=pasar job=1 item=0", Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(1200));
    let (code, out, err) = st.client(&["announce", "media/c.wav", "--no-chime", "--wait"]);
    assert_eq!(code, 0, "announce: {out} {err}");
    d.wait_log(
        "ended zone=pasar job=1 how=completed",
        Duration::from_secs(15),
    );
    let log = d.log_text();
    assert!(d.stop().success());
    assert!(log.contains("paused for a higher priority"), "{log}");
    assert!(log.contains("resumed"), "{log}");

    // The programme's own largest step: that of its sources.
    let own = ["a.wav", "b.wav", "c.wav"]
        .iter()
        .map(|f| largest_step(&read_wav_mono(&st.path(&format!("media/{f}"))).0).0)
        .fold(0.0f32, f32::max);
    let (rec, _) = read_wav_mono(&st.path("rec.wav"));
    // Every source played: 200, 300 and 250 Hz are on the recording.
    let track = common::frequency_track(&rec, RATE, 1920);
    for f in [200.0, 300.0, 250.0] {
        assert!(common::count_near(&track, f, 0.04) >= 10, "{f} Hz missing");
    }
    let (step, at) = largest_step(&rec);
    // Two 16-bit steps of slack for the recorder's rounding.
    assert!(
        step <= own + 2.0 / 32768.0,
        "a step of {step:.4} at {:.3} s; the programme's own largest is {own:.4}",
        at as f64 / RATE as f64
    );
}

/// Background music ducks under an announcement and comes back up: the
/// dip and the return are ramps, so the recording never steps further than
/// the two programmes' own largest steps together (both playing at once).
#[test]
fn ducking_and_its_return_step_no_more_than_the_programme() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    make(&st, "musik.wav", "0.5*cos(2*PI*200*t)", 6.0);
    make(&st, "c.wav", "0.4*cos(2*PI*1000*t)", 1.5);
    st.playlist("p", &["../media/musik.wav"]);
    st.config(&format!(
        "[loudness]\nnormalize = false  # compare with the sources' own steps\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"p\"\ncron = \"{}\"\nplaylist = \"p\"\nzones = [\"pasar\"]\npriority = \"background\"\n",
        cron_in(2)
    ));
    let d = st.start();
    d.wait_log("on air zone=pasar job=1 item=0", Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(1500));
    let (code, out, err) = st.client(&["announce", "media/c.wav", "--no-chime", "--wait"]);
    assert_eq!(code, 0, "announce: {out} {err}");
    d.wait_log(
        "ended zone=pasar job=1 how=completed",
        Duration::from_secs(15),
    );
    assert!(d.stop().success());

    let own: f32 = ["musik.wav", "c.wav"]
        .iter()
        .map(|f| largest_step(&read_wav_mono(&st.path(&format!("media/{f}"))).0).0)
        .sum();
    let (rec, _) = read_wav_mono(&st.path("rec.wav"));
    // The music was ducked: under the announcement its level is far down.
    let track = common::frequency_track(&rec, RATE, 1920);
    assert!(
        common::count_near(&track, 1000.0, 0.05) >= 20,
        "the announcement played"
    );
    let first_ann = track
        .iter()
        .position(|f| (f - 1000.0).abs() < 50.0)
        .unwrap()
        * 1920;
    let under = &rec[first_ann + RATE as usize / 2..first_ann + RATE as usize];
    let before = &rec[first_ann - RATE as usize..first_ann - RATE as usize / 2];
    let ducked = common::tone_amplitude(under, RATE, 200.0);
    let full = common::tone_amplitude(before, RATE, 200.0);
    assert!(
        ducked < full * 0.2,
        "music at {ducked:.3} under the announcement, {full:.3} before"
    );
    let (step, at) = largest_step(&rec);
    assert!(
        step <= own + 2.0 / 32768.0,
        "a step of {step:.4} at {:.3} s; the programmes' own largest together {own:.4}",
        at as f64 / RATE as f64
    );
}
