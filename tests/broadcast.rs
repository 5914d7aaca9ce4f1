//! End to end: the real `corong daemon` streams scheduled playlists, and
//! what arrives (in recorder zones, on UDP sockets, in ffmpeg and GStreamer)
//! is checked sample by sample and packet by packet.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::station::{cron_in, free_port_pair, wait_file, Station};
use common::{
    active_span, best_alignment, decimate, ffmpeg_tone, read_wav_mono, require_peer, rms,
    tone_frequency, StampedSocket,
};

const RATE: usize = 48_000;
/// One 20 ms packet at 48 kHz.
const PACKET: usize = 960;

fn assert_tone(samples: &[f32], rate: u32, freq: f64, what: &str) {
    let f = tone_frequency(samples, rate);
    assert!(
        (f - freq).abs() / freq < 0.005,
        "{what}: tone at {f:.1} Hz, expected {freq} Hz"
    );
}

/// Each input format plays through a recorder zone at the right pitch and
/// duration (within one packet).
#[test]
fn every_format_plays_at_the_right_pitch_and_length() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    let formats: [(&str, u32, u16, &[&str]); 5] = [
        (
            "mp3-44k-stereo.mp3",
            44_100,
            2,
            &["-c:a", "libmp3lame", "-b:a", "192k"],
        ),
        (
            "flac-24bit-96k.flac",
            96_000,
            2,
            &["-c:a", "flac", "-sample_fmt", "s32"],
        ),
        (
            "vorbis-22k-mono.ogg",
            22_050,
            1,
            &["-c:a", "libvorbis", "-q:a", "5"],
        ),
        ("wav-8bit-8k.wav", 8_000, 1, &["-c:a", "pcm_u8"]),
        ("aac.m4a", 44_100, 2, &["-c:a", "aac", "-b:a", "160k"]),
    ];
    let cron = cron_in(3);
    let mut config = String::new();
    for (i, (file, rate, ch, opts)) in formats.iter().enumerate() {
        // 440 Hz fits under 8 kHz's Nyquist with room; others take 1 kHz.
        let freq = if *rate == 8_000 { 440.0 } else { 1000.0 };
        ffmpeg_tone(
            &st.path(&format!("media/{file}")),
            freq,
            2.0,
            *rate,
            *ch,
            opts,
        );
        st.playlist(&format!("p{i}"), &[&format!("../media/{file}")]);
        config.push_str(&format!(
            "[[zones]]\nname = \"rec{i}\"\nwav = \"rec/{i}.wav\"\n\n\
             [[schedules]]\nname = \"s{i}\"\ncron = \"{cron}\"\nplaylist = \"p{i}\"\nzones = [\"rec{i}\"]\n\n"
        ));
    }
    // The level is checked against the source: no loudness normalisation.
    config.push_str("[loudness]\nnormalize = false\n");
    st.config(&config);
    let d = st.start();
    d.wait_log("schedule fired", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(3000));
    // Every item ended (each zone logs "ended").
    d.wait_log_count("how=completed", formats.len(), Duration::from_secs(5));
    assert!(d.stop().success());

    for (i, (file, rate, _, _)) in formats.iter().enumerate() {
        let (samples, wav_rate) = read_wav_mono(&st.path(&format!("rec/{i}.wav")));
        assert_eq!(wav_rate as usize, RATE);
        let (start, end) = active_span(&samples, 0.05).unwrap_or_else(|| panic!("{file}: silence"));
        let len = end - start;
        assert!(
            len.abs_diff(2 * RATE) <= PACKET,
            "{file}: played {len} frames, expected {} within {PACKET}",
            2 * RATE
        );
        let freq = if *rate == 8_000 { 440.0 } else { 1000.0 };
        let body = &samples[start + PACKET..end - PACKET];
        assert_tone(body, RATE as u32, freq, file);
        // Level: the source is a sine at 0.5 peak.
        let level = rms(body);
        let expected = 0.5 / 2f64.sqrt();
        assert!(
            (20.0 * (level / expected).log10()).abs() < 1.0,
            "{file}: level {level:.3}, expected {expected:.3}"
        );
    }
}

/// A playlist with a missing and a corrupt file plays every other item, and
/// logs each bad file once with its path.
#[test]
fn a_playlist_skips_missing_and_corrupt_files() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 1.0, 48_000, 1, &[]);
    ffmpeg_tone(&st.path("media/b.flac"), 1000.0, 1.0, 44_100, 1, &[]);
    std::fs::write(st.path("media/corrupt.mp3"), [0x5au8; 5000]).unwrap();
    st.playlist(
        "mixed",
        &[
            "../media/a.wav",
            "../media/missing.mp3",
            "../media/corrupt.mp3",
            "../media/b.flac",
        ],
    );
    st.config(&format!(
        "[[zones]]\nname = \"rec\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"mixed\"\nzones = [\"rec\"]\n",
        cron_in(3)
    ));
    let d = st.start();
    d.wait_log("how=completed", Duration::from_secs(10));
    let missing = d.log_lines(&["skipped", "missing.mp3"]);
    let corrupt = d.log_lines(&["skipped", "corrupt.mp3"]);
    assert!(d.stop().success());
    assert_eq!(missing.len(), 1, "missing file logged once: {missing:?}");
    assert_eq!(corrupt.len(), 1, "corrupt file logged once: {corrupt:?}");

    let (s, _) = read_wav_mono(&st.path("rec.wav"));
    let (start, end) = active_span(&s, 0.05).expect("something played");
    assert!(
        (end - start).abs_diff(2 * RATE) <= 2 * PACKET,
        "two one-second items back to back, got {} frames",
        end - start
    );
    assert_tone(
        &s[start + PACKET..start + RATE - PACKET],
        48_000,
        500.0,
        "first item",
    );
    assert_tone(
        &s[start + RATE + PACKET..end - PACKET],
        48_000,
        1000.0,
        "last item",
    );
}

/// Two schedules overlap on one zone: the higher priority plays, the lower
/// waits (paused) and then resumes where it was.
#[test]
fn overlapping_schedules_play_by_priority() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/low.wav"), 500.0, 3.0, 48_000, 1, &[]);
    ffmpeg_tone(&st.path("media/high.wav"), 1000.0, 1.0, 48_000, 1, &[]);
    st.playlist("low", &["../media/low.wav"]);
    st.playlist("high", &["../media/high.wav"]);
    st.config(&format!(
        "[[zones]]\nname = \"rec\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"musik\"\ncron = \"{}\"\nplaylist = \"low\"\nzones = [\"rec\"]\npriority = \"program\"\n\n\
         [[schedules]]\nname = \"berita\"\ncron = \"{}\"\nplaylist = \"high\"\nzones = [\"rec\"]\npriority = \"announcement\"\n",
        cron_in(3),
        cron_in(4)
    ));
    let d = st.start();
    d.wait_log_count("how=completed", 2, Duration::from_secs(12));
    assert!(d.stop().success());
    let (s, _) = read_wav_mono(&st.path("rec.wav"));
    let (start, end) = active_span(&s, 0.05).unwrap();
    // 3 s of low with 1 s of high inside it.
    assert!(
        (end - start).abs_diff(4 * RATE) <= 2 * PACKET,
        "4 s on air, got {} frames",
        end - start
    );
    let high_start = start + RATE; // the second schedule fired a second later
    assert_tone(
        &s[start + PACKET..high_start - PACKET],
        48_000,
        500.0,
        "low before",
    );
    assert_tone(
        &s[high_start + 2 * PACKET..high_start + RATE - 2 * PACKET],
        48_000,
        1000.0,
        "high",
    );
    assert_tone(
        &s[high_start + RATE + 2 * PACKET..end - PACKET],
        48_000,
        500.0,
        "low after",
    );
}

/// Over 10 s of streaming: sequence numbers without gaps, timestamps
/// advancing by exactly one packet's samples, arrivals within one packet time
/// of the wall clock.
#[test]
fn rtp_stream_is_continuous_and_on_time() {
    let port = free_port_pair();
    let sock = StampedSocket::bind(port);
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"l16\"\n"
    ));
    let d = st.start();
    let mut buf = [0u8; 2048];
    let mut packets = Vec::new();
    let begin = Instant::now();
    while begin.elapsed() < Duration::from_secs(10) {
        // The kernel's receive stamp: on loopback, the sender's send time.
        let (n, at) = sock.recv(&mut buf).expect("packet within 2 s");
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        packets.push((at, seq, ts, ssrc, n, buf[1] & 0x7f));
    }
    drop(d);
    // L16 mono at 20 ms is 1920 bytes: corong splits each packet time into
    // MTU-safe packets, so count audio time by RTP timestamps, not packets.
    let (t0, _, ts_first, ssrc, _, _) = packets[0];
    let (_, _, ts_last, _, _, _) = packets[packets.len() - 1];
    let covered = ts_last.wrapping_sub(ts_first) as usize;
    assert!(covered >= 9 * RATE, "only {covered} samples in 10 s");
    for (i, w) in packets.windows(2).enumerate() {
        let (_, s0, ts0, _, len0, _) = w[0];
        let (_, s1, ts1, ss, _, pt) = w[1];
        assert_eq!(s1, s0.wrapping_add(1), "sequence gap after packet {i}");
        let samples = (len0 - 12) / 2;
        assert_eq!(
            ts1.wrapping_sub(ts0) as usize,
            samples,
            "timestamp step at {i}"
        );
        assert!(
            len0 <= 1292 + 12,
            "packet {i} is {len0} bytes: over the MTU budget"
        );
        assert_eq!(ss, ssrc);
        assert_eq!(pt, 96);
    }
    // Each packet is sent within one packet time (20 ms) of the instant its
    // timestamp says. The anchor is the median offset of all packets from
    // their timestamps' times, not the first packet's alone, which may be
    // late itself (a busy machine at start).
    let mut offsets: Vec<f64> = packets
        .iter()
        .map(|(at, _, ts, ..)| {
            let media = ts.wrapping_sub(ts_first) as f64 / RATE as f64;
            at.as_secs_f64() - t0.as_secs_f64() - media
        })
        .collect();
    offsets.sort_by(f64::total_cmp);
    let median = offsets[offsets.len() / 2];
    let worst = offsets
        .iter()
        .map(|o| (o - median).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 0.020,
        "a packet was sent {:.2} ms off its slot",
        worst * 1000.0
    );
}

/// ffmpeg plays an L16 zone from the SDP that `corong zones --sdp` prints:
/// a tone arrives at its frequency and level, and a speech file correlates
/// with its source at 0.9 or better once aligned.
#[test]
fn ffmpeg_receives_an_l16_zone_through_its_sdp() {
    if !require_peer("ffmpeg") || !require_peer("espeak-ng") {
        return;
    }
    let port = free_port_pair();
    let st = Station::new();
    ffmpeg_tone(&st.path("media/tone.flac"), 1000.0, 3.0, 44_100, 2, &[]);
    common::run(
        Command::new("espeak-ng")
            .args(["-v", "id", "-w"])
            .arg(st.path("media/speech.wav"))
            .arg("Selamat siang warga Blitar. Pasar Legi ditutup pukul lima sore."),
    );
    st.playlist("program", &["../media/tone.flac", "../media/speech.wav"]);
    st.config(&format!(
        "[loudness]\nnormalize = false  # the level is checked against the source\n\n\
         [[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"program\"\nzones = [\"alun-alun\"]\n",
        cron_in(4)
    ));
    let sdp = common::station::corong()
        .args(["zones", "--sdp", "alun-alun", "--config"])
        .arg(st.path("config.toml"))
        .output()
        .unwrap();
    assert!(
        sdp.status.success(),
        "{}",
        String::from_utf8_lossy(&sdp.stderr)
    );
    std::fs::write(st.path("zone.sdp"), &sdp.stdout).unwrap();
    let out = st.path("received.wav");
    let mut ffmpeg = Command::new("ffmpeg")
        .args(["-v", "error", "-protocol_whitelist", "file,udp,rtp", "-i"])
        .arg(st.path("zone.sdp"))
        // ffmpeg counts -t from the first packet, and the zone streams
        // silence from the daemon's start: the program begins about 4 s in.
        .args(["-t", "13", "-c:a", "pcm_s16le", "-y"])
        .arg(&out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let d = st.start();
    let status = ffmpeg.wait().unwrap();
    drop(d);
    assert!(status.success());
    let (s, rate) = read_wav_mono(&out);
    assert_eq!(rate, 48_000);

    // The tone: 3 s at 1 kHz, at the source's level.
    let (start, _) = active_span(&s, 0.05).expect("the tone arrived");
    let tone_end = start + 3 * RATE;
    let body = &s[start + PACKET..tone_end - PACKET];
    assert_tone(body, rate, 1000.0, "received");
    let level = rms(body);
    let expected = 0.5 / 2f64.sqrt();
    assert!(
        (20.0 * (level / expected).log10()).abs() < 1.0,
        "level {level}"
    );

    // The speech: the source resampled to 48 kHz by ffmpeg is the reference;
    // both are compared at 8 kHz around where the speech should start.
    let reference = st.path("reference.wav");
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(st.path("media/speech.wav"))
            .args(["-ar", "48000", "-ac", "1"])
            .arg(&reference),
    );
    let (r, _) = read_wav_mono(&reference);
    let r8 = decimate(&r, 6);
    let s8 = decimate(&s, 6);
    let around = tone_end / 6;
    let (offset, corr) = best_alignment(&s8, &r8, around.saturating_sub(800), around + 800);
    eprintln!("speech correlation {corr:.4} at offset {offset} (8 kHz)");
    assert!(
        corr >= 0.9,
        "speech correlates at {corr:.3} (best offset {offset} at 8 kHz)"
    );
}

/// GStreamer receives a PCMU zone sent to a multicast group on loopback.
#[test]
fn gstreamer_receives_a_pcmu_multicast_zone() {
    if !require_peer("ffmpeg") || !require_peer("gst-launch-1.0") {
        return;
    }
    let port = free_port_pair();
    let st = Station::new();
    ffmpeg_tone(&st.path("media/tone.wav"), 1000.0, 3.0, 48_000, 1, &[]);
    st.playlist("tone", &["../media/tone.wav"]);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"239.255.42.7:{port}\"]\ncodec = \"pcmu\"\n\
         multicast_interface = \"127.0.0.1\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"tone\"\nzones = [\"pasar\"]\n",
        cron_in(3)
    ));
    let out = st.path("gst.wav");
    let mut gst = Command::new("gst-launch-1.0")
        .args(["-q", "-e", "udpsrc", "address=239.255.42.7"])
        .arg(format!("port={port}"))
        .arg("multicast-iface=lo")
        .arg("caps=application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0")
        .args([
            "!",
            "rtpjitterbuffer",
            "latency=100",
            "!",
            "rtppcmudepay",
            "!",
            "mulawdec",
        ])
        .args(["!", "audioconvert", "!", "wavenc", "!", "filesink"])
        .arg(format!("location={}", out.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let d = st.start();
    d.wait_log("how=completed", Duration::from_secs(12));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on the child we spawned.
    unsafe {
        libc::kill(gst.id() as i32, libc::SIGINT);
    }
    assert!(gst.wait().unwrap().success());
    drop(d);
    wait_file(&out, 44, Duration::from_secs(2));
    let (s, rate) = read_wav_mono(&out);
    assert_eq!(rate, 8000);
    let (start, end) = active_span(&s, 0.05).expect("the tone arrived over multicast");
    assert!(
        end - start > 2 * 8000,
        "at least 2 s arrived, got {}",
        end - start
    );
    assert_tone(&s[start + 160..end - 160], 8000, 1000.0, "multicast PCMU");
}

/// A zone whose endpoint is gone keeps its clock, and the other zone's
/// stream has no gap.
#[test]
fn a_dead_endpoint_does_not_disturb_another_zone() {
    // The listening socket takes its port from the kernel and keeps it: a
    // port found free and then bound can be taken in between (this test
    // met that once in CI).
    let sock = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let live = sock.local_addr().unwrap().port();
    let dead = free_port_pair(); // nobody listens here
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"mati\"\nrtp = [\"127.0.0.1:{dead}\"]\n\n\
         [[zones]]\nname = \"hidup\"\nrtp = [\"127.0.0.1:{live}\"]\n"
    ));
    let d = st.start();
    let mut buf = [0u8; 2048];
    let mut last: Option<u16> = None;
    let begin = Instant::now();
    let mut count = 0;
    while begin.elapsed() < Duration::from_secs(3) {
        sock.recv(&mut buf).expect("the live zone streams");
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if let Some(prev) = last {
            assert_eq!(seq, prev.wrapping_add(1), "gap on the live zone");
        }
        last = Some(seq);
        count += 1;
    }
    assert!(count >= 140, "{count} packets in 3 s");
    let log = d.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(d.stop().success());
}

/// A config with an error: the daemon refuses to start and says where.
#[test]
fn the_daemon_refuses_a_bad_config_with_file_line_col() {
    let zone = "[[zones]]\nname = \"a\"\nrtp = [\"127.0.0.1:5004\"]\n";
    let schedule = |zones: &str, cron: &str, playlist: &str| {
        format!(
            "[[schedules]]\nname = \"s\"\ncron = \"{cron}\"\nplaylist = \"{playlist}\"\nzones = [\"{zones}\"]\n"
        )
    };
    // (config after [daemon], line:col of the error, a word it must name)
    let cases = [
        (format!("{zone}codex = \"l16\"\n"), "9:1", "codex"),
        (format!("{zone}gain_db = \"loud\"\n"), "9:11", "gain_db"),
        (
            format!("{zone}{}", schedule("pasar", "0 * * * * *", "p")),
            "13:10",
            "pasar",
        ),
        (
            format!("{zone}{}", schedule("a", "0 61 * * * *", "p")),
            "11:8",
            "cron",
        ),
        (
            format!("{zone}{}", schedule("a", "0 * * * * *", "nothing")),
            "12:12",
            "nothing",
        ),
    ];
    for (rest, at, names) in cases {
        let st = Station::new();
        st.playlist("p", &["../media/a.wav"]);
        let path = st.config(&rest);
        let out = common::station::corong()
            .arg("daemon")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rest}: {err}");
        let expected = format!("{}:{at}: error:", path.display());
        assert!(err.contains(&expected), "{rest}: want {expected} in: {err}");
        assert!(err.contains(names), "{rest}: names {names}: {err}");
        assert!(
            !st.path("run/corong.sock").exists(),
            "{rest}: the daemon must not start"
        );
    }
}

/// `loop_until`: the playlist repeats until the local end time, then stops
/// there (with a fade), mid-item if need be.
#[test]
fn a_looping_schedule_stops_at_its_end_time() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/a.wav"), 500.0, 0.7, 48_000, 1, &[]);
    st.playlist("loop", &["../media/a.wav"]);
    let until = (chrono::Utc::now() + chrono::Duration::seconds(6)).format("%H:%M:%S");
    st.config(&format!(
        "[[zones]]\nname = \"rec\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"loop\"\nzones = [\"rec\"]\nloop_until = \"{until}\"\n",
        cron_in(2)
    ));
    let d = st.start();
    d.wait_log("how=completed", Duration::from_secs(12));
    let items = d.log_lines(&["on air", "zone=rec"]).len();
    assert!(d.stop().success());
    // About 4 s of looping (from the fire at +2 s to the end at +6 s).
    let (s, _) = read_wav_mono(&st.path("rec.wav"));
    let (start, end) = active_span(&s, 0.05).unwrap();
    let secs = (end - start) as f64 / RATE as f64;
    assert!((secs - 4.0).abs() < 1.05, "looped for {secs:.2} s");
    assert!(items >= 5, "the 0.7 s item played {items} times");
}
