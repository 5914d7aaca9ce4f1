//! Where a zone plays, as `status`, `zones`, the health checks and the CLI
//! name it: one [`Endpoint`] per RTP destination, the WAV recording, the
//! sound card, the Icecast mount.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{Zone, ZoneOutput};

/// One place a zone's audio goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An RTP destination (unicast host or multicast group), `rtp://IP:PORT`.
    Rtp(SocketAddr),
    /// The recording, `wav:PATH`.
    Wav(PathBuf),
    /// The sound card, `local:DEVICE` (`local:default` for ALSA's default).
    Local(Option<String>),
    /// An Icecast mount, `icecast:URL` (`icecast:http://127.0.0.1:8000/pasar.ogg`).
    Icecast(String),
}

impl Endpoint {
    /// Every endpoint of `zone`, in the order of its outputs (each RTP
    /// destination in config order).
    pub fn of(zone: &Zone) -> Vec<Endpoint> {
        let mut out = Vec::new();
        for o in &zone.outputs {
            match o {
                ZoneOutput::Rtp(r) => out.extend(r.destinations.iter().map(|&d| Endpoint::Rtp(d))),
                ZoneOutput::Wav(w) => out.push(Endpoint::Wav(w.path.clone())),
                ZoneOutput::Local(l) => out.push(Endpoint::Local(l.device.clone())),
                ZoneOutput::Icecast(i) => out.push(Endpoint::Icecast(i.url.clone())),
            }
        }
        out
    }

    /// The RTP destination, for an RTP endpoint.
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Rtp(d) => Some(*d),
            _ => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Rtp(d) => write!(f, "rtp://{d}"),
            Endpoint::Wav(p) => write!(f, "wav:{}", p.display()),
            Endpoint::Local(d) => write!(f, "local:{}", d.as_deref().unwrap_or("default")),
            Endpoint::Icecast(url) => write!(f, "icecast:{url}"),
        }
    }
}
