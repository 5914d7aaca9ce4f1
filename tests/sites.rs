//! The regency (docs/regency.md): kiosks joined through a real mosquitto
//! on a loopback port. Three daemons see each other, obey an emergency to
//! all (RTP audio on each zone), see a killed kiosk go offline (its Last
//! Will), stream on without a gap while the broker is down and rejoin when
//! it returns; an order is carried out once and never stale; malformed
//! payloads change nothing; the docs' ACL keeps a kecamatan account from
//! ordering anyone.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Daemon, Station};
use serde_json::{json, Value};

const PREFIX: &str = "corong/blitar";

/// mosquitto, from PATH or Debian's /usr/sbin; under CORONG_REQUIRE_PEERS=1
/// its absence fails the test.
fn mosquitto() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CORONG_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("peer program `mosquitto` is required (CORONG_REQUIRE_PEERS=1) but is not installed");
        }
        eprintln!("skipping: peer program `mosquitto` is not installed");
    }
    found
}

/// A mosquitto on 127.0.0.1, stopped when dropped.
struct Broker {
    exe: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// `acl`: an ACL file's text (usernames then count).
    fn start(exe: PathBuf, acl: Option<&str>) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest stderr\nlog_type error\nlog_type warning\n"
        );
        if let Some(acl) = acl {
            let path = dir.path().join("acl");
            std::fs::write(&path, acl).unwrap();
            conf.push_str(&format!("acl_file {}\n", path.display()));
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut b = Broker {
            exe,
            dir,
            port,
            child: None,
        };
        b.restart();
        b
    }

    fn restart(&mut self) {
        let child = Command::new(&self.exe)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        wait_for("the broker listens", Duration::from_secs(5), || {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A kiosk: its station folder, zone socket and daemon.
struct Kiosk {
    name: String,
    st: Station,
    zone: UdpSocket,
    daemon: Option<Daemon>,
}

impl Kiosk {
    fn new(name: &str, broker: u16) -> Kiosk {
        Kiosk::with(name, broker, None, "")
    }

    /// With a second pole at `pole` on its zone, and `extra` at the top of
    /// its config (daemon keys and tables).
    fn with(name: &str, broker: u16, pole: Option<u16>, extra: &str) -> Kiosk {
        let st = Station::new();
        let port = free_port_pair();
        let zone = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        std::fs::create_dir_all(st.path("secrets")).unwrap();
        std::fs::write(st.path("secrets/mqtt"), "rahasia\n").unwrap();
        let pole = pole.map_or(String::new(), |p| format!(", \"127.0.0.1:{p}\""));
        st.config(&format!(
            "{extra}\n[[zones]]\nname = \"{name}-alun-alun\"\nrtp = [\"127.0.0.1:{port}\"{pole}]\n\n\
             [site]\nname = \"{name}\"\n\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\ntopic_prefix = \"{PREFIX}\"\n\
             username = \"{name}\"\npassword_file = \"secrets/mqtt\"\nkeep_alive_s = 2\n"
        ));
        Kiosk {
            name: name.into(),
            st,
            zone,
            daemon: None,
        }
    }

    fn start(&mut self) {
        self.daemon = Some(self.st.start());
    }

    fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("started")
    }

    fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.st.client(args);
        assert_eq!(code, 0, "corong {args:?}: {err}{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// `sites --json`: name -> online (none while this kiosk has no broker:
    /// what it last heard is no news).
    fn sites(&self) -> Vec<(String, bool)> {
        let v = self.json(&["sites", "--json"]);
        if v["link"]["connected"] != true {
            return Vec::new();
        }
        v["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["online"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    fn online(&self, names: &[&str]) -> bool {
        let sites = self.sites();
        names
            .iter()
            .all(|n| sites.iter().any(|(s, on)| s == n && *on))
    }

    /// Whether a loud L16 packet arrives within `span`.
    fn hears_sound(&self, span: Duration) -> bool {
        self.zone
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let end = Instant::now() + span;
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok(n) = self.zone.recv(&mut buf) {
                if loud(&buf[..n]) {
                    return true;
                }
            }
        }
        false
    }

    /// Drains what the zone sent so far.
    fn drain(&self) {
        self.zone.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        while self.zone.recv(&mut buf).is_ok() {}
        self.zone.set_nonblocking(false).unwrap();
    }
}

/// Whether an L16 RTP packet carries sound.
fn loud(packet: &[u8]) -> bool {
    packet.len() > 12
        && packet[12..]
            .chunks_exact(2)
            .any(|s| i16::from_be_bytes([s[0], s[1]]).unsigned_abs() > 1000)
}

fn peers() -> Option<PathBuf> {
    let m = mosquitto()?;
    common::require_peer("espeak-ng").then_some(m)
}

#[test]
fn three_kiosks_see_each_other_obey_and_survive_the_broker() {
    let Some(exe) = peers() else { return };
    let mut broker = Broker::start(exe, None);
    let mut kiosks: Vec<Kiosk> = ["centre", "wlingi", "kanigoro"]
        .iter()
        .map(|n| Kiosk::new(n, broker.port))
        .collect();
    let began = Instant::now();
    for k in &mut kiosks {
        k.start();
    }
    let names = ["centre", "wlingi", "kanigoro"];
    wait_for("all three online", Duration::from_secs(5), || {
        kiosks.iter().all(|k| k.online(&names))
    });
    eprintln!("all three online after {:?}", began.elapsed());
    // Each shows the others' zones (their retained state).
    wait_for("kanigoro's zone on centre", Duration::from_secs(5), || {
        let v = kiosks[0].json(&["sites", "--json"]);
        v["sites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "kanigoro" && s["zones"][0]["name"] == "kanigoro-alun-alun")
    });

    let (code, table, err) = kiosks[0].st.client(&["sites"]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("centre (this)"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("wlingi ") && l.contains("online")),
        "{table}"
    );

    // An emergency to all: every kiosk accepts, every zone sounds.
    for k in &kiosks {
        assert!(
            !k.hears_sound(Duration::from_millis(300)),
            "{} not silent",
            k.name
        );
    }
    let sent = Instant::now();
    let v = kiosks[0].json(&[
        "emergency",
        "--text",
        "Peringatan dini banjir. Segera menuju tempat yang tinggi.",
        "--sites",
        "all",
        "--json",
    ]);
    let acks = v["acks"].as_array().unwrap();
    for n in names {
        assert!(
            acks.iter()
                .any(|a| a["site"] == n && a["accepted"] == true && a["job"].is_u64()),
            "{n} did not accept: {v}"
        );
    }
    for k in &kiosks {
        assert!(
            k.hears_sound(Duration::from_secs(5)),
            "{}: no sound",
            k.name
        );
    }
    eprintln!("sound on all three {:?} after the command", sent.elapsed());
    let v = kiosks[1].json(&["status", "--json"]);
    assert_eq!(
        v["zones"][0]["playing"]["priority_name"], "emergency",
        "{v}"
    );
    // Stop on all: accepted everywhere, no job.
    let v = kiosks[0].json(&["emergency", "--stop", "--sites", "all", "--json"]);
    assert_eq!(
        v["acks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["accepted"] == true)
            .count(),
        3,
        "{v}"
    );

    // A kiosk killed: its Last Will marks it offline on the others.
    let mut kanigoro = kiosks.pop().unwrap();
    let mut d = kanigoro.daemon.take().unwrap();
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    std::mem::forget(d);
    let killed = Instant::now();
    wait_for("kanigoro offline", Duration::from_secs(10), || {
        kiosks[0]
            .sites()
            .iter()
            .any(|(n, on)| n == "kanigoro" && !on)
    });
    eprintln!("kanigoro offline after {:?}", killed.elapsed());
    let v = kiosks[0].json(&["sites", "--json"]);
    let row = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "kanigoro")
        .unwrap();
    assert!(row["since"].is_string(), "offline since when: {v}");
    drop(kanigoro);

    // The broker stopped: both kiosks stream on without a gap, say so once.
    for k in &kiosks {
        k.drain();
    }
    broker.stop();
    let watchers: Vec<_> = kiosks
        .iter()
        .map(|k| {
            let sock = k.zone.try_clone().unwrap();
            std::thread::spawn(move || common::watch_rtp_gaps(sock, 3))
        })
        .collect();
    for k in &kiosks {
        k.daemon()
            .wait_log("regency: broker lost", Duration::from_secs(10));
        let v = k.json(&["status", "--json"]);
        assert_eq!(v["broker"]["connected"], false, "{v}");
    }
    for (w, k) in watchers.into_iter().zip(&kiosks) {
        let (count, gaps) = w.join().unwrap();
        assert!(
            count > 100,
            "{}: only {count} packets while the broker was down",
            k.name
        );
        assert_eq!(
            gaps, 0,
            "{}: {gaps} RTP gaps while the broker was down",
            k.name
        );
    }
    // An order cannot be sent meanwhile, and says why.
    let (code, _, err) = kiosks[0].st.client(&["say", "halo", "--sites", "all"]);
    assert_ne!(code, 0);
    assert!(err.contains("broker is not reached"), "{err}");

    // The broker back: both online again, the loss logged once each.
    let back = Instant::now();
    broker.restart();
    wait_for("both online again", Duration::from_secs(10), || {
        kiosks.iter().all(|k| k.online(&["centre", "wlingi"]))
    });
    eprintln!(
        "online again {:?} after the broker restarted",
        back.elapsed()
    );
    for k in &kiosks {
        assert_eq!(
            k.daemon().log_lines(&["regency: broker lost"]).len(),
            1,
            "{}",
            k.daemon().log_text()
        );
        let v = k.json(&["status", "--json"]);
        assert_eq!(v["broker"]["connected"], true, "{v}");
    }
}

/// A kiosk that hangs (SIGSTOP: its connection open, no keep-alive) is
/// declared offline by the broker within 1.5 keep-alives, and is online
/// again once it runs.
#[test]
fn a_hung_kiosk_goes_offline_by_its_keep_alive_and_comes_back() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let mut centre = Kiosk::new("centre", broker.port);
    let mut desa = Kiosk::new("desa", broker.port);
    centre.start();
    desa.start();
    wait_for("both online", Duration::from_secs(5), || {
        centre.online(&["centre", "desa"])
    });
    let pid = desa.daemon().child.id() as i32;
    // SAFETY: signals to a child this test spawned and still owns.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let hung = Instant::now();
    wait_for("desa offline", Duration::from_secs(6), || {
        centre.sites().iter().any(|(n, on)| n == "desa" && !on)
    });
    let took = hung.elapsed();
    eprintln!("a hung kiosk offline after {took:?} (keep-alive 2 s)");
    assert!(
        took >= Duration::from_secs(2),
        "offline before a keep-alive passed"
    );
    unsafe { libc::kill(pid, libc::SIGCONT) };
    wait_for("desa online again", Duration::from_secs(10), || {
        centre.online(&["centre", "desa"])
    });
}

/// A bare MQTT 3.1.1 client for the tests' own publishes (no second crate,
/// no mosquitto_pub): CONNECT, PUBLISH at QoS 0, DISCONNECT.
fn publish_raw(port: u16, user: &str, messages: &[(String, Vec<u8>)]) {
    fn remaining(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            out.push(b);
            if n == 0 {
                break;
            }
        }
    }
    fn string(s: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut body = Vec::new();
    string(b"MQTT", &mut body);
    body.extend_from_slice(&[4, 0x82, 0, 30]); // level 4, clean session + username
    string(
        format!("test-{user}-{}", std::process::id()).as_bytes(),
        &mut body,
    );
    string(user.as_bytes(), &mut body);
    let mut packet = vec![0x10];
    remaining(body.len(), &mut packet);
    packet.extend(body);
    s.write_all(&packet).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack[3], 0, "the broker refused the test's connection");
    for (topic, payload) in messages {
        let mut body = Vec::new();
        string(topic.as_bytes(), &mut body);
        body.extend_from_slice(payload);
        let mut packet = vec![0x30];
        remaining(body.len(), &mut packet);
        packet.extend(body);
        s.write_all(&packet).unwrap();
    }
    s.write_all(&[0xe0, 0]).unwrap();
}

fn order(id: &str, issued_ms: i64, expires_ms: Option<i64>, request: Value) -> Vec<u8> {
    let mut o = json!({
        "id": id, "origin": "centre", "user": "tester", "issued_ms": issued_ms,
        "request": request,
    });
    if let Some(e) = expires_ms {
        o["expires_ms"] = e.into();
    }
    serde_json::to_vec(&o).unwrap()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn an_order_plays_once_never_stale_and_a_later_stop_wins() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let mut k = Kiosk::new("wlingi", broker.port);
    k.start();
    wait_for("online", Duration::from_secs(5), || k.online(&["wlingi"]));
    let to_all = format!("{PREFIX}/orders/all");
    let now = now_ms();
    let say = json!({"cmd": "say", "text": "Kerja bakti besok pagi.", "zones": ["all"]});

    // The same order twice: carried out once.
    let once = order("centre-1-aa", now, Some(now + 60_000), say.clone());
    publish_raw(
        broker.port,
        "centre",
        &[(to_all.clone(), once.clone()), (to_all.clone(), once)],
    );
    let d = k.daemon();
    d.wait_log("regency: order received again", Duration::from_secs(10));
    d.wait_log("regency: order carried out", Duration::from_secs(10));
    assert_eq!(d.log_lines(&["order carried out", "centre-1-aa"]).len(), 1);
    assert!(
        k.hears_sound(Duration::from_secs(5)),
        "the order did not play"
    );

    // Expired when it arrives: refused and logged, nothing plays.
    let stale = order(
        "centre-2-bb",
        now - 120_000,
        Some(now - 60_000),
        say.clone(),
    );
    publish_raw(broker.port, "centre", &[(to_all.clone(), stale)]);
    d.wait_log("order refused: expired", Duration::from_secs(10));
    assert!(d
        .log_lines(&["order carried out", "centre-2-bb"])
        .is_empty());

    // A stop issued after an emergency but delivered first: the emergency
    // (a reconnect's late delivery) is refused.
    let stop = order(
        "centre-4-dd",
        now + 2,
        None,
        json!({"cmd": "emergency", "stop": true, "zones": ["all"]}),
    );
    let late = order(
        "centre-3-cc",
        now + 1,
        Some(now + 60_000),
        json!({"cmd": "emergency", "text": "Banjir!", "zones": ["all"]}),
    );
    publish_raw(
        broker.port,
        "centre",
        &[(to_all.clone(), stop), (to_all.clone(), late)],
    );
    d.wait_log("outranks it", Duration::from_secs(10));
    assert!(d
        .log_lines(&["order carried out", "centre-3-cc"])
        .is_empty());

    // The same in the order issued (an emergency, then its stop, queued
    // together for a kiosk that was away): the stop right behind wins and
    // the emergency never starts.
    let now = now_ms();
    let queued = order(
        "centre-5-ee",
        now,
        Some(now + 60_000),
        json!({"cmd": "emergency", "text": "Banjir!", "zones": ["all"]}),
    );
    let stop = order(
        "centre-6-ff",
        now + 1,
        None,
        json!({"cmd": "emergency", "stop": true, "zones": ["all"]}),
    );
    publish_raw(
        broker.port,
        "centre",
        &[(to_all.clone(), queued), (to_all.clone(), stop)],
    );
    d.wait_log("centre-6-ff", Duration::from_secs(10));
    d.wait_log_count("outranks it", 2, Duration::from_secs(10));
    assert!(d
        .log_lines(&["order carried out", "centre-5-ee"])
        .is_empty());

    // A file the operator names that is not there: refused before anything
    // is sent, naming it.
    let (code, _, err) = k.st.client(&[
        "emergency",
        "/tmp/corong-tidak-ada/peringatan.wav",
        "--sites",
        "all",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("peringatan.wav"), "{err}");

    // Remembered across a restart: the first order again plays nothing.
    drop(k.daemon.take());
    k.start();
    wait_for("online again", Duration::from_secs(5), || {
        k.online(&["wlingi"])
    });
    let again = order("centre-1-aa", now, Some(now + 60_000), say);
    publish_raw(broker.port, "centre", &[(to_all.clone(), again)]);
    k.daemon()
        .wait_log("regency: order received again", Duration::from_secs(10));
    assert!(k
        .daemon()
        .log_lines(&["order carried out", "centre-1-aa"])
        .is_empty());
}

#[test]
fn malformed_and_oversized_payloads_are_refused_and_change_nothing() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let mut k = Kiosk::new("wlingi", broker.port);
    k.start();
    wait_for("online", Duration::from_secs(5), || k.online(&["wlingi"]));
    let before = k.json(&["sites", "--json"])["sites"].clone();
    let hostile = vec![
        (format!("{PREFIX}/orders/all"), b"{not json".to_vec()),
        (format!("{PREFIX}/orders/all"), vec![b' '; 20_000]),
        (
            format!("{PREFIX}/orders/wlingi"),
            br#"{"id":"x","origin":"y","user":"z","issued_ms":1,"request":{"cmd":"reload"}}"#
                .to_vec(),
        ),
        (format!("{PREFIX}/sites/ghost/state"), b"[1,2,3]".to_vec()),
        (format!("{PREFIX}/sites/ghost/online"), b"\xff\xfe".to_vec()),
    ];
    publish_raw(broker.port, "centre", &hostile);
    let d = k.daemon();
    d.wait_log_count("refused:", 5, Duration::from_secs(10));
    assert_eq!(
        d.log_lines(&["regency:", "refused"]).len(),
        5,
        "{}",
        d.log_text()
    );
    assert!(d.log_lines(&["order carried out"]).is_empty());
    assert_eq!(k.json(&["sites", "--json"])["sites"], before);
    let q = k.json(&["queue", "--json"]);
    assert!(q["jobs"].as_array().is_none_or(|j| j.is_empty()), "{q}");
}

/// A peer gone wrong floods the broker with payloads that do not read:
/// the kiosk's own emergency is on the air at once all the same, its log
/// takes a bounded number of lines, and a good order after the flood is
/// carried out.
#[test]
fn a_flood_on_the_broker_keeps_no_emergency_off_the_air() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let mut k = Kiosk::new("wlingi", broker.port);
    common::tone_wav(&k.st.path("media/banjir.wav"), 500.0, 2.0);
    k.start();
    wait_for("online", Duration::from_secs(5), || k.online(&["wlingi"]));
    let port = broker.port;
    let flooding = Arc::new(AtomicBool::new(true));
    let go_on = flooding.clone();
    let flood = std::thread::spawn(move || {
        let junk: Vec<(String, Vec<u8>)> = (0..2_000)
            .map(|i| match i % 3 {
                0 => (format!("{PREFIX}/orders/all"), b"{not json".to_vec()),
                1 => (format!("{PREFIX}/orders/wlingi"), vec![b'['; 4_000]),
                _ => (format!("{PREFIX}/sites/ghost/state"), b"[1,2,3]".to_vec()),
            })
            .collect();
        // Until the test has heard the emergency (20 000 messages at least).
        let mut sent = 0;
        while go_on.load(Ordering::Relaxed) || sent < 20_000 {
            publish_raw(port, "rogue", &junk);
            sent += junk.len();
        }
    });
    let d = k.daemon();
    let refused = || {
        k.json(&["sites", "--json"])["link"]["refused"]
            .as_u64()
            .unwrap()
    };
    wait_for("the flood arriving", Duration::from_secs(10), || {
        refused() > 100
    });
    k.drain();
    let file = k.st.path("media/banjir.wav");
    let asked = Instant::now();
    let at_ask = refused();
    let (code, out, err) = k.st.client(&["emergency", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        k.hears_sound(Duration::from_secs(2)),
        "no sound 2 s after the emergency, under the flood"
    );
    let on_air = asked.elapsed();
    let at_sound = refused();
    flooding.store(false, Ordering::Relaxed);
    flood.join().unwrap();
    eprintln!(
        "emergency to sound under the flood: {on_air:?} (refused {at_ask} when asked, {at_sound} at the sound)"
    );
    // The emergency was asked and heard while the flood went on.
    assert!(
        at_sound > at_ask,
        "no refusal between the ask and the sound: the flood was over"
    );
    // The broker passes on what its queues hold of 20 000 (mosquitto drops
    // QoS 0 beyond them): thousands, each refused and counted.
    wait_for("thousands refused", Duration::from_secs(10), || {
        refused() > 2_000
    });
    let (code, _, err) = k.st.client(&["emergency", "--stop"]);
    assert_eq!(code, 0, "{err}");

    // A good order after the flood is carried out.
    let now = now_ms();
    let good = order(
        "centre-9-99",
        now,
        Some(now + 60_000),
        json!({"cmd": "say", "text": "Banjir sudah surut.", "zones": ["all"]}),
    );
    publish_raw(port, "centre", &[(format!("{PREFIX}/orders/all"), good)]);
    d.wait_log("centre-9-99", Duration::from_secs(10));
    d.wait_log_count("order carried out", 1, Duration::from_secs(10));
    // Thousands of refusals, at most 20 lines of them this minute.
    let lines = d.log_lines(&["regency:", "refused"]).len();
    assert!(
        (1..=20).contains(&lines),
        "{lines} refusal lines for the flood"
    );
}

/// Another kiosk's poles and feeds are seen from here: how many of its
/// receivers report and how many went silent, and which of its hazard
/// feeds fail, in `sites --json` and in `corong sites`.
#[test]
fn another_kiosks_poles_and_failing_feeds_are_seen() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let pole = free_port_pair();
    let dead = free_port_pair();
    let mut wlingi = Kiosk::with(
        "wlingi",
        broker.port,
        Some(pole),
        &format!(
            "receiver_timeout_s = 3\n\n[[alerts.feeds]]\nname = \"bmkg\"\nkind = \"cap\"\n\
             url = \"http://127.0.0.1:{dead}/nowcast.xml\"\npoll_s = 1\n"
        ),
    );
    let mut centre = Kiosk::new("centre", broker.port);
    wlingi.start();
    centre.start();
    let wav = wlingi.st.path("pole.wav");
    let mut receiver = common::station::corong()
        .args([
            "receive",
            "--listen",
            &format!("127.0.0.1:{pole}"),
            "--codec",
            "l16",
            "--wav",
        ])
        .arg(&wav)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start corong receive");
    let seen = |want: &dyn Fn(&Value) -> bool| {
        let v = centre.json(&["sites", "--json"]);
        v["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "wlingi")
            .is_some_and(want)
    };
    wait_for(
        "wlingi's pole and failing feed seen",
        Duration::from_secs(15),
        || {
            seen(&|s| {
                s["zones"][0]["receivers"] == 1
                    && s["zones"][0]["receivers_silent"].is_null()
                    && s["feeds_failing"][0]["name"] == "bmkg"
            })
        },
    );
    // The pole dies without a word: silent after 3 s, and said so here.
    receiver.kill().unwrap();
    receiver.wait().unwrap();
    wait_for("wlingi's pole silent", Duration::from_secs(15), || {
        seen(&|s| s["zones"][0]["receivers_silent"] == 1)
    });
    let (code, out, err) = centre.st.client(&["sites"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 of 1 poles silent"), "{out}");
    assert!(out.contains("feed bmkg failing"), "{out}");
}

/// A file ordered to every kiosk travels by reference: each plays its own
/// copy, found by content whatever its name; the kiosk that sent it has
/// one (the command copies it there); a kiosk without it refuses, saying
/// which file and where to put it.
#[test]
fn a_file_is_ordered_by_its_content_and_each_kiosk_plays_its_own_copy() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let mut centre = Kiosk::new("centre", broker.port);
    let mut wlingi = Kiosk::new("wlingi", broker.port);
    let mut kanigoro = Kiosk::new("kanigoro", broker.port);
    // The operator's file, outside any kiosk's folders.
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("peringatan-banjir.wav");
    common::tone_wav(&file, 660.0, 2.0);
    // wlingi has the same content under another name in its media folder.
    std::fs::create_dir_all(wlingi.st.path("media/arsip")).unwrap();
    std::fs::copy(&file, wlingi.st.path("media/arsip/banjir-2026.wav")).unwrap();
    for k in [&mut centre, &mut wlingi, &mut kanigoro] {
        k.start();
    }
    wait_for("all online", Duration::from_secs(10), || {
        centre.online(&["centre", "wlingi", "kanigoro"])
    });
    let v = centre.json(&[
        "announce",
        file.to_str().unwrap(),
        "--sites",
        "all",
        "--no-chime",
        "--json",
    ]);
    let ack = |site: &str| {
        v["acks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["site"] == site)
            .cloned()
            .unwrap_or_else(|| panic!("no answer from {site}: {v}"))
    };
    assert_eq!(ack("centre")["accepted"], true, "{v}");
    assert_eq!(ack("wlingi")["accepted"], true, "{v}");
    let refused = ack("kanigoro");
    assert_eq!(refused["accepted"], false, "{v}");
    let why = refused["reason"].as_str().unwrap();
    assert!(
        why.contains("peringatan-banjir.wav") && why.contains("is not on this kiosk"),
        "{why}"
    );
    assert!(centre.hears_sound(Duration::from_secs(5)), "centre silent");
    assert!(wlingi.hears_sound(Duration::from_secs(5)), "wlingi silent");
    assert!(
        !kanigoro.hears_sound(Duration::from_secs(1)),
        "kanigoro played a file it does not have"
    );
    // wlingi played its own copy.
    let log = wlingi.daemon().log_text();
    assert!(log.contains("banjir-2026.wav"), "{log}");
}

/// The web console shows the regency: `/api/sites` answers as `corong
/// sites --json`, and the event stream brings a kiosk that comes online
/// and one that goes away.
#[test]
fn the_console_shows_the_kiosks_and_follows_them() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, None);
    let mut centre = Kiosk::with(
        "centre",
        broker.port,
        None,
        "[web]\nlisten = \"127.0.0.1:0\"\n",
    );
    http::add_user(&centre.st, "sri", "viewer", "kelud-siaga-3");
    centre.start();
    let addr = http::web_addr(centre.daemon());
    let cookie = http::login(addr, "sri", "kelud-siaga-3").cookie().unwrap();
    let mut events = http::Events::open(addr, &cookie);
    events.wait(Duration::from_secs(10), |v| {
        v["type"] == "sites" && v["this"] == "centre" && v["link"]["connected"] == true
    });

    let mut wlingi = Kiosk::new("wlingi", broker.port);
    wlingi.start();
    let v = events.wait(Duration::from_secs(10), |v| {
        v["type"] == "sites"
            && v["sites"].as_array().is_some_and(|s| {
                s.iter().any(|k| {
                    k["name"] == "wlingi" && k["online"] == true && k["zones"][0].is_object()
                })
            })
    });
    let wl = v["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "wlingi")
        .unwrap()
        .clone();
    let a = http::get(addr, "/api/sites", &cookie);
    assert_eq!(a.status, 200, "{a:?}");
    let api = a.json();
    assert!(
        api["sites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "wlingi" && k["zones"][0]["name"] == "wlingi-alun-alun"),
        "{api}"
    );
    assert_eq!(wl["zones"][0]["name"], "wlingi-alun-alun", "{wl}");

    // wlingi dies: its Last Will reaches the board.
    let mut d = wlingi.daemon.take().unwrap();
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    std::mem::forget(d);
    events.wait(Duration::from_secs(15), |v| {
        v["type"] == "sites"
            && v["sites"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|k| k["name"] == "wlingi" && k["online"] == false)
            })
    });
    // No session: refused.
    assert_eq!(http::get(addr, "/api/sites", "").status, 401);
}

/// The ACL block of docs/regency.md, as the docs give it.
fn docs_acl() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/regency.md"),
    )
    .unwrap();
    let after = doc.split("<!-- acl:").nth(1).expect("the ACL marker");
    let block = after.split("```").nth(1).expect("the ACL block");
    block.trim_start_matches('\n').to_string()
}

#[test]
fn the_docs_acl_keeps_a_kecamatan_from_ordering() {
    let Some(exe) = peers() else { return };
    let broker = Broker::start(exe, Some(&docs_acl()));
    let mut centre = Kiosk::new("centre", broker.port);
    let mut wlingi = Kiosk::new("wlingi", broker.port);
    centre.start();
    wlingi.start();
    wait_for("both online", Duration::from_secs(5), || {
        centre.online(&["centre", "wlingi"]) && wlingi.online(&["centre", "wlingi"])
    });
    // wlingi may not send orders: the broker drops its publish; no kiosk,
    // not even wlingi itself, carries it out.
    let (code, out, err) = wlingi.st.client(&[
        "emergency",
        "--text",
        "Latihan palsu.",
        "--sites",
        "all",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["acks"].as_array().unwrap().len(), 0, "{v}");
    assert!(centre.daemon().log_lines(&["order carried out"]).is_empty());
    assert!(wlingi.daemon().log_lines(&["order carried out"]).is_empty());
    assert!(!centre.hears_sound(Duration::from_millis(500)));
    // The centre may: wlingi carries it out.
    let v = centre.json(&["say", "Uji coba.", "--sites", "wlingi", "--json"]);
    let acks = v["acks"].as_array().unwrap();
    assert!(
        acks.iter()
            .any(|a| a["site"] == "wlingi" && a["accepted"] == true),
        "{v}"
    );
    assert!(wlingi.hears_sound(Duration::from_secs(5)));
}
