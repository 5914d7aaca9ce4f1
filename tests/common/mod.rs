//! Helpers shared by the integration tests: real peers and signal checks.
#![allow(dead_code)]

pub mod station;

use std::path::Path;
use std::process::Command;

/// A 48 kHz mono 16-bit sine at amplitude 0.4 of `seconds`, written with
/// hound (no peer program needed).
pub fn tone_wav(path: &Path, freq: f32, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(48_000.0 * seconds) as usize {
        let t = i as f32 / 48_000.0;
        let s = 0.4 * (2.0 * std::f32::consts::PI * freq * t).sin();
        w.write_sample((s * i16::MAX as f32) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Whether the external program `name` (ffmpeg, gst-launch-1.0, espeak-ng,
/// ...) can run here. When it can't: under `CORONG_REQUIRE_PEERS=1` (CI) the
/// test fails; otherwise it is reported and the caller skips.
pub fn require_peer(name: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CORONG_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "peer program `{name}` is required (CORONG_REQUIRE_PEERS=1) but is not installed"
            );
        }
        eprintln!("skipping: peer program `{name}` is not installed");
    }
    found
}

/// Run a command and panic with its stderr if it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait for a peer program (a receiver: ffmpeg, GStreamer, `corong
/// receive`) to exit by itself within `limit`; it must succeed. Otherwise
/// kill it and fail with its log.
pub fn wait_success(child: &mut std::process::Child, limit: std::time::Duration, log: &Path) {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "{status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "did not finish within {limit:?}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Generate a sine tone file with ffmpeg: `freq` Hz, `seconds` long, at
/// `rate` Hz and `channels` channels, amplitude 0.5 (-6 dBFS) in every
/// channel. Extra ffmpeg output options (codec, sample format) go in
/// `out_opts`. (`aevalsrc` states the amplitude exactly; ffmpeg's `sine`
/// source is fixed at 1/8.)
pub fn ffmpeg_tone(
    path: &Path,
    freq: f64,
    seconds: f64,
    rate: u32,
    channels: u16,
    out_opts: &[&str],
) {
    let one = format!("0.5*sin(2*PI*{freq}*t)");
    let exprs = vec![one; channels as usize].join("|");
    let src = format!("aevalsrc={exprs}:s={rate}:d={seconds}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &src])
        .args(out_opts)
        .arg(path);
    run(&mut cmd);
}

/// Read a WAV file as f32 samples of its first channel, with its rate.
pub fn read_wav_mono(path: &Path) -> (Vec<f32>, u32) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let spec = reader.spec();
    let ch = spec.channels as usize;
    let all: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(|s| s.unwrap()).collect(),
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.unwrap() as f32 / scale)
                .collect()
        }
    };
    (all.chunks(ch).map(|f| f[0]).collect(), spec.sample_rate)
}

/// Samples whose absolute value is above `threshold`: the stretch from the
/// first to the last of them, as (start, end) sample indices.
pub fn active_span(samples: &[f32], threshold: f32) -> Option<(usize, usize)> {
    let first = samples.iter().position(|s| s.abs() > threshold)?;
    let last = samples.iter().rposition(|s| s.abs() > threshold)?;
    Some((first, last + 1))
}

/// Frequency of a tone estimated from its upward zero crossings.
pub fn tone_frequency(samples: &[f32], rate: u32) -> f64 {
    let crossings: Vec<usize> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] <= 0.0 && w[1] > 0.0)
        .map(|(i, _)| i)
        .collect();
    assert!(crossings.len() >= 2, "no tone found");
    let periods = (crossings.len() - 1) as f64;
    let span = (crossings[crossings.len() - 1] - crossings[0]) as f64;
    periods * rate as f64 / span
}

/// Root mean square level.
pub fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// A UDP socket on 127.0.0.1 that reports when the kernel received each
/// datagram (`SO_TIMESTAMPNS`). On loopback the kernel stamps a datagram in
/// the sender's own send call, so these times measure the sender's pacing,
/// not how promptly the test thread got scheduled.
pub struct StampedSocket {
    sock: std::net::UdpSocket,
}

impl StampedSocket {
    pub fn bind(port: u16) -> StampedSocket {
        use std::os::fd::AsRawFd;
        let sock = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own, with a valid int option.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                &on as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_TIMESTAMPNS");
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        StampedSocket { sock }
    }

    /// Receive one datagram into `buf`: its length and the kernel's receive
    /// time (CLOCK_REALTIME, as a duration since the epoch).
    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<(usize, std::time::Duration)> {
        use std::os::fd::AsRawFd;
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain data; zeroed is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers (buf, control) for the call.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: walking the control messages the kernel wrote into
        // `control`, with the CMSG_* helpers and the length it set.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                    let at = std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                    return Ok((n as usize, at));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        panic!("no SCM_TIMESTAMPNS on the datagram");
    }
}

/// Decimate by `factor` with a box filter (mean of each block): enough to
/// compare two signals at a lower rate, applied the same way to both.
pub fn decimate(samples: &[f32], factor: usize) -> Vec<f32> {
    samples
        .chunks_exact(factor)
        .map(|c| c.iter().sum::<f32>() / factor as f32)
        .collect()
}

/// The best normalised cross-correlation of `reference` against `signal`,
/// over the offsets `from..to` of the reference's start within the signal.
/// Returns (offset, correlation in -1..=1).
pub fn best_alignment(signal: &[f32], reference: &[f32], from: usize, to: usize) -> (usize, f64) {
    let energy = |s: &[f32]| s.iter().map(|&x| x as f64 * x as f64).sum::<f64>();
    let ref_energy = energy(reference);
    let mut best = (from, f64::MIN);
    for off in from..to {
        if off + reference.len() > signal.len() {
            break;
        }
        let window = &signal[off..off + reference.len()];
        let dot: f64 = window
            .iter()
            .zip(reference)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        let c = dot / (energy(window) * ref_energy).sqrt().max(1e-12);
        if c > best.1 {
            best = (off, c);
        }
    }
    best
}

/// The frequency in each `window`-sample stretch of `samples`, estimated from
/// zero crossings (0.0 for a silent stretch): a recording read as a
/// timeline of tones.
pub fn frequency_track(samples: &[f32], rate: u32, window: usize) -> Vec<f64> {
    samples
        .chunks_exact(window)
        .map(|w| {
            if rms(w) < 0.01 {
                return 0.0;
            }
            let crossings = w.windows(2).filter(|p| p[0] <= 0.0 && p[1] > 0.0).count();
            crossings as f64 * rate as f64 / window as f64
        })
        .collect()
}

/// How many entries of `track` are within `tolerance` (relative) of `freq`.
pub fn count_near(track: &[f64], freq: f64, tolerance: f64) -> usize {
    track
        .iter()
        .filter(|&&f| (f - freq).abs() <= freq * tolerance)
        .count()
}

/// The amplitude of the `freq` component of `samples` (Goertzel), for
/// telling one tone's level apart while another plays over it.
pub fn tone_amplitude(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// Listen to an RTP stream on `sock` for `seconds` (or until it stops
/// arriving for 2 s): the packets received and the sequence gaps seen.
pub fn watch_rtp_gaps(sock: std::net::UdpSocket, seconds: u64) -> (usize, usize) {
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut last: Option<u16> = None;
    let (mut count, mut gaps) = (0, 0);
    let begin = std::time::Instant::now();
    while begin.elapsed() < std::time::Duration::from_secs(seconds) {
        let Ok(n) = sock.recv(&mut buf) else {
            break;
        };
        assert!(n > 12, "an RTP packet has a 12-byte header");
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if last.is_some_and(|l| seq != l.wrapping_add(1)) {
            gaps += 1;
        }
        last = Some(seq);
        count += 1;
    }
    (count, gaps)
}

/// A scheduled run of the playlist `lagu-nasional` at `cron` on `zones`, at
/// programme priority, with every other field at its default: what the
/// scheduler tests and the soak feed the scheduler.
pub fn schedule(name: &str, cron: &str, zones: &[&str]) -> corong::config::Schedule {
    corong::config::Schedule {
        name: name.to_string(),
        cron: corong::cron::CronSchedule::parse(cron).unwrap_or_else(|e| panic!("{e}")),
        playlist: "lagu-nasional".to_string(),
        playlist_path: std::path::PathBuf::from("/etc/corong/playlists/lagu-nasional.m3u"),
        text: None,
        zones: zones.iter().map(|z| z.to_string()).collect(),
        priority: corong::priority::Priority::PROGRAM,
        shuffle: false,
        loop_until: None,
        missed: corong::config::Missed::Skip,
        except_dates: Default::default(),
        active_from: None,
        active_until: None,
    }
}

/// Wait up to `limit` for `ok`, looking every 20 ms; panics naming `what`.
#[allow(dead_code)]
pub fn wait_until(what: &str, limit: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
