//! G.722 and Opus zones end to end: the real daemon sends, and real
//! receivers play what it sends: ffmpeg through corong's SDP, GStreamer
//! from a multicast group on loopback, and `corong receive`. The tone they
//! hear is checked against the same tone on an L16 zone (or the source).
//! Everything goes to 127.0.0.1 or a 239.255.x.x group joined on loopback.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::station::{corong, cron_in, free_port_pair, Station};
use common::{
    active_span, ffmpeg_tone, read_wav_mono, require_peer, rms, tone_frequency, wait_success,
};

/// Each test runs a daemon and several receivers: one at a time, so that
/// they do not starve each other on a small CI machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A station whose schedule plays a 1 kHz tone (amplitude 0.5, `seconds`
/// long) on every zone in `zones` (TOML of `[[zones]]` tables named in
/// `names`) in `delay` seconds, at the level it was made at.
fn tone_station(zones: &str, names: &[&str], seconds: f64, delay: i64) -> Station {
    let st = Station::new();
    ffmpeg_tone(&st.path("media/tone.wav"), 1000.0, seconds, 48_000, 1, &[]);
    st.playlist("tone", &["../media/tone.wav"]);
    let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    st.config(&format!(
        "[loudness]\nnormalize = false\n\n{zones}\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"tone\"\nzones = [{}]\n",
        cron_in(delay),
        list.join(", ")
    ));
    st
}

fn zone(name: &str, dest: &str, codec: &str) -> String {
    format!(
        "[[zones]]\nname = \"{name}\"\nrtp = [\"{dest}\"]\ncodec = \"{codec}\"\nmulticast_interface = \"127.0.0.1\"\n\n"
    )
}

/// `corong zones --sdp NAME`, written to `NAME.sdp`.
fn sdp(st: &Station, name: &str) -> PathBuf {
    let (code, out, err) = st.client(&["--config", "config.toml", "zones", "--sdp", name]);
    assert_eq!(code, 0, "zones --sdp {name}: {err}");
    let path = st.path(&format!("{name}.sdp"));
    std::fs::write(&path, out).unwrap();
    path
}

/// The tone in a recording: (frequency, rms level, seconds, rate), from
/// its loud stretch less 50 ms at each end (the start and end of the item,
/// the codecs' ramps).
fn tone_in(wav: &Path) -> (f64, f64, f64, u32) {
    let (s, rate) = read_wav_mono(wav);
    let (a, b) = active_span(&s, 0.1).unwrap_or_else(|| panic!("no tone in {}", wav.display()));
    let edge = rate as usize / 20;
    assert!(
        b - a > 4 * edge,
        "{}: only {} samples",
        wav.display(),
        b - a
    );
    let tone = &s[a + edge..b - edge];
    let seconds = (b - a) as f64 / rate as f64;
    let (f, level) = (tone_frequency(tone, rate), rms(tone));
    eprintln!(
        "{}: {seconds:.2} s at {rate} Hz: {f:.2} Hz, rms {level:.4}",
        wav.display()
    );
    (f, level, seconds, rate)
}

fn db(a: f64, b: f64) -> f64 {
    20.0 * (a / b).log10()
}

/// ffmpeg, given corong's SDP for an L16, a G.722 and an Opus zone, hears
/// the same tone on each: the G.722 and Opus ones within 1% of the L16
/// one's frequency and 3 dB of its level.
#[test]
fn ffmpeg_hears_g722_and_opus_zones_as_it_hears_l16() {
    if !require_peer("ffmpeg") {
        return;
    }
    let _serial = one_at_a_time();
    let codecs = ["l16", "g722", "opus"];
    let mut zones = String::new();
    for c in codecs {
        zones += &zone(c, &format!("127.0.0.1:{}", free_port_pair()), c);
    }
    let st = tone_station(&zones, &codecs, 4.0, 5);
    let mut ffmpegs = Vec::new();
    for c in codecs {
        let sdp = sdp(&st, c);
        let text = std::fs::read_to_string(&sdp).unwrap();
        let rtpmap = match c {
            "l16" => "a=rtpmap:96 L16/48000/1",
            "g722" => "a=rtpmap:9 G722/8000",
            _ => "a=rtpmap:111 opus/48000/2",
        };
        assert!(text.contains(rtpmap), "{text}");
        let log = st.path(&format!("{c}.log"));
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-protocol_whitelist", "file,udp,rtp", "-i"])
            .arg(&sdp)
            .args(["-t", "11", "-c:a", "pcm_s16le", "-y"])
            .arg(st.path(&format!("{c}.wav")))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        ffmpegs.push((child, log));
    }
    // ffmpeg opens its sockets before the stream starts.
    std::thread::sleep(Duration::from_secs(1));
    let d = st.start();
    for (child, log) in &mut ffmpegs {
        wait_success(child, Duration::from_secs(30), log);
    }
    drop(d);
    let (f0, l0, s0, r0) = tone_in(&st.path("l16.wav"));
    assert_eq!(r0, 48_000);
    assert!(s0 > 3.5, "L16: {s0:.2} s of tone");
    assert!((f0 - 1000.0).abs() < 5.0, "L16 at {f0} Hz");
    for c in ["g722", "opus"] {
        let (f, l, s, _) = tone_in(&st.path(&format!("{c}.wav")));
        assert!(s > 3.5, "{c}: only {s:.2} s of tone");
        assert!(
            (f - f0).abs() < f0 * 0.01,
            "{c}: {f:.2} Hz against L16's {f0:.2}"
        );
        assert!(
            db(l, l0).abs() < 3.0,
            "{c}: level {:+.2} dB from L16's",
            db(l, l0)
        );
    }
}

/// GStreamer (`rtpopusdepay ! opusdec`) plays an Opus zone it joins as a
/// multicast group on the loopback interface.
#[test]
fn gstreamer_plays_an_opus_zone_from_multicast_on_loopback() {
    if !require_peer("ffmpeg") || !require_peer("gst-launch-1.0") {
        return;
    }
    let _serial = one_at_a_time();
    let port = free_port_pair();
    let group = format!("239.255.62.{}", 1 + port % 250);
    let st = tone_station(
        &zone("pasar", &format!("{group}:{port}"), "opus"),
        &["pasar"],
        4.0,
        4,
    );
    let wav = st.path("gst.wav");
    let log = st.path("gst.log");
    let mut gst = Command::new("gst-launch-1.0")
        .args(["-q", "-e", "udpsrc"])
        .arg(format!("address={group}"))
        .arg(format!("port={port}"))
        .args([
            "multicast-iface=lo",
            "caps=application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111",
            "!",
            "rtpjitterbuffer",
            "latency=100",
            "!",
            "rtpopusdepay",
            "!",
            "opusdec",
            "!",
            "audioconvert",
            "!",
            "audio/x-raw,format=S16LE",
            "!",
            "wavenc",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", wav.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = st.start();
    d.wait_log("how=completed", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    drop(d);
    // SAFETY: kill(2) on the child we spawned; SIGINT makes `-e` finish
    // the WAV's header.
    unsafe { libc::kill(gst.id() as i32, libc::SIGINT) };
    wait_success(&mut gst, Duration::from_secs(10), &log);
    let (f, level, seconds, rate) = tone_in(&wav);
    assert_eq!(rate, 48_000);
    assert!(seconds > 3.5, "only {seconds:.2} s of tone");
    assert!((f - 1000.0).abs() < 10.0, "{f:.2} Hz");
    let source = 0.5 / 2f64.sqrt();
    assert!(
        db(level, source).abs() < 3.0,
        "{:+.2} dB",
        db(level, source)
    );
}

/// Start `corong receive` on `listen` into `wav` for `seconds`.
fn receiver(listen: &str, wav: &Path, seconds: u32, extra: &[&str]) -> Child {
    corong()
        .args(["receive", "--listen", listen, "--duration"])
        .arg(seconds.to_string())
        .arg("--wav")
        .arg(wav)
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(wav.with_extension("log")).unwrap())
        .spawn()
        .expect("start corong receive")
}

/// `corong receive` plays a G.722 zone (at 16 kHz) and an Opus zone (at
/// 48 kHz), each found by its payload type: the source's tone, at its
/// frequency within 1% and its level within 3 dB.
#[test]
fn corong_receive_plays_g722_and_opus_zones() {
    if !require_peer("ffmpeg") {
        return;
    }
    let _serial = one_at_a_time();
    let (pg, po) = (free_port_pair(), free_port_pair());
    let zones = zone("g722", &format!("127.0.0.1:{pg}"), "g722")
        + &zone("opus", &format!("127.0.0.1:{po}"), "opus");
    let st = tone_station(&zones, &["g722", "opus"], 4.0, 4);
    let (wg, wo) = (st.path("g722.wav"), st.path("opus.wav"));
    let mut rg = receiver(&format!("127.0.0.1:{pg}"), &wg, 12, &[]);
    let mut ro = receiver(&format!("127.0.0.1:{po}"), &wo, 12, &[]);
    let d = st.start();
    wait_success(&mut rg, Duration::from_secs(30), &wg.with_extension("log"));
    wait_success(&mut ro, Duration::from_secs(30), &wo.with_extension("log"));
    drop(d);
    let source = 0.5 / 2f64.sqrt();
    for (wav, codec, expected_rate) in [(&wg, "g722", 16_000), (&wo, "opus", 48_000)] {
        let (f, level, seconds, rate) = tone_in(wav);
        assert_eq!(rate, expected_rate, "{codec}");
        assert!(seconds > 3.5, "{codec}: only {seconds:.2} s of tone");
        assert!((f - 1000.0).abs() < 10.0, "{codec}: {f:.2} Hz");
        assert!(
            db(level, source).abs() < 3.0,
            "{codec}: {:+.2} dB",
            db(level, source)
        );
        let mut side = wav.as_os_str().to_owned();
        side.push(".json");
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(PathBuf::from(side)).unwrap()).unwrap();
        assert_eq!(meta["codec"], codec, "{meta}");
        // On loopback nothing is lost, refused or out of order.
        let buffer = &meta["summary"]["buffer"];
        for counter in ["late", "corrupt", "strays", "duplicates"] {
            assert_eq!(buffer[counter], 0, "{codec}: {meta}");
        }
        assert_eq!(meta["summary"]["lost"], 0, "{codec}: {meta}");
    }
}

/// Speech (espeak-ng's Indonesian) through a G.722 and an Opus zone at
/// 32 kbit/s, as ffmpeg hears them through corong's SDP: after aligning
/// each with the source (both at 16 kHz), they correlate at 0.9 or better.
#[test]
fn speech_through_g722_and_opus_correlates_with_the_source() {
    if !require_peer("ffmpeg") || !require_peer("espeak-ng") {
        return;
    }
    let _serial = one_at_a_time();
    let st = Station::new();
    common::run(
        Command::new("espeak-ng")
            .args(["-v", "id", "-w"])
            .arg(st.path("media/speech.wav"))
            .arg("Perhatian, perhatian. Gunung Kelud meningkat statusnya. Warga diminta tenang dan menjauh dari sungai."),
    );
    // The source as ffmpeg resamples it to 16 kHz, to compare against.
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(st.path("media/speech.wav"))
            .args(["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"])
            .arg(st.path("source16k.wav")),
    );
    st.playlist("speech", &["../media/speech.wav"]);
    let codecs = ["g722", "opus"];
    let mut zones = String::new();
    for c in codecs {
        zones += &zone(c, &format!("127.0.0.1:{}", free_port_pair()), c);
    }
    st.config(&format!(
        "[loudness]\nnormalize = false\n\n{zones}\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"speech\"\nzones = [\"g722\", \"opus\"]\n",
        cron_in(4)
    ));
    let mut ffmpegs = Vec::new();
    for c in codecs {
        let sdp = sdp(&st, c);
        let log = st.path(&format!("{c}.log"));
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-protocol_whitelist", "file,udp,rtp", "-i"])
            .arg(&sdp)
            .args([
                "-t",
                "14",
                "-ar",
                "16000",
                "-ac",
                "1",
                "-c:a",
                "pcm_s16le",
                "-y",
            ])
            .arg(st.path(&format!("{c}.wav")))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        ffmpegs.push((child, log));
    }
    std::thread::sleep(Duration::from_secs(1));
    let d = st.start();
    for (child, log) in &mut ffmpegs {
        wait_success(child, Duration::from_secs(40), log);
    }
    drop(d);
    let (source, rate) = read_wav_mono(&st.path("source16k.wav"));
    assert_eq!(rate, 16_000);
    let (a, b) = active_span(&source, 0.02).expect("espeak-ng spoke");
    let reference = &source[a..b];
    assert!(
        reference.len() > 3 * 16_000,
        "{} samples of speech",
        reference.len()
    );
    for c in codecs {
        let (heard, rate) = read_wav_mono(&st.path(&format!("{c}.wav")));
        assert_eq!(rate, 16_000);
        let (start, _) = active_span(&heard, 0.02).unwrap_or_else(|| panic!("{c}: silence"));
        // The speech begins within 50 ms of where it is first loud.
        let from = start.saturating_sub(800);
        let (offset, corr) = common::best_alignment(&heard, reference, from, start + 800);
        eprintln!("{c}: speech correlates at {corr:.4} (offset {offset})");
        assert!(corr >= 0.9, "{c}: speech correlates at only {corr:.3}");
    }
}

/// A hostile sender: `corong receive` of Opus and of G.722 is fed a
/// stream in which every third payload is garbage (random bytes, empty,
/// one byte, tables of contents claiming 120 ms or no frames). It plays
/// on, exits 0 at its duration, and counts what did not decode.
#[test]
fn corong_receive_survives_malformed_g722_and_opus_payloads() {
    use corong::rtp::header::{Header, HEADER_LEN};
    use corong::rtp::opus::OpusEncoder;
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    for (codec, pt) in [("opus", 111u8), ("g722", 9)] {
        let port = free_port_pair();
        let wav = dir.path().join(format!("{codec}.wav"));
        let mut rx = receiver(&format!("127.0.0.1:{port}"), &wav, 3, &["--codec", codec]);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut enc = OpusEncoder::new(48000, 1, 32).unwrap();
        let mut g722 = corong::rtp::g722::Encoder::new();
        let hostile: [&[u8]; 6] = [
            &[],
            &[0xff],
            &[(3 << 3) | 3, 0x02, 0xff, 0xff],
            &[3, 0],
            &[0xfc; 1200],
            &[0x7b, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
        ];
        let start = Instant::now();
        let mut packet = [0u8; 1500];
        let mut rng = 0x2545_f491u32;
        for k in 0..120u32 {
            let due = start + Duration::from_millis(20 * k as u64);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            let (ticks, samples) = if codec == "opus" {
                (960, 960)
            } else {
                (160, 320)
            };
            let pcm: Vec<f32> = (0..samples)
                .map(|i| {
                    let t = (k as usize * samples + i) as f32 / (samples as f32 * 50.0);
                    0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                })
                .collect();
            let body = &mut packet[HEADER_LEN..];
            let len = if k % 3 == 2 {
                let h = hostile[(k / 3) as usize % hostile.len()];
                if k % 9 == 8 {
                    // Random bytes of a random length.
                    let n = (rng % 1200) as usize;
                    for b in &mut body[..n] {
                        rng ^= rng << 13;
                        rng ^= rng >> 17;
                        rng ^= rng << 5;
                        *b = rng as u8;
                    }
                    n
                } else {
                    body[..h.len()].copy_from_slice(h);
                    h.len()
                }
            } else if codec == "opus" {
                enc.encode(&pcm, body)
            } else {
                g722.encode(&pcm, body)
            };
            Header {
                marker: k == 0,
                payload_type: pt,
                seq: k as u16,
                timestamp: k * ticks,
                ssrc: 0x1234_5678,
            }
            .write(&mut packet);
            sock.send_to(&packet[..HEADER_LEN + len], ("127.0.0.1", port))
                .unwrap();
        }
        wait_success(&mut rx, Duration::from_secs(20), &wav.with_extension("log"));
        let mut side = wav.as_os_str().to_owned();
        side.push(".json");
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(PathBuf::from(side)).unwrap()).unwrap();
        let summary = &meta["summary"];
        eprintln!("{codec}: {summary}");
        let buffer = &summary["buffer"];
        let played = buffer["packets"].as_u64().unwrap();
        assert!(played >= 60, "{codec}: {summary}");
        let refused = buffer["strays"].as_u64().unwrap() + buffer["corrupt"].as_u64().unwrap();
        // The empty payloads at least were refused.
        assert!(refused >= 5, "{codec}: {summary}");
        let (s, _) = read_wav_mono(&wav);
        assert!(s.iter().all(|v| v.is_finite()));
        assert!(rms(&s) > 0.05, "{codec}: the good packets played");
    }
}

/// Read a 16-bit WAV's samples as they are.
fn read_i16(path: &Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect()
}

/// corong's G.722 against ffmpeg's: from the same 16 kHz samples (a tone
/// in each sub-band) both encoders write the same bytes, ffmpeg's decoder
/// plays corong's stream, and corong's decoder gives back exactly what
/// ffmpeg's gives from ffmpeg's stream.
#[test]
fn g722_matches_ffmpegs_codec() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    common::run(
        Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "aevalsrc=0.5*sin(2*PI*1000*t)+0.2*sin(2*PI*5300*t):s=16000:d=2",
                "-c:a",
                "pcm_s16le",
            ])
            .arg(p("in.wav")),
    );
    let input = read_i16(&p("in.wav"));
    assert_eq!(input.len(), 32_000);

    let mut enc = corong::rtp::g722::Encoder::new();
    let ours: Vec<u8> = input
        .chunks_exact(2)
        .map(|pair| enc.encode_pair(pair[0], pair[1]))
        .collect();
    std::fs::write(p("ours.g722"), &ours).unwrap();
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(p("in.wav"))
            .args(["-c:a", "g722", "-f", "g722"])
            .arg(p("ffmpeg.g722")),
    );
    let theirs = std::fs::read(p("ffmpeg.g722")).unwrap();
    assert_eq!(theirs.len(), ours.len());
    let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    assert_eq!(same, ours.len(), "{same} of {} bytes agree", ours.len());

    // ffmpeg decodes our stream to the tone.
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "g722", "-i"])
            .arg(p("ours.g722"))
            .args(["-c:a", "pcm_s16le"])
            .arg(p("ours.wav")),
    );
    let (heard, rate) = read_wav_mono(&p("ours.wav"));
    assert_eq!(rate, 16_000);
    let a = common::tone_amplitude(&heard[8000..], rate, 1000.0);
    let b = common::tone_amplitude(&heard[8000..], rate, 5300.0);
    assert!(db(a, 0.5).abs() < 0.5, "1 kHz at {:+.2} dB", db(a, 0.5));
    assert!(db(b, 0.2).abs() < 1.0, "5.3 kHz at {:+.2} dB", db(b, 0.2));

    // Our decoder gives what ffmpeg's gives, sample for sample.
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "g722", "-i"])
            .arg(p("ffmpeg.g722"))
            .args(["-c:a", "pcm_s16le"])
            .arg(p("theirs.wav")),
    );
    let reference = read_i16(&p("theirs.wav"));
    let mut dec = corong::rtp::g722::Decoder::new();
    let decoded: Vec<i16> = theirs.iter().flat_map(|&b| dec.decode_byte(b)).collect();
    assert_eq!(decoded.len(), reference.len());
    let worst = decoded
        .iter()
        .zip(&reference)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert_eq!(worst, 0, "decoders differ by up to {worst}");
}
