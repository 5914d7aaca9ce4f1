//! The title of an MP3 mount, sent to Icecast's admin metadata endpoint
//! (`GET /admin/metadata?mount=..&mode=updinfo&song=..`, Basic auth with
//! the source's own credentials, which Icecast takes for its mount). An
//! MP3 stream has no place for it in the audio itself.
//!
//! Its own thread, so that a slow answer never holds up the audio: it
//! looks every [`POLL`] at the zone's [`NowPlaying`] and at the source's
//! connection count (Icecast forgets a mount's title when its source
//! comes back), and sends what changed, each request bounded by
//! [`TIMEOUT`]. A failure is logged at most once a minute and tried again
//! after [`RETRY`].

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::base64;
use super::title::NowPlaying;
use crate::config::IcecastOutput as IcecastConfig;

/// How often the thread looks for a new title.
pub const POLL: Duration = Duration::from_millis(100);
/// Connecting, writing and reading the answer each within this.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// A failed update is tried again after this.
pub const RETRY: Duration = Duration::from_secs(5);
/// A failure is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// What the metadata thread watches.
pub struct Watch {
    pub zone: String,
    pub config: IcecastConfig,
    pub now_playing: Arc<NowPlaying>,
    /// Set while the source is connected, and how many times it has
    /// connected.
    pub connected: Arc<AtomicBool>,
    pub connections: Arc<AtomicU64>,
    /// Set when the output goes.
    pub stop: Arc<AtomicBool>,
}

impl Watch {
    pub fn run(self) {
        // (title version, connection) last sent.
        let mut sent = (0u64, 0u64);
        let mut title = String::new();
        let mut retry_at: Option<Instant> = None;
        let mut logged_at: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL);
            let version = self.now_playing.version();
            let conn = self.connections.load(Ordering::Acquire);
            if version == 0
                || (version, conn) == sent
                || !self.connected.load(Ordering::Acquire)
                || retry_at.is_some_and(|t| Instant::now() < t)
            {
                continue;
            }
            let Some(version) = self.now_playing.try_read(&mut title) else {
                continue;
            };
            match self.update(&title) {
                Ok(()) => {
                    sent = (version, conn);
                    retry_at = None;
                }
                Err(e) => {
                    retry_at = Some(Instant::now() + RETRY);
                    if logged_at.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                        tracing::warn!(zone = %self.zone, output = %format!("icecast {}", self.config.url), "cannot set the title on Icecast: {e}; the audio goes on, the title is tried again");
                        logged_at = Some(Instant::now());
                    }
                }
            }
        }
    }

    /// One `updinfo` request; Ok when the server answers 200.
    fn update(&self, title: &str) -> Result<(), String> {
        let c = &self.config;
        let addr = (c.host.as_str(), c.port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("the host has no address")?;
        let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(TIMEOUT))
            .and_then(|_| s.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET /admin/metadata?mount={mount}&mode=updinfo&charset=UTF-8&song={song} HTTP/1.0\r\n\
             Host: {host}:{port}\r\nAuthorization: Basic {auth}\r\nUser-Agent: corong/{version}\r\n\r\n",
            mount = percent(&c.mount),
            song = percent(title),
            host = c.host,
            port = c.port,
            auth = base64(format!("{}:{}", c.user, c.password.0).as_bytes()),
            version = env!("CARGO_PKG_VERSION"),
        );
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        // The answer is small; read its head, bounded.
        let mut head = [0u8; 512];
        let n = s.read(&mut head).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&head[..n]);
        let status = text.lines().next().unwrap_or("").trim();
        match status.split_whitespace().nth(1) {
            Some("200") => Ok(()),
            _ => Err(format!("{} answered `{status}`", c.url)),
        }
    }
}

/// Percent-encode all but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_percent_encoded() {
        assert_eq!(percent("/pasar.mp3"), "%2Fpasar.mp3");
        assert_eq!(percent("Adzan & Doa 1"), "Adzan%20%26%20Doa%201");
        assert_eq!(percent("é"), "%C3%A9");
    }
}
