//! The source thread: connect with an HTTP `PUT`, encode the ring's audio
//! (Ogg Opus or MP3: `encoder.rs`) and write it; on any failure drop the
//! connection, say so once, and try again with backoff (module docs of
//! `icecast.rs`).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::encoder::{self, IcecastEncoder};
use super::title::NowPlaying;
use crate::config::{IcecastFormat, IcecastOutput as IcecastConfig};
use crate::output::{Fault, OutputHealth};

/// The first retry after a failure comes this soon...
pub const RETRY_FIRST: Duration = Duration::from_millis(250);
/// ...and each further one twice as late, up to this.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long connecting, and waiting for the server's answer, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A write the server does not take within this is a dead connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the thread sleeps when there is nothing to do.
const IDLE: Duration = Duration::from_millis(10);

/// Why a connection failed or ended: `kind` tells failures apart for the
/// log (one line per new kind), `message` is the line.
#[derive(Debug)]
struct Failure {
    kind: String,
    message: String,
}

/// A connection and the stream on it.
struct Session {
    stream: TcpStream,
    encoder: IcecastEncoder,
}

pub(super) struct Source {
    zone: String,
    config: IcecastConfig,
    rate: u32,
    channels: u16,
    ring: rtrb::Consumer<f32>,
    connected: Arc<AtomicBool>,
    /// Connections made so far (the metadata thread sends the title again
    /// on each).
    connections: Arc<AtomicU64>,
    health: Arc<OutputHealth>,
    fault: Arc<Fault>,
    now_playing: Arc<NowPlaying>,
    /// The title the stream carries, and its version.
    title: String,
    title_version: u64,
    /// One 20 ms frame being gathered, interleaved.
    frame: Vec<f32>,
    frame_len: usize,
    out: Vec<u8>,
}

/// What the source thread shares with the output and the metadata
/// thread.
pub(super) struct Shared {
    pub connected: Arc<AtomicBool>,
    pub connections: Arc<AtomicU64>,
    pub health: Arc<OutputHealth>,
    pub fault: Arc<Fault>,
    pub now_playing: Arc<NowPlaying>,
}

impl Source {
    pub(super) fn new(
        zone: &str,
        config: &IcecastConfig,
        rate: u32,
        channels: u16,
        ring: rtrb::Consumer<f32>,
        shared: Shared,
    ) -> Result<Source, String> {
        // Checked here so that a wrong rate is an error at build, not a
        // thread that fails every connection.
        let kbps = encoder::kbps(config.format, channels, config.bitrate_kbps);
        encoder::check(config.format, rate, channels, kbps)?;
        let frame_len = rate as usize / 50 * channels as usize;
        Ok(Source {
            zone: zone.to_string(),
            config: config.clone(),
            rate,
            channels,
            ring,
            connected: shared.connected,
            connections: shared.connections,
            health: shared.health,
            fault: shared.fault,
            now_playing: shared.now_playing,
            title: String::with_capacity(super::title::TITLE_MAX),
            title_version: 0,
            frame: Vec::with_capacity(frame_len),
            frame_len,
            out: Vec::with_capacity(16 * 1024),
        })
    }

    pub(super) fn run(&mut self) {
        let mut session: Option<Session> = None;
        let mut retry_at = Instant::now();
        let mut delay = RETRY_FIRST;
        // The kind of failure last logged (None: connected, or never
        // failed), and since when the source is down.
        let mut logged: Option<String> = None;
        let mut down_since: Option<Instant> = None;
        loop {
            let finished = self.ring.is_abandoned();
            match session.as_mut() {
                None => {
                    self.discard();
                    if finished {
                        break;
                    }
                    let now = Instant::now();
                    if now < retry_at {
                        std::thread::sleep((retry_at - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    match self.connect() {
                        Ok(s) => {
                            session = Some(s);
                            delay = RETRY_FIRST;
                            self.fault.clear();
                            match down_since.take() {
                                Some(since) if logged.is_some() => tracing::info!(
                                    zone = %self.zone,
                                    output = %self.label(),
                                    "streaming to Icecast {} again after {} s",
                                    self.config.url,
                                    since.elapsed().as_secs()
                                ),
                                _ => tracing::info!(
                                    zone = %self.zone,
                                    output = %self.label(),
                                    "streaming {} to Icecast {}",
                                    match self.config.format {
                                        IcecastFormat::Opus => "Ogg Opus",
                                        IcecastFormat::Mp3 => "MP3",
                                    },
                                    self.config.url
                                ),
                            }
                            logged = None;
                            // Audio from now on; what came before is gone.
                            self.frame.clear();
                            self.connections.fetch_add(1, Ordering::Release);
                            self.connected.store(true, Ordering::Release);
                        }
                        Err(f) => {
                            down_since.get_or_insert_with(Instant::now);
                            self.failed(f, &mut logged);
                            retry_at = Instant::now() + delay;
                            delay = (delay * 2).min(RETRY_MAX);
                        }
                    }
                }
                Some(s) => {
                    let result = if finished {
                        // Everything pushed before the producer went away
                        // is in the ring: send it and end the stream.
                        self.pump(s).and_then(|_| {
                            s.encoder.finish(&mut self.out);
                            self.send(s)
                        })
                    } else {
                        self.pump(s)
                    };
                    if finished {
                        break;
                    }
                    match result {
                        Ok(0) => std::thread::sleep(IDLE),
                        Ok(_) => {}
                        Err(e) => {
                            self.connected.store(false, Ordering::Relaxed);
                            session = None;
                            down_since = Some(Instant::now());
                            let f = Failure {
                                kind: "lost".into(),
                                message: format!(
                                    "lost the connection to Icecast {}: {e}; reconnecting (the zone's audio is dropped until then)",
                                    self.config.url
                                ),
                            };
                            self.failed(f, &mut logged);
                            retry_at = Instant::now() + RETRY_FIRST;
                            delay = RETRY_FIRST * 2;
                        }
                    }
                }
            }
        }
        self.connected.store(false, Ordering::Relaxed);
    }

    fn label(&self) -> String {
        format!("icecast {}", self.config.url)
    }

    /// Log a failure if it is of a new kind, and hold it as the fault.
    fn failed(&self, f: Failure, logged: &mut Option<String>) {
        if logged.as_deref() != Some(f.kind.as_str()) {
            if f.kind == "401" {
                tracing::error!(zone = %self.zone, output = %self.label(), "{}", f.message);
            } else {
                tracing::warn!(zone = %self.zone, output = %self.label(), "{}", f.message);
            }
            *logged = Some(f.kind);
        }
        self.fault.set(f.message);
    }

    /// Throw away what the ring holds (audio from before a disconnect),
    /// counted.
    fn discard(&mut self) {
        let n = self.ring.slots();
        if n > 0 {
            if let Ok(chunk) = self.ring.read_chunk(n) {
                chunk.commit_all();
            }
            self.health
                .record_dropped(n / self.channels.max(1) as usize);
        }
    }

    /// Encode what the ring holds and send the pages it completes; the
    /// samples taken.
    fn pump(&mut self, s: &mut Session) -> io::Result<usize> {
        let n = self.ring.slots();
        if n == 0 {
            return Ok(0);
        }
        // A new title in an Ogg stream: a new chained stream from here.
        if self.config.format == IcecastFormat::Opus
            && self.now_playing.version() != self.title_version
            && self.frame.is_empty()
        {
            if let Some(v) = self.now_playing.try_read(&mut self.title) {
                self.title_version = v;
                if let Err(e) = s.encoder.retitle(&self.title, &mut self.out) {
                    return Err(io::Error::other(e));
                }
            }
        }
        let chunk = self.ring.read_chunk(n).expect("slots are available");
        let (a, b) = chunk.as_slices();
        for &x in a.iter().chain(b) {
            self.frame.push(x);
            if self.frame.len() == self.frame_len {
                s.encoder.encode(&self.frame, &mut self.out);
                self.frame.clear();
            }
        }
        chunk.commit_all();
        self.send(s)?;
        Ok(n)
    }

    /// Write the pages gathered in `out`.
    fn send(&mut self, s: &mut Session) -> io::Result<usize> {
        if self.out.is_empty() {
            return Ok(0);
        }
        // A failed write is not a send error of the kind RTP counts (the
        // control plane would report it for a minute): it ends the
        // connection, and the fault says so while it lasts.
        let result = s.stream.write_all(&self.out);
        if result.is_ok() {
            self.health.record_sent(self.out.len());
        }
        let n = self.out.len();
        self.out.clear();
        result.map(|_| n)
    }

    /// Connect, ask for the mount and start a new stream (Ogg: its
    /// headers, with the title of what plays).
    fn connect(&mut self) -> Result<Session, Failure> {
        let url = self.config.url.clone();
        let io_failure = |e: io::Error| Failure {
            kind: format!("io {:?}", e.kind()),
            message: format!(
                "cannot reach Icecast {url}: {e}; retrying every few seconds, the zone plays on"
            ),
        };
        let c = &self.config;
        let addr = (c.host.as_str(), c.port)
            .to_socket_addrs()
            .map_err(io_failure)?
            .next()
            .ok_or_else(|| io_failure(io::Error::other("the host has no address")))?;
        let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(io_failure)?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .and_then(|_| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
            .map_err(io_failure)?;
        let request = format!(
            "PUT {mount} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n\
             User-Agent: corong/{version}\r\nContent-Type: {mime}\r\nice-public: 0\r\n\
             ice-name: {zone}\r\nice-description: corong zone {zone}\r\n\
             ice-audio-info: channels={channels};samplerate={rate};bitrate={kbps}\r\n\
             Expect: 100-continue\r\n\r\n",
            mount = c.mount,
            host = c.host,
            port = c.port,
            auth = base64(format!("{}:{}", c.user, c.password.0).as_bytes()),
            version = env!("CARGO_PKG_VERSION"),
            zone = self.zone,
            channels = self.channels,
            rate = self.rate,
            mime = encoder::content_type(c.format),
            kbps = encoder::kbps(c.format, self.channels, c.bitrate_kbps),
        );
        stream.write_all(request.as_bytes()).map_err(io_failure)?;
        let status = read_status(&mut stream).map_err(io_failure)?;
        let code = status.split_whitespace().nth(1).unwrap_or("");
        match code {
            "100" | "200" => {}
            "401" => {
                return Err(Failure {
                    kind: "401".into(),
                    message: format!(
                        "Icecast {} refused the source password of user `{}` (401 Unauthorized): check the zone's icecast password_file against the server's <source-password>; retrying, at most every 5 s",
                        c.url, c.user
                    ),
                })
            }
            _ => {
                let hint = if code == "403" {
                    " (another source feeds that mount, or the server takes no Ogg there)"
                } else {
                    ""
                };
                return Err(Failure {
                    kind: format!("http {code}"),
                    message: format!(
                        "Icecast {} refused the source: `{status}`{hint}; retrying every few seconds",
                        c.url
                    ),
                });
            }
        }
        // The title of what plays now; the zone's name until something
        // has played.
        match self.now_playing.try_read(&mut self.title) {
            Some(v) if v > 0 => self.title_version = v,
            _ => {
                self.title_version = self.now_playing.version();
                self.title.clear();
                self.title.push_str(&self.zone);
            }
        }
        let encoder = IcecastEncoder::start(
            c.format,
            self.rate,
            self.channels,
            encoder::kbps(c.format, self.channels, c.bitrate_kbps),
            &self.title,
            &mut self.out,
        )
        .map_err(|e| Failure {
            kind: "encoder".into(),
            message: format!("cannot start the encoder: {e}"),
        })?;
        let mut session = Session { stream, encoder };
        self.send(&mut session).map_err(io_failure)?;
        Ok(session)
    }
}

/// Read the answer's head (up to the blank line) and return its status
/// line. Reads byte by byte so that nothing after the head is taken.
fn read_status(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() > 8192 {
            return Err(io::Error::other("the server's answer has no end"));
        }
        match stream.read(&mut byte)? {
            0 => return Err(io::Error::other("the server closed the connection")),
            _ => head.push(byte[0]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// Standard base64 with padding, for Basic auth.
pub(super) fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= group.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_rfc_4648_says() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("source:hackme", "c291cmNlOmhhY2ttZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain}");
        }
    }
}
