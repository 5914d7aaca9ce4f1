//! Live reload of a running daemon: `corong reload` and SIGHUP.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Station};
use common::StampedSocket;

fn zones(a: u16, b: u16, extra: &str) -> String {
    format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{a}\"]\n\n\
         [[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{b}\"]\ncodec = \"pcmu\"\n{extra}"
    )
}

/// One zone changed (new port) and one added: the unchanged zone's stream
/// goes on with no sequence gap, the same SSRC and no timing jump; the
/// changed zone streams to its new port. Then a broken config is refused
/// with file:line:col, and the running config stays.
#[test]
fn reload_keeps_unchanged_zones_streaming_and_refuses_a_bad_config() {
    let a = free_port_pair();
    let b = free_port_pair();
    let b2 = free_port_pair();
    let st = Station::new();
    st.config(&zones(a, b, ""));
    let d = st.start();

    let watch = StampedSocket::bind(a);
    let watcher = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut packets = Vec::new();
        let begin = Instant::now();
        while begin.elapsed() < Duration::from_secs(5) {
            let (n, at) = watch.recv(&mut buf).expect("the unchanged zone streams");
            let seq = u16::from_be_bytes([buf[2], buf[3]]);
            let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            packets.push((at, seq, ts, ssrc, n));
        }
        packets
    });
    let new_port = UdpSocket::bind(("127.0.0.1", b2)).unwrap();
    new_port
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();

    std::thread::sleep(Duration::from_millis(1500));
    st.config(&zones(
        a,
        b2,
        "\n[[zones]]\nname = \"arsip\"\nwav = \"arsip.wav\"\n",
    ));
    let (code, out, err) = st.client(&["reload"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("1 added") && out.contains("1 changed"),
        "{out}"
    );
    let mut buf = [0u8; 512];
    new_port
        .recv(&mut buf)
        .expect("the changed zone streams to its new port");
    assert_eq!(buf[1] & 0x7f, 0, "still PCMU");

    std::thread::sleep(Duration::from_millis(1000));
    let path = st.config(&format!("{}\nvolume = 11\n", zones(a, b, "")));
    let (code, _, err) = st.client(&["reload"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("reload refused"), "{err}");
    assert!(
        err.contains(&format!("{}:", path.display())) && err.contains("volume"),
        "the diagnostic names file, line and key: {err}"
    );
    // The running config stays: the changed zone is still on its new port.
    new_port
        .recv(&mut buf)
        .expect("the running config stays after a refused reload");
    let (_, zones_json, _) = st.client(&["zones", "--json"]);
    assert!(
        zones_json.contains(&format!("127.0.0.1:{b2}")),
        "{zones_json}"
    );
    assert!(zones_json.contains("arsip"), "{zones_json}");

    let packets = watcher.join().unwrap();
    assert!(d.stop().success());
    let (t0, _, ts0, ssrc, _) = packets[0];
    let mut worst = Duration::ZERO;
    for w in packets.windows(2) {
        let (_, s0, _, _, _) = w[0];
        let (_, s1, _, ss, _) = w[1];
        assert_eq!(s1, s0.wrapping_add(1), "sequence gap across the reload");
        assert_eq!(ss, ssrc, "the unchanged zone kept its stream");
    }
    // Each packet's arrival against its timestamp, measured from the
    // earliest (a first packet that came late would otherwise make every
    // other one look early). From 1 s after the watch began: the reload
    // comes at 1.5 s, and the daemon's first moments (its start-up, on a
    // loaded machine) are not what this test is about.
    let settled = t0.as_secs_f64() + 1.0;
    let offsets: Vec<f64> = packets
        .iter()
        .filter(|(at, ..)| at.as_secs_f64() >= settled)
        .map(|(at, _, ts, ..)| {
            let due = ts.wrapping_sub(ts0) as f64 / 48_000.0;
            at.as_secs_f64() - t0.as_secs_f64() - due
        })
        .collect();
    let earliest = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    for o in &offsets {
        worst = worst.max(Duration::from_secs_f64(o - earliest));
    }
    assert!(
        worst < Duration::from_millis(20),
        "timing jumped by {worst:?}"
    );
}

/// SIGHUP reloads too; a zone removed by a reload stops streaming.
#[test]
fn sighup_reloads_the_config() {
    let a = free_port_pair();
    let b = free_port_pair();
    let st = Station::new();
    st.config(&zones(a, b, ""));
    let pasar = UdpSocket::bind(("127.0.0.1", b)).unwrap();
    pasar
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let d = st.start();
    st.config(&zones(
        a,
        b,
        "\n[[zones]]\nname = \"arsip\"\nwav = \"arsip.wav\"\n",
    ));
    // SAFETY: kill(2) on the daemon we started.
    unsafe {
        libc::kill(d.child.id() as i32, libc::SIGHUP);
    }
    d.wait_log("1 added, 0 removed, 0 changed", Duration::from_secs(5));
    let (code, out, _) = st.client(&["zones", "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"arsip\""), "{out}");

    // Remove `pasar`.
    let mut buf = [0u8; 512];
    pasar.recv(&mut buf).expect("pasar streams before");
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{a}\"]\n\n\
         [[zones]]\nname = \"arsip\"\nwav = \"arsip.wav\"\n"
    ));
    let (code, out, err) = st.client(&["reload"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("1 removed"), "{out}");
    // What was in flight drains; then nothing more comes.
    std::thread::sleep(Duration::from_millis(200));
    while pasar.recv(&mut buf).is_ok() {}
    pasar
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    assert!(
        pasar.recv(&mut buf).is_err(),
        "a removed zone still streams"
    );
    let (_, out, _) = st.client(&["zones", "--json"]);
    assert!(!out.contains("\"pasar\""), "{out}");
    assert!(d.stop().success());
}
