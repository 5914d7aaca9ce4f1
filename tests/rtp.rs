//! RTP output on the wire: packet format read back by a plain socket, RTCP
//! sender reports, and real receivers (ffmpeg, GStreamer) playing what we
//! send. Everything goes to 127.0.0.1 or a 239.255.x.x group on loopback.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use corong::config::{Codec, Daemon, RtpOutput as RtpConfig, Zone, ZoneOutput};
use corong::output::rtp::RtpOutput;
use corong::output::sdp::zone_sdp;
use corong::output::{Output, Tick};
use corong::rtp::pcmu;
use corong::rtp::rtcp::ntp_timestamp;

/// Counts allocations made by the current thread, to check that `write`
/// never allocates (the engine thread's contract).
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: defers every operation to the system allocator unchanged; the
// counter is a const-initialized thread-local Cell, which does not allocate.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}

const RATE: u32 = 48000;
const FRAMES: usize = 960; // 20 ms
const AMPLITUDE: f64 = 0.5;

fn rtp_config(destinations: &[SocketAddr], codec: Codec) -> RtpConfig {
    RtpConfig {
        destinations: destinations.to_vec(),
        codec,
        multicast_interface: Ipv4Addr::LOCALHOST,
        multicast_ttl: 1,
        dscp: 46,
        opus_kbps: 32,
    }
}

fn daemon() -> Daemon {
    Daemon {
        timezone: chrono_tz::Asia::Jakarta,
        control_socket: "run/corong.sock".into(),
        state_dir: "state".into(),
        sample_rate: RATE,
        packet_ms: 20,
        max_item: std::time::Duration::from_secs(6 * 3600),
        control_group: None,
        receiver_timeout: None,
        wait_for_clock_sync: false,
        asrun_keep_days: None,
        uploads_keep_days: 30,
    }
}

/// A receiving socket on 127.0.0.1:p and one on p + 1 (for RTCP).
fn socket_pair() -> (UdpSocket, UdpSocket, u16) {
    for _ in 0..100 {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            for s in [&rtp, &rtcp] {
                s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            }
            return (rtp, rtcp, port);
        }
    }
    panic!("no free port pair");
}

/// A port (and port + 1) that nothing listens on right now.
fn free_port_pair() -> u16 {
    let (_, _, port) = socket_pair();
    port
}

/// `AMPLITUDE * sin(2 pi freq n / RATE)` for frames `start..start + FRAMES`,
/// each sample repeated `channels` times (channel c gets `freq * (c + 1)`).
fn fill_sine(buf: &mut [f32], freq: f64, start: usize, channels: usize) {
    for (i, frame) in buf.chunks_exact_mut(channels).enumerate() {
        for (c, s) in frame.iter_mut().enumerate() {
            let f = freq * (c + 1) as f64;
            let phase = 2.0 * std::f64::consts::PI * f * (start + i) as f64 / RATE as f64;
            *s = (AMPLITUDE * phase.sin()) as f32;
        }
    }
}

/// Feed `outputs` `packets` packet times of sine, paced in real time
/// against absolute deadlines, as the engine does.
fn play(outputs: &mut [&mut dyn Output], channels: usize, freq: f64, packets: usize) {
    let mut buf = vec![0.0f32; FRAMES * channels];
    let start = Instant::now();
    let wall = SystemTime::now();
    for k in 0..packets {
        let offset = Duration::from_millis(20 * k as u64);
        let deadline = start + offset;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        fill_sine(&mut buf, freq, k * FRAMES, channels);
        let tick = Tick {
            index: k as u64,
            deadline,
            wall: wall + offset,
        };
        for out in outputs.iter_mut() {
            out.write(&buf, &tick);
        }
    }
}

/// One received RTP packet, parsed with the `rtp-types` crate.
#[derive(Debug)]
struct Received {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn receive_rtp(socket: &UdpSocket, count: usize) -> Vec<Received> {
    let mut buf = [0u8; 2048];
    (0..count)
        .map(|i| {
            let n = socket
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("packet {i}: {e}"));
            let p = rtp_types::RtpPacket::parse(&buf[..n]).expect("valid RTP");
            assert_eq!(p.version(), 2);
            assert_eq!(p.n_csrcs(), 0);
            assert!(p.extension().is_none() && p.padding().is_none());
            Received {
                marker: p.marker_bit(),
                pt: p.payload_type(),
                seq: p.sequence_number(),
                ts: p.timestamp(),
                ssrc: p.ssrc(),
                payload: p.payload().to_vec(),
            }
        })
        .collect()
}

/// Common stream checks: PT, marker only first, contiguous seq, regular
/// timestamps, one SSRC, fixed payload size; starting where the output said.
fn check_stream(packets: &[Received], pt: u8, ts_step: u32, payload: usize) {
    let first = &packets[0];
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.pt, pt, "packet {i}");
        assert_eq!(p.marker, i == 0, "marker on packet {i}");
        assert_eq!(p.ssrc, first.ssrc);
        assert_eq!(p.seq, first.seq.wrapping_add(i as u16), "seq of packet {i}");
        assert_eq!(
            p.ts,
            first.ts.wrapping_add(ts_step * i as u32),
            "timestamp of packet {i}"
        );
        assert_eq!(p.payload.len(), payload, "payload of packet {i}");
    }
}

fn rtcp_sender_report(socket: &UdpSocket) -> (u32, u64, u32, u32, u32, String) {
    use rtcp_types::{Compound, Packet};
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).expect("an RTCP packet");
    let mut packets = Compound::parse(&buf[..n]).expect("valid RTCP");
    let sr = match packets.next().unwrap().unwrap() {
        Packet::Sr(sr) => (
            sr.ssrc(),
            sr.ntp_timestamp(),
            sr.rtp_timestamp(),
            sr.packet_count(),
            sr.octet_count(),
        ),
        other => panic!("compound RTCP must start with SR, got {other:?}"),
    };
    let cname = match packets.next().unwrap().unwrap() {
        Packet::Sdes(sdes) => {
            let chunk = sdes.chunks().next().unwrap();
            assert_eq!(chunk.ssrc(), sr.0);
            let item = chunk.items().next().unwrap();
            assert_eq!(item.type_(), 1, "CNAME");
            String::from_utf8(item.value().to_vec()).unwrap()
        }
        other => panic!("expected SDES after SR, got {other:?}"),
    };
    (sr.0, sr.1, sr.2, sr.3, sr.4, cname)
}

fn ntp_seconds(ntp: u64) -> f64 {
    (ntp >> 32) as f64 + (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0
}

#[test]
fn l16_mono_packets_and_sender_reports() {
    let (rx, rtcp_rx, port) = socket_pair();
    let dest: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut out = RtpOutput::new(
        "alun-alun",
        &rtp_config(&[dest], Codec::L16),
        RATE,
        1,
        FRAMES,
    )
    .unwrap();
    out.set_rtcp_interval(Duration::from_millis(200));
    let layout = out.layout();
    assert_eq!(
        (layout.packets_per_write, layout.samples_per_packet),
        (2, 480)
    );
    let start = out.stream_state();
    let local = out.local_addr().unwrap();
    assert_eq!(
        local.ip(),
        Ipv4Addr::LOCALHOST,
        "loopback-only zone binds 127.0.0.1"
    );

    play(&mut [&mut out], 1, 1000.0, 25); // 50 RTP packets
    let packets = receive_rtp(&rx, 50);
    check_stream(&packets, 96, 480, 960);
    assert_eq!(
        (packets[0].ssrc, packets[0].seq, packets[0].ts),
        (start.ssrc, start.seq, start.timestamp)
    );
    let now = out.stream_state();
    assert_eq!(now.seq, start.seq.wrapping_add(50));
    assert_eq!(now.timestamp, start.timestamp.wrapping_add(50 * 480));
    assert_eq!(out.status().load(), now);

    // The payloads are the sine, big-endian, to within rounding.
    let samples: Vec<i16> = packets
        .iter()
        .flat_map(|p| {
            p.payload
                .chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(samples.len(), 25 * FRAMES);
    for (n, &s) in samples.iter().enumerate() {
        let want = AMPLITUDE * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / RATE as f64).sin();
        assert!(
            (s as f64 - want * 32767.0).abs() <= 1.0,
            "sample {n}: {s} vs {want}"
        );
    }
    let health = out.health();
    assert_eq!(health.packets_sent.load(Ordering::Relaxed), 50);
    assert_eq!(health.bytes_sent.load(Ordering::Relaxed), 50 * 972);
    assert_eq!(health.send_errors.load(Ordering::Relaxed), 0);

    // Sender reports: the first goes with the first packet, then every
    // 200 ms (packet times 0, 10, 20).
    let (ssrc, ntp0, rtp0, count0, octets0, cname) = rtcp_sender_report(&rtcp_rx);
    assert_eq!(ssrc, start.ssrc);
    assert_eq!(cname, "corong@alun-alun");
    assert_eq!(rtp0, start.timestamp, "first SR maps the first packet");
    assert_eq!((count0, octets0), (2, 2 * 960));
    let now_ntp = ntp_seconds(ntp_timestamp(SystemTime::now()));
    assert!(
        (now_ntp - ntp_seconds(ntp0)).abs() < 5.0,
        "NTP time {} is not now",
        ntp_seconds(ntp0)
    );
    let (_, ntp1, rtp1, count1, octets1, _) = rtcp_sender_report(&rtcp_rx);
    let wall_elapsed = ntp_seconds(ntp1) - ntp_seconds(ntp0);
    let rtp_elapsed = rtp1.wrapping_sub(rtp0) as f64 / RATE as f64;
    assert!((wall_elapsed - 0.2).abs() < 0.001, "{wall_elapsed}");
    assert!(
        (wall_elapsed - rtp_elapsed).abs() < 0.0001,
        "NTP {wall_elapsed} s vs RTP {rtp_elapsed} s"
    );
    assert_eq!((count1, octets1), (22, 22 * 960));
}

#[test]
fn l16_stereo_interleaves() {
    let (rx, _rtcp, port) = socket_pair();
    let dest: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut out =
        RtpOutput::new("stereo", &rtp_config(&[dest], Codec::L16), RATE, 2, FRAMES).unwrap();
    let layout = out.layout();
    assert_eq!(
        (layout.packets_per_write, layout.samples_per_packet),
        (4, 240)
    );
    play(&mut [&mut out], 2, 500.0, 10);
    let packets = receive_rtp(&rx, 40);
    check_stream(&packets, 96, 240, 960);
    let samples: Vec<f32> = packets
        .iter()
        .flat_map(|p| {
            p.payload
                .chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32767.0)
                .collect::<Vec<_>>()
        })
        .collect();
    let left: Vec<f32> = samples.iter().step_by(2).copied().collect();
    let right: Vec<f32> = samples.iter().skip(1).step_by(2).copied().collect();
    let fl = common::tone_frequency(&left, RATE);
    let fr = common::tone_frequency(&right, RATE);
    assert!((fl - 500.0).abs() < 5.0, "left {fl}");
    assert!((fr - 1000.0).abs() < 10.0, "right {fr}");
}

/// PCMU payload decoded back: 160 bytes / 20 ms, a 1 kHz tone at 8 kHz.
fn check_pcmu_tone(packets: &[Received]) {
    check_stream(packets, 0, 160, 160);
    let decoded: Vec<f32> = packets
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| pcmu::decode(b) as f32 / 32768.0))
        .collect();
    // Skip the decimator's start-up (its delay is well under 10 ms).
    let settled = &decoded[80..];
    let f = common::tone_frequency(settled, 8000);
    assert!((f - 1000.0).abs() < 10.0, "PCMU tone at {f} Hz");
    let level_db = 20.0 * (common::rms(settled) / (AMPLITUDE / 2f64.sqrt())).log10();
    assert!(level_db.abs() < 0.5, "PCMU level off by {level_db:.2} dB");
}

#[test]
fn pcmu_packets() {
    let (rx, _rtcp, port) = socket_pair();
    let dest: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut out =
        RtpOutput::new("pcmu", &rtp_config(&[dest], Codec::Pcmu), RATE, 1, FRAMES).unwrap();
    play(&mut [&mut out], 1, 1000.0, 50);
    check_pcmu_tone(&receive_rtp(&rx, 50));
}

/// A multicast group on loopback, read by a plain socket that joins it on
/// 127.0.0.1: the same packets as unicast, and two destinations (group and
/// unicast) get the same stream.
#[test]
fn multicast_on_loopback_and_several_destinations() {
    let (uni, _rtcp, port) = socket_pair();
    let group = Ipv4Addr::new(239, 255, 0, 1 + (port % 200) as u8);
    let mport = free_port_pair();
    let mrx = UdpSocket::bind((group, mport)).unwrap();
    mrx.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
    mrx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let dests: [SocketAddr; 2] = [(group, mport).into(), ([127, 0, 0, 1], port).into()];
    let mut out = RtpOutput::new("mc", &rtp_config(&dests, Codec::Pcmu), RATE, 1, FRAMES).unwrap();
    play(&mut [&mut out], 1, 1000.0, 50);
    let from_group = receive_rtp(&mrx, 50);
    let from_unicast = receive_rtp(&uni, 50);
    check_pcmu_tone(&from_group);
    for (a, b) in from_group.iter().zip(&from_unicast) {
        assert_eq!(
            (a.seq, a.ts, a.ssrc, &a.payload),
            (b.seq, b.ts, b.ssrc, &b.payload)
        );
    }
    assert_eq!(out.health().packets_sent.load(Ordering::Relaxed), 100);
}

/// A zone of 200 poles on unicast (sent with one `sendmmsg` per packet):
/// every pole gets every packet, in order, the same stream.
#[test]
fn two_hundred_unicast_destinations_each_get_every_packet_in_order() {
    // Each receiver holds port + 1 too, where its sender reports go.
    let receivers: Vec<(UdpSocket, UdpSocket, u16)> = (0..200).map(|_| socket_pair()).collect();
    let dests: Vec<SocketAddr> = receivers
        .iter()
        .map(|(_, _, port)| SocketAddr::from(([127, 0, 0, 1], *port)))
        .collect();
    let mut out =
        RtpOutput::new("poles", &rtp_config(&dests, Codec::Pcmu), RATE, 1, FRAMES).unwrap();
    play(&mut [&mut out], 1, 1000.0, 30);
    let first = receive_rtp(&receivers[0].0, 30);
    check_pcmu_tone(&first);
    for (i, (rx, _, _)) in receivers.iter().enumerate().skip(1) {
        let got = receive_rtp(rx, 30);
        check_stream(&got, 0, 160, 160);
        for (a, b) in got.iter().zip(&first) {
            assert_eq!(
                (a.seq, a.ts, a.ssrc, &a.payload),
                (b.seq, b.ts, b.ssrc, &b.payload),
                "pole {i}"
            );
        }
    }
    assert_eq!(out.health().packets_sent.load(Ordering::Relaxed), 200 * 30);
}

#[test]
fn closed_port_is_counted_not_fatal() {
    let closed: SocketAddr = ([127, 0, 0, 1], free_port_pair()).into();
    let (rx_shared, _r1, p1) = socket_pair();
    let (rx_other, _r2, p2) = socket_pair();
    // One zone sends to a closed port and a live one from the same socket;
    // another zone sends to its own live port.
    let mut with_closed = RtpOutput::new(
        "half-gone",
        &rtp_config(&[closed, ([127, 0, 0, 1], p1).into()], Codec::Pcmu),
        RATE,
        1,
        FRAMES,
    )
    .unwrap();
    let mut other = RtpOutput::new(
        "other",
        &rtp_config(&[([127, 0, 0, 1], p2).into()], Codec::Pcmu),
        RATE,
        1,
        FRAMES,
    )
    .unwrap();
    play(&mut [&mut with_closed, &mut other], 1, 1000.0, 100);
    check_pcmu_tone(&receive_rtp(&rx_shared, 100));
    check_pcmu_tone(&receive_rtp(&rx_other, 100));

    let h = with_closed.health();
    let sent = h.packets_sent.load(Ordering::Relaxed);
    let errors = h.send_errors.load(Ordering::Relaxed);
    // Every datagram either went out or was counted as an error. The socket
    // is unconnected, so Linux usually reports nothing for the closed port;
    // if it does, it is "connection refused".
    assert_eq!(sent + errors, 200, "sent {sent} errors {errors}");
    if errors > 0 {
        assert_eq!(h.last_error.load(Ordering::Relaxed), libc::ECONNREFUSED);
    }
    assert_eq!(other.health().send_errors.load(Ordering::Relaxed), 0);
    // Per destination: the live one took every packet without an error;
    // the closed one's are all accounted for on its own counters.
    let per = with_closed.destination_health();
    assert_eq!(per.len(), 2);
    assert_eq!(per[0].0, closed);
    let (c_sent, c_err) = (
        per[0].1.packets_sent.load(Ordering::Relaxed),
        per[0].1.send_errors.load(Ordering::Relaxed),
    );
    assert_eq!(c_sent + c_err, 100, "closed: sent {c_sent} errors {c_err}");
    assert_eq!(per[1].1.packets_sent.load(Ordering::Relaxed), 100);
    assert_eq!(per[1].1.send_errors.load(Ordering::Relaxed), 0);
    assert_eq!(c_err, errors, "every error was the closed port's");
}

fn zone(name: &str, port: u16, codec: Codec, dest: Ipv4Addr) -> Zone {
    Zone {
        name: name.into(),
        channels: 1,
        gain_db: 0.0,
        outputs: vec![ZoneOutput::Rtp(rtp_config(&[(dest, port).into()], codec))],
        loudness_target_lufs: None,
    }
}

/// The received file holds a 1 kHz tone at the source level.
fn check_received_tone(path: &Path) {
    let (samples, rate) = common::read_wav_mono(path);
    let (a, b) = common::active_span(&samples, 0.05).expect("no tone received");
    // Trim the edges (jitter-buffer start, fade of the last packet).
    let edge = rate as usize / 50;
    assert!(b - a > 10 * edge, "only {} samples of tone", b - a);
    let tone = &samples[a + edge..b - edge];
    let f = common::tone_frequency(tone, rate);
    assert!((f - 1000.0).abs() < 10.0, "received tone at {f} Hz");
    let level_db = 20.0 * (common::rms(tone) / (AMPLITUDE / 2f64.sqrt())).log10();
    let seconds = (b - a) as f64 / rate as f64;
    eprintln!(
        "{}: {seconds:.3} s of tone at {rate} Hz: {f:.2} Hz, level {level_db:+.3} dB",
        path.display()
    );
    assert!(seconds > 2.5, "only {seconds:.2} s of tone");
    assert!(
        level_db.abs() < 1.0,
        "received level off by {level_db:.2} dB"
    );
}

fn ffmpeg_receives(codec: Codec) {
    if !common::require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let z = zone("ffmpeg-zone", port, codec, Ipv4Addr::LOCALHOST);
    let sdp_path = dir.path().join("zone.sdp");
    std::fs::write(&sdp_path, zone_sdp(&z, &daemon()).unwrap()).unwrap();
    let wav = dir.path().join("out.wav");
    let log = dir.path().join("ffmpeg.log");
    let mut ffmpeg = Command::new("ffmpeg")
        .args(["-nostdin", "-protocol_whitelist", "file,udp,rtp", "-i"])
        .arg(&sdp_path)
        .args(["-t", "3", "-c:a", "pcm_s16le", "-y"])
        .arg(&wav)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let mut out = RtpOutput::new(&z.name, z.rtp().unwrap(), RATE, 1, FRAMES).unwrap();
    play(&mut [&mut out], 1, 1000.0, 200); // 4 s
    common::wait_success(&mut ffmpeg, Duration::from_secs(10), &log);
    check_received_tone(&wav);
}

#[test]
fn ffmpeg_plays_l16_from_sdp() {
    ffmpeg_receives(Codec::L16);
}

#[test]
fn ffmpeg_plays_pcmu_from_sdp() {
    ffmpeg_receives(Codec::Pcmu);
}

#[test]
fn gstreamer_plays_pcmu_from_multicast() {
    if !common::require_peer("gst-launch-1.0") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();
    let group = Ipv4Addr::new(239, 255, 0, 1 + (port % 200) as u8);
    let wav = dir.path().join("out.wav");
    let log = dir.path().join("gst.log");
    let mut gst = Command::new("gst-launch-1.0")
        .args(["-q", "-e", "udpsrc"])
        .arg(format!("address={group}"))
        .arg(format!("port={port}"))
        .args([
            "multicast-iface=lo",
            "caps=application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0",
            "!",
            "rtpjitterbuffer",
            "latency=100",
            "!",
            "rtppcmudepay",
            "!",
            "mulawdec",
            "!",
            "audioconvert",
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
    std::thread::sleep(Duration::from_secs(1));
    let z = zone("gst-zone", port, Codec::Pcmu, group);
    let mut out = RtpOutput::new(&z.name, z.rtp().unwrap(), RATE, 1, FRAMES).unwrap();
    play(&mut [&mut out], 1, 1000.0, 150); // 3 s
    std::thread::sleep(Duration::from_millis(500));
    common::run(Command::new("kill").args(["-INT", &gst.id().to_string()]));
    common::wait_success(&mut gst, Duration::from_secs(10), &log);
    check_received_tone(&wav);
}

#[test]
fn write_does_not_allocate() {
    use corong::output::wav::WavRecorder;
    let (_rx, _rtcp, port) = socket_pair();
    let dest: SocketAddr = ([127, 0, 0, 1], port).into();
    let closed: SocketAddr = ([127, 0, 0, 1], free_port_pair()).into();
    let dir = tempfile::tempdir().unwrap();
    let mut l16 = RtpOutput::new(
        "a",
        &rtp_config(&[dest, closed], Codec::L16),
        RATE,
        2,
        FRAMES,
    )
    .unwrap();
    let mut pcmu = RtpOutput::new("b", &rtp_config(&[dest], Codec::Pcmu), RATE, 1, FRAMES).unwrap();
    let mut g722 = RtpOutput::new("c", &rtp_config(&[dest], Codec::G722), RATE, 1, FRAMES).unwrap();
    let mut opus = RtpOutput::new("d", &rtp_config(&[dest], Codec::Opus), RATE, 2, FRAMES).unwrap();
    let mut wav = WavRecorder::new(&dir.path().join("a.wav"), RATE, 2).unwrap();
    l16.set_rtcp_interval(Duration::from_millis(100));
    let stereo = vec![0.25f32; FRAMES * 2];
    let mono = vec![0.25f32; FRAMES];
    // The counter works.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(allocations(), before + 1);

    let start = Instant::now();
    let before = allocations();
    for k in 0..20u64 {
        let tick = Tick {
            index: k,
            deadline: start + Duration::from_millis(20 * k),
            wall: SystemTime::now(),
        };
        l16.write(&stereo, &tick); // RTCP goes out on ticks 0, 5, 10, 15
        pcmu.write(&mono, &tick);
        g722.write(&mono, &tick);
        // (libopus itself does not allocate while encoding either.)
        opus.write(&stereo, &tick);
        wav.write(&stereo, &tick);
    }
    assert_eq!(allocations() - before, 0, "write allocated");
}
