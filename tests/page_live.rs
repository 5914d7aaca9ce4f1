//! `corong page` live, end to end: a real daemon, the real client fed on
//! its standard input at the pace of a speaker, and what the zones carried
//! (RTP packets with the kernel's receive times, or the zone's recorder).

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::station::{corong, free_port_pair, Daemon, Station};
use common::{read_wav_mono, require_peer, tone_frequency, StampedSocket};
use corong::rtp::pcmu;

/// The speaker's input: 16 kHz mono s16le.
const IN_RATE: usize = 16_000;

/// `seconds` of a 700 Hz tone as `sox` makes it (raw s16le, 16 kHz).
fn sox_tone(seconds: f32) -> Vec<u8> {
    let out = Command::new("sox")
        .args(["-n", "-t", "s16", "-r", "16000", "-c", "1", "-"])
        .args(["synth", &seconds.to_string(), "sine", "700", "vol", "0.5"])
        .output()
        .expect("run sox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), (seconds * IN_RATE as f32) as usize * 2);
    out.stdout
}

fn live(st: &Station, args: &[&str]) -> Child {
    corong()
        .arg("--socket")
        .arg(st.socket())
        .args([
            "page",
            "--from-stdin",
            "--format",
            "s16le",
            "--rate",
            "16000",
        ])
        .args(args)
        .current_dir(st.path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Write `audio` to the client at the pace a microphone gives it (20 ms
/// blocks against a monotonic deadline), from a thread; returns when the
/// first block was written (wall clock) through the join handle's value.
fn speak(
    mut stdin: std::process::ChildStdin,
    audio: Vec<u8>,
    close: bool,
) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let block = IN_RATE / 50 * 2;
        let start = Instant::now();
        let first = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        for (i, b) in audio.chunks(block).enumerate() {
            let due = start + Duration::from_millis(20 * i as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if stdin.write_all(b).is_err() {
                break;
            }
            let _ = stdin.flush();
        }
        if !close {
            std::mem::forget(stdin);
        }
        first
    })
}

/// Packets of an RTP zone: (kernel receive time, payload), until `stop`.
fn capture(
    sock: StampedSocket,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Duration, Vec<u8>)>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, at)) = sock.recv(&mut buf) {
                if n > 12 {
                    out.push((at, buf[12..n].to_vec()));
                }
            }
        }
        out
    })
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn span_seconds(s: &[f32], rate: usize) -> (usize, usize, f64) {
    let (a, b) = common::active_span(s, 0.05).expect("the page was heard");
    (a, b, (b - a) as f64 / rate as f64)
}

/// The longest stretch of audible packets in one piece.
fn longest_run(s: &[f32], packet: usize) -> &[f32] {
    let loud: Vec<bool> = s
        .chunks(packet)
        .map(|c| c.iter().any(|x| x.abs() > 0.05))
        .collect();
    let (mut best, mut from) = ((0, 0), None);
    for (i, &l) in loud.iter().chain([&false]).enumerate() {
        match (l, from) {
            (true, None) => from = Some(i),
            (false, Some(f)) => {
                if i - f > best.1 - best.0 {
                    best = (f, i);
                }
                from = None;
            }
            _ => {}
        }
    }
    &s[best.0 * packet..(best.1 * packet).min(s.len())]
}

/// Decoded samples of a zone's packets, and when the first audible one came.
fn decode(packets: &[(Duration, Vec<u8>)], l16: bool) -> (Vec<f32>, Option<Duration>) {
    let mut s = Vec::new();
    let mut first = None;
    for (at, p) in packets {
        let start = s.len();
        if l16 {
            s.extend(
                p.chunks(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0),
            );
        } else {
            s.extend(p.iter().map(|&b| pcmu::decode(b) as f32 / 32768.0));
        }
        if first.is_none() && s[start..].iter().any(|x| x.abs() > 0.05) {
            first = Some(*at);
        }
    }
    (s, first)
}

/// A 700 Hz tone spoken live reaches a PCMU zone and an L16 zone at its
/// pitch and length; its first audible packet leaves soon after the first
/// input sample was written.
#[test]
fn a_live_tone_reaches_pcmu_and_l16_zones_at_once() {
    if !require_peer("sox") {
        return;
    }
    let st = Station::new();
    let (p1, p2) = (free_port_pair(), free_port_pair());
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{p1}\"]\ncodec = \"pcmu\"\n\n\
         [[zones]]\nname = \"masjid\"\nrtp = [\"127.0.0.1:{p2}\"]\ncodec = \"l16\"\n"
    ));
    let (s1, s2) = (StampedSocket::bind(p1), StampedSocket::bind(p2));
    let d = st.start();
    let stop = Arc::new(AtomicBool::new(false));
    let (c1, c2) = (capture(s1, stop.clone()), capture(s2, stop.clone()));
    let mut child = live(&st, &["--zones", "pasar,masjid", "--no-chime"]);
    let first_in = speak(child.stdin.take().unwrap(), sox_tone(1.0), true);
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("on air in pasar,masjid"), "{stderr}");
    let id = stdout.trim().to_string();
    assert!(id.parse::<u64>().is_ok(), "{stdout}");
    d.wait_log_count("how=completed", 2, Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    let first_in = first_in.join().unwrap();
    for (packets, l16, rate) in [
        (c1.join().unwrap(), false, 8_000),
        (c2.join().unwrap(), true, 48_000),
    ] {
        let (s, first_out) = decode(&packets, l16);
        // Every word arrives: a second of audible packets (the engine may
        // conceal a late input with a packet of silence on a loaded
        // machine, which lengthens the span but loses nothing).
        let packet = rate / 50;
        let audible: Vec<f32> = s
            .chunks(packet)
            .filter(|c| c.iter().any(|x| x.abs() > 0.05))
            .flatten()
            .copied()
            .collect();
        let seconds = audible.len() as f64 / rate as f64;
        let (_, _, span) = span_seconds(&s, rate);
        assert!(
            (seconds - 1.0).abs() <= 0.045 && span < 1.2,
            "{seconds} s audible over {span} s (l16 {l16})"
        );
        let f = tone_frequency(&audible[packet..audible.len() - packet], rate as u32);
        assert!((f - 700.0).abs() < 3.0, "{f} Hz (l16 {l16})");
        let delay = first_out.expect("an audible packet") - first_in;
        assert!(
            delay < Duration::from_millis(100),
            "first audible packet {delay:?} after the first input sample (l16 {l16})"
        );
    }
    // The as-run log: the page's job, from the page origin, completed.
    let (code, log, err) = st.client(&["log", "--json"]);
    assert_eq!(code, 0, "{err}");
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let rows: Vec<&serde_json::Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["job"].as_u64() == id.parse().ok())
        .collect();
    assert_eq!(rows.len(), 2, "{log}");
    for r in rows {
        assert!(r["origin"].as_str().unwrap().starts_with("page:"), "{r}");
        assert_eq!(r["how"], "completed", "{r}");
    }
    assert!(d.stop().success());
}

fn wav_station(extra: &str) -> (Station, Daemon) {
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n[[zones]]\nname = \"masjid\"\nwav = \"masjid.wav\"\n{extra}"
    ));
    let d = st.start();
    (st, d)
}

/// With the pre-chime, the chime plays first while the speech is held
/// back; then the whole speech follows: nothing lost at the join.
#[test]
fn the_pre_chime_plays_first_and_every_word_follows() {
    if !require_peer("sox") {
        return;
    }
    let (st, d) = wav_station("");
    let mut child = live(&st, &["--zones", "pasar"]);
    speak(child.stdin.take().unwrap(), sox_tone(1.5), true);
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 0, "{stdout}{stderr}");
    d.wait_log("how=completed", Duration::from_secs(5));
    let log = d.wait_log("(live)", Duration::from_secs(1));
    assert!(log.contains("chime"), "{log}");
    assert!(d.stop().success());
    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    let rate = rate as usize;
    // 50 ms windows: 20 Hz apart, so the chime's notes (523, 659 and
    // 784 Hz) are told from the speech's 700 Hz.
    let window = rate / 20;
    let track = common::frequency_track(&s, rate as u32, window);
    let near = |f: &f64| (f - 700.0).abs() <= 25.0;
    let first_sound = common::active_span(&s, 0.02).expect("sound").0 / window;
    // The chime (2.2 s) first: no speech in its first 1.8 s.
    let chime = &track[first_sound..first_sound + 36];
    assert!(
        !chime.windows(3).any(|w| w.iter().all(near)),
        "speech during the chime: {track:?}"
    );
    // Then every word: 1.5 s of it, in one piece.
    let speech = &track[first_sound + 36..];
    let heard = speech.iter().filter(|f| near(f)).count();
    let from = speech.iter().position(near).expect("the speech");
    let to = speech.iter().rposition(near).unwrap();
    assert!(
        (29..=31).contains(&heard) && to + 1 - from <= 31,
        "{heard} windows of 50 ms of speech heard of 30: {track:?}"
    );
}

/// `--max-s` ends an input that never ends, fading out.
#[test]
fn max_s_ends_an_endless_live_input() {
    if !require_peer("ffmpeg") {
        return;
    }
    let (st, d) = wav_station("");
    let mut source = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=f=700:r=16000",
        ])
        .args(["-f", "s16le", "-ac", "1", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let out = corong()
        .arg("--socket")
        .arg(st.socket())
        .args([
            "page",
            "--from-stdin",
            "--format",
            "s16le",
            "--rate",
            "16000",
        ])
        .args(["--zones", "pasar", "--no-chime", "--max-s", "2"])
        .stdin(source.stdout.take().unwrap())
        .output()
        .unwrap();
    let _ = source.kill();
    let _ = source.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("--max-s 2 reached"), "{stderr}");
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    d.wait_log("how=completed", Duration::from_secs(5));
    assert!(d.stop().success());
    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    let (_, _, seconds) = span_seconds(&s, rate as usize);
    assert!((seconds - 2.0).abs() < 0.1, "{seconds} s of page");
}

/// A client killed mid-page (SIGKILL) releases its zone within a second;
/// the zone takes the next page.
#[test]
fn a_killed_client_releases_the_zone_within_a_second() {
    if !require_peer("sox") {
        return;
    }
    let (st, d) = wav_station("");
    let mut child = live(&st, &["--zones", "pasar", "--no-chime"]);
    let _speaker = speak(child.stdin.take().unwrap(), sox_tone(10.0), false);
    d.wait_log("on air zone=pasar", Duration::from_secs(5));
    child.kill().unwrap();
    let killed = Instant::now();
    let _ = child.wait();
    d.wait_log("how=completed", Duration::from_secs(2));
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "released after {:?}",
        killed.elapsed()
    );
    assert!(d
        .log_text()
        .contains("live page ends: the client went away"));
    // The zone is free for the next speaker.
    let mut next = live(&st, &["--zones", "pasar", "--no-chime"]);
    speak(next.stdin.take().unwrap(), sox_tone(0.2), true);
    let (code, out, err) = finish(next);
    assert_eq!(code, 0, "{out}{err}");
    assert!(d.stop().success());
}

/// One live page per zone: a second one on an overlapping zone is
/// refused, naming who holds it; the first goes on.
#[test]
fn a_second_live_page_on_a_held_zone_is_refused_by_name() {
    if !require_peer("sox") {
        return;
    }
    let (st, d) = wav_station("");
    let mut first = live(&st, &["--zones", "pasar", "--no-chime"]);
    let speaker = speak(first.stdin.take().unwrap(), sox_tone(1.0), true);
    d.wait_log("on air zone=pasar", Duration::from_secs(5));
    let second = live(&st, &["--zones", "pasar,masjid", "--no-chime"]);
    let (code, _, err) = finish(second);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("zone pasar is held by a live page of") && err.lines().count() == 1,
        "{err}"
    );
    speaker.join().unwrap();
    let (code, out, err) = finish(first);
    assert_eq!(code, 0, "{out}{err}");
    assert!(d.stop().success());
}

/// An emergency takes the zone from a live page: the page ends as
/// preempted and its speaker is told.
#[test]
fn an_emergency_preempts_a_live_page() {
    if !require_peer("sox") {
        return;
    }
    let (st, d) = wav_station("");
    common::tone_wav(&st.path("media/evac.wav"), 440.0, 0.5);
    let mut child = live(&st, &["--zones", "pasar", "--no-chime"]);
    let _speaker = speak(child.stdin.take().unwrap(), sox_tone(10.0), false);
    d.wait_log("on air zone=pasar", Duration::from_secs(5));
    let (code, _, err) = st.client(&["emergency", "--zones", "pasar", "media/evac.wav"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = finish(child);
    assert_ne!(code, 0, "{out}{err}\n{}", d.log_text());
    assert!(err.contains("(preempted)"), "{err}");
    d.wait_log("how=preempted", Duration::from_secs(2));
    let (code, _, err) = st.client(&["emergency", "--stop", "--zones", "pasar"]);
    assert_eq!(code, 0, "{err}");
    assert!(d.stop().success());
}

/// Garbage where a WAV stream should be: one clear line, nothing reaches
/// the daemon, which goes on.
#[test]
fn garbage_on_a_live_page_is_refused_in_one_line() {
    let (st, d) = wav_station("");
    let mut child = corong()
        .arg("--socket")
        .arg(st.socket())
        .args([
            "page",
            "--from-stdin",
            "--format",
            "wav",
            "--zones",
            "pasar",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&b"<html>not audio</html>".repeat(100))
        .unwrap();
    drop(stdin);
    let (code, _, err) = finish(child);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        "corong: standard input is not a WAV stream: no RIFF WAVE header"
    );
    let (code, _, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(!d.log_text().contains("live page accepted"));
    assert!(d.stop().success());
}

/// The daemon reads the audio from its own thread: a broken frame ends
/// that page only, and another client is served meanwhile.
#[test]
fn a_broken_frame_ends_only_that_page() {
    let (st, d) = wav_station("");
    let sock = std::os::unix::net::UnixStream::connect(st.socket()).unwrap();
    let mut w = sock.try_clone().unwrap();
    w.write_all(b"{\"v\":1,\"cmd\":\"page_live\",\"rate\":16000,\"max_s\":10,\"gap_ms\":5000,\"zones\":[\"pasar\"],\"chime\":false,\"wait\":true}\n")
        .unwrap();
    let mut r = std::io::BufReader::new(sock);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert!(line.contains("\"queued\""), "{line}");
    // 65535 samples in one frame: more than a frame may hold.
    w.write_all(&[0xff, 0xff, 1, 2, 3]).unwrap();
    d.wait_log(
        "bad input: a live page frame of 65535 samples",
        Duration::from_secs(2),
    );
    let (code, _, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{err}");
    let _ = UdpSocket::bind("127.0.0.1:0");
    assert!(d.stop().success());
}

/// `corong page --from-rtp` with an RTP stream ffmpeg sends.
fn rtp_page(st: &Station, port: u16, args: &[&str]) -> Child {
    corong()
        .arg("--socket")
        .arg(st.socket())
        .args(["page", "--from-rtp", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn ffmpeg_pcmu(port: u16, seconds: f32) -> Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-f", "lavfi"])
        .args(["-i", &format!("sine=f=700:r=8000:d={seconds}")])
        .args(["-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1", "-f", "rtp"])
        .arg(format!("rtp://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// ffmpeg sends PCMU to `--from-rtp`: the zone carries it; the page ends
/// when the stream stops (`--silence-s`).
#[test]
fn an_rtp_stream_is_paged_live() {
    if !require_peer("ffmpeg") {
        return;
    }
    let (st, d) = wav_station("");
    let port = free_port_pair();
    let child = rtp_page(
        &st,
        port,
        &[
            "--codec",
            "pcmu",
            "--zones",
            "pasar",
            "--no-chime",
            "--silence-s",
            "0.5",
        ],
    );
    d.wait_log("live page accepted", Duration::from_secs(5));
    let mut ff = ffmpeg_pcmu(port, 1.5);
    let (code, out, err) = finish(child);
    let _ = ff.wait();
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("no input for 0.5 s"), "{err}");
    d.wait_log("how=completed", Duration::from_secs(5));
    assert!(d.stop().success());
    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    // ffmpeg's sine is at 1/8 (-18 dBFS): above the threshold. Packets
    // that came late are concealed with silence: all the audio is there.
    let packet = rate as usize / 50;
    let audible: Vec<f32> = s
        .chunks(packet)
        .filter(|c| c.iter().any(|x| x.abs() > 0.05))
        .flatten()
        .copied()
        .collect();
    let seconds = audible.len() as f64 / rate as f64;
    let (_, _, span) = span_seconds(&s, rate as usize);
    assert!(
        (seconds - 1.5).abs() <= 0.065 && span < 1.8,
        "{seconds} s of the stream over {span} s"
    );
    let run = longest_run(&s, packet);
    assert!(
        run.len() > rate as usize / 4,
        "no stretch of 250 ms in one piece"
    );
    // Within 2.5 %: ffmpeg sends in bursts, and a stretch may hold packets
    // faded for a late one (fewer zero crossings); a wrong rate (8 kHz read
    // as 16 kHz or 48 kHz) would be off by a factor.
    let f = tone_frequency(&run[packet..run.len() - packet], rate);
    assert!((f - 700.0).abs() < 17.5, "{f} Hz");
}

/// A stream of another payload type than `--codec` says: one clear line;
/// the daemon and the other zones go on.
#[test]
fn an_rtp_stream_of_the_wrong_payload_type_is_refused_clearly() {
    if !require_peer("ffmpeg") {
        return;
    }
    let (st, d) = wav_station("");
    let port = free_port_pair();
    let child = rtp_page(
        &st,
        port,
        &[
            "--codec",
            "l16",
            "--rate",
            "8000",
            "--zones",
            "pasar",
            "--no-chime",
        ],
    );
    d.wait_log("live page accepted", Duration::from_secs(5));
    let mut ff = ffmpeg_pcmu(port, 0.5);
    let (code, out, err) = finish(child);
    let _ = ff.wait();
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "corong: reading the RTP stream: an RTP packet of payload type 0 came to 127.0.0.1:{port}: --codec l16 is payload type 96; the page ended"
        )),
        "{err}"
    );
    let (code, _, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(d.stop().success());
}

/// A live page during a scheduled programme pauses it; the programme
/// resumes where it was when the page ends: nothing of it lost.
#[test]
fn a_live_page_pauses_the_schedule_which_resumes_where_it_was() {
    if !require_peer("sox") || !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    // 3 s at 200 Hz then 3 s at 400 Hz: where it stands can be read.
    let expr = r"0.4*sin(2*PI*if(lt(t\,3)\,200\,400)*t)";
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("aevalsrc={expr}:s=48000:d=6"))
            .arg(st.path("media/music.wav")),
    );
    st.playlist("musik", &["../media/music.wav"]);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"musik\"\ncron = \"{}\"\nplaylist = \"musik\"\nzones = [\"pasar\"]\n",
        common::station::cron_in(2)
    ));
    let d = st.start();
    d.wait_log("on air zone=pasar job=1", Duration::from_secs(6));
    // A stretch of the first part on air before the page: what the
    // recording's timeline is read against, not a wait for a condition.
    std::thread::sleep(Duration::from_millis(1000));
    let mut child = live(&st, &["--zones", "pasar", "--no-chime"]);
    speak(child.stdin.take().unwrap(), sox_tone(1.0), true);
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "{out}{err}");
    d.wait_log(
        "ended zone=pasar job=1 how=completed",
        Duration::from_secs(10),
    );
    assert!(d
        .log_text()
        .contains("paused for a higher priority zone=pasar job=1"));
    assert!(d.stop().success());
    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    let track = common::frequency_track(&s, rate, rate as usize / 20);
    let secs = |t: &[f64], f: f64| common::count_near(t, f, 0.03) as f64 / 20.0;
    assert!((secs(&track, 200.0) - 3.0).abs() < 0.2, "{track:?}");
    assert!((secs(&track, 400.0) - 3.0).abs() < 0.2, "{track:?}");
    assert!((secs(&track, 700.0) - 1.0).abs() < 0.15, "{track:?}");
    let near = |f: f64| move |x: &f64| (x - f).abs() < f * 0.03;
    let first = track.iter().position(near(700.0)).unwrap();
    let last = track.iter().rposition(near(700.0)).unwrap();
    // Music before and after the page, none under it.
    assert!(track[..first].iter().any(near(200.0)), "{track:?}");
    assert!(track[last + 1..].iter().any(near(200.0)), "{track:?}");
    assert!(
        !track[first..=last]
            .iter()
            .any(|f| near(200.0)(f) || near(400.0)(f)),
        "music under the page: {track:?}"
    );
}
