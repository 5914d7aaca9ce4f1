//! The Icecast source: the zone's audio as Ogg Opus or MP3, sent to an
//! Icecast 2.4 server for listeners' phones and browsers (zone key
//! `icecast`, `format = "opus"` or `"mp3"`).
//!
//! The engine thread only copies each packet into a lock-free ring
//! ([`rtrb`], [`RING_SECONDS`] of audio) while the source is connected;
//! the source thread (`icecast/source.rs`) encodes 20 ms frames
//! (`icecast/encoder.rs`: Opus gathered into Ogg pages, `icecast/ogg.rs`,
//! or MP3 through LAME, `icecast/mp3.rs`) and writes them to the server
//! over an HTTP `PUT` (Basic auth, `Content-Type: audio/ogg` or
//! `audio/mpeg`, `ice-public: 0`, `ice-name` and `ice-description` from
//! the zone). A slow or dead server never reaches the engine:
//!
//! - While the source is not connected the engine drops each packet and
//!   counts it ([`OutputHealth::dropped_frames`]): nothing piles up, and
//!   listeners hear the zone live again once it reconnects, not what they
//!   missed. A ring full because the server stalls drops and counts too.
//! - A failed connection is tried again after [`RETRY_FIRST`], then twice
//!   as late each time up to [`RETRY_MAX`] (5 s), so a restarted server is
//!   fed again within seconds.
//! - Every new connection is a new stream (Ogg: headers first), as
//!   Icecast and its listeners expect of a source that comes back.
//! - The log gets one line when the state changes (connected; a failure
//!   of a new kind, such as a refused password, said once however often it
//!   is retried; connected again), and [`Fault`] holds the failure while
//!   it lasts, so `status` and `zones` show the zone `degraded` with it.
//!
//! The title of what plays ([`NowPlaying`], set by the daemon when an item
//! goes on air; the engine never sees it): an Ogg stream carries it in its
//! `OpusTags`, and a new title starts a new chained logical stream at the
//! item boundary; an MP3 mount's title goes to Icecast's admin metadata
//! endpoint from a thread of its own (`icecast/metadata.rs`).
//!
//! Not done: TLS (the loader allows plain HTTP to a loopback server only).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{Fault, Output, OutputHealth, Tick};
use crate::config::{IcecastFormat, IcecastOutput as IcecastConfig};

mod encoder;
mod metadata;
mod mp3;
mod ogg;
mod source;
mod title;

pub use encoder::{ICECAST_KBPS, MP3_KBPS_PER_CHANNEL};
pub use mp3::MP3_RATES;
pub use ogg::{crc32, PACKETS_PER_PAGE};
pub use source::{RETRY_FIRST, RETRY_MAX};
pub use title::{NowPlaying, TITLE_MAX};

/// Seconds of audio the ring holds before packets are dropped.
pub const RING_SECONDS: usize = 2;

/// A zone's Icecast source. See the module docs.
pub struct IcecastOutput {
    channels: usize,
    /// `None` only while dropping (dropping it tells the thread to end).
    producer: Option<rtrb::Producer<f32>>,
    connected: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The MP3 title sender, and what tells it to stop.
    metadata: Option<(JoinHandle<()>, Arc<AtomicBool>)>,
    health: Arc<OutputHealth>,
    fault: Arc<Fault>,
    now_playing: Arc<NowPlaying>,
}

impl IcecastOutput {
    /// Start the source thread for `zone`'s audio at `rate` Hz and
    /// `channels`: it connects at once and keeps trying (and for MP3 the
    /// title's thread). Errors: the rate is not one the format takes (the
    /// loader refuses such zones), or a thread cannot start.
    pub fn start(
        zone: &str,
        config: &IcecastConfig,
        rate: u32,
        channels: u16,
    ) -> std::io::Result<IcecastOutput> {
        let (producer, consumer) =
            rtrb::RingBuffer::new(rate as usize * channels as usize * RING_SECONDS);
        let connected = Arc::new(AtomicBool::new(false));
        let health = Arc::new(OutputHealth::default());
        let fault = Arc::new(Fault::default());
        let connections = Arc::new(AtomicU64::new(0));
        let now_playing = Arc::new(NowPlaying::default());
        let shared = source::Shared {
            connected: connected.clone(),
            connections: connections.clone(),
            health: health.clone(),
            fault: fault.clone(),
            now_playing: now_playing.clone(),
        };
        let mut source = source::Source::new(zone, config, rate, channels, consumer, shared)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let metadata = if config.format == IcecastFormat::Mp3 {
            let stop = Arc::new(AtomicBool::new(false));
            let watch = metadata::Watch {
                zone: zone.to_string(),
                config: config.clone(),
                now_playing: now_playing.clone(),
                connected: connected.clone(),
                connections,
                stop: stop.clone(),
            };
            let t = std::thread::Builder::new()
                .name("icecast-title".into())
                .spawn(move || watch.run())?;
            Some((t, stop))
        } else {
            None
        };
        let thread = std::thread::Builder::new()
            .name("icecast-source".into())
            .spawn(move || source.run())?;
        Ok(IcecastOutput {
            channels: channels.max(1) as usize,
            producer: Some(producer),
            connected,
            thread: Some(thread),
            metadata,
            health,
            fault,
            now_playing,
        })
    }

    /// Set while the source is not connected, with why.
    pub fn fault(&self) -> Arc<Fault> {
        self.fault.clone()
    }

    /// Where the daemon says what plays (see [`NowPlaying`]).
    pub fn now_playing(&self) -> Arc<NowPlaying> {
        self.now_playing.clone()
    }

    /// Whether the source is connected to the server now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

impl Output for IcecastOutput {
    fn write(&mut self, pcm: &[f32], _tick: &Tick) {
        let Some(producer) = self.producer.as_mut() else {
            return;
        };
        let frames = pcm.len() / self.channels;
        if !self.connected.load(Ordering::Relaxed) {
            self.health.record_dropped(frames);
            return;
        }
        let samples = frames * self.channels;
        match producer.write_chunk_uninit(samples) {
            Ok(chunk) => {
                chunk.fill_from_iter(pcm[..samples].iter().copied());
            }
            Err(_) => self.health.record_dropped(frames),
        }
    }

    fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }
}

impl Drop for IcecastOutput {
    fn drop(&mut self) {
        // Abandoning the ring tells the thread to end the stream and stop.
        // (Outputs are dropped off the engine thread: the engine retires
        // them.)
        drop(self.producer.take());
        if let Some((t, stop)) = self.metadata.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = t.join();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IcecastFormat, Secret};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant, SystemTime};

    fn config(port: u16) -> IcecastConfig {
        IcecastConfig {
            url: format!("http://127.0.0.1:{port}/t.ogg"),
            host: "127.0.0.1".into(),
            port,
            mount: "/t.ogg".into(),
            user: "source".into(),
            password: Secret("pw".into()),
            format: IcecastFormat::Opus,
            bitrate_kbps: None,
        }
    }

    fn tick() -> Tick {
        Tick {
            index: 0,
            deadline: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn wait(what: &str, cond: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Accept the source, check its request, answer with `status`; the
    /// request's head lines.
    fn accept(listener: &TcpListener, status: &str) -> (std::net::TcpStream, Vec<String>) {
        let (mut sock, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        sock.write_all(format!("{status}\r\n\r\n").as_bytes())
            .unwrap();
        (sock, head)
    }

    /// The request is a PUT with Basic auth and the ice headers; what
    /// follows is an Ogg Opus stream: OpusHead, OpusTags, then every packet
    /// the engine wrote, and an end-of-stream page when the output goes.
    #[test]
    fn streams_ogg_opus_after_a_put_and_ends_the_stream_when_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut out = IcecastOutput::start("pasar", &config(port), 48000, 1).unwrap();
        let health = out.health();
        let (mut sock, head) = accept(&listener, "HTTP/1.1 100 Continue");
        assert_eq!(head[0], "PUT /t.ogg HTTP/1.1");
        for want in [
            "Authorization: Basic c291cmNlOnB3",
            "Content-Type: audio/ogg",
            "ice-public: 0",
            "ice-name: pasar",
            "ice-description: corong zone pasar",
        ] {
            assert!(head.iter().any(|h| h == want), "{want} in {head:?}");
        }
        wait("connected", || out.is_connected());
        // One second of a tone, in 20 ms packets.
        for k in 0..50 {
            let pcm: Vec<f32> = (0..960)
                .map(|i| {
                    let t = (k * 960 + i) as f32 / 48000.0;
                    0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                })
                .collect();
            out.write(&pcm, &tick());
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(out);
        assert_eq!(health.dropped_frames.load(Ordering::Relaxed), 0);
        let mut data = Vec::new();
        sock.read_to_end(&mut data).unwrap();
        let pages = read_pages(&data);
        assert!(pages.len() >= 12, "{} pages", pages.len());
        let (kind, _, first) = &pages[0];
        assert_eq!(*kind, 2, "beginning of stream");
        assert_eq!(&first[0][..8], b"OpusHead");
        assert_eq!(first[0][9], 1, "mono");
        assert_eq!(&pages[1].2[0][..8], b"OpusTags");
        let (kind, granule, _) = pages.last().unwrap();
        assert_eq!(*kind & 4, 4, "end of stream");
        assert_eq!(*granule, 50 * 960);
        let packets: Vec<&Vec<u8>> = pages[2..].iter().flat_map(|p| &p.2).collect();
        assert_eq!(packets.len(), 50);
        assert!(packets
            .iter()
            .all(|p| crate::rtp::opus::packet_ticks(p) == Some(960)));
    }

    fn tone_packet(k: usize) -> Vec<f32> {
        (0..960)
            .map(|i| {
                let t = (k * 960 + i) as f32 / 48000.0;
                0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
            })
            .collect()
    }

    /// A new title mid-stream ends the Ogg stream and starts a chained
    /// one whose `OpusTags` carry it; the first stream's tags carry the
    /// zone's name (nothing had played).
    #[test]
    fn a_new_title_starts_a_chained_ogg_stream_with_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut out = IcecastOutput::start("pasar", &config(port), 48000, 1).unwrap();
        let np = out.now_playing();
        let (mut sock, _) = accept(&listener, "HTTP/1.1 200 OK");
        wait("connected", || out.is_connected());
        for k in 0..10 {
            out.write(&tone_packet(k), &tick());
            std::thread::sleep(Duration::from_millis(2));
        }
        // Let the source take those before the title changes.
        std::thread::sleep(Duration::from_millis(100));
        np.set("Adzan Subuh");
        for k in 10..20 {
            out.write(&tone_packet(k), &tick());
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(out);
        let mut data = Vec::new();
        sock.read_to_end(&mut data).unwrap();
        let pages = read_pages(&data);
        let starts: Vec<usize> = (0..pages.len()).filter(|&i| pages[i].0 & 2 == 2).collect();
        assert_eq!(starts.len(), 2, "two logical streams");
        let tags = |i: usize| String::from_utf8_lossy(&pages[i + 1].2[0]).to_string();
        assert!(
            tags(starts[0]).contains("TITLE=pasar"),
            "{}",
            tags(starts[0])
        );
        assert!(tags(starts[1]).contains("TITLE=Adzan Subuh"));
        assert_eq!(pages[starts[1] - 1].0 & 4, 4, "the first stream ended");
        let audio: usize = pages
            .iter()
            .filter(|p| !p.2.is_empty() && !p.2[0].starts_with(b"Opus"))
            .map(|p| p.2.len())
            .sum();
        assert_eq!(audio, 20, "every packet, in one stream or the other");
    }

    /// `format = "mp3"`: the same PUT with `Content-Type: audio/mpeg`,
    /// then MP3 frames (frame sync, MPEG-1 Layer III) and nothing else.
    #[test]
    fn streams_mp3_after_a_put_with_its_content_type() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut c = config(port);
        c.format = IcecastFormat::Mp3;
        c.mount = "/t.mp3".into();
        let mut out = IcecastOutput::start("pasar", &c, 48000, 1).unwrap();
        let (mut sock, head) = accept(&listener, "HTTP/1.1 200 OK");
        assert_eq!(head[0], "PUT /t.mp3 HTTP/1.1");
        assert!(
            head.iter().any(|h| h == "Content-Type: audio/mpeg"),
            "{head:?}"
        );
        assert!(
            head.iter()
                .any(|h| h == "ice-audio-info: channels=1;samplerate=48000;bitrate=64"),
            "{head:?}"
        );
        wait("connected", || out.is_connected());
        for k in 0..50 {
            out.write(&tone_packet(k), &tick());
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(out);
        let mut data = Vec::new();
        sock.read_to_end(&mut data).unwrap();
        // 64 kbit/s at 48 kHz: 192-byte frames.
        assert!(data.len() >= 40 * 192, "{} bytes", data.len());
        assert_eq!(data.len() % 192, 0, "whole frames");
        assert!(data
            .chunks(192)
            .all(|f| f[0] == 0xff && f[1] & 0xfe == 0xfa));
    }

    /// A zone's `bitrate_kbps` is what `ice-audio-info` says and what the
    /// encoder writes: Opus at 16 kbit/s (40 bytes a 20 ms packet, against
    /// 120 at the default 48), MP3 at 128 (384-byte frames at 48 kHz).
    #[test]
    fn a_configured_bitrate_is_in_the_header_and_in_the_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        for (format, kbps) in [(IcecastFormat::Opus, 16), (IcecastFormat::Mp3, 128)] {
            let mut c = config(port);
            c.format = format;
            c.bitrate_kbps = Some(kbps);
            let mut out = IcecastOutput::start("pasar", &c, 48000, 1).unwrap();
            let (mut sock, head) = accept(&listener, "HTTP/1.1 200 OK");
            let info = format!("ice-audio-info: channels=1;samplerate=48000;bitrate={kbps}");
            assert!(head.contains(&info), "{info} in {head:?}");
            wait("connected", || out.is_connected());
            for k in 0..50 {
                out.write(&tone_packet(k), &tick());
                std::thread::sleep(Duration::from_millis(2));
            }
            drop(out);
            let mut data = Vec::new();
            sock.read_to_end(&mut data).unwrap();
            if format == IcecastFormat::Opus {
                let pages = read_pages(&data);
                let packets: Vec<&Vec<u8>> = pages[2..].iter().flat_map(|p| &p.2).collect();
                assert_eq!(packets.len(), 50);
                let mean = packets.iter().map(|p| p.len()).sum::<usize>() / packets.len();
                assert!(
                    (25..=60).contains(&mean),
                    "{mean} bytes a packet at 16 kbit/s"
                );
            } else {
                assert!(data.len() >= 40 * 384, "{} bytes", data.len());
                assert_eq!(data.len() % 384, 0, "whole 128 kbit/s frames");
                assert!(data
                    .chunks(384)
                    .all(|f| f[0] == 0xff && f[2] >> 4 == 0b1001));
            }
        }
    }

    /// A refused password: not connected, the fault says why, and what the
    /// engine writes meanwhile is dropped and counted.
    #[test]
    fn a_refused_source_is_a_fault_and_its_audio_is_dropped_and_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut out = IcecastOutput::start("pasar", &config(port), 48000, 1).unwrap();
        let fault = out.fault();
        let health = out.health();
        let _first = accept(&listener, "HTTP/1.1 401 Authentication Required");
        wait("the fault", || fault.get().is_some());
        let why = fault.get().unwrap();
        assert!(
            why.contains("401 Unauthorized") && why.contains("password_file"),
            "{why}"
        );
        for _ in 0..10 {
            out.write(&[0.1; 960], &tick());
        }
        assert!(!out.is_connected());
        assert_eq!(health.dropped_frames.load(Ordering::Relaxed), 9600);
        // It tries again by itself (after its first backoff).
        let (_again, head) = accept(&listener, "HTTP/1.1 200 OK");
        assert_eq!(head[0], "PUT /t.ogg HTTP/1.1");
        wait("connected", || out.is_connected());
        assert_eq!(fault.get(), None);
    }

    #[allow(clippy::type_complexity)]
    fn read_pages(mut data: &[u8]) -> Vec<(u8, u64, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        while data.len() >= 27 {
            assert_eq!(&data[..4], b"OggS");
            let n = data[26] as usize;
            let lacing = &data[27..27 + n];
            let len = 27 + n + lacing.iter().map(|&l| l as usize).sum::<usize>();
            let mut check = data[..len].to_vec();
            check[22..26].fill(0);
            assert_eq!(crc32(&check).to_le_bytes(), data[22..26], "page CRC");
            let mut packets = Vec::new();
            let mut cur = Vec::new();
            let mut at = 27 + n;
            for &l in lacing {
                cur.extend_from_slice(&data[at..at + l as usize]);
                at += l as usize;
                if l < 255 {
                    packets.push(std::mem::take(&mut cur));
                }
            }
            out.push((
                data[5],
                u64::from_le_bytes(data[6..14].try_into().unwrap()),
                packets,
            ));
            data = &data[len..];
        }
        assert!(data.is_empty(), "a partial page at the end");
        out
    }
}
