//! A throwaway station for end-to-end tests: a temp folder with a config,
//! playlists and media, and the real `corong` binary running on it.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};

/// The corong binary under test.
pub fn corong() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corong"))
}

/// A free UDP port on 127.0.0.1 whose port + 1 is free too (for RTCP).
///
/// Tests in one binary run in parallel, and a port found free and released
/// can be taken by a neighbour before its user binds it: each call hands out
/// a port no other call in this process has, starting from a base that
/// differs per process.
pub fn free_port_pair() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Below Linux's ephemeral range (32768 and up), where the daemons'
    // and clients' own sockets get their ports: one of those could take a
    // port between this check and the test's bind.
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    let base = (std::process::id() % 600) as u16 * 20;
    for _ in 0..1000 {
        let offset = base.wrapping_add(NEXT.fetch_add(2, Ordering::Relaxed)) % SPAN;
        let port = LOW + offset / 2 * 2;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair");
}

/// A cron expression (in UTC) that fires once, `secs` seconds from now.
pub fn cron_in(secs: i64) -> String {
    let t = Utc::now() + chrono::Duration::seconds(secs);
    format!("{} {} {} * * *", t.second(), t.minute(), t.hour())
}

/// A station folder: `config.toml`, `playlists/`, `media/`.
pub struct Station {
    pub dir: tempfile::TempDir,
}

impl Station {
    pub fn new() -> Station {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("playlists")).unwrap();
        fs::create_dir_all(dir.path().join("media")).unwrap();
        Station { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `config.toml`: `[daemon]` with UTC and a socket/state inside the
    /// folder, then `rest` verbatim.
    pub fn config(&self, rest: &str) -> PathBuf {
        let text = format!(
            "[daemon]\ntimezone = \"UTC\"\ncontrol_socket = \"run/corong.sock\"\nstate_dir = \"state\"\n\n{rest}"
        );
        let p = self.path("config.toml");
        fs::write(&p, text).unwrap();
        p
    }

    /// Write `playlists/NAME.m3u` with these lines.
    pub fn playlist(&self, name: &str, lines: &[&str]) {
        let mut text = String::from("#EXTM3U\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        fs::write(self.path(&format!("playlists/{name}.m3u")), text).unwrap();
    }

    /// The control socket of this station's daemon.
    pub fn socket(&self) -> PathBuf {
        self.path("run/corong.sock")
    }

    /// Run a client command (`corong --socket S ARGS...`) and return its
    /// exit code, stdout and stderr.
    pub fn client(&self, args: &[&str]) -> (i32, String, String) {
        let out = corong()
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run corong");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Start `corong daemon` on this folder's config.
    pub fn start(&self) -> Daemon {
        self.start_with_env(&[])
    }

    /// Start `corong daemon` with these extra environment variables (the
    /// debug-build test hooks).
    pub fn start_with_env(&self, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let log = self.path("daemon.log");
        let file = fs::File::create(&log).unwrap();
        let child = corong()
            .arg("daemon")
            .arg("--config")
            .arg(self.path("config.toml"))
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start corong daemon");
        let d = Daemon { child, log };
        d.wait_log("corong daemon started", Duration::from_secs(10));
        d
    }
}

/// A running daemon process; SIGTERMed (then killed) when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Wait until the log contains `needle`; panic with the log on timeout.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > end {
                panic!("timed out waiting for `{needle}` in the daemon log:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `needle` appears at least `count` times in the log.
    pub fn wait_log_count(&self, needle: &str, count: usize, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if text.matches(needle).count() >= count {
                return text;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {count} x `{needle}` in the daemon log:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lines of the log that contain every one of `needles`.
    ///
    /// Needles are looked for after each line's timestamp: a number such
    /// as `401` must not match the digits of the time it was logged.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        fn message(l: &str) -> &str {
            match l.split_once(' ') {
                Some((stamp, rest)) if stamp.len() >= 20 && stamp.as_bytes()[4] == b'-' => rest,
                _ => l,
            }
        }
        self.log_text()
            .lines()
            .filter(|l| needles.iter().all(|n| message(l).contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let status = terminate(&mut self.child);
        std::mem::forget(self);
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) with a pid we spawned and still own; no memory involved.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the WAV at `path` has been finalized and is at least
/// `min_bytes` long.
pub fn wait_file(path: &Path, min_bytes: u64, timeout: Duration) {
    let end = Instant::now() + timeout;
    while fs::metadata(path).map(|m| m.len()).unwrap_or(0) < min_bytes {
        assert!(Instant::now() < end, "{} never grew", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}
