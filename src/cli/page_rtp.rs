//! `corong page --from-rtp ADDR:PORT --codec C`: the page's audio comes as
//! an RTP stream (a SIP gateway, a phone app, another corong) that the
//! client receives and decodes with the pole receiver's decoders, then
//! sends on like any live input. Packets play in the order they come (no
//! jitter buffer: the sender is meant to be near, on loopback or the LAN).
//! A packet of another payload type than the codec's ends the page with a
//! clear error.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::page_input::{Samples, INTERRUPTED};
use crate::receive::decode::Decoder;
use crate::rtp::{header, Codec};

/// How long a wait for a packet lasts before Ctrl-C and the daemon's
/// answers are looked at.
const TICK: Duration = Duration::from_millis(100);

/// Bind `addr`, and the stream's rate and mono samples. Errors are one line.
pub fn open(
    addr: &str,
    codec: &str,
    l16_rate: Option<u32>,
) -> Result<(u32, u16, Samples<'static>), String> {
    let codec = Codec::from_name(codec)
        .ok_or_else(|| format!("--codec {codec}: expected one of pcmu, l16, g722, opus"))?;
    let rate = match codec {
        Codec::L16 => l16_rate.ok_or("--codec l16 needs --rate (the stream's sample rate)")?,
        c => Decoder::rate(c, 0),
    };
    let sock = UdpSocket::bind(addr).map_err(|e| format!("--from-rtp {addr}: {e}"))?;
    sock.set_read_timeout(Some(TICK))
        .map_err(|e| format!("--from-rtp {addr}: {e}"))?;
    let mut decoder = Decoder::new(codec, 1);
    let mut packet = vec![0u8; 2048];
    let mut out = vec![0f32; Decoder::max_frames(codec) * 2];
    let (mut have, mut at) = (0usize, 0usize);
    let want = codec.payload_type();
    let addr = addr.to_string();
    let next = move || -> Option<io::Result<i16>> {
        while at >= have {
            if INTERRUPTED.load(Ordering::Relaxed) {
                return None;
            }
            let n = match sock.recv(&mut packet) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Nothing yet: the caller looks at Ctrl-C and the daemon.
                    return Some(Err(io::Error::from(io::ErrorKind::Interrupted)));
                }
                Err(e) => return Some(Err(e)),
            };
            let Some(rtp) = header::parse(&packet[..n]) else {
                continue; // not RTP (an RTCP report, noise): not audio
            };
            if rtp.payload_type != want {
                return Some(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "an RTP packet of payload type {} came to {addr}: --codec {} is payload type {want}",
                        rtp.payload_type,
                        codec.name()
                    ),
                )));
            }
            let pos = i64::from(rtp.timestamp) * Decoder::frames_per_tick(codec);
            match decoder.decode(rtp.payload, pos, &mut out) {
                Ok(d) => {
                    have = d.frames;
                    at = 0;
                }
                Err(_) => continue, // damaged or late: skipped
            }
        }
        let s = out[at];
        at += 1;
        Some(Ok((s.clamp(-1.0, 1.0) * 32767.0) as i16))
    };
    Ok((rate, 1, Box::new(next)))
}
