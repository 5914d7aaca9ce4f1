//! A zone's outputs, opened from its config: [`build`].
//!
//! Each [`ZoneOutput`] of the zone becomes an [`Output`] for the engine and
//! one or more endpoints (each RTP destination, the recording, the sound
//! card) with the counters the control plane reads. Adding a kind of output
//! is a variant of `ZoneOutput`, its arm here, its endpoint in
//! [`Endpoint`], and its own file.
//!
//! An RTP socket or a recording that cannot be opened is an error (the
//! zone cannot start); a sound card that cannot is not: its endpoint is
//! listed with the fault, and the zone's other outputs play on. Nor is an
//! Icecast server that does not answer: its source keeps trying.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use super::endpoint::Endpoint;
use super::icecast::{IcecastOutput, NowPlaying};
use super::rtp::RtpOutput;
use super::wav::{Rotation, WavRecorder};
use super::{Fault, Output, OutputHealth, ZoneFormat};
use crate::config::{Daemon, LocalOutput, Zone, ZoneOutput};

/// A zone's opened outputs. See the module docs.
pub struct Built {
    /// For the engine's zone runtime.
    pub outputs: Vec<Box<dyn Output>>,
    /// One per endpoint, in the order of [`Endpoint::of`].
    pub endpoints: Vec<BuiltEndpoint>,
    /// Where the zone's receivers report back, when it sends RTP.
    pub rtp: Option<RtpReturn>,
    /// Where the daemon says what plays on the zone, for its outputs that
    /// carry a title (Icecast).
    pub titles: Vec<Arc<NowPlaying>>,
}

/// An endpoint with what tells its health.
pub struct BuiltEndpoint {
    pub endpoint: Endpoint,
    /// What it is, for the log: `rtp l16 127.0.0.1:5004`, `wav PATH`,
    /// `sound card DEVICE`.
    pub label: String,
    pub health: Arc<OutputHealth>,
    /// Set while the output does not work (a sound card that could not be
    /// opened, a recording that cannot be written).
    pub fault: Option<Arc<Fault>>,
    /// The output logs its fault coming and going itself (the recorder);
    /// otherwise the reader of the fault logs it.
    pub logs_own_fault: bool,
}

/// The RTP stream's return path, for the daemon's RTCP reader.
pub struct RtpReturn {
    /// A second handle on the zone's sending socket, where receiver
    /// reports arrive (never to be read on the engine thread).
    pub socket: io::Result<UdpSocket>,
    /// The stream's SSRC, which receivers' report blocks name.
    pub ssrc: u32,
    /// Its RTP clock, for the jitter figures.
    pub clock_rate: u32,
    /// Its destinations, to tell which one a receiver listens on.
    pub destinations: Vec<SocketAddr>,
}

/// An output of a zone that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct BuildError {
    /// `opening the RTP socket`, `opening the recording PATH`.
    pub what: String,
    pub cause: io::Error,
}

/// Open every output of `zone`, at the zone's [`ZoneFormat`].
pub fn build(zone: &Zone, daemon: &Daemon) -> Result<Built, BuildError> {
    let format = ZoneFormat::of(zone, daemon);
    let mut built = Built {
        outputs: Vec::new(),
        endpoints: Vec::new(),
        rtp: None,
        titles: Vec::new(),
    };
    for output in &zone.outputs {
        match output {
            ZoneOutput::Rtp(rtp) => {
                let out = RtpOutput::new(
                    &zone.name,
                    rtp,
                    format.rate,
                    format.channels,
                    format.frames_per_packet,
                )
                .map_err(|cause| BuildError {
                    what: "opening the RTP socket".into(),
                    cause,
                })?;
                let dests: Vec<String> = rtp.destinations.iter().map(|a| a.to_string()).collect();
                tracing::info!(zone = %zone.name, "streaming rtp {} {}", rtp.codec, dests.join(","));
                for (dest, health) in out.destination_health() {
                    built.endpoints.push(BuiltEndpoint {
                        endpoint: Endpoint::Rtp(dest),
                        label: format!("rtp {} {dest}", rtp.codec),
                        health,
                        fault: None,
                        logs_own_fault: false,
                    });
                }
                built.rtp = Some(RtpReturn {
                    socket: out.report_socket(),
                    ssrc: out.stream_state().ssrc,
                    clock_rate: out.layout().clock_rate,
                    destinations: rtp.destinations.clone(),
                });
                built.outputs.push(Box::new(out));
            }
            ZoneOutput::Wav(wav) => {
                let path = &wav.path;
                let rotation = Rotation::new(wav.retention, daemon.timezone);
                let out = WavRecorder::recorder(path, format.rate, format.channels, rotation)
                    .map_err(|cause| BuildError {
                        what: format!("opening the recording {}", path.display()),
                        cause,
                    })?;
                tracing::info!(zone = %zone.name, "recording to {}", path.display());
                built.endpoints.push(BuiltEndpoint {
                    endpoint: Endpoint::Wav(path.clone()),
                    label: format!("wav {}", path.display()),
                    health: out.health(),
                    fault: Some(out.fault()),
                    logs_own_fault: true,
                });
                built.outputs.push(Box::new(out));
            }
            ZoneOutput::Local(local) => {
                let (endpoint, out) = open_local(&zone.name, local, format);
                built.endpoints.push(endpoint);
                built.outputs.extend(out);
            }
            ZoneOutput::Icecast(ice) => {
                // Connecting happens on the output's own thread; a server
                // that is not there is a fault that comes and goes.
                let out = IcecastOutput::start(&zone.name, ice, format.rate, format.channels)
                    .map_err(|cause| BuildError {
                        what: format!("starting the Icecast source for {}", ice.url),
                        cause,
                    })?;
                built.endpoints.push(BuiltEndpoint {
                    endpoint: Endpoint::Icecast(ice.url.clone()),
                    label: format!("icecast {}", ice.url),
                    health: out.health(),
                    fault: Some(out.fault()),
                    logs_own_fault: true,
                });
                built.titles.push(out.now_playing());
                built.outputs.push(Box::new(out));
            }
        }
    }
    Ok(built)
}

/// Open a zone's sound card. A card that cannot be opened is not fatal: the
/// endpoint carries the error as its fault.
#[cfg(feature = "local-audio")]
fn open_local(
    zone: &str,
    local: &LocalOutput,
    format: ZoneFormat,
) -> (BuiltEndpoint, Option<Box<dyn Output>>) {
    use super::local::SoundCard;
    let device = local.device.as_deref().unwrap_or("default");
    let endpoint = Endpoint::Local(local.device.clone());
    let label = format!("sound card {device}");
    let open = || SoundCard::open(local.device.as_deref(), format.rate, format.channels);
    // A reload that changes the zone opens the card while the engine may
    // still be closing it for the old zone: a busy card is tried again for
    // up to a second.
    let mut opened = open();
    for _ in 0..10 {
        match &opened {
            Err(e) if e.to_ascii_lowercase().contains("busy") => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                opened = open();
            }
            _ => break,
        }
    }
    match opened {
        Ok(card) => {
            tracing::info!(zone = %zone, "playing through the sound card {}", card.description);
            let endpoint = BuiltEndpoint {
                endpoint,
                label,
                health: card.health(),
                fault: Some(card.fault()),
                logs_own_fault: false,
            };
            (endpoint, Some(Box::new(card)))
        }
        Err(e) => {
            let fault = Arc::new(Fault::default());
            fault.set(e);
            let endpoint = BuiltEndpoint {
                endpoint,
                label,
                health: Arc::new(OutputHealth::default()),
                fault: Some(fault),
                logs_own_fault: false,
            };
            (endpoint, None)
        }
    }
}

/// Without the feature the config refuses `local`, so this is never reached
/// with a zone that has it; say so if it were.
#[cfg(not(feature = "local-audio"))]
fn open_local(
    _zone: &str,
    local: &LocalOutput,
    _format: ZoneFormat,
) -> (BuiltEndpoint, Option<Box<dyn Output>>) {
    let fault = Arc::new(Fault::default());
    fault.set(
        "this corong was built without the sound card: build with `--features local-audio`".into(),
    );
    let endpoint = BuiltEndpoint {
        endpoint: Endpoint::Local(local.device.clone()),
        label: "sound card".into(),
        health: Arc::new(OutputHealth::default()),
        fault: Some(fault),
        logs_own_fault: false,
    };
    (endpoint, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Codec, RtpOutput as RtpConfig, WavOutput};
    use crate::output::Tick;
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant, SystemTime};

    fn daemon() -> Daemon {
        Daemon {
            timezone: chrono_tz::Asia::Jakarta,
            control_socket: "run/corong.sock".into(),
            state_dir: "state".into(),
            sample_rate: 48000,
            packet_ms: 20,
            max_item: Duration::from_secs(6 * 3600),
            control_group: None,
            receiver_timeout: None,
            wait_for_clock_sync: false,
            asrun_keep_days: None,
            uploads_keep_days: 30,
        }
    }

    fn rtp(codec: Codec, dests: &[SocketAddr]) -> ZoneOutput {
        ZoneOutput::Rtp(RtpConfig {
            destinations: dests.to_vec(),
            codec,
            multicast_interface: Ipv4Addr::LOCALHOST,
            multicast_ttl: 1,
            dscp: 46,
            opus_kbps: 32,
        })
    }

    fn zone(channels: u16, outputs: Vec<ZoneOutput>) -> Zone {
        Zone {
            name: "pasar".into(),
            channels,
            gain_db: 0.0,
            outputs,
            loudness_target_lufs: None,
        }
    }

    fn tick(index: u64) -> Tick {
        Tick {
            index,
            deadline: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// An RTP destination and a recording: one output each, the endpoints
    /// in order with their labels, and what the engine writes arrives at
    /// both (packets on the socket, samples in the file).
    #[test]
    fn rtp_and_wav_build_and_play() {
        let dir = tempfile::tempdir().unwrap();
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let dest = listener.local_addr().unwrap();
        let path = dir.path().join("pasar.wav");
        let z = zone(
            1,
            vec![
                rtp(Codec::L16, &[dest]),
                ZoneOutput::Wav(WavOutput {
                    path: path.clone(),
                    retention: Default::default(),
                }),
            ],
        );
        let mut built = build(&z, &daemon()).unwrap();
        assert_eq!(built.outputs.len(), 2);
        let endpoints: Vec<Endpoint> = built.endpoints.iter().map(|e| e.endpoint.clone()).collect();
        assert_eq!(endpoints, Endpoint::of(&z));
        assert_eq!(
            endpoints,
            [Endpoint::Rtp(dest), Endpoint::Wav(path.clone())]
        );
        assert_eq!(built.endpoints[0].label, format!("rtp l16 {dest}"));
        assert_eq!(built.endpoints[1].label, format!("wav {}", path.display()));
        assert!(built.endpoints[1].logs_own_fault);
        let ret = built.rtp.as_ref().unwrap();
        assert_eq!(
            (ret.clock_rate, ret.destinations.clone()),
            (48000, vec![dest])
        );
        assert!(ret.socket.is_ok());

        let pcm = vec![0.25f32; 960];
        for (i, out) in built.outputs.iter_mut().enumerate() {
            out.write(&pcm, &tick(i as u64));
        }
        // L16 48 kHz mono 20 ms: two packets of 480 samples.
        let mut buf = [0u8; 2000];
        for _ in 0..2 {
            let (n, _) = listener.recv_from(&mut buf).unwrap();
            assert_eq!(n, 12 + 960);
            assert_eq!(buf[1] & 0x7f, 96);
            assert_eq!(&buf[12..14], &crate::rtp::l16::to_i16(0.25).to_be_bytes());
        }
        let sent = built.endpoints[0]
            .health
            .packets_sent
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(sent, 2);
        drop(built);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 48000);
        assert_eq!(reader.len(), 960);
    }

    /// A PCMU-only zone mixes at 8 kHz: its sender gets 160 frames a
    /// packet time and sends the layout the SDP announces.
    #[test]
    fn pcmu_only_zone_sends_what_its_sdp_says() {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = listener.local_addr().unwrap();
        for (codec, channels) in [(Codec::Pcmu, 1), (Codec::L16, 1), (Codec::L16, 2)] {
            let z = zone(channels, vec![rtp(codec, &[dest])]);
            let format = ZoneFormat::of(&z, &daemon());
            let expected_rate = if codec == Codec::Pcmu { 8000 } else { 48000 };
            assert_eq!(format.rate, expected_rate);
            assert_eq!(format.frames_per_packet, expected_rate as usize / 50);
            let built = build(&z, &daemon()).unwrap();
            let out = RtpOutput::new(
                "pasar",
                z.rtp().unwrap(),
                format.rate,
                format.channels,
                format.frames_per_packet,
            )
            .unwrap();
            let sdp_layout = crate::output::sdp::zone_layout(&z, &daemon()).unwrap();
            assert_eq!(out.layout(), sdp_layout, "{codec} {channels} ch");
            assert_eq!(
                built.rtp.as_ref().unwrap().clock_rate,
                sdp_layout.clock_rate
            );
        }
    }

    #[test]
    fn an_output_that_cannot_open_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("under-a-file.wav");
        let z = zone(
            1,
            vec![ZoneOutput::Wav(WavOutput {
                path: path.clone(),
                retention: Default::default(),
            })],
        );
        let err = build(&z, &daemon())
            .err()
            .expect("a recording under a file");
        assert!(
            err.to_string()
                .starts_with(&format!("opening the recording {}: ", path.display())),
            "{err}"
        );
        let v6: SocketAddr = "[::1]:5004".parse().unwrap();
        let err = build(&zone(1, vec![rtp(Codec::L16, &[v6])]), &daemon())
            .err()
            .expect("IPv6 is refused");
        assert!(
            err.to_string().starts_with("opening the RTP socket: "),
            "{err}"
        );
    }

    /// A sound card that cannot be opened (none, or no feature) is an
    /// endpoint with a fault, not an error: the zone's other outputs play.
    #[test]
    fn a_missing_sound_card_is_a_faulted_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let z = zone(
            1,
            vec![
                ZoneOutput::Wav(WavOutput {
                    path,
                    retention: Default::default(),
                }),
                ZoneOutput::Local(LocalOutput {
                    device: Some("corong-test-no-such-card".into()),
                }),
            ],
        );
        let built = build(&z, &daemon()).unwrap();
        assert_eq!(built.outputs.len(), 1);
        let card = &built.endpoints[1];
        assert_eq!(card.endpoint.to_string(), "local:corong-test-no-such-card");
        assert!(card.fault.as_ref().unwrap().get().is_some());
    }
}
