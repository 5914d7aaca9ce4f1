//! The SDP (RFC 4566) a receiver needs to play a zone: what `corong zones
//! --sdp ZONE` prints, and what ffmpeg (`-protocol_whitelist file,udp,rtp -i
//! zone.sdp`), GStreamer's `sdpdemux` and VLC open.
//!
//! An SDP names one address, so a zone with several destinations has one
//! SDP per destination: [`zone_sdp`] describes the first,
//! [`zone_sdp_for`] any of them. They differ only in the `c=` and `m=`
//! lines; the stream (SSRC, timestamps) is the same.
//!
//! ```text
//! v=0
//! o=- 2890844526 1 IN IP4 127.0.0.1
//! s=corong zone alun-alun
//! c=IN IP4 127.0.0.1
//! t=0 0
//! m=audio 5004 RTP/AVP 96
//! a=rtpmap:96 L16/48000/1
//! a=ptime:10
//! a=recvonly
//! ```
//! G.722 is `a=rtpmap:9 G722/8000` (its RTP clock, RFC 3551, though it
//! samples at 16 kHz); Opus is `a=rtpmap:111 opus/48000/2` (RFC 7587:
//! always `/2`) with `a=fmtp:111 useinbandfec=1; stereo=0;
//! sprop-stereo=0` (`1` for a stereo zone) before `a=ptime:20`.
//! For a multicast group the `c=` line carries the TTL
//! (`c=IN IP4 239.255.0.1/1`). `a=ptime` is the duration of one RTP packet
//! as actually sent: the [`PacketLayout`] the sender uses, from the same
//! zone format ([`ZoneFormat::rtp_layout`]), which is shorter
//! than the engine's packet time when a packet would not fit an Ethernet
//! frame. The `o=` line names the multicast interface address (the sending
//! host's address, as far as the config knows it) and a session id derived
//! from the zone name, so the SDP of a zone does not change between runs.

use std::fmt::Write;
use std::net::IpAddr;

use super::ZoneFormat;
use crate::config::{Daemon, Zone};
use crate::rtp::PacketLayout;

/// The SDP for the zone's first RTP destination; `None` for a zone
/// without RTP (or whose codec/rate combination cannot be sent).
pub fn zone_sdp(zone: &Zone, daemon: &Daemon) -> Option<String> {
    zone_sdp_for(zone, daemon, 0)
}

/// The SDP for the zone's RTP destination number `index` (in config order);
/// `None` for a zone without RTP, an index past the last destination, or a
/// codec/rate combination that cannot be sent.
pub fn zone_sdp_for(zone: &Zone, daemon: &Daemon, index: usize) -> Option<String> {
    let rtp = zone.rtp()?;
    let dest = *rtp.destinations.get(index)?;
    let layout = zone_layout(zone, daemon)?;

    let ip_version = if dest.is_ipv4() { "IP4" } else { "IP6" };
    let connection = match dest.ip() {
        IpAddr::V4(ip) if ip.is_multicast() => format!("{ip}/{}", rtp.multicast_ttl),
        ip => ip.to_string(),
    };
    let pt = layout.payload_type;
    let rtpmap = rtp.codec.rtpmap(&layout);
    let fmtp = match rtp.codec.fmtp(&layout) {
        Some(f) => format!("a=fmtp:{pt} {f}\r\n"),
        None => String::new(),
    };

    let mut sdp = String::new();
    // Lines end in CRLF (RFC 4566 section 5); every reader accepts it.
    let _ = write!(
        sdp,
        "v=0\r\n\
         o=- {session} 1 IN IP4 {origin}\r\n\
         s=corong zone {name}\r\n\
         c=IN {ip_version} {connection}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP {pt}\r\n\
         a=rtpmap:{pt} {rtpmap}\r\n\
         {fmtp}\
         a=ptime:{ptime}\r\n\
         a=recvonly\r\n",
        session = session_id(&zone.name),
        origin = rtp.multicast_interface,
        name = zone.name,
        port = dest.port(),
        ptime = layout.ptime_ms(),
    );
    Some(sdp)
}

/// What the zone's RTP output sends per packet time (as its sender does);
/// `None` for a zone without RTP or whose codec cannot be sent at its rate.
pub fn zone_layout(zone: &Zone, daemon: &Daemon) -> Option<PacketLayout> {
    let rtp = zone.rtp()?;
    ZoneFormat::of(zone, daemon).rtp_layout(rtp.codec).ok()
}

/// A stable 31-bit session id for a zone name (FNV-1a).
fn session_id(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h & 0x7fff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Codec, RtpOutput, ZoneOutput};
    use std::net::Ipv4Addr;

    fn daemon() -> Daemon {
        Daemon {
            timezone: chrono_tz::Asia::Jakarta,
            control_socket: "run/corong.sock".into(),
            state_dir: "state".into(),
            sample_rate: 48000,
            packet_ms: 20,
            max_item: std::time::Duration::from_secs(6 * 3600),
            control_group: None,
            receiver_timeout: None,
            wait_for_clock_sync: false,
            asrun_keep_days: None,
            uploads_keep_days: 30,
        }
    }

    fn zone(codec: Codec, channels: u16, dests: &[&str]) -> Zone {
        Zone {
            name: "alun-alun".into(),
            channels,
            gain_db: 0.0,
            outputs: vec![ZoneOutput::Rtp(RtpOutput {
                destinations: dests.iter().map(|d| d.parse().unwrap()).collect(),
                codec,
                multicast_interface: Ipv4Addr::LOCALHOST,
                multicast_ttl: 4,
                dscp: 46,
                opus_kbps: 32,
            })],
            loudness_target_lufs: None,
        }
    }

    #[test]
    fn l16_unicast() {
        let sdp = zone_sdp(&zone(Codec::L16, 1, &["127.0.0.1:5004"]), &daemon()).unwrap();
        let lines: Vec<&str> = sdp.lines().collect();
        assert_eq!(lines[0], "v=0");
        assert!(lines[1].starts_with("o=- ") && lines[1].ends_with(" 1 IN IP4 127.0.0.1"));
        assert_eq!(
            &lines[2..],
            [
                "s=corong zone alun-alun",
                "c=IN IP4 127.0.0.1",
                "t=0 0",
                "m=audio 5004 RTP/AVP 96",
                "a=rtpmap:96 L16/48000/1",
                "a=ptime:10",
                "a=recvonly",
            ]
        );
        assert!(sdp.ends_with("\r\n"));
    }

    #[test]
    fn pcmu_multicast_and_second_destination() {
        let z = zone(Codec::Pcmu, 1, &["239.255.0.1:5006", "127.0.0.1:6000"]);
        let sdp = zone_sdp(&z, &daemon()).unwrap();
        assert!(sdp.contains("c=IN IP4 239.255.0.1/4\r\n"));
        assert!(sdp.contains("m=audio 5006 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"));
        let second = zone_sdp_for(&z, &daemon(), 1).unwrap();
        assert!(second.contains("c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"));
        assert!(zone_sdp_for(&z, &daemon(), 2).is_none());
    }

    #[test]
    fn g722_and_opus() {
        let sdp = zone_sdp(&zone(Codec::G722, 1, &["127.0.0.1:5004"]), &daemon()).unwrap();
        assert!(sdp.contains("m=audio 5004 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\na=ptime:20\r\n"));
        let sdp = zone_sdp(&zone(Codec::Opus, 1, &["127.0.0.1:5004"]), &daemon()).unwrap();
        assert!(sdp.contains(
            "m=audio 5004 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n\
             a=fmtp:111 useinbandfec=1; stereo=0; sprop-stereo=0\r\na=ptime:20\r\n"
        ));
        let sdp = zone_sdp(&zone(Codec::Opus, 2, &["127.0.0.1:5004"]), &daemon()).unwrap();
        assert!(sdp.contains("sprop-stereo=1\r\na=ptime:20\r\n"));
    }

    #[test]
    fn stereo_and_no_rtp() {
        let sdp = zone_sdp(&zone(Codec::L16, 2, &["127.0.0.1:5004"]), &daemon()).unwrap();
        assert!(sdp.contains("a=rtpmap:96 L16/48000/2\r\na=ptime:5\r\n"));
        let mut z = zone(Codec::L16, 1, &["127.0.0.1:5004"]);
        z.outputs = vec![ZoneOutput::Local(crate::config::LocalOutput {
            device: None,
        })];
        assert!(zone_sdp(&z, &daemon()).is_none());
    }
}
