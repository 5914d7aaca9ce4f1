//! `corong zones --json` has one shape, daemon running or not: the daemon's
//! `zones` reply, with every endpoint (RTP destinations, the recording).

mod common;

use common::station::{free_port_pair, Station};
use serde_json::Value;

fn zones_json(st: &Station) -> (i32, Value) {
    let (code, out, err) = st.client(&["--config", "config.toml", "zones", "--json"]);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v)
}

/// The keys of every zone object, in order.
fn keys(v: &Value) -> Vec<Vec<String>> {
    v["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_object().unwrap().keys().cloned().collect())
        .collect()
}

/// Everything the config says (not the health), zone by zone.
fn configured(v: &Value) -> Vec<Value> {
    v["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            let mut z = z.clone();
            let o = z.as_object_mut().unwrap();
            for live in ["health", "error", "endpoint_health", "receivers"] {
                o.remove(live);
            }
            z
        })
        .collect()
}

#[test]
fn zones_json_has_one_shape_whether_or_not_the_daemon_runs() {
    let (a, b) = (free_port_pair(), free_port_pair());
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{a}\", \"127.0.0.1:{b}\"]\ncodec = \"pcmu\"\n\
         wav = \"rec/pasar.wav\"\n\n\
         [[zones]]\nname = \"arsip\"\nchannels = 2\ngain_db = -3.0\nwav = \"arsip.wav\"\n\n\
         [groups]\nutara = [\"pasar\"]\n"
    ));

    // No daemon: exit 3, the daemon's shape, every zone down.
    let (code, offline) = zones_json(&st);
    assert_eq!(code, 3);
    assert_eq!(offline["type"], "zones", "{offline:#}");
    let pasar = &offline["zones"][0];
    assert_eq!(pasar["health"], "down", "{offline:#}");
    assert_eq!(pasar["error"], "the daemon is not running");
    let wav = st.path("rec/pasar.wav");
    assert_eq!(
        pasar["endpoints"],
        serde_json::json!([
            format!("rtp://127.0.0.1:{a}"),
            format!("rtp://127.0.0.1:{b}"),
            format!("wav:{}", wav.display()),
        ])
    );
    assert_eq!(pasar["codec"], "pcmu");
    assert_eq!(pasar["groups"], serde_json::json!(["utara"]));
    assert_eq!(offline["zones"][1]["channels"], 2);
    assert_eq!(offline["zones"][1]["gain_db"], -3.0);

    // The daemon: the same keys and the same configured values; live
    // health, with one entry per endpoint.
    // Listeners on every port, so that no destination is unreachable.
    let _listeners: Vec<std::net::UdpSocket> = [a, a + 1, b, b + 1]
        .iter()
        .map(|&p| std::net::UdpSocket::bind(("127.0.0.1", p)).unwrap())
        .collect();
    let d = st.start();
    let (code, online) = zones_json(&st);
    assert_eq!(code, 0);
    assert_eq!(online["type"], "zones");
    let mut offline_keys = keys(&offline);
    // Offline, each zone says why it is down; a streaming zone has no error.
    for k in &mut offline_keys {
        k.retain(|k| k != "error");
    }
    assert_eq!(keys(&online), offline_keys, "{online:#}");
    assert_eq!(configured(&online), configured(&offline));
    let pasar = &online["zones"][0];
    assert_eq!(pasar["health"], "streaming", "{online:#}");
    let health: Vec<&str> = pasar["endpoint_health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    let endpoints: Vec<&str> = pasar["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(health, endpoints);
    assert!(d.stop().success());
}
