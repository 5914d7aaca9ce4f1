//! `corong zones` and `corong schedule`, answered from the config alone, so
//! they work whether or not the daemon runs.

use std::process::ExitCode;

use serde::Serialize;

use crate::config::Config;
use crate::output::sdp;
use crate::schedule;

/// `--json` shape of `corong zones` (stable; fields may be added):
/// `{"zones":[{"name":"alun-alun","channels":1,"gain_db":0.0,
///   "rtp":{"codec":"l16","payload_type":96,"destinations":["127.0.0.1:5004"]},
///   "wav":null}]}`
#[derive(Serialize)]
struct ZonesJson<'a> {
    zones: Vec<ZoneJson<'a>>,
}

#[derive(Serialize)]
struct ZoneJson<'a> {
    name: &'a str,
    channels: u16,
    gain_db: f32,
    rtp: Option<RtpJson>,
    wav: Option<String>,
}

#[derive(Serialize)]
struct RtpJson {
    codec: &'static str,
    payload_type: u8,
    destinations: Vec<String>,
}

pub fn zones(config: &Config, json: bool, sdp_zone: Option<&str>) -> ExitCode {
    if let Some(name) = sdp_zone {
        let Some(zone) = config.zone(name) else {
            // As the daemon's own "unknown zone": exit 1, with a hint.
            let names = config.zones.iter().map(|z| z.name.as_str());
            match crate::suggest::closest(name, names) {
                Some(near) => eprintln!("corong: unknown zone `{name}` (did you mean `{near}`?)"),
                None => eprintln!("corong: unknown zone `{name}` (see `corong zones`)"),
            }
            return ExitCode::from(1);
        };
        return match sdp::zone_sdp(zone, &config.daemon) {
            Some(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("corong: zone `{name}` has no RTP output (it has no SDP)");
                ExitCode::from(1)
            }
        };
    }
    let list: Vec<ZoneJson> = config
        .zones
        .iter()
        .map(|z| ZoneJson {
            name: &z.name,
            channels: z.channels,
            gain_db: z.gain_db,
            rtp: z.rtp.as_ref().map(|r| RtpJson {
                codec: r.codec.name(),
                payload_type: r.codec.payload_type(),
                destinations: r.destinations.iter().map(|d| d.to_string()).collect(),
            }),
            wav: z.wav.as_ref().map(|p| p.display().to_string()),
        })
        .collect();
    if json {
        let out = ZonesJson { zones: list };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("zones serialize")
        );
        return ExitCode::SUCCESS;
    }
    for z in &list {
        let mut outs = Vec::new();
        if let Some(r) = &z.rtp {
            outs.push(format!("rtp {} -> {}", r.codec, r.destinations.join(", ")));
        }
        if let Some(w) = &z.wav {
            outs.push(format!("wav -> {w}"));
        }
        println!(
            "{:<16} {} ch  {:+.1} dB  {}",
            z.name,
            z.channels,
            z.gain_db,
            outs.join("; ")
        );
    }
    ExitCode::SUCCESS
}

pub fn schedule(config: &Config, json: bool, next: usize) -> ExitCode {
    let tz = config.daemon.timezone;
    let upcoming = schedule::upcoming(
        &config.schedules,
        tz,
        chrono::Utc::now(),
        next,
        config.quiet_hours,
    );
    if json {
        let shape = schedule::upcoming::UpcomingJson::new(&upcoming);
        println!(
            "{}",
            serde_json::to_string_pretty(&shape).expect("schedule serializes")
        );
    } else {
        print!("{}", schedule::upcoming::format_human(&upcoming));
    }
    ExitCode::SUCCESS
}
