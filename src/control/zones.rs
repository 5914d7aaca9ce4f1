//! A zone's entry in the `zones` reply, as far as its config tells: name,
//! groups, endpoints, codec, channels, gain, SDP. The daemon adds the
//! health, each endpoint's and the receivers'; `corong zones` without a
//! daemon says `down` ("the daemon is not running"). So `corong zones
//! --json` has one shape, daemon running or not.

use super::protocol::{ZoneInfo, ZonesResult};
use crate::config::{Config, Zone};
use crate::output::{sdp, Endpoint};

/// The health word of every zone when no daemon runs.
pub const NOT_RUNNING_HEALTH: &str = "down";
/// ...and its error.
pub const NOT_RUNNING_ERROR: &str = "the daemon is not running";

/// `zone`'s entry, health `down` until the daemon says otherwise.
pub fn zone_info(config: &Config, zone: &Zone) -> ZoneInfo {
    ZoneInfo {
        name: zone.name.clone(),
        groups: config
            .groups
            .iter()
            .filter(|(_, members)| members.contains(&zone.name))
            .map(|(g, _)| g.clone())
            .collect(),
        endpoints: Endpoint::of(zone).iter().map(|e| e.to_string()).collect(),
        codec: zone.rtp().map(|r| r.codec.name().to_string()),
        channels: zone.channels,
        gain_db: zone.gain_db,
        health: NOT_RUNNING_HEALTH.into(),
        error: None,
        sdp: sdp::zone_sdp(zone, &config.daemon),
        endpoint_health: Vec::new(),
        receivers: Vec::new(),
    }
}

/// The `zones` reply from the config alone: every zone `down`.
pub fn from_config(config: &Config) -> ZonesResult {
    ZonesResult {
        zones: config
            .zones
            .iter()
            .map(|z| ZoneInfo {
                error: Some(NOT_RUNNING_ERROR.into()),
                ..zone_info(config, z)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::Reply;

    #[test]
    fn every_output_is_an_endpoint_and_the_shape_is_the_daemons() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:5004\", \"239.255.0.1:5006\"]\n\
                    codec = \"pcmu\"\nwav = \"rec/pasar.wav\"\n\n\
                    [[zones]]\nname = \"arsip\"\nchannels = 2\ngain_db = -3.0\nwav = \"arsip.wav\"\n\n\
                    [groups]\nutara = [\"pasar\"]\n";
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let config = crate::config::load(&path).unwrap();
        let result = from_config(&config);
        let pasar = &result.zones[0];
        let wav = dir.path().join("rec/pasar.wav");
        assert_eq!(
            pasar.endpoints,
            [
                "rtp://127.0.0.1:5004".to_string(),
                "rtp://239.255.0.1:5006".to_string(),
                format!("wav:{}", wav.display()),
            ]
        );
        assert_eq!(pasar.codec.as_deref(), Some("pcmu"));
        assert_eq!(pasar.groups, ["utara"]);
        assert_eq!((pasar.channels, pasar.health.as_str()), (1, "down"));
        assert_eq!(pasar.error.as_deref(), Some("the daemon is not running"));
        assert!(pasar
            .sdp
            .as_deref()
            .unwrap()
            .contains("a=rtpmap:0 PCMU/8000"));
        let arsip = &result.zones[1];
        assert_eq!((arsip.channels, arsip.gain_db), (2, -3.0));
        assert_eq!((arsip.codec.as_ref(), arsip.sdp.as_ref()), (None, None));
        // Serialized as the daemon's reply is, and read back as one.
        let json = serde_json::to_value(Reply::Zones(result.clone())).unwrap();
        assert_eq!(json["type"], "zones");
        assert_eq!(json["zones"][1]["gain_db"], -3.0);
        let back: Reply = serde_json::from_value(json).unwrap();
        assert_eq!(back, Reply::Zones(result));
    }
}
