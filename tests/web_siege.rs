//! The web console under siege: clients that open connections and send
//! nothing, and operators' uploads that dribble a byte at a time, must not
//! keep an emergency off the air, nor take the daemon's file descriptors.
//! Only 127.0.0.1.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Station};
use http::*;

const PASSWORD: &str = "kelud-siaga-3";
/// The daemon's cap on open console connections (`web/listen.rs`).
const MAX_CONNECTIONS: usize = 128;
/// Idle connections opened: more than the cap.
const IDLE: usize = 150;
/// Uploads that dribble.
const SLOW_UPLOADS: usize = 30;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// PCMU bytes far from silence.
fn loud(payload: &[u8]) -> bool {
    payload.iter().filter(|&&b| (b & 0x7f) < 0x60).count() > 20
}

/// Whether the server closed `s` (EOF or reset) within `wait`.
fn closed(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn an_emergency_gets_through_while_clients_hold_the_console_open() {
    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    common::tone_wav(&st.path("media/evakuasi.wav"), 600.0, 3.0);
    add_user(&st, "sri", "operator", PASSWORD);
    let d = st.start();
    let addr = web_addr(&d);
    let cookie = login(addr, "sri", PASSWORD).cookie().unwrap();
    let pid = d.child.id();
    let before = open_fds(pid);

    // Operators' uploads that send their headers, then a byte every 200 ms
    // of a body they claim is 10 MB.
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow: Vec<TcpStream> = (0..SLOW_UPLOADS)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let o = origin(addr);
            write!(
                s,
                "POST /api/announce HTTP/1.1\r\nHost: {addr}\r\nOrigin: {o}\r\nCookie: {cookie}\r\n\
                 Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 10000000\r\n\r\n\
                 --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
                 Content-Type: audio/wav\r\n\r\nRIFF"
            )
            .unwrap();
            s
        })
        .collect();
    let dribbler = {
        let stop = stop.clone();
        let mut streams: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &mut streams {
                    let _ = s.write_all(b"x");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // Clients that connect and say nothing, more than the cap.
    let mut idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let sieged = Instant::now();

    // The daemon holds at most the cap's worth of them.
    common::wait_until("the refusal logged", Duration::from_secs(5), || {
        d.log_text().contains("more refused")
    });
    // A connection each, and each upload's partial file.
    let during = open_fds(pid);
    assert!(
        during <= before + MAX_CONNECTIONS + SLOW_UPLOADS + 4,
        "{during} descriptors open during the siege, {before} before: the cap did not hold"
    );

    // An emergency from the control socket is on the air at once.
    let file = st.path("media/evakuasi.wav");
    let file = file.to_str().unwrap();
    let asked = Instant::now();
    let (code, out, err) = st.client(&["emergency", "--zones", "alun-alun", file]);
    assert_eq!(code, 0, "{out}{err}");
    let mut buf = [0u8; 2048];
    let on_air = loop {
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "no sound on the zone 5 s after the emergency:\n{}",
            d.log_text()
        );
        if let Ok(n) = rtp.recv(&mut buf) {
            if loud(&buf[12..n]) {
                break asked.elapsed();
            }
        }
    };
    assert!(
        on_air < Duration::from_secs(1),
        "emergency to sound took {on_air:?} under siege"
    );
    eprintln!("emergency to first loud packet under siege: {on_air:?}");

    // The silent clients are closed after the header timeout (10 s), which
    // frees the console for a real browser again; the dribbling uploads,
    // still sending, are not.
    let deadline = sieged + Duration::from_secs(20);
    for s in &mut idle {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed(s, left.max(Duration::from_millis(1))),
            "a silent connection still open after 20 s"
        );
    }
    let again = login(addr, "sri", PASSWORD);
    assert_eq!(again.status, 303, "{again:?}");
    let a = post_json(addr, "/api/emergency/stop", &cookie, "{}");
    assert_eq!(a.status, 200, "{a:?}");
    for s in &mut slow {
        assert!(
            !closed(s, Duration::from_millis(1)),
            "a dribbling upload was cut off"
        );
    }

    // The uploads give up: nothing half-written stays behind. One of
    // them stays connected but falls silent: the daemon answers it 408
    // once it has sent nothing for 30 s (upload::STALL).
    stop.store(true, Ordering::Relaxed);
    dribbler.join().unwrap();
    let silent_since = Instant::now();
    let mut stalled = slow.pop().unwrap();
    drop(slow);
    stalled
        .set_read_timeout(Some(Duration::from_secs(45)))
        .unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stalled, &mut answer);
    let waited = silent_since.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled upload got {answer:?} after {waited:?}"
    );
    assert!(answer.contains("stalled"), "{answer}");
    assert!(
        (Duration::from_secs(29)..Duration::from_secs(45)).contains(&waited),
        "408 after {waited:?} of silence (the bound is 30 s)"
    );
    common::wait_until(
        "the partial uploads deleted",
        Duration::from_secs(5),
        || {
            std::fs::read_dir(st.path("state/uploads"))
                .map(|r| r.count() == 0)
                .unwrap_or(true)
        },
    );
    assert!(d.stop().success());
}
