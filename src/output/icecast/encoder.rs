//! What differs between the stream formats: [`IcecastEncoder`] turns the
//! zone's 20 ms frames into the bytes sent on the source connection, Ogg
//! Opus or MP3. Connecting, sending, backoff and drop counting are the
//! same for both (`source.rs`).

use audiopus::coder::Encoder as OpusEncoder;
use audiopus::{Application, Bitrate};

use super::mp3::Mp3;
use super::ogg::{opus_head, opus_tags, OggStream, PACKETS_PER_PAGE};
use crate::config::IcecastFormat;

/// The Ogg Opus stream's bitrate by default, kbit/s: music and speech at
/// near-broadcast quality for phones.
pub const ICECAST_KBPS: i32 = 48;
/// The MP3 stream's bitrate per channel by default, kbit/s: 64 mono (128 stereo),
/// which every phone and browser plays and speech and music survive.
pub const MP3_KBPS_PER_CHANNEL: u32 = 64;
/// Opus frames are 20 ms: 960 ticks of the 48 kHz granule clock.
const FRAME_TICKS: u64 = 960;

/// The format's parts that do not depend on a connection.
pub fn content_type(format: IcecastFormat) -> &'static str {
    match format {
        IcecastFormat::Opus => "audio/ogg",
        IcecastFormat::Mp3 => "audio/mpeg",
    }
}

/// The stream's bitrate, kbit/s: the zone's `bitrate_kbps` (checked at
/// load) or the format's default. The encoder is set to it and
/// `ice-audio-info` says it.
pub fn kbps(format: IcecastFormat, channels: u16, configured: Option<u32>) -> u32 {
    configured.unwrap_or(match format {
        IcecastFormat::Opus => ICECAST_KBPS as u32,
        IcecastFormat::Mp3 => MP3_KBPS_PER_CHANNEL * channels.clamp(1, 2) as u32,
    })
}

/// A connection's encoder. See the module docs.
pub enum IcecastEncoder {
    OggOpus(Box<OggOpus>),
    Mp3(Box<Mp3>),
}

impl IcecastEncoder {
    /// A new encoder for a new connection, at `kbps` ([`kbps`]); `title`
    /// is what plays now (the Ogg stream carries it in its header). Its
    /// first bytes (Ogg's headers) go into `out`.
    pub fn start(
        format: IcecastFormat,
        rate: u32,
        channels: u16,
        kbps: u32,
        title: &str,
        out: &mut Vec<u8>,
    ) -> Result<IcecastEncoder, String> {
        Ok(match format {
            IcecastFormat::Opus => {
                let mut e = OggOpus::new(rate, channels, kbps)?;
                e.begin(title, out)?;
                IcecastEncoder::OggOpus(Box::new(e))
            }
            IcecastFormat::Mp3 => IcecastEncoder::Mp3(Box::new(Mp3::new(rate, channels, kbps)?)),
        })
    }

    /// Encode one 20 ms frame (interleaved), appending what is complete.
    pub fn encode(&mut self, frame: &[f32], out: &mut Vec<u8>) {
        match self {
            IcecastEncoder::OggOpus(e) => e.encode(frame, out),
            IcecastEncoder::Mp3(e) => e.encode(frame, out),
        }
    }

    /// A new title at an item boundary. Ogg: the stream ends and a new
    /// one (chained, RFC 3533 4) starts with the title in its `OpusTags`.
    /// MP3 carries no title in the stream: the metadata thread tells the
    /// server instead (`metadata.rs`).
    pub fn retitle(&mut self, title: &str, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            IcecastEncoder::OggOpus(e) => {
                e.end(out);
                e.begin(title, out)
            }
            IcecastEncoder::Mp3(_) => Ok(()),
        }
    }

    /// The end of the stream: what the encoder still holds.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            IcecastEncoder::OggOpus(e) => e.end(out),
            IcecastEncoder::Mp3(e) => e.finish(out),
        }
    }
}

/// Check at build that `format` takes audio at `rate`, `channels` and
/// `kbps`, so that a wrong rate is an error then, not a thread that fails
/// every connection.
pub fn check(format: IcecastFormat, rate: u32, channels: u16, kbps: u32) -> Result<(), String> {
    match format {
        IcecastFormat::Opus => opus_encoder(rate, channels, kbps).map(|_| ()),
        IcecastFormat::Mp3 => Mp3::new(rate, channels, kbps).map(|_| ()),
    }
}

/// Ogg Opus: 20 ms Opus packets gathered into pages, one logical stream
/// per title (chained).
pub struct OggOpus {
    rate: u32,
    channels: u16,
    kbps: u32,
    encoder: OpusEncoder,
    ogg: OggStream,
    granule: u64,
    packet: Vec<u8>,
}

impl OggOpus {
    fn new(rate: u32, channels: u16, kbps: u32) -> Result<OggOpus, String> {
        Ok(OggOpus {
            rate,
            channels,
            kbps,
            encoder: opus_encoder(rate, channels, kbps)?,
            ogg: OggStream::new(rand::random()),
            granule: 0,
            packet: vec![0u8; 4000],
        })
    }

    /// Start a logical stream: `OpusHead`, then `OpusTags` with `title`,
    /// each on its own page. A chained stream starts with a fresh encoder
    /// state, as its decoder will.
    fn begin(&mut self, title: &str, out: &mut Vec<u8>) -> Result<(), String> {
        if self.granule > 0 {
            self.encoder = opus_encoder(self.rate, self.channels, self.kbps)?;
        }
        let lookahead = self.encoder.lookahead().unwrap_or(0) as u64;
        let pre_skip = (lookahead * 48_000 / self.rate as u64) as u16;
        self.ogg = OggStream::new(rand::random());
        self.granule = 0;
        self.ogg
            .add_packet(&opus_head(self.channels as u8, pre_skip, self.rate), 0, out);
        self.ogg.flush(0, false, out);
        let tags = opus_tags(
            concat!("corong ", env!("CARGO_PKG_VERSION")),
            &[format!("TITLE={title}")],
        );
        self.ogg.add_packet(&tags, 0, out);
        self.ogg.flush(0, false, out);
        Ok(())
    }

    fn encode(&mut self, frame: &[f32], out: &mut Vec<u8>) {
        let len = self
            .encoder
            .encode_float(frame, &mut self.packet)
            .unwrap_or(0);
        if len == 0 {
            return;
        }
        self.ogg.add_packet(&self.packet[..len], self.granule, out);
        self.granule += FRAME_TICKS;
        if self.ogg.pending() >= PACKETS_PER_PAGE {
            self.ogg.flush(self.granule, false, out);
        }
    }

    /// End the logical stream (its last page marked so).
    fn end(&mut self, out: &mut Vec<u8>) {
        self.ogg.flush(self.granule, true, out);
    }
}

/// The stream's Opus encoder: music and speech (application audio), at
/// `kbps`.
fn opus_encoder(rate: u32, channels: u16, kbps: u32) -> Result<OpusEncoder, String> {
    let (sample_rate, ch) = crate::rtp::opus::libopus_format(rate, channels)?;
    let mut e = OpusEncoder::new(sample_rate, ch, Application::Audio).map_err(|e| e.to_string())?;
    let bits = i32::try_from(kbps * 1000).map_err(|_| format!("{kbps} kbit/s"))?;
    e.set_bitrate(Bitrate::BitsPerSecond(bits))
        .map_err(|e| e.to_string())?;
    Ok(e)
}
