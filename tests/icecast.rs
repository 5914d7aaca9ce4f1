//! The Icecast source end to end: Debian's `icecast2` on 127.0.0.1 with a
//! config this test writes, the real daemon feeding it a zone as Ogg Opus
//! (and another as MP3), and ffmpeg listening on the mount as a resident's
//! phone would. The server is killed and started again: corong reconnects
//! by itself while the zone's RTP stream goes on without a gap. A wrong
//! password is said once in the log, however often it is retried. The
//! server's own status page shows the title of what plays on each mount.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Daemon, Station};
use common::{active_span, read_wav_mono, require_peer, rms, tone_frequency, tone_wav};

const PASSWORD: &str = "hackme-7";
/// tone_wav's amplitude: the level ffmpeg must hear back.
const AMPLITUDE: f64 = 0.4;

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `icecast2` process on 127.0.0.1:`port`, its logs in `log`.
struct Icecast {
    child: Child,
    config: PathBuf,
    log: PathBuf,
    port: u16,
}

impl Icecast {
    /// Write the server's config into `dir` and start it; wait until it
    /// accepts connections.
    fn start(dir: &Path, port: u16) -> Icecast {
        // icecast2 refuses to run as root (as CI runs) unless told whom to
        // become: nobody. It reads its config before it changes user and
        // logs to its standard error ("-"), so nothing it needs later lies
        // in the test's private folder.
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let owner = if root {
            "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
        } else {
            ""
        };
        let xml = format!(
            "<icecast>\n<location>test</location><admin>test@localhost</admin>\n\
             <limits><clients>20</clients><sources>4</sources><queue-size>262144</queue-size>\
             <client-timeout>30</client-timeout><header-timeout>5</header-timeout>\
             <source-timeout>5</source-timeout>\
             <burst-on-connect>1</burst-on-connect><burst-size>6000</burst-size></limits>\n\
             <authentication><source-password>{PASSWORD}</source-password>\
             <relay-password>{PASSWORD}</relay-password><admin-user>admin</admin-user>\
             <admin-password>{PASSWORD}</admin-password></authentication>\n\
             <hostname>127.0.0.1</hostname>\n\
             <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>\n\
             <fileserve>0</fileserve>\n\
             <paths><basedir>/usr/share/icecast2</basedir><logdir>/tmp</logdir>\
             <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>\n\
             <logging><accesslog>-</accesslog><errorlog>-</errorlog><loglevel>3</loglevel></logging>\n\
             <security><chroot>0</chroot>{owner}</security>\n</icecast>\n"
        );
        let config = dir.join("icecast.xml");
        std::fs::write(&config, xml).unwrap();
        let log = dir.join("icecast.log");
        Icecast::spawn(config, log, port)
    }

    fn spawn(config: PathBuf, log: PathBuf, port: u16) -> Icecast {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new("icecast2")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start icecast2");
        let ice = Icecast {
            child,
            config,
            log,
            port,
        };
        ice.wait_accepting();
        ice
    }

    fn wait_accepting(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "icecast2 did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill it (as a crash or a power cut would) and wait for it to go.
    fn kill(mut self) -> (PathBuf, PathBuf, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let parts = (self.config.clone(), self.log.clone(), self.port);
        std::mem::forget(self);
        parts
    }
}

impl Drop for Icecast {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A station with zone `pasar` sending L16 to `rtp_port` and Ogg Opus to
/// the server at `ice_port` with `password`, and a long tone to announce.
fn station(rtp_port: u16, ice_port: u16, password: &str) -> Station {
    let st = Station::new();
    std::fs::create_dir_all(st.path("secrets")).unwrap();
    std::fs::write(st.path("secrets/icecast"), format!("{password}\n")).unwrap();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 40.0);
    st.config(&format!(
        "[loudness]\nnormalize = false\n\n\
         [[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{rtp_port}\"]\n\
         icecast = {{ url = \"http://127.0.0.1:{ice_port}/pasar.ogg\", user = \"source\", password_file = \"secrets/icecast\", format = \"opus\" }}\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    st
}

/// `/metrics` of the daemon's web console (loopback: no login).
fn metrics(d: &Daemon) -> String {
    let text = d.wait_log("web console ready", Duration::from_secs(10));
    let line = text
        .lines()
        .find(|l| l.contains("web console ready"))
        .unwrap();
    let at = line.find("listen=").expect("listen= in the log line") + "listen=".len();
    let addr = line[at..].split_whitespace().next().unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).unwrap();
    out
}

/// The value of the sample of `family` in `metrics`.
fn sample(metrics: &str, family: &str) -> f64 {
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("{family}{{zone=\"pasar\"")))
        .unwrap_or_else(|| panic!("no {family} in {metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// ffmpeg reads `seconds` of the mount into a WAV; the tone it heard:
/// (frequency, rms level).
fn listen(url: &str, out: &Path, seconds: u32) -> (f64, f64) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-rw_timeout", "5000000", "-i", url])
        .args(["-t", &seconds.to_string(), "-ac", "1", "-ar", "48000"])
        .arg(out)
        .stdin(Stdio::null())
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not read {url}");
    let (s, rate) = read_wav_mono(out);
    let (a, b) = active_span(&s, 0.1).unwrap_or_else(|| panic!("no tone from {url}"));
    // Leave out the codec's ramp at either end.
    let edge = rate as usize / 20;
    assert!(b - a > 10 * edge, "only {} samples of tone", b - a);
    let tone = &s[a + edge..b - edge];
    let (f, level) = (tone_frequency(tone, rate), rms(tone));
    eprintln!("{url}: {f:.2} Hz, rms {level:.4}");
    (f, level)
}

fn assert_tone(f: f64, level: f64) {
    assert_tone_within(f, level, 1.0);
}

/// The tone at 1000 Hz within 1%, its level within `db_max` dB.
fn assert_tone_within(f: f64, level: f64, db_max: f64) {
    assert!((f - 1000.0).abs() <= 10.0, "tone at {f} Hz, not 1000 Hz");
    let want = AMPLITUDE / std::f64::consts::SQRT_2;
    let db = 20.0 * (level / want).log10();
    assert!(
        db.abs() <= db_max,
        "level {level:.4} is {db:.2} dB from {want:.4}"
    );
}

/// Icecast's `/status-json.xsl`, its body.
fn status_json(port: u16) -> Option<String> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).ok()?;
    sock.write_all(
        b"GET /status-json.xsl HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .ok()?;
    let mut text = String::new();
    sock.read_to_string(&mut text).ok()?;
    Some(text[text.find("\r\n\r\n")? + 4..].to_string())
}

/// Listeners on `mount` now, as Icecast counts them.
fn listeners(port: u16, mount: &str) -> u64 {
    mount_status(port, mount).map_or(0, |m| m["listeners"].as_u64().unwrap_or(0))
}

/// The title Icecast's `/status-json.xsl` shows for `mount`, if any.
fn status_title(port: u16, mount: &str) -> Option<String> {
    mount_status(port, mount)?["title"]
        .as_str()
        .map(str::to_string)
}

/// What `/status-json.xsl` says of `mount`.
fn mount_status(port: u16, mount: &str) -> Option<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_str(&status_json(port)?).ok()?;
    // One source is an object, more are an array.
    let sources = match &json["icestats"]["source"] {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    sources
        .into_iter()
        .find(|s| s["listenurl"].as_str().is_some_and(|u| u.ends_with(mount)))
}

/// Wait until `cond` holds; on timeout, panic with `logs()`.
fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    logs: impl Fn() -> String,
) {
    let end = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status_text(st: &Station) -> String {
    let (code, out, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{err}");
    out
}

/// ffmpeg hears the tone on the mount; the server is killed for 5 s and
/// started again; corong reconnects by itself and ffmpeg hears the tone
/// again (the new Ogg stream titled with the item playing), while the
/// zone's RTP stream had no gap.
#[test]
fn a_listener_hears_the_zone_and_a_restarted_server_is_fed_again() {
    if !require_peer("icecast2") || !require_peer("ffmpeg") || !require_peer("ffprobe") {
        return;
    }
    let rtp_port = free_port_pair();
    let ice_port = free_tcp_port();
    let st = station(rtp_port, ice_port, PASSWORD);
    let ice = Icecast::start(st.dir.path(), ice_port);
    let rtp = UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    let d: Daemon = st.start();
    d.wait_log("streaming Ogg Opus to Icecast", Duration::from_secs(10));
    let (code, _, err) = st.client(&["announce", "media/tone.wav", "--no-chime"]);
    assert_eq!(code, 0, "{err}");
    d.wait_log("on air zone=pasar", Duration::from_secs(5));
    // The RTP stream, watched across the whole outage.
    let watcher = std::thread::spawn(move || common::watch_rtp_gaps(rtp, 16));

    let url = format!("http://127.0.0.1:{ice_port}/pasar.ogg");
    let (f, level) = listen(&url, &st.path("before.wav"), 2);
    assert_tone(f, level);

    let (config, log, port) = ice.kill();
    d.wait_log("lost the connection to Icecast", Duration::from_secs(5));
    wait_for(
        "status to say degraded",
        Duration::from_secs(5),
        || {
            let s = status_text(&st);
            s.contains("degraded") && s.contains("icecast")
        },
        || status_text(&st),
    );
    let m = metrics(&d);
    assert_eq!(sample(&m, "corong_icecast_connected"), 0.0, "{m}");
    // The outage itself: the server stays down 5 s.
    std::thread::sleep(Duration::from_secs(5));
    // Meanwhile the mount's audio was dropped, and counted: at least 4 s.
    let dropped = sample(&metrics(&d), "corong_icecast_dropped_frames_total");
    assert!(dropped >= 4.0 * 48000.0, "{dropped} frames dropped");
    let ice = Icecast::spawn(config, log, port);
    let text = d.wait_log("streaming to Icecast", Duration::from_secs(8));
    assert!(
        text.contains(&format!("streaming to Icecast {url} again after")),
        "{text}"
    );
    let (f, level) = listen(&url, &st.path("after.wav"), 2);
    assert_tone(f, level);
    // The new connection's Ogg stream carries the title of what plays.
    assert_eq!(ogg_title(&url), "tone");
    wait_for(
        "status to say streaming",
        Duration::from_secs(5),
        || !status_text(&st).contains("degraded"),
        || status_text(&st),
    );
    assert_eq!(sample(&metrics(&d), "corong_icecast_connected"), 1.0);

    let (packets, gaps) = watcher.join().unwrap();
    assert_eq!(gaps, 0, "the RTP zone had gaps while Icecast was down");
    // 16 s of 20 ms packets (L16 48 kHz mono: two packets a packet time).
    assert!(packets >= 16 * 50, "only {packets} RTP packets in 16 s");
    // Lost once: one line, not one per retry.
    assert_eq!(
        d.log_lines(&["cannot reach Icecast"]).len(),
        1,
        "{}",
        d.log_text()
    );
    drop(ice);
}

/// A wrong password: every retry is refused with 401, and the log says so
/// once, clearly, however many retries the server saw.
#[test]
fn a_wrong_password_is_said_once_not_at_every_retry() {
    if !require_peer("icecast2") {
        return;
    }
    let rtp_port = free_port_pair();
    let ice_port = free_tcp_port();
    let st = station(rtp_port, ice_port, "not-the-password");
    let ice = Icecast::start(st.dir.path(), ice_port);
    let rtp = UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    let d = st.start();
    // Wait until the server has refused five attempts (about 4 s of
    // backoff).
    wait_for(
        "five refused attempts",
        Duration::from_secs(15),
        || {
            ice.log_text()
                .lines()
                .filter(|l| l.contains("PUT /pasar.ogg") && l.contains("\" 401 "))
                .count()
                >= 5
        },
        || format!("icecast:\n{}\ncorong:\n{}", ice.log_text(), d.log_text()),
    );
    let lines = d.log_lines(&["401"]);
    assert_eq!(lines.len(), 1, "{}", d.log_text());
    assert!(
        lines[0].contains("refused the source password of user `source`")
            && lines[0].contains("password_file"),
        "{}",
        lines[0]
    );
    let status = status_text(&st);
    assert!(status.contains("401 Unauthorized"), "{status}");
    // The rest of the zone plays on.
    let mut buf = [0u8; 2048];
    rtp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(rtp.recv(&mut buf).is_ok(), "the RTP zone still sends");
}

/// The title a listener's player reads from an Ogg mount: ffprobe's view
/// of the stream's `OpusTags` (as it is when ffprobe connects).
fn ogg_title(url: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "5000000", "-i", url])
        .args(["-show_entries", "stream_tags=title:format_tags=title"])
        .args(["-of", "default=noprint_wrappers=1:nokey=1"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Two zones on one server: `pasar` as Ogg Opus, `alun` as MP3. A tone
/// announced on both: ffmpeg hears it on the MP3 mount (1000 Hz within
/// 1%, level within 3 dB: MP3 at 64 kbit/s), Icecast's status page shows
/// the item's title ("tone", its file name) on the MP3 mount (through the
/// admin metadata update), and a player reading the Ogg mount finds it in
/// the chained stream's `OpusTags` (read by ffprobe as a player would:
/// Icecast 2.4 shows no Opus titles on its status page), while a listener
/// on the Ogg mount from before the item started hears the tone after
/// the chain boundary.
#[test]
fn an_mp3_mount_carries_the_tone_and_both_mounts_carry_the_title() {
    if !require_peer("icecast2") || !require_peer("ffmpeg") || !require_peer("ffprobe") {
        return;
    }
    let (rtp_a, rtp_b) = (free_port_pair(), free_port_pair());
    let ice_port = free_tcp_port();
    let st = Station::new();
    std::fs::create_dir_all(st.path("secrets")).unwrap();
    std::fs::write(st.path("secrets/icecast"), format!("{PASSWORD}\n")).unwrap();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 20.0);
    st.config(&format!(
        "[loudness]\nnormalize = false\n\n\
         [[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{rtp_a}\"]\n\
         icecast = {{ url = \"http://127.0.0.1:{ice_port}/pasar.ogg\", password_file = \"secrets/icecast\" }}\n\n\
         [[zones]]\nname = \"alun\"\nrtp = [\"127.0.0.1:{rtp_b}\"]\n\
         icecast = {{ url = \"http://127.0.0.1:{ice_port}/alun.mp3\", password_file = \"secrets/icecast\", format = \"mp3\", bitrate_kbps = 128 }}\n"
    ));
    let ice = Icecast::start(st.dir.path(), ice_port);
    let d: Daemon = st.start();
    d.wait_log("streaming MP3 to Icecast", Duration::from_secs(10));
    d.wait_log("streaming Ogg Opus to Icecast", Duration::from_secs(10));
    let ogg = format!("http://127.0.0.1:{ice_port}/pasar.ogg");
    // Before anything plays the Ogg stream's title is the zone's name,
    // and the MP3 mount has none.
    assert_eq!(ogg_title(&ogg), "pasar");
    assert_eq!(status_title(ice_port, "/alun.mp3"), None);
    // A listener on the Ogg mount from before the title changes (8 s: the
    // server's burst, the silence before the tone, then the tone).
    let (ogg_url, ogg_wav) = (ogg.clone(), st.path("ogg.wav"));
    let early = std::thread::spawn(move || listen(&ogg_url, &ogg_wav, 8));
    wait_for(
        "the Ogg listener",
        Duration::from_secs(5),
        || listeners(ice_port, "/pasar.ogg") == 1,
        || format!("{:?}", status_json(ice_port)),
    );
    let (code, _, err) = st.client(&["announce", "media/tone.wav", "--no-chime"]);
    assert_eq!(code, 0, "{err}");
    d.wait_log("on air zone=alun", Duration::from_secs(5));

    // The zone's bitrate_kbps reached the server (from ice-audio-info).
    let mp3 = mount_status(ice_port, "/alun.mp3").expect("the MP3 mount");
    let info = mp3["audio_info"].as_str().unwrap_or("");
    assert!(info.contains("bitrate=128"), "{mp3}");
    let url = format!("http://127.0.0.1:{ice_port}/alun.mp3");
    let (f, level) = listen(&url, &st.path("mp3.wav"), 2);
    assert_tone_within(f, level, 3.0);
    let (f, level) = early.join().unwrap();
    assert_tone(f, level);

    wait_for(
        "the title on /alun.mp3",
        Duration::from_secs(5),
        || status_title(ice_port, "/alun.mp3").as_deref() == Some("tone"),
        || {
            format!(
                "status {:?}\nicecast:\n{}\ncorong:\n{}",
                status_json(ice_port),
                ice.log_text(),
                d.log_text()
            )
        },
    );
    assert_eq!(ogg_title(&ogg), "tone");
    assert!(
        d.log_lines(&["cannot set the title"]).is_empty(),
        "{}",
        d.log_text()
    );
}
