//! `corong zones` and `corong schedule`, answered from the config alone, so
//! they work whether or not the daemon runs.

use std::process::ExitCode;

use crate::config::{Config, ZoneOutput};
use crate::control::protocol::Reply;
use crate::output::sdp;
use crate::schedule;

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
    if json {
        // The shape of the daemon's `zones` reply (docs/protocol.md), every
        // zone `down`: one shape whether or not the daemon runs.
        let out = Reply::Zones(crate::control::zones::from_config(config));
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("zones serialize")
        );
        return ExitCode::SUCCESS;
    }
    for z in &config.zones {
        let outs: Vec<String> = z
            .outputs
            .iter()
            .map(|o| match o {
                ZoneOutput::Rtp(r) => {
                    let dests: Vec<String> = r.destinations.iter().map(|d| d.to_string()).collect();
                    format!("rtp {} -> {}", r.codec, dests.join(", "))
                }
                ZoneOutput::Wav(w) => format!("wav -> {}", w.path.display()),
                ZoneOutput::Local(l) => {
                    format!("local -> {}", l.device.as_deref().unwrap_or("default"))
                }
                ZoneOutput::Icecast(i) => format!(
                    "icecast {} -> {}",
                    match i.format {
                        crate::config::IcecastFormat::Opus => "ogg opus",
                        crate::config::IcecastFormat::Mp3 => "mp3",
                    },
                    i.url
                ),
            })
            .collect();
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
